// node::Apps with the CNI bridge back-end, against real runc, Debian's CNI plugins and
// iptables: an app that declares an interface gets an address on the test's bridge and
// answers at it and through its port map; one that declares nothing has loopback only; host
// networking needs the descriptor and the policy; stops, uninstalls and recovery release
// namespaces, veths and iptables rules; a node port is mapped to one app only.
//
// The suite uses a bridge (fkt<pid>) and a 10.213.<n>.0/24 subnet of its own and sends
// traffic only to loopback, the bridge's own address and the app namespaces it created. What
// it adds is removed: every test releases its apps' networks and checks that no rule or chain
// is left; the suite then deletes its bridge, the portmap plugin's shared chains when they did
// not exist before it, and restores net.ipv4.ip_forward (the bridge plugin turns it on).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "apps_fixture.h"
#include "core/fs.h"
#include "core/process.h"
#include "node/apps.h"
#include "node/network_cni.h"
#include "node/runtime/oci_runtime.h"
#include "node/store.h"
#include "package/stream.h"
#include "support/support.h"

namespace fogkeep::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr char kCniPath[] = "/usr/lib/cni";
constexpr char kIp[] = "/bin/ip";
constexpr char kIptables[] = "/usr/sbin/iptables";
constexpr char kIptablesSave[] = "/usr/sbin/iptables-save";
constexpr char kIpForward[] = "/proc/sys/net/ipv4/ip_forward";
// The chains the portmap plugin shares between all its networks (and never removes).
constexpr const char* kHostportChains[] = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK",
                                           "CNI-HOSTPORT-MASQ"};

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string Read(const std::string& path) {
  auto text = fs::ReadFile(path);
  return text ? *text : std::string();
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

struct Ran {
  bool ok = false;
  std::string out;
  std::string err;
};
Ran RunTool(std::vector<std::string> argv) {
  process::SpawnOptions options;
  options.argv = std::move(argv);
  options.env = process::MinimalEnvironment();
  options.stdout_fd = process::kCapture;
  options.stderr_fd = process::kCapture;
  auto run = process::Run(options);
  if (!run) return Ran{false, "", run.error().message()};
  return Ran{run->status.success(), run->out, run->err};
}

// A /proc/sys file is written in place (it cannot be replaced by a rename).
bool WriteProc(const char* path, const std::string& value) {
  fs::UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  return fd.valid() &&
         ::write(fd.get(), value.data(), value.size()) == static_cast<ssize_t>(value.size());
}

std::string NatRules() { return RunTool({kIptablesSave, "-t", "nat"}).out; }

// Chain names declared in iptables-save output (":NAME POLICY [..]").
std::set<std::string> NatChains() {
  std::set<std::string> out;
  std::istringstream lines(NatRules());
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(":")) out.insert(line.substr(1, line.find(' ') - 1));
  }
  return out;
}

