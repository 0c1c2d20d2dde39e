// Shared helpers for fogkeep tests.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace fogkeep::testing {

// The value of a Result that a test's own setup needs; a failure there is a bug in the test or
// the code under test, so it stops the binary with the message.
template <typename T>
T Must(Result<T> result, std::string_view what = "") {
  if (!result) {
    std::cerr << "test setup failed: " << what << ": " << result.error().message() << "\n";
    std::abort();
  }
  return std::move(result).value();
}
inline void Must(const Status& status, std::string_view what = "") {
  if (!status) {
    std::cerr << "test setup failed: " << what << ": " << status.error().message() << "\n";
    std::abort();
  }
}

// A fresh directory under the test temp dir, removed (without following links) on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Absolute path of a file under ../shared/fixtures (the IOx samples) or the source tree.
std::string SharedFixture(std::string_view relpath);
std::string SourcePath(std::string_view relpath);

}  // namespace fogkeep::testing
