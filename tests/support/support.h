// Shared helpers for fogkeep tests.
#pragma once

#include <string>
#include <string_view>

namespace fogkeep::testing {

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
