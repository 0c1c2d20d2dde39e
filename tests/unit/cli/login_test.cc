// fogkeep login / logout and NodeClient's use of the login cache, against a small fake node
// that speaks the /api/v1/auth contract over real TLS.
#include "cli/login.h"

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <gtest/gtest.h>

#include "cli/credentials.h"
#include "cli/login_api.h"
#include "cli/node_client.h"
#include "core/fs.h"
#include "net/server.h"
#include "support/support.h"
#include "unit/cli/cli_test_support.h"
#include "unit/net/net_test_util.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using net::Method;
using net::test::Must;

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
}

// One user (alice, password "pw", role auditor) and at most one session, like fogkeepd's
// LoginService and SessionStore as far as the client can tell.
class FakeNode {
 public:
  static constexpr std::string_view kExplicitToken = "fka_explicit";

  std::mutex mu;
  // Guarded by mu.
  bool alive = false;
  std::string access;
  std::string refresh;
  int generation = 0;
  int logins = 0;
  int refreshes = 0;
  int logouts = 0;
  std::vector<std::string> app_list_tokens;  // the bearer token of every GET /api/v1/apps
  std::int64_t clock_offset = 0;             // the node's clock minus this machine's, seconds

  // Starts a new pair of tokens; returns the login result as the node sends it. Needs mu.
  std::string IssueLocked() {
    ++generation;
    access = "fka_" + std::to_string(generation) + std::string(40, 'a');
    refresh = "fkr_" + std::to_string(generation) + std::string(40, 'r');
    alive = true;
    const std::int64_t now = UnixNow() + clock_offset;
    return json::serialize(
        json::object{{"access_token", access},
                     {"refresh_token", refresh},
                     {"token_type", "Bearer"},
                     {"expires_in", 900},
                     {"session", json::object{{"id", "0123456789abcdef0123456789abcdef"},
                                              {"user", "alice"},
                                              {"role", "auditor"},
                                              {"backend", "local"},
                                              {"source", "127.0.0.1"},
                                              {"created", now},
                                              {"last_used", now},
                                              {"expires", now + 900},
                                              {"session_expires", now + 43200}}}});
  }

  // The string member `key` of a JSON object body; "" when there is none.
  static std::string Field(std::string_view body, std::string_view key) {
    json::error_code ec;
    const json::value doc = json::parse(body, ec);
    const json::object* o = doc.if_object();
    const json::value* v = o == nullptr ? nullptr : o->if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
  }

  net::Router Routes() {
    net::RouteOptions open;
    open.is_public = true;  // the handlers check the tokens themselves
    net::Router router;
    Must(router.Add(Method::kPost, kLoginPath, open, [this](net::Request& req) {
      const std::string user = Field(req.body, "user");
      std::lock_guard lock(mu);
      ++logins;
      if (user == "throttled") {
        net::Response r = net::ErrorResponse(
            Error(ErrorCode::kLimit, "too many failed login attempts; try again in 42 s"));
        r.headers.Set("Retry-After", "42");
        return Result<net::Response>(r);
      }
      if (user != "alice" || Field(req.body, "password") != "pw") {
        return Result<net::Response>(Fail(ErrorCode::kUnauthenticated, "invalid credentials"));
      }
      return Result<net::Response>(net::Response::Json(IssueLocked()));
    }));
    Must(router.Add(Method::kPost, kRefreshPath, open, [this](net::Request& req) {
      const std::string presented = Field(req.body, "refresh_token");
      std::lock_guard lock(mu);
      ++refreshes;
      if (!alive || presented != refresh) {
        alive = false;  // a rotated refresh token ends the session
        return Result<net::Response>(Fail(ErrorCode::kUnauthenticated, "invalid or expired token"));
      }
      return Result<net::Response>(net::Response::Json(IssueLocked()));
    }));
    Must(router.Add(Method::kPost, kLogoutPath, open, [this](net::Request& req) {
      std::lock_guard lock(mu);
      if (!alive || req.headers.Get("Authorization") != "Bearer " + access) {
        return Result<net::Response>(Fail(ErrorCode::kUnauthenticated, "invalid or expired token"));
      }
      ++logouts;
      alive = false;
      net::Response r;
      r.status = 204;
      return Result<net::Response>(r);
    }));
    Must(router.Add(Method::kGet, "/api/v1/apps", open, [this](net::Request& req) {
      std::lock_guard lock(mu);
      const std::string presented(req.headers.Get("Authorization").value_or(""));
      app_list_tokens.push_back(presented.substr(std::min<std::size_t>(presented.size(), 7)));
      const bool explicit_token = presented == "Bearer " + std::string(kExplicitToken);
      if (!explicit_token && (!alive || presented != "Bearer " + access)) {
        return Result<net::Response>(Fail(ErrorCode::kUnauthenticated, "invalid or expired token"));
      }
      return Result<net::Response>(net::Response::Json(R"({"apps":[]})"));
    }));
    return router;
  }
};

class LoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("XDG_CONFIG_HOME", (dir_ / "config").c_str(), 1);
    ASSERT_TRUE(fs::WriteFileAtomic(ca_path(), test::TestCa().cert.ToPem(), 0644));
    server_ = Must(test::StartTlsServer(fake_.Routes()));
    port_ = server_->tcp_port();
    target_.node = node();
    target_.ca = ca_path();
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  std::string node() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string ca_path() const { return dir_ / "ca.pem"; }
  // The path as the cache records it: absolute and normal.
  std::string cached_ca_path() const {
    return std::filesystem::path(ca_path()).lexically_normal().string();
  }
  CredentialCache Cache() const {
    return CredentialCache(dir_ / "config/fogkeep/credentials.json");
  }
  std::optional<Credential> Cached() const {
    auto found = Cache().Find(node());
    EXPECT_TRUE(found) << found.error().message();
    return found ? *found : std::nullopt;
  }

  // Logs alice in, or fails the test.
  void LogInAlice() {
    auto outcome = LogIn(target_, "alice", "pw");
    ASSERT_TRUE(outcome) << outcome.error().message();
  }

  // GET /api/v1/apps through a client connected as `target`.
  Status ListApps(const NodeTarget& target) {
    NodeClient client = FK_TRY(NodeClient::Connect(target, 10s));
    FK_TRY(client.Call(Method::kGet, "/api/v1/apps"));
    return {};
  }

  testing::TempDir dir_;
  test::EnvGuard config_home_{"XDG_CONFIG_HOME"};
  FakeNode fake_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
  NodeTarget target_;
};

TEST_F(LoginTest, LoginCachesTheSessionAndLaterCallsUseIt) {
  auto outcome = LogIn(target_, "alice", "pw");
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->session.user, "alice");
  EXPECT_EQ(outcome->session.role, "auditor");
  EXPECT_EQ(outcome->session.id, "0123456789abcdef0123456789abcdef");

  const std::optional<Credential> cached = Cached();
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->node, node());
  EXPECT_EQ(cached->user, "alice");
  EXPECT_EQ(cached->role, "auditor");
  EXPECT_EQ(cached->access_token, fake_.access);
  EXPECT_EQ(cached->refresh_token, fake_.refresh);
  EXPECT_EQ(cached->ca, cached_ca_path());
  EXPECT_NEAR(std::chrono::duration<double>(cached->access_expires - Clock::now()).count(), 900, 5);

  // No --token: the cached access token is sent. A different spelling of the URL finds it.
  NodeTarget later;
  later.node = "https://127.0.0.1:" + std::to_string(port_) + "/";
  ASSERT_TRUE(ListApps(later));  // the --ca of the login is remembered too
  ASSERT_EQ(fake_.app_list_tokens.size(), 1u);
  EXPECT_EQ(fake_.app_list_tokens[0], cached->access_token);
  EXPECT_EQ(fake_.refreshes, 0);
}

TEST_F(LoginTest, WrongPasswordIsRefusedAndCachesNothing) {
  auto outcome = LogIn(target_, "alice", "wrong");
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(outcome.error().message(), "login failed: invalid credentials");
  EXPECT_FALSE(Cached());
}

TEST_F(LoginTest, ThrottledLoginSaysHowLongToWait) {
  auto outcome = LogIn(target_, "throttled", "pw");
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kLimit);
  EXPECT_NE(outcome.error().message().find("try again in 42 s"), std::string::npos)
      << outcome.error().message();
}

TEST_F(LoginTest, LoginNeedsAWayToCheckTheNode) {
  NodeTarget unchecked;
  unchecked.node = node();
  auto outcome = LogIn(unchecked, "alice", "pw");
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message().find("--ca"), std::string::npos);
  EXPECT_EQ(fake_.logins, 0);

  // Once logged in with --ca, logging in again remembers it.
  LogInAlice();
  auto again = LogIn(unchecked, "alice", "pw");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(Cached()->ca, cached_ca_path());
}

TEST_F(LoginTest, NodeClockOffsetDoesNotShiftTheSessionEnd) {
  fake_.clock_offset = 3600;  // the node's clock runs an hour ahead
  LogInAlice();
  const double left =
      std::chrono::duration<double>(Cached()->session_expires - Clock::now()).count();
  EXPECT_NEAR(left, 43200, 5);
}

