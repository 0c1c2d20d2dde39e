#include "node/runtime/spec.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <limits>

#include "core/fs.h"
#include "node/runtime/oci_runtime.h"
#include "node/runtime/seccomp.h"
#include "package/descriptor.h"

namespace fogkeep::node::runtime {
namespace {

namespace json = boost::json;

// Hidden (bind-mounted over with an empty file or directory): host hardware, kernel memory
// and timing details that help an attacker and no app needs.
constexpr std::string_view kMaskedPaths[] = {
    "/proc/acpi",        "/proc/asound",        "/proc/interrupts", "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",          "/sys/firmware",    "/sys/devices/virtual/powercap",
};
// Visible but read-only: writing them would reconfigure the host kernel.
constexpr std::string_view kReadonlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
// Container paths a bind mount may not cover: the runtime's own mounts.
constexpr std::string_view kReservedDestinations[] = {"/proc", "/sys", "/dev", "/data", "/tmp"};

constexpr std::uint64_t kMinMemoryBytes = 4ull << 20;
constexpr std::uint64_t kMinTmpBytes = 64ull << 10;

// Absolute, not "/" itself, and free of "." and ".." components and NUL bytes, so it means
// what it says. Repeated slashes are harmless and allowed.
bool IsCleanAbsolute(std::string_view path) {
  if (path.size() < 2 || path.front() != '/' || path.find('\0') != std::string_view::npos) {
    return false;
  }
  bool has_component = false;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(start, slash - start);
    if (part == "." || part == "..") return false;
    has_component |= !part.empty();
    start = slash + 1;
  }
  return has_component;
}

// `path` is `prefix` or below it, comparing whole components.
bool IsAtOrBelow(std::string_view path, std::string_view prefix) {
  return path == prefix ||
         (path.starts_with(prefix) && path.size() > prefix.size() && path[prefix.size()] == '/');
}

std::string Hostname(const ContainerSpec& spec) {
  if (!spec.hostname.empty()) return spec.hostname;
  std::string out;
  for (char c : spec.app_id) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-');
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "app" : out;
}

bool ValidHostname(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::ranges::all_of(
      name, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

json::array Strings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& s : items) out.emplace_back(s);
  return out;
}

json::object Mount(std::string_view destination, std::string_view type, std::string_view source,
                   std::initializer_list<std::string_view> options) {
  json::array opts;
  for (auto o : options) opts.emplace_back(o);
  return json::object{{"destination", destination},
                      {"type", type},
                      {"source", source},
                      {"options", std::move(opts)}};
}

json::array Mounts(const ContainerSpec& spec) {
  json::array mounts;
  mounts.push_back(Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(Mount("/dev/pts", "devpts", "devpts",
                         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}));
  mounts.push_back(
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  mounts.push_back(Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  if (spec.network == NetworkMode::kNone || !spec.userns_path.empty()) {
    // A fresh sysfs shows the container's own network namespace (only lo, or its monitor
    // interface). The kernel allows it only because the user namespace owns that network
    // namespace.
    mounts.push_back(Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
  } else {
    // A namespace the user namespace does not own (the host's, or one CNI prepared) cannot
    // get a new sysfs; a read-only view of the host's, with the masked paths, stands in.
    mounts.push_back(
        Mount("/sys", "bind", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro", "rprivate"}));
  }
  std::string tmp_size = "size=" + std::to_string(spec.tmp_size_bytes);
  mounts.push_back(Mount("/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777", tmp_size}));
  if (!spec.data_dir.empty()) {
    mounts.push_back(
        Mount("/data", "bind", spec.data_dir, {"bind", "nosuid", "nodev", "rw", "rprivate"}));
  }
  for (const auto& m : spec.extra_mounts) {
    mounts.push_back(
        Mount(m.destination, "bind", m.source,
              {"bind", "nosuid", "nodev", "noexec", m.readonly ? "ro" : "rw", "rprivate"}));
  }
  return mounts;
}

json::object Process(const ContainerSpec& spec) {
  json::object user{{"uid", spec.uid}, {"gid", spec.gid}};
  if (!spec.additional_gids.empty()) {
    json::array gids;
    for (auto g : spec.additional_gids) gids.emplace_back(g);
    user["additionalGids"] = std::move(gids);
  }
  // All five sets are written even when empty: an absent set would leave the runtime's
  // default in place. Granted capabilities go to inheritable and ambient too when the app runs
  // as a non-root user, or execve() would drop them; nothing outside the grant is ever there.
  json::array granted = Strings(spec.capabilities);
  json::array none;
  bool non_root = spec.uid != 0;
  json::object caps{{"bounding", granted},
                    {"effective", granted},
                    {"permitted", granted},
                    {"inheritable", non_root ? granted : none},
                    {"ambient", non_root ? granted : none}};
  // RLIMIT_NPROC is left alone: it counts per uid across the user namespace and would also
  // count the app's own helper processes in odd ways; the pids cgroup bounds processes.
  // RLIMIT_CORE 0: a crashing app must not write a core image of its memory anywhere.
  json::array rlimits{
      json::object{
          {"type", "RLIMIT_NOFILE"}, {"hard", spec.nofile_limit}, {"soft", spec.nofile_limit}},
      json::object{{"type", "RLIMIT_CORE"}, {"hard", 0}, {"soft", 0}},
  };
  return json::object{{"terminal", false},
                      {"user", std::move(user)},
                      {"args", Strings(spec.args)},
                      {"env", Strings(spec.env)},
                      {"cwd", spec.cwd},
                      {"capabilities", std::move(caps)},
                      {"rlimits", std::move(rlimits)},
                      {"noNewPrivileges", true},
                      {"oomScoreAdj", spec.oom_score_adj}};
}

json::object SeccompJson(const SeccompProfile& profile) {
  json::array syscalls;
  for (const auto& rule : profile.syscalls) {
    json::object r{{"names", Strings(rule.names)}, {"action", rule.action}};
    if (!rule.args.empty()) {
      json::array args;
      for (const auto& a : rule.args) {
        args.push_back(json::object{
            {"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", a.op}});
      }
      r["args"] = std::move(args);
    }
    if (rule.errno_ret) r["errnoRet"] = *rule.errno_ret;
    syscalls.push_back(std::move(r));
  }
  return json::object{{"defaultAction", profile.default_action},
                      {"defaultErrnoRet", profile.default_errno},
                      {"architectures", Strings(profile.architectures)},
                      {"syscalls", std::move(syscalls)}};
}

json::object Linux(const ContainerSpec& spec) {
  json::object mapping{{"containerID", 0}, {"hostID", spec.ids.host_base}, {"size", spec.ids.size}};
  json::object user{{"type", "user"}};
  // The mappings stay in config.json when the namespace is joined: the runtime reads them to
  // find the container's root (they must match the namespace's own, see spec.h).
  if (!spec.userns_path.empty()) user["path"] = spec.userns_path;
  json::array namespaces{json::object{{"type", "pid"}},
                         json::object{{"type", "ipc"}},
                         json::object{{"type", "uts"}},
                         json::object{{"type", "mount"}},
                         std::move(user),
                         json::object{{"type", "cgroup"}}};
  if (spec.network == NetworkMode::kNone) {
    namespaces.push_back(json::object{{"type", "network"}});
  } else if (spec.network == NetworkMode::kNamespace) {
    namespaces.push_back(json::object{{"type", "network"}, {"path", spec.netns_path}});
  }

  json::object memory{{"limit", spec.memory_limit_bytes}};
  if (spec.limit_swap) memory["swap"] = spec.memory_limit_bytes;
  json::object cpu{{"shares", spec.cpu_shares}};
  if (spec.cpu_quota_us > 0) {
    cpu["quota"] = spec.cpu_quota_us;
    cpu["period"] = spec.cpu_period_us;
  }
  json::object resources{
      // Deny every device node; the runtime adds back its defaults (null, zero, full, tty,
      // random, urandom, the pty master).
      {"devices", json::array{json::object{{"allow", false}, {"access", "rwm"}}}},
      {"memory", std::move(memory)},
      {"cpu", std::move(cpu)},
      {"pids", json::object{{"limit", spec.pids_limit}}},
  };
  json::array masked;
  for (auto p : kMaskedPaths) masked.emplace_back(p);
  json::array readonly;
  for (auto p : kReadonlyPaths) readonly.emplace_back(p);

  json::object linux{{"uidMappings", json::array{mapping}}, {"gidMappings", json::array{mapping}},
                     {"namespaces", std::move(namespaces)}, {"resources", std::move(resources)},
                     {"cgroupsPath", CgroupsPath(spec)},    {"maskedPaths", std::move(masked)},
                     {"readonlyPaths", std::move(readonly)}};
  if (spec.seccomp) {
    linux["seccomp"] = SeccompJson(DefaultSeccompProfile(HostArch(), spec.capabilities));
  }
  return linux;
}

}  // namespace

Result<std::uint32_t> UidBaseForSlot(std::uint32_t slot) {
  std::uint64_t base = kFirstAppUid + static_cast<std::uint64_t>(slot) * kAppIdRangeSize;
  // The last id of the range must stay below 2^32 - 1, which the kernel reserves as "no id".
  if (base + kAppIdRangeSize > std::numeric_limits<std::uint32_t>::max()) {
    return Fail(ErrorCode::kInvalidInput,
                "app slot " + std::to_string(slot) + " is beyond the host's uid space");
  }
  return static_cast<std::uint32_t>(base);
}

Status ValidateContainerSpec(const ContainerSpec& spec) {
  std::vector<std::string> problems;
  auto problem = [&](std::string p) { problems.push_back(std::move(p)); };

  if (auto st = ValidateContainerId(spec.app_id); !st) problem(st.error().message());
  if (!IsCleanAbsolute(spec.rootfs))
    problem("rootfs '" + spec.rootfs + "' is not a clean absolute path");
  if (spec.args.empty() || spec.args[0].empty()) problem("args must name a program");
  for (const auto& a : spec.args) {
    if (a.find('\0') != std::string::npos) problem("an argument contains a NUL byte");
  }
  for (const auto& e : spec.env) {
    auto eq = e.find('=');
    if (eq == 0 || eq == std::string::npos || e.find('\0') != std::string::npos) {
      problem("environment entry '" + e.substr(0, 64) + "' is not NAME=value");
    }
  }
  if (spec.cwd != "/" && !IsCleanAbsolute(spec.cwd))
    problem("cwd '" + spec.cwd + "' is not a clean absolute path");
  if (!ValidHostname(Hostname(spec)))
    problem("hostname '" + Hostname(spec) + "' is not a valid host name");

  if (spec.ids.host_base == 0) problem("the id range must not start at host id 0 (host root)");
  if (spec.ids.size == 0) problem("the id range is empty");
  if (static_cast<std::uint64_t>(spec.ids.host_base) + spec.ids.size >
      std::numeric_limits<std::uint32_t>::max()) {
    problem("the id range passes the end of the host's id space");
  }
  if (spec.uid >= spec.ids.size || spec.gid >= spec.ids.size) {
    problem("uid/gid " + std::to_string(spec.uid) + ":" + std::to_string(spec.gid) +
            " is outside the mapped range of " + std::to_string(spec.ids.size));
  }
  for (auto g : spec.additional_gids) {
    if (g >= spec.ids.size)
      problem("additional gid " + std::to_string(g) + " is outside the mapped range");
  }

  if (spec.memory_limit_bytes < kMinMemoryBytes) problem("memory limit is below 4 MiB");
  if (spec.cpu_shares < 2 || spec.cpu_shares > 262144) problem("cpu shares must be 2..262144");
  if (spec.cpu_quota_us < 0) problem("cpu quota is negative");
  if (spec.cpu_quota_us > 0 && (spec.cpu_period_us < 1000 || spec.cpu_period_us > 1000000)) {
    problem("cpu period must be 1000..1000000 us");
  }
  if (spec.pids_limit <= 0) problem("pids limit must be positive");
  if (spec.nofile_limit < 16) problem("open-files limit is below 16");
  if (spec.oom_score_adj < -1000 || spec.oom_score_adj > 1000)
    problem("oom_score_adj must be -1000..1000");
  if (spec.tmp_size_bytes < kMinTmpBytes) problem("/tmp size is below 64 KiB");

  for (const auto& cap : spec.capabilities) {
    if (!package::IsKnownCapability(cap)) {
      problem("unknown capability '" + cap + "'");
    }
  }

  if (!spec.data_dir.empty() && !IsCleanAbsolute(spec.data_dir)) {
    problem("data dir '" + spec.data_dir + "' is not a clean absolute path");
  }
  for (const auto& m : spec.extra_mounts) {
    if (!IsCleanAbsolute(m.source))
      problem("mount source '" + m.source + "' is not a clean absolute path");
    // Stricter than for host paths: "//proc" must not slip past the reserved-path check.
    if (!IsCleanAbsolute(m.destination) || m.destination.find("//") != std::string::npos ||
        m.destination.back() == '/') {
      problem("mount destination '" + m.destination + "' is not a clean absolute path");
      continue;
    }
    for (auto reserved : kReservedDestinations) {
      if (IsAtOrBelow(m.destination, reserved)) {
        problem("mount destination '" + m.destination + "' is inside " + std::string(reserved));
      }
    }
  }

  switch (spec.network) {
    case NetworkMode::kNamespace:
      if (!IsCleanAbsolute(spec.netns_path))
        problem("network namespace path '" + spec.netns_path + "' is not a clean absolute path");
      break;
    case NetworkMode::kNone:
    case NetworkMode::kHost:
      if (!spec.netns_path.empty())
        problem("a network namespace path needs NetworkMode::kNamespace");
      if (!spec.userns_path.empty()) problem("a user namespace path needs NetworkMode::kNamespace");
      break;
  }
  if (!spec.userns_path.empty() && !IsCleanAbsolute(spec.userns_path))
    problem("user namespace path '" + spec.userns_path + "' is not a clean absolute path");
  if (!IsCleanAbsolute(spec.cgroup_parent))
    problem("cgroup parent '" + spec.cgroup_parent + "' is not a clean absolute path");

  if (problems.empty()) return {};
  std::string message = "invalid container spec";
  for (const auto& p : problems) message += "; " + p;
  return Fail(ErrorCode::kInvalidInput, std::move(message));
}

std::string CgroupsPath(const ContainerSpec& spec) {
  return spec.cgroup_parent + "/" + spec.app_id;
}

Result<std::string> GenerateOciConfig(const ContainerSpec& spec) {
  FK_TRY(ValidateContainerSpec(spec));
  json::object config{
      {"ociVersion", "1.0.2"},
      {"process", Process(spec)},
      {"root", json::object{{"path", spec.rootfs}, {"readonly", spec.readonly_rootfs}}},
      {"hostname", Hostname(spec)},
      {"mounts", Mounts(spec)},
      {"linux", Linux(spec)},
      {"annotations", json::object{{"org.fogkeep.app-id", spec.app_id}}},
  };
  return json::serialize(config);
}

Status WriteBundle(const std::string& bundle_dir, const ContainerSpec& spec,
                   fs::Durability durability) {
  std::string config = FK_TRY(GenerateOciConfig(spec));
  FK_TRY_CTX(fs::MakeDirs(bundle_dir, 0700), "bundle");
  return fs::WriteFileAtomic(bundle_dir + "/config.json", config, 0600, durability);
}

}  // namespace fogkeep::node::runtime
