// The CNI bridge back-end without a real network: the configuration it generates, what each
// plugin is given on stdin, how results and errors are read, the attachment file, the
// settings, and (as root, in a namespace under a temporary directory) the execution protocol
// against fake plugins that record how they were called.
#include "node/network_cni.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/yaml.h"
#include "package/descriptor.h"
#include "support/support.h"

namespace fogkeep::node {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A bridge plugin's real answer (containernetworking-plugins 1.1.1, bridge + host-local).
constexpr char kBridgeResult[] = R"({
  "cniVersion": "1.0.0",
  "interfaces": [
    {"name": "fogkeep0", "mac": "a6:ca:88:2e:99:d3"},
    {"name": "vetha1c7c54e", "mac": "52:23:2b:4f:aa:2a"},
    {"name": "eth0", "mac": "22:70:ce:d6:33:69", "sandbox": "/var/lib/fogkeep/network/netns/demo"}
  ],
  "ips": [{"interface": 2, "address": "10.89.0.7/24", "gateway": "10.89.0.1"}],
  "routes": [{"dst": "0.0.0.0/0"}],
  "dns": {}
})";

json::object Object(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.get_object() : json::object{};
}

CniOptions Options(const std::string& state_dir = "/var/lib/fogkeep/network") {
  CniOptions o;
  o.state_dir = state_dir;
  o.bridge = "fkbr0";
  o.subnet = "10.213.7.0/24";
  return o;
}

package::Descriptor WithPorts(std::vector<std::vector<package::PortMap>> interfaces) {
  package::Descriptor d;
  int n = 0;
  for (auto& ports : interfaces) {
    package::NetworkRequest r;
    r.interface_name = "eth" + std::to_string(n++);
    r.ports = std::move(ports);
    d.resources.network.push_back(std::move(r));
  }
  return d;
}

TEST(CniConfigTest, ConflistChainsBridgeWithHostLocalThenPortmap) {
  auto list = Object(cni::Conflist(Options()));
  EXPECT_EQ(list["cniVersion"], "1.0.0");
  EXPECT_EQ(list["name"], "fogkeep-fkbr0");
  const auto& plugins = list["plugins"].as_array();
  ASSERT_EQ(plugins.size(), 2u);
  const auto& bridge = plugins[0].as_object();
  EXPECT_EQ(bridge.at("type"), "bridge");
  EXPECT_EQ(bridge.at("bridge"), "fkbr0");
  EXPECT_EQ(bridge.at("isGateway"), true);
  EXPECT_EQ(bridge.at("ipMasq"), true);
  EXPECT_EQ(bridge.at("hairpinMode"), true);
  const auto& ipam = bridge.at("ipam").as_object();
  EXPECT_EQ(ipam.at("type"), "host-local");
  EXPECT_EQ(ipam.at("dataDir"), "/var/lib/fogkeep/network/ipam");
  EXPECT_EQ(ipam.at("ranges").as_array()[0].as_array()[0].as_object().at("subnet"),
            "10.213.7.0/24");
  EXPECT_EQ(ipam.at("routes").as_array()[0].as_object().at("dst"), "0.0.0.0/0");
  const auto& portmap = plugins[1].as_object();
  EXPECT_EQ(portmap.at("type"), "portmap");
  EXPECT_EQ(portmap.at("capabilities").as_object().at("portMappings"), true);
  EXPECT_THAT(*cni::PluginTypes(cni::Conflist(Options())), ElementsAre("bridge", "portmap"));
}

