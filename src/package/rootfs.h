// Safe extraction of a rootfs tar stream beneath a directory.
//
// Contract: nothing is ever created, modified or followed outside `root`. Every path is
// resolved component by component beneath the root without following symlinks
// (fs::OpenBeneath / fs::MakeDirsBeneath), so a symlink planted earlier in the same archive
// cannot redirect a later entry. Symlinks themselves are kept verbatim whatever they point to
// (`bin/sh -> /bin/busybox` is legal: it is resolved later inside the container, never here).
// Hard links must name a regular file already extracted beneath the root. Absolute paths,
// "..", device nodes and FIFOs are refused with kInvalidInput; limits give kLimit. On error the
// partial tree is left for the caller to remove (it owns the staging directory).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/error.h"
#include "package/stream.h"

namespace fogkeep::package {

struct ExtractLimits {
  std::uint64_t max_total_bytes = 4ULL << 30;  // sum of regular file sizes
  std::uint64_t max_entries = 100'000;
  std::size_t max_path_length = 4096;
  // Uncompressed bytes per compressed byte; checked once past `ratio_floor_bytes`, and only
  // when ExtractOptions::compressed_consumed is set.
  double max_ratio = 200.0;
  std::uint64_t ratio_floor_bytes = 16ULL << 20;
};

struct ExtractOptions {
  ExtractLimits limits;
  // When set, files are chowned to (tar uid + shift, tar gid + shift): the rootfs then belongs
  // to the user-namespace range of the container. When unset, ownership is left to the caller.
  std::optional<std::uint32_t> id_shift;
  // Apply OCI whiteouts (".wh.name" deletes name, ".wh..wh..opq" empties a directory): used
  // when flattening image layers, never for package rootfs tars.
  bool apply_whiteouts = false;
  // Bytes of compressed input consumed so far, for the ratio limit (optional).
  std::function<std::uint64_t()> compressed_consumed;
};

struct ExtractStats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // regular-file bytes written
};

// Extracts the tar (plain, or gzip/zstd compressed) read from `source` beneath `root_dirfd`.
Result<ExtractStats> ExtractTar(ByteSource& source, int root_dirfd, const ExtractOptions& options);

}  // namespace fogkeep::package
