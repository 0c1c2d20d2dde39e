#include "node/runtime/rotating_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace fogkeep::node::runtime {
namespace {

Result<fs::UniqueFd> OpenAppend(const std::string& path) {
  fs::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd.valid()) return FailErrno("open log " + path, errno);
  return fd;
}

}  // namespace

Result<RotatingLog> RotatingLog::Open(std::string path, std::uint64_t max_bytes, int files) {
  if (max_bytes == 0 || files < 1) {
    return Fail(ErrorCode::kInvalidInput, "log cap must be at least one byte and one file");
  }
  auto fd = FK_TRY(OpenAppend(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat log " + path, errno);
  return RotatingLog(std::move(path), max_bytes, files, std::move(fd),
                     static_cast<std::uint64_t>(st.st_size));
}

Status RotatingLog::Rotate() {
  if (files_ == 1) {
    // Only one generation: start it over.
    if (::ftruncate(fd_.get(), 0) != 0) return FailErrno("truncate log " + path_, errno);
    size_ = 0;
    return {};
  }
  // path.(n-2) -> path.(n-1), ..., path -> path.1: the oldest is overwritten by the rename.
  for (int i = files_ - 1; i >= 1; --i) {
    std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    std::string to = path_ + "." + std::to_string(i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return FailErrno("rotate log " + from, errno);
    }
  }
  fd_ = FK_TRY(OpenAppend(path_));
  size_ = 0;
  return {};
}

Status RotatingLog::Write(std::string_view data) {
  while (!data.empty()) {
    if (size_ >= max_bytes_ || (size_ > 0 && size_ + data.size() > max_bytes_)) FK_TRY(Rotate());
    std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), max_bytes_ - size_));
    ssize_t n = ::write(fd_.get(), data.data(), chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("write log " + path_, errno);
    }
    size_ += static_cast<std::uint64_t>(n);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace fogkeep::node::runtime
