// `fogkeep login --director`'s side of the director's OAuth server: what the CLI demands of the
// metadata, of token and device answers and of the loopback redirect (cli/oauth_api.h), the
// loopback listener itself (cli/loopback.h), and the refresh of a cached OAuth login by
// NodeClient against a small fake token endpoint.
#include "cli/oauth_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "cli/loopback.h"
#include "cli/node_client.h"
#include "core/fs.h"
#include "crypto/hash.h"
#include "oauth/pkce.h"
#include "support/support.h"
#include "unit/cli/cli_test_support.h"
#include "unit/net/net_test_util.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using net::Method;
using net::test::Must;
using Clock = std::chrono::system_clock;

constexpr std::string_view kDirector = "https://fleet.example:9443";

std::string Metadata(std::string issuer, std::string token_endpoint = "") {
  if (token_endpoint.empty()) token_endpoint = issuer + "/oauth2/token";
  return json::serialize(
      json::object{{"issuer", issuer},
                   {"authorization_endpoint", issuer + "/oauth2/authorize"},
                   {"token_endpoint", token_endpoint},
                   {"device_authorization_endpoint", issuer + "/oauth2/device_authorization"},
                   {"revocation_endpoint", issuer + "/oauth2/revoke"},
                   {"authorization_response_iss_parameter_supported", true}});
}

// A JWT-shaped access token with these claims (unsigned: the CLI never verifies one).
std::string Jwt(const json::object& claims) {
  return crypto::Base64UrlEncode(R"({"alg":"ES256","typ":"at+jwt"})") + "." +
         crypto::Base64UrlEncode(json::serialize(claims)) + ".c2ln";
}

net::Response Answer(int status, json::object body) {
  return net::Response::Json(json::serialize(body), status);
}

// ---- metadata -------------------------------------------------------------------------------

TEST(ServerMetadataTest, TheIssuerMustBeTheDirectorsUrl) {
  const ServerMetadata m = Must(ParseServerMetadata(Metadata(std::string(kDirector)), kDirector));
  EXPECT_EQ(m.token_endpoint, "https://fleet.example:9443/oauth2/token");
  EXPECT_EQ(m.device_authorization_endpoint,
            "https://fleet.example:9443/oauth2/device_authorization");
  EXPECT_TRUE(m.iss_parameter);
  // Another spelling of the same origin is the same issuer.
  EXPECT_TRUE(ParseServerMetadata(Metadata("https://FLEET.example:9443"), kDirector));

  // A director reached under another name issues its tokens for that name: say which.
  const auto other = ParseServerMetadata(Metadata("https://localhost:9443"), kDirector);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(other.error().message().find("names itself https://localhost:9443"), std::string::npos)
      << other.error().message();
  EXPECT_NE(other.error().message().find("--director https://localhost:9443"), std::string::npos);
  for (const std::string issuer :
       {"https://fleet.example:9443/", "https://fleet.example:9444", "http://fleet.example:9443",
        "https://fleet.example:9443/tenant"}) {
    EXPECT_FALSE(ParseServerMetadata(Metadata(issuer), kDirector)) << issuer;
  }
}