// Interface names in a /proc/net/dev text.
std::vector<std::string> Interfaces(const std::string& proc_net_dev) {
  std::vector<std::string> out;
  std::istringstream lines(proc_net_dev);
  for (std::string line; std::getline(lines, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos || line.find('|') != std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    out.push_back(name);
  }
  std::ranges::sort(out);
  return out;
}

std::vector<std::string> BridgePorts(const std::string& bridge) {
  std::vector<std::string> out;
  (void)fs::Walk("/sys/class/net/" + bridge + "/brif",
                 [&](const std::string& rel, const struct stat&) -> Status {
                   if (rel.find('/') == std::string::npos) out.push_back(rel);
                   return {};
                 });
  return out;
}

bool IsNetns(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == 0x6e736673;  // NSFS_MAGIC
}

// A TCP port nothing on the node uses right now.
std::uint16_t FreePort() {
  fs::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 0;
  socklen_t len = sizeof(addr);
  ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// GET / from ip:port; the whole response, or "" when nothing answered within `timeout`.
std::string HttpGet(const std::string& ip, std::uint16_t port,
                    std::chrono::milliseconds timeout = 2s) {
  fs::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) return "";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait = [&](short events) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{sock.get(), events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) == 1;
  };
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS || !wait(POLLOUT)) return "";
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return "";
  }
  std::string request = "GET / HTTP/1.0\r\nHost: app\r\n\r\n";
  if (::send(sock.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return "";
  }
  std::string response;
  char buf[4096];
  while (wait(POLLIN)) {
    ssize_t n = ::recv(sock.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  return response;
}

// The app: records its interfaces and addresses, then serves /data/www over HTTP on `port`.
std::string WebAppScript(std::uint16_t port) {
  return "mkdir -p /data/www\n"
         "echo hello-from-the-app > /data/www/index.html\n"
         "busybox ip -o -4 addr show > /data/addr\n"
         "cat /proc/net/dev > /data/dev\n"
         "busybox httpd -f -p " +
         std::to_string(port) +
         " -h /data/www &\n"
         "trap 'exit 0' TERM\n"
         "while true; do sleep 1; done\n";
}

class NetworkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = Prerequisite();
    if (!skip_reason_.empty()) return;
    auto signer = testing::MakeSigner();
    ASSERT_TRUE(signer) << signer.error().message();
    signer_ = new testing::Signer(*signer);
    bridge_ = "fkt" + std::to_string(::getpid());
    // A /24 of 10.213/16 that no route of the node uses yet.
    std::string routes = RunTool({kIp, "-4", "route", "show", "table", "all"}).out;
    for (int i = 0; i < 250; ++i) {
      int n = (::getpid() + i) % 250 + 1;
      std::string prefix = "10.213." + std::to_string(n) + ".";
      if (routes.find(prefix) == std::string::npos) {
        subnet_prefix_ = prefix;
        break;
      }
    }
    ASSERT_FALSE(subnet_prefix_.empty()) << "no free 10.213.n.0/24 subnet";
    ip_forward_before_ = Read(kIpForward);
    chains_before_ = NatChains();
  }

  static void TearDownTestSuite() {
    if (!skip_reason_.empty()) return;
    delete signer_;
    signer_ = nullptr;
    if (Exists("/sys/class/net/" + bridge_)) {
      Ran del = RunTool({kIp, "link", "del", bridge_});
      EXPECT_TRUE(del.ok) << del.err;
    }
    // portmap's shared chains: removed when this suite brought them and nothing uses them.
    std::set<std::string> chains = NatChains();
    bool ours =
        !chains_before_.contains("CNI-HOSTPORT-DNAT") && chains.contains("CNI-HOSTPORT-DNAT");
    if (ours && RunTool({kIptables, "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"}).out ==
                    "-N CNI-HOSTPORT-DNAT\n") {
      for (const char* hook : {"PREROUTING", "OUTPUT"}) {
        (void)RunTool({kIptables, "-t", "nat", "-D", hook, "-m", "addrtype", "--dst-type", "LOCAL",
                       "-j", "CNI-HOSTPORT-DNAT"});
      }
      (void)RunTool({kIptables, "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment",
                     "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"});
      for (const char* chain : kHostportChains) {
        (void)RunTool({kIptables, "-t", "nat", "-F", chain});
        (void)RunTool({kIptables, "-t", "nat", "-X", chain});
      }
    }
    if (!ip_forward_before_.empty() && Read(kIpForward) != ip_forward_before_) {
      EXPECT_TRUE(WriteProc(kIpForward, ip_forward_before_));
    }

    // Everything the suite added is gone.
    EXPECT_FALSE(Exists("/sys/class/net/" + bridge_));
    std::string rules = NatRules();
    EXPECT_THAT(rules, ::testing::Not(HasSubstr(cni::NetworkName(bridge_))));
    EXPECT_THAT(rules, ::testing::Not(HasSubstr(subnet_prefix_)));
    EXPECT_EQ(NatChains(), chains_before_) << rules;
    EXPECT_EQ(Read(kIpForward), ip_forward_before_);
  }

  // Empty when the suite can run here; otherwise why not.
  static std::string Prerequisite() {
    if (auto why = testing::MissingPrerequisite(); !why.empty()) return why;
    if (auto missing = MissingBridgePrerequisite(kCniPath); !missing.empty()) {
      return missing + " is not installed";
    }
    for (const char* tool : {kIp, kIptablesSave}) {
      if (::access(tool, X_OK) != 0) return std::string(tool) + " is not installed";
    }
    Ran nat = RunTool({kIptables, "-t", "nat", "-S"});
    if (!nat.ok) return "iptables cannot use the nat table here: " + nat.err;
    return "";
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    dir_ = std::make_unique<fogkeep::testing::TempDir>();
    ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
    data_dir_ = dir_->path() + "/node";
    cgroup_parent_ = testing::UniqueCgroupParent("net");
    config_.data_dir = data_dir_;
    config_.shim_binary = testing::kShimBinary;
    config_.cgroup_parent = cgroup_parent_;
    config_.first_slot = testing::UniqueFirstSlot();
    config_.stop_grace = 5s;
    config_.backoff_initial = 200ms;
    config_.backoff_max = 1s;
    ASSERT_TRUE(OpenNode());
    TrustMaterial trust;
    trust.anchors.push_back(signer_->ca.ToPem());
    auto st = apps_->SetTrust(trust);
    ASSERT_TRUE(st) << st.error().message();
  }

  void TearDown() override {
    apps_.reset();
    if (!data_dir_.empty()) testing::DestroyNode(data_dir_, cgroup_parent_);
    if (network_) {
      // What the test's apps held: released here even when an assertion failed.
      auto released = network_->Reconcile({});
      EXPECT_TRUE(released) << released.error().message();
      network_.reset();
      std::string netns_dir = data_dir_ + "/network/netns";
      std::size_t left = 0;
      (void)fs::Walk(netns_dir, [&](const std::string&, const struct stat&) -> Status {
        ++left;
        return {};
      });
      EXPECT_EQ(left, 0u) << "network namespaces left in " << netns_dir;
      EXPECT_THAT(BridgePorts(bridge_), ::testing::IsEmpty());
      std::string rules = NatRules();
      EXPECT_THAT(rules, ::testing::Not(HasSubstr(cni::NetworkName(bridge_))));
      EXPECT_THAT(rules, ::testing::Not(HasSubstr(subnet_prefix_)));
      std::set<std::string> added;
      for (const auto& chain : NatChains()) {
        if (!chains_before_.contains(chain) && !chain.starts_with("CNI-HOSTPORT-"))
          added.insert(chain);
      }
      EXPECT_THAT(added, ::testing::IsEmpty()) << rules;
    }
    dir_.reset();
  }

  bool OpenNode() {
    CniOptions options;
    options.state_dir = data_dir_ + "/network";
    options.bridge = bridge_;
    options.subnet = subnet_prefix_ + "0/24";
    options.cni_path = kCniPath;
    auto provider = CniNetworkProvider::Create(options);
    EXPECT_TRUE(provider) << provider.error().message();
    if (!provider) return false;
    network_ = std::move(*provider);
    config_.network = network_;
    auto apps = Apps::Open(config_);
    EXPECT_TRUE(apps) << apps.error().message();
    if (!apps) return false;
    apps_ = std::move(*apps);
    return true;
  }

  // fogkeepd exits: the app service and its network provider go; apps keep running.
  void CloseNode() {
    apps_.reset();
    config_.network.reset();
    network_.reset();
  }

  std::string Package(const testing::TestPackage& spec) {
    auto path = testing::BuildTestPackage(dir_->path(), spec, signer_);
    EXPECT_TRUE(path) << path.error().message();
    return path ? *path : std::string();
  }

  Result<AppInfo> Install(const std::string& path, const std::string& id = "") {
    auto source = FK_TRY(package::FileSource::Open(path));
    return apps_->Install(source, InstallOptions{id});
  }

  AppInfo Must(Result<AppInfo> r) {
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : AppInfo{};
  }

  std::string Data(const std::string& id, const std::string& file) {
    return data_dir_ + "/apps/" + id + "/data/" + file;
  }

  bool ShimAlive(const std::string& id) {
    auto text = fs::ReadFile(data_dir_ + "/apps/" + id + "/state/shim.pid", 64);
    if (!text) return false;
    auto stat = fs::ReadFile("/proc/" + std::to_string(std::atoi(text->c_str())) + "/stat");
    if (!stat) return false;
    return (*stat)[stat->rfind(')') + 2] != 'Z';
  }

  // The address AppInfo::network reports for a bridged app ("bridge 10.213.n.m").
  static std::string AddressOf(const AppInfo& info) {
    return info.network.starts_with("bridge ") ? info.network.substr(7) : "";
  }
  static std::string Gateway() { return subnet_prefix_ + "1"; }

  static std::string skip_reason_;
  static testing::Signer* signer_;
  static std::string bridge_;
  static std::string subnet_prefix_;  // "10.213.n."
  static std::string ip_forward_before_;
  static std::set<std::string> chains_before_;

  std::unique_ptr<fogkeep::testing::TempDir> dir_;
  std::string data_dir_;
  std::string cgroup_parent_;
  AppsConfig config_;
  std::shared_ptr<CniNetworkProvider> network_;
  std::unique_ptr<Apps> apps_;
};

