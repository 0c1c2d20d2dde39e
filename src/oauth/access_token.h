// Access tokens: JWTs (RFC 7519) in the profile of RFC 9068, signed with ES256 as compact JWS
// (RFC 7515). The director's authorization server issues them; fogkeepd nodes and the
// director's API validate them against the director's JWK Set, following the JWT BCP
// (RFC 8725).
//
// On the wire:
//   header  {"alg":"ES256","typ":"at+jwt","kid":"<kid>"}
//   claims  {"iss","sub","aud","exp","iat","nbf"?,"jti","client_id","scope"?,"role"?,"sid"?}
// "aud" is a string when the token has one audience, an array otherwise; "scope" is the scope
// tokens joined by single spaces (RFC 6749 section 3.3); "role" is the fogkeep role of the user
// the token acts for, absent when a client acts for itself (client credentials), whose token
// then has sub = client_id; "sid" names the grant (token family) the token was issued under,
// so that revoking the grant can revoke its access tokens. Times are integer Unix seconds.
//
// The rules ValidateAccessToken enforces are listed at its declaration and in README.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"
#include "oauth/jwk.h"

namespace fogkeep::oauth {

// An access token lives at most this long (exp - iat); the issuer refuses longer ones.
inline constexpr std::chrono::seconds kMaxAccessTokenLifetime{std::chrono::minutes(10)};
// Larger tokens are refused before any parsing.
inline constexpr std::size_t kMaxAccessTokenBytes = 8 * 1024;

struct AccessTokenClaims {
  std::string issuer;                      // iss
  std::string subject;                     // sub: the user, or client_id when role is empty
  std::vector<std::string> audiences;      // aud: the resource servers that may accept it
  std::int64_t expires_at = 0;             // exp
  std::int64_t issued_at = 0;              // iat
  std::optional<std::int64_t> not_before;  // nbf
  std::string token_id;                    // jti: unique per token
  std::string client_id;                   // the OAuth client the token was issued to
  std::vector<std::string> scopes;         // scope
  std::string role;                        // the user's fogkeep role; empty: none
  std::string session_id;                  // sid; empty: none

  bool operator==(const AccessTokenClaims&) const = default;
};

// A key the authorization server signs with: an ECDSA P-256 private key, published in the
// JWK Set under `kid`.
struct SigningKey {
  std::string kid;
  crypto::PrivateKey key;
};

// A fresh jti: 128 random bits, base64url.
std::string NewTokenId();

// The compact JWS of `claims`, signed with `key`. kInvalidInput when the key is not ECDSA
// P-256 or its kid is malformed, or the claims could not pass ValidateAccessToken at iat:
// iss, sub, jti and client_id empty, no audience or an empty one, a negative time, exp not
// after iat, a lifetime beyond kMaxAccessTokenLifetime, nbf outside [iat, exp), a scope that
// is not a scope-token (RFC 6749 section 3.3), or no role with sub other than client_id.
// Errors of the signing key's provider pass through.
Result<std::string> IssueAccessToken(const SigningKey& key, const AccessTokenClaims& claims);

// What a resource server accepts.
struct AccessTokenPolicy {
  std::string issuer;                  // iss must equal it
  std::vector<std::string> audiences;  // one of the token's aud values must be among them
  // Accept every audience: only for the authorization server itself, which introspects and
  // revokes its own tokens whatever resource server they are meant for.
  bool any_audience = false;
  std::int64_t now = 0;           // the current time, Unix seconds
  std::chrono::seconds skew{60};  // tolerated clock difference with the issuer
  std::chrono::seconds max_lifetime = kMaxAccessTokenLifetime;
  std::size_t max_token_bytes = kMaxAccessTokenBytes;
};

// The claims of `token` when it is an access token `keys` and `policy` accept. Every refusal
// is kUnauthenticated with a message naming the first rule broken, checked in this order:
//   - at most max_token_bytes; exactly three segments, each strict base64url (no padding);
//   - the header is a JSON object without repeated member names; "typ" is "at+jwt" or
//     "application/at+jwt" (ignoring case); it has no "crit" (no extension is understood);
//     "jku", "x5u", "jwk", "x5c" and other members are ignored, never fetched or trusted;
//   - "kid" names a key of `keys`, and "alg" is exactly the algorithm that key is bound to
//     (so "none", HS256 and every algorithm but the key's own are refused);
//   - the signature is 64 bytes (raw r || s) and verifies over the first two segments;
//   - the claims are a JSON object without repeated member names; iss equals policy.issuer;
//     aud (a string or an array of strings) has a value among policy.audiences;
//     exp > now - skew; nbf, if present, <= now + skew; iat <= now + skew; exp - iat is in
//     (0, max_lifetime]; times are non-negative integers; jti, sub and client_id are
//     non-empty strings; scope, if present, is scope-tokens joined by single spaces; role,
//     if present, is a non-empty string, and without it sub equals client_id; sid, if
//     present, is a non-empty string.
// A policy without issuer, or without audiences and any_audience, accepts nothing (kInternal:
// a configuration bug).
Result<AccessTokenClaims> ValidateAccessToken(std::string_view token, const JwkSet& keys,
                                              const AccessTokenPolicy& policy);

}  // namespace fogkeep::oauth