TEST(ServerMetadataTest, EndpointsMustBeOnTheDirector) {
  const auto elsewhere = ParseServerMetadata(
      Metadata(std::string(kDirector), "https://evil.example:9443/oauth2/token"), kDirector);
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(elsewhere.error().message().find("is not on the director"), std::string::npos);
  EXPECT_FALSE(ParseServerMetadata(R"({"issuer":"https://fleet.example:9443"})", kDirector));
  EXPECT_FALSE(ParseServerMetadata("[]", kDirector));
  EXPECT_FALSE(ParseServerMetadata(R"({"issuer":7,"token_endpoint":"x"})", kDirector));
}

TEST(EndpointTargetTest, ThePathOnTheDirectorsOrigin) {
  EXPECT_EQ(Must(EndpointTarget("https://fleet.example:9443/oauth2/token", kDirector)),
            "/oauth2/token");
  EXPECT_EQ(Must(EndpointTarget("https://fleet.example:9443/a?b=c", kDirector)), "/a?b=c");
  EXPECT_EQ(Must(EndpointTarget("https://fleet.example:9443", kDirector)), "/");
  for (std::string_view url :
       {"http://fleet.example:9443/oauth2/token", "https://fleet.example:443/oauth2/token",
        "https://fleet.example.evil:9443/x", "https://fleet.example:9443/a b",
        "https://fleet.example:9443/a#b", "/oauth2/token"}) {
    EXPECT_FALSE(EndpointTarget(url, kDirector)) << url;
  }
}

// ---- token, error and device answers ----------------------------------------------------------

TEST(TokenAnswerTest, RefusesWhatCouldNotBeSentOrCached) {
  const TokenAnswer ok = Must(ParseTokenAnswer(
      R"({"access_token":"a.b.c","token_type":"bearer","expires_in":300,"refresh_token":"r1",)"
      R"("scope":"devices.read"})"));
  EXPECT_EQ(ok.refresh_token, "r1");
  EXPECT_EQ(ok.expires_in, 300);
  EXPECT_EQ(ok.scope, "devices.read");
  for (std::string_view body :
       {R"({"access_token":"a","token_type":"mac","expires_in":300})",
        R"({"access_token":"a b","token_type":"Bearer","expires_in":300})",
        R"({"access_token":"a","token_type":"Bearer","expires_in":0})",
        R"({"access_token":"a","token_type":"Bearer"})",
        R"({"access_token":"a","token_type":"Bearer","expires_in":300,"scope":"x\u001b[2J"})",
        R"({"token_type":"Bearer","expires_in":300})", "not json"}) {
    EXPECT_FALSE(ParseTokenAnswer(body)) << body;
  }
}

TEST(OAuthFailureTest, NamesTheErrorAndItsDescription) {
  const Error e = OAuthFailure(
      Answer(400, {{"error", "invalid_grant"}, {"error_description", "the code was used"}}),
      "exchange");
  EXPECT_EQ(e.message(), "exchange: invalid_grant: the code was used");
  EXPECT_EQ(OAuthFailure(Answer(401, {{"error", "invalid_client"}}), "x").code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(OAuthFailure(Answer(503, {{"error", "temporarily_unavailable"}}), "x").code(),
            ErrorCode::kUnavailable);
}

TEST(DeviceAuthorizationTest, ParsesAndChecksTheAnswer) {
  const DeviceAuthorization d = Must(ParseDeviceAuthorization(
      R"({"device_code":"dc","user_code":"BCDF-GHJK","verification_uri":"https://d:9443/oauth2/device",)"
      R"("verification_uri_complete":"https://d:9443/oauth2/device?user_code=BCDF-GHJK",)"
      R"("expires_in":600,"interval":5})"));
  EXPECT_EQ(d.user_code, "BCDF-GHJK");
  EXPECT_EQ(d.interval, 5);
  // interval defaults to 5 s (RFC 8628 3.2).
  EXPECT_EQ(Must(ParseDeviceAuthorization(
                     R"({"device_code":"dc","user_code":"U","verification_uri":"https://d/x",)"
                     R"("expires_in":600})"))
                .interval,
            5);
  for (
      std::string_view body :
      {R"({"device_code":"dc","user_code":"U\u001b]0;x","verification_uri":"https://d/x","expires_in":600})",
       R"({"device_code":"dc","user_code":"U","verification_uri":"http://d/x","expires_in":600})",
       R"({"device_code":"dc","user_code":"U","verification_uri":"https://d/x","expires_in":600,"interval":0})",
       R"({"device_code":"d c","user_code":"U","verification_uri":"https://d/x","expires_in":600})",
       R"({"user_code":"U","verification_uri":"https://d/x","expires_in":600})"}) {
    EXPECT_FALSE(ParseDeviceAuthorization(body)) << body;
  }
}

TEST(DevicePollTest, PendingSlowDownDeniedExpired) {
  std::chrono::seconds interval(5);
  auto pending = ReadDevicePoll(Answer(400, {{"error", "authorization_pending"}}), &interval);
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->has_value());
  EXPECT_EQ(interval, 5s);

  ASSERT_TRUE(ReadDevicePoll(Answer(400, {{"error", "slow_down"}}), &interval));
  EXPECT_EQ(interval, 10s);  // RFC 8628 3.5: 5 s more, for this and every later poll

  const auto denied = ReadDevicePoll(Answer(400, {{"error", "access_denied"}}), &interval);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), ErrorCode::kForbidden);
  EXPECT_EQ(denied.error().message(), "login denied on the director's verification page");
  // The director's reason, when it gives one: a role that holds none of the scopes asked for.
  const auto beyond = ReadDevicePoll(
      Answer(400, {{"error", "access_denied"},
                   {"error_description", "the user's role holds none of the scopes"}}),
      &interval);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().message(),
            "login denied on the director's verification page (the user's role holds none of "
            "the scopes)");

  const auto expired = ReadDevicePoll(Answer(400, {{"error", "expired_token"}}), &interval);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos);

  const auto other = ReadDevicePoll(
      Answer(400, {{"error", "invalid_grant"}, {"error_description", "unknown code"}}), &interval);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message().find("invalid_grant: unknown code"), std::string::npos);

  const auto approved = ReadDevicePoll(
      Answer(200, {{"access_token", "a.b.c"}, {"token_type", "Bearer"}, {"expires_in", 300}}),
      &interval);
  ASSERT_TRUE(approved && approved->has_value());
  EXPECT_EQ((*approved)->access_token, "a.b.c");
}

