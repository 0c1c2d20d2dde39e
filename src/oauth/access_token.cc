#include "oauth/access_token.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <utility>

#include "crypto/hash.h"
#include "oauth/strict_json.h"

namespace fogkeep::oauth {
namespace {

namespace json = boost::json;

constexpr std::string_view kTokenType = "at+jwt";
constexpr std::string_view kTokenMediaType = "application/at+jwt";
constexpr std::size_t kTokenIdBytes = 16;
// Headers and claims are flat objects; a little depth for claims fogkeep ignores.
constexpr std::size_t kMaxJsonDepth = 8;

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidInput, std::move(message));
}
std::unexpected<Error> Refuse(std::string message) {
  return Fail(ErrorCode::kUnauthenticated, std::move(message));
}

using detail::View;

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 section 3.3).
bool IsScopeToken(std::string_view token) {
  return !token.empty() && std::ranges::all_of(token, [](char c) {
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
  });
}

// The scope tokens of `text`, which must be scope-tokens joined by single spaces.
std::optional<std::vector<std::string>> SplitScope(std::string_view text) {
  std::vector<std::string> scopes;
  while (true) {
    const std::size_t space = text.find(' ');
    const std::string_view token = text.substr(0, space);
    if (!IsScopeToken(token)) return std::nullopt;
    scopes.emplace_back(token);
    if (space == std::string_view::npos) return scopes;
    text.remove_prefix(space + 1);
  }
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string text;
  for (const std::string& scope : scopes) text += (text.empty() ? "" : " ") + scope;
  return text;
}

// What issuer and validator both require of a token's claims, whatever the time
// (kInvalidInput).
Status CheckClaims(const AccessTokenClaims& claims, std::chrono::seconds max_lifetime) {
  const std::pair<const char*, const std::string*> required[] = {{"iss", &claims.issuer},
                                                                 {"sub", &claims.subject},
                                                                 {"jti", &claims.token_id},
                                                                 {"client_id", &claims.client_id}};
  for (const auto& [name, value] : required) {
    if (value->empty()) return Invalid(std::string(name) + " is empty");
  }
  if (claims.audiences.empty() ||
      std::ranges::any_of(claims.audiences, [](const std::string& a) { return a.empty(); })) {
    return Invalid("aud must be one or more non-empty strings");
  }
  if (claims.issued_at < 0 || claims.expires_at < 0 || claims.not_before.value_or(0) < 0) {
    return Invalid("times must not be negative");
  }
  if (claims.expires_at <= claims.issued_at) return Invalid("exp is not after iat");
  if (claims.expires_at - claims.issued_at > max_lifetime.count()) {
    return Invalid("the lifetime exp - iat exceeds " + std::to_string(max_lifetime.count()) +
                   " seconds");
  }
  if (!std::ranges::all_of(claims.scopes, IsScopeToken)) {
    return Invalid("a scope is not a scope-token (RFC 6749 section 3.3)");
  }
  if (claims.role.empty() && claims.subject != claims.client_id) {
    return Invalid("without a role the token is its client's own: sub must equal client_id");
  }
  return {};
}

json::object HeaderObject(std::string_view kid) {
  json::object header;
  header["alg"] = JwsAlgorithmName(JwsAlgorithm::kEs256);
  header["typ"] = kTokenType;
  header["kid"] = kid;
  return header;
}

json::object ClaimsObject(const AccessTokenClaims& claims) {
  json::object o;
  o["iss"] = claims.issuer;
  o["sub"] = claims.subject;
  if (claims.audiences.size() == 1) {
    o["aud"] = claims.audiences.front();
  } else {
    json::array audiences;
    for (const std::string& audience : claims.audiences) audiences.emplace_back(audience);
    o["aud"] = std::move(audiences);
  }
  o["exp"] = claims.expires_at;
  o["iat"] = claims.issued_at;
  if (claims.not_before) o["nbf"] = *claims.not_before;
  o["jti"] = claims.token_id;
  o["client_id"] = claims.client_id;
  if (!claims.scopes.empty()) o["scope"] = JoinScopes(claims.scopes);
  if (!claims.role.empty()) o["role"] = claims.role;
  if (!claims.session_id.empty()) o["sid"] = claims.session_id;
  return o;
}

// ---- validation: every failure below is kUnauthenticated ----

Result<std::string> DecodeSegment(std::string_view segment, std::string_view name) {
  auto bytes = crypto::Base64UrlDecode(segment);
  if (!bytes) return Refuse("token " + std::string(name) + " is not base64url");
  return std::move(*bytes);
}

Result<json::object> ParseSegmentJson(std::string_view text, std::string_view what) {
  auto object = detail::ParseStrictObject(text, kMaxJsonDepth, what);
  if (!object) return Refuse(object.error().message());
  return std::move(*object);
}

