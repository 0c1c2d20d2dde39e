#include "node/runtime/app_spec.h"

#include <unistd.h>

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "node/runtime/seccomp.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class AppSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rootfs_ = dir_ / "rootfs";
    ASSERT_TRUE(fs::MakeDirs(rootfs_ + "/etc"));
    ASSERT_TRUE(fs::WriteFileAtomic(rootfs_ + "/etc/passwd",
                                    "root:x:0:0:root:/root:/bin/sh\n"
                                    "app:x:1000:1001:App:/home/app:/bin/sh\n"));
    ASSERT_TRUE(fs::WriteFileAtomic(rootfs_ + "/etc/group", "root:x:0:\nplugdev:x:46:app\n"));

    descriptor_.name = "sensor";
    descriptor_.version = "1.0";
    descriptor_.type = "docker";
    descriptor_.startup.target = {"/bin/sensor", "--serve"};
    descriptor_.startup.workdir = "/srv";
    descriptor_.env = {{"MODE", "edge"}};

    placement_.app_id = "sensor";
    placement_.rootfs = rootfs_;
    placement_.data_dir = dir_ / "data";
    placement_.ids = {*UidBaseForSlot(3), kAppIdRangeSize};
  }

  Result<ContainerSpec> Map() {
    return ContainerSpecFromDescriptor(descriptor_, placement_, policy_);
  }

  testing::TempDir dir_;
  std::string rootfs_;
  package::Descriptor descriptor_;
  AppPlacement placement_;
  NodePolicy policy_;
};

TEST_F(AppSpecTest, DefaultProfileAndStartup) {
  auto spec = Map();
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->app_id, "sensor");
  EXPECT_EQ(spec->args, (std::vector<std::string>{"/bin/sensor", "--serve"}));
  EXPECT_EQ(spec->cwd, "/srv");
  EXPECT_EQ(spec->uid, 0u);
  EXPECT_EQ(spec->memory_limit_bytes, 64ull << 20);  // c1.small
  EXPECT_EQ(spec->cpu_shares, 200u);
  EXPECT_EQ(spec->cpu_quota_us, 0);
  EXPECT_EQ(spec->pids_limit, 256);
  EXPECT_TRUE(spec->readonly_rootfs);
  EXPECT_TRUE(spec->seccomp);
  EXPECT_TRUE(spec->capabilities.empty());
  EXPECT_EQ(spec->network, NetworkMode::kNone);
  EXPECT_EQ(spec->ids.host_base, 200000u + 3 * 65536);
  EXPECT_THAT(spec->env, Contains("MODE=edge"));
  EXPECT_THAT(spec->env, Contains("CAF_APP_PERSISTENT_DIR=/data"));
  EXPECT_THAT(spec->env, Contains("CAF_APP_ID=sensor"));
  EXPECT_THAT(spec->env, Contains(HasSubstr("PATH=")));
  EXPECT_TRUE(GenerateOciConfig(*spec));
}

TEST_F(AppSpecTest, ProfilesSetMemoryAndCpu) {
  descriptor_.resources.profile = "c1.large";
  policy_.cpu_units_per_cpu = 1000;
  auto spec = Map();
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->memory_limit_bytes, 256ull << 20);
  EXPECT_EQ(spec->cpu_shares, 600u);
  EXPECT_EQ(spec->cpu_quota_us, 60000);  // 600 of 1000 units per CPU, over a 100 ms period

  descriptor_.resources.profile = "exclusive";
  EXPECT_FALSE(Map());
}

TEST_F(AppSpecTest, PlatformVariablesCannotBeOverridden) {
  descriptor_.env = {{"CAF_APP_PERSISTENT_DIR", "/etc"}, {"PATH", "/opt/app/bin"}};
  auto spec = Map();
  ASSERT_TRUE(spec);
  EXPECT_THAT(spec->env, Contains("CAF_APP_PERSISTENT_DIR=/data"));
  EXPECT_THAT(spec->env, Not(Contains("CAF_APP_PERSISTENT_DIR=/etc")));
  EXPECT_THAT(spec->env, Contains("PATH=/opt/app/bin"));
  descriptor_.env = {{"BAD NAME", "x"}};
  EXPECT_FALSE(Map());
}

TEST_F(AppSpecTest, CapabilitiesNeedThePolicy) {
  descriptor_.security.capabilities = {"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"};
  auto refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(refused.error().message(), HasSubstr("CAP_NET_BIND_SERVICE, CAP_NET_RAW"));

  policy_.allowed_capabilities = {"CAP_NET_BIND_SERVICE"};
  refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message(), HasSubstr("CAP_NET_RAW"));
  EXPECT_THAT(refused.error().message(), Not(HasSubstr("CAP_NET_BIND_SERVICE")));

  policy_.allowed_capabilities.push_back("CAP_NET_RAW");
  auto spec = Map();
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->capabilities, (std::vector<std::string>{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}));
}

TEST_F(AppSpecTest, WritableRootfsAndUnconfinedSeccompNeedThePolicy) {
  descriptor_.security.readonly_rootfs = false;
  auto refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  policy_.allow_writable_rootfs = true;
  ASSERT_TRUE(Map());
  EXPECT_FALSE(Map()->readonly_rootfs);

  descriptor_.security.seccomp = "unconfined";
  refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  policy_.allow_unconfined_seccomp = true;
  ASSERT_TRUE(Map());
  EXPECT_FALSE(Map()->seccomp);

  descriptor_.security.seccomp = "my-own.json";
  EXPECT_FALSE(Map());
}

