// ContainerSpec: everything fogkeep decides about one app's container, and its translation
// into an OCI runtime bundle (config.json) for runc or crun.
//
// The defaults are the isolation DESIGN.md promises, so a spec built with only the required
// fields is the hardened one: own pid, mount, ipc, uts, cgroup and network namespaces; a user
// namespace mapping container root to the app's unprivileged host id range; no capabilities;
// no_new_privileges; fogkeep's allow-list seccomp profile; read-only rootfs with a writable
// /data and a size-limited /tmp; masked and read-only /proc paths; memory, CPU and pids limits.
// Weakening one is a field the caller must set on purpose, and only the admin policy in
// app_spec.h does so for a packaged app.
//
// The spec is independent of the package descriptor (app_spec.h maps one to the other), so
// tests and tools can run any rootfs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace fogkeep::node::runtime {

// A host file or directory made visible in the container (a Unix socket, a config file).
struct BindMount {
  std::string source;       // absolute host path
  std::string destination;  // absolute container path, outside /proc, /sys, /dev, /data, /tmp
  bool readonly = true;
};

// The app's slice of host uids and gids: container id N is host id host_base + N.
struct IdRange {
  std::uint32_t host_base = 0;  // never 0: container root must not be host root
  std::uint32_t size = 65536;
};

inline constexpr std::uint32_t kFirstAppUid = 200000;
inline constexpr std::uint32_t kAppIdRangeSize = 65536;

// Host uid/gid base of app slot `slot` (0, 1, ...): kFirstAppUid + slot * kAppIdRangeSize.
// Distinct slots never overlap each other or the host's ids below kFirstAppUid. Allocating
// slots is the caller's job. kInvalidInput when the range would pass 2^32 - 1.
Result<std::uint32_t> UidBaseForSlot(std::uint32_t slot);

enum class NetworkMode {
  kNone,       // a fresh network namespace holding only loopback
  kNamespace,  // join the namespace at netns_path (prepared by CNI, or a monitor namespace)
  kHost,       // share the host's network stack: only under an admin policy
};

struct ContainerSpec {
  // Names the container (it is the runtime's container id), its cgroup leaf and (by default)
  // its hostname. Validated by ValidateContainerId (oci_runtime.h).
  std::string app_id;
  // Absolute host path of the extracted rootfs, owned by the id range below. Every directory
  // above it must be searchable by the range's root (mode o+x), or the runtime cannot reach it.
  std::string rootfs;
  bool readonly_rootfs = true;

  std::vector<std::string> args;  // argv of the app; args[0] is resolved inside the rootfs
  std::vector<std::string> env;   // "NAME=value"
  std::string cwd = "/";
  std::uint32_t uid = 0;  // inside the container; must lie inside the id range
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> additional_gids;
  std::string hostname;  // empty: derived from app_id

  IdRange ids;

  std::uint64_t memory_limit_bytes = 64ull << 20;
  // memory+swap = memory: the app cannot use swap to exceed its limit. Needs swap accounting
  // in the kernel (Cgroups::SupportsSwapLimit); the runtime refuses the spec otherwise.
  bool limit_swap = true;
  std::uint64_t cpu_shares = 1024;  // relative weight (cgroup v1 cpu.shares, 2..262144)
  std::int64_t cpu_quota_us = 0;    // hard cap per period; 0 = none
  std::uint64_t cpu_period_us = 100000;
  std::int64_t pids_limit = 256;      // always bounded: a fork bomb stops here
  std::uint64_t nofile_limit = 1024;  // RLIMIT_NOFILE
  int oom_score_adj = 500;            // apps die before the node's own services

  // Capabilities granted ("CAP_NET_BIND_SERVICE"); empty means none at all, in every set.
  std::vector<std::string> capabilities;

  std::string data_dir;  // host directory mounted read-write at /data; empty: no /data
  std::uint64_t tmp_size_bytes = 16ull << 20;  // tmpfs /tmp, charged to the memory limit
  std::vector<BindMount> extra_mounts;

  NetworkMode network = NetworkMode::kNone;
  std::string netns_path;  // with kNamespace
  // With kNamespace: join this pinned user namespace instead of creating one. It must map ids
  // exactly as `ids` does and own the namespace at netns_path, so the app's capabilities hold
  // in that network namespace (CAP_NET_RAW opens AF_PACKET sockets only in a network
  // namespace its user namespace owns) and the container gets a sysfs showing its interfaces.
  std::string userns_path;

  bool seccomp = true;  // fogkeep's allow-list profile; false only under an admin policy
  std::string cgroup_parent = "/fogkeep";  // absolute; the container's cgroup is parent/app_id
};

// Every structural and safety rule above; the message lists each problem found.
Status ValidateContainerSpec(const ContainerSpec& spec);

// The cgroupsPath written into config.json: "<cgroup_parent>/<app_id>". Absolute, so the
// runtime places it under each hierarchy's root rather than under the caller's own cgroup,
// and the daemon finds it again after a restart.
std::string CgroupsPath(const ContainerSpec& spec);

// config.json for the spec (validated first).
Result<std::string> GenerateOciConfig(const ContainerSpec& spec);

// Writes `<bundle_dir>/config.json` atomically (mode 0600: the environment may carry secrets),
// creating bundle_dir (0700) when missing. kAtomicOnly suits a caller that writes the bundle
// again before every container it creates from it.
Status WriteBundle(const std::string& bundle_dir, const ContainerSpec& spec,
                   fs::Durability durability = fs::Durability::kDurable);

}  // namespace fogkeep::node::runtime
