// AccessTokenAuthenticator: which requests it validates itself, which it passes on, what a
// valid token becomes, and whether the server must leave the I/O thread to authenticate.
#include "access/oauth_bearer.h"

#include <gtest/gtest.h>

namespace fogkeep::access {
namespace {

constexpr std::string_view kJwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";

// Records what reached it; says it blocks so a test can tell whose answer MayBlock gave.
class RecordingFallback : public net::Authenticator {
 public:
  Result<net::Principal> Authenticate(const net::Request& /*request*/) override {
    ++calls;
    return net::Principal{.id = "fallback", .mechanism = "token"};
  }
  bool MayBlock(const net::Request& /*request*/) const override { return fallback_blocks; }
  int calls = 0;
  bool fallback_blocks = true;
};

net::Request WithAuthorization(std::string_view value) {
  net::Request request;
  request.headers.Set("Authorization", std::string(value));
  return request;
}

struct Fixture {
  explicit Fixture(bool validation_blocks, Result<oauth::AccessTokenClaims> answer)
      : fallback(std::make_shared<RecordingFallback>()),
        authenticator(
            [this, answer](std::string_view token) {
              seen.emplace_back(token);
              return answer;
            },
            validation_blocks, fallback) {}
  std::vector<std::string> seen;
  std::shared_ptr<RecordingFallback> fallback;
  AccessTokenAuthenticator authenticator;
};

oauth::AccessTokenClaims AliceClaims() {
  oauth::AccessTokenClaims claims;
  claims.subject = "alice";
  claims.role = "app-manager";
  claims.scopes = {"apps.read", "apps.write"};
  return claims;
}

TEST(LooksLikeJwt, NeedsAJsonHeaderAndThreeParts) {
  EXPECT_TRUE(LooksLikeJwt(kJwt));
  EXPECT_FALSE(LooksLikeJwt("fk_0123456789abcdef"));
  EXPECT_FALSE(LooksLikeJwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"));
  EXPECT_FALSE(LooksLikeJwt("eyJa.b.c.d"));
  EXPECT_FALSE(LooksLikeJwt("abc.def.ghi"));
}

TEST(AccessTokenAuthenticator, AValidTokenBecomesItsSubjectWithRoleAndScopes) {
  Fixture f(false, AliceClaims());
  Result<net::Principal> principal =
      f.authenticator.Authenticate(WithAuthorization("Bearer " + std::string(kJwt)));
  ASSERT_TRUE(principal) << principal.error().message();
  EXPECT_EQ(principal->id, "alice");
  EXPECT_EQ(principal->mechanism, kMechanismOAuth);
  EXPECT_EQ(principal->roles, std::vector<std::string>{"app-manager"});
  EXPECT_EQ(principal->scopes, (std::vector<std::string>{"apps.read", "apps.write"}));
  EXPECT_EQ(f.seen, std::vector<std::string>{std::string(kJwt)});
  EXPECT_EQ(f.fallback->calls, 0);
}

TEST(AccessTokenAuthenticator, ATokenWithoutRoleGetsNoRole) {
  oauth::AccessTokenClaims claims = AliceClaims();
  claims.role.clear();
  Fixture f(false, claims);
  Result<net::Principal> principal =
      f.authenticator.Authenticate(WithAuthorization("Bearer " + std::string(kJwt)));
  ASSERT_TRUE(principal);
  EXPECT_TRUE(principal->roles.empty());
}

TEST(AccessTokenAuthenticator, ARefusedTokenIsNeverPassedOn) {
  Fixture f(false, Fail(ErrorCode::kUnauthenticated, "bad signature"));
  Result<net::Principal> principal =
      f.authenticator.Authenticate(WithAuthorization("Bearer " + std::string(kJwt)));
  ASSERT_FALSE(principal);
  EXPECT_EQ(principal.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(f.fallback->calls, 0);
}

TEST(AccessTokenAuthenticator, OtherCredentialsGoToTheFallback) {
  Fixture f(false, AliceClaims());
  EXPECT_EQ(f.authenticator.Authenticate(WithAuthorization("Bearer fk_api_token"))->id, "fallback");
  EXPECT_EQ(f.authenticator.Authenticate(net::Request{})->id, "fallback");
  EXPECT_EQ(f.authenticator.Authenticate(WithAuthorization("Basic YTpi"))->id, "fallback");
  EXPECT_EQ(f.fallback->calls, 3);
  EXPECT_TRUE(f.seen.empty());
}

TEST(AccessTokenAuthenticator, MayBlockFollowsWhoWillAuthenticate) {
  // A node: validation against keys in memory stays on the I/O thread.
  Fixture node(false, AliceClaims());
  EXPECT_FALSE(node.authenticator.MayBlock(WithAuthorization("Bearer " + std::string(kJwt))));
  node.fallback->fallback_blocks = true;
  EXPECT_TRUE(node.authenticator.MayBlock(WithAuthorization("Bearer fk_api_token")));
  node.fallback->fallback_blocks = false;
  EXPECT_FALSE(node.authenticator.MayBlock(net::Request{}));
  // The director: revocations live in its store.
  Fixture director(true, AliceClaims());
  director.fallback->fallback_blocks = false;
  EXPECT_TRUE(director.authenticator.MayBlock(WithAuthorization("Bearer " + std::string(kJwt))));
  EXPECT_FALSE(director.authenticator.MayBlock(WithAuthorization("Bearer fk_api_token")));
}

}  // namespace
}  // namespace fogkeep::access
