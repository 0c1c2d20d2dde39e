// JWK and JWK Set: the document the director publishes, and the strict parser of what a node
// loads (hostile input: sizes, counts, points, duplicates, keys of other kinds).
#include "oauth/jwk.h"

#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"
#include "support/support.h"

namespace fogkeep::oauth {
namespace {

using fogkeep::testing::Must;

// The key of RFC 7515 Appendix A.3.
constexpr std::string_view kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

std::string Ec(std::string_view kid, std::string_view x = kA3X, std::string_view y = kA3Y,
               std::string_view extra = "") {
  return R"({"kty":"EC","crv":"P-256","x":")" + std::string(x) + R"(","y":")" + std::string(y) +
         R"(","kid":")" + std::string(kid) + R"(","alg":"ES256","use":"sig")" + std::string(extra) +
         "}";
}

std::string Set(const std::string& entries) { return R"({"keys":[)" + entries + "]}"; }

crypto::PublicKey NewKey() {
  return Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256)).Public();
}

void ExpectRefused(const std::string& text, ErrorCode code, std::string_view message) {
  auto set = JwkSet::Parse(text);
  ASSERT_FALSE(set) << "accepted " << text;
  EXPECT_EQ(set.error().code(), code);
  EXPECT_EQ(set.error().message(), message);
}

TEST(JwkTest, Rfc7515A3KeyAsJwk) {
  JwkSet set = Must(JwkSet::Parse(Set(Ec("a3"))));
  ASSERT_EQ(set.keys().size(), 1u);
  const Jwk& jwk = set.keys()[0];
  EXPECT_EQ(jwk.kid(), "a3");
  EXPECT_EQ(jwk.algorithm(), JwsAlgorithm::kEs256);
  EXPECT_EQ(JwsAlgorithmName(jwk.algorithm()), "ES256");
  EXPECT_EQ(jwk.key().type(), crypto::KeyType::kEcdsaP256);
  EXPECT_EQ(jwk.ToJson(), Ec("a3"));
  EXPECT_EQ(set.ToJson(), Set(Ec("a3")));
}

TEST(JwkSetTest, RoundTrip) {
  JwkSet set;
  const crypto::PublicKey first = NewKey();
  const crypto::PublicKey second = NewKey();
  Must(set.Add(Must(Jwk::Es256("2026-01", first))));
  Must(set.Add(Must(Jwk::Es256("2026-02", second))));
  JwkSet again = Must(JwkSet::Parse(set.ToJson()));
  ASSERT_EQ(again.keys().size(), 2u);
  EXPECT_EQ(again.keys()[0].kid(), "2026-01");
  EXPECT_EQ(again.keys()[1].kid(), "2026-02");
  EXPECT_EQ(again.Find("2026-01")->key().Fingerprint(), first.Fingerprint());
  EXPECT_EQ(again.Find("2026-02")->key().Fingerprint(), second.Fingerprint());
  EXPECT_EQ(again.Find("2026-03"), nullptr);
  EXPECT_EQ(again.ToJson(), set.ToJson());
}

TEST(JwkSetTest, AddRefusesDuplicatesAndTooManyKeys) {
  JwkSet set;
  Must(set.Add(Must(Jwk::Es256("k", NewKey()))));
  auto duplicate = set.Add(Must(Jwk::Es256("k", NewKey())));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kConflict);
  for (std::size_t i = 1; i < kMaxJwkSetKeys; ++i) {
    Must(set.Add(Must(Jwk::Es256("k" + std::to_string(i), NewKey()))));
  }
  auto full = set.Add(Must(Jwk::Es256("one-more", NewKey())));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), ErrorCode::kLimit);
}

