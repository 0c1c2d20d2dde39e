// JSON Web Keys (RFC 7517) for fogkeep's access tokens: the public keys the director's
// authorization server signs with, published as a JWK Set that fogkeepd nodes and the
// director's API load to verify tokens.
//
// One kind of key only, an ECDSA P-256 public key for ES256:
//   {"kty":"EC","crv":"P-256","x":"<43>","y":"<43>","kid":"...","alg":"ES256","use":"sig"}
// Each key is bound to the one algorithm it verifies. Verification takes the algorithm from
// the key found by the token's "kid", never from the token's header (RFC 8725 section 3.1).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"

namespace fogkeep::oauth {

// The JWS algorithms (RFC 7518) a fogkeep key may be bound to.
enum class JwsAlgorithm { kEs256 };

// The name on the wire: "ES256".
std::string_view JwsAlgorithmName(JwsAlgorithm algorithm);

// Limits on a JWK Set read from outside.
inline constexpr std::size_t kMaxJwkSetBytes = 64 * 1024;
inline constexpr std::size_t kMaxJwkSetKeys = 16;
inline constexpr std::size_t kMaxKeyIdBytes = 128;

// kInvalidInput unless `kid` is 1 to kMaxKeyIdBytes printable ASCII characters other than the
// space.
Status ValidateKeyId(std::string_view kid);

// A verification key of a JWK Set: always an ECDSA P-256 public key bound to ES256, under a
// valid kid.
class Jwk {
 public:
  // kInvalidInput when `key` is not ECDSA P-256 or `kid` is malformed (ValidateKeyId).
  static Result<Jwk> Es256(std::string kid, crypto::PublicKey key);

  const std::string& kid() const { return kid_; }
  JwsAlgorithm algorithm() const { return algorithm_; }
  const crypto::PublicKey& key() const { return key_; }
  const crypto::EcP256Point& point() const { return point_; }

  // The JWK as one compact JSON object, members in the order shown at the top of this file.
  std::string ToJson() const;

 private:
  Jwk(std::string kid, JwsAlgorithm algorithm, crypto::PublicKey key, crypto::EcP256Point point)
      : kid_(std::move(kid)),
        algorithm_(algorithm),
        key_(std::move(key)),
        point_(std::move(point)) {}

  std::string kid_;
  JwsAlgorithm algorithm_;
  crypto::PublicKey key_;
  crypto::EcP256Point point_;
};

class JwkSet {
 public:
  // kConflict when the set already has a key with the same kid, kLimit when it already holds
  // kMaxJwkSetKeys keys.
  Status Add(Jwk jwk);

  // The key with `kid` (compared exactly), or null.
  const Jwk* Find(std::string_view kid) const;

  const std::vector<Jwk>& keys() const { return keys_; }

  // {"keys":[...]}: the JWK Set document, keys in the order they were added.
  std::string ToJson() const;

  // Reads a JWK Set from untrusted text. Refused (kLimit) when the text exceeds
  // kMaxJwkSetBytes or "keys" has more than kMaxJwkSetKeys entries; refused (kInvalidInput)
  // unless it is a JSON object without repeated member names whose "keys" is an array of
  // objects, each with a string "kty". An entry with another kty, crv or alg, without "alg",
  // with a "use" other than "sig", or with a "key_ops" that lacks "verify", is skipped: it is
  // not a key fogkeep verifies with. Every entry kept must have a valid kid and "x" and "y"
  // that are base64url (strict, RFC 7515 section 2) of 32 bytes each and name a point on
  // P-256. Also refused: a kid that two entries share (kept or skipped) and any entry with
  // private or secret key material ("d", "k"). Members not named here are ignored. The result
  // may be empty.
  static Result<JwkSet> Parse(std::string_view text);

 private:
  std::vector<Jwk> keys_;
};

}  // namespace fogkeep::oauth