TEST(CniConfigTest, PluginConfigFollowsLibcni) {
  const std::string list = cni::Conflist(Options());
  std::vector<cni::PortMapping> ports = {{"tcp", 8080, 8080}, {"udp", 9000, 9000}};

  // The first plugin: the list's version and name, no prevResult, and no runtimeConfig
  // because bridge does not declare the portMappings capability.
  auto first = Object(*cni::PluginConfig(list, 0, "", ports));
  EXPECT_EQ(first["type"], "bridge");
  EXPECT_EQ(first["cniVersion"], "1.0.0");
  EXPECT_EQ(first["name"], "fogkeep-fkbr0");
  EXPECT_FALSE(first.contains("prevResult"));
  EXPECT_FALSE(first.contains("runtimeConfig"));

  // The second: the previous plugin's result and the port mappings.
  auto second = Object(*cni::PluginConfig(list, 1, kBridgeResult, ports));
  EXPECT_EQ(second["type"], "portmap");
  EXPECT_EQ(second["name"], "fogkeep-fkbr0");
  EXPECT_EQ(second["prevResult"].as_object().at("ips").as_array()[0].as_object().at("address"),
            "10.89.0.7/24");
  const auto& mappings = second["runtimeConfig"].as_object().at("portMappings").as_array();
  ASSERT_EQ(mappings.size(), 2u);
  EXPECT_EQ(mappings[0].as_object().at("hostPort"), 8080);
  EXPECT_EQ(mappings[0].as_object().at("containerPort"), 8080);
  EXPECT_EQ(mappings[0].as_object().at("protocol"), "tcp");
  EXPECT_EQ(mappings[1].as_object().at("protocol"), "udp");

  // No ports: no runtimeConfig even for portmap.
  EXPECT_FALSE(Object(*cni::PluginConfig(list, 1, kBridgeResult, {})).contains("runtimeConfig"));

  EXPECT_EQ(cni::PluginConfig(list, 2, "", {}).error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(cni::PluginConfig(list, 1, "{not json", {}).error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(cni::PluginConfig("[]", 0, "", {}).error().code(), ErrorCode::kInvalidInput);
}

TEST(CniConfigTest, PluginTypesMustBePlainNames) {
  EXPECT_FALSE(
      cni::PluginTypes(R"({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../sh"}]})"));
  EXPECT_FALSE(cni::PluginTypes(R"({"cniVersion":"1.0.0","name":"n","plugins":[{}]})"));
  EXPECT_FALSE(cni::PluginTypes(R"({"cniVersion":"1.0.0","name":"n","plugins":[]})"));
  EXPECT_FALSE(cni::PluginTypes(R"({"name":"n","plugins":[{"type":"bridge"}]})"));
  EXPECT_FALSE(cni::PluginTypes("not json"));
}

TEST(CniConfigTest, PortMappingsCoverEveryInterfaceOnce) {
  auto d = WithPorts({{{"tcp", 8080}, {"udp", 5683}}, {{"tcp", 8080}, {"tcp", 8443}}});
  auto mappings = cni::PortMappingsFor(d);
  ASSERT_EQ(mappings.size(), 3u);
  EXPECT_EQ(cni::FormatPortMapping(mappings[0]), "tcp/8080->8080");
  EXPECT_EQ(cni::FormatPortMapping(mappings[1]), "udp/5683->5683");
  EXPECT_EQ(cni::FormatPortMapping(mappings[2]), "tcp/8443->8443");
  EXPECT_TRUE(cni::PortMappingsFor(package::Descriptor{}).empty());
}

TEST(CniResultTest, TheContainersInterfaceGivesTheAddress) {
  auto address = cni::ParseAddResult(kBridgeResult, "eth0");
  ASSERT_TRUE(address) << address.error().message();
  EXPECT_EQ(address->ip, "10.89.0.7");
  EXPECT_EQ(address->prefix, 24);
  EXPECT_EQ(address->gateway, "10.89.0.1");

  // Several addresses: the one on the named interface inside the sandbox wins.
  auto two = cni::ParseAddResult(R"({"interfaces":[{"name":"br"},{"name":"eth0","sandbox":"/n"}],
      "ips":[{"interface":0,"address":"10.0.0.1/16"},{"interface":1,"address":"10.0.3.4/16"}]})",
                                 "eth0");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->ip, "10.0.3.4");
  EXPECT_EQ(two->gateway, "");

  // Without interface indexes, the first address.
  auto bare = cni::ParseAddResult(R"({"ips":[{"address":"192.168.5.9/28"}]})", "eth0");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->ip, "192.168.5.9");
  EXPECT_EQ(bare->prefix, 28);

  for (const char* bad : {"", "[]", R"({"ips":[]})", R"({"ips":[{"address":"10.0.0.1"}]})",
                          R"({"ips":[{"address":"nonsense/24"}]})",
                          R"({"ips":[{"address":"10.0.0.1/99"}]})", R"({"ips":[{}]})"}) {
    auto parsed = cni::ParseAddResult(bad, "eth0");
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidInput) << bad;
  }
}

