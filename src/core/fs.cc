#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

namespace fogkeep::fs {
namespace {

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(8, 'x');
  for (auto& c : out) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return out;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("write", errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::vector<std::string> SplitPath(const std::string& relpath) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= relpath.size()) {
    auto slash = relpath.find('/', start);
    if (slash == std::string::npos) slash = relpath.size();
    parts.push_back(relpath.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

bool HaveOpenat2() {
  static const bool have = [] {
    struct open_how how {};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    long fd = ::syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
    if (fd >= 0) ::close(static_cast<int>(fd));
    return fd >= 0;
  }();
  return have;
}

Status WalkAt(int dirfd, const std::string& prefix, const WalkVisitor& visit) {
  int dupfd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return FailErrno("dup", errno);
  DIR* dir = ::fdopendir(dupfd);
  if (dir == nullptr) {
    ::close(dupfd);
    return FailErrno("fdopendir " + prefix, errno);
  }
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(dir)) {
    std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(dir);
  for (const auto& name : names) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return FailErrno("stat " + prefix + name, errno);
    }
    std::string rel = prefix + name;
    FK_TRY(visit(rel, st));
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) return FailErrno("open " + rel, errno);
      FK_TRY(WalkAt(sub.get(), rel + "/", visit));
    }
  }
  return {};
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<UniqueFd> OpenDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open directory " + path, errno);
  return fd;
}

Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open " + path, errno);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("read " + path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Fail(ErrorCode::kLimit,
                  path + " is larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Status FsyncDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open directory " + path, errno);
  if (::fsync(fd.get()) != 0) return FailErrno("fsync " + path, errno);
  return {};
}

Status CommitFile(const std::string& tmp, const std::string& path) {
  UniqueFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return FailErrno("open " + tmp, errno);
  if (::fsync(fd.get()) != 0) return FailErrno("fsync " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return FailErrno("rename to " + path, errno);
  return FsyncDir(DirName(path));
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       Durability durability) {
  std::string tmp = path + ".tmp." + RandomSuffix();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return FailErrno("create " + tmp, errno);
  auto cleanup_fail = [&](Error e) -> Status {
    ::unlink(tmp.c_str());
    return Fail(std::move(e));
  };
  // The umask may have narrowed the mode; make it exact before any byte lands.
  if (::fchmod(fd.get(), mode) != 0)
    return cleanup_fail(Error(ErrorCode::kUnavailable, ErrnoMessage("chmod " + tmp, errno)));
  if (auto st = WriteAll(fd.get(), data); !st) return cleanup_fail(st.error().With(tmp));
  const bool durable = durability == Durability::kDurable;
  if (durable && ::fsync(fd.get()) != 0)
    return cleanup_fail(Error(ErrorCode::kUnavailable, ErrnoMessage("fsync " + tmp, errno)));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return cleanup_fail(Error(ErrorCode::kUnavailable, ErrnoMessage("rename to " + path, errno)));
  }
  return durable ? FsyncDir(DirName(path)) : Status{};
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Fail(ErrorCode::kInvalidInput, "empty directory path");
  std::string current;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    current = path.substr(0, pos);
    if (current.empty() || current == "/") continue;
    if (::mkdir(current.c_str(), mode) != 0 && errno != EEXIST) {
      return FailErrno("mkdir " + current, errno);
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISDIR(st.st_mode))
    return Fail(ErrorCode::kConflict, path + " exists and is not a directory");
  return {};
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return out;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

Result<UniqueFd> LockExclusive(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return FailErrno("open " + path, errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Fail(ErrorCode::kConflict, path + " is locked by another process");
    }
    return FailErrno("flock " + path, errno);
  }
  return fd;
}

Result<std::string> MakeTempDir(const std::string& parent, std::string_view prefix) {
  std::string tmpl = parent + "/" + std::string(prefix) + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return FailErrno("mkdtemp " + tmpl, errno);
  return std::string(buf.data());
}

Status RemoveTreeAt(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return FailErrno("stat " + name, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return FailErrno("open " + name, errno);
    // Let the owner remove entries even in a directory an extracted rootfs made read-only.
    if ((st.st_mode & 0700) != 0700) ::fchmod(sub.get(), st.st_mode | 0700);
    int dupfd = ::fcntl(sub.get(), F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0) return FailErrno("dup", errno);
    DIR* dir = ::fdopendir(dupfd);
    if (dir == nullptr) {
      ::close(dupfd);
      return FailErrno("fdopendir " + name, errno);
    }
    std::vector<std::string> names;
    while (struct dirent* ent = ::readdir(dir)) {
      std::string_view child = ent->d_name;
      if (child != "." && child != "..") names.emplace_back(child);
    }
    ::closedir(dir);
    for (const auto& child : names) FK_TRY_CTX(RemoveTreeAt(sub.get(), child), name);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return FailErrno("rmdir " + name, errno);
    }
    return {};
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return FailErrno("unlink " + name, errno);
  }
  return {};
}

