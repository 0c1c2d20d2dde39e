#include "node/runtime/spec.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

ContainerSpec MinimalSpec() {
  ContainerSpec spec;
  spec.app_id = "sensor_app-1.2";
  spec.rootfs = "/var/lib/fogkeep/apps/sensor/rootfs";
  spec.args = {"/bin/sensor", "--verbose"};
  spec.env = {"PATH=/bin", "MODE=edge"};
  spec.ids = {200000, 65536};
  spec.data_dir = "/var/lib/fogkeep/apps/sensor/data";
  return spec;
}

json::object Generate(const ContainerSpec& spec) {
  auto text = GenerateOciConfig(spec);
  EXPECT_TRUE(text) << text.error().message();
  if (!text) return {};
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  EXPECT_FALSE(ec) << *text;
  return v.as_object();
}

std::vector<std::string> Strings(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& item : v.as_array()) out.emplace_back(item.as_string());
  return out;
}

const json::object* FindMount(const json::object& config, std::string_view destination) {
  for (const auto& m : config.at("mounts").as_array()) {
    if (m.as_object().at("destination").as_string() == destination) return &m.as_object();
  }
  return nullptr;
}

TEST(SpecTest, DefaultsAreTheHardenedOnes) {
  auto config = Generate(MinimalSpec());
  const auto& process = config.at("process").as_object();
  EXPECT_EQ(process.at("terminal").as_bool(), false);
  EXPECT_EQ(process.at("noNewPrivileges").as_bool(), true);
  EXPECT_EQ(process.at("user").as_object().at("uid").as_int64(), 0);
  EXPECT_EQ(process.at("oomScoreAdj").as_int64(), 500);
  EXPECT_EQ(Strings(process.at("args")), (std::vector<std::string>{"/bin/sensor", "--verbose"}));
  EXPECT_EQ(process.at("cwd").as_string(), "/");
  // Every capability set is present and empty.
  const auto& caps = process.at("capabilities").as_object();
  for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
    ASSERT_TRUE(caps.contains(set)) << set;
    EXPECT_TRUE(caps.at(set).as_array().empty()) << set;
  }
  bool nofile = false;
  for (const auto& r : process.at("rlimits").as_array()) {
    if (r.as_object().at("type").as_string() == "RLIMIT_NOFILE") {
      nofile = true;
      EXPECT_EQ(r.as_object().at("hard").as_int64(), 1024);
      EXPECT_EQ(r.as_object().at("soft").as_int64(), 1024);
    }
  }
  EXPECT_TRUE(nofile);

  EXPECT_EQ(config.at("root").as_object().at("readonly").as_bool(), true);
  EXPECT_EQ(config.at("root").as_object().at("path").as_string(),
            "/var/lib/fogkeep/apps/sensor/rootfs");
  EXPECT_EQ(config.at("hostname").as_string(), "sensor-app-1-2");

  const auto& linux = config.at("linux").as_object();
  std::set<std::string> namespaces;
  for (const auto& ns : linux.at("namespaces").as_array()) {
    namespaces.insert(std::string(ns.as_object().at("type").as_string()));
    EXPECT_FALSE(ns.as_object().contains("path")) << "a fresh namespace, not a joined one";
  }
  EXPECT_EQ(namespaces,
            (std::set<std::string>{"pid", "network", "ipc", "uts", "mount", "user", "cgroup"}));
  for (const char* key : {"uidMappings", "gidMappings"}) {
    const auto& m = linux.at(key).as_array();
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].as_object().at("containerID").as_int64(), 0);
    EXPECT_EQ(m[0].as_object().at("hostID").as_int64(), 200000);
    EXPECT_EQ(m[0].as_object().at("size").as_int64(), 65536);
  }
  EXPECT_EQ(linux.at("cgroupsPath").as_string(), "/fogkeep/sensor_app-1.2");

  auto masked = Strings(linux.at("maskedPaths"));
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                        "/proc/scsi", "/sys/firmware", "/proc/acpi", "/proc/latency_stats",
                        "/proc/timer_stats", "/sys/devices/virtual/powercap"}) {
    EXPECT_NE(std::ranges::find(masked, p), masked.end()) << p;
  }
  auto readonly = Strings(linux.at("readonlyPaths"));
  for (const char* p : {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
    EXPECT_NE(std::ranges::find(readonly, p), readonly.end()) << p;
  }

  const auto& resources = linux.at("resources").as_object();
  EXPECT_EQ(resources.at("memory").as_object().at("limit").as_int64(), 64 << 20);
  EXPECT_EQ(resources.at("memory").as_object().at("swap").as_int64(), 64 << 20);
  EXPECT_EQ(resources.at("pids").as_object().at("limit").as_int64(), 256);
  EXPECT_EQ(resources.at("cpu").as_object().at("shares").as_int64(), 1024);
  EXPECT_FALSE(resources.at("cpu").as_object().contains("quota"));
  const auto& devices = resources.at("devices").as_array();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].as_object().at("allow").as_bool(), false);
  EXPECT_EQ(devices[0].as_object().at("access").as_string(), "rwm");

  EXPECT_EQ(linux.at("seccomp").as_object().at("defaultAction").as_string(), "SCMP_ACT_ERRNO");
}