TEST(CniResultTest, PluginErrorsReadTheErrorObjectThenStderr) {
  EXPECT_EQ(cni::PluginError(R"({"cniVersion":"1.0.0","code":7,"msg":"failed to set bridge addr",
                               "details":"could not add IP address to \"fk0\": permission denied"})",
                             "", "exit code 1"),
            "failed to set bridge addr: could not add IP address to \"fk0\": permission denied "
            "(CNI error 7)");
  EXPECT_EQ(cni::PluginError(R"({"code":11,"msg":"boom"})", "", "exit code 1"),
            "boom (CNI error 11)");
  EXPECT_EQ(cni::PluginError("", "  panic: runtime error\n", "exit code 2"),
            "panic: runtime error");
  EXPECT_EQ(cni::PluginError("garbage", "", "exit code 2"), "garbage");
  EXPECT_EQ(cni::PluginError("", "", "killed by signal 9 (SIGKILL)"),
            "killed by signal 9 (SIGKILL)");
}

TEST(CniAttachmentTest, RoundTripsWhatDelNeeds) {
  cni::Attachment a;
  a.container_id = "demo";
  a.netns = "/var/lib/fogkeep/network/netns/demo";
  a.ifname = "eth0";
  a.conflist = cni::Conflist(Options());
  a.ports = {{"tcp", 8080, 8080}, {"udp", 5683, 5683}};
  a.result = kBridgeResult;
  auto back = cni::ParseAttachment(cni::FormatAttachment(a));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->container_id, "demo");
  EXPECT_EQ(back->netns, a.netns);
  EXPECT_EQ(back->ifname, "eth0");
  EXPECT_EQ(back->ports, a.ports);
  EXPECT_EQ(Object(back->conflist), Object(a.conflist));
  EXPECT_EQ(Object(back->result), Object(a.result));

  // Before ADD has finished there is no result.
  a.result.clear();
  back = cni::ParseAttachment(cni::FormatAttachment(a));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->result, "");

  for (const char* bad : {
           "",
           "{}",
           "[1]",
           R"({"container_id":"d","netns":"relative","ifname":"eth0","network":{}})",
           R"({"container_id":"d","netns":"/n","ifname":"eth0"})",
           R"({"container_id":"d","netns":"/n","ifname":"eth0","network":{"cniVersion":"1.0.0",
               "name":"n","plugins":[{"type":"bridge"}]},"port_mappings":[{"hostPort":0,
               "containerPort":1,"protocol":"tcp"}]})",
           R"({"container_id":"d","netns":"/n","ifname":"eth0","network":{"cniVersion":"1.0.0",
               "name":"n","plugins":[{"type":"bridge"}]},"port_mappings":[{"hostPort":80,
               "containerPort":80,"protocol":"sctp"}]})",
       }) {
    EXPECT_FALSE(cni::ParseAttachment(bad)) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Settings

Result<NetworkSettings> FromYaml(const std::string& text) {
  auto node = FK_TRY(yaml::Parse(text));
  return ParseNetworkSettings(node);
}

TEST(NetworkSettingsTest, ParsesAndValidates) {
  auto s = FromYaml("mode: bridge\nbridge: fk1\nsubnet: 10.99.4.0/23\ncni-path: /opt/cni/bin\n");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->mode, "bridge");
  EXPECT_EQ(s->bridge, "fk1");
  EXPECT_EQ(s->subnet, "10.99.4.0/23");
  EXPECT_EQ(s->cni_path, "/opt/cni/bin");
  auto underscore = FromYaml("cni_path: /usr/libexec/cni\n");
  ASSERT_TRUE(underscore);
  EXPECT_EQ(underscore->cni_path, "/usr/libexec/cni");
  EXPECT_EQ(underscore->mode, "auto");  // the defaults stay

  auto defaults = FromYaml("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->bridge, "fogkeep0");
  EXPECT_EQ(defaults->subnet, "10.89.0.0/24");
  EXPECT_TRUE(ValidateNetworkSettings(NetworkSettings{}));

  struct Case {
    std::string yaml;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {"mode: nat\n", "network.mode must be auto, bridge or none"},
           {"bridge: a-bridge-name-too-long\n", "network.bridge"},
           {"bridge: \"br/0\"\n", "network.bridge"},
           {"subnet: 10.89.0.1/24\n", "host bits are set"},
           {"subnet: 10.89.0.0\n", "expected an IPv4 CIDR"},
           {"subnet: 10.89.0.0/31\n", "between 8 and 29"},
           {"subnet: fd00::/64\n", "is not an IPv4 address"},
           {"cni-path: lib/cni\n", "network.cni-path must be an absolute path"},
           {"colour: blue\n", "network.colour (line 1): unknown key"},
           {"mode: [bridge]\n", "must be a scalar"},
           {"- bridge\n", "network must be a mapping"},
       }) {
    auto parsed = FromYaml(c.yaml);
    ASSERT_FALSE(parsed) << c.yaml;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidInput);
    EXPECT_THAT(parsed.error().message(), HasSubstr(c.message)) << c.yaml;
  }
  // Every problem at once.
  auto all = FromYaml("mode: x\nsubnet: y\n");
  ASSERT_FALSE(all);
  EXPECT_THAT(all.error().message(), HasSubstr("network.mode"));
  EXPECT_THAT(all.error().message(), HasSubstr("network.subnet"));
}

