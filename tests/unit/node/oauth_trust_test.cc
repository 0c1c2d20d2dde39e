// The node's trust in the director's OAuth access tokens: tokens for this node or one of its
// tags are accepted, tokens for the director, another node or another tag are refused, the
// trust survives a restart through its file, and a key set that does not parse keeps the trust
// held before.
#include "node/oauth_trust.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "crypto/keys.h"
#include "support/support.h"

namespace fogkeep::node {
namespace {

constexpr std::string_view kIssuer = "https://director.test:9443";

class OAuthTrustTest : public ::testing::Test {
 protected:
  OAuthTrustTest() {
    oauth::JwkSet keys;
    EXPECT_TRUE(keys.Add(*oauth::Jwk::Es256("k1", key_.key.Public())));
    trust_ = api::OAuthTrust{std::string(kIssuer), keys.ToJson()};
  }

  std::string Token(std::vector<std::string> audiences) {
    oauth::AccessTokenClaims claims{.issuer = std::string(kIssuer),
                                    .subject = "ann",
                                    .audiences = std::move(audiences),
                                    .expires_at = now_ + 300,
                                    .issued_at = now_,
                                    .token_id = oauth::NewTokenId(),
                                    .client_id = "dashboard",
                                    .scopes = {"apps.read"},
                                    .role = "app-manager"};
    auto token = oauth::IssueAccessToken(key_, claims);
    EXPECT_TRUE(token) << token.error().message();
    return token ? *token : "";
  }

  std::unique_ptr<OAuthTrust> Open() {
    auto opened = OAuthTrust::Open(path_, [this] { return now_; });
    EXPECT_TRUE(opened) << opened.error().message();
    return opened ? std::move(*opened) : nullptr;
  }

  fogkeep::testing::TempDir dir_;
  std::string path_ = dir_ / "oauth.json";
  std::int64_t now_ = 1'800'000'000;
  oauth::SigningKey key_{"k1", *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256)};
  api::OAuthTrust trust_;
};

TEST_F(OAuthTrustTest, AcceptsTokensForThisNodeOrItsTagsOnly) {
  auto trust = Open();
  ASSERT_TRUE(trust);
  auto before = trust->Validate(Token({"urn:fogkeep:node:press-7"}));
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code(), ErrorCode::kUnauthenticated);

  ASSERT_TRUE(trust->Update(trust_, "press-7", {"plant-a"}));
  auto node = trust->Validate(Token({"urn:fogkeep:node:press-7"}));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(node->subject, "ann");
  EXPECT_TRUE(trust->Validate(Token({"urn:fogkeep:tag:plant-a"})));
  EXPECT_TRUE(trust->Validate(Token({"urn:fogkeep:node:other", "urn:fogkeep:tag:plant-a"})));
  EXPECT_FALSE(trust->Validate(Token({"urn:fogkeep:node:other"})));
  EXPECT_FALSE(trust->Validate(Token({"urn:fogkeep:tag:plant-b"})));
  EXPECT_FALSE(trust->Validate(Token({std::string(kIssuer)})));
  // Past its 5 minutes and the minute of clock skew, a token is dead.
  const std::string old = Token({"urn:fogkeep:node:press-7"});
  now_ += 361;
  EXPECT_FALSE(trust->Validate(old));
}

TEST_F(OAuthTrustTest, TheTrustSurvivesARestart) {
  {
    auto trust = Open();
    ASSERT_TRUE(trust->Update(trust_, "press-7", {"plant-a"}));
  }
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto reopened = Open();
  ASSERT_TRUE(reopened);
  EXPECT_TRUE(reopened->Validate(Token({"urn:fogkeep:tag:plant-a"})));
}

TEST_F(OAuthTrustTest, ABrokenKeySetKeepsTheTrustHeldBefore) {
  auto trust = Open();
  ASSERT_TRUE(trust->Update(trust_, "press-7", {}));
  EXPECT_FALSE(
      trust->Update(api::OAuthTrust{std::string(kIssuer), "{\"keys\": 7}"}, "press-7", {}));
  EXPECT_FALSE(trust->Update(api::OAuthTrust{"", trust_.jwks}, "press-7", {}));
  EXPECT_TRUE(trust->Validate(Token({"urn:fogkeep:node:press-7"})));
  // A key of another director signs nothing this node accepts.
  key_ = oauth::SigningKey{"k1", *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256)};
  EXPECT_FALSE(trust->Validate(Token({"urn:fogkeep:node:press-7"})));
}

TEST_F(OAuthTrustTest, AFileThatIsNotTrustIsRefused) {
  ASSERT_TRUE(fs::WriteFileAtomic(path_, "{\"issuer\": 1}", 0600));
  EXPECT_FALSE(OAuthTrust::Open(path_));
}

}  // namespace
}  // namespace fogkeep::node
