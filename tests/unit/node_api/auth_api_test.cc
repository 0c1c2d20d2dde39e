// The login routes through a real net::Server over TLS, with the local user back-end:
// login, refresh with rotation, logout, revocation, lockout with Retry-After, identical
// answers for unknown users and wrong passwords, and the audit records of each.
#include "access/auth_api.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "access/auth_token.h"
#include "api/node.h"
#include "audit/record.h"
#include "core/fs.h"
#include "support/support.h"
#include "unit/node_api/test_node.h"

namespace fogkeep::node {
namespace {

using net::Method;
using net::Response;
using net::test::Must;

constexpr std::string_view kPassword = "correct horse battery";

class AuthApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::TestNodeOptions options;
    options.throttle.per_user = {.free_failures = 2,
                                 .base_delay = std::chrono::milliseconds(1000),
                                 .max_delay = std::chrono::milliseconds(4000),
                                 .lockout_failures = 4,
                                 .lockout_duration = std::chrono::seconds(600),
                                 .window = std::chrono::seconds(3600)};
    node_ = std::make_unique<test::TestNode>(dir_.path(), options);
    Must(node_->users().Add("alice", "app-manager", kPassword), "add alice");
    client_ = node_->Https();
  }

  Response Post(std::string_view target, const std::string& body, std::string_view token = "") {
    net::Headers headers;
    if (!token.empty()) headers.Set("Authorization", "Bearer " + std::string(token));
    headers.Set("Content-Type", "application/json");
    return Must(client_->Request(Method::kPost, target, headers, body), target);
  }
  Response Get(std::string_view target, std::string_view token) {
    net::Headers headers;
    headers.Set("Authorization", "Bearer " + std::string(token));
    return Must(client_->Request(Method::kGet, target, headers), target);
  }
  Response Login(std::string_view user, std::string_view password) {
    return Post("/api/v1/auth/login",
                api::ToJsonText(api::LoginRequest{std::string(user), std::string(password)}));
  }
  static api::LoginResult Tokens(const Response& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    return Must(api::FromJsonText<api::LoginResult>(r.body), "login result");
  }
  std::vector<audit::Record> AuditRecords(std::string_view action) const {
    std::vector<audit::Record> out;
    const std::string text = Must(fs::ReadFile(dir_ / "audit.log"), "read audit log");
    std::size_t pos = 0;
    for (std::size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      auto record = Must(audit::ParseLine(std::string_view(text).substr(pos, nl - pos)), "line");
      if (record.action == action) out.push_back(std::move(record));
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<test::TestNode> node_;
  std::unique_ptr<net::Client> client_;
};

TEST_F(AuthApiTest, LoginGivesASessionThatWorksUntilLogout) {
  const Response r = Login("alice", kPassword);
  const api::LoginResult tokens = Tokens(r);
  EXPECT_EQ(r.headers.Get("Cache-Control").value_or(""), "no-store");
  EXPECT_TRUE(tokens.access_token.starts_with("fka_"));
  EXPECT_TRUE(tokens.refresh_token.starts_with("fkr_"));
  EXPECT_EQ(tokens.token_type, "Bearer");
  EXPECT_GT(tokens.expires_in, 0);
  EXPECT_LE(tokens.expires_in, 900);
  EXPECT_EQ(tokens.session.user, "alice");
  EXPECT_EQ(tokens.session.role, "app-manager");
  EXPECT_EQ(tokens.session.backend, "local");
  EXPECT_EQ(tokens.session.source, "127.0.0.1");

  const Response me = Get("/api/v1/auth/whoami", tokens.access_token);
  ASSERT_EQ(me.status, 200) << me.body;
  const auto who = Must(api::FromJsonText<api::WhoAmI>(me.body), "whoami");
  EXPECT_EQ(who.id, "alice");
  EXPECT_EQ(who.mechanism, "session");
  EXPECT_EQ(who.roles, std::vector<std::string>{"app-manager"});
  EXPECT_EQ(Get("/api/v1/apps", tokens.access_token).status, 200);
  EXPECT_EQ(Get("/api/v1/audit", tokens.access_token).status, 403);  // not an auditor

  EXPECT_EQ(Post("/api/v1/auth/logout", "", tokens.access_token).status, 204);
  EXPECT_EQ(Get("/api/v1/apps", tokens.access_token).status, 401);
  EXPECT_EQ(Post("/api/v1/auth/refresh", api::ToJsonText(api::RefreshRequest{tokens.refresh_token}))
                .status,
            401);
}

TEST_F(AuthApiTest, RefreshRotatesAndAReusedRefreshTokenEndsTheSession) {
  const api::LoginResult first = Tokens(Login("alice", kPassword));
  const api::LoginResult second = Tokens(
      Post("/api/v1/auth/refresh", api::ToJsonText(api::RefreshRequest{first.refresh_token})));
  EXPECT_EQ(second.session.id, first.session.id);
  EXPECT_NE(second.access_token, first.access_token);
  EXPECT_NE(second.refresh_token, first.refresh_token);
  EXPECT_EQ(Get("/api/v1/apps", first.access_token).status, 401);
  EXPECT_EQ(Get("/api/v1/apps", second.access_token).status, 200);
  // The first refresh token again: someone else holds a copy, so the session ends.
  EXPECT_EQ(Post("/api/v1/auth/refresh", api::ToJsonText(api::RefreshRequest{first.refresh_token}))
                .status,
            401);
  EXPECT_EQ(Get("/api/v1/apps", second.access_token).status, 401);
}

TEST_F(AuthApiTest, UnknownUserAndWrongPasswordGetTheSameAnswer) {
  const Response unknown = Login("mallory", "whatever it is");
  const Response wrong = Login("alice", "not the password");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.body, wrong.body);
  EXPECT_EQ(unknown.headers.Get("Retry-After"), std::nullopt);
  // Malformed requests are 400 and say why; they do not reach the back-ends.
  EXPECT_EQ(Post("/api/v1/auth/login", "not json").status, 400);
  EXPECT_EQ(Post("/api/v1/auth/login", R"({"user": 7})").status, 400);
  EXPECT_EQ(Post("/api/v1/auth/login", std::string(9000, 'x')).status, 413);
}

TEST_F(AuthApiTest, FailuresBackOffWithRetryAfterAndTheRightPasswordWaitsToo) {
  EXPECT_EQ(Login("alice", "wrong 1").status, 401);
  EXPECT_EQ(Login("alice", "wrong 2").status, 401);
  // The first failure past the free ones makes the user's record wait.
  EXPECT_EQ(Login("alice", "wrong 3").status, 401);
  const Response throttled = Login("alice", kPassword);
  ASSERT_EQ(throttled.status, 429) << throttled.body;
  const std::string retry(throttled.headers.Get("Retry-After").value_or(""));
  ASSERT_FALSE(retry.empty());
  EXPECT_GE(std::stoi(retry), 1);
  EXPECT_LE(std::stoi(retry), 4);
  EXPECT_EQ(Must(api::FromJsonText<api::ErrorBody>(throttled.body), "error").code, "limit");
  // Another user from the same address is not held back by alice's record.
  EXPECT_EQ(Login("bob", "whatever it is").status, 401);

  const auto records = AuditRecords("auth.login");
  ASSERT_GE(records.size(), 5u);
  EXPECT_EQ(records[0].actor, "alice");
  EXPECT_EQ(records[0].result, "401");
  EXPECT_NE(records[0].detail.find("local"), std::string::npos) << records[0].detail;
  EXPECT_EQ(records[3].result, "429");
  EXPECT_NE(records[3].detail.find("retry in"), std::string::npos) << records[3].detail;
}

TEST_F(AuthApiTest, UserNamesWithControlCharactersOrSurroundingSpacesAreRefused) {
  const std::vector<std::string> names = {"alice ", " alice", std::string("ali\0ce", 6), "ali\nce",
                                          "ali\x7f"};
  for (const std::string& name : names) {
    const Response r = Login(name, kPassword);
    EXPECT_EQ(r.status, 400) << name;
  }
  EXPECT_EQ(Login("alice", kPassword).status, 200);
}

// A back-end that holds every login until released, as an unreachable RADIUS server would.
class HeldBackend : public auth::AuthBackend {
 public:
  Result<auth::AuthOutcome> Authenticate(std::string_view, std::string_view,
                                         std::string_view) override {
    std::unique_lock lock(mu_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
    return auth::AuthOutcome{.accepted = false, .reason = "held"};
  }
  void AwaitWaiting(int n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return waiting_ >= n; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int waiting_ = 0;
  bool released_ = false;
};

TEST(AuthApiLimitsTest, LoginsBeyondTheInFlightLimitAre503AndOtherCallsStillWork) {
  testing::TempDir dir;
  auto held = std::make_shared<HeldBackend>();
  test::TestNode node(dir.path(), {.second_backend = held});
  const std::string token = Must(access::CreateToken(node.TokensFile(), "auditor"), "token");
  auto login = [&] {
    return Must(
        node.Https()->Request(Method::kPost, "/api/v1/auth/login", {},
                              api::ToJsonText(api::LoginRequest{"nobody", "whatever it is"})),
        "login");
  };
  // Two logins (the default limit) wait on the back-end...
  std::vector<std::thread> waiting;
  std::vector<int> statuses(2);
  for (int i = 0; i < 2; ++i) waiting.emplace_back([&, i] { statuses[i] = login().status; });
  held->AwaitWaiting(2);
  // ...so a third is turned away at once, and the rest of the API still answers.
  const Response busy = login();
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(busy.headers.Get("Retry-After").value_or(""), "1");
  net::Headers auth;
  auth.Set("Authorization", "Bearer " + token);
  EXPECT_EQ(Must(node.Https()->Request(Method::kGet, "/api/v1/apps", auth), "list").status, 200);
  held->Release();
  for (auto& t : waiting) t.join();
  EXPECT_EQ(statuses, (std::vector<int>{401, 401}));
}

TEST_F(AuthApiTest, AnonymousFailuresCannotFloodTheAuditTrail) {
  // Malformed bodies fail before any back-end is asked; anyone can send them.
  constexpr int kSent = 120;
  auto send = [&] {
    ASSERT_EQ(Post("/api/v1/auth/login?id=" + std::string(200, 'x'), "not json").status, 400);
  };
  for (int i = 0; i < kSent; ++i) send();
  // The budget refills at 5 a second: the next one recorded says how many were left out.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  send();
  const auto records = AuditRecords("auth.login");
  std::size_t left_out = 0;
  for (const audit::Record& r : records) {
    const std::size_t at = r.detail.find(" earlier refusal(s) not recorded: rate limit");
    if (at == std::string::npos) continue;
    const std::size_t open = r.detail.rfind('(', at);
    ASSERT_NE(open, std::string::npos) << r.detail;
    left_out += std::stoul(r.detail.substr(open + 1, at - open - 1));
  }
  // The refusal budget (50 at once, 5 a second after) recorded a fraction, and counted the rest.
  EXPECT_GT(left_out, 0u);
  EXPECT_EQ(records.size() + left_out, static_cast<std::size_t>(kSent) + 1);
  // A public route's ?id= is the caller's word, not a target.
  EXPECT_EQ(records.front().target, "/api/v1/auth/login");
}

TEST_F(AuthApiTest, AcceptedLoginsAndLogoutsAreAudited) {
  const api::LoginResult tokens = Tokens(Login("alice", kPassword));
  ASSERT_EQ(Post("/api/v1/auth/logout", "", tokens.access_token).status, 204);
  const auto logins = AuditRecords("auth.login");
  ASSERT_EQ(logins.size(), 1u);
  EXPECT_EQ(logins[0].actor, "alice");
  EXPECT_EQ(logins[0].role, "app-manager");
  EXPECT_EQ(logins[0].source, "127.0.0.1");
  EXPECT_EQ(logins[0].result, "200");
  EXPECT_NE(logins[0].detail.find("session " + tokens.session.id), std::string::npos);
  const auto logouts = AuditRecords("auth.logout");
  ASSERT_EQ(logouts.size(), 1u);
  EXPECT_EQ(logouts[0].actor, "alice");
  EXPECT_EQ(logouts[0].result, "204");
}

TEST_F(AuthApiTest, AdminsListAndRevokeSessionsAndApiTokensCannotLogOut) {
  const api::LoginResult alice = Tokens(Login("alice", kPassword));
  const std::string admin = Must(access::CreateToken(node_->TokensFile(), "admin"), "token");
  const Response listed = Get("/api/v1/auth/sessions?user=alice", admin);
  ASSERT_EQ(listed.status, 200) << listed.body;
  const auto list = Must(api::FromJsonText<api::SessionList>(listed.body), "sessions");
  ASSERT_EQ(list.sessions.size(), 1u);
  EXPECT_EQ(list.sessions[0].id, alice.session.id);
  EXPECT_EQ(listed.body.find(alice.access_token), std::string::npos);  // never the tokens

  net::Headers headers;
  headers.Set("Authorization", "Bearer " + admin);
  const std::string target = "/api/v1/auth/sessions/" + alice.session.id;
  EXPECT_EQ(Must(client_->Request(Method::kDelete, target, headers), "revoke").status, 204);
  EXPECT_EQ(Get("/api/v1/apps", alice.access_token).status, 401);
  EXPECT_EQ(Must(client_->Request(Method::kDelete, target, headers), "again").status, 404);
  EXPECT_EQ(AuditRecords("auth.revoke").size(), 2u);

  EXPECT_EQ(Post("/api/v1/auth/logout", "", admin).status, 400);
}

}  // namespace
}  // namespace fogkeep::node
