// TpmKeySealer: seals with a P-256 key that lives in the node's TPM 2.0 (crypto/tpm.h).
//
// The key is generated inside the TPM on first use; its TSS2 PRIVATE KEY PEM (the private part
// encrypted by the TPM's storage hierarchy) is kept in a 0600 file. A blob is ECIES over that
// key with `context` as the AES-GCM associated data, so unsealing needs this very TPM: a copy
// of the database and of the PEM file is useless on another machine.
//
// The TPM is chosen by the tpm2 provider: TPM2OPENSSL_TCTI, else /dev/tpmrm0 (see crypto/tpm.h).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/tpm.h"
#include "node/sss/key_sealer.h"

namespace fogkeep::node::sss {

class TpmKeySealer final : public KeySealer {
 public:
  // Loads the TPM key whose PEM is at `path`, first generating one in the TPM and writing its
  // PEM (mode 0600, atomically) when the file is missing. kIntegrity when the file fails the
  // private-file checks (private_file.h) or holds no key this TPM can load; kUnavailable when
  // no TPM can be reached.
  static Result<std::shared_ptr<TpmKeySealer>> Open(const std::string& path);

  std::string_view kind() const override { return "tpm"; }
  Result<std::string> Seal(std::string_view secret, std::string_view context) override;
  Result<std::string> Unseal(std::string_view sealed, std::string_view context) override;

 private:
  TpmKeySealer(std::string path, crypto::TpmKey key)
      : path_(std::move(path)), key_(std::move(key)) {}

  const std::string path_;  // constant after construction
  // A TpmKey is one TPM connection: calls are serialised.
  std::mutex mu_;
  crypto::TpmKey key_;  // guarded by mu_
};

}  // namespace fogkeep::node::sss
