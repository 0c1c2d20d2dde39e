// What the CLI's tests share: an environment variable set for one test, and a fake server over
// real TLS (net::Server on 127.0.0.1 at a free port, its certificate issued by a test CA that
// the client is given as --ca).
#pragma once

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "net/server.h"
#include "unit/net/net_test_util.h"

namespace fogkeep::cli::test {

// Restores an environment variable on destruction.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
  }
  // Sets it to `value` meanwhile.
  EnvGuard(const char* name, const std::string& value) : EnvGuard(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~EnvGuard() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The test CA, and a serverAuth certificate of it for localhost and 127.0.0.1; made once.
inline const net::test::Issued& TestCa() {
  static const auto* ca = new net::test::Issued(net::test::MakeCa("fogkeep CLI test CA"));
  return *ca;
}
inline const net::test::Issued& TestServerCertificate() {
  static const auto* cert = new net::test::Issued(
      net::test::MakeLeaf(TestCa(), "server", crypto::ExtendedKeyUsage::kServerAuth));
  return *cert;
}

// `router` served over TLS with TestServerCertificate on 127.0.0.1, port tcp_port().
inline Result<std::unique_ptr<net::Server>> StartTlsServer(net::Router router) {
  net::ServerOptions options;
  options.tcp = net::TcpListenerOptions{
      .address = "127.0.0.1", .port = 0, .tls = {.identity = TestServerCertificate().identity()}};
  std::unique_ptr<net::Server> server =
      FK_TRY(net::Server::Create(std::move(options), std::move(router), nullptr, nullptr));
  FK_TRY(server->Start());
  return server;
}

}  // namespace fogkeep::cli::test
