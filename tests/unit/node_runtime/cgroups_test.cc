#include "node/runtime/cgroups.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

void Put(const std::string& path, std::string_view content) {
  auto slash = path.find_last_of('/');
  ASSERT_TRUE(fs::MakeDirs(path.substr(0, slash)));
  ASSERT_TRUE(fs::WriteFileAtomic(path, content));
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(CgroupsTest, V1ReadsEachController) {
  testing::TempDir root;
  Put(root / "memory/fogkeep/app/memory.usage_in_bytes", "1048576\n");
  Put(root / "memory/fogkeep/app/memory.limit_in_bytes", "33554432\n");
  Put(root / "memory/fogkeep/app/memory.oom_control",
      "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  Put(root / "cpuacct/fogkeep/app/cpuacct.usage", "2500000000\n");
  Put(root / "pids/fogkeep/app/pids.current", "7\n");
  auto cg = DetectCgroups(root.path());
  ASSERT_EQ(cg->version(), CgroupVersion::kV1);
  EXPECT_EQ(*cg->MemoryUsageBytes("/fogkeep/app"), 1048576u);
  EXPECT_EQ(*cg->MemoryLimitBytes("/fogkeep/app"), std::optional<std::uint64_t>(33554432));
  EXPECT_EQ(*cg->OomKillCount("/fogkeep/app"), 2u);
  EXPECT_DOUBLE_EQ(*cg->CpuUsageSeconds("/fogkeep/app"), 2.5);
  EXPECT_EQ(*cg->PidsCurrent("/fogkeep/app"), 7u);
  EXPECT_FALSE(cg->SupportsSwapLimit());
  Put(root / "memory/memory.memsw.limit_in_bytes", "9223372036854771712\n");
  EXPECT_TRUE(cg->SupportsSwapLimit());
}

TEST(CgroupsTest, V1UnlimitedMemoryAndCoMountedCpuacct) {
  testing::TempDir root;
  Put(root / "memory/fogkeep/app/memory.limit_in_bytes", "9223372036854771712\n");
  Put(root / "cpu,cpuacct/fogkeep/app/cpuacct.usage", "1000000000\n");
  auto cg = MakeCgroupsV1(root.path());
  EXPECT_EQ(*cg->MemoryLimitBytes("/fogkeep/app"), std::nullopt);
  EXPECT_DOUBLE_EQ(*cg->CpuUsageSeconds("/fogkeep/app"), 1.0);
}

TEST(CgroupsTest, V1WithoutOomKillFieldIsAnError) {
  testing::TempDir root;
  Put(root / "memory/fogkeep/app/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
  auto count = MakeCgroupsV1(root.path())->OomKillCount("/fogkeep/app");
  ASSERT_FALSE(count);
  EXPECT_EQ(count.error().code(), ErrorCode::kUnavailable);
}

TEST(CgroupsTest, V2ReadsUnifiedFiles) {
  testing::TempDir root;
  Put(root / "cgroup.controllers", "cpu memory pids\n");
  Put(root / "fogkeep/app/memory.current", "4096\n");
  Put(root / "fogkeep/app/memory.max", "max\n");
  Put(root / "fogkeep/app/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  Put(root / "fogkeep/app/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
  Put(root / "fogkeep/app/pids.current", "3\n");
  auto cg = DetectCgroups(root.path());
  ASSERT_EQ(cg->version(), CgroupVersion::kV2);
  EXPECT_EQ(*cg->MemoryUsageBytes("/fogkeep/app"), 4096u);
  EXPECT_EQ(*cg->MemoryLimitBytes("/fogkeep/app"), std::nullopt);
  EXPECT_EQ(*cg->OomKillCount("/fogkeep/app"), 1u);
  EXPECT_DOUBLE_EQ(*cg->CpuUsageSeconds("/fogkeep/app"), 1.5);
  EXPECT_EQ(*cg->PidsCurrent("/fogkeep/app"), 3u);
  Put(root / "fogkeep/app/memory.max", "67108864\n");
  EXPECT_EQ(*cg->MemoryLimitBytes("/fogkeep/app"), std::optional<std::uint64_t>(67108864));
  EXPECT_FALSE(cg->SupportsSwapLimit());
  Put(root / "fogkeep/memory.max", "max\n");
  Put(root / "fogkeep/memory.swap.max", "max\n");
  EXPECT_TRUE(cg->SupportsSwapLimit());
}

TEST(CgroupsTest, PathsMustStayInsideTheHierarchy) {
  testing::TempDir root;
  auto cg = MakeCgroupsV2(root.path());
  for (const char* bad : {"fogkeep/app", "/fogkeep/../../etc", "/", "", "/fogkeep//app"}) {
    auto r = cg->PidsCurrent(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << bad;
    EXPECT_FALSE(cg->Remove(bad)) << bad;
  }
}

TEST(CgroupsTest, MissingCgroupIsNotFound) {
  testing::TempDir root;
  auto r = MakeCgroupsV1(root.path())->MemoryUsageBytes("/fogkeep/gone");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST(CgroupsTest, V1RemoveClearsEveryHierarchyAndChildCgroups) {
  // Empty directories stand in for cgroups (real ones hold only kernel files rmdir ignores).
  testing::TempDir root;
  for (const char* dir : {"memory/fogkeep/app/child", "pids/fogkeep/app", "cpu/fogkeep/app",
                          "memory/fogkeep/other"}) {
    ASSERT_TRUE(fs::MakeDirs(root / dir));
  }
  auto cg = MakeCgroupsV1(root.path());
  ASSERT_TRUE(cg->Remove("/fogkeep/app"));
  EXPECT_FALSE(Exists(root / "memory/fogkeep/app"));
  EXPECT_FALSE(Exists(root / "pids/fogkeep/app"));
  EXPECT_FALSE(Exists(root / "cpu/fogkeep/app"));
  EXPECT_TRUE(Exists(root / "memory/fogkeep/other"));
  EXPECT_TRUE(cg->Remove("/fogkeep/app")) << "already gone is fine";
}

TEST(CgroupsTest, V2Remove) {
  testing::TempDir root;
  Put(root / "cgroup.controllers", "memory\n");
  ASSERT_TRUE(fs::MakeDirs(root / "fogkeep/app/nested"));
  auto cg = DetectCgroups(root.path());
  ASSERT_TRUE(cg->Remove("/fogkeep/app"));
  EXPECT_FALSE(Exists(root / "fogkeep/app"));
  EXPECT_TRUE(Exists(root / "fogkeep"));
}

}  // namespace
}  // namespace fogkeep::node::runtime