// ---- authorization request and redirect ---------------------------------------------------------

TEST(AuthorizationRequestTest, PkceAndTheUrl) {
  const Pkce pkce = NewPkce();
  EXPECT_EQ(pkce.verifier.size(), 43u);
  EXPECT_TRUE(oauth::VerifyCodeVerifier(pkce.verifier, pkce.challenge));
  EXPECT_NE(NewPkce().verifier, pkce.verifier);
  EXPECT_NE(NewState(), NewState());

  const std::string url =
      AuthorizationUrl("https://d:9443/oauth2/authorize",
                       AuthorizationRequest{.client_id = "fogkeep-cli",
                                            .redirect_uri = "http://127.0.0.1:5000/callback",
                                            .scope = "devices.read catalog.read",
                                            .state = "s1",
                                            .code_challenge = pkce.challenge});
  EXPECT_EQ(url,
            "https://d:9443/oauth2/authorize?response_type=code&client_id=fogkeep-cli&redirect_uri="
            "http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&scope=devices.read%20catalog.read&state=s1&"
            "code_challenge=" +
                pkce.challenge + "&code_challenge_method=S256");
  EXPECT_EQ(AuthorizationUrl("https://d/a?x=1", AuthorizationRequest{}).substr(0, 19),
            "https://d/a?x=1&res");
}

constexpr std::string_view kIssuer = "https://d:9443";

TEST(CallbackTest, TheCodeWhenStateAndIssuerMatch) {
  EXPECT_EQ(Must(ParseCallback("/callback?code=c1&state=s1&iss=https%3A%2F%2Fd%3A9443", "s1",
                               kIssuer, true)),
            "c1");
  // Without iss, only when the director does not promise one (RFC 9207 2.4).
  EXPECT_EQ(Must(ParseCallback("/callback?code=c1&state=s1", "s1", kIssuer, false)), "c1");
}

