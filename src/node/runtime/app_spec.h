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
};

// Where one app's pieces are on this node. Produced by the daemon when it activates an app.
struct AppPlacement {
  std::string app_id;
  std::string rootfs;    // absolute path of the extracted rootfs
  std::string data_dir;  // the app's persistent /data (kept across upgrades)
  IdRange ids;
  // The network namespace prepared for an app that asks for an interface (CNI); empty when
  // none was prepared.
  std::string netns_path;
  std::vector<BindMount> extra_mounts;  // e.g. the app's secure-storage socket
};

// Maps `descriptor` (already accepted by package::ValidateDescriptor) to a ContainerSpec:
// resources from its profile, argv/cwd/env from app.startup and app.env, the user from
// app.startup.user (a number, or a name looked up in the rootfs's /etc/passwd without
// following symlinks), capabilities, read-only rootfs and seccomp within `policy`.
// A request the policy does not allow is kForbidden; one the node cannot serve (devices,
// an interface with no prepared namespace, another CPU architecture) is kInvalidInput.
// IOx's CAF_APP_* variables are set for the app and cannot be overridden by app.env.
Result<ContainerSpec> ContainerSpecFromDescriptor(const package::Descriptor& descriptor,
                                                  const AppPlacement& placement,
                                                  const NodePolicy& policy);

}  // namespace fogkeep::node::runtime
