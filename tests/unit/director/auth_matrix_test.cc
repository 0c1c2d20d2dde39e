// The director's authorization matrix, end to end through a real net::Server over TLS: every
// route fogkeep-director serves (RegisterDirectorRoutes, the daemon's own registration) × every
// role × every kind of credential (API tokens, login sessions and enrolled nodes' client
// certificates), on the stack the daemon's Serve() assembles: a SQLite fleet store, the fleet
// CA as client trust, DeviceAuthenticator over the login stack, DirectorAuthorizer. The
// expected table below is written from the roles' definitions (the README's permission
// matrix), not from auth/roles.cc, and a route without a row fails the coverage test.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "access/audit_api.h"
#include "access/auth_config.h"
#include "access/auth_token.h"
#include "access/login_stack.h"
#include "api/alert.h"
#include "api/node.h"
#include "auth/sessions.h"
#include "crypto/csr.h"
#include "crypto/keys.h"
#include "director/ca.h"
#include "director/device_auth.h"
#include "director/routes.h"
#include "net/client.h"
#include "net/server.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

using fogkeep::testing::Must;
using net::Method;
using net::Response;

const std::set<std::string> kAll = {"admin", "app-manager", "network-manager", "auditor"};
const std::set<std::string> kAppManagers = {"admin", "app-manager"};
const std::set<std::string> kNetworkManagers = {"admin", "network-manager"};
const std::set<std::string> kAuditors = {"admin", "auditor"};
const std::set<std::string> kAdmin = {"admin"};
const std::set<std::string> kNoRole = {};
constexpr bool kNodeSelf = true;

struct Row {
  Method method;
  std::string pattern;
  std::string target;  // a request the pattern matches
  bool is_public = false;
  std::set<std::string> roles;  // the roles allowed; every other role gets 403
  // Only enrolled nodes may call it (node.self): every role gets 403, and a node certificate
  // gets 403 on every row without it.
  bool node_self = false;
};

// Targets name no existing device, deployment or session, so that an allowed call changes
// nothing the other rows rely on (above all, it never decommissions the enrolled node).
const std::vector<Row>& Matrix() {
  static const std::vector<Row> rows = {
      {Method::kGet, "/healthz", "/healthz", true, kNoRole},
      {Method::kGet, "/.well-known/est/cacerts", "/.well-known/est/cacerts", true, kNoRole},
      {Method::kPost, "/.well-known/est/simpleenroll", "/.well-known/est/simpleenroll", true,
       kNoRole},
      {Method::kPost, "/.well-known/est/simplereenroll", "/.well-known/est/simplereenroll", false,
       kNoRole, kNodeSelf},
      {Method::kGet, "/api/v1/node/desired", "/api/v1/node/desired", false, kNoRole, kNodeSelf},
      {Method::kPost, "/api/v1/node/report", "/api/v1/node/report", false, kNoRole, kNodeSelf},
      {Method::kGet, "/api/v1/node/packages/{name}/{version}", "/api/v1/node/packages/hello/1.0.0",
       false, kNoRole, kNodeSelf},
      // enroll
      {Method::kPost, "/api/v1/enrollment-tokens", "/api/v1/enrollment-tokens", false,
       kNetworkManagers},
      {Method::kGet, "/api/v1/enrollment-tokens", "/api/v1/enrollment-tokens", false,
       kNetworkManagers},
      {Method::kDelete, "/api/v1/enrollment-tokens/{id}",
       "/api/v1/enrollment-tokens/0011223344556677", false, kNetworkManagers},
      // devices.read, devices.write
      {Method::kGet, "/api/v1/devices", "/api/v1/devices", false, kAll},
      {Method::kGet, "/api/v1/devices/{id}", "/api/v1/devices/d-nobody", false, kAll},
      {Method::kPatch, "/api/v1/devices/{id}", "/api/v1/devices/d-nobody", false, kNetworkManagers},
      {Method::kPost, "/api/v1/devices/{id}/decommission", "/api/v1/devices/d-nobody/decommission",
       false, kNetworkManagers},
      // alerts.read: every role (the auditor reads everything *.read)
      {Method::kGet, "/api/v1/alerts", "/api/v1/alerts", false, kAll},
      {Method::kGet, "/api/v1/devices/{id}/alerts", "/api/v1/devices/d-nobody/alerts", false, kAll},
      // catalog.read, catalog.write
      {Method::kPost, "/api/v1/catalog", "/api/v1/catalog", false, kAppManagers},
      {Method::kGet, "/api/v1/catalog", "/api/v1/catalog", false, kAll},
      {Method::kDelete, "/api/v1/catalog/{name}/{version}", "/api/v1/catalog/hello/1.0.0", false,
       kAppManagers},
      // policies.read, policies.write
      {Method::kPut, "/api/v1/policies/{tag}", "/api/v1/policies/plant-a", false, kNetworkManagers},
      {Method::kGet, "/api/v1/policies", "/api/v1/policies", false, kAll},
      {Method::kDelete, "/api/v1/policies/{tag}", "/api/v1/policies/plant-a", false,
       kNetworkManagers},
      // deployments.read, deployments.write
      {Method::kPost, "/api/v1/deployments", "/api/v1/deployments", false, kAppManagers},
      {Method::kGet, "/api/v1/deployments", "/api/v1/deployments", false, kAll},
      {Method::kGet, "/api/v1/deployments/{id}", "/api/v1/deployments/dep-nobody", false, kAll},
      {Method::kPost, "/api/v1/deployments/{id}/{action}", "/api/v1/deployments/dep-nobody/pause",
       false, kAppManagers},
      // audit.read
      {Method::kGet, "/api/v1/audit", "/api/v1/audit", false, kAuditors},
      // The login routes: public, session.self and sessions.manage.
      {Method::kPost, "/api/v1/auth/login", "/api/v1/auth/login", true, kNoRole},
      {Method::kPost, "/api/v1/auth/refresh", "/api/v1/auth/refresh", true, kNoRole},
      {Method::kPost, "/api/v1/auth/logout", "/api/v1/auth/logout", false, kAll},
      {Method::kGet, "/api/v1/auth/whoami", "/api/v1/auth/whoami", false, kAll},
      {Method::kGet, "/api/v1/auth/sessions", "/api/v1/auth/sessions", false, kAdmin},
      {Method::kDelete, "/api/v1/auth/sessions/{id}", "/api/v1/auth/sessions/0123", false, kAdmin},
  };
  return rows;
}

