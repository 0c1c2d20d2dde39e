// File-system helpers that are safe against crashes and hostile names.
//
// Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a reader sees
// the old or the new content, never a torn file. Walking and removal use directory file
// descriptors (openat/unlinkat with O_NOFOLLOW), so a symlink planted in a tree never redirects
// them outside it.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::fs {

// Owns a file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Opens a directory (O_DIRECTORY | O_CLOEXEC); `path` may be relative to the cwd.
Result<UniqueFd> OpenDir(const std::string& path);

// Reads a whole file, refusing one larger than `max_bytes` with kLimit.
Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes = 64 << 20);

// Whether an atomic write must also survive a power cut. kDurable fsyncs the file before the
// rename and the directory after it. kAtomicOnly skips both, for files rebuilt from durable
// state before every use (a container's config.json, a pid file): readers and a crashing
// process still see the old file or the new one, but after a power cut the file may hold
// either, or (depending on the file system) nothing.
enum class Durability { kDurable, kAtomicOnly };

// Writes `data` to `path` atomically with the given mode: a reader or a crash sees the old
// file or the new one, never a mix. The mode is applied before any byte is written, so a
// private key is never readable by others even for a moment.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                       Durability durability = Durability::kDurable);

// fsync of a directory, making a rename or create inside it durable.
Status FsyncDir(const std::string& path);

// Makes a file written under a temporary name durable and visible under its final name:
// fsync(tmp), rename(tmp, path), fsync(parent). The final name never shows a partial file.
Status CommitFile(const std::string& tmp, const std::string& path);

// mkdir -p. Existing directories are fine; an existing non-directory is an error.
Status MakeDirs(const std::string& path, mode_t mode = 0755);

// Takes an exclusive advisory lock (flock) on `path`, creating it 0600 if missing, and keeps it
// as long as the returned descriptor lives; the kernel drops it when the process dies, even by
// SIGKILL. kConflict when another open file description holds it. The descriptor is
// close-on-exec so that children (shims) never inherit the lock.
Result<UniqueFd> LockExclusive(const std::string& path);

// The names in directory `path` (without "." and ".."), sorted; empty when it is missing or
// unreadable (callers use it to sweep what they own, where absent means nothing to do).
std::vector<std::string> ListDir(const std::string& path);

// Creates a fresh directory "<parent>/<prefix>XXXXXX" (mode 0700) and returns its path.
Result<std::string> MakeTempDir(const std::string& parent, std::string_view prefix);

// rm -rf that never follows symlinks: it unlinks links, recurses only into real directories
// opened with O_NOFOLLOW. A missing path is not an error.
Status RemoveTree(const std::string& path);
// The same for entry `name` of the directory `dirfd`.
Status RemoveTreeAt(int dirfd, const std::string& name);

// A path relative to a root, validated for use beneath it: not empty, not absolute, no "."
// or ".." components, no NUL, no empty components, at most `max_len` bytes. Leading "./" and
// trailing "/" are stripped. Returns the normalised path or kInvalidInput.
Result<std::string> CleanRelativePath(std::string_view path, std::size_t max_len = 4096);

// Opens `relpath` (already cleaned) beneath the directory `rootfd` without following any
// symlink in any component, and without leaving the root (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS, or a component-by-component O_NOFOLLOW walk where openat2 is missing).
Result<UniqueFd> OpenBeneath(int rootfd, const std::string& relpath, int flags, mode_t mode = 0);

// Creates every directory of `relpath` beneath `rootfd` (mode `mode`), never following a
// symlink; a component that exists but is not a directory is kInvalidInput. Returns an fd of
// the last directory.
Result<UniqueFd> MakeDirsBeneath(int rootfd, const std::string& relpath, mode_t mode = 0755);

// Visits every entry below `root` depth-first without following symlinks. `visit` receives
// the path relative to root and the lstat of the entry; returning an error stops the walk.
using WalkVisitor = std::function<Status(const std::string& relpath, const struct stat& st)>;
Status Walk(const std::string& root, const WalkVisitor& visit);

// Sum of st_size of regular files below root (without following links).
Result<std::uint64_t> TreeSize(const std::string& root);

}  // namespace fogkeep::fs
