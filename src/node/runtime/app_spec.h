// From a validated package descriptor to a ContainerSpec: the node's policy decides what an
// app may ask for, the placement says where its files and ids live.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "node/runtime/spec.h"
#include "package/descriptor.h"

namespace fogkeep::node::runtime {

// What the node's admin allows beyond the hardened defaults. Every relaxation is off.
struct NodePolicy {
  // Capabilities an app may be granted when its descriptor asks; any other request is refused.
  std::vector<std::string> allowed_capabilities;
  bool allow_writable_rootfs = false;
  bool allow_unconfined_seccomp = false;
  // Whether the kernel accounts swap (Cgroups::SupportsSwapLimit): then memory+swap is capped
  // at the memory limit; otherwise the runtime could not apply the spec at all.
  bool limit_swap = true;
  std::int64_t pids_limit = 256;
  std::uint64_t tmp_size_bytes = 16ull << 20;
  // IOx CPU units worth one whole CPU for a hard cap (cfs quota). 0: no hard cap, CPU units
  // only weigh apps against each other (cpu.shares = units, so a host service at the default
  // 1024 weighs as much as an app of ~1000 units).
  int cpu_units_per_cpu = 0;
  int oom_score_adj = 500;
  std::string cgroup_parent = "/fogkeep";
  // network-monitor (fogkeepd's `network-monitor:` settings): the host interface an app
  // asking for it gets as its only interface, with CAP_NET_RAW; "" grants it to no app.
  std::string monitor_interface;
  // The app ids that may hold it (one at a time); empty: any app that asks.
  std::vector<std::string> monitor_apps;
};

// Where one app's pieces are on this node. Produced by the daemon when it activates an app.
struct AppPlacement {
  std::string app_id;
  std::string rootfs;    // absolute path of the extracted rootfs
  std::string data_dir;  // the app's persistent /data (kept across upgrades)
  IdRange ids;
  // The network namespace prepared for an app that asks for an interface (CNI) or for
  // network-monitor; empty when none was prepared.
  std::string netns_path;
  // For network-monitor: the pinned user namespace that owns netns_path, which the container
  // joins. Empty otherwise.
  std::string userns_path;
  std::vector<BindMount> extra_mounts;  // e.g. the app's secure-storage socket
};

// Maps `descriptor` (already accepted by package::ValidateDescriptor) to a ContainerSpec:
// resources from its profile, argv/cwd/env from app.startup and app.env, the user from
// app.startup.user (a number, or a name looked up in the rootfs's /etc/passwd without
// following symlinks), capabilities, read-only rootfs and seccomp within `policy`.
// A request the policy does not allow is kForbidden; one the node cannot serve (devices,
// an interface with no prepared namespace, another CPU architecture) is kInvalidInput.
// IOx's CAF_APP_* variables are set for the app and cannot be overridden by app.env.
// network-monitor, when the policy grants it to the app, adds CAP_NET_RAW (and nothing else),
// FOGKEEP_MONITOR_INTERFACE=<policy.monitor_interface> and the prepared namespaces
// (placement.netns_path joined through placement.userns_path).
Result<ContainerSpec> ContainerSpecFromDescriptor(const package::Descriptor& descriptor,
                                                  const AppPlacement& placement,
                                                  const NodePolicy& policy);

// Whether `policy` grants network-monitor to app `app_id`: kForbidden saying why not ("asks
// for network-monitor ..., which this node's policy grants to no app"; the caller prefixes the
// app). ContainerSpecFromDescriptor checks it, before the node lends the app anything.
Status CheckMonitorGrant(const std::string& app_id, const NodePolicy& policy);

// The variable that tells a network-monitor app the name of its monitor interface.
inline constexpr char kMonitorInterfaceEnv[] = "FOGKEEP_MONITOR_INTERFACE";

}  // namespace fogkeep::node::runtime