TEST_F(LoginTest, ExpiredAccessTokenIsRefreshedBeforeTheCall) {
  LogInAlice();
  Credential expired = *Cached();
  expired.access_expires = Clock::now() - 1s;
  ASSERT_TRUE(Cache().Store(expired));

  ASSERT_TRUE(ListApps(NodeTarget{.node = node()}));
  EXPECT_EQ(fake_.refreshes, 1);
  // Only the fresh token reached the node, and the rotated pair is cached.
  ASSERT_EQ(fake_.app_list_tokens.size(), 1u);
  EXPECT_EQ(fake_.app_list_tokens[0], fake_.access);
  const Credential rotated = *Cached();
  EXPECT_EQ(rotated.access_token, fake_.access);
  EXPECT_EQ(rotated.refresh_token, fake_.refresh);
  EXPECT_NE(rotated.refresh_token, expired.refresh_token);
  EXPECT_EQ(rotated.ca, cached_ca_path());
  EXPECT_TRUE(AccessTokenCurrent(rotated, Clock::now()));
}

TEST_F(LoginTest, UnauthorizedAnswerRefreshesOnceAndRetries) {
  LogInAlice();
  const std::string first = Cached()->access_token;
  {
    // The node no longer takes the access token (say, its clock is ahead), but the session
    // lives on.
    std::lock_guard lock(fake_.mu);
    fake_.access = "fka_elsewhere";
  }
  ASSERT_TRUE(ListApps(NodeTarget{.node = node()}));
  EXPECT_EQ(fake_.refreshes, 1);
  ASSERT_EQ(fake_.app_list_tokens.size(), 2u);
  EXPECT_EQ(fake_.app_list_tokens[0], first);
  EXPECT_EQ(fake_.app_list_tokens[1], fake_.access);
  EXPECT_EQ(Cached()->access_token, fake_.access);
}

TEST_F(LoginTest, EndedSessionIsRemovedWithAHint) {
  LogInAlice();
  {
    std::lock_guard lock(fake_.mu);
    fake_.alive = false;  // revoked by an admin
  }
  const Status listed = ListApps(NodeTarget{.node = node()});
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(listed.error().message().find("fogkeep login --node " + node() + " --user alice"),
            std::string::npos)
      << listed.error().message();
  EXPECT_EQ(fake_.refreshes, 1);  // one attempt, no loop
  EXPECT_FALSE(Cached());

  const Status again = ListApps(NodeTarget{.node = node()});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("not logged in to " + node()), std::string::npos);
}

TEST_F(LoginTest, TokensRefreshedByAnotherProcessAreUsedAsTheyAre) {
  LogInAlice();
  NodeClient client = Must(NodeClient::Connect(NodeTarget{.node = node()}, 10s));
  {
    // Meanwhile another fogkeep refreshed the session and cached the new pair.
    std::lock_guard lock(fake_.mu);
    fake_.IssueLocked();
  }
  Credential theirs = *Cached();
  theirs.access_token = fake_.access;
  theirs.refresh_token = fake_.refresh;
  ASSERT_TRUE(Cache().Store(theirs));

  ASSERT_TRUE(client.Call(Method::kGet, "/api/v1/apps"));
  // Refreshing with the stale refresh token would have ended the session.
  EXPECT_EQ(fake_.refreshes, 0);
  EXPECT_TRUE(fake_.alive);
  EXPECT_EQ(fake_.app_list_tokens.back(), theirs.access_token);
}

TEST_F(LoginTest, SessionPastItsEndIsNotRefreshed) {
  LogInAlice();
  Credential ended = *Cached();
  ended.access_expires = Clock::now() - 2h;
  ended.session_expires = Clock::now() - 1h;
  ASSERT_TRUE(Cache().Store(ended));
  const Status listed = ListApps(NodeTarget{.node = node()});
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(listed.error().message().find("ended at"), std::string::npos);
  EXPECT_EQ(fake_.refreshes, 0);
  EXPECT_FALSE(Cached());
}

TEST_F(LoginTest, ExplicitTokenWinsAndIsNeverCached) {
  NodeTarget with_token = target_;
  with_token.token = std::string(FakeNode::kExplicitToken);
  ASSERT_TRUE(ListApps(with_token));
  EXPECT_FALSE(fs::ReadFile(Cache().path()));  // no cache file was made

  LogInAlice();
  const Credential before = *Cached();
  ASSERT_TRUE(ListApps(with_token));
  EXPECT_EQ(fake_.app_list_tokens.back(), FakeNode::kExplicitToken);

  // A refused explicit token is not "repaired" with the cached login.
  with_token.token = "fka_wrong";
  const Status refused = ListApps(with_token);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(refused.error().message().find("fogkeep login"), std::string::npos);
  EXPECT_EQ(fake_.refreshes, 0);
  EXPECT_EQ(*Cached(), before);
}

TEST_F(LoginTest, LogoutEndsTheSessionAndForgetsIt) {
  LogInAlice();
  auto outcome = LogOut(NodeTarget{.node = node()});
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->node, node());
  EXPECT_TRUE(outcome->was_cached);
  EXPECT_FALSE(outcome->already_ended);
  EXPECT_FALSE(outcome->node_error);
  EXPECT_EQ(fake_.logouts, 1);
  EXPECT_FALSE(fake_.alive);
  EXPECT_FALSE(Cached());

  auto again = LogOut(NodeTarget{.node = node()});
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->was_cached);
}