TEST(NetworkSettingsTest, ModesPickTheProvider) {
  fogkeep::testing::TempDir dir;
  package::Descriptor declares = WithPorts({{{"tcp", 8080}}});

  NetworkSettings none;
  none.mode = "none";
  auto provider = MakeNetworkProvider(none, dir.path());
  ASSERT_TRUE(provider) << provider.error().message();
  EXPECT_EQ((*provider)->Describe("a", declares).description, "none (bridge unavailable)");
  EXPECT_THAT((*provider)->Describe("a", declares).ports, ElementsAre("tcp/8080"));

  // auto without the plugins falls back to none; bridge without them is refused.
  NetworkSettings missing;
  missing.cni_path = dir.path() + "/no-plugins-here";
  auto fallback = MakeNetworkProvider(missing, dir.path());
  ASSERT_TRUE(fallback) << fallback.error().message();
  EXPECT_EQ((*fallback)->Describe("a", declares).description, "none (bridge unavailable)");
  missing.mode = "bridge";
  auto refused = MakeNetworkProvider(missing, dir.path());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(refused.error().message(), HasSubstr("no-plugins-here/bridge is not installed"));

  NetworkSettings bad;
  bad.subnet = "nonsense";
  EXPECT_EQ(MakeNetworkProvider(bad, dir.path()).error().code(), ErrorCode::kInvalidInput);
}

// ---------------------------------------------------------------------------------------------
// The execution protocol, against fake plugins

// Each fake plugin appends "<command> <type> <id> <netns> <ifname> <cni path>" to calls.log,
// keeps its stdin as <command>-<type>.json, and answers ADD with a fixed result (portmap
// passes its prevResult on, as the real one does). A file fail-<type>-<command> makes it fail
// with a CNI error object.
constexpr char kFakePlugin[] = R"(#!/bin/sh
dir=$(dirname "$0")
type=$(basename "$0")
cat > "$dir/$CNI_COMMAND-$type.json"
echo "$CNI_COMMAND $type $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_PATH" >> "$dir/calls.log"
if [ -e "$dir/fail-$type-$CNI_COMMAND" ]; then
  echo '{"cniVersion":"1.0.0","code":11,"msg":"fake failure","details":"as asked"}'
  exit 1
