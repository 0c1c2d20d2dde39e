#include "node/sss/tpm_key_sealer.h"

#include "node/sss/private_file.h"

namespace fogkeep::node::sss {
namespace {

// A TSS2 PEM of a P-256 key is under 1 KiB.
constexpr std::size_t kMaxPemBytes = 16 << 10;

}  // namespace

Result<std::shared_ptr<TpmKeySealer>> TpmKeySealer::Open(const std::string& path) {
  auto pem = ReadPrivateFile(path, kMaxPemBytes);
  if (!pem && pem.error().code() == ErrorCode::kNotFound) {
    crypto::TpmKey fresh = FK_TRY_CTX(crypto::TpmKey::Generate(), "create the TPM sealing key");
    FK_TRY_CTX(CreatePrivateFile(path, fresh.pem()), "create the TPM sealing key");
    pem = ReadPrivateFile(path, kMaxPemBytes);
  }
  if (!pem) return Fail(std::move(pem).error().With("TPM sealing key"));
  crypto::TpmKey key = FK_TRY_CTX(crypto::TpmKey::Load(*pem), "TPM sealing key " + path);
  return std::shared_ptr<TpmKeySealer>(new TpmKeySealer(path, std::move(key)));
}

Result<std::string> TpmKeySealer::Seal(std::string_view secret, std::string_view context) {
  std::lock_guard lock(mu_);
  return key_.Seal(secret, context);
}

Result<std::string> TpmKeySealer::Unseal(std::string_view sealed, std::string_view context) {
  std::lock_guard lock(mu_);
  auto secret = key_.Unseal(sealed, context);
  if (!secret) return Fail(std::move(secret).error().With("unseal with the TPM key " + path_));
  return secret;
}

}  // namespace fogkeep::node::sss
