#include "package/stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fogkeep::package {

Result<FileSource> FileSource::Open(const std::string& path) {
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open " + path, errno);
  return FileSource(std::move(fd));
}

Result<std::size_t> FileSource::Read(char* buf, std::size_t size) {
  while (true) {
    ssize_t n = ::read(fd_.get(), buf, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return FailErrno("read", errno);
  }
}

Result<std::size_t> MemorySource::Read(char* buf, std::size_t size) {
  std::size_t n = std::min(size, data_.size());
  std::memcpy(buf, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

}  // namespace fogkeep::package
