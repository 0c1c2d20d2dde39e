// package.yaml: the application descriptor, with IOx's field names.
//
// Parsing (ParseDescriptor) checks structure and types and accepts every IOx app type, so
// `fogkeep package inspect` can show any IOx package. Validation (ValidateDescriptor) decides
// whether fogkeep can run it: only `docker` and `lxc` apps with a rootfs tar are supported;
// `paas` and `vm` get "unsupported app type".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace fogkeep::package {

struct PortMap {
  std::string protocol;  // "tcp" | "udp"
  std::uint16_t port = 0;
};

struct NetworkRequest {
  std::string interface_name;  // e.g. "eth0"
  std::vector<PortMap> ports;
};

struct Resources {
  std::string profile;           // c1.tiny .. c1.xlarge, custom, default, exclusive
  std::optional<int> cpu_units;  // IOx CPU units
  std::optional<int> memory_mb;
  std::optional<int> disk_mb;
  std::vector<NetworkRequest> network;
  std::vector<std::string> devices;  // device types requested (serial, usbdev, ...)
  // fogkeep's `network-monitor: true` (IOx has no such field): the app captures raw packets
  // on the host interface the node's policy names as its monitor (mirror, SPAN) port. The
  // node moves that interface into the app's network namespace as its only interface and
  // grants CAP_NET_RAW there; the app learns the name from FOGKEEP_MONITOR_INTERFACE. It
  // cannot be combined with `network` (bridge interfaces) or `app.security.host-network`.
  bool network_monitor = false;
};

struct Startup {
  std::string rootfs;               // member of artifacts.tar.gz holding the rootfs
  std::vector<std::string> target;  // argv; a string target is split on spaces
  std::string user;
  std::string workdir;
};

struct Security {
  std::vector<std::string> capabilities;  // "CAP_NET_BIND_SERVICE" ...
  bool readonly_rootfs = true;
  std::string seccomp = "default";
  // fogkeep's `host-network: true`: share the node's network stack instead of getting a
  // namespace of its own. IOx descriptors have no way to say so; the node runs such an app
  // only when its policy allows host networking.
  bool host_network = false;
};

// True for the Linux capability names fogkeep knows, "CAP_CHOWN" to "CAP_CHECKPOINT_RESTORE".
bool IsKnownCapability(std::string_view name);

struct Descriptor {
  std::string schema_version;
  std::string name;
  std::string version;
  std::string description;
  std::string author_name;
  std::string author_link;
  std::string type;     // docker | lxc | paas | vm
  std::string cpuarch;  // x86_64, aarch64 ...
  std::vector<std::pair<std::string, std::string>> env;
  Resources resources;
  Startup startup;
  Security security;
  std::string access_control;  // IOx `app.access-control`, e.g. "oauth2"
  // The scopes its map form asks for (IOx `access-control: {type: oauth2, scopes: [...]}`),
  // as written; the node decides which an app may hold.
  std::vector<std::string> access_control_scopes;
};

// Structure and types only (every IOx type is accepted). Malformed YAML, alias bombs, wrong
// types and missing required fields (info.name, info.version, app.type) are kInvalidInput.
Result<Descriptor> ParseDescriptor(std::string_view yaml_text);

// Whether fogkeep can install and run it: supported type, a rootfs and a target, a name of
// [A-Za-z0-9._-] (1..64) starting with a letter or digit, a known profile, known capability
// names, sane resource values, no network-monitor beside an interface or host networking.
// Every problem found is listed in the one error message.
Status ValidateDescriptor(const Descriptor& descriptor);

// Memory (MB) and CPU units for a profile: the IOx table, or the descriptor's own values
// for `custom` (one left out takes c1.small's). No profile means `default` (c1.small), or
// `custom` when the descriptor gives cpu or memory. `exclusive` (the whole node to one app)
// and unknown profiles are kInvalidInput.
struct ResourceLimits {
  int memory_mb = 64;
  int cpu_units = 200;
};
Result<ResourceLimits> ResolveResources(const Resources& resources);

// Compares dotted versions numerically component by component ("1.10" > "1.9"); a
// non-numeric component compares as a string with another non-numeric one and sorts after a
// numeric one (so the order stays transitive); missing components count as 0 ("1" == "1.0").
// Returns <0, 0 or >0.
int CompareVersions(std::string_view a, std::string_view b);

}  // namespace fogkeep::package
