#include "support/support.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "core/fs.h"

namespace fogkeep::testing {

TempDir::TempDir() {
  auto dir = fs::MakeTempDir(::testing::TempDir(), "fogkeep-test-");
  if (!dir) std::abort();
  path_ = *dir;
}

TempDir::~TempDir() { (void)fs::RemoveTree(path_); }

std::string SourcePath(std::string_view relpath) {
  return std::string(FOGKEEP_SOURCE_DIR) + "/" + std::string(relpath);
}

std::string SharedFixture(std::string_view relpath) {
  if (const char* dir = std::getenv("FOGKEEP_SHARED_DIR")) {
    return std::string(dir) + "/fixtures/" + std::string(relpath);
  }
  return std::string(FOGKEEP_SOURCE_DIR) + "/../shared/fixtures/" + std::string(relpath);
}

}  // namespace fogkeep::testing
