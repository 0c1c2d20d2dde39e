// TestNode: the node's full router (RegisterNodeRoutes, as fogkeepd serves it) behind a real
// net::Server over TLS on 127.0.0.1, with local users (cheap hashes), an in-memory session
// store, API tokens in a file, the audit trail, the apps' secure storage (file sealer), an
// in-memory alert store and FakeAppService in place of the apps.
#pragma once

#include <memory>
#include <string>

#include "access/audit_api.h"
#include "access/auth_api.h"
#include "access/auth_token.h"
#include "audit/log.h"
#include "auth/chain.h"
#include "auth/local_users.h"
#include "auth/lockout.h"
#include "auth/login.h"
#include "auth/sessions.h"
#include "net/client.h"
#include "net/server.h"
#include "node/alerts/intake.h"
#include "node/routes.h"
#include "node/sss/service.h"
#include "unit/net/net_test_util.h"
#include "unit/node_api/fake_app_service.h"

namespace fogkeep::node::test {

struct TestNodeOptions {
  auth::LoginThrottleConfig throttle;
  auth::SessionStore::Clock clock;  // default: the system clock
  // Asked after the local users when set (as "second").
  std::shared_ptr<auth::AuthBackend> second_backend;
  alerts::IntakeLimits alert_limits;
};

class TestNode {
 public:
  // Files go to `dir`: users, tokens, audit.log, sss/.
  explicit TestNode(const std::string& dir, TestNodeOptions options = {}) : dir_(dir) {
    using net::test::Must;
    static const net::test::Issued ca = net::test::MakeCa("test node CA");
    static const net::test::Issued cert =
        net::test::MakeLeaf(ca, "node", crypto::ExtendedKeyUsage::kServerAuth);
    ca_ = &ca;
    auth::LocalUserOptions cheap;
    cheap.argon2.memory_kib = 256;
    cheap.argon2.passes = 1;
    auto users = Must(auth::LocalUserStore::Open(dir + "/users", cheap), "users");
    users_ = users.get();
    std::vector<auth::ChainLink> links = {{"local", std::move(users)}};
    if (options.second_backend) links.push_back({"second", options.second_backend});
    auto chain = Must(auth::AuthChain::Create(std::move(links)), "chain");
    sessions_ = Must(auth::SessionStore::Open(":memory:", {}, options.clock), "sessions");
    services_.apps = std::make_shared<FakeAppService>();
    services_.audit =
        Must(audit::AuditLog::Open(dir + "/audit.log", {.durability = audit::Durability::kNone}),
             "audit log");
    services_.storage = Must(sss::OpenStorage({}, dir), "secure storage");
    services_.alerts = std::make_shared<alerts::AlertIntake>(
        std::shared_ptr<alerts::AlertStore>(
            Must(alerts::OpenSqliteAlertStore(":memory:"), "alert store")),
        options.alert_limits);
    services_.login = std::make_shared<auth::LoginService>(
        std::move(chain), Must(auth::LoginThrottle::Create(options.throttle), "throttle"),
        sessions_);
    net::Router router;
    Must(RegisterNodeRoutes(router, services_), "routes");
    net::ServerOptions server_options;
    server_options.tcp = net::TcpListenerOptions{
        .address = "127.0.0.1", .port = 0, .tls = {.identity = cert.identity()}};
    server_options.audit = access::MakeAuditSink(services_.audit);
    server_ = Must(net::Server::Create(
                       std::move(server_options), std::move(router),
                       std::make_shared<access::SessionAuthenticator>(
                           sessions_, std::make_shared<access::TokenAuthenticator>(TokensFile())),
                       std::make_shared<access::RoleAuthorizer>()),
                   "server");
    Must(server_->Start(), "start");
  }
  ~TestNode() { server_->Stop(); }

  std::unique_ptr<net::Client> Https() const {
    net::ClientTlsOptions tls;
    tls.trust = net::test::TrustOnly(ca_->cert);
    return net::test::Must(net::Client::Https("127.0.0.1", server_->tcp_port(), std::move(tls)),
                           "client");
  }
  std::string TokensFile() const { return dir_ + "/tokens"; }
  const NodeServices& services() const { return services_; }
  auth::SessionStore& sessions() { return *sessions_; }
  auth::LocalUserStore& users() { return *users_; }  // owned by the login chain

 private:
  const std::string dir_;
  const net::test::Issued* ca_ = nullptr;
  auth::LocalUserStore* users_ = nullptr;
  std::shared_ptr<auth::SessionStore> sessions_;
  NodeServices services_;
  std::unique_ptr<net::Server> server_;
};

}  // namespace fogkeep::node::test
