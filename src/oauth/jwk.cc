#include "oauth/jwk.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <set>

#include "crypto/hash.h"
#include "oauth/strict_json.h"

namespace fogkeep::oauth {
namespace {

namespace json = boost::json;

constexpr std::string_view kEs256 = "ES256";
constexpr std::size_t kP256CoordinateBytes = 32;
// {"keys":[{"x5c":["..."]}]} nests three deep; a little room for members fogkeep ignores.
constexpr std::size_t kMaxJwkSetDepth = 8;

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidInput, std::move(message));
}

using detail::View;

Result<const json::string*> OptionalString(const json::object& entry, std::string_view name,
                                           const std::string& where) {
  return detail::StringMember(entry, name, ErrorCode::kInvalidInput, where);
}

// Whether `entry` describes a key fogkeep verifies with (see JwkSet::Parse), or kInvalidInput
// when a member that decides it has the wrong type.
Result<bool> IsEs256Key(const json::object& entry, const std::string& where) {
  const json::string* kty = FK_TRY(OptionalString(entry, "kty", where));
  if (kty == nullptr) return Invalid(where + "kty is missing");
  const json::string* crv = FK_TRY(OptionalString(entry, "crv", where));
  const json::string* alg = FK_TRY(OptionalString(entry, "alg", where));
  const json::string* use = FK_TRY(OptionalString(entry, "use", where));
  if (*kty != "EC" || crv == nullptr || *crv != "P-256" || alg == nullptr || *alg != kEs256) {
    return false;
  }
  if (use != nullptr && *use != "sig") return false;
  if (const json::value* ops = entry.if_contains("key_ops")) {
    const json::array* list = ops->if_array();
    if (list == nullptr) return Invalid(where + "key_ops must be an array");
    return std::ranges::any_of(*list, [](const json::value& op) {
      const json::string* name = op.if_string();
      return name != nullptr && *name == "verify";
    });
  }
  return true;
}

// The 32 bytes of coordinate `name` ("x" or "y") of `entry`.
Result<std::string> Coordinate(const json::object& entry, std::string_view name,
                               const std::string& where) {
  const json::string* text = FK_TRY(OptionalString(entry, name, where));
  const std::string field = where + std::string(name);
  if (text == nullptr) return Invalid(field + " is missing");
  auto bytes = crypto::Base64UrlDecode(View(*text));
  if (!bytes || bytes->size() != kP256CoordinateBytes) {
    return Invalid(field + " must be base64url of 32 bytes");
  }
  return std::move(*bytes);
}

json::object ToObject(const Jwk& jwk) {
  json::object o;
  o["kty"] = "EC";
  o["crv"] = "P-256";
  o["x"] = crypto::Base64UrlEncode(jwk.point().x);
  o["y"] = crypto::Base64UrlEncode(jwk.point().y);
  o["kid"] = jwk.kid();
  o["alg"] = JwsAlgorithmName(jwk.algorithm());
  o["use"] = "sig";
  return o;
}

}  // namespace

std::string_view JwsAlgorithmName(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kEs256:
      return kEs256;
  }
  return "unknown";
}

Status ValidateKeyId(std::string_view kid) {
  const bool printable = std::ranges::all_of(kid, [](char c) { return c > 0x20 && c < 0x7f; });
  if (kid.empty() || kid.size() > kMaxKeyIdBytes || !printable) {
    return Invalid("a key id is 1 to " + std::to_string(kMaxKeyIdBytes) +
                   " printable ASCII characters without spaces");
  }
  return {};
}

Result<Jwk> Jwk::Es256(std::string kid, crypto::PublicKey key) {
  FK_TRY(ValidateKeyId(kid));
  if (key.type() != crypto::KeyType::kEcdsaP256) {
    return Invalid("an ES256 key must be ECDSA P-256, not " +
                   std::string(crypto::KeyTypeName(key.type())));
  }
  crypto::EcP256Point point = FK_TRY(key.EcPoint());
  return Jwk(std::move(kid), JwsAlgorithm::kEs256, std::move(key), std::move(point));
}

std::string Jwk::ToJson() const { return json::serialize(ToObject(*this)); }

Status JwkSet::Add(Jwk jwk) {
  if (Find(jwk.kid()) != nullptr) {
    return Fail(ErrorCode::kConflict, "the JWK Set already has a key with this kid");
  }
  if (keys_.size() >= kMaxJwkSetKeys) {
    return Fail(ErrorCode::kLimit,
                "a JWK Set holds at most " + std::to_string(kMaxJwkSetKeys) + " keys");
  }
  keys_.push_back(std::move(jwk));
  return {};
}

const Jwk* JwkSet::Find(std::string_view kid) const {
  auto it = std::ranges::find_if(keys_, [kid](const Jwk& jwk) { return jwk.kid() == kid; });
  return it == keys_.end() ? nullptr : &*it;
}

std::string JwkSet::ToJson() const {
  json::array keys;
  keys.reserve(keys_.size());
  for (const Jwk& jwk : keys_) keys.push_back(ToObject(jwk));
  json::object doc;
  doc["keys"] = std::move(keys);
  return json::serialize(doc);
}

Result<JwkSet> JwkSet::Parse(std::string_view text) {
  if (text.size() > kMaxJwkSetBytes) {
    return Fail(ErrorCode::kLimit, "a JWK Set of " + std::to_string(text.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(kMaxJwkSetBytes));
  }
  const json::object doc = FK_TRY(detail::ParseStrictObject(text, kMaxJwkSetDepth, "JWK Set"));
  const json::value* keys = doc.if_contains("keys");
  const json::array* entries = keys == nullptr ? nullptr : keys->if_array();
  if (entries == nullptr) return Invalid("JWK Set: \"keys\" must be an array");
  if (entries->size() > kMaxJwkSetKeys) {
    return Fail(ErrorCode::kLimit, "a JWK Set of " + std::to_string(entries->size()) +
                                       " keys exceeds the limit of " +
                                       std::to_string(kMaxJwkSetKeys));
  }
  JwkSet set;
  std::set<std::string, std::less<>> kids;  // of every entry, kept or skipped
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const std::string entry_name = "JWK Set: keys[" + std::to_string(i) + "]";
    const std::string where = entry_name + ".";
    const json::object* entry = (*entries)[i].if_object();
    if (entry == nullptr) return Invalid(entry_name + " must be an object");
    if (entry->contains("d") || entry->contains("k")) {
      return Invalid(entry_name + " carries private or secret key material");
    }
    const json::string* kid = FK_TRY(OptionalString(*entry, "kid", where));
    if (kid != nullptr && !kids.emplace(View(*kid)).second) {
      return Invalid(where + "kid is the kid of another key");
    }
    if (!FK_TRY(IsEs256Key(*entry, where))) continue;
    if (kid == nullptr) return Invalid(where + "kid is missing");
    std::string x = FK_TRY(Coordinate(*entry, "x", where));
    std::string y = FK_TRY(Coordinate(*entry, "y", where));
    crypto::PublicKey key = FK_TRY_CTX(
        crypto::PublicKey::FromEcP256Point({.x = std::move(x), .y = std::move(y)}), entry_name);
    Jwk jwk = FK_TRY_CTX(Jwk::Es256(std::string(View(*kid)), std::move(key)), where + "kid");
    FK_TRY(set.Add(std::move(jwk)));  // the kid is new, and there are few entries
  }
  return set;
}

}  // namespace fogkeep::oauth
