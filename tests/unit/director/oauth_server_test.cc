// The authorization server's grants over a real SQLite OAuth store, with a clock the tests
// move: authorization requests (which refusals show a page and which go back to the client),
// PKCE required and never downgraded, single-use codes whose reuse revokes what they issued,
// refresh rotation whose reuse revokes the family, client credentials, the device grant's
// answers (RFC 8628 3.5), introspection and revocation, and client authentication.
#include "director/oauth_server.h"

#include <gtest/gtest.h>

#include "auth/roles.h"
#include "crypto/hash.h"
#include "director/sql_db.h"
#include "oauth/pkce.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

constexpr std::string_view kIssuer = "https://director.test:9443";
constexpr std::string_view kVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view kRedirect = "https://dashboard.test/callback";

class OAuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = OpenSqliteDb(dir_ / "fleet.db");
    ASSERT_TRUE(db) << db.error().message();
    std::shared_ptr<SqlDb> shared = std::move(*db);
    auto store = OpenOAuthStore(shared);
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
    server_ = std::make_unique<AuthorizationServer>(
        store_, OAuthServerOptions{.issuer = std::string(kIssuer)}, [this] { return now_; });
    dashboard_ = Create({.id = "dashboard",
                         .type = OAuthClientType::kConfidential,
                         .redirect_uris = {std::string(kRedirect), "http://127.0.0.1/cb"},
                         .grant_types = {GrantType::kAuthorizationCode, GrantType::kRefreshToken},
                         .scopes = {"deployments.read", "deployments.write", "devices.read"}});
    cli_ = Create({.id = "cli",
                   .type = OAuthClientType::kPublic,
                   .grant_types = {GrantType::kRefreshToken, GrantType::kDeviceCode},
                   .scopes = {"devices.read", "devices.write"}});
    service_ = Create({.id = "metrics-app",
                       .type = OAuthClientType::kConfidential,
                       .grant_types = {GrantType::kClientCredentials},
                       .scopes = {"metrics.read", "platform.read", "apps.write"},
                       .role = "auditor"});
  }

  CreatedClient Create(OAuthClient client) {
    auto created = server_->CreateClient(std::move(client));
    EXPECT_TRUE(created) << created.error().message();
    return created ? *created : CreatedClient{};
  }

  ClientCredentials Basic(const CreatedClient& c) { return {c.client.id, c.secret}; }
  ClientCredentials Public(const CreatedClient& c) { return {c.client.id, std::nullopt}; }

  OAuthParams AuthorizeParams() {
    return {{"response_type", "code"},
            {"client_id", "dashboard"},
            {"redirect_uri", std::string(kRedirect)},
            {"scope", "deployments.read devices.read"},
            {"state", "xyz"},
            {"code_challenge", *oauth::S256CodeChallenge(kVerifier)},
            {"code_challenge_method", "S256"}};
  }

  static OAuthParams With(OAuthParams params, const std::string& key, const std::string& value) {
    for (auto& [k, v] : params) {
      if (k == key) {
        v = value;
        return params;
      }
    }
    params.emplace_back(key, value);
    return params;
  }
  static OAuthParams Without(OAuthParams params, const std::string& key) {
    std::erase_if(params, [&](const auto& p) { return p.first == key; });
    return params;
  }

  std::string Code(const std::string& user = "ann", const std::string& role = "app-manager") {
    auto request = server_->ValidateAuthorizeRequest(AuthorizeParams());
    EXPECT_TRUE(request);
    auto code = server_->IssueCode(*request, user, role);
    EXPECT_TRUE(code) << code.error().description;
    return code ? *code : "";
  }

  OAuthResult<TokenAnswer> Redeem(const std::string& code,
                                  std::string verifier = std::string(kVerifier)) {
    OAuthParams params = {{"grant_type", "authorization_code"},
                          {"code", code},
                          {"redirect_uri", std::string(kRedirect)}};
    if (!verifier.empty()) params.emplace_back("code_verifier", verifier);
    return server_->Token(Basic(dashboard_), params);
  }

  OAuthResult<TokenAnswer> Refresh(const std::string& refresh_token) {
    return server_->Token(Basic(dashboard_),
                          {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}});
  }

  bool Accepted(const std::string& access_token) {
    return server_->ValidateForDirector(access_token).has_value();
  }

  fogkeep::testing::TempDir dir_;
  std::int64_t now_ = 1'800'000'000;
  std::shared_ptr<OAuthStore> store_;
  std::unique_ptr<AuthorizationServer> server_;
  CreatedClient dashboard_, cli_, service_;
};

