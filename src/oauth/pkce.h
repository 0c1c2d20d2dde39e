// PKCE (RFC 7636) for fogkeep's authorization code grant, S256 only: "plain" offers nothing
// against an attacker who sees the authorization request, and RFC 9700 section 2.1.1 asks
// for S256 where the client can do it (every fogkeep client can).
//
// The client sends code_challenge = BASE64URL(SHA256(code_verifier)) with the authorization
// request and the code_verifier with the token request; the authorization server stores the
// challenge with the code and checks the verifier against it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::oauth {

inline constexpr std::size_t kMinCodeVerifierLength = 43;
inline constexpr std::size_t kMaxCodeVerifierLength = 128;
inline constexpr std::size_t kCodeChallengeLength = 43;  // SHA-256, base64url without padding

// kInvalidInput unless `method` is "S256" (the only method; "plain" is refused by name).
Status ValidateCodeChallengeMethod(std::string_view method);

// kInvalidInput unless `verifier` is 43 to 128 characters of [A-Z] [a-z] [0-9] "-._~"
// (RFC 7636 section 4.1).
Status ValidateCodeVerifier(std::string_view verifier);

// kInvalidInput unless `challenge` can be an S256 challenge: 43 characters of strict
// base64url (no padding) that decode to 32 bytes.
Status ValidateCodeChallenge(std::string_view challenge);

// The S256 challenge of `verifier`; kInvalidInput when the verifier is malformed.
Result<std::string> S256CodeChallenge(std::string_view verifier);

// OK when `verifier` is well-formed and its S256 challenge equals `challenge`, compared in
// constant time. kInvalidInput for a malformed verifier or challenge, kUnauthenticated when
// they do not match (an OAuth invalid_grant).
Status VerifyCodeVerifier(std::string_view verifier, std::string_view challenge);

}  // namespace fogkeep::oauth