fi
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"fkbr0"},{"name":"'"$CNI_IFNAME"'","sandbox":"'"$CNI_NETNS"'"}],"ips":[{"interface":1,"address":"10.213.7.9/24","gateway":"10.213.7.1"}]}'
fi
exit 0
)";

constexpr long kNsfsMagic = 0x6e736673;

bool IsNetns(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == kNsfsMagic;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Whether loopback is up inside the namespace pinned at `path` (looked at from a thread that
// joins it, so the test process stays where it is).
bool LoopbackUpIn(const std::string& path) {
  bool up = false;
  std::thread([&] {
    fs::UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) return;
    fs::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    up = sock.valid() && ::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
  }).join();
  return up;
}

class FakePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: creates a network namespace";
    plugins_ = dir_.path() + "/plugins";
    ASSERT_TRUE(fs::MakeDirs(plugins_));
    for (const char* type : {"bridge", "host-local", "portmap"}) {
      ASSERT_TRUE(fs::WriteFileAtomic(plugins_ + "/" + type, kFakePlugin, 0755));
    }
    CniOptions options = Options(dir_.path() + "/network");
    options.cni_path = plugins_;
    auto made = CniNetworkProvider::Create(options);
    if (!made && made.error().message().find("iptables") != std::string::npos) {
      GTEST_SKIP() << made.error().message();
    }
    ASSERT_TRUE(made) << made.error().message();
    provider_ = std::move(*made);
  }

  void TearDown() override {
    if (provider_) {
      EXPECT_TRUE(provider_->Reconcile({}));
    }
  }

  std::string Calls() {
    auto text = fs::ReadFile(plugins_ + "/calls.log");
    ::unlink((plugins_ + "/calls.log").c_str());
    return text ? *text : "";
  }
  json::object Stdin(const std::string& command, const std::string& type) {
    auto text = fs::ReadFile(plugins_ + "/" + command + "-" + type + ".json");
    return text ? Object(*text) : json::object{};
  }
  std::string AttachmentFile(const std::string& id) {
    return dir_.path() + "/network/attachments/" + id + ".json";
  }

  fogkeep::testing::TempDir dir_;
  std::string plugins_;
  std::unique_ptr<CniNetworkProvider> provider_;
};

TEST_F(FakePluginTest, AttachRunsAddInOrderAndDetachRunsDelInReverse) {
  auto d = WithPorts({{{"tcp", 18080}}});
  EXPECT_EQ(provider_->Describe("demo", d).description, "bridge");
  auto attached = provider_->Attach("demo", d, PlatformPolicy{});
  ASSERT_TRUE(attached) << attached.error().message();
  const std::string netns = provider_->NetnsPath("demo");
  EXPECT_EQ(attached->mode, runtime::NetworkMode::kNamespace);
  EXPECT_EQ(attached->netns_path, netns);
  EXPECT_EQ(attached->description, "bridge 10.213.7.9");
  EXPECT_THAT(attached->ports, ElementsAre("tcp/18080->18080"));
  EXPECT_EQ(provider_->Describe("demo", d).description, "bridge 10.213.7.9");
  EXPECT_TRUE(IsNetns(netns));
  EXPECT_TRUE(LoopbackUpIn(netns));

  const std::string env = " demo " + netns + " eth0 " + plugins_ + "\n";
  EXPECT_EQ(Calls(), "ADD bridge" + env + "ADD portmap" + env);
  auto bridge_add = Stdin("ADD", "bridge");
  EXPECT_EQ(bridge_add["name"], "fogkeep-fkbr0");
  EXPECT_FALSE(bridge_add.contains("prevResult"));
  auto portmap_add = Stdin("ADD", "portmap");
  EXPECT_EQ(portmap_add["prevResult"].as_object().at("ips").as_array()[0].as_object().at("address"),
            "10.213.7.9/24");
  EXPECT_EQ(portmap_add["runtimeConfig"]
                .as_object()
                .at("portMappings")
                .as_array()[0]
                .as_object()
                .at("hostPort"),
            18080);
  auto saved = cni::ParseAttachment(*fs::ReadFile(AttachmentFile("demo")));
  ASSERT_TRUE(saved);
  EXPECT_FALSE(saved->result.empty());

  ASSERT_TRUE(provider_->Check("demo"));
  EXPECT_EQ(Calls(), "CHECK bridge" + env + "CHECK portmap" + env);
  EXPECT_TRUE(Stdin("CHECK", "bridge").contains("prevResult"));

  ASSERT_TRUE(provider_->Detach("demo"));
  EXPECT_EQ(Calls(), "DEL portmap" + env + "DEL bridge" + env);
  // DEL sees what ADD returned, and the same port mappings.
  EXPECT_EQ(Stdin("DEL", "bridge")["prevResult"], Object(saved->result));
  EXPECT_TRUE(Stdin("DEL", "portmap").contains("runtimeConfig"));
  EXPECT_FALSE(Exists(netns));
  EXPECT_FALSE(Exists(AttachmentFile("demo")));
  EXPECT_EQ(provider_->Describe("demo", d).description, "bridge");

  // Releasing again, or what never existed, does nothing.
  ASSERT_TRUE(provider_->Detach("demo"));
  ASSERT_TRUE(provider_->Detach("never-attached"));
  EXPECT_EQ(Calls(), "");
  EXPECT_EQ(provider_->Check("demo").error().code(), ErrorCode::kNotFound);
}