TEST_F(OAuthServerTest, CodeFlowWithPkceIssuesAnAccessTokenForTheDirector) {
  auto tokens = Redeem(Code());
  ASSERT_TRUE(tokens) << tokens.error().description;
  EXPECT_FALSE(tokens->refresh_token.empty());
  EXPECT_EQ(tokens->scope, "deployments.read devices.read");
  EXPECT_EQ(tokens->expires_in, 300);
  auto claims = server_->ValidateForDirector(tokens->access_token);
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->subject, "ann");
  EXPECT_EQ(claims->role, "app-manager");
  EXPECT_EQ(claims->client_id, "dashboard");
  EXPECT_EQ(claims->audiences, std::vector<std::string>{std::string(kIssuer)});
  EXPECT_EQ(claims->expires_at - claims->issued_at, 300);
  // Five minutes later the token is dead (one more minute of clock skew is tolerated).
  now_ += 300 + 61;
  EXPECT_FALSE(Accepted(tokens->access_token));
}

TEST_F(OAuthServerTest, ScopesBeyondTheUsersRoleAreNotGranted) {
  auto request = server_->ValidateAuthorizeRequest(
      With(AuthorizeParams(), "scope", "deployments.write devices.read"));
  ASSERT_TRUE(request);
  // An auditor may read devices but not deploy.
  auto code = server_->IssueCode(*request, "ava", "auditor");
  ASSERT_TRUE(code);
  auto tokens = Redeem(*code);
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->scope, "devices.read");
}

TEST_F(OAuthServerTest, RefusalsBeforeTheRedirectUriIsTrustedShowAPageNeverARedirect) {
  for (const std::string& uri :
       {std::string(kRedirect) + "?extra=1", std::string("https://dashboard.test/other"),
        std::string("http://dashboard.test/callback"), std::string("https://evil.test/callback"),
        std::string(kRedirect) + "#frag", std::string("https://dashboard.test/callback/")}) {
    auto refused = server_->ValidateAuthorizeRequest(With(AuthorizeParams(), "redirect_uri", uri));
    ASSERT_FALSE(refused) << uri;
    EXPECT_FALSE(refused.error().redirect) << uri;
  }
  auto no_uri = server_->ValidateAuthorizeRequest(Without(AuthorizeParams(), "redirect_uri"));
  ASSERT_FALSE(no_uri);
  EXPECT_FALSE(no_uri.error().redirect);
  auto unknown = server_->ValidateAuthorizeRequest(With(AuthorizeParams(), "client_id", "nobody"));
  ASSERT_FALSE(unknown);
  EXPECT_FALSE(unknown.error().redirect);
  // A loopback redirect may name any port (RFC 8252 7.3), and nothing else may change.
  EXPECT_TRUE(server_->ValidateAuthorizeRequest(
      With(AuthorizeParams(), "redirect_uri", "http://127.0.0.1:53117/cb")));
  EXPECT_FALSE(server_->ValidateAuthorizeRequest(
      With(AuthorizeParams(), "redirect_uri", "http://127.0.0.1:53117/cb2")));
  EXPECT_FALSE(server_->ValidateAuthorizeRequest(
      With(AuthorizeParams(), "redirect_uri", "http://localhost:53117/cb")));
}

TEST_F(OAuthServerTest, LaterRefusalsGoBackToTheClientWithItsState) {
  struct Case {
    OAuthParams params;
    std::string error;
  };
  const std::vector<Case> cases = {
      {Without(AuthorizeParams(), "code_challenge"), "invalid_request"},
      {With(AuthorizeParams(), "code_challenge_method", "plain"), "invalid_request"},
      {Without(AuthorizeParams(), "code_challenge_method"), "invalid_request"},
      {With(AuthorizeParams(), "code_challenge", "short"), "invalid_request"},
      {With(AuthorizeParams(), "response_type", "token"), "unsupported_response_type"},
      {With(AuthorizeParams(), "scope", "users.manage"), "invalid_scope"},
  };
  for (const Case& c : cases) {
    auto refused = server_->ValidateAuthorizeRequest(c.params);
    ASSERT_FALSE(refused) << c.error;
    EXPECT_TRUE(refused.error().redirect);
    EXPECT_EQ(refused.error().redirect_uri, kRedirect);
    EXPECT_EQ(refused.error().state, "xyz");
    EXPECT_EQ(refused.error().error.error, c.error);
  }
}

