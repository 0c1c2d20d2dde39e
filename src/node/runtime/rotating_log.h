// An app's output log with a size cap: `path` holds the newest bytes, `path.1` the previous
// file, up to `path.<files-1>`; older output is dropped. No file ever exceeds max_bytes, so an
// app that floods its stdout costs at most max_bytes * files of storage.
//
// Rotation is a chain of rename()s, newest last, so a crash at any point leaves every file
// either in its old place or its new one, never truncated or half-written. (At worst one
// generation is missing or a line is split across two files.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/fs.h"

namespace fogkeep::node::runtime {

class RotatingLog {
 public:
  // Opens (appending to) `path`, creating it with mode 0640. `max_bytes` >= 1, `files` >= 1.
  static Result<RotatingLog> Open(std::string path, std::uint64_t max_bytes, int files);

  RotatingLog(RotatingLog&&) = default;
  RotatingLog& operator=(RotatingLog&&) = default;

  // Appends `data`, rotating first whenever it would not fit; data larger than one file is
  // split across rotations (so only its last max_bytes * files survive).
  Status Write(std::string_view data);

 private:
  RotatingLog(std::string path, std::uint64_t max_bytes, int files, fs::UniqueFd fd,
              std::uint64_t size)
      : path_(std::move(path)),
        max_bytes_(max_bytes),
        files_(files),
        fd_(std::move(fd)),
        size_(size) {}

  Status Rotate();

  std::string path_;
  std::uint64_t max_bytes_;
  int files_;
  fs::UniqueFd fd_;
  std::uint64_t size_;  // bytes in the current file
};

}  // namespace fogkeep::node::runtime