TEST(JwkTest, Es256NeedsAP256KeyAndAValidKid) {
  for (crypto::KeyType type : {crypto::KeyType::kEd25519, crypto::KeyType::kRsa}) {
    auto jwk = Jwk::Es256("k", Must(crypto::PrivateKey::Generate(type)).Public());
    ASSERT_FALSE(jwk);
    EXPECT_EQ(jwk.error().code(), ErrorCode::kInvalidInput);
  }
  for (std::string kid : {std::string(), std::string("a b"), std::string("a\tb"),
                          std::string("caf\xc3\xa9"), std::string(kMaxKeyIdBytes + 1, 'k')}) {
    auto jwk = Jwk::Es256(kid, NewKey());
    EXPECT_FALSE(jwk) << kid;
  }
  EXPECT_TRUE(Jwk::Es256(std::string(kMaxKeyIdBytes, 'k'), NewKey()));
  EXPECT_TRUE(Jwk::Es256("!~:/+=", NewKey()));
}

TEST(JwkSetTest, RefusesPointsOffTheCurve) {
  std::string y = Must(crypto::Base64UrlDecode(kA3Y));
  y.back() ^= 1;
  ExpectRefused(Set(Ec("a3", kA3X, crypto::Base64UrlEncode(y))), ErrorCode::kInvalidInput,
                "JWK Set: keys[0]: the coordinates are not a point on P-256");
  ExpectRefused(Set(Ec("a3", crypto::Base64UrlEncode(std::string(32, '\0')),
                       crypto::Base64UrlEncode(std::string(32, '\0')))),
                ErrorCode::kInvalidInput,
                "JWK Set: keys[0]: the coordinates are not a point on P-256");
}

TEST(JwkSetTest, RefusesCoordinatesOfTheWrongLengthOrEncoding) {
  const std::string x = Must(crypto::Base64UrlDecode(kA3X));
  const std::string message = "JWK Set: keys[0].x must be base64url of 32 bytes";
  ExpectRefused(Set(Ec("a3", crypto::Base64UrlEncode(x.substr(1)))), ErrorCode::kInvalidInput,
                message);
  ExpectRefused(Set(Ec("a3", crypto::Base64UrlEncode(std::string(1, '\0') + x))),
                ErrorCode::kInvalidInput, message);
  ExpectRefused(Set(Ec("a3", std::string(kA3X) + "=")), ErrorCode::kInvalidInput, message);
  ExpectRefused(Set(Ec("a3", crypto::Base64Encode(x))), ErrorCode::kInvalidInput, message);
  ExpectRefused(Set(R"({"kty":"EC","crv":"P-256","kid":"a3","alg":"ES256","x":7,"y":")" +
                    std::string(kA3Y) + "\"}"),
                ErrorCode::kInvalidInput, "JWK Set: keys[0].x must be a string");
  ExpectRefused(Set(R"({"kty":"EC","crv":"P-256","kid":"a3","alg":"ES256","x":")" +
                    std::string(kA3X) + "\"}"),
                ErrorCode::kInvalidInput, "JWK Set: keys[0].y is missing");
}

TEST(JwkSetTest, RefusesDuplicateKids) {
  ExpectRefused(Set(Ec("a3") + "," + Ec("a3")), ErrorCode::kInvalidInput,
                "JWK Set: keys[1].kid is the kid of another key");
  // Also when one of them is a key fogkeep would skip.
  ExpectRefused(Set(R"({"kty":"RSA","kid":"a3","n":"AQAB","e":"AQAB"},)" + Ec("a3")),
                ErrorCode::kInvalidInput, "JWK Set: keys[1].kid is the kid of another key");
}