std::string NetworkTest::skip_reason_;
testing::Signer* NetworkTest::signer_ = nullptr;
std::string NetworkTest::bridge_;
std::string NetworkTest::subnet_prefix_;
std::string NetworkTest::ip_forward_before_;
std::set<std::string> NetworkTest::chains_before_;

TEST_F(NetworkTest, ADeclaredInterfaceGetsTheBridgeAndThePortMap) {
  const std::uint16_t port = FreePort();
  ASSERT_NE(port, 0);
  testing::TestPackage spec;
  spec.name = "web";
  spec.declare_interface = true;
  spec.port = port;
  spec.script = WebAppScript(port);
  const std::string mapped = "tcp/" + std::to_string(port) + "->" + std::to_string(port);
  auto info = Must(Install(Package(spec)));
  const std::string id = info.id;
  EXPECT_EQ(info.network, "bridge");
  EXPECT_THAT(info.ports, ElementsAre(mapped));

  // Activation describes the network; only a start prepares it.
  Must(apps_->Apply(id, AppAction::kActivate));
  const std::string netns = network_->NetnsPath(id);
  EXPECT_FALSE(Exists(netns));
  info = Must(apps_->Apply(id, AppAction::kStart));
  EXPECT_THAT(info.network, StartsWith("bridge " + subnet_prefix_));
  const std::string ip = AddressOf(info);
  EXPECT_TRUE(IsNetns(netns));
  EXPECT_THAT(BridgePorts(bridge_), ::testing::SizeIs(1));  // the app's veth
  EXPECT_THAT(NatRules(), HasSubstr(cni::NetworkName(bridge_)));

  // Inside: eth0 with the address, and loopback; nothing else.
  ASSERT_TRUE(WaitFor([&] { return !Read(Data(id, "dev")).empty(); })) << *apps_->Logs(id, 0);
  std::string addr = Read(Data(id, "addr"));
  EXPECT_THAT(addr, HasSubstr("eth0"));
  EXPECT_THAT(addr, HasSubstr("inet " + ip + "/24"));
  EXPECT_THAT(addr, HasSubstr("inet 127.0.0.1/8"));
  EXPECT_THAT(Interfaces(Read(Data(id, "dev"))), ElementsAre("eth0", "lo"));

  // It answers at its address, and through the port map on the node's addresses: loopback
  // and the node's address on the test's bridge.
  EXPECT_TRUE(WaitFor([&] {
    return HttpGet(ip, port).find("hello-from-the-app") != std::string::npos;
  })) << *apps_->Logs(id, 0);
  EXPECT_THAT(HttpGet("127.0.0.1", port), HasSubstr("hello-from-the-app"));
  EXPECT_THAT(HttpGet(Gateway(), port), HasSubstr("hello-from-the-app"));
  auto checked = network_->Check(id);
  EXPECT_TRUE(checked) << checked.error().message();

  // A stop releases the namespace, the veth and the rules.
  Must(apps_->Apply(id, AppAction::kStop));
  EXPECT_FALSE(Exists(netns));
  EXPECT_THAT(BridgePorts(bridge_), ::testing::IsEmpty());
  EXPECT_THAT(NatRules(), ::testing::Not(HasSubstr(subnet_prefix_)));
  EXPECT_EQ(HttpGet("127.0.0.1", port, 500ms), "");
  EXPECT_EQ(Must(apps_->Get(id)).network, "bridge");

  // And a start brings it all back.
  ASSERT_TRUE(::unlink(Data(id, "dev").c_str()) == 0);
  info = Must(apps_->Apply(id, AppAction::kStart));
  EXPECT_THAT(info.network, StartsWith("bridge " + subnet_prefix_));
  EXPECT_TRUE(WaitFor(
      [&] { return HttpGet("127.0.0.1", port).find("hello-from-the-app") != std::string::npos; }));
  EXPECT_TRUE(WaitFor([&] { return !Read(Data(id, "dev")).empty(); }));
  EXPECT_THAT(Interfaces(Read(Data(id, "dev"))), ElementsAre("eth0", "lo"));

  Must(apps_->Apply(id, AppAction::kStop));
  Must(apps_->Apply(id, AppAction::kDeactivate));
  ASSERT_TRUE(apps_->Uninstall(id));
  EXPECT_FALSE(Exists(netns));
  EXPECT_FALSE(Exists(data_dir_ + "/network/attachments/" + id + ".json"));
  EXPECT_THAT(BridgePorts(bridge_), ::testing::IsEmpty());
}

