// KeyService: an app's non-exportable keys, kept as key records of the SecureStore.
//
// Private and secret key material goes in and never comes out: no method returns it, and the
// store refuses key records to everyone but this class. What an app gets is the public key,
// signatures, verification, and AES-256-GCM encryption and decryption.
//
// Schemes are fixed per algorithm (crypto/keys.h): RSA PKCS#1 v1.5 and ECDSA P-256 with
// SHA-256 (DER signatures), pure Ed25519; AES-256-GCM with a random 96-bit nonce, returned as
// nonce || ciphertext || tag (crypto/aead.h), with the caller's associated data. As with any
// AES-GCM key under random nonces, an app should replace an AES key before 2^32 encryptions.
//
// A key record's plaintext is: format byte 1, algorithm byte, then the material (PKCS#8 PEM,
// or the 32 raw bytes of an AES key). It is authenticated by the store, and parsed only after.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "node/sss/secure_store.h"

namespace fogkeep::node::sss {

enum class KeyAlgorithm {
  kRsa = 1,  // generated at 3072 bits; imported at 2048 bits or more
  kEcdsaP256 = 2,
  kEd25519 = 3,
  kAes256 = 4,
};
// "rsa", "ecdsa-p256", "ed25519", "aes-256".
std::string_view KeyAlgorithmName(KeyAlgorithm algorithm);
Result<KeyAlgorithm> ParseKeyAlgorithm(std::string_view name);

struct KeyInfo {
  std::string name;
  KeyAlgorithm algorithm = KeyAlgorithm::kAes256;
  std::string public_key_pem;  // SubjectPublicKeyInfo PEM; empty for AES keys
};

class KeyService {
 public:
  // `store` must outlive the service.
  explicit KeyService(SecureStore& store) : store_(store) {}

  // Creates a new key named `name`. kConflict when the app already has a key of that name
  // (delete it first: a key is never replaced by accident).
  Result<KeyInfo> Generate(std::string_view app, std::string_view name, KeyAlgorithm algorithm);
  // Stores an unencrypted PEM private key (PKCS#8 or traditional): RSA of at least 2048 bits,
  // ECDSA P-256 or Ed25519. kInvalidInput, saying why, for anything else; kConflict as above.
  Result<KeyInfo> Import(std::string_view app, std::string_view name,
                         std::string_view private_key_pem);
  Result<KeyInfo> Describe(std::string_view app, std::string_view name);
  // Names and versions of the app's keys (no material).
  Result<std::vector<RecordInfo>> List(std::string_view app);
  Status Delete(std::string_view app, std::string_view name);

  // The signature of `message` (kInvalidInput for an AES key).
  Result<std::string> Sign(std::string_view app, std::string_view name, std::string_view message);
  // OK when `signature` verifies; kIntegrity when it does not.
  Status Verify(std::string_view app, std::string_view name, std::string_view message,
                std::string_view signature);
  // nonce || ciphertext || tag of `plaintext` under the AES key `name`, binding `aad`.
  Result<std::string> Encrypt(std::string_view app, std::string_view name,
                              std::string_view plaintext, std::string_view aad);
  // The plaintext; kIntegrity when the blob or `aad` do not authenticate.
  Result<std::string> Decrypt(std::string_view app, std::string_view name, std::string_view sealed,
                              std::string_view aad);

 private:
  struct Material;  // a decoded key record (keys.cc)
  Result<Material> Load(std::string_view app, std::string_view name);
  Result<KeyInfo> Store(std::string_view app, std::string_view name, const Material& material);

  SecureStore& store_;
};

}  // namespace fogkeep::node::sss