std::string RouteName(Method method, std::string_view pattern) {
  return std::string(net::MethodName(method)) + " " + std::string(pattern);
}

const Row& RowOf(Method method, std::string_view pattern) {
  for (const Row& row : Matrix()) {
    if (row.method == method && row.pattern == pattern) return row;
  }
  std::cerr << "no row for " << RouteName(method, pattern) << "\n";
  std::abort();
}

// A device enrolled through the fleet's Enrollment (a one-time token, then its CSR), and the
// TLS identity it presents: its key, its certificate and the fleet CA.
struct EnrolledNode {
  std::string device_id;
  crypto::TlsIdentity identity;
};

class AuthMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = std::make_shared<FleetCa>(Must(FleetCa::Create(dir_ / "ca", "test fleet"), "fleet CA"));
    std::shared_ptr<FleetStore> store = Must(OpenSqliteStore(dir_ / "fleet.db"), "fleet store");
    std::shared_ptr<audit::AuditLog> audit_log =
        Must(audit::AuditLog::Open(dir_ / "audit.log", {.durability = audit::Durability::kNone}),
             "audit log");
    logins_ =
        Must(access::OpenLoginStack({}, dir_.path(), *audit_log, "fogkeep-director"), "logins");

    // As daemon.cc's Serve() assembles the director.
    crypto::PrivateKey key =
        Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "server key");
    const crypto::Certificate cert =
        Must(ca_->IssueServerCertificate(key.Public(), {"localhost"}, {"127.0.0.1"},
                                         FleetCa::kMaxServerLifetime),
             "server certificate");
    const crypto::TlsIdentity identity{std::move(key), {cert, ca_->certificate()}};
    services_.store = store;
    services_.enrollment = std::make_shared<Enrollment>(store, ca_);
    services_.generations = std::make_shared<GenerationWatch>(store);
    services_.catalog = std::make_shared<Catalog>(store);
    services_.rollouts = std::make_shared<Rollouts>(store);
    services_.signer = std::make_shared<const crypto::TlsIdentity>(identity);
    services_.audit = audit_log;
    services_.login = logins_.login;
    net::Router served;
    Must(RegisterDirectorRoutes(served, services_), "routes");
    Must(RegisterDirectorRoutes(router_, services_), "routes");
    crypto::TrustStore fleet;
    fleet.AddAnchor(ca_->certificate());
    net::ServerOptions options;
    options.tcp =
        net::TcpListenerOptions{.address = "127.0.0.1",
                                .port = 0,
                                .tls = {.identity = identity, .client_trust = std::move(fleet)}};
    options.audit = access::MakeAuditSink(audit_log);
    server_ = Must(
        net::Server::Create(std::move(options), std::move(served),
                            std::make_shared<DeviceAuthenticator>(store, logins_.authenticator),
                            std::make_shared<DirectorAuthorizer>()),
        "server");
    Must(server_->Start(), "start");
    node_ = Enroll("press-7");
  }

  void TearDown() override {
    server_->Stop();
    services_.generations->Stop();
  }

  EnrolledNode Enroll(const std::string& name) {
    const std::string token =
        Must(services_.enrollment->CreateToken({.tags = {"plant-a"}}, "nina"), "token").token;
    crypto::PrivateKey key =
        Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "node key");
    Enrollment::Issued issued = Must(
        services_.enrollment->Enroll(token, Must(crypto::CertificateRequest::Create(key, name))),
        "enroll " + name);
    return {issued.device_id, {std::move(key), std::move(issued.chain)}};
  }

  // A client that trusts the fleet CA and, when given one, presents `identity`.
  std::unique_ptr<net::Client> Https(std::optional<crypto::TlsIdentity> identity = std::nullopt) {
    net::ClientTlsOptions tls;
    tls.trust.emplace();
    tls.trust->AddAnchor(ca_->certificate());
    tls.identity = std::move(identity);
    return Must(net::Client::Https("127.0.0.1", server_->tcp_port(), std::move(tls)), "client");
  }

  std::string ApiToken(const std::string& role) {
    return Must(access::CreateToken(access::TokensFile(dir_.path()), role), "API token");
  }

  // A new session's access token: one per request, so that logout ends only its own.
  std::string SessionToken(const std::string& role) {
    const std::string user = "user" + std::to_string(++users_);
    return Must(logins_.sessions->Create(user, role, "local", "127.0.0.1"), "session").access_token;
  }

  static Response Send(net::Client& client, const Row& row,
                       const std::optional<std::string>& token) {
    net::Headers headers;
    if (token) headers.Set("Authorization", "Bearer " + *token);
    return Must(client.Request(row.method, row.target, headers, "{}"), row.target);
  }

  // Every non-public route answers `client` (with `token`, if any) 401.
  void ExpectEveryNonPublicRouteAnswers401(net::Client& client,
                                           const std::optional<std::string>& token,
                                           const std::string& credential) {
    for (const Row& row : Matrix()) {
      if (row.is_public) continue;
      const Response r = Send(client, row, token);
      EXPECT_EQ(r.status, 401) << RouteName(row.method, row.pattern) << " with " << credential
                               << ": " << r.body;
    }
  }

  testing::TempDir dir_;
  std::shared_ptr<FleetCa> ca_;
  access::LoginStack logins_;
  DirectorServices services_;
  net::Router router_;  // the same routes, for inspection
  std::unique_ptr<net::Server> server_;
  std::optional<EnrolledNode> node_;  // enrolled in SetUp
  int users_ = 0;
};