TEST_F(NetworkTest, AnAppThatDeclaresNoInterfaceHasOnlyLoopback) {
  testing::TestPackage spec;
  spec.name = "quiet";
  spec.script =
      "cat /proc/net/dev > /data/dev\n"
      "busybox ip -o -4 addr show > /data/addr\n"
      "trap 'exit 0' TERM\nwhile true; do sleep 1; done\n";
  auto info = Must(Install(Package(spec)));
  EXPECT_EQ(info.network, "none");
  EXPECT_TRUE(info.ports.empty());
  Must(apps_->Apply(info.id, AppAction::kActivate));
  EXPECT_EQ(Must(apps_->Apply(info.id, AppAction::kStart)).network, "none");
  ASSERT_TRUE(WaitFor([&] { return !Read(Data(info.id, "addr")).empty(); }))
      << *apps_->Logs(info.id, 0);
  EXPECT_THAT(Interfaces(Read(Data(info.id, "dev"))), ElementsAre("lo"));
  EXPECT_THAT(Read(Data(info.id, "addr")), HasSubstr("inet 127.0.0.1/8"));
  EXPECT_FALSE(Exists(network_->NetnsPath(info.id)));
  EXPECT_THAT(BridgePorts(bridge_), ::testing::IsEmpty());
  Must(apps_->Apply(info.id, AppAction::kStop));
}