TEST_F(OAuthServerTest, ACodeWorksOnceAndItsReuseRevokesTheTokensItIssued) {
  const std::string code = Code();
  auto first = Redeem(code);
  ASSERT_TRUE(first);
  EXPECT_TRUE(Accepted(first->access_token));
  auto second = Redeem(code);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().error, "invalid_grant");
  EXPECT_FALSE(Accepted(first->access_token));
  auto refreshed = Refresh(first->refresh_token);
  ASSERT_FALSE(refreshed);
  EXPECT_EQ(refreshed.error().error, "invalid_grant");
}

TEST_F(OAuthServerTest, TheCodeVerifierMustMatchAndCannotBeLeftOut) {
  auto missing = Redeem(Code(), "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().error, "invalid_grant");
  auto wrong = Redeem(Code(), std::string(43, 'a'));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().error, "invalid_grant");
  // A failed check spends the code.
  const std::string code = Code();
  ASSERT_FALSE(Redeem(code, std::string(43, 'b')));
  EXPECT_FALSE(Redeem(code));
}

TEST_F(OAuthServerTest, TheRedirectUriAndTheClientMustBeTheAuthorizationRequests) {
  auto other_uri = server_->Token(Basic(dashboard_), {{"grant_type", "authorization_code"},
                                                      {"code", Code()},
                                                      {"redirect_uri", "http://127.0.0.1/cb"},
                                                      {"code_verifier", std::string(kVerifier)}});
  ASSERT_FALSE(other_uri);
  EXPECT_EQ(other_uri.error().error, "invalid_grant");
  auto other_client = Create({.id = "other",
                              .redirect_uris = {std::string(kRedirect)},
                              .grant_types = {GrantType::kAuthorizationCode},
                              .scopes = {"devices.read"}});
  auto stolen = server_->Token(Basic(other_client), {{"grant_type", "authorization_code"},
                                                     {"code", Code()},
                                                     {"redirect_uri", std::string(kRedirect)},
                                                     {"code_verifier", std::string(kVerifier)}});
  ASSERT_FALSE(stolen);
  EXPECT_EQ(stolen.error().error, "invalid_grant");
}

TEST_F(OAuthServerTest, RefreshRotatesAndAReusedRefreshTokenRevokesTheFamily) {
  auto tokens = Redeem(Code());
  ASSERT_TRUE(tokens);
  auto next = Refresh(tokens->refresh_token);
  ASSERT_TRUE(next) << next.error().description;
  EXPECT_NE(next->refresh_token, tokens->refresh_token);
  EXPECT_TRUE(Accepted(next->access_token));
  // The first refresh token again: someone else holds a copy. Everything of the grant dies.
  auto reused = Refresh(tokens->refresh_token);
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().error, "invalid_grant");
  EXPECT_FALSE(Accepted(next->access_token));
  EXPECT_FALSE(Accepted(tokens->access_token));
  EXPECT_FALSE(Refresh(next->refresh_token));
}

TEST_F(OAuthServerTest, RefreshMayNarrowTheScopeButNotWidenIt) {
  auto tokens = Redeem(Code());
  ASSERT_TRUE(tokens);
  auto narrowed = server_->Token(Basic(dashboard_), {{"grant_type", "refresh_token"},
                                                     {"refresh_token", tokens->refresh_token},
                                                     {"scope", "devices.read"}});
  ASSERT_TRUE(narrowed);
  EXPECT_EQ(narrowed->scope, "devices.read");
  auto widened = server_->Token(Basic(dashboard_), {{"grant_type", "refresh_token"},
                                                    {"refresh_token", narrowed->refresh_token},
                                                    {"scope", "deployments.write"}});
  ASSERT_FALSE(widened);
  EXPECT_EQ(widened.error().error, "invalid_scope");
}

TEST_F(OAuthServerTest, ClientCredentialsActWithTheClientsRoleWithinItsScopes) {
  auto tokens = server_->Token(Basic(service_), {{"grant_type", "client_credentials"}});
  ASSERT_TRUE(tokens) << tokens.error().description;
  EXPECT_TRUE(tokens->refresh_token.empty());
  // apps.write is registered, but the client's role (auditor) does not hold it.
  EXPECT_EQ(tokens->scope, "metrics.read platform.read");
  auto claims = server_->ValidateForDirector(tokens->access_token);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->subject, "metrics-app");
  EXPECT_EQ(claims->role, "auditor");
  auto node = server_->Token(Basic(service_), {{"grant_type", "client_credentials"},
                                               {"resource", "urn:fogkeep:node:press-7"}});
  ASSERT_TRUE(node);
  // A token for a node is not one for the director.
  EXPECT_FALSE(Accepted(node->access_token));
  auto elsewhere = server_->Token(
      Basic(service_), {{"grant_type", "client_credentials"}, {"resource", "https://evil.test"}});
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().error, "invalid_target");
}