TEST(CallbackTest, Refusals) {
  const auto code_of = [](std::string_view target) {
    const auto r = ParseCallback(target, "s1", kIssuer, true);
    return r ? std::optional<ErrorCode>() : std::optional<ErrorCode>(r.error().code());
  };
  // Not the redirect at all: the listener answers 404 and waits on.
  EXPECT_EQ(code_of("/favicon.ico"), ErrorCode::kNotFound);
  EXPECT_EQ(code_of("/callback/x?code=c1&state=s1"), ErrorCode::kNotFound);
  // Forged or stale: another state, none, or two.
  EXPECT_EQ(code_of("/callback?code=c1&state=s2&iss=https://d:9443"), ErrorCode::kIntegrity);
  EXPECT_EQ(code_of("/callback?code=c1&iss=https://d:9443"), ErrorCode::kIntegrity);
  EXPECT_EQ(code_of("/callback?code=c1&state=s1&state=s1&iss=https://d:9443"),
            ErrorCode::kIntegrity);
  // Mix-up: another issuer's answer, or none where one is promised.
  EXPECT_EQ(code_of("/callback?code=c1&state=s1&iss=https://evil:9443"), ErrorCode::kIntegrity);
  EXPECT_EQ(code_of("/callback?code=c1&state=s1"), ErrorCode::kIntegrity);
  // The user said no; the director said no; no code.
  const auto denied = ParseCallback(
      "/callback?error=access_denied&error_description=the%20user%20denied&state=s1&"
      "iss=https://d:9443",
      "s1", kIssuer, true);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), ErrorCode::kForbidden);
  EXPECT_EQ(denied.error().message(), "login denied in the browser (the user denied)");
  const auto refused = ParseCallback(
      "/callback?error=invalid_scope&error_description=scope%20x%1B&state=s1&iss=https://d:9443",
      "s1", kIssuer, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(refused.error().message().find("invalid_scope: scope x\\x1b"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(code_of("/callback?state=s1&iss=https://d:9443"), ErrorCode::kInvalidInput);
  EXPECT_EQ(code_of("/callback?code=&state=s1&iss=https://d:9443"), ErrorCode::kInvalidInput);
}

// ---- what is cached ---------------------------------------------------------------------------

TEST(OAuthCredentialTest, TheUserAndRoleComeFromTheAccessToken) {
  const auto now = Clock::time_point(std::chrono::seconds(1'900'000'000));
  const TokenAnswer answer{.access_token = Jwt({{"sub", "alice"}, {"role", "auditor"}}),
                           .refresh_token = "r1",
                           .expires_in = 300,
                           .scope = "devices.read"};
  const OAuthGrant grant{.client_id = "fogkeep-cli",
                         .token_endpoint = "https://d:9443/oauth2/token",
                         .revocation_endpoint = ""};
  const Credential c =
      Must(CredentialFromTokenAnswer("https://d:9443", answer, "/ca.crt", grant, now));
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.role, "auditor");
  EXPECT_EQ(c.server, ServerKind::kDirector);
  EXPECT_EQ(c.oauth, grant);
  EXPECT_EQ(c.access_expires, now + 300s);
  EXPECT_TRUE(SessionAlive(c, now + std::chrono::hours(24 * 365)));

  // A rotation replaces the refresh token; an answer without one keeps it.
  const Credential rotated = Must(RefreshedCredential(
      c, TokenAnswer{.access_token = answer.access_token, .refresh_token = "r2", .expires_in = 60},
      now + 100s));
  EXPECT_EQ(rotated.refresh_token, "r2");
  EXPECT_EQ(rotated.access_expires, now + 160s);
  EXPECT_EQ(Must(RefreshedCredential(
                     c, TokenAnswer{.access_token = answer.access_token, .expires_in = 60}, now))
                .refresh_token,
            "r1");

  TokenAnswer no_refresh = answer;
  no_refresh.refresh_token.clear();
  EXPECT_FALSE(CredentialFromTokenAnswer("https://d:9443", no_refresh, "", grant, now));
  TokenAnswer opaque = answer;
  opaque.access_token = "fka_opaque";
  EXPECT_FALSE(CredentialFromTokenAnswer("https://d:9443", opaque, "", grant, now));
  TokenAnswer nobody = answer;
  nobody.access_token = Jwt({{"role", "admin"}});
  EXPECT_FALSE(CredentialFromTokenAnswer("https://d:9443", nobody, "", grant, now));
}

TEST(FormBodyTest, EncodesEveryValue) {
  EXPECT_EQ(FormBody({{"grant_type", kDeviceCodeGrant}, {"scope", "a b&c"}}),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&scope=a%20b%26c");
}

// ---- the loopback listener
// -----------------------------------------------------------------------

// Connects to 127.0.0.1:port, sends `request` and returns all the listener answers.
std::string Exchange(std::uint16_t port, std::string_view request) {
  fs::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return "";
  (void)::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof(buf), 0)) > 0;) answer.append(buf, n);
  return answer;
}

TEST(LoopbackListenerTest, TakesOneGetAndAnswersIt) {
  LoopbackListener listener = Must(LoopbackListener::Open());
  ASSERT_NE(listener.port(), 0);
  EXPECT_EQ(listener.RedirectUri(),
            "http://127.0.0.1:" + std::to_string(listener.port()) + "/callback");
  std::string post_answer;
  std::string get_answer;
  std::thread browser([&] {
    post_answer = Exchange(listener.port(), "POST /callback HTTP/1.1\r\nHost: x\r\n\r\n");
    get_answer = Exchange(listener.port(), "GET /callback?code=c1&state=s HTTP/1.1\r\n\r\n");
  });
  const std::string target = Must(listener.NextRequest(std::chrono::steady_clock::now() + 10s));
  EXPECT_EQ(target, "/callback?code=c1&state=s");
  listener.Respond(200, "Logged in", "to <d> & done");
  browser.join();
  EXPECT_TRUE(post_answer.starts_with("HTTP/1.1 405 ")) << post_answer;
  EXPECT_TRUE(get_answer.starts_with("HTTP/1.1 200 OK\r\n")) << get_answer;
  EXPECT_NE(get_answer.find("to &lt;d&gt; &amp; done"), std::string::npos);
  EXPECT_NE(get_answer.find("Cache-Control: no-store"), std::string::npos);
}

TEST(LoopbackListenerTest, TimesOut) {
  LoopbackListener listener = Must(LoopbackListener::Open());
  const auto next = listener.NextRequest(std::chrono::steady_clock::now() + 100ms);
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(next.error().message().find("timed out"), std::string::npos);
}

// ---- NodeClient refreshes a cached OAuth login at the token endpoint
// -------------------------------

// The director's token endpoint (refresh grant, with rotation and reuse detection) and one API
// route that takes only the newest access token.
class FakeTokenEndpoint {
 public:
  std::mutex mu;
  // Guarded by mu.
  std::string access;
  std::string refresh = "r1";
  int refreshes = 0;
  bool revoked = false;
  std::vector<std::vector<std::pair<std::string, std::string>>> forms;

  std::string NewAccessLocked() {
    access = Jwt({{"sub", "alice"}, {"role", "auditor"}, {"n", refreshes}});
    return access;
  }

  net::Router Routes() {
    net::Router router;
    net::RouteOptions open{.is_public = true};
    Must(router.Add(Method::kPost, "/oauth2/token", open, [this](net::Request& req) {
      std::lock_guard lock(mu);
      const auto form = Must(net::ParseForm(req.body));
      forms.push_back(form);
      const auto field = [&](std::string_view key) {
        for (const auto& [k, v] : form) {
          if (k == key) return v;
        }
        return std::string();
      };
      if (req.headers.Has("Authorization") || field("client_id") != "fogkeep-cli" ||
          field("grant_type") != "refresh_token") {
        return Result<net::Response>(Answer(400, {{"error", "invalid_request"}}));
      }
      if (revoked || field("refresh_token") != refresh) {
        revoked = true;  // reuse of a rotated token revokes the family
        return Result<net::Response>(
            Answer(400, {{"error", "invalid_grant"}, {"error_description", "revoked"}}));
      }
      ++refreshes;
      refresh = "r" + std::to_string(refreshes + 1);
      return Result<net::Response>(Answer(200, {{"access_token", NewAccessLocked()},
                                                {"token_type", "Bearer"},
                                                {"expires_in", 300},
                                                {"refresh_token", refresh},
                                                {"scope", "devices.read"}}));
    }));
    Must(router.Add(Method::kGet, "/api/v1/devices", open, [this](net::Request& req) {
      std::lock_guard lock(mu);
      if (req.headers.Get("Authorization") != "Bearer " + access) {
        return Result<net::Response>(Fail(ErrorCode::kUnauthenticated, "invalid token"));
      }
      return Result<net::Response>(net::Response::Json(R"({"devices":[]})"));
    }));
    return router;
  }
};

class OAuthRefreshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("XDG_CONFIG_HOME", (dir_ / "config").c_str(), 1);
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "ca.crt", test::TestCa().cert.ToPem(), 0644));
    server_ = Must(test::StartTlsServer(fake_.Routes()));
    url_ = "https://127.0.0.1:" + std::to_string(server_->tcp_port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  CredentialCache Cache() const {
    return CredentialCache(dir_ / "config/fogkeep/credentials.json");
  }

  // Caches an OAuth login whose access token has expired.
  void CacheExpiredLogin() {
    Credential c;
    c.node = url_;
    c.server = ServerKind::kDirector;
    c.user = "alice";
    c.role = "auditor";
    c.access_token = "expired.access.token";
    c.refresh_token = "r1";
    c.access_expires = Clock::now() - 1min;
    c.ca = dir_ / "ca.crt";
    c.oauth = OAuthGrant{.client_id = "fogkeep-cli",
                         .token_endpoint = url_ + "/oauth2/token",
                         .revocation_endpoint = url_ + "/oauth2/revoke"};
    ASSERT_TRUE(Cache().Store(c));
  }

  Status ListDevices() {
    NodeClient client =
        FK_TRY(NodeClient::Connect(NodeTarget{.node = url_, .server = ServerKind::kDirector}, 10s));
    FK_TRY(client.Call(Method::kGet, "/api/v1/devices"));
    return {};
  }

  testing::TempDir dir_;
  test::EnvGuard config_home_{"XDG_CONFIG_HOME"};
  FakeTokenEndpoint fake_;
  std::unique_ptr<net::Server> server_;
  std::string url_;
};