TEST(SpecTest, MountsGiveWritableDataAndBoundedTmp) {
  auto spec = MinimalSpec();
  spec.tmp_size_bytes = 8 << 20;
  spec.extra_mounts = {{"/run/fogkeep/sss/sensor.sock", "/run/sss.sock", true},
                       {"/srv/shared", "/shared", false}};
  auto config = Generate(spec);

  const auto* tmp = FindMount(config, "/tmp");
  ASSERT_NE(tmp, nullptr);
  EXPECT_EQ(tmp->at("type").as_string(), "tmpfs");
  auto tmp_opts = Strings(tmp->at("options"));
  for (const char* o : {"nosuid", "nodev", "size=8388608"}) {
    EXPECT_NE(std::ranges::find(tmp_opts, o), tmp_opts.end()) << o;
  }

  const auto* data = FindMount(config, "/data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->at("source").as_string(), "/var/lib/fogkeep/apps/sensor/data");
  auto data_opts = Strings(data->at("options"));
  for (const char* o : {"bind", "rw", "nosuid", "nodev"}) {
    EXPECT_NE(std::ranges::find(data_opts, o), data_opts.end()) << o;
  }

  const auto* sys = FindMount(config, "/sys");
  ASSERT_NE(sys, nullptr);
  EXPECT_EQ(sys->at("type").as_string(), "sysfs");
  auto sys_opts = Strings(sys->at("options"));
  EXPECT_NE(std::ranges::find(sys_opts, "ro"), sys_opts.end());

  const auto* sock = FindMount(config, "/run/sss.sock");
  ASSERT_NE(sock, nullptr);
  auto sock_opts = Strings(sock->at("options"));
  EXPECT_NE(std::ranges::find(sock_opts, "ro"), sock_opts.end());
  EXPECT_NE(std::ranges::find(sock_opts, "noexec"), sock_opts.end());
  const auto* shared = FindMount(config, "/shared");
  ASSERT_NE(shared, nullptr);
  auto shared_opts = Strings(shared->at("options"));
  EXPECT_NE(std::ranges::find(shared_opts, "rw"), shared_opts.end());

  for (const char* dest : {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"}) {
    EXPECT_NE(FindMount(config, dest), nullptr) << dest;
  }
}

TEST(SpecTest, NoDataDirMeansNoDataMount) {
  auto spec = MinimalSpec();
  spec.data_dir.clear();
  EXPECT_EQ(FindMount(Generate(spec), "/data"), nullptr);
}

TEST(SpecTest, JoinedNetworkNamespaceAndHostNetwork) {
  auto spec = MinimalSpec();
  spec.network = NetworkMode::kNamespace;
  spec.netns_path = "/run/netns/fogkeep-sensor";
  auto config = Generate(spec);
  bool found = false;
  for (const auto& ns : config.at("linux").as_object().at("namespaces").as_array()) {
    if (ns.as_object().at("type").as_string() == "network") {
      found = true;
      EXPECT_EQ(ns.as_object().at("path").as_string(), "/run/netns/fogkeep-sensor");
    }
  }
  EXPECT_TRUE(found);
  // sysfs cannot be mounted for a namespace the user namespace does not own.
  EXPECT_EQ(FindMount(config, "/sys")->at("type").as_string(), "bind");

  spec.network = NetworkMode::kHost;
  spec.netns_path.clear();
  config = Generate(spec);
  for (const auto& ns : config.at("linux").as_object().at("namespaces").as_array()) {
    EXPECT_NE(ns.as_object().at("type").as_string(), "network");
  }
}

TEST(SpecTest, JoinedUserNamespaceOwningTheNetworkNamespace) {
  auto spec = MinimalSpec();
  spec.network = NetworkMode::kNamespace;
  spec.netns_path = "/var/lib/fogkeep/monitor/netns/sensor";
  spec.userns_path = "/var/lib/fogkeep/monitor/userns/sensor";
  auto config = Generate(spec);
  const auto& linux = config.at("linux").as_object();
  std::set<std::string> types;
  for (const auto& ns : linux.at("namespaces").as_array()) {
    const auto& o = ns.as_object();
    types.insert(std::string(o.at("type").as_string()));
    if (o.at("type").as_string() == "user") {
      EXPECT_EQ(o.at("path").as_string(), "/var/lib/fogkeep/monitor/userns/sensor");
    } else if (o.at("type").as_string() == "network") {
      EXPECT_EQ(o.at("path").as_string(), "/var/lib/fogkeep/monitor/netns/sensor");
    } else {
      EXPECT_FALSE(o.contains("path")) << o.at("type").as_string();
    }
  }
  EXPECT_EQ(types,
            (std::set<std::string>{"pid", "ipc", "uts", "mount", "user", "cgroup", "network"}));
  // The mappings stay: the runtime reads them, and they match the joined namespace's.
  EXPECT_EQ(linux.at("uidMappings").as_array().at(0).as_object().at("hostID").as_int64(), 200000);
  // The user namespace owns the network namespace: a sysfs of its own shows its interfaces.
  EXPECT_EQ(FindMount(config, "/sys")->at("type").as_string(), "sysfs");

  // Only beside a joined network namespace, and only a clean path.
  spec.network = NetworkMode::kNone;
  spec.netns_path.clear();
  auto refused = ValidateContainerSpec(spec);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message(), HasSubstr("user namespace path needs"));
  spec.network = NetworkMode::kNamespace;
  spec.netns_path = "/var/lib/fogkeep/monitor/netns/sensor";
  spec.userns_path = "/var/lib/fogkeep/../userns";
  refused = ValidateContainerSpec(spec);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message(), HasSubstr("user namespace path"));
}