TEST_F(FakePluginTest, AttachingAgainReleasesTheEarlierAttachmentFirst) {
  auto d = WithPorts({{{"tcp", 18081}}});
  ASSERT_TRUE(provider_->Attach("demo", d, PlatformPolicy{}));
  Calls();
  ASSERT_TRUE(provider_->Attach("demo", d, PlatformPolicy{}));
  const std::string env = " demo " + provider_->NetnsPath("demo") + " eth0 " + plugins_ + "\n";
  EXPECT_EQ(Calls(),
            "DEL portmap" + env + "DEL bridge" + env + "ADD bridge" + env + "ADD portmap" + env);
}

TEST_F(FakePluginTest, AFailedAddIsUndone) {
  ASSERT_TRUE(fs::WriteFileAtomic(plugins_ + "/fail-portmap-ADD", ""));
  auto attached = provider_->Attach("demo", WithPorts({{{"tcp", 18082}}}), PlatformPolicy{});
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(attached.error().message(),
              HasSubstr("CNI portmap ADD: fake failure: as asked (CNI error 11)"));
  const std::string env = " demo " + provider_->NetnsPath("demo") + " eth0 " + plugins_ + "\n";
  EXPECT_EQ(Calls(),
            "ADD bridge" + env + "ADD portmap" + env + "DEL portmap" + env + "DEL bridge" + env);
  EXPECT_FALSE(Exists(provider_->NetnsPath("demo")));
  EXPECT_FALSE(Exists(AttachmentFile("demo")));
}

TEST_F(FakePluginTest, AFailedDelKeepsWhatTheNextTryNeeds) {
  auto d = WithPorts({{{"udp", 18083}}});
  ASSERT_TRUE(provider_->Attach("demo", d, PlatformPolicy{}));
  Calls();
  ASSERT_TRUE(fs::WriteFileAtomic(plugins_ + "/fail-bridge-DEL", ""));
  auto detached = provider_->Detach("demo");
  ASSERT_FALSE(detached);
  EXPECT_THAT(detached.error().message(), HasSubstr("release the network of app demo"));
  const std::string env = " demo " + provider_->NetnsPath("demo") + " eth0 " + plugins_ + "\n";
  // portmap got its DEL although bridge's failed after it.
  EXPECT_EQ(Calls(), "DEL portmap" + env + "DEL bridge" + env);
  EXPECT_TRUE(IsNetns(provider_->NetnsPath("demo")));
  EXPECT_TRUE(Exists(AttachmentFile("demo")));
  // Attach refuses to add on top of what it could not release.
  EXPECT_FALSE(provider_->Attach("demo", d, PlatformPolicy{}));

  ::unlink((plugins_ + "/fail-bridge-DEL").c_str());
  ASSERT_TRUE(provider_->Detach("demo"));
  EXPECT_FALSE(Exists(provider_->NetnsPath("demo")));
}

