#include "package/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>

#include "package/libarchive_locale.h"

namespace fogkeep::package {

std::string_view EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kFile:
      return "regular file";
    case EntryType::kDirectory:
      return "directory";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kHardlink:
      return "hard link";
    case EntryType::kCharDevice:
      return "character device";
    case EntryType::kBlockDevice:
      return "block device";
    case EntryType::kFifo:
      return "FIFO";
    case EntryType::kSocket:
      return "socket";
    case EntryType::kOther:
      return "unknown entry type";
  }
  return "unknown entry type";
}

ArchiveReader::ArchiveReader(ByteSource& source, const ArchiveReaderOptions& options)
    : source_(source),
      options_{.refuse_warnings = options.refuse_warnings,
               .read_size = std::max<std::size_t>(options.read_size, 1)},
      buffer_(std::make_unique<char[]>(options_.read_size)) {}

ArchiveReader::~ArchiveReader() {
  if (archive_ != nullptr) archive_read_free(archive_);
}

long ArchiveReader::ReadCallback(archive*, void* self, const void** buffer) {
  auto* reader = static_cast<ArchiveReader*>(self);
  auto n = reader->source_.Read(reader->buffer_.get(), reader->options_.read_size);
  if (!n) {
    reader->source_error_ = n.error();
    return -1;
  }
  *buffer = reader->buffer_.get();
  return static_cast<long>(*n);
}

Error ArchiveReader::LastError(std::string_view what) const {
  if (source_error_) return source_error_->With(what);
  const char* msg = archive_error_string(archive_);
  return Error(ErrorCode::kInvalidInput,
               std::string(what) + ": " + (msg != nullptr ? msg : "malformed archive"));
}

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::Open(ByteSource& source,
                                                           const ArchiveReaderOptions& options) {
  ScopedUtf8Ctype utf8;
  std::unique_ptr<ArchiveReader> reader(new ArchiveReader(source, options));
  reader->archive_ = archive_read_new();
  if (reader->archive_ == nullptr) return Fail(ErrorCode::kInternal, "archive_read_new failed");
  archive* a = reader->archive_;
  // Both filters must be built in: libarchive would otherwise pipe hostile bytes through an
  // external program (and reports that as a warning).
  if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
      archive_read_support_filter_none(a) != ARCHIVE_OK) {
    const char* msg = archive_error_string(a);
    return Fail(ErrorCode::kInternal, std::string("libarchive lacks tar/gzip/zstd support: ") +
                                          (msg != nullptr ? msg : ""));
  }
  if (archive_read_open(reader->archive_, reader.get(), nullptr, &ArchiveReader::ReadCallback,
                        nullptr) != ARCHIVE_OK) {
    return Fail(reader->LastError("not a tar archive"));
  }
  return reader;
}

Result<std::optional<EntryHeader>> ArchiveReader::Next() {
  ScopedUtf8Ctype utf8;
  archive_entry* entry = nullptr;
  int rc = archive_read_next_header(archive_, &entry);
  if (rc == ARCHIVE_EOF) return std::optional<EntryHeader>();
  bool accepted = rc == ARCHIVE_OK || (rc == ARCHIVE_WARN && !options_.refuse_warnings);
  if (!accepted) return Fail(LastError("malformed archive"));
  EntryHeader header;
  const char* path = archive_entry_pathname(entry);
  if (path == nullptr) return Fail(ErrorCode::kInvalidInput, "archive entry without a name");
  header.path = path;
  mode_t type = archive_entry_filetype(entry);
  const char* hardlink = archive_entry_hardlink(entry);
  const char* symlink = archive_entry_symlink(entry);
  if (hardlink != nullptr) {
    header.type = EntryType::kHardlink;
    header.link_target = hardlink;
  } else if (type == AE_IFREG) {
    header.type = EntryType::kFile;
  } else if (type == AE_IFDIR) {
    header.type = EntryType::kDirectory;
  } else if (type == AE_IFLNK) {
    header.type = EntryType::kSymlink;
    header.link_target = symlink != nullptr ? symlink : "";
  } else if (type == AE_IFCHR) {
    header.type = EntryType::kCharDevice;
  } else if (type == AE_IFBLK) {
    header.type = EntryType::kBlockDevice;
  } else if (type == AE_IFIFO) {
    header.type = EntryType::kFifo;
  } else if (type == AE_IFSOCK) {
    header.type = EntryType::kSocket;
  }
  header.mode = archive_entry_perm(entry);
  header.size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
  header.uid = archive_entry_uid(entry);
  header.gid = archive_entry_gid(entry);
  if (archive_entry_mtime_is_set(entry)) {
    header.mtime = EntryHeader::Time{.sec = archive_entry_mtime(entry),
                                     .nsec = archive_entry_mtime_nsec(entry)};
  }
  if (header.size < 0)
    return Fail(ErrorCode::kInvalidInput, "entry '" + header.path + "' has a negative size");
  return std::optional<EntryHeader>(std::move(header));
}

Result<std::size_t> ArchiveReader::Read(char* buf, std::size_t size) {
  ScopedUtf8Ctype utf8;
  la_ssize_t n = archive_read_data(archive_, buf, size);
  if (n < 0) return Fail(LastError("malformed archive data"));
  return static_cast<std::size_t>(n);
}

Result<std::optional<DataBlock>> ArchiveReader::ReadBlock() {
  ScopedUtf8Ctype utf8;
  const void* block = nullptr;
  std::size_t length = 0;
  la_int64_t offset = 0;
  int rc = archive_read_data_block(archive_, &block, &length, &offset);
  if (rc == ARCHIVE_EOF) return std::optional<DataBlock>();
  if (rc != ARCHIVE_OK) return Fail(LastError("malformed archive data"));
  return std::optional<DataBlock>(
      DataBlock{.offset = offset, .bytes = {static_cast<const char*>(block), length}});
}

std::uint64_t ArchiveReader::compressed_bytes() const {
  return static_cast<std::uint64_t>(archive_filter_bytes(archive_, -1));
}

std::uint64_t ArchiveReader::uncompressed_bytes() const {
  return static_cast<std::uint64_t>(archive_filter_bytes(archive_, 0));
}

bool ArchiveReader::compressed() const { return archive_filter_count(archive_) > 1; }

}  // namespace fogkeep::package
