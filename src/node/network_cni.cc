#include "node/network_cni.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "core/fs.h"
#include "core/log.h"
#include "core/process.h"

namespace fogkeep::node {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxStateFile = 1 << 20;
constexpr std::size_t kMaxBridgeName = 15;  // IFNAMSIZ - 1
// The plugins the configuration list runs (host-local is executed by bridge, as its IPAM).
constexpr std::string_view kPluginsNeeded[] = {"bridge", "host-local", "portmap"};
// ipMasq and portmap run iptables, found through process::MinimalEnvironment()'s PATH.
constexpr std::string_view kIptablesPaths[] = {"/usr/sbin/iptables", "/sbin/iptables"};

// Boost.JSON's parse reports syntax errors through `ec`; what can still throw (allocation)
// is caught here, so nothing escapes into fogkeep code.
Result<json::value> ParseJson(std::string_view text, std::string_view what) {
  json::error_code ec;
  json::value value;
  try {
    value = json::parse(text, ec);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidInput, std::string(what) + ": " + e.what());
  }
  if (ec) return Fail(ErrorCode::kInvalidInput, std::string(what) + ": " + ec.message());
  return value;
}

std::string Serialize(const json::value& value) { return json::serialize(value); }

const json::string* StringMember(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr ? v->if_string() : nullptr;
}

std::optional<std::int64_t> IntMember(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* i = v->if_int64()) return *i;
  if (const auto* u = v->if_uint64(); u && *u <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(*u);
  }
  return std::nullopt;
}

bool PlainName(std::string_view name, std::size_t max) {
  return !name.empty() && name.size() <= max && name != "." && name != ".." &&
         std::ranges::all_of(name, [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
         });
}

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

struct Subnet {
  in_addr_t network = 0;  // host byte order
  int prefix = 0;
};

// "a.b.c.d/n" with n in [8, 29] and no host bits set.
Result<Subnet> ParseSubnet(std::string_view text) {
  auto slash = text.find('/');
  auto bad = [&](std::string why) {
    return Fail(ErrorCode::kInvalidInput,
                "subnet '" + std::string(text) + "' is not usable: " + std::move(why));
  };
  if (slash == std::string_view::npos) return bad("expected an IPv4 CIDR like 10.89.0.0/24");
  std::string ip(text.substr(0, slash));
  std::string_view bits = text.substr(slash + 1);
  in_addr addr{};
  if (::inet_pton(AF_INET, ip.c_str(), &addr) != 1)
    return bad("'" + ip + "' is not an IPv4 address");
  int prefix = -1;
  auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size()) {
    return bad("the prefix length is not a number");
  }
  if (prefix < 8 || prefix > 29) return bad("the prefix length must be between 8 and 29");
  in_addr_t host = ntohl(addr.s_addr);
  in_addr_t mask = ~in_addr_t{0} << (32 - prefix);
  if ((host & ~mask) != 0) return bad("host bits are set (the network address is expected)");
  return Subnet{host, prefix};
}

// ---------------------------------------------------------------------------------------------
// Network namespaces pinned by a bind mount (what `ip netns add` does)