Status RemoveTree(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  auto slash = trimmed.find_last_of('/');
  std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : trimmed.substr(0, slash));
  std::string name = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  auto dirfd = OpenDir(parent);
  if (!dirfd) {
    if (dirfd.error().code() == ErrorCode::kNotFound) return {};
    return Fail(dirfd.error());
  }
  return RemoveTreeAt(dirfd->get(), name);
}

Result<std::string> CleanRelativePath(std::string_view path, std::size_t max_len) {
  if (path.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput, "path contains a NUL byte");
  }
  if (path.size() > max_len) {
    return Fail(ErrorCode::kInvalidInput,
                "path is longer than " + std::to_string(max_len) + " bytes");
  }
  if (!path.empty() && path.front() == '/') {
    return Fail(ErrorCode::kInvalidInput, "absolute path '" + std::string(path) + "'");
  }
  while (path.starts_with("./")) path.remove_prefix(2);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty() || path == ".") return Fail(ErrorCode::kInvalidInput, "empty path");
  std::string out(path);
  for (const auto& part : SplitPath(out)) {
    if (part.empty()) return Fail(ErrorCode::kInvalidInput, "empty component in '" + out + "'");
    if (part == "..") return Fail(ErrorCode::kInvalidInput, "path '" + out + "' contains '..'");
    if (part == ".") return Fail(ErrorCode::kInvalidInput, "path '" + out + "' contains '.'");
    if (part.size() > 255)
      return Fail(ErrorCode::kInvalidInput, "path component longer than 255 bytes");
  }
  return out;
}

Result<UniqueFd> OpenBeneath(int rootfd, const std::string& relpath, int flags, mode_t mode) {
  if (HaveOpenat2()) {
    struct open_how how {};
    how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC | O_NOFOLLOW);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
      fd = ::syscall(SYS_openat2, rootfd, relpath.c_str(), &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN);
    if (fd < 0) {
      if (errno == ELOOP || errno == EXDEV) {
        return Fail(ErrorCode::kInvalidInput, "'" + relpath + "' passes through a symlink");
      }
      // As in the component walk below: a file where a directory must be is the path's fault.
      if (errno == ENOTDIR) {
        return Fail(ErrorCode::kInvalidInput, "'" + relpath + "' passes through a non-directory");
      }
      return FailErrno("open " + relpath, errno);
    }
    return UniqueFd(static_cast<int>(fd));
  }
  auto parts = SplitPath(relpath);
  UniqueFd current(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  if (!current.valid()) return FailErrno("dup", errno);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    UniqueFd next(
        ::openat(current.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return Fail(ErrorCode::kInvalidInput,
                    "'" + relpath + "' passes through a symlink or a non-directory");
      }
      return FailErrno("open " + relpath, errno);
    }
    current = std::move(next);
  }
  UniqueFd fd(::openat(current.get(), parts.back().c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) {
    if (errno == ELOOP) return Fail(ErrorCode::kInvalidInput, "'" + relpath + "' is a symlink");
    return FailErrno("open " + relpath, errno);
  }
  return fd;
}

Result<UniqueFd> MakeDirsBeneath(int rootfd, const std::string& relpath, mode_t mode) {
  UniqueFd current(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  if (!current.valid()) return FailErrno("dup", errno);
  for (const auto& part : SplitPath(relpath)) {
    if (::mkdirat(current.get(), part.c_str(), mode) != 0 && errno != EEXIST) {
      return FailErrno("mkdir " + relpath, errno);
    }
    UniqueFd next(
        ::openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return Fail(ErrorCode::kInvalidInput,
                    "'" + relpath + "': component '" + part + "' is a symlink or not a directory");
      }
      return FailErrno("open " + relpath, errno);
    }
    current = std::move(next);
  }
  return current;
}

Status Walk(const std::string& root, const WalkVisitor& visit) {
  auto fd = FK_TRY(OpenDir(root));
  return WalkAt(fd.get(), "", visit);
}

Result<std::uint64_t> TreeSize(const std::string& root) {
  std::uint64_t total = 0;
  FK_TRY(Walk(root, [&](const std::string&, const struct stat& st) -> Status {
    if (S_ISREG(st.st_mode)) total += static_cast<std::uint64_t>(st.st_size);
    return {};
  }));
  return total;
}

}  // namespace fogkeep::fs
