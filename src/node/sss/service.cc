#include "node/sss/service.h"

#include <charconv>
#include <limits>

#include "core/fs.h"
#include "node/sss/file_key_sealer.h"
#include "node/sss/tpm_key_sealer.h"

namespace fogkeep::node::sss {
namespace {

Result<std::uint64_t> Positive(const std::string& text, const std::string& where,
                               std::uint64_t max) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > max) {
    return Fail(ErrorCode::kInvalidInput,
                where + " must be an integer from 1 to " + std::to_string(max));
  }
  return value;
}

std::string StorageDir(const std::string& data_dir) { return data_dir + "/sss"; }

}  // namespace

Result<StorageSettings> ParseStorageSettings(const yaml::Node& node, StorageSettings settings) {
  if (node.IsNull()) return settings;
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidInput,
                "sss must be a mapping (enabled, sealer, max-records, max-bytes, "
                "max-record-bytes)");
  }
  for (const auto& [key, value] : node.entries()) {
    const std::string where = "sss." + key + " (line " + std::to_string(value.line()) + ")";
    if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
    const std::string& v = value.scalar();
    if (key == "enabled") {
      if (v != "true" && v != "false") {
        return Fail(ErrorCode::kInvalidInput, where + " must be true or false");
      }
      settings.enabled = v == "true";
    } else if (key == "sealer") {
      if (v != "file" && v != "tpm") {
        return Fail(ErrorCode::kInvalidInput, where + " must be file or tpm, not " + v);
      }
      settings.sealer = v;
    } else if (key == "max-records") {
      settings.quotas.max_records = FK_TRY(Positive(v, where, 1'000'000));
    } else if (key == "max-bytes") {
      settings.quotas.max_total_bytes = FK_TRY(Positive(v, where, 1ull << 40));
    } else if (key == "max-record-bytes") {
      // One record travels in one request body: as base64 in JSON for the key operations,
      // whose JSON documents are parsed up to 8 MiB (api::ParseJson).
      settings.quotas.max_record_bytes = FK_TRY(Positive(v, where, 6ull << 20));
    } else {
      return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    }
  }
  return settings;
}

std::string SocketsRoot(const std::string& data_dir) { return StorageDir(data_dir) + "/sockets"; }

Result<std::shared_ptr<StorageServices>> OpenStorage(const StorageSettings& settings,
                                                     const std::string& data_dir) {
  const std::string dir = StorageDir(data_dir);
  FK_TRY(fs::MakeDirs(dir, 0711));
  std::shared_ptr<KeySealer> sealer;
  if (settings.sealer == "tpm") {
    sealer = FK_TRY_CTX(TpmKeySealer::Open(dir + "/tpm-key.pem"), "secure storage sealer");
  } else {
    sealer = FK_TRY_CTX(FileKeySealer::Open(dir + "/sealing.key"), "secure storage sealer");
  }
  std::shared_ptr<SecureStore> store = FK_TRY_CTX(
      SecureStore::Open(dir + "/store.db", std::move(sealer), settings.quotas), "secure storage");
  return std::make_shared<StorageServices>(std::move(store));
}

}  // namespace fogkeep::node::sss