TEST_F(OAuthServerTest, AnAppsClientReachesOnlyItsNodeAndTheDirectorWithReadScopes) {
  auto issued = server_->IssueAppClient("d-1a2b", "sensor", {});
  ASSERT_TRUE(issued) << issued.error().message();
  EXPECT_EQ(issued->client.id, "app.d-1a2b.sensor");
  EXPECT_EQ(issued->client.id, AppClientId("d-1a2b", "sensor"));
  EXPECT_EQ(issued->client.scopes, auth::DefaultAppOAuthScopes());
  EXPECT_EQ(issued->client.role, auth::kAppClientRole);
  EXPECT_EQ(issued->client.grant_types, std::vector<GrantType>{GrantType::kClientCredentials});
  EXPECT_EQ(issued->client.resources,
            (std::vector<std::string>{std::string(kIssuer), "urn:fogkeep:node:d-1a2b"}));
  const auto token = [&](const CreatedClient& client, const std::string& resource) {
    OAuthParams params = {{"grant_type", "client_credentials"}};
    if (!resource.empty()) params.emplace_back("resource", resource);
    return server_->Token(Basic(client), params);
  };
  auto own = token(*issued, "urn:fogkeep:node:d-1a2b");
  ASSERT_TRUE(own) << own.error().description;
  EXPECT_EQ(own->scope, "metrics.read platform.read");
  auto director = token(*issued, "");
  ASSERT_TRUE(director) << director.error().description;
  EXPECT_TRUE(Accepted(director->access_token));
  for (const std::string& other : {"urn:fogkeep:node:d-ffff", "urn:fogkeep:tag:line-1"}) {
    auto refused = token(*issued, other);
    ASSERT_FALSE(refused) << other;
    EXPECT_EQ(refused.error().error, "invalid_target");
  }
  // Asked again (the app lost its credentials): a new secret, and the old one is dead.
  auto again = server_->IssueAppClient("d-1a2b", "sensor", {"apps.read", "metrics.read"});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_NE(again->secret, issued->secret);
  EXPECT_EQ(again->client.scopes, (std::vector<std::string>{"apps.read", "metrics.read"}));
  EXPECT_FALSE(token(*issued, ""));
  EXPECT_TRUE(token(*again, ""));
  // Writes, secrets and other nodes' business are never an app's.
  for (const std::string& scope : {"apps.write", "storage.read", "devices.read", "admin"}) {
    auto refused = server_->IssueAppClient("d-1a2b", "sensor", {scope});
    ASSERT_FALSE(refused) << scope;
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_TRUE(token(*again, ""));  // a refused request leaves the client as it was
  EXPECT_FALSE(server_->IssueAppClient("d-1a2b", "../x", {}));
  // Deleted with the app, and deleting again is no error.
  ASSERT_TRUE(server_->DeleteAppClient("d-1a2b", "sensor"));
  EXPECT_FALSE(token(*again, ""));
  EXPECT_TRUE(server_->DeleteAppClient("d-1a2b", "sensor"));
}

TEST_F(OAuthServerTest, ClientAuthenticationFailuresAreInvalidClient) {
  const OAuthParams grant = {{"grant_type", "client_credentials"}};
  for (const ClientCredentials& credentials :
       {ClientCredentials{"metrics-app", "wrong"}, ClientCredentials{"metrics-app", std::nullopt},
        ClientCredentials{"nobody", "secret"}, ClientCredentials{"cli", "a secret"}}) {
    auto refused = server_->Token(credentials, grant);
    ASSERT_FALSE(refused) << credentials.client_id;
    EXPECT_EQ(refused.error().error, "invalid_client");
    EXPECT_EQ(refused.error().status, 401);
  }
  auto not_allowed = server_->Token(Basic(dashboard_), grant);
  ASSERT_FALSE(not_allowed);
  EXPECT_EQ(not_allowed.error().error, "unauthorized_client");
  auto password = server_->Token(Basic(dashboard_), {{"grant_type", "password"}});
  ASSERT_FALSE(password);
  EXPECT_EQ(password.error().error, "unsupported_grant_type");
  auto implicit = server_->Token(Basic(dashboard_), {{"grant_type", "implicit"}});
  ASSERT_FALSE(implicit);
  EXPECT_EQ(implicit.error().error, "unsupported_grant_type");
  // A rotated secret replaces the old one at once.
  auto secret = server_->RotateClientSecret("metrics-app");
  ASSERT_TRUE(secret);
  EXPECT_FALSE(server_->Token(Basic(service_), grant));
  EXPECT_TRUE(server_->Token({"metrics-app", *secret}, grant));
}

TEST_F(OAuthServerTest, DeviceGrantAnswersAsRfc8628Says) {
  auto device = server_->AuthorizeDevice(Public(cli_), {{"scope", "devices.read"}});
  ASSERT_TRUE(device) << device.error().description;
  EXPECT_EQ(device->user_code.size(), 9u);
  EXPECT_EQ(device->interval, 5);
  EXPECT_EQ(device->verification_uri, std::string(kIssuer) + "/oauth2/device");
  const OAuthParams poll = {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                            {"device_code", device->device_code}};
  auto pending = server_->Token(Public(cli_), poll);
  ASSERT_FALSE(pending);
  EXPECT_EQ(pending.error().error, "authorization_pending");
  auto fast = server_->Token(Public(cli_), poll);
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().error, "slow_down");
  now_ += 11;
  ASSERT_TRUE(server_->PendingDevice(device->user_code));
  ASSERT_TRUE(server_->DecideDevice(device->user_code, true, "nick", "network-manager"));
  auto tokens = server_->Token(Public(cli_), poll);
  ASSERT_TRUE(tokens) << tokens.error().description;
  EXPECT_EQ(tokens->scope, "devices.read");
  auto claims = server_->ValidateForDirector(tokens->access_token);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->subject, "nick");
  now_ += 20;
  auto again = server_->Token(Public(cli_), poll);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().error, "invalid_grant");

  auto late = server_->AuthorizeDevice(Public(cli_), {});
  ASSERT_TRUE(late);
  now_ += 601;
  auto expired =
      server_->Token(Public(cli_), {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                                    {"device_code", late->device_code}});
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().error, "expired_token");

  auto denied = server_->AuthorizeDevice(Public(cli_), {});
  ASSERT_TRUE(denied);
  ASSERT_TRUE(server_->DecideDevice(denied->user_code, false, "nick", "network-manager"));
  auto refused =
      server_->Token(Public(cli_), {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                                    {"device_code", denied->device_code}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error, "access_denied");
}