TEST(SpecTest, GrantedCapabilitiesReachANonRootUser) {
  auto spec = MinimalSpec();
  spec.capabilities = {"CAP_NET_BIND_SERVICE"};
  auto config = Generate(spec);
  auto caps = config.at("process").as_object().at("capabilities").as_object();
  EXPECT_EQ(Strings(caps.at("effective")), std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
  EXPECT_EQ(Strings(caps.at("bounding")), std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
  EXPECT_TRUE(caps.at("ambient").as_array().empty()) << "root keeps its caps across exec";

  spec.uid = 1000;
  spec.gid = 1000;
  config = Generate(spec);
  caps = config.at("process").as_object().at("capabilities").as_object();
  EXPECT_EQ(Strings(caps.at("ambient")), std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
  EXPECT_EQ(Strings(caps.at("inheritable")), std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
}

TEST(SpecTest, CpuQuotaAndWritableRootfsAreExplicit) {
  auto spec = MinimalSpec();
  spec.cpu_shares = 200;
  spec.cpu_quota_us = 50000;
  spec.readonly_rootfs = false;
  spec.limit_swap = false;
  spec.seccomp = false;
  auto config = Generate(spec);
  const auto& resources = config.at("linux").as_object().at("resources").as_object();
  EXPECT_EQ(resources.at("cpu").as_object().at("shares").as_int64(), 200);
  EXPECT_EQ(resources.at("cpu").as_object().at("quota").as_int64(), 50000);
  EXPECT_EQ(resources.at("cpu").as_object().at("period").as_int64(), 100000);
  EXPECT_FALSE(resources.at("memory").as_object().contains("swap"));
  EXPECT_EQ(config.at("root").as_object().at("readonly").as_bool(), false);
  EXPECT_FALSE(config.at("linux").as_object().contains("seccomp"));
}

struct BadSpec {
  const char* name;
  void (*mutate)(ContainerSpec&);
  const char* message;
};

void PrintTo(const BadSpec& bad, std::ostream* os) { *os << bad.name; }

class SpecValidationTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(SpecValidationTest, IsRefused) {
  auto spec = MinimalSpec();
  GetParam().mutate(spec);
  auto st = ValidateContainerSpec(spec);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidInput);
  EXPECT_THAT(st.error().message(), HasSubstr(GetParam().message));
  EXPECT_FALSE(GenerateOciConfig(spec));
}

INSTANTIATE_TEST_SUITE_P(
    Specs, SpecValidationTest,
    ::testing::Values(
        BadSpec{"HostRoot", [](ContainerSpec& s) { s.ids.host_base = 0; }, "host root"},
        BadSpec{"UidOutsideRange", [](ContainerSpec& s) { s.uid = 70000; },
                "outside the mapped range"},
        BadSpec{"RelativeRootfs", [](ContainerSpec& s) { s.rootfs = "rootfs"; }, "rootfs"},
        BadSpec{"DotDotRootfs", [](ContainerSpec& s) { s.rootfs = "/srv/../etc"; }, "rootfs"},
        BadSpec{"OptionLikeId", [](ContainerSpec& s) { s.app_id = "-rf"; }, "app id"},
        BadSpec{"SlashInId", [](ContainerSpec& s) { s.app_id = "a/b"; }, "app id"},
        BadSpec{"NoArgs", [](ContainerSpec& s) { s.args.clear(); }, "args"},
        BadSpec{"BadEnv", [](ContainerSpec& s) { s.env = {"NOEQUALS"}; }, "NAME=value"},
        BadSpec{"MountOverProc",
                [](ContainerSpec& s) {
                  s.extra_mounts = {{"/srv/x", "/proc/sys/kernel", true}};
                },
                "inside /proc"},
        BadSpec{"MountOverData",
                [](ContainerSpec& s) {
                  s.extra_mounts = {{"/srv/x", "/data", true}};
                },
                "inside /data"},
        BadSpec{"MountOverProcSneakily",
                [](ContainerSpec& s) {
                  s.extra_mounts = {{"/srv/x", "//proc/sys", true}};
                },
                "not a clean absolute path"},
        BadSpec{"MountOverRoot",
                [](ContainerSpec& s) {
                  s.extra_mounts = {{"/srv/x", "/", true}};
                },
                "not a clean absolute path"},
        BadSpec{"NetnsWithoutMode", [](ContainerSpec& s) { s.netns_path = "/run/netns/x"; },
                "kNamespace"},
        BadSpec{"NamespaceWithoutPath",
                [](ContainerSpec& s) { s.network = NetworkMode::kNamespace; },
                "network namespace path"},
        BadSpec{"UnboundedPids", [](ContainerSpec& s) { s.pids_limit = 0; }, "pids limit"},
        BadSpec{"TinyMemory", [](ContainerSpec& s) { s.memory_limit_bytes = 1 << 20; },
                "memory limit"},
        BadSpec{"UnknownCapability", [](ContainerSpec& s) { s.capabilities = {"CAP_EVERYTHING"}; },
                "unknown capability"},
        BadSpec{"RelativeCgroupParent", [](ContainerSpec& s) { s.cgroup_parent = "fogkeep"; },
                "cgroup parent"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SpecTest, EveryProblemIsListed) {
  auto spec = MinimalSpec();
  spec.ids.host_base = 0;
  spec.pids_limit = -1;
  auto st = ValidateContainerSpec(spec);
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message(), HasSubstr("host root"));
  EXPECT_THAT(st.error().message(), HasSubstr("pids limit"));
}

TEST(SpecTest, UidBaseForSlotGivesDisjointRanges) {
  EXPECT_EQ(*UidBaseForSlot(0), 200000u);
  EXPECT_EQ(*UidBaseForSlot(1), 265536u);
  EXPECT_EQ(*UidBaseForSlot(10) - *UidBaseForSlot(9), kAppIdRangeSize);
  EXPECT_TRUE(UidBaseForSlot(65531));  // ends at 4294905855
  EXPECT_FALSE(UidBaseForSlot(65532));
  EXPECT_FALSE(UidBaseForSlot(0xffffffffu));
}

TEST(SpecTest, WriteBundleStoresAPrivateConfig) {
  testing::TempDir dir;
  std::string bundle = dir / "bundle";
  ASSERT_TRUE(WriteBundle(bundle, MinimalSpec()));
  struct stat st {};
  ASSERT_EQ(::stat((bundle + "/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto text = fs::ReadFile(bundle + "/config.json");
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, *GenerateOciConfig(MinimalSpec()));
  auto bad = MinimalSpec();
  bad.ids.host_base = 0;
  EXPECT_FALSE(WriteBundle(dir / "bad", bad));
}

}  // namespace
}  // namespace fogkeep::node::runtime
