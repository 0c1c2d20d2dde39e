// Asymmetric keys over OpenSSL 3 EVP_PKEY: generation, PEM I/O, signing and verification.
//
// Signature schemes are fixed per key type, never negotiated from input:
//   RSA (>= 2048 bits)  PKCS#1 v1.5 with SHA-256
//   ECDSA P-256         SHA-256, DER-encoded (r, s)
//   Ed25519             pure Ed25519 over the message
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

struct evp_pkey_st;

namespace fogkeep::crypto {

enum class KeyType { kRsa, kEcdsaP256, kEd25519 };

// "rsa", "ecdsa-p256", "ed25519".
std::string_view KeyTypeName(KeyType type);
Result<KeyType> ParseKeyType(std::string_view name);

// The public point of an ECDSA P-256 key as its affine coordinates, 32 big-endian bytes each:
// the "x" and "y" members of a JWK (RFC 7518 section 6.2.1).
struct EcP256Point {
  std::string x;
  std::string y;
};

class PublicKey {
 public:
  static Result<PublicKey> FromPem(std::string_view pem);
  // The ECDSA P-256 key at `point`. kInvalidInput unless x and y are 32 bytes each and name a
  // point on the curve (the checks of SP 800-56A's full public key validation).
  static Result<PublicKey> FromEcP256Point(const EcP256Point& point);
  KeyType type() const { return type_; }
  int bits() const;
  Result<std::string> ToPem() const;
  // OK when `signature` is a valid signature of `message` under this key with the scheme of its
  // type; kIntegrity otherwise. RSA keys below 2048 bits are refused.
  Status Verify(std::string_view message, std::string_view signature) const;
  // SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex (a stable key id).
  std::string Fingerprint() const;
  // The point of an ECDSA P-256 key; kInvalidInput for keys of other types.
  Result<EcP256Point> EcPoint() const;

  evp_pkey_st* native() const { return key_.get(); }
  PublicKey(std::shared_ptr<evp_pkey_st> key, KeyType type) : key_(std::move(key)), type_(type) {}

 private:
  std::shared_ptr<evp_pkey_st> key_;
  KeyType type_;
};

class PrivateKey {
 public:
  // RSA keys are 3072 bits.
  static Result<PrivateKey> Generate(KeyType type);
  // PKCS#8 or traditional PEM, unencrypted.
  static Result<PrivateKey> FromPem(std::string_view pem);
  static Result<PrivateKey> Load(const std::string& path);

  KeyType type() const { return type_; }
  // Unencrypted PKCS#8 PEM.
  Result<std::string> ToPem() const;
  // Writes the PKCS#8 PEM atomically with mode 0600.
  Status Save(const std::string& path) const;
  PublicKey Public() const;
  // Signs with the scheme of the key's type. A key held by another OpenSSL provider (the TPM's
  // tpm2 provider) is used through that provider, which keeps the private key.
  Result<std::string> Sign(std::string_view message) const;

  evp_pkey_st* native() const { return key_.get(); }
  PrivateKey(std::shared_ptr<evp_pkey_st> key, KeyType type) : key_(std::move(key)), type_(type) {}

 private:
  std::shared_ptr<evp_pkey_st> key_;
  KeyType type_;
};

// ECDSA P-256 signatures in the form JWS uses (RFC 7518 section 3.4): r and s as 32 big-endian
// bytes each, 64 bytes in all, where Sign and Verify use DER.
inline constexpr std::size_t kEcdsaP256RawSignatureBytes = 64;
// kInvalidInput unless `der` is exactly one DER ECDSA-Sig-Value whose r and s are non-negative
// and below 2^256.
Result<std::string> EcdsaP256SignatureToRaw(std::string_view der);
// kInvalidInput unless `raw` is exactly 64 bytes.
Result<std::string> EcdsaP256SignatureToDer(std::string_view raw);

}  // namespace fogkeep::crypto
