// Byte sources: the one shape in which untrusted package bytes reach the readers, whether
// they come from a file, a nested archive member or an HTTP upload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/fs.h"

namespace fogkeep::package {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes into `buf`. Returns the count; 0 means end of stream.
  virtual Result<std::size_t> Read(char* buf, std::size_t size) = 0;
};

// Reads a file descriptor it owns.
class FileSource : public ByteSource {
 public:
  static Result<FileSource> Open(const std::string& path);
  explicit FileSource(fs::UniqueFd fd) : fd_(std::move(fd)) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override;

 private:
  fs::UniqueFd fd_;
};

// Reads from a string held by the caller (tests, small members).
class MemorySource : public ByteSource {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override;

 private:
  std::string_view data_;
};

}  // namespace fogkeep::package