TEST_F(LoginTest, LogoutWithoutNodePicksTheOnlyLogin) {
  auto nothing = LogOut(NodeTarget{});
  ASSERT_TRUE(nothing) << nothing.error().message();
  EXPECT_EQ(nothing->node, "");
  EXPECT_FALSE(nothing->was_cached);

  LogInAlice();
  Credential other = *Cached();
  other.node = "https://gw2.example:8443";
  ASSERT_TRUE(Cache().Store(other));
  auto ambiguous = LogOut(NodeTarget{});
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(ambiguous.error().message().find("--node"), std::string::npos);

  ASSERT_TRUE(*Cache().Remove(other.node));
  auto outcome = LogOut(NodeTarget{});
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->node, node());
  EXPECT_EQ(fake_.logouts, 1);
}

TEST_F(LoginTest, LogoutForgetsTheLoginEvenWhenTheNodeIsGone) {
  LogInAlice();
  server_.reset();
  auto outcome = LogOut(NodeTarget{.node = node()});
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_TRUE(outcome->was_cached);
  ASSERT_TRUE(outcome->node_error);
  EXPECT_EQ(outcome->node_error->code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(Cached());
}

TEST_F(LoginTest, LogoutOfASessionThatAlreadyEnded) {
  LogInAlice();
  {
    std::lock_guard lock(fake_.mu);
    fake_.alive = false;
  }
  auto outcome = LogOut(NodeTarget{.node = node()});
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_TRUE(outcome->already_ended);
  EXPECT_FALSE(outcome->node_error);
  EXPECT_FALSE(Cached());
}

TEST(CanonicalNodeUrlTest, OneSpellingPerNode) {
  EXPECT_EQ(*CanonicalNodeUrl("https://GW1.Example"), "https://gw1.example:8443");
  EXPECT_EQ(*CanonicalNodeUrl("https://gw1.example:8443/"), "https://gw1.example:8443");
  EXPECT_EQ(*CanonicalNodeUrl("https://10.0.0.1:9443"), "https://10.0.0.1:9443");
  EXPECT_EQ(*CanonicalNodeUrl("https://[FE80::1]:9443"), "https://[fe80::1]:9443");
  EXPECT_FALSE(CanonicalNodeUrl("http://gw1"));
  EXPECT_FALSE(CanonicalNodeUrl("https://gw1/api"));
  EXPECT_FALSE(CanonicalNodeUrl("https://gw1:99999"));
}

TEST(ParseLoginResultTest, RefusesWhatTheCacheCouldNotUse) {
  const std::string session =
      R"("session":{"id":"ab","user":"alice","role":"admin","expires":1900000900,)"
      R"("session_expires":1900043200})";
  const std::string good =
      R"({"access_token":"fka_a","refresh_token":"fkr_r","token_type":"Bearer",)"
      R"("expires_in":900,)" +
      session + "}";
  auto result = ParseLoginResult(good);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->session.role, "admin");
  EXPECT_EQ(result->session.backend, "");  // optional fields may be missing

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"nope", "JSON"},
      {"[]", "must be a JSON object"},
      {R"({"access_token":1})", "login result.access_token must be a string"},
      {R"({"access_token":"fka_a","refresh_token":"fkr_r","token_type":"Bearer","expires_in":900})",
       "login result.session.user is missing"},
      {R"({"access_token":"fka_a","refresh_token":"fkr_r","token_type":"MAC","expires_in":900,)" +
           session + "}",
       "token_type"},
      {R"({"access_token":"fka a","refresh_token":"fkr_r","token_type":"Bearer","expires_in":900,)" +
           session + "}",
       "tokens"},
      {R"({"access_token":"fka_a","refresh_token":"fkr_r","token_type":"Bearer","expires_in":0,)" +
           session + "}",
       "expires_in"},
      {R"({"access_token":"fka_a","refresh_token":"fkr_r","token_type":"Bearer","expires_in":9,)"
       R"("session":{"user":"\u001b]0;x","expires":1,"session_expires":2}})",
       "control characters"},
      {R"({"access_token":"fka_a","refresh_token":"fkr_r","token_type":"Bearer","expires_in":9,)"
       R"("session":{"user":"alice","expires":"soon","session_expires":2}})",
       "session.expires must be an integer"},
  };
  for (const auto& [body, expected] : bad) {
    auto parsed = ParseLoginResult(body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidInput) << body;
    EXPECT_NE(parsed.error().message().find(expected), std::string::npos)
        << body << " -> " << parsed.error().message();
  }
}

}  // namespace
}  // namespace fogkeep::cli