TEST_F(FakePluginTest, AnAttachmentWhoseNamespaceIsGoneIsReleasedWithoutOne) {
  // As after a reboot: the attachment file survived, the namespace's mount did not.
  ASSERT_TRUE(provider_->Attach("demo", WithPorts({{{"tcp", 18085}}}), PlatformPolicy{}));
  Calls();
  const std::string netns = provider_->NetnsPath("demo");
  ASSERT_EQ(::umount2(netns.c_str(), MNT_DETACH), 0);
  ASSERT_TRUE(provider_->Detach("demo"));
  const std::string env = " demo  eth0 " + plugins_ + "\n";  // CNI_NETNS empty
  EXPECT_EQ(Calls(), "DEL portmap" + env + "DEL bridge" + env);
  EXPECT_FALSE(Exists(netns));
  EXPECT_FALSE(Exists(AttachmentFile("demo")));
}

TEST_F(FakePluginTest, NodePortsAreNotMappedTwice) {
  ASSERT_TRUE(provider_->Attach("first", WithPorts({{{"tcp", 18084}}}), PlatformPolicy{}));
  auto second =
      provider_->Attach("second", WithPorts({{{"udp", 18084}, {"tcp", 18084}}}), PlatformPolicy{});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(second.error().message(), "node port tcp/18084 is already mapped to app first");
  EXPECT_FALSE(Exists(provider_->NetnsPath("second")));
  // The same port on the other protocol is fine.
  ASSERT_TRUE(provider_->Attach("second", WithPorts({{{"udp", 18084}}}), PlatformPolicy{}));

  // A port a program on the node listens on is refused too.
  fs::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::uint16_t busy = ntohs(addr.sin_port);
  auto taken = provider_->Attach("third", WithPorts({{{"tcp", busy}}}), PlatformPolicy{});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(taken.error().message(), HasSubstr("is in use by a program on the node"));
}

TEST_F(FakePluginTest, ReconcileReleasesAllButTheKeptApps) {
  ASSERT_TRUE(
      provider_->Attach("keep", WithPorts({std::vector<package::PortMap>{}}), PlatformPolicy{}));
  ASSERT_TRUE(
      provider_->Attach("drop", WithPorts({std::vector<package::PortMap>{}}), PlatformPolicy{}));
  // A namespace whose attachment file is already gone is released as well.
  ASSERT_TRUE(fs::WriteFileAtomic(dir_.path() + "/network/netns/stray", ""));
  ASSERT_TRUE(provider_->Reconcile({"keep"}));
  EXPECT_TRUE(IsNetns(provider_->NetnsPath("keep")));
  EXPECT_FALSE(Exists(provider_->NetnsPath("drop")));
  EXPECT_FALSE(Exists(AttachmentFile("drop")));
  EXPECT_FALSE(Exists(dir_.path() + "/network/netns/stray"));
  EXPECT_TRUE(Exists(AttachmentFile("keep")));
}

TEST_F(FakePluginTest, AppsWithoutAnInterfaceOrOnTheHostGetNothingPrepared) {
  package::Descriptor plain;
  auto none = provider_->Attach("plain", plain, PlatformPolicy{});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->mode, runtime::NetworkMode::kNone);
  EXPECT_EQ(none->description, "none");
  EXPECT_TRUE(none->ports.empty());

  package::Descriptor host = WithPorts({{{"tcp", 8080}}});
  host.security.host_network = true;
  auto on_host = provider_->Attach("host", host, PlatformPolicy{});
  ASSERT_TRUE(on_host);
  EXPECT_EQ(on_host->mode, runtime::NetworkMode::kHost);
  EXPECT_EQ(on_host->description, "host");
  EXPECT_THAT(on_host->ports, ElementsAre("tcp/8080"));
  EXPECT_EQ(Calls(), "");
  EXPECT_FALSE(Exists(provider_->NetnsPath("plain")));
  EXPECT_FALSE(Exists(provider_->NetnsPath("host")));
}

}  // namespace
}  // namespace fogkeep::node
