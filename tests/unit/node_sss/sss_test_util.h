// Helpers shared by the Secure Storage Service tests: a swtpm shared by one test binary, and
// direct access to a store's SQLite file for tampering with it.
#pragma once

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/sqlite.h"
#include "support/support.h"
#include "support/swtpm.h"

namespace fogkeep::node::sss::test {

using fogkeep::testing::Must;

// One swtpm per test binary, started on first use, stopped when the binary exits, and pointed
// to by TPM2OPENSSL_TCTI (set before any TPM code runs, while the test is single-threaded).
// Null when swtpm is not installed; one that is installed but does not start fails the binary.
class SharedSwtpm {
 public:
  static testing::Swtpm* Get() {
    static SharedSwtpm shared;
    return shared.tpm_.get();
  }

 private:
  SharedSwtpm() {
    if (testing::Swtpm::FindBinary().empty()) return;
    tpm_ = Must(testing::Swtpm::Start(state_.path()), "start swtpm");
    ::setenv("TPM2OPENSSL_TCTI", tpm_->tcti().c_str(), 1);
  }
  testing::TempDir state_;
  std::unique_ptr<testing::Swtpm> tpm_;
};

inline const char* kNoSwtpm =
    "swtpm is not installed (Debian package swtpm; scripts/setup-debian.sh installs it)";

// A second connection to a store's database, for changing it behind the store's back.
inline sql::Database OpenRaw(const std::string& path) {
  return Must(sql::Database::Open(path), "open " + path);
}

inline std::string FlipBit(std::string bytes, std::size_t index, int bit = 0) {
  bytes[index] = static_cast<char>(bytes[index] ^ (1 << bit));
  return bytes;
}

// Whether `needle` occurs anywhere in the file at `path` (missing files contain nothing).
inline bool FileContains(const std::string& path, std::string_view needle) {
  auto data = fs::ReadFile(path, 256 << 20);
  return data && data->find(needle) != std::string::npos;
}

}  // namespace fogkeep::node::sss::test