// Runs on a thread of its own, which it leaves in the new namespace: a network namespace is a
// per-thread attribute, so the rest of fogkeepd never changes namespace, and no fork is needed
// in a multi-threaded process.
Status PinNewNetns(const std::string& path) {
  if (::unshare(CLONE_NEWNET) != 0) return FailErrno("unshare(CLONE_NEWNET)", errno);
  // runc brings loopback up only in namespaces it creates itself, not in one it joins.
  fs::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return FailErrno("socket in the new network namespace", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return FailErrno("read lo's flags", errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return FailErrno("bring lo up", errno);
  std::string self = "/proc/self/task/" + std::to_string(::gettid()) + "/ns/net";
  if (::mount(self.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return FailErrno("bind-mount the network namespace on " + path, errno);
  }
  return {};
}

// Whether `path` is a pinned network namespace (a bind mount of an nsfs file).
bool IsPinnedNetns(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == NSFS_MAGIC;
}

// Unmounts (every layer) and removes the namespace file; a missing one is fine.
Status RemoveNetns(const std::string& path) {
  for (int i = 0; i < 16; ++i) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
      if (errno == EINVAL || errno == ENOENT) break;  // not (or no longer) a mount point
      return FailErrno("unmount network namespace " + path, errno);
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return FailErrno("remove network namespace " + path, errno);
  }
  return {};
}

Status CreateNetns(const std::string& path) {
  fs::UniqueFd file(
      ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400));
  if (!file.valid()) return FailErrno("create " + path, errno);
  file.Reset();
  Status made;
  try {
    std::thread worker([&] { made = PinNewNetns(path); });
    worker.join();
  } catch (const std::system_error& e) {
    made = Fail(ErrorCode::kUnavailable, std::string("start a thread: ") + e.what());
  }
  if (!made) {
    (void)RemoveNetns(path);
    return Fail(made.error().With("create network namespace " + path));
  }
  return {};
}

// Whether something on the node already listens on (tcp) or is bound to (udp) `port` on any
// address: DNAT would take that service's traffic from other hosts away.
bool PortBusyOnNode(const std::string& protocol, std::uint16_t port) {
  bool tcp = protocol == "tcp";
  fs::UniqueFd sock(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return false;
  if (tcp) {
    // Connections lingering in TIME_WAIT do not count; only a listener makes bind fail.
    int one = 1;
    ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return false;
  return errno == EADDRINUSE;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Settings

Status ValidateNetworkSettings(const NetworkSettings& s) {
  std::vector<std::string> problems;
  if (s.mode != "auto" && s.mode != "bridge" && s.mode != "none") {
    problems.push_back("network.mode must be auto, bridge or none, not '" + s.mode + "'");
  }
  if (!PlainName(s.bridge, kMaxBridgeName)) {
    problems.push_back("network.bridge '" + s.bridge +
                       "' must be 1-15 characters of letters, digits, '_', '.' and '-'");
  }
  if (auto subnet = ParseSubnet(s.subnet); !subnet) {
    problems.push_back("network." + subnet.error().message());
  }
  if (s.cni_path.empty() || s.cni_path.front() != '/') {
    problems.push_back("network.cni-path must be an absolute path, not '" + s.cni_path + "'");
  }
  if (problems.empty()) return {};
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
  return Fail(ErrorCode::kInvalidInput, message);
}

Result<NetworkSettings> ParseNetworkSettings(const yaml::Node& node, NetworkSettings settings) {
  if (node.IsNull()) return settings;
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidInput,
                "network must be a mapping (mode, bridge, subnet, cni-path)");
  }
  for (const auto& [key, value] : node.entries()) {
    std::string where = "network." + key + " (line " + std::to_string(value.line()) + ")";
    if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
    const std::string& v = value.scalar();
    if (key == "mode") {
      settings.mode = v;
    } else if (key == "bridge") {
      settings.bridge = v;
    } else if (key == "subnet") {
      settings.subnet = v;
    } else if (key == "cni-path" || key == "cni_path") {
      settings.cni_path = v;
    } else {
      return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    }
  }
  FK_TRY(ValidateNetworkSettings(settings));
  return settings;
}

std::string MissingBridgePrerequisite(const std::string& cni_path) {
  for (auto plugin : kPluginsNeeded) {
    std::string path = cni_path + "/" + std::string(plugin);
    if (!Executable(path)) return "CNI plugin " + path;
  }
  if (std::ranges::none_of(kIptablesPaths,
                           [](std::string_view p) { return Executable(std::string(p)); })) {
    return "iptables";
  }
  return "";
}

Result<std::shared_ptr<NetworkProvider>> MakeNetworkProvider(const NetworkSettings& settings,
                                                             const std::string& data_dir) {
  FK_TRY(ValidateNetworkSettings(settings));
  if (settings.mode == "none") return std::shared_ptr<NetworkProvider>(MakeNoNetworkProvider());
  if (settings.mode == "auto") {
    if (auto missing = MissingBridgePrerequisite(settings.cni_path); !missing.empty()) {
      log::Warn(
          "network: {} is not installed; apps that declare an interface get loopback only "
          "(install containernetworking-plugins and iptables for bridge networking)",
          missing);
      return std::shared_ptr<NetworkProvider>(MakeNoNetworkProvider());
    }
  }
  CniOptions options;
  options.state_dir = data_dir + "/network";
  options.bridge = settings.bridge;
  options.subnet = settings.subnet;
  options.cni_path = settings.cni_path;
  auto made = CniNetworkProvider::Create(std::move(options));
  if (!made) return Fail(made.error().With("network mode " + settings.mode));
  log::Info("network: apps that declare an interface join bridge {} on {} (CNI plugins in {})",
            settings.bridge, settings.subnet, settings.cni_path);
  return std::shared_ptr<NetworkProvider>(std::move(*made));
}

// ---------------------------------------------------------------------------------------------
// The CNI protocol

namespace cni {

std::vector<PortMapping> PortMappingsFor(const package::Descriptor& descriptor) {
  std::vector<PortMapping> out;
  for (const auto& net : descriptor.resources.network) {
    for (const auto& port : net.ports) {
      PortMapping m{port.protocol, port.port, port.port};
      if (std::ranges::find(out, m) == out.end()) out.push_back(std::move(m));
    }
  }
  return out;
}

std::string FormatPortMapping(const PortMapping& m) {
  return m.protocol + "/" + std::to_string(m.host_port) + "->" + std::to_string(m.container_port);
}

std::string NetworkName(std::string_view bridge) { return "fogkeep-" + std::string(bridge); }

std::string Conflist(const CniOptions& options) {
  json::object ipam{
      {"type", "host-local"},
      {"ranges", json::array{json::array{json::object{{"subnet", options.subnet}}}}},
      {"routes", json::array{json::object{{"dst", "0.0.0.0/0"}}}},
      {"dataDir", options.state_dir + "/ipam"},
  };
  json::object bridge{
      {"type", "bridge"}, {"bridge", options.bridge}, {"isGateway", true},
      {"ipMasq", true},   {"hairpinMode", true},      {"ipam", std::move(ipam)},
  };
  json::object portmap{
      {"type", "portmap"},
      {"capabilities", json::object{{"portMappings", true}}},
      // Masquerade hairpin and localhost connections to mapped ports, so they come back.
      {"snat", true},
  };
  json::object list{
      {"cniVersion", kVersion},
      {"name", NetworkName(options.bridge)},
      {"plugins", json::array{std::move(bridge), std::move(portmap)}},
  };
  return Serialize(list);
}

namespace {

// The list's object and its plugins array, or kInvalidInput.
Result<std::pair<json::object, json::array>> SplitList(std::string_view conflist) {
  auto value = FK_TRY(ParseJson(conflist, "CNI network configuration list"));
  auto* obj = value.if_object();
  if (obj == nullptr) {
    return Fail(ErrorCode::kInvalidInput, "CNI network configuration list is not an object");
  }
  const json::value* plugins = obj->if_contains("plugins");
  if (plugins == nullptr || !plugins->is_array() || plugins->get_array().empty()) {
    return Fail(ErrorCode::kInvalidInput, "CNI network configuration list has no plugins");
  }
  if (!StringMember(*obj, "cniVersion") || !StringMember(*obj, "name")) {
    return Fail(ErrorCode::kInvalidInput,
                "CNI network configuration list needs cniVersion and name");
  }
  json::array array = plugins->get_array();
  return std::pair{std::move(*obj), std::move(array)};
}

}  // namespace

Result<std::vector<std::string>> PluginTypes(std::string_view conflist) {
  auto [list, plugins] = FK_TRY(SplitList(conflist));
  std::vector<std::string> out;
  for (const auto& plugin : plugins) {
    const auto* obj = plugin.if_object();
    const json::string* type = obj ? StringMember(*obj, "type") : nullptr;
    if (type == nullptr || !PlainName(*type, 64)) {
      return Fail(ErrorCode::kInvalidInput,
                  "CNI network configuration list: a plugin has no usable type");
    }
    out.emplace_back(*type);
  }
  return out;
}

Result<std::string> PluginConfig(std::string_view conflist, std::size_t index,
                                 std::string_view prev_result,
                                 const std::vector<PortMapping>& ports) {
  auto [list, plugins] = FK_TRY(SplitList(conflist));
  if (index >= plugins.size() || !plugins[index].is_object()) {
    return Fail(ErrorCode::kInvalidInput,
                "CNI network configuration list has no plugin " + std::to_string(index));
  }
  json::object config = plugins[index].get_object();
  config["cniVersion"] = list["cniVersion"];
  config["name"] = list["name"];
  config.erase("prevResult");
  config.erase("runtimeConfig");
  if (!prev_result.empty()) config["prevResult"] = FK_TRY(ParseJson(prev_result, "CNI result"));
  bool wants_ports = false;
  if (const json::value* caps = config.if_contains("capabilities"); caps && caps->is_object()) {
    const json::value* pm = caps->get_object().if_contains("portMappings");
    wants_ports = pm != nullptr && pm->is_bool() && pm->get_bool();
  }
  if (wants_ports && !ports.empty()) {
    json::array mappings;
    for (const auto& m : ports) {
      mappings.push_back(json::object{{"hostPort", m.host_port},
                                      {"containerPort", m.container_port},
                                      {"protocol", m.protocol}});
    }
    config["runtimeConfig"] = json::object{{"portMappings", std::move(mappings)}};
  }
  return Serialize(config);
}

Result<Address> ParseAddResult(std::string_view result, std::string_view ifname) {
  auto value = FK_TRY(ParseJson(result, "CNI result"));
  const auto* obj = value.if_object();
  if (obj == nullptr) return Fail(ErrorCode::kInvalidInput, "CNI result is not an object");
  const json::array* interfaces = nullptr;
  if (const json::value* v = obj->if_contains("interfaces")) interfaces = v->if_array();
  const json::value* ips = obj->if_contains("ips");
  if (ips == nullptr || !ips->is_array() || ips->get_array().empty()) {
    return Fail(ErrorCode::kInvalidInput, "CNI result gives no IP address");
  }
  // The interface an IP belongs to is an index into `interfaces`; the container's has a
  // sandbox. Without that information the first address is the app's.
  const json::object* chosen = nullptr;
  for (const auto& ip : ips->get_array()) {
    const auto* entry = ip.if_object();
    if (entry == nullptr) continue;
    if (chosen == nullptr) chosen = entry;
    auto index = IntMember(*entry, "interface");
    if (!index || interfaces == nullptr || *index < 0 ||
        static_cast<std::size_t>(*index) >= interfaces->size()) {
      continue;
    }
    const auto* iface = (*interfaces)[static_cast<std::size_t>(*index)].if_object();
    if (iface == nullptr) continue;
    const json::string* name = StringMember(*iface, "name");
    const json::string* sandbox = StringMember(*iface, "sandbox");
    if (name && *name == ifname && sandbox && !sandbox->empty()) {
      chosen = entry;
      break;
    }
  }
  const json::string* address = chosen ? StringMember(*chosen, "address") : nullptr;
  if (address == nullptr) return Fail(ErrorCode::kInvalidInput, "CNI result gives no address");
  std::string_view text(address->data(), address->size());
  auto slash = text.find('/');
  Address out;
  out.ip = std::string(text.substr(0, slash));
  in_addr parsed{};
  if (slash == std::string_view::npos || ::inet_pton(AF_INET, out.ip.c_str(), &parsed) != 1) {
    return Fail(ErrorCode::kInvalidInput,
                "CNI result: '" + std::string(text) + "' is not an IPv4 address with a prefix");
  }
  std::string_view bits = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), out.prefix);
  if (ec != std::errc() || end != bits.data() + bits.size() || out.prefix < 0 || out.prefix > 32) {
    return Fail(ErrorCode::kInvalidInput, "CNI result: bad prefix in '" + std::string(text) + "'");
  }
  if (const json::string* gw = StringMember(*chosen, "gateway")) out.gateway = std::string(*gw);
  return out;
}

std::string PluginError(std::string_view out, std::string_view err, std::string_view status) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    if (s.size() > 2000) s = s.substr(s.size() - 2000);
    return std::string(s);
  };
  if (auto value = ParseJson(out, "CNI error"); value && value->is_object()) {
    const auto& obj = value->get_object();
    if (const json::string* msg = StringMember(obj, "msg"); msg && !msg->empty()) {
      std::string text(*msg);
      if (const json::string* details = StringMember(obj, "details"); details && !details->empty())
        text += ": " + std::string(*details);
      if (auto code = IntMember(obj, "code")) text += " (CNI error " + std::to_string(*code) + ")";
      return text;
    }
  }
  if (auto text = trim(err); !text.empty()) return text;
  if (auto text = trim(out); !text.empty()) return text;
  return std::string(status);
}

