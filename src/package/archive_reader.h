// Streaming tar reader over libarchive, fed from a ByteSource: the one place where fogkeep
// reads archive structure. Formats: tar (ustar, pax, gnu); filters: none, gzip, zstd.
// Headers are reported as the archive states them; callers decide what is legal. Names are
// read under a UTF-8 LC_CTYPE (libarchive_locale.h), so pax names arrive byte for byte.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/error.h"
#include "package/stream.h"

struct archive;

namespace fogkeep::package {

enum class EntryType {
  kFile,
  kDirectory,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket,
  kOther
};
std::string_view EntryTypeName(EntryType type);

struct EntryHeader {
  std::string path;  // as stored, unvalidated
  EntryType type = EntryType::kOther;
  std::uint32_t mode = 0;   // permission bits
  std::int64_t size = 0;    // never negative; 0 when the header states none
  std::string link_target;  // symlink target or hard link source path
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  // Modification time, when the header has one. `nsec` is as stored: pax records may hold
  // values outside [0, 1e9).
  struct Time {
    std::int64_t sec = 0;
    long nsec = 0;
  };
  std::optional<Time> mtime;
};

struct ArchiveReaderOptions {
  // Refuse libarchive warnings on headers (a damaged header skipped, a name that does not
  // convert) instead of reporting the entry: for readers that must read an archive exactly.
  bool refuse_warnings = false;
  // Bytes asked of the source per read; smaller reads make compressed_bytes() finer-grained.
  std::size_t read_size = 256 << 10;
};

// One block of an entry's data: `bytes` belong at `offset` within the entry.
struct DataBlock {
  std::int64_t offset = 0;
  std::span<const char> bytes;
};

class ArchiveReader {
 public:
  // `source` must outlive the reader.
  // Fails with kInvalidInput when the source is not a tar archive (possibly compressed), with
  // the source's own error when reading it failed.
  static Result<std::unique_ptr<ArchiveReader>> Open(ByteSource& source,
                                                     const ArchiveReaderOptions& options = {});
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // The next entry's header, or std::nullopt at the end of the archive.
  Result<std::optional<EntryHeader>> Next();
  // Reads the current entry's data; 0 at its end.
  Result<std::size_t> Read(char* buf, std::size_t size);
  // The current entry's next data block, valid until the next call on the reader, or
  // std::nullopt at its end. Blocks may leave holes (sparse entries) and are not checked
  // against the header's size. Use either Read or ReadBlock for one entry, not both.
  Result<std::optional<DataBlock>> ReadBlock();
  // Bytes consumed from the source before and after decompression.
  std::uint64_t compressed_bytes() const;
  std::uint64_t uncompressed_bytes() const;
  // Whether the tar stream is behind a decompression filter (gzip, zstd).
  bool compressed() const;

 private:
  ArchiveReader(ByteSource& source, const ArchiveReaderOptions& options);
  static long ReadCallback(archive*, void* self, const void** buffer);
  Error LastError(std::string_view what) const;

  ByteSource& source_;
  const ArchiveReaderOptions options_;
  archive* archive_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  std::optional<Error> source_error_;  // set when the ByteSource failed mid-read
};

// The data of the reader's current entry as a ByteSource.
class EntrySource : public ByteSource {
 public:
  explicit EntrySource(ArchiveReader& reader) : reader_(reader) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override { return reader_.Read(buf, size); }

 private:
  ArchiveReader& reader_;
};

}  // namespace fogkeep::package
