// The authorization matrix, end to end through a real net::Server over TLS: every route
// fogkeepd serves (RegisterNodeRoutes, the daemon's own registration) × every role × every
// kind of credential. The expected table below is written from the roles' definitions, not
// from auth/roles.cc, and a route without a row fails the coverage test.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "access/auth_token.h"
#include "auth/sessions.h"
#include "node/routes.h"
#include "support/support.h"
#include "unit/node_api/test_node.h"

namespace fogkeep::node {
namespace {

using net::Method;
using net::Response;
using net::test::Must;

const std::set<std::string> kAll = {"admin", "app-manager", "network-manager", "auditor"};
const std::set<std::string> kAppManagers = {"admin", "app-manager"};
const std::set<std::string> kNetworkManagers = {"admin", "network-manager"};
const std::set<std::string> kAuditors = {"admin", "auditor"};
const std::set<std::string> kAdmin = {"admin"};

struct Row {
  Method method;
  std::string pattern;
  std::string target;  // a request the pattern matches
  bool is_public = false;
  std::set<std::string> roles;  // the roles allowed; every other role gets 403
};

const std::vector<Row>& Matrix() {
  static const std::vector<Row> rows = {
      {Method::kGet, "/healthz", "/healthz", true, {}},
      {Method::kGet, "/metrics", "/metrics", false, kAll},
      {Method::kGet, "/api/v1/apps", "/api/v1/apps", false, kAll},
      {Method::kPost, "/api/v1/apps", "/api/v1/apps", false, kAppManagers},
      {Method::kGet, "/api/v1/apps/{id}", "/api/v1/apps/hello", false, kAll},
      {Method::kDelete, "/api/v1/apps/{id}", "/api/v1/apps/hello", false, kAppManagers},
      {Method::kPost, "/api/v1/apps/{id}/upgrade", "/api/v1/apps/hello/upgrade", false,
       kAppManagers},
      {Method::kPost, "/api/v1/apps/{id}/{action}", "/api/v1/apps/hello/start", false,
       kAppManagers},
      {Method::kGet, "/api/v1/apps/{id}/logs", "/api/v1/apps/hello/logs", false, kAll},
      {Method::kGet, "/api/v1/apps/{id}/metrics", "/api/v1/apps/hello/metrics", false, kAll},
      {Method::kGet, "/api/v1/apps/{id}/config", "/api/v1/apps/hello/config", false, kAll},
      {Method::kPut, "/api/v1/apps/{id}/config", "/api/v1/apps/hello/config", false, kAppManagers},
      {Method::kGet, "/api/v1/platform/trust", "/api/v1/platform/trust", false, kAll},
      {Method::kPut, "/api/v1/platform/trust", "/api/v1/platform/trust", false, kNetworkManagers},
      {Method::kGet, "/api/v1/platform/policy", "/api/v1/platform/policy", false, kAll},
      {Method::kPut, "/api/v1/platform/policy", "/api/v1/platform/policy", false, kNetworkManagers},
      {Method::kGet, "/api/v1/audit", "/api/v1/audit", false, kAuditors},
      // alerts.read: every role; alerts.write: a host sensor's token, network-manager's.
      {Method::kGet, "/api/v1/alerts", "/api/v1/alerts", false, kAll},
      {Method::kPost, "/api/v1/alerts", "/api/v1/alerts", false, kNetworkManagers},
      {Method::kPost, "/api/v1/auth/login", "/api/v1/auth/login", true, {}},
      {Method::kPost, "/api/v1/auth/refresh", "/api/v1/auth/refresh", true, {}},
      {Method::kPost, "/api/v1/auth/logout", "/api/v1/auth/logout", false, kAll},
      {Method::kGet, "/api/v1/auth/whoami", "/api/v1/auth/whoami", false, kAll},
      {Method::kGet, "/api/v1/auth/sessions", "/api/v1/auth/sessions", false, kAdmin},
      {Method::kDelete, "/api/v1/auth/sessions/{id}", "/api/v1/auth/sessions/0123", false, kAdmin},
  };
  static const std::vector<Row> all = [] {
    std::vector<Row> out = rows;
    // The apps' secure storage: storage.read and storage.write, both app-managers'.
    for (const std::string kind : {"objects", "certificates", "keys"}) {
      const std::string base = "/api/v1/apps/{id}/sss/" + kind;
      const std::string target = "/api/v1/apps/hello/sss/" + kind;
      out.push_back({Method::kGet, base, target, false, kAppManagers});
      for (Method method : {Method::kGet, Method::kPut, Method::kDelete}) {
        out.push_back({method, base + "/{name}", target + "/one", false, kAppManagers});
      }
    }
    return out;
  }();
  return all;
}

std::string RouteName(Method method, std::string_view pattern) {
  return std::string(net::MethodName(method)) + " " + std::string(pattern);
}

class AuthMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ =
        std::make_unique<test::TestNode>(dir_.path(), test::TestNodeOptions{.clock = [this] {
                                           return std::chrono::system_clock::now() + offset_.load();
                                         }});
    Must(RegisterNodeRoutes(router_, node_->services()), "routes");
    client_ = node_->Https();
    other_node_ = Must(auth::SessionStore::Open(":memory:"), "other node's sessions");
  }