std::string FormatAttachment(const Attachment& a) {
  json::array ports;
  for (const auto& m : a.ports) {
    ports.push_back(json::object{
        {"hostPort", m.host_port}, {"containerPort", m.container_port}, {"protocol", m.protocol}});
  }
  json::object obj{
      {"container_id", a.container_id},
      {"netns", a.netns},
      {"ifname", a.ifname},
      {"port_mappings", std::move(ports)},
  };
  // Both are JSON this process produced or a plugin returned and ParseAddResult accepted.
  auto network = ParseJson(a.conflist, "network");
  obj["network"] = network ? std::move(*network) : json::value(nullptr);
  auto result =
      a.result.empty() ? Result<json::value>(json::value(nullptr)) : ParseJson(a.result, "result");
  obj["result"] = result ? std::move(*result) : json::value(nullptr);
  return Serialize(obj) + "\n";
}

Result<Attachment> ParseAttachment(std::string_view text) {
  auto value = FK_TRY(ParseJson(text, "CNI attachment"));
  const auto* obj = value.if_object();
  auto bad = [](std::string why) {
    return Fail(ErrorCode::kInvalidInput, "CNI attachment: " + std::move(why));
  };
  if (obj == nullptr) return bad("not an object");
  Attachment a;
  for (auto [key, field] : {std::pair{"container_id", &a.container_id},
                            std::pair{"netns", &a.netns}, std::pair{"ifname", &a.ifname}}) {
    const json::string* s = StringMember(*obj, key);
    if (s == nullptr || s->empty()) return bad(std::string(key) + " is missing");
    *field = std::string(*s);
  }
  if (a.netns.front() != '/') return bad("netns is not an absolute path");
  const json::value* network = obj->if_contains("network");
  if (network == nullptr || !network->is_object()) return bad("network is missing");
  a.conflist = Serialize(*network);
  FK_TRY(PluginTypes(a.conflist));
  if (const json::value* result = obj->if_contains("result"); result && result->is_object()) {
    a.result = Serialize(*result);
  }
  if (const json::value* ports = obj->if_contains("port_mappings")) {
    if (!ports->is_array()) return bad("port_mappings is not a list");
    for (const auto& p : ports->get_array()) {
      const auto* m = p.if_object();
      if (m == nullptr) return bad("a port mapping is not an object");
      auto host = IntMember(*m, "hostPort");
      auto container = IntMember(*m, "containerPort");
      const json::string* protocol = StringMember(*m, "protocol");
      if (!host || !container || !protocol || *host < 1 || *host > 65535 || *container < 1 ||
          *container > 65535 || (*protocol != "tcp" && *protocol != "udp")) {
        return bad("a port mapping is malformed");
      }
      a.ports.push_back(PortMapping{std::string(*protocol), static_cast<std::uint16_t>(*host),
                                    static_cast<std::uint16_t>(*container)});
    }
  }
  return a;
}

}  // namespace cni

