#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"

namespace fogkeep::crypto {
namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(AesGcmTest, OpensAKnownAnswer) {
  // "The Galois/Counter Mode of Operation" (McGrew, Viega), test case 16: AES-256 with AAD.
  std::string key = FromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  std::string sealed = FromHex(
      "cafebabefacedbaddecaf888"
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
      "56828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b");
  std::string aad = FromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto plaintext = AesGcmOpen(key, sealed, aad);
  ASSERT_TRUE(plaintext) << plaintext.error().message();
  EXPECT_EQ(
      ToHex(*plaintext),
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
      "49a6b525b16aedf5aa0de657ba637b39");
}

TEST(AesGcmTest, RoundTripsWithARandomNonce) {
  std::string key = GenerateAes256Key();
  ASSERT_EQ(key.size(), kAes256KeySize);
  for (std::string plaintext : {std::string(), std::string("x"), std::string(1000, '\0')}) {
    auto sealed = AesGcmSeal(key, plaintext, "aad");
    ASSERT_TRUE(sealed) << sealed.error().message();
    EXPECT_EQ(sealed->size(), plaintext.size() + kGcmOverhead);
    auto again = AesGcmSeal(key, plaintext, "aad");
    EXPECT_NE(sealed->substr(0, kGcmNonceSize), again->substr(0, kGcmNonceSize));
    auto opened = AesGcmOpen(key, *sealed, "aad");
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(AesGcmTest, AnyChangeIsAnIntegrityError) {
  std::string key = GenerateAes256Key();
  std::string sealed = *AesGcmSeal(key, "attack at dawn", "context");
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    std::string tampered = sealed;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x80);
    auto opened = AesGcmOpen(key, tampered, "context");
    ASSERT_FALSE(opened) << "byte " << i;
    EXPECT_EQ(opened.error().code(), ErrorCode::kIntegrity);
  }
  for (std::string_view aad : {"", "contexT", "context "}) {
    EXPECT_EQ(AesGcmOpen(key, sealed, aad).error().code(), ErrorCode::kIntegrity) << aad;
  }
  EXPECT_EQ(AesGcmOpen(GenerateAes256Key(), sealed, "context").error().code(),
            ErrorCode::kIntegrity);
  EXPECT_EQ(AesGcmOpen(key, sealed.substr(0, kGcmOverhead - 1), "context").error().code(),
            ErrorCode::kIntegrity);
  EXPECT_EQ(AesGcmOpen(key, sealed.substr(1), "context").error().code(), ErrorCode::kIntegrity);
}

TEST(AesGcmTest, KeysMustBe256Bits) {
  EXPECT_EQ(AesGcmSeal(std::string(16, 'k'), "x", "").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(AesGcmOpen(std::string(33, 'k'), std::string(40, 'x'), "").error().code(),
            ErrorCode::kInvalidInput);
}

}  // namespace
}  // namespace fogkeep::crypto
