#include "oauth/pkce.h"

#include <algorithm>

#include "crypto/hash.h"

namespace fogkeep::oauth {
namespace {

constexpr std::size_t kSha256Bytes = 32;

// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 section 2.3).
bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

Status ValidateCodeChallengeMethod(std::string_view method) {
  if (method == "S256") return {};
  if (method == "plain") {
    return Fail(ErrorCode::kInvalidInput, "code_challenge_method plain is not supported; use S256");
  }
  return Fail(ErrorCode::kInvalidInput, "code_challenge_method must be S256");
}

Status ValidateCodeVerifier(std::string_view verifier) {
  if (verifier.size() < kMinCodeVerifierLength || verifier.size() > kMaxCodeVerifierLength ||
      !std::ranges::all_of(verifier, IsUnreserved)) {
    return Fail(ErrorCode::kInvalidInput,
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
  }
  return {};
}

Status ValidateCodeChallenge(std::string_view challenge) {
  auto digest = crypto::Base64UrlDecode(challenge);
  if (challenge.size() != kCodeChallengeLength || !digest || digest->size() != kSha256Bytes) {
    return Fail(ErrorCode::kInvalidInput,
                "code_challenge must be 43 characters of base64url: an S256 challenge");
  }
  return {};
}

Result<std::string> S256CodeChallenge(std::string_view verifier) {
  FK_TRY(ValidateCodeVerifier(verifier));
  crypto::Digest digest;
  digest.Update(verifier);
  return crypto::Base64UrlEncode(digest.Final());
}

Status VerifyCodeVerifier(std::string_view verifier, std::string_view challenge) {
  FK_TRY(ValidateCodeChallenge(challenge));
  const std::string expected = FK_TRY(S256CodeChallenge(verifier));
  if (!crypto::ConstantTimeEquals(expected, challenge)) {
    return Fail(ErrorCode::kUnauthenticated, "code_verifier does not match the code_challenge");
  }
  return {};
}

}  // namespace fogkeep::oauth