TEST_F(AuthMatrixTest, EveryRouteHasExactlyOneRowAndTheRowsTargetsMatchIt) {
  std::set<std::string> rows;
  for (const Row& row : Matrix()) {
    EXPECT_TRUE(rows.insert(RouteName(row.method, row.pattern)).second)
        << "two rows for " << RouteName(row.method, row.pattern);
    const net::Router::Match match =
        router_.Find(row.method, Must(net::ParseTarget(row.target), row.target).segments);
    ASSERT_NE(match.route, nullptr) << row.target << " matches no route";
    EXPECT_EQ(match.route->pattern, row.pattern) << row.target;
    EXPECT_EQ(match.route->options.is_public, row.is_public) << row.pattern;
  }
  std::set<std::string> routes;
  for (const net::Route* route : router_.routes()) {
    const std::string name = RouteName(route->method, route->pattern);
    routes.insert(name);
    EXPECT_TRUE(rows.contains(name))
        << name << " is served but has no row in this test's matrix: add one";
  }
  for (const std::string& row : rows) EXPECT_TRUE(routes.contains(row)) << row << ": no route";
}

TEST_F(AuthMatrixTest, EachRoleGetsExactlyItsRowsWithAnApiTokenOrASession) {
  const std::unique_ptr<net::Client> client = Https();
  std::map<std::string, std::string> api_tokens;
  for (const std::string& role : kAll) api_tokens[role] = ApiToken(role);
  for (const Row& row : Matrix()) {
    if (row.is_public) continue;
    for (const std::string& role : kAll) {
      for (bool session : {false, true}) {
        const Response r = Send(*client, row, session ? SessionToken(role) : api_tokens[role]);
        const std::string what = RouteName(row.method, row.pattern) + " as " + role + " with " +
                                 (session ? "a session" : "an API token");
        if (row.roles.contains(role)) {
          EXPECT_NE(r.status, 401) << what << ": " << r.body;
          EXPECT_NE(r.status, 403) << what << ": " << r.body;
        } else {
          EXPECT_EQ(r.status, 403) << what << ": " << r.body;
        }
      }
    }
  }
}

