// package.mf: one line per package member (other than package.mf, package.cert and
// package.sig), "SHA256(<name>)= <64 lowercase hex>\n", sorted by name, names unique.
// Legacy IOx manifests use "SHA1(<name>)= <40 hex>"; they are read but are never accepted
// for a signed package (see Manifest::legacy()).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::package {

enum class ManifestDigest { kSha256, kSha1 };

struct ManifestEntry {
  std::string name;
  ManifestDigest digest = ManifestDigest::kSha256;
  std::string hex;  // lowercase
};

class Manifest {
 public:
  static constexpr std::size_t kMaxBytes = 64 * 1024;

  // Strict parse. SHA256 manifests must be sorted with unique names; every line must end in
  // "\n" (IOx legacy SHA1 manifests may omit the final one). Member names must be plain file
  // names (no '/', not ".", "..", package.mf, package.cert or package.sig). Mixing SHA1 and
  // SHA256 lines is refused.
  static Result<Manifest> Parse(std::string_view text);
  // Builds a SHA-256 manifest from entries in any order (sorted here).
  static Result<Manifest> FromEntries(std::vector<ManifestEntry> entries);

  std::string Serialize() const;
  const std::vector<ManifestEntry>& entries() const { return entries_; }
  const ManifestEntry* Find(std::string_view name) const;
  bool legacy() const {
    return !entries_.empty() && entries_.front().digest == ManifestDigest::kSha1;
  }

 private:
  std::vector<ManifestEntry> entries_;
};

}  // namespace fogkeep::package
