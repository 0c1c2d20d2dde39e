// Helpers shared by the crypto unit tests: a small PKI factory and a runner for the openssl CLI.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "support/support.h"

namespace fogkeep::crypto::test {

using fogkeep::testing::Must;

// Generated keys are reused within a test binary: RSA 3072 generation is slow.
inline const PrivateKey& CachedKey(KeyType type, int slot = 0) {
  static std::map<std::pair<KeyType, int>, PrivateKey>* keys =
      new std::map<std::pair<KeyType, int>, PrivateKey>();
  auto it = keys->find({type, slot});
  if (it == keys->end()) {
    it = keys->emplace(std::pair{type, slot}, Must(PrivateKey::Generate(type), "generate")).first;
  }
  return it->second;
}

struct Issued {
  PrivateKey key;
  Certificate cert;
};

inline IssueOptions CaOptions(std::string cn) {
  IssueOptions options;
  options.common_name = std::move(cn);
  options.is_ca = true;
  return options;
}

inline IssueOptions CodeSigningOptions(std::string cn) {
  IssueOptions options;
  options.common_name = std::move(cn);
  options.extended_key_usages = {ExtendedKeyUsage::kCodeSigning};
  return options;
}

inline Issued MakeRoot(const IssueOptions& options, const PrivateKey& key) {
  return {key, Must(IssueCertificate(key.Public(), options, nullptr, key), "issue root")};
}

inline Issued MakeIssued(const Issued& issuer, const IssueOptions& options, const PrivateKey& key) {
  return {key, Must(IssueCertificate(key.Public(), options, &issuer.cert, issuer.key), "issue")};
}

inline std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline bool HaveOpensslCli() { return RunCommand("openssl version").exit_code == 0; }

inline void WriteFile(const std::string& path, std::string_view data) {
  Must(fs::WriteFileAtomic(path, data, 0600), path);
}

inline std::string ReadFile(const std::string& path) { return Must(fs::ReadFile(path), path); }

}  // namespace fogkeep::crypto::test