TEST_F(AuthMatrixTest, AnEnrolledNodeReachesTheNodeRoutesAndNoOther) {
  const std::unique_ptr<net::Client> node = Https(node_->identity);
  // The certificate names the caller: a person's token sent beside it changes nothing.
  const std::string admin = ApiToken("admin");
  for (const Row& row : Matrix()) {
    if (row.is_public) continue;
    const std::string what = RouteName(row.method, row.pattern) + " as node " + node_->device_id;
    const Response r = Send(*node, row, std::nullopt);
    if (row.node_self) {
      EXPECT_NE(r.status, 401) << what << ": " << r.body;
      EXPECT_NE(r.status, 403) << what << ": " << r.body;
    } else {
      EXPECT_EQ(r.status, 403) << what << ": " << r.body;
      const Response with_token = Send(*node, row, admin);
      EXPECT_EQ(with_token.status, 403) << what << " and an admin's API token: " << with_token.body;
    }
  }
}

TEST_F(AuthMatrixTest, EveryNonPublicRouteRefusesEveryBadTokenWith401) {
  // Made through a second handle on the director's session database whose clock stands two
  // hours back (as the CLI opens it beside the daemon): expired and idle now.
  const auto two_hours_ago = [] {
    return std::chrono::system_clock::now() - std::chrono::hours(2);
  };
  const std::unique_ptr<auth::SessionStore> past =
      Must(auth::SessionStore::Open(access::SessionsFile(dir_.path()), {}, two_hours_ago), "past");
  const std::string expired =
      Must(past->Create("early", "admin", "local", "127.0.0.1"), "s").access_token;
  auth::SessionStore& sessions = *logins_.sessions;
  const auth::IssuedTokens revoked =
      Must(sessions.Create("revoked", "admin", "local", "127.0.0.1"), "s");
  Must(sessions.Revoke(revoked.session.id), "revoke");
  const auth::IssuedTokens logged_out =
      Must(sessions.Create("gone", "admin", "local", "127.0.0.1"), "s");
  Must(sessions.Logout(logged_out.access_token), "logout");
  std::string tampered = SessionToken("admin");
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  const std::unique_ptr<auth::SessionStore> other_director =
      Must(auth::SessionStore::Open(":memory:"), "other director's sessions");
  const std::string other =
      Must(other_director->Create("admin", "admin", "local", "127.0.0.1"), "s").access_token;
  const std::string refresh =
      Must(sessions.Create("refresher", "admin", "local", "127.0.0.1"), "s").refresh_token;
  std::string tampered_api = ApiToken("admin");
  tampered_api.front() = tampered_api.front() == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::optional<std::string>>> bad = {
      {"no token", std::nullopt},
      {"an expired session", expired},
      {"a revoked session", revoked.access_token},
      {"a logged-out session", logged_out.access_token},
      {"a tampered session token", tampered},
      {"another director's session", other},
      {"a refresh token", refresh},
      {"a tampered API token", tampered_api},
  };
  const std::unique_ptr<net::Client> client = Https();
  for (const auto& [name, token] : bad) ExpectEveryNonPublicRouteAnswers401(*client, token, name);
}

