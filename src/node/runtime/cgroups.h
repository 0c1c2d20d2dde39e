// Reading an app's cgroup and cleaning up after it, on cgroup v1 (and hybrid hosts, whose
// controllers are v1) or pure v2, chosen at run time.
//
// `path` is always the container's cgroupsPath from config.json ("/fogkeep/<app>"): absolute,
// relative to each hierarchy's root. Only cgroupfs layouts are supported (not systemd slices).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"

namespace fogkeep::node::runtime {

enum class CgroupVersion { kV1, kV2 };

class Cgroups {
 public:
  virtual ~Cgroups() = default;

  virtual CgroupVersion version() const = 0;
  // Memory in use now, page cache included (what the limit is checked against).
  virtual Result<std::uint64_t> MemoryUsageBytes(const std::string& path) const = 0;
  // The memory limit; std::nullopt when unlimited.
  virtual Result<std::optional<std::uint64_t>> MemoryLimitBytes(const std::string& path) const = 0;
  // How many processes the kernel's OOM killer has killed in this cgroup.
  virtual Result<std::uint64_t> OomKillCount(const std::string& path) const = 0;
  // CPU time consumed by all of the cgroup's processes, user and system.
  virtual Result<double> CpuUsageSeconds(const std::string& path) const = 0;
  // Processes (threads included) in the cgroup now.
  virtual Result<std::uint64_t> PidsCurrent(const std::string& path) const = 0;
  // Whether the kernel accounts swap, so a spec may cap memory+swap (ContainerSpec::limit_swap).
  virtual bool SupportsSwapLimit() const = 0;
  // Removes the cgroup (and any child cgroups) from every hierarchy. A cgroup that is already
  // gone is fine; one that still holds processes is kConflict.
  virtual Status Remove(const std::string& path) const = 0;
};

// Picks the back-end for the hierarchy mounted at `root`: v2 when `root` itself is a cgroup2
// mount (it has cgroup.controllers), otherwise v1 with one directory per controller.
std::unique_ptr<Cgroups> DetectCgroups(const std::string& root = "/sys/fs/cgroup");

// The back-ends, for tests that build a fake hierarchy.
std::unique_ptr<Cgroups> MakeCgroupsV1(const std::string& root);
std::unique_ptr<Cgroups> MakeCgroupsV2(const std::string& root);

}  // namespace fogkeep::node::runtime
