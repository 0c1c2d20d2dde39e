#include "package/descriptor.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>
#include <string>

#include "core/yaml.h"

namespace fogkeep::package {
namespace {

using yaml::Node;

// Bounds for package.yaml, tighter than the reader's defaults: IOx descriptors are a few KB
// and six levels deep, so these cost nothing legitimate and cap what a hostile one can cost.
constexpr yaml::Limits kYamlLimits{.max_bytes = 256 * 1024, .max_nodes = 20'000, .max_depth = 32};

// Port ranges ("9000-9010") are expanded into single ports; this caps the expansion.
constexpr std::size_t kMaxPorts = 4096;

// Accepted resource values. Wide enough for any real edge app, narrow enough that a typo
// (memory in KB, cpu as a percentage of a huge host) is caught before the cgroup is written.
constexpr int kMinMemoryMb = 4;
constexpr int kMaxMemoryMb = 256 * 1024;
constexpr int kMinCpuUnits = 1;
constexpr int kMaxCpuUnits = 100'000;
constexpr int kMaxDiskMb = 1024 * 1024;

constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kMaxVersionLength = 64;
constexpr std::size_t kMaxFileNameLength = 255;
constexpr std::size_t kMaxInterfaceNameLength = 15;  // IFNAMSIZ - 1
constexpr std::size_t kMaxArgs = 256;
constexpr std::size_t kMaxArgBytes = 64 * 1024;  // argv + environment, as the app sees it
constexpr std::size_t kMaxEnv = 1024;

struct Profile {
  std::string_view name;
  int memory_mb;
  int cpu_units;
};
// IOx's resource profiles (DESIGN.md, "Isolation defaults").
constexpr std::array<Profile, 5> kProfiles{{
    {"c1.tiny", 32, 100},
    {"c1.small", 64, 200},
    {"c1.medium", 128, 400},
    {"c1.large", 256, 600},
    {"c1.xlarge", 256, 1200},
}};
constexpr std::string_view kDefaultProfile = "c1.small";

// Linux capabilities up to CAP_CHECKPOINT_RESTORE (40), the last one in Linux 6.x.
constexpr std::array<std::string_view, 41> kCapabilities{
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

// ---------------------------------------------------------------------------------------------
// Text helpers.

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  std::size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

// `value` for an error message: bounded, with control and non-ASCII bytes escaped so a
// hostile descriptor cannot write to the reader's terminal.
std::string Escape(std::string_view value) {
  constexpr std::size_t kMaxShown = 64;
  std::string out;
  for (std::size_t i = 0; i < value.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > kMaxShown) out += "...";
  return out;
}
std::string Quote(std::string_view value) { return "'" + Escape(value) + "'"; }

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}
// IOx app names are display names ("Sensorbot-Custom Scripts"); fogkeepd derives the app
// id it uses in paths separately, so a space is fine here.
bool IsAppNameChar(char c) { return IsNameChar(c) || c == ' '; }
bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }
bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}
bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---------------------------------------------------------------------------------------------
// Typed access to the YAML tree. Every error names the field path and the line.

std::string LineSuffix(const Node& node) {
  return node.line() > 0 ? " (line " + std::to_string(node.line()) + ")" : "";
}

std::unexpected<Error> FieldError(std::string_view path, std::string_view problem,
                                  const Node& node) {
  return Fail(ErrorCode::kInvalidInput,
              std::string(path) + ": " + std::string(problem) + LineSuffix(node));
}

std::string KindName(const Node& node) {
  switch (node.kind()) {
    case Node::Kind::kNull:
      return "nothing";
    case Node::Kind::kScalar:
      return Quote(node.scalar());
    case Node::Kind::kSequence:
      return "a list";
    case Node::Kind::kMap:
      return "a map";
  }
  return "something else";
}

std::string Join(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}
std::string Index(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// The value under `key`, or nullptr when it is absent or null: IOx writes `key:` with no
// value to mean "not set".
const Node* Child(const Node& map, std::string_view key) {
  const Node* node = map.Find(key);
  return node != nullptr && !node->IsNull() ? node : nullptr;
}

Result<std::string> AsString(const Node& node, std::string_view path) {
  if (!node.IsScalar()) return FieldError(path, "expected a string, found " + KindName(node), node);
  return node.scalar();
}

// Identifiers (names, versions, types, profiles, file names) are trimmed: IOx samples carry
// trailing spaces ("name: RESTSense ").
Result<std::string> AsTrimmed(const Node& node, std::string_view path) {
  std::string value = FK_TRY(AsString(node, path));
  return std::string(Trim(value));
}

Result<int> AsInt(const Node& node, std::string_view path) {
  if (!node.IsScalar()) {
    return FieldError(path, "expected an integer, found " + KindName(node), node);
  }
  std::string_view text = Trim(node.scalar());
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return FieldError(path, "integer " + Quote(text) + " is out of range", node);
  }
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return FieldError(path, "expected an integer, found " + Quote(node.scalar()), node);
  }
  return value;
}

