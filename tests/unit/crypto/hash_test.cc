#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace fogkeep::crypto {
namespace {

TEST(DigestTest, Sha256KnownVectors) {
  // FIPS 180-2 appendix B.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(DigestTest, Sha1KnownVector) {
  Digest digest(DigestAlgorithm::kSha1);
  digest.Update("abc");
  EXPECT_EQ(digest.HexFinal(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(DigestTest, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 10000; ++i) data += static_cast<char>(i * 7);
  Digest digest;
  for (std::size_t i = 0; i < data.size(); i += 333) digest.Update(data.substr(i, 333));
  digest.Update(nullptr, 0);
  EXPECT_EQ(digest.HexFinal(), Sha256Hex(data));
}

TEST(DigestTest, FinalReturnsRawBytesAndRestarts) {
  Digest digest;
  digest.Update("abc");
  std::string raw = digest.Final();
  ASSERT_EQ(raw.size(), 32u);
  EXPECT_EQ(ToHex(raw), Sha256Hex("abc"));
  // After Final the object digests fresh input with the same algorithm.
  digest.Update("abc");
  EXPECT_EQ(digest.HexFinal(), Sha256Hex("abc"));
  EXPECT_EQ(digest.HexFinal(), Sha256Hex(""));
}

TEST(HexTest, LowercaseTwoDigitsPerByte) {
  EXPECT_EQ(ToHex(std::string("\x00\x0f\xa0\xff", 4)), "000fa0ff");
  EXPECT_EQ(ToHex(""), "");
}

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded) << encoded << ": " << decoded.error().message();
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64Test, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int len = 0; len < 300; ++len) {
    std::string encoded = Base64Encode(data);
    EXPECT_EQ(encoded.find_first_of("\n\r "), std::string::npos);
    EXPECT_EQ(encoded.size() % 4, 0u);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded) << len;
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<char>(len * 37 + 11));
  }
}

TEST(Base64Test, RoundTripsAcrossInternalChunks) {
  // Larger than the 3 MiB / 4 MiB chunks the implementation hands to OpenSSL.
  std::string data = RandomBytes((5 << 20) + 2);
  std::string encoded = Base64Encode(data);
  EXPECT_EQ(encoded.size(), (data.size() + 2) / 3 * 4);
  auto decoded = Base64Decode(encoded);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, data);
}

TEST(Base64Test, AcceptsExactlyOneTrailingNewline) {
  EXPECT_EQ(*Base64Decode("Zm9v\n"), "foo");
  EXPECT_EQ(*Base64Decode("Zg==\n"), "f");
  EXPECT_EQ(*Base64Decode("\n"), "");
  for (const char* bad : {"Zm9v\n\n", "Zm9v\r\n", "Zm9v ", " Zm9v", "Zm9v\nYmFy", "Zm\n9v", "Zm\n9",
                          "Zm 9", "Zm9\t", "Zm9v\t"}) {
    auto r = Base64Decode(bad);
    EXPECT_FALSE(r) << "accepted \"" << bad << "\"";
    if (!r) EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  }
}

TEST(Base64Test, RejectsMalformedInput) {
  const char* kBad[] = {
      "Zg",        // padding missing
      "Zg=",       // length not a multiple of 4
      "Zg===",     // too much padding
      "Z===",      // three padding characters
      "====",      // nothing but padding
      "Zm=v",      // padding in the middle
      "=Zm9",      // padding first
      "Zg==Zm9v",  // data after padding
      "Zh==",      // non-zero bits after the last byte
      "Zm9=",      // the same with one padding character
      "Zm9-",      // URL-safe alphabet
      "Zm9_",      // URL-safe alphabet
      "Zm9*",      // not base64 at all
      "Zm9\xc3",   // non-ASCII
  };
  for (const char* bad : kBad) {
    auto r = Base64Decode(bad);
    EXPECT_FALSE(r) << "accepted \"" << bad << "\"";
    if (!r) EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << bad;
  }
  EXPECT_FALSE(Base64Decode(std::string("Zm\0v", 4)));
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret "));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(RandomBytesTest, ReturnsRequestedLengthAndVaries) {
  EXPECT_EQ(RandomBytes(0), "");
  std::string a = RandomBytes(32);
  std::string b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(RandomBytes(100000).size(), 100000u);
}

TEST(Md5Test, Rfc1321Vectors) {
  const std::pair<std::string, const char*> kVectors[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (const auto& [input, hex] : kVectors) {
    auto digest = Md5(input);
    ASSERT_TRUE(digest) << digest.error().message();
    EXPECT_EQ(ToHex(*digest), hex) << input;
  }
}

TEST(HmacMd5Test, Rfc2202Vectors) {
  struct Vector {
    std::string key;
    std::string data;
    const char* hex;
  };
  const Vector kVectors[] = {
      {std::string(16, '\x0b'), "Hi There", "9294727a3638bb1c13f48ef8158bfc9d"},
      {"Jefe", "what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"},
      {std::string(16, '\xaa'), std::string(50, '\xdd'), "56be34521d144c88dbb8c733f0e8b3f6"},
      // A key longer than the block size is hashed first.
      {std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"},
  };
  for (const auto& vector : kVectors) {
    auto mac = HmacMd5(vector.key, vector.data);
    ASSERT_TRUE(mac) << mac.error().message();
    EXPECT_EQ(ToHex(*mac), vector.hex) << vector.data;
  }
}

TEST(HmacMd5Test, EmptyKeyAndDataAreValid) {
  auto mac = HmacMd5("", "");
  ASSERT_TRUE(mac) << mac.error().message();
  EXPECT_EQ(ToHex(*mac), "74e6f7298a9c2d168935f58c001bad88");
}

TEST(HmacSha256Test, Rfc4231Vectors) {
  EXPECT_EQ(ToHex(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HkdfSha256Test, Rfc5869Vectors) {
  std::string ikm(22, '\x0b');
  std::string salt;
  for (int i = 0x00; i <= 0x0c; ++i) salt.push_back(static_cast<char>(i));
  std::string info;
  for (int i = 0xf0; i <= 0xf9; ++i) info.push_back(static_cast<char>(i));
  // Test case 1, and test case 3 (no salt, no info).
  EXPECT_EQ(ToHex(HkdfSha256(ikm, salt, info, 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  EXPECT_EQ(ToHex(HkdfSha256(ikm, "", "", 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  EXPECT_NE(HkdfSha256(ikm, "", "a", 32), HkdfSha256(ikm, "", "b", 32));
}

TEST(WipeTest, Empties) {
  std::string secret = "0123456789abcdef0123456789abcdef";
  Wipe(secret);
  EXPECT_TRUE(secret.empty());
  std::string empty;
  Wipe(empty);
  EXPECT_TRUE(empty.empty());
}

}  // namespace
}  // namespace fogkeep::crypto
