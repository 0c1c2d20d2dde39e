// ECDSA P-256 keys as JWK coordinates and signatures in the JWS form (RFC 7518 sections 3.4
// and 6.2), checked against the example of RFC 7515 Appendix A.3.
#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto_test_util.h"
#include "support/support.h"

namespace fogkeep::crypto {
namespace {

using fogkeep::testing::Must;
using test::CachedKey;

// RFC 7515 Appendix A.3: the key, and a JWS signed with it.
constexpr std::string_view kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr std::string_view kA3Pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END PUBLIC KEY-----\n";
constexpr std::string_view kA3SigningInput =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr std::string_view kA3Signature =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
    "pmWQxfKTUJqPP3-Kg6NU1Q";

EcP256Point A3Point() {
  return {Must(Base64UrlDecode(kA3X), "x"), Must(Base64UrlDecode(kA3Y), "y")};
}

TEST(EcP256PointTest, Rfc7515A3KeyFromCoordinates) {
  PublicKey key = Must(PublicKey::FromEcP256Point(A3Point()), "import");
  EXPECT_EQ(key.type(), KeyType::kEcdsaP256);
  EXPECT_EQ(Must(key.ToPem(), "pem"), kA3Pem);
  EcP256Point point = Must(key.EcPoint(), "export");
  EXPECT_EQ(Base64UrlEncode(point.x), kA3X);
  EXPECT_EQ(Base64UrlEncode(point.y), kA3Y);
}

TEST(EcP256PointTest, RoundTripsGeneratedKeys) {
  for (int slot = 0; slot < 4; ++slot) {
    PublicKey key = CachedKey(KeyType::kEcdsaP256, slot).Public();
    EcP256Point point = Must(key.EcPoint(), "export");
    ASSERT_EQ(point.x.size(), 32u);
    ASSERT_EQ(point.y.size(), 32u);
    PublicKey again = Must(PublicKey::FromEcP256Point(point), "import");
    EXPECT_EQ(again.Fingerprint(), key.Fingerprint());
  }
}

TEST(EcP256PointTest, RefusesWhatIsNotAPointOnTheCurve) {
  EcP256Point off_curve = A3Point();
  off_curve.y.back() ^= 1;
  EcP256Point zero{std::string(32, '\0'), std::string(32, '\0')};
  // x = 2^256 - 1 is beyond the field prime.
  EcP256Point beyond_field{std::string(32, '\xff'), A3Point().y};
  EcP256Point short_x = A3Point();
  short_x.x.pop_back();
  EcP256Point long_y = A3Point();
  long_y.y.insert(0, 1, '\0');  // the same number, but 33 bytes
  for (const EcP256Point& bad : {off_curve, zero, beyond_field, short_x, long_y}) {
    auto key = PublicKey::FromEcP256Point(bad);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidInput);
  }
}

TEST(EcP256PointTest, OtherKeyTypesHaveNoPoint) {
  for (KeyType type : {KeyType::kRsa, KeyType::kEd25519}) {
    auto point = CachedKey(type).Public().EcPoint();
    ASSERT_FALSE(point);
    EXPECT_EQ(point.error().code(), ErrorCode::kInvalidInput);
  }
}

TEST(EcdsaSignatureFormTest, Rfc7515A3SignatureVerifiesAfterConversion) {
  PublicKey key = Must(PublicKey::FromEcP256Point(A3Point()), "import");
  const std::string raw = Must(Base64UrlDecode(kA3Signature), "signature");
  ASSERT_EQ(raw.size(), kEcdsaP256RawSignatureBytes);
  const std::string der = Must(EcdsaP256SignatureToDer(raw), "to DER");
  EXPECT_TRUE(key.Verify(kA3SigningInput, der));
  EXPECT_EQ(Must(EcdsaP256SignatureToRaw(der), "to raw"), raw);
  // The raw form itself is not what Verify takes.
  EXPECT_FALSE(key.Verify(kA3SigningInput, raw));
}

TEST(EcdsaSignatureFormTest, OurSignaturesRoundTrip) {
  const PrivateKey& key = CachedKey(KeyType::kEcdsaP256);
  for (int i = 0; i < 16; ++i) {
    const std::string message = "message " + std::to_string(i);
    const std::string der = Must(key.Sign(message), "sign");
    const std::string raw = Must(EcdsaP256SignatureToRaw(der), "to raw");
    ASSERT_EQ(raw.size(), 64u);
    EXPECT_EQ(Must(EcdsaP256SignatureToDer(raw), "to DER"), der);
    EXPECT_TRUE(key.Public().Verify(message, Must(EcdsaP256SignatureToDer(raw), "to DER")));
  }
}

TEST(EcdsaSignatureFormTest, RefusesMalformedSignatures) {
  const std::string der = Must(CachedKey(KeyType::kEcdsaP256).Sign("m"), "sign");
  EXPECT_FALSE(EcdsaP256SignatureToRaw(""));
  EXPECT_FALSE(EcdsaP256SignatureToRaw(der + "x"));  // trailing bytes
  EXPECT_FALSE(EcdsaP256SignatureToRaw(der.substr(0, der.size() - 1)));
  EXPECT_FALSE(EcdsaP256SignatureToRaw(std::string(64, '\x01')));  // raw is not DER
  // r of 33 significant bytes does not fit P-256.
  const std::string big_r =
      "\x30\x28\x02\x21\x01" + std::string(32, '\x01') + "\x02\x03\x01\x02\x03";
  EXPECT_FALSE(EcdsaP256SignatureToRaw(big_r));
  for (std::size_t size : {0, 63, 65, 72}) {
    auto r = EcdsaP256SignatureToDer(std::string(size, '\x01'));
    ASSERT_FALSE(r) << size;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  }
}

}  // namespace
}  // namespace fogkeep::crypto