TEST_F(AppSpecTest, UsersResolveNumericallyOrThroughTheRootfsPasswd) {
  descriptor_.startup.user = "app";
  auto spec = Map();
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->uid, 1000u);
  EXPECT_EQ(spec->gid, 1001u);

  descriptor_.startup.user = "app:plugdev";
  spec = Map();
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->gid, 46u);

  descriptor_.startup.user = "1000";
  spec = Map();
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->gid, 1001u) << "a numeric user takes its passwd group";

  descriptor_.startup.user = "2000:3000";
  spec = Map();
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->uid, 2000u);
  EXPECT_EQ(spec->gid, 3000u);

  descriptor_.startup.user = "nobody-here";
  EXPECT_FALSE(Map());
  descriptor_.startup.user = "70000";
  EXPECT_FALSE(Map()) << "outside the app's id range";
}

TEST_F(AppSpecTest, PasswdSymlinkIsNotFollowed) {
  // The rootfs is the app's: its /etc/passwd must not be able to point at the host's.
  ASSERT_EQ(::unlink((rootfs_ + "/etc/passwd").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (rootfs_ + "/etc/passwd").c_str()), 0);
  descriptor_.startup.user = "root";
  auto spec = Map();
  ASSERT_FALSE(spec);
  EXPECT_THAT(spec.error().message(), HasSubstr("symlink"));
}

TEST_F(AppSpecTest, NetworkNeedsAPreparedNamespace) {
  descriptor_.resources.network = {{"eth0", {}}};
  auto refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message(), HasSubstr("eth0"));
  placement_.netns_path = "/run/netns/fogkeep-sensor";
  auto spec = Map();
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->network, NetworkMode::kNamespace);
  EXPECT_EQ(spec->netns_path, "/run/netns/fogkeep-sensor");
}

TEST_F(AppSpecTest, NetworkMonitorNeedsThePolicyGrant) {
  descriptor_.resources.network_monitor = true;
  placement_.netns_path = "/var/lib/fogkeep/monitor/netns/sensor";
  placement_.userns_path = "/var/lib/fogkeep/monitor/userns/sensor";
  auto refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(refused.error().message(),
              HasSubstr("asks for network-monitor (app.resources.network-monitor), which this "
                        "node's policy grants to no app"));

  policy_.monitor_interface = "span0";
  policy_.monitor_apps = {"ids", "collector"};
  refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(refused.error().message(), HasSubstr("grants only to ids, collector"));
  EXPECT_FALSE(CheckMonitorGrant("sensor", policy_));
  EXPECT_TRUE(CheckMonitorGrant("ids", policy_));
}

TEST_F(AppSpecTest, NetworkMonitorGrantsCapNetRawAndNamesTheInterface) {
  auto plain = Map();
  ASSERT_TRUE(plain) << plain.error().message();

  descriptor_.resources.network_monitor = true;
  descriptor_.env.emplace_back("FOGKEEP_MONITOR_INTERFACE", "eth0");  // the app cannot choose
  policy_.monitor_interface = "span0";
  policy_.monitor_apps = {"sensor"};
  placement_.netns_path = "/var/lib/fogkeep/monitor/netns/sensor";
  placement_.userns_path = "/var/lib/fogkeep/monitor/userns/sensor";
  auto spec = Map();
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->capabilities, (std::vector<std::string>{"CAP_NET_RAW"}));
  EXPECT_THAT(spec->env, Contains("FOGKEEP_MONITOR_INTERFACE=span0"));
  EXPECT_THAT(spec->env, Not(Contains("FOGKEEP_MONITOR_INTERFACE=eth0")));
  EXPECT_EQ(spec->network, NetworkMode::kNamespace);
  EXPECT_EQ(spec->netns_path, "/var/lib/fogkeep/monitor/netns/sensor");
  EXPECT_EQ(spec->userns_path, "/var/lib/fogkeep/monitor/userns/sensor");

  // Nothing else differs from the same app without network-monitor.
  ContainerSpec expected = *plain;
  expected.capabilities = {"CAP_NET_RAW"};
  expected.env.push_back("FOGKEEP_MONITOR_INTERFACE=span0");
  expected.network = NetworkMode::kNamespace;
  expected.netns_path = spec->netns_path;
  expected.userns_path = spec->userns_path;
  EXPECT_EQ(*GenerateOciConfig(*spec), *GenerateOciConfig(expected));

  // The grant covers an explicit request for CAP_NET_RAW, and nothing beyond it.
  descriptor_.security.capabilities = {"CAP_NET_RAW"};
  spec = Map();
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->capabilities, (std::vector<std::string>{"CAP_NET_RAW"}));
  descriptor_.security.capabilities = {"CAP_NET_RAW", "CAP_NET_ADMIN"};
  auto refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(refused.error().message(), HasSubstr("CAP_NET_ADMIN"));

  descriptor_.security.capabilities.clear();
  // Without prepared namespaces the node cannot serve it.
  placement_.userns_path.clear();
  refused = Map();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidInput);
  EXPECT_THAT(refused.error().message(), HasSubstr("no monitor namespace"));
}

TEST_F(AppSpecTest, UnservableRequestsAreRefused) {
  descriptor_.resources.devices = {"serial"};
  EXPECT_FALSE(Map());
  descriptor_.resources.devices.clear();
  descriptor_.cpuarch = HostArch() == Arch::kX86_64 ? "aarch64" : "x86_64";
  EXPECT_FALSE(Map());
  descriptor_.cpuarch.clear();
  descriptor_.startup.target.clear();
  EXPECT_FALSE(Map());
}

}  // namespace
}  // namespace fogkeep::node::runtime
