#include "package/rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "package/archive_reader.h"

namespace fogkeep::package {
namespace {

constexpr std::size_t kReadBufferSize = 64 << 10;
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";
// Other ".wh..wh." names are aufs bookkeeping (".wh..wh.plnk", ".wh..wh.aufs"), not whiteouts.
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";

fs::UniqueFd Dup(int fd) { return fs::UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

std::pair<std::string, std::string> SplitParent(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string Join(const std::string& parent, std::string_view leaf) {
  return parent.empty() ? std::string(leaf) : parent + "/" + std::string(leaf);
}

// "." and "./" name the root itself; archives made with `tar -C dir .` start with it.
bool IsRootName(std::string_view path) {
  while (path.starts_with("./")) path.remove_prefix(2);
  return path.empty() || path == ".";
}

std::string EntryContext(std::string_view path) {
  return "rootfs entry '" + std::string(path) + "'";
}

Error Invalid(std::string_view path, std::string_view why) {
  return Error(ErrorCode::kInvalidInput, EntryContext(path) + ": " + std::string(why));
}

// Extracts one archive; owns the state that spans entries (counters, directory modes to
// restore, and, for image layers, the paths this layer created).
class Extractor {
 public:
  // `reader` refuses header warnings: a rootfs is either read exactly or not at all.
  Extractor(ArchiveReader& reader, int root, const ExtractOptions& options)
      : reader_(reader), root_(root), options_(options), limits_(options.limits) {}

  Result<ExtractStats> Run() {
    while (auto entry = FK_TRY_CTX(reader_.Next(), "reading entry header")) {
      FK_TRY(CheckRatio());
      FK_TRY(Entry(*entry));
      FK_TRY(CheckRatio());
    }
    FK_TRY(RestoreDirectories());
    return stats_;
  }

 private:
  // The ratio limit: decompressed tar bytes against the compressed bytes the caller reports
  // (which covers an outer envelope) and against the raw bytes of this stream (an inner gzip
  // or zstd filter).
  Status CheckRatio() const {
    if (!options_.compressed_consumed) return {};
    std::uint64_t out = reader_.uncompressed_bytes();
    if (out < limits_.ratio_floor_bytes) return {};
    auto check = [&](std::uint64_t in) -> Status {
      double ratio = in == 0 ? std::numeric_limits<double>::infinity()
                             : static_cast<double>(out) / static_cast<double>(in);
      if (ratio > limits_.max_ratio) {
        return Fail(ErrorCode::kLimit, "rootfs expands more than " +
                                           std::to_string(static_cast<int>(limits_.max_ratio)) +
                                           ":1 (" + std::to_string(out) + " bytes from " +
                                           std::to_string(in) + " compressed)");
      }
      return {};
    };
    FK_TRY(check(options_.compressed_consumed()));
    if (reader_.compressed()) FK_TRY(check(reader_.compressed_bytes()));
    return {};
  }

  Status Entry(const EntryHeader& entry) {
    if (++stats_.entries > limits_.max_entries) {
      return Fail(ErrorCode::kLimit,
                  "rootfs has more than " + std::to_string(limits_.max_entries) + " entries");
    }
    std::string_view raw(entry.path);
    if (raw.size() > limits_.max_path_length) {
      return Fail(ErrorCode::kLimit, "rootfs entry name longer than " +
                                         std::to_string(limits_.max_path_length) + " bytes");
    }
    if (entry.type == EntryType::kDirectory && IsRootName(raw)) {
      // The root belongs to the caller: its mode and owner are not the archive's to set.
      return {};
    }
    auto cleaned = fs::CleanRelativePath(raw, limits_.max_path_length);
    if (!cleaned) return Fail(Invalid(raw, cleaned.error().message()));
    const std::string& path = *cleaned;
    auto [parent, leaf] = SplitParent(path);

    if (options_.apply_whiteouts && leaf.starts_with(kWhiteoutPrefix)) {
      return Whiteout(path, parent, leaf);
    }
    switch (entry.type) {
      case EntryType::kHardlink:
        return HardLink(path, parent, leaf, entry.link_target);
      case EntryType::kFile:
        return RegularFile(entry, path, parent, leaf);
      case EntryType::kDirectory:
        return Directory(entry, path, parent, leaf);
      case EntryType::kSymlink:
        return Symlink(entry, path, parent, leaf);
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice:
        return Fail(Invalid(path, "device nodes are not allowed"));
      case EntryType::kFifo:
        return Fail(Invalid(path, "FIFOs are not allowed"));
      case EntryType::kSocket:
        return Fail(Invalid(path, "sockets are not allowed"));
      case EntryType::kOther:
        break;
    }
    return Fail(Invalid(path, "unsupported entry type"));
  }

  // Owner for an entry when an id shift is configured.
  Result<std::pair<uid_t, gid_t>> ShiftedOwner(const EntryHeader& entry,
                                               const std::string& path) const {
    std::uint64_t shift = *options_.id_shift;
    std::int64_t uid = entry.uid;
    std::int64_t gid = entry.gid;
    // (uid_t)-1 means "unchanged" to chown, so the largest id is one below it.
    constexpr std::uint64_t kMaxId = std::numeric_limits<std::uint32_t>::max() - 1;
    if (uid < 0 || gid < 0 || static_cast<std::uint64_t>(uid) + shift > kMaxId ||
        static_cast<std::uint64_t>(gid) + shift > kMaxId) {
      return Fail(Invalid(
          path, "owner " + std::to_string(uid) + ":" + std::to_string(gid) + " is out of range"));
    }
    return std::pair{static_cast<uid_t>(uid + shift), static_cast<gid_t>(gid + shift)};
  }

  // fchownat on (dirfd, name) without following a symlink; an empty name means dirfd itself.
  Status Chown(const EntryHeader& entry, const std::string& path, int dirfd, const char* name) {
    if (!options_.id_shift) return {};
    auto [uid, gid] = FK_TRY(ShiftedOwner(entry, path));
    int flags = AT_SYMLINK_NOFOLLOW | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
    if (::fchownat(dirfd, name, uid, gid, flags) != 0) return FailErrno("chown " + path, errno);
    return {};
  }

  // Directory `parent` beneath the root as a borrowed fd, valid until the next call: the root
  // itself, or the last parent opened, kept while no entry has been removed since (so that
  // consecutive entries of one directory do not resolve it again).
  Result<int> Parent(const std::string& parent) {
    if (parent.empty()) return root_;
    if (parent_fd_.valid() && !parent_stale_ && parent == parent_path_) return parent_fd_.get();
    parent_fd_.Reset();
    parent_path_.clear();
    parent_stale_ = false;
    parent_fd_ = FK_TRY(OpenParent(parent));
    parent_path_ = parent;
    return parent_fd_.get();
  }

  // Opens directory `parent` beneath the root, creating missing directories (mode 0755, owned
  // by the shifted root when an id shift is set). A component that is a symlink or not a
  // directory is kInvalidInput: nothing is ever created through a link.
  Result<fs::UniqueFd> OpenParent(const std::string& parent) {
    auto fd = fs::OpenBeneath(root_, parent, O_PATH | O_DIRECTORY);
    if (fd) return fd;
    if (fd.error().code() != ErrorCode::kNotFound) {
      return Fail(fd.error().With(EntryContext(parent)));
    }
    // Find the first missing component, create the rest, then give the new directories a
    // fixed mode (the umask does not leak in) and the container's root as owner.
    std::vector<std::string> prefixes;
    for (std::size_t pos = parent.find('/'); pos != std::string::npos;
         pos = parent.find('/', pos + 1)) {
      prefixes.push_back(parent.substr(0, pos));
    }
    prefixes.push_back(parent);
    std::size_t first_missing = 0;
    while (first_missing < prefixes.size()) {
      auto probe = fs::OpenBeneath(root_, prefixes[first_missing], O_PATH | O_DIRECTORY);
      if (!probe) {
        if (probe.error().code() != ErrorCode::kNotFound) {
          return Fail(probe.error().With(EntryContext(parent)));
        }
        break;
      }
      ++first_missing;
    }
    FK_TRY_CTX(fs::MakeDirsBeneath(root_, parent, 0755), EntryContext(parent));
    for (std::size_t i = first_missing; i < prefixes.size(); ++i) {
      auto dir = FK_TRY(fs::OpenBeneath(root_, prefixes[i], O_RDONLY | O_DIRECTORY));
      if (::fchmod(dir.get(), 0755) != 0) return FailErrno("chmod " + prefixes[i], errno);
      if (options_.id_shift) {
        uid_t id = static_cast<uid_t>(*options_.id_shift);
        if (::fchown(dir.get(), id, id) != 0) return FailErrno("chown " + prefixes[i], errno);
      }
      Created(prefixes[i]);
    }
    return fs::OpenBeneath(root_, parent, O_PATH | O_DIRECTORY);
  }

  // Clears the way for a new entry at (dirfd, leaf); called after creating it failed. A
  // non-directory already there is unlinked (never opened, so an earlier symlink or hard link
  // is never written through). An existing directory stays for a new directory; a
  // non-directory may replace it only in an image layer, where the upper layer's file hides
  // the lower directory. Nothing there is not an error: the retry then fails as before.
  Status Replace(int dirfd, const std::string& path, const std::string& leaf, bool new_is_dir) {
    struct stat st {};
    if (::fstatat(dirfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return {};
      return FailErrno("stat " + path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      if (new_is_dir) return {};
      if (!options_.apply_whiteouts) return Fail(Invalid(path, "replaces a directory"));
      parent_stale_ = true;
      return fs::RemoveTreeAt(dirfd, leaf);
    }
    parent_stale_ = true;
    if (::unlinkat(dirfd, leaf.c_str(), 0) != 0 && errno != ENOENT) {
      return FailErrno("unlink " + path, errno);
    }
    return {};
  }

  Status Directory(const EntryHeader& entry, const std::string& path, const std::string& parent,
                   const std::string& leaf) {
    int parent_fd = FK_TRY(Parent(parent));
    auto dir = fs::MakeDirsBeneath(parent_fd, leaf, 0700);
    if (!dir) {
      FK_TRY(Replace(parent_fd, path, leaf, /*new_is_dir=*/true));
      dir = fs::MakeDirsBeneath(parent_fd, leaf, 0700);
      if (!dir) return Fail(dir.error().With(EntryContext(path)));
    }
    FK_TRY(Chown(entry, path, dir->get(), ""));
    // The owner keeps rwx while the archive is extracted, so that later entries can be
    // created inside as an unprivileged user too; the archive's mode is restored at the end.
    mode_t mode = entry.mode & 01777;
    if (::fchmod(dir->get(), mode | 0700) != 0) return FailErrno("chmod " + path, errno);
    // Entries created inside later change the mtime, so it is set at the end as well.
    directories_[path] = DirectoryMetadata{mode, MtimeOf(entry)};
    Created(path);
    return {};
  }

  Status RegularFile(const EntryHeader& entry, const std::string& path, const std::string& parent,
                     const std::string& leaf) {
    if (entry.size < 0) return Fail(Invalid(path, "negative size"));
    std::uint64_t size = static_cast<std::uint64_t>(entry.size);
    if (size > limits_.max_total_bytes || committed_ + size > limits_.max_total_bytes) {
      return Fail(ErrorCode::kLimit, "rootfs entry '" + path + "' (" + std::to_string(size) +
                                         " bytes) exceeds the total size limit of " +
                                         std::to_string(limits_.max_total_bytes) + " bytes");
    }
    committed_ += size;

    int parent_fd = FK_TRY(Parent(parent));
    constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL;
    auto file = fs::OpenBeneath(parent_fd, leaf, kCreate, 0600);
    if (!file) {
      FK_TRY(Replace(parent_fd, path, leaf, /*new_is_dir=*/false));
      file = fs::OpenBeneath(parent_fd, leaf, kCreate, 0600);
      if (!file) return Fail(file.error().With(EntryContext(path)));
    }
    Created(path);
    FK_TRY(Chown(entry, path, file->get(), ""));

    std::uint64_t end = 0;  // one past the last byte written (sparse files have holes)
    while (auto block = FK_TRY_CTX(reader_.ReadBlock(), "reading '" + path + "'")) {
      std::int64_t offset = block->offset;
      std::size_t length = block->bytes.size();
      if (offset < 0 || static_cast<std::uint64_t>(offset) > size ||
          length > size - static_cast<std::uint64_t>(offset)) {
        return Fail(Invalid(path, "data beyond the size in its header"));
      }
      stats_.bytes += length;
      if (stats_.bytes > limits_.max_total_bytes) {
        return Fail(ErrorCode::kLimit, "rootfs exceeds the total size limit of " +
                                           std::to_string(limits_.max_total_bytes) + " bytes");
      }
      FK_TRY(WriteAt(file->get(), path, block->bytes.data(), length, static_cast<off_t>(offset)));
      end = std::max(end, static_cast<std::uint64_t>(offset) + length);
      FK_TRY(CheckRatio());
    }
    if (end < size && ::ftruncate(file->get(), static_cast<off_t>(size)) != 0) {
      return FailErrno("truncate " + path, errno);
    }
    if (::fchmod(file->get(), entry.mode & 01777) != 0) {
      return FailErrno("chmod " + path, errno);
    }
    return SetMtime(file->get(), "", entry, path);
  }

  // The entry's mtime as futimens/utimensat arguments (access time left alone), or nothing
  // when the header has none.
  static std::optional<timespec> MtimeOf(const EntryHeader& entry) {
    if (!entry.mtime) return std::nullopt;
    return timespec{.tv_sec = static_cast<time_t>(entry.mtime->sec), .tv_nsec = entry.mtime->nsec};
  }

  // Sets the mtime of (dirfd, name) without following a symlink; "" means dirfd itself.
  static Status SetMtime(int dirfd, const char* name, std::optional<timespec> mtime,
                         const std::string& path) {
    if (!mtime) return {};
    if (mtime->tv_nsec < 0 || mtime->tv_nsec > 999'999'999) mtime->tv_nsec = 0;
    const timespec times[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, *mtime};
    int flags = name[0] == '\0' ? 0 : AT_SYMLINK_NOFOLLOW;
    int r = name[0] == '\0' ? ::futimens(dirfd, times) : ::utimensat(dirfd, name, times, flags);
    if (r != 0) return FailErrno("set mtime of " + path, errno);
    return {};
  }
  static Status SetMtime(int dirfd, const char* name, const EntryHeader& entry,
                         const std::string& path) {
    return SetMtime(dirfd, name, MtimeOf(entry), path);
  }

  static Status WriteAt(int fd, const std::string& path, const char* data, std::size_t length,
                        off_t offset) {
    while (length > 0) {
      ssize_t n = ::pwrite(fd, data, length, offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        return FailErrno("write " + path, errno);
      }
      data += n;
      length -= static_cast<std::size_t>(n);
      offset += n;
    }
    return {};
  }

  Status Symlink(const EntryHeader& entry, const std::string& path, const std::string& parent,
                 const std::string& leaf) {
    const std::string& target = entry.link_target;
    if (target.empty()) return Fail(Invalid(path, "empty symlink target"));
    if (target.size() > limits_.max_path_length) {
      return Fail(ErrorCode::kLimit, "rootfs symlink '" + path + "' has a target longer than " +
                                         std::to_string(limits_.max_path_length) + " bytes");
    }
    int parent_fd = FK_TRY(Parent(parent));
    // The target is stored verbatim and never resolved here.
    if (::symlinkat(target.c_str(), parent_fd, leaf.c_str()) != 0) {
      if (errno != EEXIST) return FailErrno("symlink " + path, errno);
      FK_TRY(Replace(parent_fd, path, leaf, /*new_is_dir=*/false));
      if (::symlinkat(target.c_str(), parent_fd, leaf.c_str()) != 0) {
        return FailErrno("symlink " + path, errno);
      }
    }
    Created(path);
    FK_TRY(Chown(entry, path, parent_fd, leaf.c_str()));
    return SetMtime(parent_fd, leaf.c_str(), entry, path);
  }

  // A hard link to a regular file already beneath the root. The source is opened with
  // OpenBeneath semantics (no symlink in any component, the last one included) and linked by
  // its fd, so what is checked is exactly what is linked. Owner and mode are the source's.
  Status HardLink(const std::string& path, const std::string& parent, const std::string& leaf,
                  std::string_view raw_target) {
    auto target = fs::CleanRelativePath(raw_target, limits_.max_path_length);
    if (!target) {
      return Fail(Invalid(
          path, "hard link target '" + std::string(raw_target) + "': " + target.error().message()));
    }
    auto source = fs::OpenBeneath(root_, *target, O_PATH);
    if (!source) {
      // A missing source is the archive's fault, not the file system's.
      if (source.error().code() == ErrorCode::kNotFound) {
        return Fail(Invalid(path, "hard link target '" + *target + "' does not exist"));
      }
      return Fail(source.error().With(EntryContext(path) + ": hard link target"));
    }
    struct stat st {};
    if (::fstat(source->get(), &st) != 0) return FailErrno("stat " + *target, errno);
    if (!S_ISREG(st.st_mode)) {
      return Fail(Invalid(path, "hard link target '" + *target + "' is not a regular file"));
    }
    if (*target == path) return {};  // a link to itself changes nothing

    int parent_fd = FK_TRY(Parent(parent));
    int err = Link(source->get(), st, *target, parent_fd, leaf);
    if (err == EEXIST) {
      FK_TRY(Replace(parent_fd, path, leaf, /*new_is_dir=*/false));
      err = Link(source->get(), st, *target, parent_fd, leaf);
    }
    if (err == ESTALE) return Fail(Invalid(path, "hard link target '" + *target + "' changed"));
    if (err != 0) return FailErrno("link " + path, err);
    Created(path);
    return {};
  }

  // Links the file open as `source` (stat `st`, at `target` beneath the root) to
  // (dirfd, leaf). Returns 0 or an errno value; ESTALE when the name no longer is that file.
  int Link(int source, const struct stat& st, const std::string& target, int dirfd,
           const std::string& leaf) const {
    if (::linkat(source, "", dirfd, leaf.c_str(), AT_EMPTY_PATH) == 0) return 0;
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it, link by name from the source's
    // parent, after checking that the name still is the same regular file.
    if (errno != ENOENT && errno != EPERM) return errno;
    auto [source_parent, source_leaf] = SplitParent(target);
    Result<fs::UniqueFd> source_dir =
        source_parent.empty() ? Dup(root_)
                              : fs::OpenBeneath(root_, source_parent, O_PATH | O_DIRECTORY);
    if (!source_dir || !source_dir->valid()) return ESTALE;
    struct stat now {};
    if (::fstatat(source_dir->get(), source_leaf.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(now.st_mode) || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
      return ESTALE;
    }
    if (::linkat(source_dir->get(), source_leaf.c_str(), dirfd, leaf.c_str(), 0) != 0) {
      return errno;
    }
    return 0;
  }

  // OCI whiteouts. ".wh.<name>" deletes <name> from the layers below; ".wh..wh..opq" deletes
  // everything the layers below put in its directory, keeping what this layer added.
  Status Whiteout(const std::string& path, const std::string& parent, const std::string& leaf) {
    if (leaf.starts_with(kWhiteoutMetaPrefix) && leaf != kOpaqueWhiteout) return {};
    Result<fs::UniqueFd> dir =
        parent.empty() ? Dup(root_) : fs::OpenBeneath(root_, parent, O_RDONLY | O_DIRECTORY);
    if (!dir) {
      if (dir.error().code() == ErrorCode::kNotFound) return {};  // nothing below to hide
      return Fail(dir.error().With(EntryContext(path)));
    }
    if (!dir->valid()) return FailErrno("dup", errno);
    parent_stale_ = true;
    if (leaf == kOpaqueWhiteout) return RemoveLowerEntries(dir->get(), parent);
    std::string name = leaf.substr(kWhiteoutPrefix.size());
    if (name.empty() || name == "." || name == "..") {
      return Fail(Invalid(path, "whiteout without a name"));
    }
    return fs::RemoveTreeAt(dir->get(), name);
  }

  // Removes the entries of `dirfd` (the directory at `prefix`) that this layer did not
  // create, descending into directories this layer re-declared.
  Status RemoveLowerEntries(int dirfd, const std::string& prefix) {
    std::vector<std::string> names;
    {
      fs::UniqueFd listing(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!listing.valid()) return FailErrno("open " + prefix, errno);
      DIR* d = ::fdopendir(listing.get());
      if (d == nullptr) return FailErrno("list " + prefix, errno);
      listing.Release();
      while (dirent* ent = ::readdir(d)) {
        std::string_view name = ent->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
      }
      ::closedir(d);
    }
    for (const auto& name : names) {
      std::string child = Join(prefix, name);
      if (!created_.contains(child)) {
        FK_TRY(fs::RemoveTreeAt(dirfd, name));
        continue;
      }
      fs::UniqueFd sub(
          ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.valid()) FK_TRY(RemoveLowerEntries(sub.get(), child));
    }
    return {};
  }

  void Created(const std::string& path) {
    if (options_.apply_whiteouts) created_.insert(path);
  }

  // Gives the archive's directories their final mode (which may lack owner rwx) and mtime,
  // deepest first so that a parent stays traversable while its children are fixed. A
  // directory that later entries removed or replaced is skipped.
  Status RestoreDirectories() {
    std::vector<std::pair<std::string, DirectoryMetadata>> dirs(directories_.begin(),
                                                                directories_.end());
    std::sort(dirs.begin(), dirs.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    for (const auto& [path, metadata] : dirs) {
      if ((metadata.mode & 0700) == 0700 && !metadata.mtime) continue;
      auto dir = fs::OpenBeneath(root_, path, O_RDONLY | O_DIRECTORY);
      if (!dir) continue;
      if ((metadata.mode & 0700) != 0700 && ::fchmod(dir->get(), metadata.mode) != 0) {
        return FailErrno("chmod " + path, errno);
      }
      FK_TRY(SetMtime(dir->get(), "", metadata.mtime, path));
    }
    return {};
  }

  ArchiveReader& reader_;
  int root_;
  const ExtractOptions& options_;
  const ExtractLimits& limits_;
  ExtractStats stats_;
  std::uint64_t committed_ = 0;  // sum of declared regular-file sizes
  struct DirectoryMetadata {
    mode_t mode;
    std::optional<timespec> mtime;
  };
  std::map<std::string, DirectoryMetadata> directories_;
  std::unordered_set<std::string> created_;  // only for image layers (whiteouts)
  // The cached parent directory (see Parent()); stale once any entry has been removed.
  std::string parent_path_;
  fs::UniqueFd parent_fd_;
  bool parent_stale_ = false;
};

}  // namespace

Result<ExtractStats> ExtractTar(ByteSource& source, int root_dirfd, const ExtractOptions& options) {
  constexpr ArchiveReaderOptions kRootfsReading{.refuse_warnings = true,
                                                .read_size = kReadBufferSize};
  auto reader = FK_TRY_CTX(ArchiveReader::Open(source, kRootfsReading), "rootfs");
  Extractor extractor(*reader, root_dirfd, options);
  return extractor.Run();
}

}  // namespace fogkeep::package
