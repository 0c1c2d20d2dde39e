// The Secure Storage Service as fogkeepd configures and opens it: the `sss:` section of the
// daemon's config file, and the store under the data directory.
//
// Layout under <data-dir>/sss/ (0711, so apps' user namespaces pass through to sockets/; the
// files are 0600):
//   store.db (+ -wal, .lock)   the SecureStore
//   sealing.key                the file sealer's key (sealer: file), 0600
//   tpm-key.pem                the TPM sealer's key blob (sealer: tpm), 0600
//   sockets/<app>/sss.sock     each app's socket (app_sockets.h), 0711 directories
#pragma once

#include <memory>
#include <string>

#include "core/error.h"
#include "core/yaml.h"
#include "node/sss/routes.h"
#include "node/sss/secure_store.h"

namespace fogkeep::node::sss {

struct StorageSettings {
  bool enabled = true;
  // What protects the store's key-encryption key: "file" (a 0600 key file) or "tpm" (a key
  // inside the TPM 2.0, through OpenSSL's tpm2 provider; TPM2OPENSSL_TCTI picks the TPM).
  std::string sealer = "file";
  Quotas quotas;
};

// Overlays the `sss:` mapping (enabled, sealer, max-records, max-bytes, max-record-bytes) on
// `settings`. Unknown keys and out-of-range values are kInvalidInput naming the line.
Result<StorageSettings> ParseStorageSettings(const yaml::Node& node, StorageSettings settings);

// <data_dir>/sss/sockets: where AppSockets keeps the apps' sockets.
std::string SocketsRoot(const std::string& data_dir);

// Opens (creating on first use) the node's store with the configured sealer. kIntegrity when
// the sealer cannot unseal the store's key (another sealer, another TPM, an altered file).
Result<std::shared_ptr<StorageServices>> OpenStorage(const StorageSettings& settings,
                                                     const std::string& data_dir);

}  // namespace fogkeep::node::sss