TEST_F(NetworkTest, HostNetworkingNeedsTheDescriptorAndThePolicy) {
  const std::uint16_t port = FreePort();
  testing::TestPackage spec;
  spec.name = "on-host";
  spec.declare_interface = true;
  spec.port = port;
  spec.host_network = true;
  spec.script = WebAppScript(port);
  auto info = Must(Install(Package(spec)));
  EXPECT_EQ(info.network, "host");
  EXPECT_THAT(info.ports, ElementsAre("tcp/" + std::to_string(port)));
  auto refused = apps_->Apply(info.id, AppAction::kActivate);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(refused.error().message(), HasSubstr("host networking"));

  PlatformPolicy policy;
  policy.allow_host_network = true;
  ASSERT_TRUE(apps_->SetPolicy(policy));
  Must(apps_->Apply(info.id, AppAction::kActivate));
  EXPECT_EQ(Must(apps_->Apply(info.id, AppAction::kStart)).network, "host");
  ASSERT_TRUE(WaitFor([&] { return !Read(Data(info.id, "dev")).empty(); }))
      << *apps_->Logs(info.id, 0);
  // The node's interfaces, not a namespace of its own.
  EXPECT_EQ(Interfaces(Read(Data(info.id, "dev"))), Interfaces(Read("/proc/net/dev")));
  EXPECT_TRUE(WaitFor(
      [&] { return HttpGet("127.0.0.1", port).find("hello-from-the-app") != std::string::npos; }));
  EXPECT_FALSE(Exists(network_->NetnsPath(info.id)));
  Must(apps_->Apply(info.id, AppAction::kStop));
}

TEST_F(NetworkTest, ANodePortIsMappedToOneAppOnly) {
  const std::uint16_t port = FreePort();
  testing::TestPackage spec;
  spec.declare_interface = true;
  spec.port = port;
  spec.script = WebAppScript(port);
  const std::string first = Must(Install(Package(spec), "first")).id;
  const std::string second = Must(Install(Package(spec), "second")).id;
  for (const auto& id : {first, second}) Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(first, AppAction::kStart));
  auto refused = apps_->Apply(second, AppAction::kStart);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(refused.error().message(), HasSubstr("node port tcp/" + std::to_string(port) +
                                                   " is already mapped to app first"));
  EXPECT_EQ(Must(apps_->Get(second)).state, AppState::kActivated);
  EXPECT_FALSE(Exists(network_->NetnsPath(second)));

  Must(apps_->Apply(first, AppAction::kStop));
  Must(apps_->Apply(second, AppAction::kStart));
  EXPECT_TRUE(WaitFor(
      [&] { return HttpGet("127.0.0.1", port).find("hello-from-the-app") != std::string::npos; }));
  Must(apps_->Apply(second, AppAction::kStop));
}

