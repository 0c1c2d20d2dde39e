// Access tokens reach fogkeepd and the director's API from anyone who can send a request, and
// JWK Sets reach nodes from whatever answers for the director: the validator, the JWK Set
// parser and the PKCE checks must never crash, hang or leak on any bytes, and what they accept
// must hold together.
//
// Each input is tried four ways: as a token, as a JWK Set, as a PKCE verifier and challenge,
// and, when it has a newline, as "header JSON \n claims JSON" signed here with the fixed key
// of the set (RFC 7515 Appendix A.3's), so that the claim checks behind the signature are
// fuzzed too. An accepted token must meet the policy, and its claims issued again must
// validate to the same claims.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/hash.h"
#include "crypto/keys.h"
#include "oauth/access_token.h"
#include "oauth/jwk.h"
#include "oauth/pkce.h"

namespace {

using fogkeep::oauth::AccessTokenClaims;
using fogkeep::oauth::AccessTokenPolicy;
using fogkeep::oauth::JwkSet;

constexpr std::string_view kKid = "k1";
constexpr std::string_view kKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"
    "H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"
    "7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "-----END PRIVATE KEY-----\n";

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_access_token: %s\n", what);
  std::abort();
}

struct Fixture {
  fogkeep::oauth::SigningKey signing_key;
  JwkSet keys;
  AccessTokenPolicy policy;
};

const Fixture& TheFixture() {
  static const Fixture* const fixture = [] {
    auto key = fogkeep::crypto::PrivateKey::FromPem(kKeyPem);
    if (!key) Die("cannot load the fixed key");
    auto jwk = fogkeep::oauth::Jwk::Es256(std::string(kKid), key->Public());
    JwkSet keys;
    if (!jwk || !keys.Add(std::move(*jwk))) Die("cannot build the key set");
    AccessTokenPolicy policy;
    policy.issuer = "https://director.example";
    policy.audiences = {"fogkeepd", "https://director.example"};
    policy.now = 1'700'000'000;
    return new Fixture{{std::string(kKid), std::move(*key)}, std::move(keys), std::move(policy)};
  }();
  return *fixture;
}

void CheckAccepted(const AccessTokenClaims& claims) {
  const Fixture& f = TheFixture();
  const AccessTokenPolicy& p = f.policy;
  const std::int64_t skew = p.skew.count();
  if (claims.issuer != p.issuer) Die("accepted another issuer");
  bool audience = false;
  for (const std::string& a : claims.audiences) {
    for (const std::string& accepted : p.audiences) audience = audience || a == accepted;
  }
  if (!audience) Die("accepted a token for another audience");
  if (claims.expires_at <= p.now - skew) Die("accepted an expired token");
  if (claims.issued_at > p.now + skew) Die("accepted a token issued in the future");
  if (claims.not_before && *claims.not_before > p.now + skew) Die("accepted a token before nbf");
  if (claims.expires_at - claims.issued_at > p.max_lifetime.count() ||
      claims.expires_at <= claims.issued_at) {
    Die("accepted a token with a lifetime out of bounds");
  }
  if (claims.subject.empty() || claims.token_id.empty() || claims.client_id.empty()) {
    Die("accepted a token without sub, jti or client_id");
  }
  if (claims.role.empty() && claims.subject != claims.client_id) {
    Die("accepted a roleless token of a user");
  }
  // The issuer refuses nbf outside [iat, exp), which the validator tolerates; otherwise the
  // claims must survive being issued again.
  if (claims.not_before &&
      (*claims.not_before < claims.issued_at || *claims.not_before >= claims.expires_at)) {
    return;
  }
  auto again = fogkeep::oauth::IssueAccessToken(f.signing_key, claims);
  if (!again) Die("cannot issue again the claims of an accepted token");
  auto validated = fogkeep::oauth::ValidateAccessToken(*again, f.keys, p);
  if (!validated || *validated != claims) Die("issuing again changed the claims");
}

void CheckJwkSet(const JwkSet& set) {
  if (set.keys().size() > fogkeep::oauth::kMaxJwkSetKeys) Die("accepted too many keys");
  auto again = JwkSet::Parse(set.ToJson());
  if (!again || again->keys().size() != set.keys().size()) Die("JWK Set round trip lost keys");
  for (std::size_t i = 0; i < set.keys().size(); ++i) {
    const auto& a = set.keys()[i];
    const auto& b = again->keys()[i];
    if (a.kid() != b.kid() || a.key().Fingerprint() != b.key().Fingerprint()) {
      Die("JWK Set round trip changed a key");
    }
  }
}

void CheckPkce(std::string_view bytes) {
  if (fogkeep::oauth::ValidateCodeVerifier(bytes)) {
    auto challenge = fogkeep::oauth::S256CodeChallenge(bytes);
    if (!challenge || !fogkeep::oauth::ValidateCodeChallenge(*challenge) ||
        !fogkeep::oauth::VerifyCodeVerifier(bytes, *challenge)) {
      Die("a valid verifier does not verify against its own challenge");
    }
  }
  if (fogkeep::oauth::ValidateCodeChallenge(bytes)) {
    auto digest = fogkeep::crypto::Base64UrlDecode(bytes);
    if (!digest || fogkeep::crypto::Base64UrlEncode(*digest) != bytes) {
      Die("accepted a challenge that is not canonical base64url");
    }
  }
}

// "header \n claims" as a token signed with the fixed key.
std::string SignedToken(std::string_view header, std::string_view claims) {
  const std::string input =
      fogkeep::crypto::Base64UrlEncode(header) + "." + fogkeep::crypto::Base64UrlEncode(claims);
  auto der = TheFixture().signing_key.key.Sign(input);
  if (!der) Die("cannot sign");
  auto raw = fogkeep::crypto::EcdsaP256SignatureToRaw(*der);
  if (!raw) Die("cannot convert our own signature");
  return input + "." + fogkeep::crypto::Base64UrlEncode(*raw);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const Fixture& f = TheFixture();

  if (auto claims = fogkeep::oauth::ValidateAccessToken(bytes, f.keys, f.policy)) {
    CheckAccepted(*claims);
  }
  if (auto set = JwkSet::Parse(bytes)) CheckJwkSet(*set);
  CheckPkce(bytes);

  const std::size_t newline = bytes.find('\n');
  if (newline != std::string_view::npos && size <= fogkeep::oauth::kMaxAccessTokenBytes) {
    const std::string token = SignedToken(bytes.substr(0, newline), bytes.substr(newline + 1));
    if (auto claims = fogkeep::oauth::ValidateAccessToken(token, f.keys, f.policy)) {
      CheckAccepted(*claims);
    }
  }
  return 0;
}