TEST(JwkSetTest, SkipsKeysOfOtherKinds) {
  const std::string skipped[] = {
      R"({"kty":"RSA","kid":"rsa","n":"AQAB","e":"AQAB","alg":"RS256"})",
      R"({"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
      R"({"kty":"EC","crv":"P-384","kid":"p384","alg":"ES384","x":"AA","y":"AA"})",
      R"({"kty":"FUTURE","kid":"future"})",
      Ec("no-alg").replace(Ec("no-alg").find(R"(,"alg":"ES256")"), 14, ""),
      Ec("rs256").replace(Ec("rs256").find("ES256"), 5, "RS256"),
      Ec("enc").replace(Ec("enc").find(R"("sig")"), 5, R"("enc")"),
      Ec("sign-only", kA3X, kA3Y, R"(,"key_ops":["sign"])"),
  };
  std::string entries;
  for (const std::string& entry : skipped) entries += entry + ",";
  entries += Ec("a3", kA3X, kA3Y, R"(,"key_ops":["verify"],"x5c":["MIIB"],"ext":true)");
  JwkSet set = Must(JwkSet::Parse(Set(entries)));
  ASSERT_EQ(set.keys().size(), 1u);
  EXPECT_EQ(set.keys()[0].kid(), "a3");
  // The skipped keys need no valid kid, x or y: they are not read.
  EXPECT_TRUE(Must(JwkSet::Parse(Set(skipped[3]))).keys().empty());
  EXPECT_TRUE(Must(JwkSet::Parse(R"({"keys":[]})")).keys().empty());
}

TEST(JwkSetTest, RefusesPrivateAndSecretKeyMaterial) {
  ExpectRefused(Set(Ec("a3", kA3X, kA3Y, R"(,"d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")")),
                ErrorCode::kInvalidInput,
                "JWK Set: keys[0] carries private or secret key material");
  ExpectRefused(Set(R"({"kty":"oct","kid":"hmac","k":"c2VjcmV0"})"), ErrorCode::kInvalidInput,
                "JWK Set: keys[0] carries private or secret key material");
}

TEST(JwkSetTest, RefusesMalformedDocuments) {
  const ErrorCode invalid = ErrorCode::kInvalidInput;
  ExpectRefused("[]", invalid, "JWK Set: not a JSON object");
  ExpectRefused("{}", invalid, "JWK Set: \"keys\" must be an array");
  ExpectRefused(R"({"keys":{}})", invalid, "JWK Set: \"keys\" must be an array");
  ExpectRefused(R"({"keys":[1]})", invalid, "JWK Set: keys[0] must be an object");
  ExpectRefused(R"({"keys":[{"kid":"a"}]})", invalid, "JWK Set: keys[0].kty is missing");
  ExpectRefused(R"({"keys":[{"kty":1}]})", invalid, "JWK Set: keys[0].kty must be a string");
  ExpectRefused(Set(Ec("a3", kA3X, kA3Y, R"(,"key_ops":"verify")")), invalid,
                "JWK Set: keys[0].key_ops must be an array");
  ExpectRefused(Set(R"({"kty":"EC","crv":"P-256","alg":"ES256","x":")" + std::string(kA3X) +
                    R"(","y":")" + std::string(kA3Y) + "\"}"),
                invalid, "JWK Set: keys[0].kid is missing");
  ExpectRefused(Set(Ec("a 3")), invalid,
                "JWK Set: keys[0].kid: a key id is 1 to 128 printable ASCII characters without "
                "spaces");
  ExpectRefused(Set(Ec("a3", kA3X, kA3Y, R"(,"kid":"b3")")), invalid,
                "JWK Set: a member name appears twice");
  ExpectRefused(Set(Ec("a3")) + " x", invalid, "JWK Set: invalid JSON: extra data");
  ExpectRefused(std::string(40, '[') + std::string(40, ']'), invalid,
                "JWK Set: invalid JSON: too deep");
}

TEST(JwkSetTest, RefusesTooLargeSets) {
  std::string entries;
  for (std::size_t i = 0; i <= kMaxJwkSetKeys; ++i) {
    entries += (i == 0 ? "" : ",") + std::string(R"({"kty":"RSA"})");
  }
  ExpectRefused(Set(entries), ErrorCode::kLimit, "a JWK Set of 17 keys exceeds the limit of 16");
  const std::string padded =
      Set(Ec("a3", kA3X, kA3Y, R"(,"note":")" + std::string(kMaxJwkSetBytes, 'x') + "\""));
  ExpectRefused(
      padded, ErrorCode::kLimit,
      "a JWK Set of " + std::to_string(padded.size()) + " bytes exceeds the limit of 65536");
}

}  // namespace
}  // namespace fogkeep::oauth
