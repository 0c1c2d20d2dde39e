// Building an unsigned package from a directory:
//
//   DIR/package.yaml           the descriptor (required)
//   DIR/package_config.ini     the app's default configuration (optional)
//   and the rootfs, the first of:
//   DIR/<app.startup.rootfs>   a rootfs tar, used as it is
//   DIR/rootfs/                a directory tree, archived with root ownership
//   DIR/image/                 an OCI image layout (skopeo/umoci): layers flattened, whiteouts
//                              applied
#pragma once

#include <string>

#include "core/error.h"
#include "package/descriptor.h"

namespace fogkeep::package {

struct BuildResult {
  Descriptor descriptor;
  std::string rootfs_source;  // "rootfs.tar", "rootfs/ directory", "OCI image layout image/"
  std::uint64_t package_bytes = 0;
};

Result<BuildResult> BuildPackage(const std::string& dir, const std::string& output);

}  // namespace fogkeep::package
