// Streaming tar reader over libarchive, fed from a ByteSource: the one place where fogkeep
// reads archive structure. Formats: tar (ustar, pax, gnu); filters: none, gzip, zstd.
// Headers are reported as the archive states them; callers decide what is legal.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "package/stream.h"

struct archive;

namespace fogkeep::package {

enum class EntryType { kFile, kDirectory, kSymlink, kHardlink, kCharDevice, kBlockDevice, kFifo, kSocket, kOther };
std::string_view EntryTypeName(EntryType type);

struct EntryHeader {
  std::string path;  // as stored, unvalidated
  EntryType type = EntryType::kOther;
  std::uint32_t mode = 0;  // permission bits
  std::int64_t size = 0;
  std::string link_target;  // symlink target or hard link source path
  std::int64_t uid = 0;
  std::int64_t gid = 0;
};

class ArchiveReader {
 public:
  // `source` must outlive the reader.
  static Result<std::unique_ptr<ArchiveReader>> Open(ByteSource& source);
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // The next entry's header, or std::nullopt at the end of the archive.
  Result<std::optional<EntryHeader>> Next();
  // Reads the current entry's data; 0 at its end.
  Result<std::size_t> Read(char* buf, std::size_t size);
  // Bytes consumed from the source before and after decompression.
  std::uint64_t compressed_bytes() const;
  std::uint64_t uncompressed_bytes() const;

 private:
  explicit ArchiveReader(ByteSource& source);
  static long ReadCallback(archive*, void* self, const void** buffer);
  Error LastError(std::string_view what) const;

  ByteSource& source_;
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