// ---------------------------------------------------------------------------------------------
// CniNetworkProvider

CniNetworkProvider::CniNetworkProvider(CniOptions options)
    : options_(std::move(options)), conflist_(cni::Conflist(options_)) {}

Result<std::unique_ptr<CniNetworkProvider>> CniNetworkProvider::Create(CniOptions options) {
  if (options.state_dir.empty() || options.state_dir.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "the network state directory must be an absolute path");
  }
  while (options.state_dir.size() > 1 && options.state_dir.back() == '/') {
    options.state_dir.pop_back();
  }
  NetworkSettings settings;
  settings.mode = "bridge";
  settings.bridge = options.bridge;
  settings.subnet = options.subnet;
  settings.cni_path = options.cni_path;
  FK_TRY(ValidateNetworkSettings(settings));
  if (auto missing = MissingBridgePrerequisite(options.cni_path); !missing.empty()) {
    return Fail(ErrorCode::kUnavailable, missing + " is not installed");
  }
  for (const char* sub : {"", "/netns", "/attachments", "/ipam"}) {
    FK_TRY(fs::MakeDirs(options.state_dir + sub, 0700));
  }
  std::unique_ptr<CniNetworkProvider> provider(new CniNetworkProvider(std::move(options)));
  const std::string dir = provider->options_.state_dir + "/attachments";
  for (const auto& name : fs::ListDir(dir)) {
    if (name.front() == '.' || !name.ends_with(".json")) continue;
    auto text = fs::ReadFile(dir + "/" + name, kMaxStateFile);
    if (!text) continue;
    auto a = cni::ParseAttachment(*text);
    if (!a || a->result.empty()) continue;
    if (auto address = cni::ParseAddResult(a->result, a->ifname)) {
      provider->addresses_[name.substr(0, name.size() - 5)] = address->ip;
    }
  }
  return provider;
}

