// Base64UrlEncode and the strict Base64UrlDecode (RFC 4648 section 5, unpadded as in JOSE).
#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"

namespace fogkeep::crypto {
namespace {

TEST(Base64UrlTest, Rfc4648VectorsWithoutPadding) {
  // RFC 4648 section 10, its padding dropped.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*Base64UrlDecode(""), "");
  EXPECT_EQ(*Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(*Base64UrlDecode("Zm8"), "fo");
  EXPECT_EQ(*Base64UrlDecode("Zm9vYmE"), "fooba");
}

TEST(Base64UrlTest, UsesTheUrlAlphabet) {
  // 0xfb 0xff 0xbf is "+/+/" in the standard alphabet.
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(*Base64UrlDecode("-_-_"), bytes);
}

TEST(Base64UrlTest, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int len = 0; len < 300; ++len) {
    const std::string encoded = Base64UrlEncode(data);
    EXPECT_EQ(encoded.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    EXPECT_EQ(encoded.size(), (data.size() * 4 + 2) / 3);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded) << len;
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<char>(len * 37 + 11));
  }
}

TEST(Base64UrlTest, RefusesAnythingButTheOneCanonicalText) {
  const char* kBad[] = {
      "Zg==",     // padding
      "Zm8=",     // padding
      "Zm9vYg=",  // partial padding
      "Z",        // one character carries no byte
      "Zm9vY",    // the same after a full group
      "Zh",       // non-zero bits after the last byte
      "Zm9",      // the same with two bytes
      "Zm+v",     // standard alphabet
      "Zm/v",     // standard alphabet
      "Zm9v\n",   // a newline
      " Zm9v",    // a space
      "Zm 9v",    // a space inside
      "Zm9*",     // not base64 at all
      "Zm9\xc3",  // non-ASCII
  };
  for (const char* bad : kBad) {
    auto r = Base64UrlDecode(bad);
    ASSERT_FALSE(r) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << bad;
  }
  EXPECT_FALSE(Base64UrlDecode(std::string("Zm\0v", 4)));
}

}  // namespace
}  // namespace fogkeep::crypto