TEST_F(OAuthServerTest, RevokedTokensIntrospectInactive) {
  auto tokens = Redeem(Code());
  ASSERT_TRUE(tokens);
  auto active = server_->Introspect(Basic(dashboard_), tokens->access_token);
  ASSERT_TRUE(active);
  EXPECT_TRUE(active->active);
  EXPECT_EQ(active->subject, "ann");
  auto refresh = server_->Introspect(Basic(dashboard_), tokens->refresh_token);
  ASSERT_TRUE(refresh);
  EXPECT_TRUE(refresh->active);
  EXPECT_EQ(refresh->token_type, "refresh_token");

  ASSERT_TRUE(server_->Revoke(Basic(dashboard_), tokens->access_token));
  EXPECT_FALSE(server_->Introspect(Basic(dashboard_), tokens->access_token)->active);
  EXPECT_FALSE(Accepted(tokens->access_token));
  // Revoking the refresh token ends the whole grant.
  ASSERT_TRUE(server_->Revoke(Basic(dashboard_), tokens->refresh_token));
  EXPECT_FALSE(server_->Introspect(Basic(dashboard_), tokens->refresh_token)->active);
  EXPECT_FALSE(Refresh(tokens->refresh_token));
  // Garbage is inactive, not an error.
  EXPECT_FALSE(server_->Introspect(Basic(dashboard_), "garbage")->active);
  // Public clients may not introspect.
  EXPECT_FALSE(server_->Introspect(Public(cli_), tokens->access_token));
}

