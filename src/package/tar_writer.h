// Writing tar archives (package members, rootfs tars, artifacts.tar.gz) with libarchive.
// Output is deterministic: entries appear in the order added, trees are walked in sorted
// order, and ownership is normalised to 0:0 (root inside the container).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "package/stream.h"

struct archive;

namespace fogkeep::package {

enum class Compression { kNone, kGzip };

class TarWriter {
 public:
  // Creates `path` (mode 0644, truncating) and writes a pax-restricted tar.
  static Result<TarWriter> Create(const std::string& path, Compression compression);
  TarWriter(TarWriter&&) noexcept;
  TarWriter& operator=(TarWriter&&) noexcept;
  ~TarWriter();

  Status AddFile(std::string_view name, std::string_view data, mode_t mode = 0644);
  // Streams the regular file at `source_path` into member `name`.
  Status AddFileFromPath(std::string_view name, const std::string& source_path, mode_t mode = 0644);
  // Streams exactly `size` bytes of `source` into member `name`; a short source is an error.
  Status AddFileFromSource(std::string_view name, std::uint64_t size, ByteSource& source,
                           mode_t mode = 0644);
  // Adds everything below `dir` (directories, regular files, symlinks; hard links as links)
  // with member names relative to `dir`. Devices, FIFOs and sockets are refused.
  Status AddTree(const std::string& dir);
  // Flushes and closes; the archive is complete only after Close() returns OK.
  Status Close();

 private:
  struct Output;
  explicit TarWriter(archive* a);
  archive* archive_ = nullptr;
  // Where archive_ writes; owned by archive_ (freed with it). After a failed Add it drops
  // everything, so an abandoned archive never gets the end marker of a complete one.
  Output* output_ = nullptr;
};

// Flattens an OCI image layout (as skopeo/umoci write it: oci-layout, index.json, blobs/)
// into `dest_dir`: resolves the single image manifest of index.json (or the one tagged `tag`
// when given), verifies every blob's sha256 digest, and applies the layers in order with
// whiteouts. The JSON and the layers are hostile input.
Status FlattenOciLayout(const std::string& layout_dir, const std::string& dest_dir,
                        std::string_view tag = {});

}  // namespace fogkeep::package
