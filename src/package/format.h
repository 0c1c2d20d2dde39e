// The v1 package format's fixed names and limits (DESIGN.md, "Package format").
#pragma once

#include <cstdint>
#include <string_view>

#include "package/rootfs.h"

namespace fogkeep::package {

inline constexpr std::string_view kDescriptorMember = "package.yaml";
inline constexpr std::string_view kArtifactsMember = "artifacts.tar.gz";
inline constexpr std::string_view kConfigMember = "package_config.ini";
inline constexpr std::string_view kManifestMember = "package.mf";
inline constexpr std::string_view kCertificateMember = "package.cert";
inline constexpr std::string_view kSignatureMember = "package.sig";

// Members covered by the signature through the manifest, versus the signature's own members.
inline bool IsSignatureMember(std::string_view name) {
  return name == kManifestMember || name == kCertificateMember || name == kSignatureMember;
}

struct PackageLimits {
  std::uint64_t max_package_bytes = 8ULL << 30;    // the whole (possibly compressed) package
  std::uint64_t max_artifacts_bytes = 4ULL << 30;  // artifacts.tar.gz as stored
  std::uint64_t max_small_member_bytes = 1 << 20;  // every other member is held in memory
  std::uint64_t max_members = 32;
  ExtractLimits rootfs;
};

}  // namespace fogkeep::package
