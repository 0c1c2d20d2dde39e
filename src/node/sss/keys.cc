#include "node/sss/keys.h"

#include <optional>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/keys.h"

namespace fogkeep::node::sss {
namespace {

constexpr char kRecordFormat = 1;
constexpr int kMinRsaBits = 2048;
// An RSA-16384 signature takes seconds of the node's CPU: imports stop at 4096 bits.
constexpr int kMaxRsaBits = 4096;

std::optional<crypto::KeyType> AsymmetricType(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kRsa:
      return crypto::KeyType::kRsa;
    case KeyAlgorithm::kEcdsaP256:
      return crypto::KeyType::kEcdsaP256;
    case KeyAlgorithm::kEd25519:
      return crypto::KeyType::kEd25519;
    case KeyAlgorithm::kAes256:
      return std::nullopt;
  }
  return std::nullopt;
}

KeyAlgorithm AlgorithmOf(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kRsa:
      return KeyAlgorithm::kRsa;
    case crypto::KeyType::kEcdsaP256:
      return KeyAlgorithm::kEcdsaP256;
    case crypto::KeyType::kEd25519:
      return KeyAlgorithm::kEd25519;
  }
  return KeyAlgorithm::kRsa;
}

std::string KeyName(std::string_view app, std::string_view name) {
  return "key '" + std::string(name) + "' of app '" + std::string(app) + "'";
}

}  // namespace

std::string_view KeyAlgorithmName(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kRsa:
      return "rsa";
    case KeyAlgorithm::kEcdsaP256:
      return "ecdsa-p256";
    case KeyAlgorithm::kEd25519:
      return "ed25519";
    case KeyAlgorithm::kAes256:
      return "aes-256";
  }
  return "unknown";
}

Result<KeyAlgorithm> ParseKeyAlgorithm(std::string_view name) {
  for (KeyAlgorithm algorithm : {KeyAlgorithm::kRsa, KeyAlgorithm::kEcdsaP256,
                                 KeyAlgorithm::kEd25519, KeyAlgorithm::kAes256}) {
    if (name == KeyAlgorithmName(algorithm)) return algorithm;
  }
  return Fail(ErrorCode::kInvalidInput, "unknown key algorithm \"" + std::string(name) +
                                            "\" (expected rsa, ecdsa-p256, ed25519 or aes-256)");
}

// A key as held in memory for one operation; the secret bytes are wiped when it goes.
struct KeyService::Material {
  KeyAlgorithm algorithm = KeyAlgorithm::kAes256;
  std::optional<crypto::PrivateKey> private_key;  // asymmetric keys
  std::string secret;                             // AES keys

  Material() = default;
  Material(Material&&) = default;
  Material& operator=(Material&&) = default;
  ~Material() { crypto::Wipe(secret); }

  // The key record's plaintext (see keys.h).
  Result<std::string> Encode() const {
    std::string out{kRecordFormat, static_cast<char>(algorithm)};
    if (private_key) {
      std::string pem = FK_TRY(private_key->ToPem());
      out += pem;
      crypto::Wipe(pem);
    } else {
      out += secret;
    }
    return out;
  }

  // Parses a key record's plaintext, which the store has authenticated; a record that still
  // does not parse was not written by this class, so it reads as tampering.
  static Result<Material> Decode(std::string_view record) {
    Material m;
    if (record.size() < 2 || record[0] != kRecordFormat ||
        record[1] < static_cast<char>(KeyAlgorithm::kRsa) ||
        record[1] > static_cast<char>(KeyAlgorithm::kAes256)) {
      return Fail(ErrorCode::kIntegrity, "not a key record of a known format");
    }
    m.algorithm = static_cast<KeyAlgorithm>(record[1]);
    std::string_view body = record.substr(2);
    auto type = AsymmetricType(m.algorithm);
    if (!type) {
      if (body.size() != crypto::kAes256KeySize) {
        return Fail(ErrorCode::kIntegrity, "the AES key record is not 32 bytes");
      }
      m.secret.assign(body);
      return m;
    }
    auto key = crypto::PrivateKey::FromPem(body);
    if (!key || key->type() != *type) {
      return Fail(ErrorCode::kIntegrity, "the key record does not hold a " +
                                             std::string(KeyAlgorithmName(m.algorithm)) + " key");
    }
    m.private_key = std::move(key).value();
    return m;
  }
};

Result<KeyService::Material> KeyService::Load(std::string_view app, std::string_view name) {
  std::string record = FK_TRY(store_.GetKey(KeyRecordAccess(), app, name));
  const std::string digest = crypto::Sha256Hex(record);
  {
    std::lock_guard lock(parsed_mu_);
    for (const ParsedKey& parsed : parsed_) {
      if (parsed.digest == digest && parsed.app == app && parsed.name == name) {
        crypto::Wipe(record);
        Material material;
        material.algorithm = AlgorithmOf(parsed.key.type());
        material.private_key = parsed.key;
        return material;
      }
    }
  }
  auto material = Material::Decode(record);
  crypto::Wipe(record);
  if (!material) return Fail(std::move(material).error().With(KeyName(app, name)));
  if (material->private_key) {
    std::lock_guard lock(parsed_mu_);
    if (parsed_.size() >= kParsedKeys) parsed_.pop_front();
    parsed_.push_back({std::string(app), std::string(name), digest, *material->private_key});
  }
  return material;
}

