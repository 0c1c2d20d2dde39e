#include "node/runtime/app_spec.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "core/fs.h"
#include "node/runtime/seccomp.h"

namespace fogkeep::node::runtime {
namespace {

constexpr std::size_t kMaxAccountFile = 1 << 20;
// What network-monitor grants: raw packet sockets, in the app's own network namespace.
constexpr char kMonitorCapability[] = "CAP_NET_RAW";

std::optional<std::uint32_t> ParseId(std::string_view s) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// One file of the rootfs's account database, opened beneath the rootfs without following a
// symlink anywhere: the rootfs is the app's, so /etc/passwd could point at the host's.
Result<std::string> ReadRootfsFile(const std::string& rootfs, const std::string& relpath) {
  auto root = FK_TRY(fs::OpenDir(rootfs));
  auto fd = FK_TRY_CTX(fs::OpenBeneath(root.get(), relpath, O_RDONLY), "rootfs " + relpath);
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("read rootfs " + relpath, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > kMaxAccountFile) {
      return Fail(ErrorCode::kLimit, "rootfs " + relpath + " is larger than 1 MiB");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Finds the line of a passwd/group file whose field `key_field` equals `key`; returns its
// fields.
std::optional<std::vector<std::string_view>> FindEntry(std::string_view text, std::size_t key_field,
                                                       std::string_view key) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (true) {
      auto colon = line.find(':', start);
      fields.push_back(line.substr(start, colon - start));
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
    if (fields.size() > key_field && fields[key_field] == key) return fields;
  }
  return std::nullopt;
}

struct User {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

// app.startup.user: "", "name", "uid", "name:group", "uid:gid" (Docker's rules: a bare user
// takes its passwd entry's primary group, or gid 0 when it has none).
Result<User> ResolveUser(std::string_view spec, const std::string& rootfs) {
  if (spec.empty()) return User{};
  auto colon = spec.find(':');
  std::string_view user_part = spec.substr(0, colon);
  std::optional<std::string_view> group_part;
  if (colon != std::string_view::npos) group_part = spec.substr(colon + 1);

  User out;
  std::optional<std::string> passwd;
  auto load_passwd = [&]() -> Status {
    if (!passwd) passwd = FK_TRY(ReadRootfsFile(rootfs, "etc/passwd"));
    return {};
  };
  if (auto uid = ParseId(user_part)) {
    out.uid = *uid;
    if (!group_part) {
      // A missing passwd file is fine for a numeric user; anything else is not.
      if (auto st = load_passwd(); !st && st.error().code() != ErrorCode::kNotFound) {
        return Fail(st.error());
      }
      if (passwd) {
        if (auto entry = FindEntry(*passwd, 2, user_part); entry && entry->size() > 3) {
          out.gid = ParseId((*entry)[3]).value_or(0);
        }
      }
    }
  } else {
    FK_TRY_CTX(load_passwd(), "app.startup.user " + std::string(user_part));
    auto entry = FindEntry(*passwd, 0, user_part);
    if (!entry || entry->size() < 4 || !ParseId((*entry)[2]) || !ParseId((*entry)[3])) {
      return Fail(ErrorCode::kInvalidInput, "app.startup.user: no valid entry for '" +
                                                std::string(user_part) +
                                                "' in the rootfs's /etc/passwd");
    }
    out.uid = *ParseId((*entry)[2]);
    out.gid = *ParseId((*entry)[3]);
  }
  if (group_part) {
    if (auto gid = ParseId(*group_part)) {
      out.gid = *gid;
    } else {
      std::string groups = FK_TRY_CTX(ReadRootfsFile(rootfs, "etc/group"),
                                      "app.startup.user group " + std::string(*group_part));
      auto entry = FindEntry(groups, 0, *group_part);
      if (!entry || entry->size() < 3 || !ParseId((*entry)[2])) {
        return Fail(ErrorCode::kInvalidInput, "app.startup.user: no valid entry for group '" +
                                                  std::string(*group_part) +
                                                  "' in the rootfs's /etc/group");
      }
      out.gid = *ParseId((*entry)[2]);
    }
  }
  return out;
}

bool ValidEnvName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::ranges::all_of(
      name, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool ArchMatchesHost(std::string_view cpuarch) {
  if (cpuarch.empty()) return true;
  switch (HostArch()) {
    case Arch::kX86_64:
      return cpuarch == "x86_64" || cpuarch == "amd64";
    case Arch::kAarch64:
      return cpuarch == "aarch64" || cpuarch == "arm64";
  }
  return false;
}

}  // namespace

Status CheckMonitorGrant(const std::string& app_id, const NodePolicy& policy) {
  if (policy.monitor_interface.empty()) {
    return Fail(ErrorCode::kForbidden,
                "asks for network-monitor (app.resources.network-monitor), which this node's "
                "policy grants to no app");
  }
  if (!policy.monitor_apps.empty() &&
      std::ranges::find(policy.monitor_apps, app_id) == policy.monitor_apps.end()) {
    std::string list;
    for (const auto& a : policy.monitor_apps) list += (list.empty() ? "" : ", ") + a;
    return Fail(ErrorCode::kForbidden,
                "asks for network-monitor (app.resources.network-monitor), which this node's "
                "policy grants only to " +
                    list);
  }
  return {};
}

Result<ContainerSpec> ContainerSpecFromDescriptor(const package::Descriptor& descriptor,
                                                  const AppPlacement& placement,
                                                  const NodePolicy& policy) {
  const auto& d = descriptor;
  if (!ArchMatchesHost(d.cpuarch)) {
    return Fail(ErrorCode::kInvalidInput, "app.cpuarch " + d.cpuarch + " does not match this node");
  }
  if (!d.resources.devices.empty()) {
    return Fail(ErrorCode::kInvalidInput, "app.resources.devices: device access (" +
                                              d.resources.devices.front() +
                                              ") is not supported on this node");
  }
  if (d.startup.target.empty())
    return Fail(ErrorCode::kInvalidInput, "app.startup.target is empty");

  ContainerSpec spec;
  spec.app_id = placement.app_id;
  spec.rootfs = placement.rootfs;
  spec.data_dir = placement.data_dir;
  spec.ids = placement.ids;
  spec.extra_mounts = placement.extra_mounts;
  spec.args = d.startup.target;
  spec.cwd = d.startup.workdir.empty() ? "/" : d.startup.workdir;

  auto user = FK_TRY(ResolveUser(d.startup.user, placement.rootfs));
  spec.uid = user.uid;
  spec.gid = user.gid;

  // IOx's platform variables; app.env may not redefine them (an app must not be able to point
  // its own persistent-dir variable somewhere else). PATH is only a default.
  const std::pair<std::string, std::string> platform[] = {
      {"CAF_APP_ID", placement.app_id},
      {"CAF_APP_PERSISTENT_DIR", "/data"},
      {"CAF_APP_CONFIG_FILE", "/data/package_config.ini"},
  };
  // Set only for a network-monitor app below, but never by app.env: the name must be the one
  // the node moved into the app's namespace.
  auto reserved = [&](const std::string& name) {
    return name == kMonitorInterfaceEnv ||
           std::ranges::any_of(platform, [&](const auto& p) { return p.first == name; });
  };
  std::vector<std::pair<std::string, std::string>> env = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
  for (const auto& [name, value] : d.env) {
    if (!ValidEnvName(name) || value.find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput, "app.env: invalid variable '" + name + "'");
    }
    if (reserved(name)) continue;
    auto it = std::ranges::find_if(env, [&](const auto& e) { return e.first == name; });
    if (it == env.end()) {
      env.emplace_back(name, value);
    } else {
      it->second = value;
    }
  }
  env.insert(env.end(), std::begin(platform), std::end(platform));
  if (d.resources.network_monitor) {
    FK_TRY(CheckMonitorGrant(placement.app_id, policy));
    env.emplace_back(kMonitorInterfaceEnv, policy.monitor_interface);
  }
  for (const auto& [name, value] : env) spec.env.push_back(name + "=" + value);

  auto limits = FK_TRY_CTX(package::ResolveResources(d.resources), "app.resources");
  spec.memory_limit_bytes = static_cast<std::uint64_t>(limits.memory_mb) << 20;
  spec.limit_swap = policy.limit_swap;
  spec.cpu_shares = static_cast<std::uint64_t>(std::max(2, limits.cpu_units));
  if (policy.cpu_units_per_cpu > 0) {
    std::int64_t quota = static_cast<std::int64_t>(limits.cpu_units) *
                         static_cast<std::int64_t>(spec.cpu_period_us) / policy.cpu_units_per_cpu;
    spec.cpu_quota_us = std::max<std::int64_t>(quota, 1000);
  }
  spec.pids_limit = policy.pids_limit;
  spec.tmp_size_bytes = policy.tmp_size_bytes;
  spec.oom_score_adj = policy.oom_score_adj;
  spec.cgroup_parent = policy.cgroup_parent;

  // network-monitor (granted above, or the app was refused) brings CAP_NET_RAW with it.
  if (d.resources.network_monitor) spec.capabilities.push_back(kMonitorCapability);
  std::vector<std::string> refused;
  for (const auto& cap : d.security.capabilities) {
    bool allowed =
        std::ranges::find(policy.allowed_capabilities, cap) != policy.allowed_capabilities.end() ||
        (d.resources.network_monitor && cap == kMonitorCapability);
    if (!allowed) {
      refused.push_back(cap);
    } else if (std::ranges::find(spec.capabilities, cap) == spec.capabilities.end()) {
      spec.capabilities.push_back(cap);
    }
  }
  if (!refused.empty()) {
    std::string list;
    for (const auto& c : refused) list += (list.empty() ? "" : ", ") + c;
    return Fail(ErrorCode::kForbidden,
                "app.security.capabilities: the node's policy does not allow " + list);
  }
  if (!d.security.readonly_rootfs && !policy.allow_writable_rootfs) {
    return Fail(ErrorCode::kForbidden,
                "app.security.readonly-rootfs: the node's policy requires a read-only rootfs");
  }
  spec.readonly_rootfs = d.security.readonly_rootfs;
  if (d.security.seccomp == "unconfined") {
    if (!policy.allow_unconfined_seccomp) {
      return Fail(ErrorCode::kForbidden,
                  "app.security.seccomp: the node's policy requires seccomp");
    }
    spec.seccomp = false;
  } else if (d.security.seccomp != "default" && !d.security.seccomp.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "app.security.seccomp: unknown profile '" + d.security.seccomp + "'");
  }

  if (!d.resources.network.empty()) {
    if (placement.netns_path.empty()) {
      return Fail(ErrorCode::kInvalidInput,
                  "app.resources.network asks for interface " +
                      d.resources.network.front().interface_name +
                      " but no network namespace was prepared for the app");
    }
    spec.network = NetworkMode::kNamespace;
    spec.netns_path = placement.netns_path;
  }
  if (d.resources.network_monitor) {
    // ValidateDescriptor keeps network-monitor apart from interfaces and host networking.
    if (placement.netns_path.empty() || placement.userns_path.empty()) {
      return Fail(ErrorCode::kInvalidInput,
                  "app.resources.network-monitor: no monitor namespace was prepared for the app");
    }
    spec.network = NetworkMode::kNamespace;
    spec.netns_path = placement.netns_path;
    spec.userns_path = placement.userns_path;
  }

  FK_TRY(ValidateContainerSpec(spec));
  return spec;
}

}  // namespace fogkeep::node::runtime
