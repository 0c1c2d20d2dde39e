#include "package/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "package/libarchive_locale.h"

namespace fogkeep::package {

// Where the archive bytes go; owned by libarchive from archive_write_open2 on and freed by
// its free callback.
struct TarWriter::Output {
  fs::UniqueFd fd;
  std::string path;
  // Set once an Add failed after bytes may have reached the archive: from then on writes are
  // dropped, and Close() fails.
  bool failed = false;

  static la_ssize_t Write(archive* a, void* client, const void* buf, size_t size) {
    auto* self = static_cast<Output*>(client);
    if (self->failed) return static_cast<la_ssize_t>(size);
    const char* p = static_cast<const char*>(buf);
    std::size_t left = size;
    while (left > 0) {
      ssize_t n = ::write(self->fd.get(), p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        archive_set_error(a, errno, "write %s: %s", self->path.c_str(), std::strerror(errno));
        return -1;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return static_cast<la_ssize_t>(size);
  }

  static int Close(archive* a, void* client) {
    auto* self = static_cast<Output*>(client);
    if (self->failed) return ARCHIVE_OK;
    if (::fsync(self->fd.get()) != 0) {
      archive_set_error(a, errno, "fsync %s: %s", self->path.c_str(), std::strerror(errno));
      return ARCHIVE_FATAL;
    }
    return ARCHIVE_OK;
  }

  static int Free(archive*, void* client) {
    delete static_cast<Output*>(client);
    return ARCHIVE_OK;
  }
};

namespace {

constexpr std::size_t kChunkSize = 64 << 10;

struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryFree>;

// An entry with the normalised metadata every member gets: owner root:root (0:0), mtime 0,
// no atime/ctime, no extended attributes. Only name, type, mode, size and link differ.
EntryPtr NewEntry(const std::string& name, mode_t type, mode_t perm) {
  EntryPtr entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), type);
  archive_entry_set_perm(entry.get(), perm & 07777);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  archive_entry_set_uname(entry.get(), "root");
  archive_entry_set_gname(entry.get(), "root");
  archive_entry_set_mtime(entry.get(), 0, 0);
  archive_entry_set_size(entry.get(), 0);
  return entry;
}

// A writer takes members until it is closed or a member failed half-way.
Status Usable(bool open, bool failed) {
  if (!open) return Fail(ErrorCode::kInternal, "tar writer is closed");
  if (failed) return Fail(ErrorCode::kInternal, "tar writer failed on an earlier member");
  return {};
}

Result<std::string> MemberName(std::string_view name) {
  auto clean = fs::CleanRelativePath(name);
  if (!clean) return Fail(clean.error().With("tar member name"));
  return clean;
}

Status WriteHeader(archive* a, bool& failed, archive_entry* entry, const std::string& member) {
  int r = archive_write_header(a, entry);
  if (r == ARCHIVE_OK) return {};
  std::string text = archive_error_string(a) != nullptr ? archive_error_string(a) : "";
  failed = true;
  return Fail(ErrorCode::kUnavailable, "writing tar header of '" + member + "': " + text);
}

Status WriteData(archive* a, bool& failed, const char* data, std::size_t size,
                 const std::string& member) {
  while (size > 0) {
    la_ssize_t n = archive_write_data(a, data, size);
    if (n <= 0) {
      std::string text = archive_error_string(a) != nullptr ? archive_error_string(a) : "";
      failed = true;
      return Fail(ErrorCode::kUnavailable, "writing '" + member + "' to tar: " + text);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

// Streams the open regular file `fd` into member `member` (already a clean name).
Status AddOpenFile(archive* a, bool& failed, int fd, const std::string& member,
                   const std::string& source_path, mode_t mode) {
  ScopedUtf8Ctype utf8;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FailErrno("stat " + source_path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidInput, source_path + " is not a regular file");
  }
  EntryPtr entry = NewEntry(member, AE_IFREG, mode);
  archive_entry_set_size(entry.get(), st.st_size);
  FK_TRY(WriteHeader(a, failed, entry.get(), member));
  // Exactly st_size bytes: a file that changes size while it is read would make libarchive
  // pad or cut it silently, so that is an error instead.
  std::vector<char> buf(kChunkSize);
  std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
  while (left > 0) {
    ssize_t n = ::read(fd, buf.data(), std::min<std::uint64_t>(left, buf.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      failed = true;
      return FailErrno("read " + source_path, errno);
    }
    if (n == 0) {
      failed = true;
      return Fail(ErrorCode::kConflict, source_path + " shrank while it was archived");
    }
    FK_TRY(WriteData(a, failed, buf.data(), static_cast<std::size_t>(n), member));
    left -= static_cast<std::uint64_t>(n);
  }
  char extra;
  ssize_t more = ::read(fd, &extra, 1);
  if (more != 0) {
    failed = true;
    return Fail(ErrorCode::kConflict, source_path + " grew while it was archived");
  }
  return {};
}

}  // namespace

TarWriter::TarWriter(archive* a) : archive_(a) {}

TarWriter::TarWriter(TarWriter&& other) noexcept
    : archive_(std::exchange(other.archive_, nullptr)),
      output_(std::exchange(other.output_, nullptr)) {}

TarWriter& TarWriter::operator=(TarWriter&& other) noexcept {
  if (this != &other) {
    if (archive_ != nullptr) {
      output_->failed = true;  // replaced before Close(): not a complete archive
      archive_write_free(archive_);
    }
    archive_ = std::exchange(other.archive_, nullptr);
    output_ = std::exchange(other.output_, nullptr);
  }
  return *this;
}

// Without Close() the archive is finished as it is. If every Add succeeded that is a complete
// archive; after a failed one, Output drops the end marker and whatever else was still
// buffered, so a partial archive never looks complete.
TarWriter::~TarWriter() {
  if (archive_ != nullptr) archive_write_free(archive_);
}

Result<TarWriter> TarWriter::Create(const std::string& path, Compression compression) {
  fs::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return FailErrno("create " + path, errno);
  if (::fchmod(fd.get(), 0644) != 0) return FailErrno("chmod " + path, errno);

  archive* a = archive_write_new();
  if (a == nullptr) return Fail(ErrorCode::kInternal, "archive_write_new failed");
  TarWriter writer(a);
  auto fail = [&](std::string_view what) {
    const char* text = archive_error_string(a);
    return Fail(ErrorCode::kInternal,
                std::string(what) + " for " + path + ": " + (text != nullptr ? text : "?"));
  };
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK) return fail("tar format");
  if (compression == Compression::kGzip) {
    if (archive_write_add_filter_gzip(a) != ARCHIVE_OK) return fail("gzip filter");
    // No timestamp in the gzip header, so the same members give the same bytes.
    if (archive_write_set_filter_option(a, "gzip", "timestamp", nullptr) != ARCHIVE_OK) {
      return fail("gzip options");
    }
    // The compressed stream ends at its trailer: no zero padding after it.
    archive_write_set_bytes_in_last_block(a, 1);
  }
  auto* output = new Output{std::move(fd), path};
  if (archive_write_open2(a, output, nullptr, &Output::Write, &Output::Close, &Output::Free) !=
      ARCHIVE_OK) {
    return fail("open");
  }
  writer.output_ = output;
  return writer;
}

Status TarWriter::AddFile(std::string_view name, std::string_view data, mode_t mode) {
  FK_TRY(Usable(archive_ != nullptr, archive_ != nullptr && output_->failed));
  ScopedUtf8Ctype utf8;
  auto member = FK_TRY(MemberName(name));
  EntryPtr entry = NewEntry(member, AE_IFREG, mode);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
  FK_TRY(WriteHeader(archive_, output_->failed, entry.get(), member));
  while (!data.empty()) {
    std::size_t n = std::min(data.size(), kChunkSize);
    FK_TRY(WriteData(archive_, output_->failed, data.data(), n, member));
    data.remove_prefix(n);
  }
  return {};
}

Status TarWriter::AddFileFromPath(std::string_view name, const std::string& source_path,
                                  mode_t mode) {
  FK_TRY(Usable(archive_ != nullptr, archive_ != nullptr && output_->failed));
  auto member = FK_TRY(MemberName(name));
  fs::UniqueFd fd(::open(source_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open " + source_path, errno);
  return AddOpenFile(archive_, output_->failed, fd.get(), member, source_path, mode);
}

Status TarWriter::AddFileFromSource(std::string_view name, std::uint64_t size, ByteSource& source,
                                    mode_t mode) {
  FK_TRY(Usable(archive_ != nullptr, archive_ != nullptr && output_->failed));
  ScopedUtf8Ctype utf8;
  auto member = FK_TRY(MemberName(name));
  if (size > static_cast<std::uint64_t>(std::numeric_limits<la_int64_t>::max())) {
    return Fail(ErrorCode::kInvalidInput, "tar member '" + member + "' is too large");
  }
  EntryPtr entry = NewEntry(member, AE_IFREG, mode);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  FK_TRY(WriteHeader(archive_, output_->failed, entry.get(), member));
  // Exactly `size` bytes are read, never more: the source may go on with other data. A source
  // that ends early would leave a member libarchive pads with zeros, so the archive is failed.
  std::vector<char> buf(kChunkSize);
  std::uint64_t left = size;
  while (left > 0) {
    auto n = source.Read(buf.data(), std::min<std::uint64_t>(left, buf.size()));
    if (!n || *n == 0) {
      output_->failed = true;
      if (!n) return Fail(std::move(n).error().With("reading member '" + member + "'"));
      return Fail(ErrorCode::kInvalidInput, "member '" + member + "' ended after " +
                                                std::to_string(size - left) + " of " +
                                                std::to_string(size) + " bytes");
    }
    FK_TRY(WriteData(archive_, output_->failed, buf.data(), *n, member));
    left -= *n;
  }
  return {};
}

Status TarWriter::AddTree(const std::string& dir) {
  FK_TRY(Usable(archive_ != nullptr, archive_ != nullptr && output_->failed));
  struct Item {
    std::string path;
    struct stat st;
  };
  std::vector<Item> items;
  FK_TRY(fs::Walk(dir, [&](const std::string& rel, const struct stat& st) -> Status {
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
      items.push_back({rel, st});
      return {};
    }
    const char* what = S_ISFIFO(st.st_mode)   ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                                              : "of an unknown type";
    return Fail(ErrorCode::kInvalidInput, dir + "/" + rel + " is " + what +
                                              "; only directories, regular files and " +
                                              "symlinks can be archived");
  }));
  // Sorted by the bytes of the whole path: independent of readdir order, and a directory
  // (a prefix) always comes before what it contains.
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.path < b.path; });

  auto root = FK_TRY(fs::OpenDir(dir));
  ScopedUtf8Ctype utf8;
  std::map<std::pair<dev_t, ino_t>, std::string> first_links;
  for (const auto& [path, st] : items) {
    auto member = FK_TRY(MemberName(path));
    if (S_ISDIR(st.st_mode)) {
      EntryPtr entry = NewEntry(member, AE_IFDIR, st.st_mode);
      FK_TRY(WriteHeader(archive_, output_->failed, entry.get(), member));
    } else if (S_ISLNK(st.st_mode)) {
      auto slash = path.rfind('/');
      auto parent =
          FK_TRY(slash == std::string::npos
                     ? fs::OpenDir(dir)
                     : fs::OpenBeneath(root.get(), path.substr(0, slash), O_PATH | O_DIRECTORY));
      std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
      std::vector<char> target(static_cast<std::size_t>(st.st_size) + 2);
      ssize_t n = ::readlinkat(parent.get(), leaf.c_str(), target.data(), target.size());
      if (n < 0) return FailErrno("readlink " + dir + "/" + path, errno);
      if (static_cast<std::size_t>(n) >= target.size() - 1) {
        return Fail(ErrorCode::kConflict, dir + "/" + path + " changed while it was archived");
      }
      EntryPtr entry = NewEntry(member, AE_IFLNK, 0777);
      archive_entry_set_symlink(entry.get(),
                                std::string(target.data(), static_cast<std::size_t>(n)).c_str());
      FK_TRY(WriteHeader(archive_, output_->failed, entry.get(), member));
    } else {
      if (st.st_nlink > 1) {
        auto [it, first] = first_links.try_emplace({st.st_dev, st.st_ino}, member);
        if (!first) {
          EntryPtr entry = NewEntry(member, AE_IFREG, st.st_mode);
          archive_entry_set_hardlink(entry.get(), it->second.c_str());
          FK_TRY(WriteHeader(archive_, output_->failed, entry.get(), member));
          continue;
        }
      }
      // Opened beneath the tree without following links, and checked to be the file that
      // was listed.
      auto file = FK_TRY(fs::OpenBeneath(root.get(), path, O_RDONLY));
      struct stat now {};
      if (::fstat(file.get(), &now) != 0) return FailErrno("stat " + dir + "/" + path, errno);
      if (now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
        return Fail(ErrorCode::kConflict, dir + "/" + path + " changed while it was archived");
      }
      FK_TRY(
          AddOpenFile(archive_, output_->failed, file.get(), member, dir + "/" + path, st.st_mode));
    }
  }
  return {};
}

Status TarWriter::Close() {
  if (archive_ == nullptr) return Fail(ErrorCode::kInternal, "tar writer is already closed");
  archive* a = std::exchange(archive_, nullptr);
  bool failed = std::exchange(output_, nullptr)->failed;
  int r = archive_write_close(a);
  std::string text = archive_error_string(a) != nullptr ? archive_error_string(a) : "";
  archive_write_free(a);  // frees the Output too
  if (failed) {
    return Fail(ErrorCode::kInternal, "tar archive is incomplete: an earlier member failed");
  }
  if (r != ARCHIVE_OK) return Fail(ErrorCode::kUnavailable, "finishing tar: " + text);
  return {};
}

}  // namespace fogkeep::package
