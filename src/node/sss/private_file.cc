#include "node/sss/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "core/fs.h"
#include "crypto/hash.h"

namespace fogkeep::node::sss {

Result<std::string> ReadPrivateFile(const std::string& path, std::size_t max_bytes) {
  // O_NOFOLLOW refuses a symlink in the last component (ELOOP); O_NONBLOCK keeps a FIFO planted
  // at the path from blocking the open. The checks below run on what was actually opened.
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    int err = errno;
    if (err == ELOOP) return Fail(ErrorCode::kIntegrity, path + " is a symbolic link");
    return FailErrno("open " + path, err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kIntegrity, path + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    return Fail(ErrorCode::kIntegrity, path + " is owned by uid " + std::to_string(st.st_uid) +
                                           ", not by this process's user");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Fail(ErrorCode::kIntegrity, path + " has mode " + mode +
                                           ": group or others may read or replace it (it must "
                                           "be 0600)");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return Fail(ErrorCode::kIntegrity, path + " is too large to hold a key");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      crypto::Wipe(data);
      if (n < 0) return FailErrno("read " + path, err);
      return Fail(ErrorCode::kIntegrity, path + " shrank while it was read");
    }
    done += static_cast<std::size_t>(n);
  }
  return data;
}

Status CreatePrivateFile(const std::string& path, std::string_view data) {
  return fs::WriteFileAtomic(path, data, 0600);
}

}  // namespace fogkeep::node::sss
