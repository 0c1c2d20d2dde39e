// FileKeySealer: seals with a random AES-256 key kept in a file, for nodes without a TPM.
//
// The file holds the 32 key bytes and nothing else, mode 0600, owned by fogkeepd's user. A
// blob is 0x01 || AES-256-GCM(file key, secret, aad = "fogkeep file seal v1" || context).
// Protection is the file system's: whoever can read the file and the database can read every
// app's records. Prefer TpmKeySealer where the node has a TPM.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "node/sss/key_sealer.h"

namespace fogkeep::node::sss {

class FileKeySealer final : public KeySealer {
 public:
  // Opens the sealing key at `path`, first creating it (32 random bytes, mode 0600, written
  // atomically) when the file is missing. kIntegrity when the file is not a regular file owned
  // by this user with no group or other permission bits, or is not 32 bytes long.
  static Result<std::shared_ptr<FileKeySealer>> Open(const std::string& path);

  ~FileKeySealer() override;  // wipes the key from memory
  FileKeySealer(const FileKeySealer&) = delete;
  FileKeySealer& operator=(const FileKeySealer&) = delete;

  std::string_view kind() const override { return "file"; }
  Result<std::string> Seal(std::string_view secret, std::string_view context) override;
  Result<std::string> Unseal(std::string_view sealed, std::string_view context) override;

 private:
  FileKeySealer(std::string path, std::string key) : path_(std::move(path)), key_(std::move(key)) {}

  // Constant after construction.
  const std::string path_;
  std::string key_;
};

}  // namespace fogkeep::node::sss
