// PKCE S256 (RFC 7636): the example of its Appendix B, and the syntax of verifiers and
// challenges.
#include "oauth/pkce.h"

#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"
#include "support/support.h"

namespace fogkeep::oauth {
namespace {

using fogkeep::testing::Must;

// RFC 7636 Appendix B.
constexpr unsigned char kVerifierOctets[] = {116, 24,  223, 180, 151, 153, 224, 37,  79,  250, 96,
                                             125, 216, 173, 187, 186, 22,  212, 37,  77,  105, 214,
                                             191, 240, 91,  88,  5,   88,  83,  132, 141, 121};
constexpr std::string_view kVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view kChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

TEST(PkceTest, Rfc7636AppendixB) {
  const std::string octets(reinterpret_cast<const char*>(kVerifierOctets), sizeof(kVerifierOctets));
  EXPECT_EQ(crypto::Base64UrlEncode(octets), kVerifier);
  EXPECT_EQ(Must(S256CodeChallenge(kVerifier)), kChallenge);
  EXPECT_TRUE(ValidateCodeChallengeMethod("S256"));
  EXPECT_TRUE(ValidateCodeChallenge(kChallenge));
  EXPECT_TRUE(VerifyCodeVerifier(kVerifier, kChallenge));
}

TEST(PkceTest, AnotherVerifierDoesNotMatch) {
  std::string other(kVerifier);
  other[0] = 'e';
  auto r = VerifyCodeVerifier(other, kChallenge);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  // The challenge itself is no verifier of itself.
  EXPECT_FALSE(VerifyCodeVerifier(kChallenge, kChallenge));
}

TEST(PkceTest, OnlyS256) {
  for (const char* method : {"plain", "s256", "S384", "", "S256 "}) {
    auto r = ValidateCodeChallengeMethod(method);
    ASSERT_FALSE(r) << method;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_EQ(ValidateCodeChallengeMethod("plain").error().message(),
            "code_challenge_method plain is not supported; use S256");
}

TEST(PkceTest, VerifierLengthAndCharacters) {
  EXPECT_TRUE(ValidateCodeVerifier(std::string(43, 'a')));
  EXPECT_TRUE(ValidateCodeVerifier(std::string(128, 'Z')));
  EXPECT_TRUE(
      ValidateCodeVerifier("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"));
  for (const std::string& bad :
       {std::string(), std::string(42, 'a'), std::string(129, 'a'), std::string(42, 'a') + "+",
        std::string(42, 'a') + "/", std::string(42, 'a') + "=", std::string(42, 'a') + " ",
        std::string(42, 'a') + "%", std::string(42, 'a') + "\xc3\xa9",
        std::string(42, 'a') + std::string(1, '\0')}) {
    auto r = ValidateCodeVerifier(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
    EXPECT_FALSE(S256CodeChallenge(bad));
    auto verified = VerifyCodeVerifier(bad, kChallenge);
    ASSERT_FALSE(verified);
    EXPECT_EQ(verified.error().code(), ErrorCode::kInvalidInput);
  }
}

TEST(PkceTest, ChallengeSyntax) {
  std::string non_canonical(kChallenge);
  non_canonical.back() = 'N';  // 'M' with a spare bit set: the same digest, spelled otherwise
  for (const std::string& bad :
       {std::string(), std::string(kChallenge.substr(1)), std::string(kChallenge) + "A",
        std::string(kChallenge) + "=", non_canonical, std::string(kChallenge.substr(0, 42)) + "+",
        std::string(kChallenge.substr(0, 42)) + "/", std::string(kVerifier.substr(0, 42)) + "~"}) {
    auto r = ValidateCodeChallenge(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
    auto verified = VerifyCodeVerifier(kVerifier, bad);
    ASSERT_FALSE(verified);
    EXPECT_EQ(verified.error().code(), ErrorCode::kInvalidInput);
  }
}

}  // namespace
}  // namespace fogkeep::oauth