// A string member of the header or claims, or null when it is absent; refused when it has
// another type. `where` is "token header" or "token claim".
Result<const json::string*> StringMember(const json::object& o, std::string_view name,
                                         std::string_view where) {
  return detail::StringMember(o, name, ErrorCode::kUnauthenticated, std::string(where) + " ");
}

Result<std::string> RequiredClaim(const json::object& claims, std::string_view name) {
  const json::string* text = FK_TRY(StringMember(claims, name, "token claim"));
  if (text == nullptr || text->empty()) {
    return Refuse("token claim " + std::string(name) + " must be a non-empty string");
  }
  return std::string(View(*text));
}

// A NumericDate claim (RFC 7519 section 2), restricted to non-negative integers.
Result<std::optional<std::int64_t>> TimeClaim(const json::object& claims, std::string_view name) {
  const json::value* value = claims.if_contains(name);
  if (value == nullptr) return std::nullopt;
  const std::int64_t* seconds = value->if_int64();
  if (seconds == nullptr || *seconds < 0) {
    return Refuse("token claim " + std::string(name) + " must be a non-negative integer");
  }
  return *seconds;
}

Result<std::int64_t> RequiredTimeClaim(const json::object& claims, std::string_view name) {
  std::optional<std::int64_t> seconds = FK_TRY(TimeClaim(claims, name));
  if (!seconds) return Refuse("token claim " + std::string(name) + " is missing");
  return *seconds;
}

Result<std::vector<std::string>> AudienceClaim(const json::object& claims) {
  const json::value* value = claims.if_contains("aud");
  if (value == nullptr) return Refuse("token claim aud is missing");
  std::vector<std::string> audiences;
  if (const json::string* one = value->if_string()) {
    audiences.emplace_back(View(*one));
  } else if (const json::array* many = value->if_array()) {
    for (const json::value& item : *many) {
      const json::string* audience = item.if_string();
      if (audience == nullptr) return Refuse("token claim aud must hold only strings");
      audiences.emplace_back(View(*audience));
    }
  } else {
    return Refuse("token claim aud must be a string or an array of strings");
  }
  return audiences;
}

Result<AccessTokenClaims> ReadClaims(const json::object& o) {
  AccessTokenClaims claims;
  claims.issuer = FK_TRY(RequiredClaim(o, "iss"));
  claims.subject = FK_TRY(RequiredClaim(o, "sub"));
  claims.audiences = FK_TRY(AudienceClaim(o));
  claims.expires_at = FK_TRY(RequiredTimeClaim(o, "exp"));
  claims.issued_at = FK_TRY(RequiredTimeClaim(o, "iat"));
  claims.not_before = FK_TRY(TimeClaim(o, "nbf"));
  claims.token_id = FK_TRY(RequiredClaim(o, "jti"));
  claims.client_id = FK_TRY(RequiredClaim(o, "client_id"));
  if (const json::string* scope = FK_TRY(StringMember(o, "scope", "token claim"))) {
    auto scopes = SplitScope(View(*scope));
    if (!scopes) return Refuse("token claim scope must be scope-tokens joined by single spaces");
    claims.scopes = std::move(*scopes);
  }
  if (const json::string* role = FK_TRY(StringMember(o, "role", "token claim"))) {
    if (role->empty()) return Refuse("token claim role must not be empty");
    claims.role = std::string(View(*role));
  }
  if (const json::string* sid = FK_TRY(StringMember(o, "sid", "token claim"))) {
    if (sid->empty()) return Refuse("token claim sid must not be empty");
    claims.session_id = std::string(View(*sid));
  }
  return claims;
}

// The key of `header`: kid known, alg exactly the key's own algorithm.
Result<const Jwk*> SelectKey(const json::object& header, const JwkSet& keys) {
  const json::string* typ = FK_TRY(StringMember(header, "typ", "token header"));
  if (typ == nullptr) return Refuse("token header has no typ");
  if (!EqualsIgnoringCase(View(*typ), kTokenType) &&
      !EqualsIgnoringCase(View(*typ), kTokenMediaType)) {
    return Refuse("token type is not at+jwt");
  }
  // An extension the issuer marks critical must be understood; fogkeep understands none.
  if (header.contains("crit")) return Refuse("token header has crit: no extension is supported");
  const json::string* kid = FK_TRY(StringMember(header, "kid", "token header"));
  if (kid == nullptr) return Refuse("token header has no kid");
  const Jwk* jwk = keys.Find(View(*kid));
  if (jwk == nullptr) return Refuse("unknown key id");
  const json::string* alg = FK_TRY(StringMember(header, "alg", "token header"));
  if (alg == nullptr) return Refuse("token header has no alg");
  if (View(*alg) != JwsAlgorithmName(jwk->algorithm())) {
    return Refuse("algorithm not allowed for this key");
  }
  return jwk;
}