TEST_F(NetworkTest, NetworksOutliveTheDaemonAndRecoveryReleasesThoseOfStoppedApps) {
  const std::uint16_t port_a = FreePort();
  const std::uint16_t port_b = FreePort();
  ASSERT_NE(port_a, port_b);
  testing::TestPackage spec;
  spec.declare_interface = true;
  spec.port = port_a;
  spec.script = WebAppScript(port_a);
  const std::string a = Must(Install(Package(spec), "kept")).id;
  spec.port = port_b;
  spec.script = WebAppScript(port_b);
  const std::string b = Must(Install(Package(spec), "ended")).id;
  std::string ip_a;
  std::string ip_b;
  for (const auto& id : {a, b}) {
    Must(apps_->Apply(id, AppAction::kActivate));
    (id == a ? ip_a : ip_b) = AddressOf(Must(apps_->Apply(id, AppAction::kStart)));
  }
  ASSERT_TRUE(WaitFor([&] {
    return HttpGet(ip_a, port_a).find("hello-from-the-app") != std::string::npos &&
           HttpGet(ip_b, port_b).find("hello-from-the-app") != std::string::npos;
  }));

  // fogkeepd exits; the apps and their networks stay.
  CloseNode();
  EXPECT_THAT(HttpGet(ip_a, port_a), HasSubstr("hello-from-the-app"));
  EXPECT_THAT(HttpGet("127.0.0.1", port_a), HasSubstr("hello-from-the-app"));
  // While it is away, one app ends and is recorded as stopped (as a crash between the stop
  // of its container and the release of its network would leave it).
  runtime::RuntimeOptions options;
  options.root = data_dir_ + "/runtime";
  ASSERT_TRUE((*runtime::MakeOciRuntime("runc", options))->Kill(b, SIGKILL));
  ASSERT_TRUE(WaitFor([&] { return !ShimAlive(b); }));
  {
    auto store = OpenSqliteAppStore(data_dir_ + "/state.db");
    ASSERT_TRUE(store);
    auto row = (*store)->FindApp(b);
    ASSERT_TRUE(row && *row);
    (*row)->state = AppState::kStopped;
    ASSERT_TRUE((*store)->UpdateApp(**row, std::nullopt));
  }
  EXPECT_TRUE(Exists(data_dir_ + "/network/attachments/" + b + ".json"));

  ASSERT_TRUE(OpenNode());
  // The running app kept its address and its network checks out; the ended one's is gone.
  auto kept = Must(apps_->Get(a));
  EXPECT_EQ(kept.state, AppState::kRunning);
  EXPECT_EQ(AddressOf(kept), ip_a);
  EXPECT_THAT(HttpGet(ip_a, port_a), HasSubstr("hello-from-the-app"));
  auto checked = network_->Check(a);
  EXPECT_TRUE(checked) << checked.error().message();
  EXPECT_EQ(Must(apps_->Get(b)).network, "bridge");
  EXPECT_FALSE(Exists(network_->NetnsPath(b)));
  EXPECT_FALSE(Exists(data_dir_ + "/network/attachments/" + b + ".json"));
  EXPECT_THAT(BridgePorts(bridge_), ::testing::SizeIs(1));
  std::string rules = NatRules();
  EXPECT_THAT(rules, ::testing::Not(HasSubstr("id: \\\"" + b + "\\\"")));
  EXPECT_THAT(rules, ::testing::Not(HasSubstr(ip_b)));
  EXPECT_THAT(rules, HasSubstr(ip_a));
  EXPECT_EQ(HttpGet("127.0.0.1", port_b, 500ms), "");
  Must(apps_->Apply(a, AppAction::kStop));
}

}  // namespace
}  // namespace fogkeep::node