Result<bool> AsBool(const Node& node, std::string_view path) {
  if (node.IsScalar()) {
    std::string text(Trim(node.scalar()));
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; });
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
  }
  return FieldError(path, "expected true or false, found " + KindName(node), node);
}

Result<std::optional<std::string>> OptionalTrimmed(const Node& map, std::string_view key,
                                                   std::string_view path) {
  const Node* node = Child(map, key);
  if (node == nullptr) return std::nullopt;
  return FK_TRY(AsTrimmed(*node, Join(path, key)));
}

Result<std::optional<int>> OptionalInt(const Node& map, std::string_view key,
                                       std::string_view path) {
  const Node* node = Child(map, key);
  if (node == nullptr) return std::nullopt;
  return FK_TRY(AsInt(*node, Join(path, key)));
}

Result<std::string> RequiredTrimmed(const Node& map, std::string_view key, std::string_view path) {
  const Node* node = Child(map, key);
  std::string field = Join(path, key);
  if (node == nullptr) return FieldError(field, "required field is missing", map);
  std::string value = FK_TRY(AsTrimmed(*node, field));
  if (value.empty()) return FieldError(field, "must not be empty", *node);
  return value;
}

// A section that must be a map when present; nullptr when absent or null.
Result<const Node*> OptionalSection(const Node& map, std::string_view key, std::string_view path) {
  const Node* node = Child(map, key);
  if (node != nullptr && !node->IsMap()) {
    return FieldError(Join(path, key), "expected a map, found " + KindName(*node), *node);
  }
  return node;
}