// Verifies `signature` over `signing_input` with the scheme of the key's own algorithm.
Status VerifySignature(const Jwk& jwk, std::string_view signing_input, std::string_view signature) {
  switch (jwk.algorithm()) {
    case JwsAlgorithm::kEs256: {
      if (signature.size() != crypto::kEcdsaP256RawSignatureBytes) {
        return Refuse("token signature is not 64 bytes (ES256 is raw r || s)");
      }
      auto der = crypto::EcdsaP256SignatureToDer(signature);
      if (!der || !jwk.key().Verify(signing_input, *der)) {
        return Refuse("token signature does not verify");
      }
      return {};
    }
  }
  return Refuse("algorithm not allowed for this key");
}

Status CheckPolicy(const AccessTokenClaims& claims, const AccessTokenPolicy& policy) {
  if (auto shape = CheckClaims(claims, policy.max_lifetime); !shape) {
    return Refuse("token claims: " + shape.error().message());
  }
  if (claims.issuer != policy.issuer) return Refuse("token issuer not accepted");
  const bool audience_accepted =
      policy.any_audience || std::ranges::any_of(claims.audiences, [&](const auto& audience) {
        return std::ranges::find(policy.audiences, audience) != policy.audiences.end();
      });
  if (!audience_accepted) return Refuse("token audience not accepted");
  const std::int64_t skew = policy.skew.count();
  if (claims.expires_at <= policy.now - skew) return Refuse("token expired");
  if (claims.not_before.value_or(0) > policy.now + skew) return Refuse("token not yet valid");
  if (claims.issued_at > policy.now + skew) return Refuse("token issued in the future");
  return {};
}

}  // namespace

std::string NewTokenId() { return crypto::Base64UrlEncode(crypto::RandomBytes(kTokenIdBytes)); }

Result<std::string> IssueAccessToken(const SigningKey& key, const AccessTokenClaims& claims) {
  FK_TRY_CTX(ValidateKeyId(key.kid), "access-token signing key");
  if (key.key.type() != crypto::KeyType::kEcdsaP256) {
    return Invalid("an access-token signing key must be ECDSA P-256, not " +
                   std::string(crypto::KeyTypeName(key.key.type())));
  }
  FK_TRY_CTX(CheckClaims(claims, kMaxAccessTokenLifetime), "access-token claims");
  if (claims.not_before &&
      (*claims.not_before < claims.issued_at || *claims.not_before >= claims.expires_at)) {
    return Invalid("access-token claims: nbf must be from iat up to exp");
  }
  const std::string signing_input =
      crypto::Base64UrlEncode(json::serialize(HeaderObject(key.kid))) + "." +
      crypto::Base64UrlEncode(json::serialize(ClaimsObject(claims)));
  const std::string der = FK_TRY(key.key.Sign(signing_input));
  const std::string raw = FK_TRY(crypto::EcdsaP256SignatureToRaw(der));
  std::string token = signing_input + "." + crypto::Base64UrlEncode(raw);
  if (token.size() > kMaxAccessTokenBytes) {
    return Fail(ErrorCode::kLimit, "an access token of " + std::to_string(token.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(kMaxAccessTokenBytes));
  }
  return token;
}

Result<AccessTokenClaims> ValidateAccessToken(std::string_view token, const JwkSet& keys,
                                              const AccessTokenPolicy& policy) {
  if (policy.issuer.empty() || (policy.audiences.empty() && !policy.any_audience)) {
    return Fail(ErrorCode::kInternal, "the access-token policy names no issuer or no audience");
  }
  if (token.size() > policy.max_token_bytes) return Refuse("token too large");
  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Refuse("token is not three dot-separated segments");
  }
  const std::string header_text = FK_TRY(DecodeSegment(token.substr(0, first), "header"));
  const json::object header = FK_TRY(ParseSegmentJson(header_text, "token header"));
  const Jwk* jwk = FK_TRY(SelectKey(header, keys));

  const std::string signature = FK_TRY(DecodeSegment(token.substr(second + 1), "signature"));
  FK_TRY(VerifySignature(*jwk, token.substr(0, second), signature));

  const std::string payload_text =
      FK_TRY(DecodeSegment(token.substr(first + 1, second - first - 1), "payload"));
  const json::object payload = FK_TRY(ParseSegmentJson(payload_text, "token claims"));
  AccessTokenClaims claims = FK_TRY(ReadClaims(payload));
  FK_TRY(CheckPolicy(claims, policy));
  return claims;
}

}  // namespace fogkeep::oauth