Result<KeyService::Material> KeyService::LoadFor(std::string_view app, std::string_view name,
                                                 Use use, std::string_view verb) {
  Material material = FK_TRY(Load(app, name));
  if (use == Use::kSigning && !material.private_key) {
    return Fail(ErrorCode::kInvalidInput,
                KeyName(app, name) + " is an AES key: it does not " + std::string(verb));
  }
  if (use == Use::kEncryption && material.private_key) {
    return Fail(ErrorCode::kInvalidInput, KeyName(app, name) + " is a signing key: only aes-256 " +
                                              "keys " + std::string(verb));
  }
  return material;
}

void KeyService::Forget(std::string_view app, std::optional<std::string_view> name) {
  std::lock_guard lock(parsed_mu_);
  std::erase_if(parsed_, [&](const ParsedKey& parsed) {
    return parsed.app == app && (!name || parsed.name == *name);
  });
}

Result<KeyInfo> KeyService::Store(std::string_view app, std::string_view name,
                                  const Material& material) {
  std::string record = FK_TRY(material.Encode());
  Status stored = store_.PutKey(KeyRecordAccess(), app, name, record, WriteMode::kCreateOnly);
  crypto::Wipe(record);
  FK_TRY(stored);
  KeyInfo info{std::string(name), material.algorithm, {}};
  if (material.private_key) info.public_key_pem = FK_TRY(material.private_key->Public().ToPem());
  return info;
}

Result<KeyInfo> KeyService::Generate(std::string_view app, std::string_view name,
                                     KeyAlgorithm algorithm) {
  // Checked before the (slow, for RSA) generation; the store checks them again.
  FK_TRY(ValidateAppId(app));
  FK_TRY(ValidateRecordName(name));
  // A taken name is refused before the generation too, so asking again and again for an RSA
  // key under an existing name costs nothing.
  for (const RecordInfo& key : FK_TRY(List(app))) {
    if (key.name == name) return Fail(ErrorCode::kConflict, KeyName(app, name) + " already exists");
  }
  Material material;
  material.algorithm = algorithm;
  if (auto type = AsymmetricType(algorithm)) {
    material.private_key = FK_TRY(crypto::PrivateKey::Generate(*type));
  } else {
    material.secret = crypto::GenerateAes256Key();
  }
  return Store(app, name, material);
}

Result<KeyInfo> KeyService::Import(std::string_view app, std::string_view name,
                                   std::string_view private_key_pem) {
  FK_TRY(ValidateAppId(app));
  FK_TRY(ValidateRecordName(name));
  const std::string context = "import " + KeyName(app, name);
  auto key = crypto::PrivateKey::FromPem(private_key_pem);
  if (!key && key.error().code() == ErrorCode::kInvalidInput) {
    // What crypto says before the OpenSSL error queue ("no PEM private key", "unsupported EC
    // curve ...") is what an app can act on; the queue's reason codes are not.
    const std::string& message = key.error().message();
    return Fail(ErrorCode::kInvalidInput,
                context + ": " + message.substr(0, message.find(": error:")));
  }
  if (!key) return Fail(std::move(key).error().With(context));
  if (key->type() == crypto::KeyType::kRsa &&
      (key->Public().bits() < kMinRsaBits || key->Public().bits() > kMaxRsaBits)) {
    return Fail(ErrorCode::kInvalidInput,
                context + ": an RSA key of " + std::to_string(key->Public().bits()) +
                    " bits is outside 2048-4096 (larger keys make every signature slow)");
  }
  Material material;
  material.algorithm = AlgorithmOf(key->type());
  material.private_key = std::move(key).value();
  return Store(app, name, material);
}

Result<KeyInfo> KeyService::Describe(std::string_view app, std::string_view name) {
  Material material = FK_TRY(Load(app, name));
  KeyInfo info{std::string(name), material.algorithm, {}};
  if (material.private_key) info.public_key_pem = FK_TRY(material.private_key->Public().ToPem());
  return info;
}

Result<std::vector<RecordInfo>> KeyService::List(std::string_view app) {
  return store_.List(app, RecordKind::kKey);
}

Status KeyService::Delete(std::string_view app, std::string_view name) {
  FK_TRY(store_.Delete(app, RecordKind::kKey, name));
  Forget(app, name);
  return {};
}

Result<std::string> KeyService::Sign(std::string_view app, std::string_view name,
                                     std::string_view message) {
  const Material material = FK_TRY(LoadFor(app, name, Use::kSigning, "sign"));
  return material.private_key->Sign(message);
}

Result<bool> KeyService::Verify(std::string_view app, std::string_view name,
                                std::string_view message, std::string_view signature) {
  const Material material = FK_TRY(LoadFor(app, name, Use::kSigning, "verify"));
  // Only now is kIntegrity the signature's: a tampered key record failed in Load above.
  Status verified = material.private_key->Public().Verify(message, signature);
  if (!verified && verified.error().code() != ErrorCode::kIntegrity) {
    return Fail(std::move(verified).error());
  }
  return verified.has_value();
}

Result<std::string> KeyService::Encrypt(std::string_view app, std::string_view name,
                                        std::string_view plaintext, std::string_view aad) {
  const Material material = FK_TRY(LoadFor(app, name, Use::kEncryption, "encrypt"));
  return crypto::AesGcmSeal(material.secret, plaintext, aad);
}

Result<std::string> KeyService::Decrypt(std::string_view app, std::string_view name,
                                        std::string_view sealed, std::string_view aad) {
  const Material material = FK_TRY(LoadFor(app, name, Use::kEncryption, "decrypt"));
  auto plaintext = crypto::AesGcmOpen(material.secret, sealed, aad);
  if (!plaintext)
    return Fail(std::move(plaintext).error().With("decrypt with " + KeyName(app, name)));
  return plaintext;
}

}  // namespace fogkeep::node::sss
