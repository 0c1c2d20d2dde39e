#include "node/runtime/rotating_log.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

std::string Read(const std::string& path) {
  auto text = fs::ReadFile(path);
  return text ? *text : std::string("<missing>");
}

TEST(RotatingLogTest, RotatesWholeWritesAtTheCap) {
  testing::TempDir dir;
  auto log = RotatingLog::Open(dir / "app.log", 10, 2);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Write("aaaa\n"));
  ASSERT_TRUE(log->Write("bbbb\n"));
  EXPECT_EQ(Read(dir / "app.log"), "aaaa\nbbbb\n");
  ASSERT_TRUE(log->Write("cccc\n"));  // would pass 10 bytes: rotate first
  EXPECT_EQ(Read(dir / "app.log"), "cccc\n");
  EXPECT_EQ(Read(dir / "app.log.1"), "aaaa\nbbbb\n");
  ASSERT_TRUE(log->Write("dddd\n"));
  ASSERT_TRUE(log->Write("eeee\n"));
  // The oldest generation is gone; nothing beyond app.log.1 is kept.
  EXPECT_EQ(Read(dir / "app.log"), "eeee\n");
  EXPECT_EQ(Read(dir / "app.log.1"), "cccc\ndddd\n");
  EXPECT_NE(::access((dir / "app.log.2").c_str(), F_OK), 0);
}

TEST(RotatingLogTest, SplitsAWriteLargerThanAFile) {
  testing::TempDir dir;
  auto log = RotatingLog::Open(dir / "app.log", 4, 3);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Write("0123456789"));
  EXPECT_EQ(Read(dir / "app.log"), "89");
  EXPECT_EQ(Read(dir / "app.log.1"), "4567");
  EXPECT_EQ(Read(dir / "app.log.2"), "0123");
}

TEST(RotatingLogTest, OneGenerationStartsOver) {
  testing::TempDir dir;
  auto log = RotatingLog::Open(dir / "app.log", 6, 1);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Write("abcd"));
  ASSERT_TRUE(log->Write("efgh"));
  EXPECT_EQ(Read(dir / "app.log"), "efgh");
  EXPECT_NE(::access((dir / "app.log.1").c_str(), F_OK), 0);
}

TEST(RotatingLogTest, ReopeningContinuesTheCurrentFile) {
  testing::TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "app.log", "12345678"));
  auto log = RotatingLog::Open(dir / "app.log", 10, 2);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Write("abc"));  // 8 + 3 > 10
  EXPECT_EQ(Read(dir / "app.log"), "abc");
  EXPECT_EQ(Read(dir / "app.log.1"), "12345678");
}

TEST(RotatingLogTest, RefusesNonsenseCaps) {
  testing::TempDir dir;
  EXPECT_FALSE(RotatingLog::Open(dir / "a.log", 0, 2));
  EXPECT_FALSE(RotatingLog::Open(dir / "a.log", 10, 0));
}

TEST(RotatingLogTest, DoesNotFollowASymlinkedLog) {
  testing::TempDir dir;
  ASSERT_EQ(::symlink("/etc/passwd", (dir / "app.log").c_str()), 0);
  EXPECT_FALSE(RotatingLog::Open(dir / "app.log", 10, 2));
}

}  // namespace
}  // namespace fogkeep::node::runtime
