#include "node/sss/file_key_sealer.h"

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "node/sss/private_file.h"

namespace fogkeep::node::sss {
namespace {

constexpr char kVersion = 1;
constexpr std::string_view kAadPrefix = "fogkeep file seal v1";

std::string Aad(std::string_view context) {
  std::string aad(kAadPrefix);
  aad.append(context);
  return aad;
}

}  // namespace

Result<std::shared_ptr<FileKeySealer>> FileKeySealer::Open(const std::string& path) {
  auto key = ReadPrivateFile(path, crypto::kAes256KeySize);
  if (!key && key.error().code() == ErrorCode::kNotFound) {
    std::string fresh = crypto::GenerateAes256Key();
    Status created = CreatePrivateFile(path, fresh);
    crypto::Wipe(fresh);
    FK_TRY_CTX(created, "create the sealing key");
    // Read back through the same checks, so a new file and an old one are held to one rule.
    key = ReadPrivateFile(path, crypto::kAes256KeySize);
  }
  if (!key) return Fail(std::move(key).error().With("sealing key"));
  if (key->size() != crypto::kAes256KeySize) {
    std::size_t size = key->size();
    crypto::Wipe(*key);
    return Fail(ErrorCode::kIntegrity, "sealing key " + path + " holds " + std::to_string(size) +
                                           " bytes, not a 32-byte key");
  }
  return std::shared_ptr<FileKeySealer>(new FileKeySealer(path, std::move(key).value()));
}

FileKeySealer::~FileKeySealer() { crypto::Wipe(key_); }

Result<std::string> FileKeySealer::Seal(std::string_view secret, std::string_view context) {
  std::string body = FK_TRY(crypto::AesGcmSeal(key_, secret, Aad(context)));
  return std::string(1, kVersion) + body;
}

Result<std::string> FileKeySealer::Unseal(std::string_view sealed, std::string_view context) {
  if (sealed.empty() || sealed[0] != kVersion) {
    return Fail(ErrorCode::kIntegrity, "not a blob sealed by a sealing-key file");
  }
  auto secret = crypto::AesGcmOpen(key_, sealed.substr(1), Aad(context));
  if (!secret) {
    return Fail(std::move(secret).error().With("unseal with the key in " + path_));
  }
  return secret;
}

}  // namespace fogkeep::node::sss
