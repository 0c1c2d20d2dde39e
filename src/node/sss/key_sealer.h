// KeySealer: what protects the Secure Storage Service's key-encryption key (KEK) at rest.
//
// The store keeps its KEK sealed in its own database and asks the sealer to unseal it once,
// when it opens. Everything else (each app's data key, every record) hangs off that KEK, so
// the sealer is the one thing a thief of the database also needs. Two implementations pass
// the same conformance suite (tests/unit/node_sss/key_sealer_test.cc):
//   FileKeySealer  a random AES-256 sealing key in a 0600 file (file_key_sealer.h)
//   TpmKeySealer   a P-256 key inside a TPM 2.0, via OpenSSL's tpm2 provider (tpm_key_sealer.h)
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::node::sss {

class KeySealer {
 public:
  virtual ~KeySealer() = default;

  // "file" or "tpm", for messages.
  virtual std::string_view kind() const = 0;

  // Encrypts and authenticates `secret` (a key: at most a few hundred bytes), bound to
  // `context`. Only this sealer, given the same context, can unseal the result. Randomised:
  // two seals of one secret differ. Safe to call from several threads.
  virtual Result<std::string> Seal(std::string_view secret, std::string_view context) = 0;

  // The secret that Seal bound to `context`. kIntegrity when the blob was sealed by another
  // key or under another context, or was altered; nothing of it is released then.
  // kUnavailable when the sealer's device cannot be reached. Safe to call from several threads.
  virtual Result<std::string> Unseal(std::string_view sealed, std::string_view context) = 0;
};

}  // namespace fogkeep::node::sss