TEST_F(OAuthServerTest, ClientRegistrationRefusesUnsafeClients) {
  const auto refused = [&](OAuthClient c) { return !server_->CreateClient(std::move(c)); };
  EXPECT_TRUE(refused({.id = "a",
                       .redirect_uris = {"http://dashboard.test/cb"},
                       .grant_types = {GrantType::kAuthorizationCode},
                       .scopes = {"devices.read"}}));
  EXPECT_TRUE(refused({.id = "b",
                       .redirect_uris = {"https://dashboard.test/cb#x"},
                       .grant_types = {GrantType::kAuthorizationCode},
                       .scopes = {"devices.read"}}));
  EXPECT_TRUE(refused(
      {.id = "c", .grant_types = {GrantType::kAuthorizationCode}, .scopes = {"devices.read"}}));
  EXPECT_TRUE(refused({.id = "d",
                       .grant_types = {GrantType::kClientCredentials},
                       .scopes = {"not-a-permission"},
                       .role = "auditor"}));
  EXPECT_TRUE(refused({.id = "e",
                       .type = OAuthClientType::kPublic,
                       .grant_types = {GrantType::kClientCredentials},
                       .scopes = {"devices.read"},
                       .role = "auditor"}));
  EXPECT_TRUE(refused({.id = "bad id", .grant_types = {GrantType::kDeviceCode}}));
  EXPECT_TRUE(refused({.id = "f",
                       .grant_types = {GrantType::kClientCredentials},
                       .scopes = {"devices.read"},
                       .role = "root"}));
  // Acting for itself without a role, its tokens would be good for nothing.
  EXPECT_TRUE(refused(
      {.id = "g", .grant_types = {GrantType::kClientCredentials}, .scopes = {"devices.read"}}));
}

TEST_F(OAuthServerTest, SigningKeysRotateAndThePreviousKeyStillVerifies) {
  auto before = server_->Token(Basic(service_), {{"grant_type", "client_credentials"}});
  ASSERT_TRUE(before);
  auto keys = server_->Keys();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->keys().size(), 1u);
  now_ += 31LL * 24 * 3600;  // past the key's lifetime (and the token's)
  auto rotated = server_->Keys();
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->keys().size(), 2u);
  EXPECT_NE(rotated->keys()[0].kid(), keys->keys()[0].kid());
  EXPECT_EQ(rotated->keys()[1].kid(), keys->keys()[0].kid());
}

// The kid in a compact JWS's header.
std::string KidOf(const std::string& token) {
  auto header = crypto::Base64UrlDecode(token.substr(0, token.find('.')));
  if (!header) return "";
  const std::string_view marker = "\"kid\":\"";
  const std::size_t at = header->find(marker);
  if (at == std::string::npos) return "";
  const std::size_t start = at + marker.size();
  return header->substr(start, header->find('"', start) - start);
}

TEST_F(OAuthServerTest, ANewKeyIsPublishedBeforeItSigns) {
  const auto sign = [&] {
    auto token = server_->Token(Basic(service_), {{"grant_type", "client_credentials"}});
    EXPECT_TRUE(token) << token.error().description;
    return token ? KidOf(token->access_token) : "";
  };
  // The first key signs at once: there is nothing before it.
  const std::string first = server_->Keys()->keys()[0].kid();
  EXPECT_EQ(sign(), first);
  now_ += 31LL * 24 * 3600;
  const std::string second = server_->Keys()->keys()[0].kid();
  ASSERT_NE(second, first);
  // Published (JWKS, the ETag of nodes' desired states) but not yet signing.
  EXPECT_EQ(*server_->CurrentKeyId(), second);
  EXPECT_EQ(sign(), first);
  now_ += server_->options().key_publish_ahead.count() - 1;
  EXPECT_EQ(sign(), first);
  // Once it has been out for key_publish_ahead (and the replica read the keys again).
  now_ += 1 + server_->options().key_refresh.count();
  EXPECT_EQ(sign(), second);
}

TEST_F(OAuthServerTest, ATokenOfAnotherIssuerIsRefused) {
  auto db = OpenSqliteDb(dir_ / "other.db");
  ASSERT_TRUE(db);
  auto other_store = OpenOAuthStore(std::shared_ptr<SqlDb>(std::move(*db)));
  ASSERT_TRUE(other_store);
  AuthorizationServer other(std::move(*other_store),
                            OAuthServerOptions{.issuer = std::string(kIssuer)},
                            [this] { return now_; });
  auto created = other.CreateClient({.id = "metrics-app",
                                     .grant_types = {GrantType::kClientCredentials},
                                     .scopes = {"metrics.read"},
                                     .role = "auditor"});
  ASSERT_TRUE(created);
  auto foreign =
      other.Token({"metrics-app", created->secret}, {{"grant_type", "client_credentials"}});
  ASSERT_TRUE(foreign);
  // Same issuer name, same client id, another director's key: refused.
  EXPECT_FALSE(Accepted(foreign->access_token));
}

}  // namespace
}  // namespace fogkeep::director