  // A new session's access token: one per request, so that logout ends only its own.
  std::string SessionToken(const std::string& role) {
    const std::string user = "user" + std::to_string(++users_);
    return Must(node_->sessions().Create(user, role, "local", "127.0.0.1"), "session").access_token;
  }

  Response Send(const Row& row, const std::optional<std::string>& token) {
    net::Headers headers;
    if (token) headers.Set("Authorization", "Bearer " + *token);
    return Must(client_->Request(row.method, row.target, headers, "{}"), row.target);
  }

  testing::TempDir dir_;
  std::atomic<std::chrono::seconds> offset_{std::chrono::seconds(0)};
  std::unique_ptr<test::TestNode> node_;
  net::Router router_;  // the same routes, for inspection
  std::unique_ptr<net::Client> client_;
  std::unique_ptr<auth::SessionStore> other_node_;
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
  std::map<std::string, std::string> api_tokens;
  for (const std::string& role : kAll) {
    api_tokens[role] = Must(access::CreateToken(node_->TokensFile(), role), "token");
  }
  for (const Row& row : Matrix()) {
    if (row.is_public) continue;
    for (const std::string& role : kAll) {
      for (bool session : {false, true}) {
        const Response r = Send(row, session ? SessionToken(role) : api_tokens[role]);
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

TEST_F(AuthMatrixTest, EveryNonPublicRouteRefusesEveryBadCredentialWith401) {
  // Made while the clock stood two hours back: expired and idle now.
  offset_ = -std::chrono::hours(2);
  const std::string expired = SessionToken("admin");
  offset_ = std::chrono::seconds(0);
  auto revoked_session =
      Must(node_->sessions().Create("revoked", "admin", "local", "127.0.0.1"), "s");
  Must(node_->sessions().Revoke(revoked_session.session.id), "revoke");
  auto logged_out = Must(node_->sessions().Create("gone", "admin", "local", "127.0.0.1"), "s");
  Must(node_->sessions().Logout(logged_out.access_token), "logout");
  std::string tampered = SessionToken("admin");
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  const std::string other_node =
      Must(other_node_->Create("admin", "admin", "local", "127.0.0.1"), "s").access_token;
  std::string tampered_api = Must(access::CreateToken(node_->TokensFile(), "admin"), "token");
  tampered_api.front() = tampered_api.front() == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::optional<std::string>>> bad = {
      {"no token", std::nullopt},
      {"an expired session", expired},
      {"a revoked session", revoked_session.access_token},
      {"a logged-out session", logged_out.access_token},
      {"a tampered session token", tampered},
      {"another node's session", other_node},
      {"a refresh token", SessionToken("admin").replace(0, 4, "fkr_")},
      {"a tampered API token", tampered_api},
  };
  for (const Row& row : Matrix()) {
    if (row.is_public) continue;
    for (const auto& [name, token] : bad) {
      const Response r = Send(row, token);
      EXPECT_EQ(r.status, 401) << RouteName(row.method, row.pattern) << " with " << name << ": "
                               << r.body;
    }
  }
}

}  // namespace
}  // namespace fogkeep::node
