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

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"
#include "node/sss/secure_store.h"

namespace fogkeep::node::sss {

enum class KeyAlgorithm {
  kRsa = 1,  // generated at 3072 bits; imported at 2048 to 4096 bits
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
  // Stores an unencrypted PEM private key (PKCS#8 or traditional): RSA of 2048 to 4096 bits,
  // ECDSA P-256 or Ed25519. kInvalidInput, saying why, for anything else; kConflict as above.
  Result<KeyInfo> Import(std::string_view app, std::string_view name,
                         std::string_view private_key_pem);
  Result<KeyInfo> Describe(std::string_view app, std::string_view name);
  // Names and versions of the app's keys (no material).
  Result<std::vector<RecordInfo>> List(std::string_view app);
  Status Delete(std::string_view app, std::string_view name);

  // The signature of `message` (kInvalidInput for an AES key).
  Result<std::string> Sign(std::string_view app, std::string_view name, std::string_view message);
  // Whether `signature` verifies. Errors are the key's (missing, tampered, an AES key), never
  // the signature's.
  Result<bool> Verify(std::string_view app, std::string_view name, std::string_view message,
                      std::string_view signature);
  // nonce || ciphertext || tag of `plaintext` under the AES key `name`, binding `aad`.
  Result<std::string> Encrypt(std::string_view app, std::string_view name,
                              std::string_view plaintext, std::string_view aad);
  // The plaintext; kIntegrity when the blob or `aad` do not authenticate.
  Result<std::string> Decrypt(std::string_view app, std::string_view name, std::string_view sealed,
                              std::string_view aad);

  // Drops the parsed keys it keeps of `app` (of its key `name` only, when given): after the
  // app's records are destroyed, nothing of its keys stays in memory either.
  void Forget(std::string_view app, std::optional<std::string_view> name = std::nullopt);

 private:
  struct Material;  // a decoded key record (keys.cc)
  Result<Material> Load(std::string_view app, std::string_view name);
  // Load, refusing (kInvalidInput, naming `verb`) a key that cannot serve `use`.
  enum class Use { kSigning, kEncryption };
  Result<Material> LoadFor(std::string_view app, std::string_view name, Use use,
                           std::string_view verb);
  Result<KeyInfo> Store(std::string_view app, std::string_view name, const Material& material);

  SecureStore& store_;

  // Parsed asymmetric keys by (app, name, SHA-256 of the record): parsing a PEM key costs
  // about fifteen times an ECDSA signature. Every operation still reads the record from the
  // store, which authenticates it; the cache spares only the parse, and a record that changed
  // misses it. At most kParsedKeys, oldest out first.
  struct ParsedKey {
    std::string app;
    std::string name;
    std::string digest;
    crypto::PrivateKey key;
  };
  static constexpr std::size_t kParsedKeys = 64;
  std::mutex parsed_mu_;
  std::deque<ParsedKey> parsed_;  // guarded by parsed_mu_
};

}  // namespace fogkeep::node::sss