TEST_F(OAuthRefreshTest, AnExpiredAccessTokenIsRefreshedAndTheRotatedTokenCached) {
  CacheExpiredLogin();
  ASSERT_TRUE(ListDevices());
  const Credential after = Must(Cache().Find(url_)).value();
  EXPECT_EQ(after.refresh_token, "r2");  // rotated, inside the cache's lock
  {
    std::lock_guard lock(fake_.mu);
    EXPECT_EQ(after.access_token, fake_.access);
    EXPECT_EQ(fake_.refreshes, 1);
  }
  EXPECT_TRUE(after.oauth.has_value());
  EXPECT_GT(after.access_expires, Clock::now() + 200s);
  // The next command uses the new access token as it is.
  ASSERT_TRUE(ListDevices());
  std::lock_guard lock(fake_.mu);
  EXPECT_EQ(fake_.refreshes, 1);
}

TEST_F(OAuthRefreshTest, ARefusedRefreshEndsTheLoginWithAHint) {
  CacheExpiredLogin();
  {
    std::lock_guard lock(fake_.mu);
    fake_.revoked = true;
  }
  const Status listed = ListDevices();
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(listed.error().message().find("fogkeep login --director " + url_), std::string::npos)
      << listed.error().message();
  EXPECT_FALSE(Must(Cache().Find(url_)).has_value());
}

}  // namespace
}  // namespace fogkeep::cli
