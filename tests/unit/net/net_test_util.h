// Helpers shared by the net tests: a small PKI, raw socket clients that send exactly the bytes a
// test wants (malformed, partial, slow), and the openssl CLI.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "crypto/keys.h"
#include "crypto/tls.h"
#include "crypto/x509.h"
#include "support/support.h"

namespace fogkeep::net::test {

using fogkeep::testing::Must;

struct Issued {
  crypto::PrivateKey key;
  crypto::Certificate cert;
  crypto::TlsIdentity identity() const { return {key, {cert}}; }
};

inline Issued MakeCa(std::string cn, crypto::KeyType type = crypto::KeyType::kEcdsaP256) {
  crypto::PrivateKey key = Must(crypto::PrivateKey::Generate(type), "generate CA key");
  crypto::IssueOptions options;
  options.common_name = std::move(cn);
  options.is_ca = true;
  crypto::Certificate cert =
      Must(crypto::IssueCertificate(key.Public(), options, nullptr, key), "issue CA");
  return {key, cert};
}

inline Issued MakeLeaf(const Issued& ca, std::string cn, crypto::ExtendedKeyUsage eku,
                       crypto::KeyType type = crypto::KeyType::kEcdsaP256) {
  crypto::PrivateKey key = Must(crypto::PrivateKey::Generate(type), "generate leaf key");
  crypto::IssueOptions options;
  options.common_name = std::move(cn);
  options.extended_key_usages = {eku};
  if (eku == crypto::ExtendedKeyUsage::kServerAuth) {
    options.dns_names = {"localhost"};
    options.ip_addresses = {"127.0.0.1"};
  }
  crypto::Certificate cert =
      Must(crypto::IssueCertificate(key.Public(), options, &ca.cert, ca.key), "issue leaf");
  return {key, cert};
}

inline crypto::TrustStore TrustOnly(const crypto::Certificate& anchor) {
  crypto::TrustStore store;
  store.AddAnchor(anchor);
  return store;
}

// A socket connected to a Unix path or to 127.0.0.1:port; -1 on failure.
inline int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline int ConnectTcp(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

struct ReadOutcome {
  std::string data;
  bool closed = false;  // the peer closed (EOF or reset) before the deadline
};

// Reads until the peer closes or `timeout` passes.
inline ReadOutcome ReadUntilClosed(int fd, std::chrono::milliseconds timeout) {
  ReadOutcome out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    char buf[16384];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      out.closed = true;
      return out;
    }
    out.data.append(buf, static_cast<std::size_t>(n));
  }
}

// Reads from `fd` until the data holds `needle` or `timeout` passes; returns what was read.
inline std::string ReadUntilFound(int fd, std::string_view needle,
                                  std::chrono::milliseconds timeout) {
  std::string data;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (data.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

// Reads until the data holds a complete response head ("\r\n\r\n") or `timeout` passes.
inline std::string ReadHead(int fd, std::chrono::milliseconds timeout) {
  return ReadUntilFound(fd, "\r\n\r\n", timeout);
}

// One exchange of raw bytes with the Unix listener: sends `request`, half-closes, and returns
// what came back before the server closed.
inline std::string RawUnix(const std::string& path, std::string_view request,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  int fd = ConnectUnix(path);
  if (fd < 0) return "<connect failed>";
  SendAll(fd, request);
  shutdown(fd, SHUT_WR);
  std::string data = ReadUntilClosed(fd, timeout).data;
  close(fd);
  return data;
}

// "HTTP/1.1 404 Not Found\r\n..." → 404; 0 when unparsable.
inline int StatusOf(std::string_view response) {
  if (!response.starts_with("HTTP/1.")) return 0;
  if (response.size() < 12) return 0;
  return std::atoi(std::string(response.substr(9, 3)).c_str());
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command with stdin from /dev/null, capturing stdout and stderr.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  std::FILE* pipe = popen((command + " </dev/null 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace fogkeep::net::test
