#include "core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace fogkeep::fs {
namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir(::testing::TempDir(), "fk-fs-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = *dir;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_)); }
  std::string dir_;
};

TEST_F(FsTest, AtomicWriteReplacesContentWithExactMode) {
  std::string path = dir_ + "/key.pem";
  ASSERT_TRUE(WriteFileAtomic(path, "old", 0600));
  ASSERT_TRUE(WriteFileAtomic(path, "new content", 0600));
  EXPECT_EQ(*ReadFile(path), "new content");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary file is left behind.
  int count = 0;
  ASSERT_TRUE(Walk(dir_, [&](const std::string&, const struct stat&) -> Status {
    ++count;
    return {};
  }));
  EXPECT_EQ(count, 1);
}

TEST_F(FsTest, AtomicOnlyWriteKeepsTheSameContract) {
  std::string path = dir_ + "/shim.pid";
  ASSERT_TRUE(WriteFileAtomic(path, "1\n", 0640, Durability::kAtomicOnly));
  ASSERT_TRUE(WriteFileAtomic(path, "22\n", 0640, Durability::kAtomicOnly));
  EXPECT_EQ(*ReadFile(path), "22\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  int count = 0;
  ASSERT_TRUE(Walk(dir_, [&](const std::string&, const struct stat&) -> Status {
    ++count;
    return {};
  }));
  EXPECT_EQ(count, 1);
}

TEST_F(FsTest, ReadFileEnforcesLimit) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big", std::string(1000, 'x')));
  auto r = ReadFile(dir_ + "/big", 999);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  EXPECT_EQ(ReadFile(dir_ + "/missing").error().code(), ErrorCode::kNotFound);
}

TEST_F(FsTest, CleanRelativePathRefusesEscapes) {
  EXPECT_EQ(*CleanRelativePath("./a/b/"), "a/b");
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "a//b", "", ".", "a/./b"}) {
    EXPECT_FALSE(CleanRelativePath(bad)) << bad;
  }
  EXPECT_FALSE(CleanRelativePath(std::string("a\0b", 3)));
  EXPECT_FALSE(CleanRelativePath(std::string(5000, 'a')));
  EXPECT_FALSE(CleanRelativePath(std::string(300, 'a')));
}

TEST_F(FsTest, OpenBeneathNeverFollowsSymlinks) {
  auto root = OpenDir(dir_);
  ASSERT_TRUE(root);
  ASSERT_EQ(::mkdir((dir_ + "/outside").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir_ + "/root").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((dir_ + "/outside").c_str(), (dir_ + "/root/escape").c_str()), 0);
  auto rootfd = OpenDir(dir_ + "/root");
  ASSERT_TRUE(rootfd);
  auto through = OpenBeneath(rootfd->get(), "escape/file", O_WRONLY | O_CREAT, 0644);
  EXPECT_FALSE(through);
  EXPECT_EQ(::access((dir_ + "/outside/file").c_str(), F_OK), -1);
  auto dirs = MakeDirsBeneath(rootfd->get(), "escape/sub");
  EXPECT_FALSE(dirs);
  EXPECT_EQ(::access((dir_ + "/outside/sub").c_str(), F_OK), -1);
  auto ok = MakeDirsBeneath(rootfd->get(), "a/b/c");
  ASSERT_TRUE(ok);
  auto file = OpenBeneath(rootfd->get(), "a/b/c/f", O_WRONLY | O_CREAT, 0644);
  ASSERT_TRUE(file) << file.error().message();
}

TEST_F(FsTest, RemoveTreeDoesNotFollowLinks) {
  ASSERT_EQ(::mkdir((dir_ + "/keep").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/keep/precious", "data"));
  ASSERT_TRUE(MakeDirs(dir_ + "/victim/sub/deeper"));
  ASSERT_EQ(::symlink((dir_ + "/keep").c_str(), (dir_ + "/victim/sub/link").c_str()), 0);
  ASSERT_EQ(::chmod((dir_ + "/victim/sub").c_str(), 0500), 0);
  ASSERT_TRUE(RemoveTree(dir_ + "/victim"));
  EXPECT_EQ(::access((dir_ + "/victim").c_str(), F_OK), -1);
  EXPECT_EQ(*ReadFile(dir_ + "/keep/precious"), "data");
  EXPECT_TRUE(RemoveTree(dir_ + "/does-not-exist"));
}

TEST_F(FsTest, LockExclusiveAdmitsOneHolderAndIsNotInherited) {
  const std::string path = dir_ + "/lock";
  auto first = LockExclusive(path);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_NE(::fcntl(first->get(), F_GETFD) & FD_CLOEXEC, 0);
  auto second = LockExclusive(path);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
  first->Reset();
  EXPECT_TRUE(LockExclusive(path));
}

}  // namespace
}  // namespace fogkeep::fs