// 401, not 403: DeviceAuthenticator requires, on every request, that the certificate is its
// device's current one and that the device is still enrolled, and otherwise refuses to
// authenticate (kUnauthenticated), so no principal exists for a permission to be checked
// against. The handshake itself still succeeds: the director's client trust is the fleet CA
// without a CRL, so the store, not TLS, is what ends a device's certificates.
TEST_F(AuthMatrixTest, EveryNonPublicRouteRefusesARetiredDeviceCertificateWith401) {
  const EnrolledNode renewed = Enroll("renewed");
  crypto::PrivateKey key = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "key");
  Enrollment::Issued current =
      Must(services_.enrollment->Reenroll(renewed.device_id,
                                          Must(crypto::CertificateRequest::Create(key, "renewed"))),
           "renew");
  const std::unique_ptr<net::Client> superseded = Https(renewed.identity);
  ExpectEveryNonPublicRouteAnswers401(*superseded, std::nullopt, "a superseded certificate");
  const std::unique_ptr<net::Client> now_current =
      Https(crypto::TlsIdentity{std::move(key), std::move(current.chain)});
  const Row& desired = RowOf(Method::kGet, "/api/v1/node/desired");
  EXPECT_EQ(Send(*now_current, desired, std::nullopt).status, 200)
      << "the renewed certificate works";

  // Decommissioned through the API while its connection stays open: refused from its next
  // request on.
  const EnrolledNode retired = Enroll("retired");
  const std::unique_ptr<net::Client> node = Https(retired.identity);
  EXPECT_EQ(Send(*node, desired, std::nullopt).status, 200);
  const Row decommission = {Method::kPost, "/api/v1/devices/{id}/decommission",
                            "/api/v1/devices/" + retired.device_id + "/decommission"};
  const Response done = Send(*Https(), decommission, ApiToken("network-manager"));
  ASSERT_EQ(done.status, 200) << done.body;
  ExpectEveryNonPublicRouteAnswers401(*node, std::nullopt, "a decommissioned device's certificate");
  // A person's token beside the certificate does not stand in for it.
  ExpectEveryNonPublicRouteAnswers401(*node, ApiToken("admin"),
                                      "a decommissioned device's certificate and an admin token");
}

// A certificate that does not chain to the fleet CA never reaches HTTP: the handshake fails
// (client_trust), so no route answers at all, public or not. Both certificates name the
// enrolled node's device id and carry clientAuth: only the chain stands between them and the
// node's identity.
TEST_F(AuthMatrixTest, ACertificateFromAnotherCaGetsNoAnswerOnAnyRoute) {
  const auto other_ca = Must(FleetCa::Create(dir_ / "other-ca", "other fleet"), "other CA");
  crypto::PrivateKey key =
      Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "impostor key");
  const crypto::Certificate from_other_ca =
      Must(other_ca.IssueNodeCertificate(Must(crypto::CertificateRequest::Create(key, "impostor")),
                                         node_->device_id, std::chrono::hours(1)),
           "other CA's certificate");
  const crypto::Certificate self_signed = Must(
      crypto::IssueCertificate(key.Public(),
                               {.common_name = node_->device_id,
                                .extended_key_usages = {crypto::ExtendedKeyUsage::kClientAuth}},
                               nullptr, key),
      "self-signed certificate");
  const std::vector<std::pair<std::string, crypto::TlsIdentity>> impostors = {
      {"another fleet CA's certificate", {key, {from_other_ca, other_ca.certificate()}}},
      {"a self-signed certificate", {key, {self_signed}}},
  };
  for (const auto& [name, identity] : impostors) {
    const std::unique_ptr<net::Client> client = Https(identity);
    for (const Row& row : Matrix()) {
      net::Headers headers;
      const Result<Response> r = client->Request(row.method, row.target, headers, "{}");
      EXPECT_FALSE(r.has_value()) << RouteName(row.method, row.pattern) << " with " << name
                                  << " answered "
                                  << (r ? std::to_string(r->status) + ": " + r->body
                                        : std::string());
    }
  }
}