std::string CniNetworkProvider::NetnsPath(const std::string& app_id) const {
  return options_.state_dir + "/netns/" + app_id;
}

std::string CniNetworkProvider::AttachmentPath(const std::string& app_id) const {
  return options_.state_dir + "/attachments/" + app_id + ".json";
}

NetworkAttachment CniNetworkProvider::Describe(const std::string& app_id,
                                               const package::Descriptor& descriptor) const {
  NetworkAttachment out;
  if (descriptor.security.host_network) {
    out.mode = runtime::NetworkMode::kHost;
    out.description = "host";
    out.ports = DeclaredPorts(descriptor);
    return out;
  }
  if (descriptor.resources.network.empty()) return out;
  out.mode = runtime::NetworkMode::kNamespace;
  out.netns_path = NetnsPath(app_id);
  out.description = "bridge";
  for (const auto& m : cni::PortMappingsFor(descriptor))
    out.ports.push_back(cni::FormatPortMapping(m));
  std::lock_guard lock(addresses_mu_);
  if (auto it = addresses_.find(app_id); it != addresses_.end())
    out.description += " " + it->second;
  return out;
}

Result<std::string> CniNetworkProvider::RunPlugin(std::string_view command,
                                                  const cni::Attachment& a, std::size_t index,
                                                  std::string_view prev_result) {
  auto types = FK_TRY(cni::PluginTypes(a.conflist));
  if (index >= types.size())
    return Fail(ErrorCode::kInternal, "no CNI plugin " + std::to_string(index));
  const std::string what = "CNI " + types[index] + " " + std::string(command);
  std::string config = FK_TRY_CTX(cni::PluginConfig(a.conflist, index, prev_result, a.ports), what);

  // The configuration goes on stdin from a memory file: no size limit, nothing on disk.
  fs::UniqueFd input(::memfd_create("cni-config", MFD_CLOEXEC));
  if (!input.valid()) return FailErrno(what + ": memfd_create", errno);
  std::string_view rest = config;
  while (!rest.empty()) {
    ssize_t n = ::write(input.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FailErrno(what + ": write its configuration", errno);
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::lseek(input.get(), 0, SEEK_SET) != 0) return FailErrno(what + ": lseek", errno);

  process::SpawnOptions spawn;
  spawn.argv = {options_.cni_path + "/" + types[index]};
  spawn.env = process::MinimalEnvironment();
  spawn.env.push_back("CNI_COMMAND=" + std::string(command));
  spawn.env.push_back("CNI_CONTAINERID=" + a.container_id);
  spawn.env.push_back("CNI_NETNS=" + a.netns);
  spawn.env.push_back("CNI_IFNAME=" + a.ifname);
  spawn.env.push_back("CNI_PATH=" + options_.cni_path);
  spawn.stdin_fd = input.get();
  spawn.stdout_fd = process::kCapture;
  spawn.stderr_fd = process::kCapture;
  process::RunLimits limits;
  limits.timeout = options_.plugin_timeout;
  auto run = FK_TRY_CTX(process::Run(spawn, limits), what);
  if (!run.status.success()) {
    return Fail(ErrorCode::kUnavailable,
                what + ": " + cni::PluginError(run.out, run.err, run.status.Describe()));
  }
  log::Debug("app {}: {} done", a.container_id, what);
  return std::move(run.out);
}

Status CniNetworkProvider::CheckPortsFree(const std::string& app_id,
                                          const std::vector<cni::PortMapping>& ports) {
  if (ports.empty()) return {};
  const std::string dir = options_.state_dir + "/attachments";
  for (const auto& name : fs::ListDir(dir)) {
    if (!name.ends_with(".json") || name.front() == '.') continue;
    std::string other = name.substr(0, name.size() - 5);
    if (other == app_id) continue;
    auto text = fs::ReadFile(dir + "/" + name, kMaxStateFile);
    if (!text) continue;
    auto a = cni::ParseAttachment(*text);
    if (!a) continue;
    for (const auto& mine : ports) {
      for (const auto& theirs : a->ports) {
        if (mine.protocol == theirs.protocol && mine.host_port == theirs.host_port) {
          return Fail(ErrorCode::kConflict, "node port " + mine.protocol + "/" +
                                                std::to_string(mine.host_port) +
                                                " is already mapped to app " + other);
        }
      }
    }
  }
  for (const auto& m : ports) {
    if (PortBusyOnNode(m.protocol, m.host_port)) {
      return Fail(ErrorCode::kConflict, "node port " + m.protocol + "/" +
                                            std::to_string(m.host_port) +
                                            " is in use by a program on the node");
    }
  }
  return {};
}

Result<NetworkAttachment> CniNetworkProvider::Attach(const std::string& app_id,
                                                     const package::Descriptor& descriptor,
                                                     const PlatformPolicy&) {
  std::lock_guard lock(mu_);
  // Whatever an earlier attachment left (a crash, a start that failed half-way) goes first:
  // ADD is only ever run on a clean slate.
  FK_TRY_CTX(DetachLocked(app_id), "release the earlier network of app " + app_id);
  NetworkAttachment planned = Describe(app_id, descriptor);
  if (planned.mode != runtime::NetworkMode::kNamespace) return planned;

  cni::Attachment a;
  a.container_id = app_id;
  a.netns = NetnsPath(app_id);
  a.ifname = descriptor.resources.network.front().interface_name;
  a.conflist = conflist_;
  a.ports = cni::PortMappingsFor(descriptor);
  FK_TRY(CheckPortsFree(app_id, a.ports));
  // Persisted before anything exists, so a crash at any later point leaves what DEL needs.
  FK_TRY(fs::WriteFileAtomic(AttachmentPath(app_id), cni::FormatAttachment(a), 0600));
  auto undo = [&](const Error& error) -> Result<NetworkAttachment> {
    if (auto st = DetachLocked(app_id); !st) {
      log::Warn("app {}: releasing a failed network attachment: {}", app_id, st.error().message());
    }
    return Fail(error);
  };
  if (auto st = CreateNetns(a.netns); !st) return undo(st.error());
  auto types = cni::PluginTypes(a.conflist);
  if (!types) return undo(types.error());
  std::string result;
  for (std::size_t i = 0; i < types->size(); ++i) {
    auto out = RunPlugin("ADD", a, i, result);
    if (!out) return undo(out.error());
    result = std::move(*out);
  }
  auto address = cni::ParseAddResult(result, a.ifname);
  if (!address) return undo(address.error());
  a.result = std::move(result);
  if (auto st = fs::WriteFileAtomic(AttachmentPath(app_id), cni::FormatAttachment(a), 0600); !st) {
    return undo(st.error());
  }
  {
    std::lock_guard addresses_lock(addresses_mu_);
    addresses_[app_id] = address->ip;
  }
  std::string ports;
  for (const auto& m : a.ports) ports += (ports.empty() ? "" : ", ") + cni::FormatPortMapping(m);
  log::Info("app {}: {} {}/{} on bridge {}{}", app_id, a.ifname, address->ip, address->prefix,
            options_.bridge, ports.empty() ? "" : ", ports " + ports);
  for (std::size_t i = 1; i < descriptor.resources.network.size(); ++i) {
    log::Warn("app {}: interface {} is not connected (only the first declared interface is)",
              app_id, descriptor.resources.network[i].interface_name);
  }
  return Describe(app_id, descriptor);
}

Status CniNetworkProvider::Detach(const std::string& app_id) {
  std::lock_guard lock(mu_);
  return DetachLocked(app_id);
}

Status CniNetworkProvider::DetachLocked(const std::string& app_id) {
  const std::string path = AttachmentPath(app_id);
  auto text = fs::ReadFile(path, kMaxStateFile);
  if (!text && text.error().code() != ErrorCode::kNotFound) return Fail(text.error());
  if (text) {
    auto parsed = cni::ParseAttachment(*text);
    cni::Attachment a;
    if (parsed) {
      a = std::move(*parsed);
    } else {
      // Unreadable (it is written atomically, so only by hand): DEL with today's list still
      // releases the address and the chains, which are keyed by the network and the app.
      log::Warn("app {}: {}; releasing with the current network configuration", app_id,
                parsed.error().message());
      a.container_id = app_id;
      a.netns = NetnsPath(app_id);
      a.ifname = "eth0";
      a.conflist = conflist_;
    }
    if (!IsPinnedNetns(a.netns)) {
      // The namespace went with a reboot (or never got mounted before a crash): DEL runs
      // without one, which still releases the address lease and the port map. The veth and
      // the masquerade rules went with it, or were never made.
      a.netns.clear();
    }
    auto types = FK_TRY(cni::PluginTypes(a.conflist));
    // Every plugin gets its DEL even when one fails; the first failure is reported and the
    // file and namespace stay, so the next Detach (or Reconcile) runs DEL again. The
    // namespace must outlive DEL: bridge reads the app's address inside it to remove the
    // masquerade rules.
    std::optional<Error> failed;
    for (std::size_t i = types.size(); i-- > 0;) {
      if (auto out = RunPlugin("DEL", a, i, a.result); !out && !failed) failed = out.error();
    }
    if (failed) return Fail(failed->With("release the network of app " + app_id));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return FailErrno("remove " + path, errno);
    {
      std::lock_guard addresses_lock(addresses_mu_);
      addresses_.erase(app_id);
    }
    log::Debug("app {}: network released", app_id);
  }
  return RemoveNetns(NetnsPath(app_id));
}

Status CniNetworkProvider::Reconcile(const std::set<std::string>& keep) {
  std::lock_guard lock(mu_);
  std::set<std::string> ids;
  for (const auto& name : fs::ListDir(options_.state_dir + "/attachments")) {
    if (name.front() != '.' && name.ends_with(".json")) ids.insert(name.substr(0, name.size() - 5));
  }
  for (const auto& name : fs::ListDir(options_.state_dir + "/netns")) {
    if (name.front() != '.') ids.insert(name);
  }
  Status first;
  for (const auto& id : ids) {
    if (keep.contains(id)) continue;
    if (auto st = DetachLocked(id); !st) {
      log::Warn("network: {}", st.error().message());
      if (first) first = Fail(st.error());
    } else {
      log::Info("app {}: released its network (the app is not running)", id);
    }
  }
  return first;
}

Status CniNetworkProvider::Check(const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto text = FK_TRY(fs::ReadFile(AttachmentPath(app_id), kMaxStateFile));
  auto a = FK_TRY(cni::ParseAttachment(text));
  if (a.result.empty()) {
    return Fail(ErrorCode::kUnavailable, "the network of app " + app_id + " was never completed");
  }
  auto types = FK_TRY(cni::PluginTypes(a.conflist));
  for (std::size_t i = 0; i < types.size(); ++i) {
    auto checked = RunPlugin("CHECK", a, i, a.result);
    // portmap 1.1 (Debian 12) checks its IPv4 chain, then looks for the same chain in the
    // IPv6 nat table whenever ip6tables works, and fails there for an IPv4-only attachment.
    // Reaching that step means the IPv4 rules checked out, so that one failure is not ours.
    if (!checked && types[i] == "portmap" &&
        checked.error().message().find("could not check ipv6 dnat") != std::string::npos) {
      log::Debug("app {}: {} (portmap's IPv6 check of an IPv4 attachment; ignored)", app_id,
                 checked.error().message());
      continue;
    }
    FK_TRY(checked);
  }
  return {};
}

}  // namespace fogkeep::node