// A list of strings. A scalar is accepted as a list: split on blanks when `split` (a shell-less
// command line such as "node /server.js"), otherwise as one trimmed item.
Result<std::vector<std::string>> AsStringList(const Node& node, std::string_view path, bool split) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    if (!split) {
      out.emplace_back(Trim(node.scalar()));
      return out;
    }
    std::string_view rest = node.scalar();
    while (true) {
      std::size_t begin = rest.find_first_not_of(" \t\r\n");
      if (begin == std::string_view::npos) break;
      rest.remove_prefix(begin);
      std::size_t end = rest.find_first_of(" \t\r\n");
      out.emplace_back(rest.substr(0, end));
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end);
    }
    return out;
  }
  if (!node.IsSequence()) {
    return FieldError(path, "expected a string or a list of strings, found " + KindName(node),
                      node);
  }
  for (std::size_t i = 0; i < node.items().size(); ++i) {
    const Node& item = node.items()[i];
    std::string value = FK_TRY(AsString(item, Index(path, i)));
    out.push_back(split ? std::move(value) : std::string(Trim(value)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sections.

Result<std::uint16_t> ParsePort(std::string_view text, std::string_view path, const Node& node) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > 65535) {
    return FieldError(path, "expected a port number 1..65535, found " + Quote(text), node);
  }
  return static_cast<std::uint16_t>(value);
}

// One item of `ports.tcp` / `ports.udp`. IOx accepts 9000, "9000", "9000-9010",
// "10000-10010, 2000" and {port: "9000", description: ...}; ranges are expanded.
Status ParsePortItem(const Node& item, std::string_view path, std::string_view protocol,
                     NetworkRequest* request, std::set<std::pair<std::string, int>>* seen,
                     std::size_t* total) {
  const Node* value = &item;
  if (item.IsMap()) {
    value = Child(item, "port");
    if (value == nullptr) return FieldError(Join(path, "port"), "required field is missing", item);
  }
  if (!value->IsScalar()) {
    return FieldError(path, "expected a port or a port range, found " + KindName(*value), *value);
  }
  std::string_view rest = value->scalar();
  bool any = false;
  while (true) {
    std::size_t comma = rest.find(',');
    std::string_view piece = Trim(rest.substr(0, comma));
    if (!piece.empty()) {
      any = true;
      std::size_t dash = piece.find('-');
      std::uint16_t first = FK_TRY(ParsePort(Trim(piece.substr(0, dash)), path, *value));
      std::uint16_t last = first;
      if (dash != std::string_view::npos) {
        last = FK_TRY(ParsePort(Trim(piece.substr(dash + 1)), path, *value));
        if (last < first) {
          return FieldError(path, "port range " + Quote(piece) + " ends before it starts", *value);
        }
      }
      if (last - first + 1 > static_cast<int>(kMaxPorts - *total)) {
        return Fail(ErrorCode::kLimit, std::string(path) + ": more than " +
                                           std::to_string(kMaxPorts) + " ports requested" +
                                           LineSuffix(*value));
      }
      for (int port = first; port <= last; ++port) {
        if (seen->emplace(std::string(protocol), port).second) {
          request->ports.push_back({std::string(protocol), static_cast<std::uint16_t>(port)});
          ++*total;
        }
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!any) return FieldError(path, "expected a port or a port range, found ''", *value);
  return {};
}

Result<NetworkRequest> ParseNetwork(const Node& node, std::string_view path, std::size_t* total) {
  if (!node.IsMap()) return FieldError(path, "expected a map, found " + KindName(node), node);
  NetworkRequest request;
  request.interface_name = FK_TRY(RequiredTrimmed(node, "interface-name", path));
  const Node* ports = FK_TRY(OptionalSection(node, "ports", path));
  if (ports == nullptr) return request;
  std::set<std::pair<std::string, int>> seen;
  for (std::string_view protocol : {"tcp", "udp"}) {
    const Node* list = Child(*ports, protocol);
    if (list == nullptr) continue;
    std::string list_path = Join(Join(path, "ports"), protocol);
    if (list->IsScalar()) {  // a single port without list brackets
      FK_TRY(ParsePortItem(*list, list_path, protocol, &request, &seen, total));
      continue;
    }
    if (!list->IsSequence()) {
      return FieldError(list_path, "expected a list of ports, found " + KindName(*list), *list);
    }
    for (std::size_t i = 0; i < list->items().size(); ++i) {
      FK_TRY(
          ParsePortItem(list->items()[i], Index(list_path, i), protocol, &request, &seen, total));
    }
  }
  return request;
}

Result<Resources> ParseResources(const Node& node) {
  constexpr std::string_view kPath = "app.resources";
  Resources out;
  out.profile = FK_TRY(OptionalTrimmed(node, "profile", kPath)).value_or("");
  out.cpu_units = FK_TRY(OptionalInt(node, "cpu", kPath));
  out.memory_mb = FK_TRY(OptionalInt(node, "memory", kPath));
  out.disk_mb = FK_TRY(OptionalInt(node, "disk", kPath));

  if (const Node* network = Child(node, "network")) {
    std::string path = Join(kPath, "network");
    if (!network->IsSequence()) {
      return FieldError(path, "expected a list, found " + KindName(*network), *network);
    }
    std::size_t total_ports = 0;
    for (std::size_t i = 0; i < network->items().size(); ++i) {
      out.network.push_back(
          FK_TRY(ParseNetwork(network->items()[i], Index(path, i), &total_ports)));
    }
  }
  if (const Node* devices = Child(node, "devices")) {
    std::string path = Join(kPath, "devices");
    if (!devices->IsSequence()) {
      return FieldError(path, "expected a list, found " + KindName(*devices), *devices);
    }
    for (std::size_t i = 0; i < devices->items().size(); ++i) {
      const Node& device = devices->items()[i];
      std::string item_path = Index(path, i);
      if (!device.IsMap()) {
        return FieldError(item_path, "expected a map, found " + KindName(device), device);
      }
      out.devices.push_back(FK_TRY(RequiredTrimmed(device, "type", item_path)));
    }
  }
  if (const Node* monitor = Child(node, "network-monitor")) {
    out.network_monitor = FK_TRY(AsBool(*monitor, Join(kPath, "network-monitor")));
  }
  return out;
}

Result<Startup> ParseStartup(const Node& node) {
  constexpr std::string_view kPath = "app.startup";
  Startup out;
  out.rootfs = FK_TRY(OptionalTrimmed(node, "rootfs", kPath)).value_or("");
  // IOx development descriptors may name the rootfs by a file:// URL on the developer's host;
  // inside a package the artifact is found by its file name, so only that is kept.
  if (out.rootfs.starts_with("file://")) out.rootfs = out.rootfs.substr(out.rootfs.rfind('/') + 1);
  if (const Node* target = Child(node, "target")) {
    out.target = FK_TRY(AsStringList(*target, Join(kPath, "target"), /*split=*/true));
  }
  // IOx docker apps may split the command line into target (entrypoint) and args (command).
  if (const Node* args = Child(node, "args")) {
    auto more = FK_TRY(AsStringList(*args, Join(kPath, "args"), /*split=*/true));
    out.target.insert(out.target.end(), more.begin(), more.end());
  }
  // `user` may be a name or a numeric id; both arrive as scalars.
  out.user = FK_TRY(OptionalTrimmed(node, "user", kPath)).value_or("");
  out.workdir = FK_TRY(OptionalTrimmed(node, "workdir", kPath)).value_or("");
  // IOx's `runtime_options` (raw `docker run` flags) is deliberately not read: isolation is
  // fogkeep's decision, not the package's.
  return out;
}

Result<Security> ParseSecurity(const Node& node) {
  constexpr std::string_view kPath = "app.security";
  Security out;
  if (const Node* caps = Child(node, "capabilities")) {
    out.capabilities = FK_TRY(AsStringList(*caps, Join(kPath, "capabilities"), /*split=*/false));
  }
  if (const Node* readonly = Child(node, "readonly-rootfs")) {
    out.readonly_rootfs = FK_TRY(AsBool(*readonly, Join(kPath, "readonly-rootfs")));
  }
  if (auto seccomp = FK_TRY(OptionalTrimmed(node, "seccomp", kPath))) out.seccomp = *seccomp;
  if (const Node* host_network = Child(node, "host-network")) {
    out.host_network = FK_TRY(AsBool(*host_network, Join(kPath, "host-network")));
  }
  return out;
}

// `access-control` is a scalar ("oauth2") or IOx's map form ({type: oauth2, role: [...],
// scopes: [...]}). Samples put it under app or under app.resources; app wins when both are
// present.
struct AccessControl {
  std::string type;
  std::vector<std::string> scopes;
};

Result<AccessControl> ParseAccessControl(const Node& app) {
  const Node* node = Child(app, "access-control");
  std::string path = "app.access-control";
  if (node == nullptr) {
    if (const Node* resources = Child(app, "resources"); resources && resources->IsMap()) {
      node = Child(*resources, "access-control");
      path = "app.resources.access-control";
    }
  }
  AccessControl out;
  if (node == nullptr) return out;
  if (!node->IsMap()) {
    out.type = FK_TRY(AsTrimmed(*node, path));
    return out;
  }
  out.type = FK_TRY(OptionalTrimmed(*node, "type", path)).value_or("");
  if (const Node* scopes = Child(*node, "scopes")) {
    out.scopes = FK_TRY(AsStringList(*scopes, Join(path, "scopes"), /*split=*/false));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation helpers: each returns a problem, or an empty string when the value is fine.

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Names end up in paths and command lines (/var/lib/fogkeep/apps/<name>/<version>), so
// besides the character set they must start with a letter or digit: no ".", "..", "-rf".
std::string NameProblem(std::string_view field, std::string_view value, std::size_t max_length,
                        bool (*is_char)(char), std::string_view allowed) {
  if (value.empty()) return std::string(field) + " must not be empty";
  if (value.size() > max_length || !AllOf(value, is_char) || !IsAlnum(value.front())) {
    return std::string(field) + " " + Quote(value) + ": only " + std::string(allowed) +
           " are allowed, starting with a letter or digit, 1.." + std::to_string(max_length) +
           " characters";
  }
  return {};
}

bool IsVersionChar(char c) { return IsNameChar(c) || c == '+'; }

// A member name inside artifacts.tar.gz: one plain path component.
std::string FileNameProblem(std::string_view field, std::string_view value) {
  if (value.empty()) return std::string(field) + " is required for docker and lxc apps";
  if (value.size() > kMaxFileNameLength || value.find('/') != std::string_view::npos ||
      value.find('\\') != std::string_view::npos || value.find("..") != std::string_view::npos ||
      value == "." || HasControl(value)) {
    return std::string(field) + " " + Quote(value) +
           " must be a plain file name inside artifacts.tar.gz (no '/', no '..')";
  }
  return {};
}

std::string RangeProblem(std::string_view field, const std::optional<int>& value, int min, int max,
                         std::string_view unit) {
  if (!value || (*value >= min && *value <= max)) return {};
  return std::string(field) + " " + std::to_string(*value) + " is out of range (" +
         std::to_string(min) + ".." + std::to_string(max) + " " + std::string(unit) + ")";
}

std::string UserProblem(std::string_view user) {
  if (user.empty()) return {};
  // "name", "uid", "name:group" or "uid:gid".
  std::size_t colon = user.find(':');
  std::string_view parts[2] = {user.substr(0, colon),
                               colon == std::string_view::npos ? "x" : user.substr(colon + 1)};
  for (std::string_view part : parts) {
    if (part.empty() || part.size() > 32 || !AllOf(part, IsNameChar)) {
      return "app.startup.user " + Quote(user) +
             ": expected a user name or id, optionally with ':group'";
    }
    std::uint32_t id = 0;
    if (IsDigits(part) &&
        (std::from_chars(part.data(), part.data() + part.size(), id).ec != std::errc() ||
         id == 0xffffffffU)) {
      return "app.startup.user " + Quote(user) + ": id out of range";
    }
  }
  return {};
}

std::string WorkdirProblem(std::string_view workdir) {
  if (workdir.empty()) return {};
  if (workdir.front() != '/' || workdir.size() > 4096 || HasControl(workdir)) {
    return "app.startup.workdir " + Quote(workdir) + " must be an absolute path";
  }
  std::string_view rest = workdir;
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    if (rest.substr(0, slash) == "..") {
      return "app.startup.workdir " + Quote(workdir) + " must not contain '..'";
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return {};
}

std::optional<Profile> FindProfile(std::string_view name) {
  for (const Profile& p : kProfiles) {
    if (p.name == name) return p;
  }
  return std::nullopt;
}

std::string KnownProfiles() {
  std::string out;
  for (const Profile& p : kProfiles) out += std::string(p.name) + ", ";
  return out + "custom, default";
}

// The profile the limits come from: "" and "default" mean IOx's default, except that a
// descriptor with no profile but explicit cpu or memory sized itself (custom).
std::string_view EffectiveProfile(const Resources& resources) {
  std::string_view profile = resources.profile;
  if (profile.empty()) {
    profile = resources.memory_mb || resources.cpu_units ? "custom" : "default";
  }
  return profile == "default" ? kDefaultProfile : profile;
}

std::string ProfileProblem(const Resources& resources) {
  std::string_view profile = EffectiveProfile(resources);
  if (profile == "custom" || FindProfile(profile)) return {};
  if (profile == "exclusive") {
    // IOx's `exclusive` hands the app every CPU on the node. fogkeep never lets one app
    // starve the others and fogkeepd, so it is refused rather than guessed at.
    return "app.resources.profile 'exclusive' is not supported: use 'custom' with explicit "
           "cpu and memory";
  }
  return "app.resources.profile " + Quote(resources.profile) +
         " is unknown (known: " + KnownProfiles() + ")";
}

// Three-way comparison of two version components (see CompareVersions).
int CompareComponents(std::string_view a, std::string_view b) {
  bool a_numeric = IsDigits(a);
  bool b_numeric = IsDigits(b);
  if (a_numeric && b_numeric) {
    // Numeric without conversion, so any length works: drop leading zeros, then the longer
    // number is larger, then compare digit by digit.
    a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
    b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : (a.compare(b) > 0 ? 1 : 0);
  }
  if (a_numeric != b_numeric) return a_numeric ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

bool IsKnownCapability(std::string_view name) {
  return std::find(kCapabilities.begin(), kCapabilities.end(), name) != kCapabilities.end();
}

Result<Descriptor> ParseDescriptor(std::string_view yaml_text) {
  Node root = FK_TRY(yaml::Parse(yaml_text, kYamlLimits));
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalidInput,
                "expected a map with 'info' and 'app' at the top level, found " + KindName(root));
  }
  Descriptor d;
  d.schema_version = FK_TRY(OptionalTrimmed(root, "descriptor-schema-version", "")).value_or("");

  const Node* info = FK_TRY(OptionalSection(root, "info", ""));
  if (info == nullptr) return FieldError("info", "required section is missing", root);
  d.name = FK_TRY(RequiredTrimmed(*info, "name", "info"));
  d.version = FK_TRY(RequiredTrimmed(*info, "version", "info"));
  if (const Node* description = Child(*info, "description")) {
    d.description = FK_TRY(AsString(*description, "info.description"));
  }
  d.author_name = FK_TRY(OptionalTrimmed(*info, "author-name", "info")).value_or("");
  d.author_link = FK_TRY(OptionalTrimmed(*info, "author-link", "info")).value_or("");

  const Node* app = FK_TRY(OptionalSection(root, "app", ""));
  if (app == nullptr) return FieldError("app", "required section is missing", root);
  d.type = FK_TRY(RequiredTrimmed(*app, "type", "app"));
  d.cpuarch = FK_TRY(OptionalTrimmed(*app, "cpuarch", "app")).value_or("");

  if (const Node* env = FK_TRY(OptionalSection(*app, "env", "app"))) {
    for (const auto& [key, value] : env->entries()) {
      std::string path = Join("app.env", Escape(key));
      d.env.emplace_back(key, value.IsNull() ? std::string() : FK_TRY(AsString(value, path)));
    }
  }
  if (const Node* resources = FK_TRY(OptionalSection(*app, "resources", "app"))) {
    d.resources = FK_TRY(ParseResources(*resources));
  }
  if (const Node* startup = FK_TRY(OptionalSection(*app, "startup", "app"))) {
    d.startup = FK_TRY(ParseStartup(*startup));
  }
  if (const Node* security = FK_TRY(OptionalSection(*app, "security", "app"))) {
    d.security = FK_TRY(ParseSecurity(*security));
  }
  AccessControl access = FK_TRY(ParseAccessControl(*app));
  d.access_control = std::move(access.type);
  d.access_control_scopes = std::move(access.scopes);
  return d;
}

Status ValidateDescriptor(const Descriptor& d) {
  if (d.type != "docker" && d.type != "lxc") {
    return Fail(ErrorCode::kInvalidInput,
                "unsupported app type " + Quote(d.type) + ": fogkeep runs docker and lxc apps");
  }
  // Every problem is reported at once, so a developer fixes the descriptor in one round.
  std::vector<std::string> problems;
  auto add = [&problems](std::string problem) {
    if (!problem.empty()) problems.push_back(std::move(problem));
  };

  add(NameProblem("info.name", d.name, kMaxNameLength, IsAppNameChar,
                  "letters, digits, spaces, '.', '_' and '-'"));
  add(NameProblem("info.version", d.version, kMaxVersionLength, IsVersionChar,
                  "letters, digits, '.', '_', '+' and '-'"));
  if (!d.cpuarch.empty()) {
    add(NameProblem("app.cpuarch", d.cpuarch, kMaxNameLength, IsNameChar,
                    "letters, digits, '.', '_' and '-'"));
  }

  // Startup: what the runtime will exec. execve() stops at a NUL, so none may hide one.
  add(FileNameProblem("app.startup.rootfs", d.startup.rootfs));
  if (d.startup.target.empty() || d.startup.target.front().empty()) {
    add("app.startup.target is required for docker and lxc apps");
  }
  std::size_t arg_bytes = 0;
  for (const std::string& arg : d.startup.target) {
    arg_bytes += arg.size() + 1;
    if (arg.find('\0') != std::string::npos) {
      add("app.startup.target: argument " + Quote(arg) + " contains a NUL byte");
    }
  }
  if (d.startup.target.size() > kMaxArgs) {
    add("app.startup.target: more than " + std::to_string(kMaxArgs) + " arguments");
  }
  add(UserProblem(d.startup.user));
  add(WorkdirProblem(d.startup.workdir));

  if (d.env.size() > kMaxEnv) add("app.env: more than " + std::to_string(kMaxEnv) + " variables");
  std::set<std::string_view> env_names;
  for (const auto& [key, value] : d.env) {
    arg_bytes += key.size() + value.size() + 2;
    if (key.empty() || key.find('=') != std::string::npos || HasControl(key) ||
        key.find(' ') != std::string::npos) {
      add("app.env: variable name " + Quote(key) +
          " must be non-empty, without '=', spaces or control characters");
    } else if (!env_names.insert(key).second) {
      add("app.env: variable " + Quote(key) + " is set twice");
    }
    if (value.find('\0') != std::string::npos) {
      add("app.env." + Escape(key) + ": value contains a NUL byte");
    }
  }
  if (arg_bytes > kMaxArgBytes) {
    add("app.startup.target and app.env together exceed " + std::to_string(kMaxArgBytes) +
        " bytes");
  }

  // Resources.
  add(RangeProblem("app.resources.memory", d.resources.memory_mb, kMinMemoryMb, kMaxMemoryMb,
                   "MB"));
  add(RangeProblem("app.resources.cpu", d.resources.cpu_units, kMinCpuUnits, kMaxCpuUnits,
                   "CPU units"));
  add(RangeProblem("app.resources.disk", d.resources.disk_mb, 0, kMaxDiskMb, "MB"));
  add(ProfileProblem(d.resources));

  std::set<std::string_view> interfaces;
  for (std::size_t i = 0; i < d.resources.network.size(); ++i) {
    const NetworkRequest& net = d.resources.network[i];
    std::string field = Index("app.resources.network", i) + ".interface-name";
    add(NameProblem(field, net.interface_name, kMaxInterfaceNameLength, IsNameChar,
                    "letters, digits, '.', '_' and '-'"));
    if (!net.interface_name.empty() && !interfaces.insert(net.interface_name).second) {
      add(field + " " + Quote(net.interface_name) + " is requested twice");
    }
    for (const PortMap& port : net.ports) {
      if ((port.protocol != "tcp" && port.protocol != "udp") || port.port == 0) {
        add(Index("app.resources.network", i) + ".ports: invalid port " + Quote(port.protocol) +
            "/" + std::to_string(port.port));
      }
    }
  }
  for (std::size_t i = 0; i < d.resources.devices.size(); ++i) {
    add(NameProblem(Index("app.resources.devices", i) + ".type", d.resources.devices[i],
                    kMaxNameLength, IsNameChar, "letters, digits, '.', '_' and '-'"));
  }
  // The monitor port becomes the app's only interface, in a namespace of its own: a bridge
  // interface would need a second namespace, and host networking would hand the app every
  // interface of the node.
  if (d.resources.network_monitor && !d.resources.network.empty()) {
    add("app.resources.network-monitor cannot be combined with app.resources.network (the "
        "monitor port is the app's only interface)");
  }
  if (d.resources.network_monitor && d.security.host_network) {
    add("app.resources.network-monitor cannot be combined with app.security.host-network");
  }

  // Security. Whether a capability is *allowed* is the node's policy; here only that it exists.
  std::set<std::string_view> caps;
  for (const std::string& cap : d.security.capabilities) {
    if (!IsKnownCapability(cap)) {
      add("app.security.capabilities: unknown capability " + Quote(cap) +
          " (expected a Linux name such as CAP_NET_BIND_SERVICE)");
    } else if (!caps.insert(cap).second) {
      add("app.security.capabilities: " + cap + " is listed twice");
    }
  }
  if (d.security.seccomp != "default") {
    add("app.security.seccomp " + Quote(d.security.seccomp) +
        ": only 'default' (fogkeep's allow-list profile) is supported");
  }

  if (problems.empty()) return {};
  // Bounded: a hand-built descriptor could hold thousands of bad values.
  constexpr std::size_t kMaxListed = 10;
  std::string message = problems.front();
  for (std::size_t i = 1; i < problems.size() && i < kMaxListed; ++i) message += "; " + problems[i];
  if (problems.size() > kMaxListed) {
    message += "; and " + std::to_string(problems.size() - kMaxListed) + " more problems";
  }
  return Fail(ErrorCode::kInvalidInput, std::move(message));
}

Result<ResourceLimits> ResolveResources(const Resources& resources) {
  if (auto problem = ProfileProblem(resources); !problem.empty()) {
    return Fail(ErrorCode::kInvalidInput, std::move(problem));
  }
  std::string_view profile = EffectiveProfile(resources);
  if (auto p = FindProfile(profile)) return ResourceLimits{p->memory_mb, p->cpu_units};
  // custom: the descriptor's own values; one left out takes the default profile's value.
  ResourceLimits limits;
  const Profile fallback = *FindProfile(kDefaultProfile);
  limits.memory_mb = resources.memory_mb.value_or(fallback.memory_mb);
  limits.cpu_units = resources.cpu_units.value_or(fallback.cpu_units);
  if (auto problem =
          RangeProblem("app.resources.memory", limits.memory_mb, kMinMemoryMb, kMaxMemoryMb, "MB");
      !problem.empty()) {
    return Fail(ErrorCode::kInvalidInput, std::move(problem));
  }
  if (auto problem = RangeProblem("app.resources.cpu", limits.cpu_units, kMinCpuUnits, kMaxCpuUnits,
                                  "CPU units");
      !problem.empty()) {
    return Fail(ErrorCode::kInvalidInput, std::move(problem));
  }
  return limits;
}

int CompareVersions(std::string_view a, std::string_view b) {
  // Components are compared left to right; a version with fewer components is padded with
  // "0" (so "1.0" == "1"). Numeric components compare as numbers, two non-numeric ones as
  // strings, and a numeric component sorts before a non-numeric one: that keeps the order
  // total and transitive, which a plain string fallback ("10" < "1a" < "9" < "10") is not.
  while (!a.empty() || !b.empty()) {
    std::size_t a_dot = a.find('.');
    std::size_t b_dot = b.find('.');
    std::string_view a_part = a.empty() ? "0" : a.substr(0, a_dot);
    std::string_view b_part = b.empty() ? "0" : b.substr(0, b_dot);
    if (int c = CompareComponents(a_part, b_part); c != 0) return c;
    a = a_dot == std::string_view::npos ? std::string_view() : a.substr(a_dot + 1);
    b = b_dot == std::string_view::npos ? std::string_view() : b.substr(b_dot + 1);
  }
  return 0;
}

}  // namespace fogkeep::package