// A node's report carries its alerts: the director keeps each (device, seq) once, however
// often the node sends it, leaves out one that fails the check, and serves them fleet-wide and
// per device with their filters.
TEST_F(AuthMatrixTest, ReportedAlertsAreKeptOnceAndListedWithTheirFilters) {
  const std::unique_ptr<net::Client> node = Https(node_->identity);
  auto alert = [](const std::string& detector, int severity) {
    return R"({"timestamp":"2026-11-26T14:03:07Z","event_type":"alert","src_ip":"10.9.0.7",)"
           R"("alert":{"detector":")" +
           detector + R"(","signature":"sig","severity":)" + std::to_string(severity) + "}}";
  };
  const std::string report =
      R"({"agent_version":"0.1.0","health":"ok","apps":[],"alerts":[)"
      R"({"seq":1,"received_at":100,"source":"host","alert":)" +
      alert("modbus-write", 1) + R"(},{"seq":2,"received_at":101,"source":"thermo","alert":)" +
      alert("port-scan", 3) +
      R"(},{"seq":3,"received_at":102,"source":"thermo","alert":{"event_type":"alert"}})" +
      R"(,{"seq":4,"received_at":103,"source":"../x","alert":)" + alert("port-scan", 2) + "}]}";
  net::Headers json_type;
  json_type.Set("Content-Type", "application/json");
  for (int i = 0; i < 2; ++i) {  // sent twice, as after a node's crash before its mark
    const Response sent =
        Must(node->Request(Method::kPost, "/api/v1/node/report", json_type, report), "report");
    ASSERT_EQ(sent.status, 204) << sent.body;
  }
  const std::unique_ptr<net::Client> client = Https();
  net::Headers auditor;
  auditor.Set("Authorization", "Bearer " + ApiToken("auditor"));
  auto list = [&](const std::string& target) {
    const Response r = Must(client->Request(Method::kGet, target, auditor), target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return Must(api::FromJsonText<api::AlertList>(r.body), r.body);
  };
  const api::AlertList all = list("/api/v1/alerts");
  ASSERT_EQ(all.alerts.size(), 2u);  // seq 3 (no timestamp) and 4 (bad source) left out
  EXPECT_EQ(all.alerts[0].device, node_->device_id);
  EXPECT_EQ(all.alerts[0].seq, 1);
  EXPECT_EQ(all.alerts[0].source, "host");
  EXPECT_EQ(all.alerts[1].seq, 2);
  EXPECT_LT(all.alerts[0].id, all.alerts[1].id);
  EXPECT_EQ(all.next, all.alerts[1].id);
  EXPECT_EQ(list("/api/v1/alerts?min_severity=1").alerts.size(), 1u);
  EXPECT_EQ(list("/api/v1/alerts?detector=port-scan").alerts.size(), 1u);
  EXPECT_EQ(list("/api/v1/alerts?tag=plant-a").alerts.size(), 2u);
  EXPECT_TRUE(list("/api/v1/alerts?tag=plant-b").alerts.empty());
  EXPECT_EQ(list("/api/v1/alerts?device=" + node_->device_id).alerts.size(), 2u);
  EXPECT_TRUE(list("/api/v1/alerts?since=" + std::to_string(all.next)).alerts.empty());
  EXPECT_EQ(list("/api/v1/devices/" + node_->device_id + "/alerts?limit=1").alerts[0].seq, 2);
  EXPECT_EQ(
      Must(client->Request(Method::kGet, "/api/v1/devices/d-nobody/alerts", auditor), "404").status,
      404);
  EXPECT_EQ(
      Must(client->Request(Method::kGet, "/api/v1/alerts?min_severity=0", auditor), "400").status,
      400);
  // The alerts live on their own, not in the device's last report.
  const Response device =
      Must(client->Request(Method::kGet, "/api/v1/devices/" + node_->device_id, auditor), "dev");
  EXPECT_EQ(device.body.find("modbus-write"), std::string::npos) << device.body;
}

}  // namespace
}  // namespace fogkeep::director
