#include "node/apps.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <ctime>
#include <thread>
#include <utility>

#include "api/node.h"
#include "core/fs.h"
#include "core/log.h"
#include "node/runtime/app_spec.h"
#include "node/runtime/flat_json.h"
#include "node/runtime/spec.h"
#include "package/descriptor.h"

namespace fogkeep::node {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using runtime::FlatJsonObject;

constexpr char kConfigFileName[] = "package_config.ini";
constexpr char kConfigFileInApp[] = "/data/package_config.ini";
// Names inside apps/<id>/ that are not versions.
constexpr std::string_view kReservedNames[] = {"data", "bundle", "state", "config.tmp"};

std::int64_t Now() { return static_cast<std::int64_t>(::time(nullptr)); }

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The app id IOx-style from a descriptor name: lowercase, spaces become '-', anything outside
// [a-z0-9_.-] is dropped.
std::string DeriveAppId(std::string_view name) {
  std::string out;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == ' ') {
      out += '-';
    } else if (std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (c == '_' || c == '.' || c == '-') {
      out += c;
    }
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  if (out.size() > 63) out.resize(63);
  return out;
}

// A version names a directory: it must be one safe path component and not a reserved name.
Status CheckVersionName(std::string_view version) {
  bool ok = !version.empty() && version.size() <= 64 && version != "." && version != ".." &&
            std::ranges::all_of(version, [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                     c == '-' || c == '+';
            });
  for (auto reserved : kReservedNames) ok = ok && version != reserved;
  if (!ok)
    return Fail(ErrorCode::kInvalidInput,
                "info.version '" + std::string(version) + "' is not usable on this node");
  return {};
}

std::string Payload(std::initializer_list<std::pair<std::string_view, std::string_view>> members) {
  FlatJsonObject obj;
  for (const auto& [key, value] : members) obj.SetString(key, value);
  return obj.Serialize();
}

std::string PayloadString(const Intent& intent, std::string_view key) {
  auto obj = FlatJsonObject::Parse(intent.payload);
  if (!obj) return "";
  return obj->String(key).value_or("");
}

bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  auto stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  auto close = stat->rfind(')');
  return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z';
}

bool WaitGone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!ProcessGone(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string DescribeExit(const runtime::ExitRecord& record) {
  if (!record.error.empty()) return record.error;
  if (record.oom_killed) return "killed by the OOM killer";
  if (record.signal != 0) return "killed by signal " + std::to_string(record.signal);
  return "exit code " + std::to_string(record.exit_code);
}

bool ExitFailed(const runtime::ExitRecord& record) {
  return !record.error.empty() || record.signal != 0 || record.exit_code != 0;
}

// The last `lines` lines of `text` (all of it when 0).
std::string Tail(const std::string& text, std::size_t lines) {
  if (lines == 0) return text;
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  std::size_t seen = 0;
  while (pos > 0) {
    auto nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    if (++seen == lines) return text.substr(nl + 1);
    pos = nl;
  }
  return text;
}

std::string DefaultShimBinary() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "/usr/libexec/fogkeep/fogkeep-shim";
  std::string self(buf, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/')) + "/fogkeep-shim";
}

Status ChownPath(const std::string& path, std::uint32_t id) {
  if (::lchown(path.c_str(), id, id) != 0) return FailErrno("chown " + path, errno);
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction and paths

Apps::Apps(AppsConfig config) : config_(std::move(config)) {}

Result<std::unique_ptr<Apps>> Apps::Open(AppsConfig config) {
  if (config.data_dir.empty() || config.data_dir.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "the data directory must be an absolute path");
  }
  while (config.data_dir.size() > 1 && config.data_dir.back() == '/') config.data_dir.pop_back();
  if (config.shim_binary.empty()) config.shim_binary = DefaultShimBinary();
  std::unique_ptr<Apps> apps(new Apps(std::move(config)));
  FK_TRY(apps->Init());
  return apps;
}

Status Apps::Init() {
  const std::string& d = config_.data_dir;
  FK_TRY(fs::MakeDirs(d, 0711));
  // App roots (unprivileged host uids) must pass through to their rootfs: o+x, no listing.
  if (::chmod(d.c_str(), 0711) != 0) return FailErrno("chmod " + d, errno);
  // One app service per data directory: a second fogkeepd on it would race the first.
  data_dir_lock_ = FK_TRY_CTX(fs::LockExclusive(d + "/lock"), "data dir " + d + " is in use");
  FK_TRY(fs::MakeDirs(StagingRoot(), 0700));
  FK_TRY(fs::MakeDirs(d + "/apps", 0711));
  FK_TRY(fs::MakeDirs(d + "/runtime", 0700));
  FK_TRY(fs::MakeDirs(TrustDir(), 0700));
  store_ = config_.store;
  if (!store_) store_ = FK_TRY(OpenSqliteAppStore(d + "/state.db"));
  network_ = config_.network;
  if (!network_) network_ = MakeNoNetworkProvider();
  FK_TRY(ValidateMonitorPortSettings(config_.network_monitor));
  monitor_port_ = FK_TRY(MonitorPort::Open(d + "/monitor", config_.network_monitor.interface));
  runtime::RuntimeOptions options;
  options.binary = config_.runtime_binary;
  options.root = d + "/runtime";
  runtime_ = FK_TRY(runtime::MakeOciRuntime(config_.runtime, options));
  cgroups_ = runtime::DetectCgroups();
  {
    std::lock_guard lock(mu_);
    FK_TRY_CTX(Recover(), "recovery of " + d);
  }
  if (config_.run_monitor) monitor_ = std::thread([this] { MonitorLoop(); });
  return {};
}

Apps::~Apps() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

std::string Apps::AppDir(const std::string& id) const { return config_.data_dir + "/apps/" + id; }
std::string Apps::StateDir(const std::string& id) const { return AppDir(id) + "/state"; }
std::string Apps::DataDir(const std::string& id) const { return AppDir(id) + "/data"; }
std::string Apps::BundleDir(const std::string& id) const { return AppDir(id) + "/bundle"; }
std::string Apps::StagingRoot() const { return config_.data_dir + "/staging"; }
std::string Apps::TrustDir() const { return config_.data_dir + "/trust"; }
std::string Apps::CgroupPath(const std::string& id) const {
  return config_.cgroup_parent + "/" + id;
}

Status Apps::MakeMountPoints(const std::string& staging, std::uint32_t owner) const {
  if (!config_.endpoints) return {};
  const std::string rootfs = staging + "/rootfs";
  fs::UniqueFd root(::open(rootfs.c_str(), O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) return FailErrno("open " + rootfs, errno);
  for (const std::string& path : config_.endpoints->MountPoints()) {
    // Component by component, never through a symlink: a package whose /run is a link (to its
    // writable /data, say) would otherwise redirect where the socket is mounted. Such a
    // package is refused.
    std::string prefix;
    for (std::string_view rest = std::string_view(path).substr(1); !rest.empty();) {
      const std::string_view part = rest.substr(0, rest.find('/'));
      rest.remove_prefix(std::min(rest.size(), part.size() + 1));
      prefix += (prefix.empty() ? "" : "/") + std::string(part);
      const bool existed = fs::OpenBeneath(root.get(), prefix, O_PATH | O_DIRECTORY).has_value();
      fs::UniqueFd dir = FK_TRY_CTX(fs::MakeDirsBeneath(root.get(), prefix, 0755),
                                    "mount point " + path + " in the package's rootfs");
      if (existed) continue;
      // Owned by the app's root like the rest of its rootfs, and 0755 whatever the umask:
      // every uid of the app must pass through to what is mounted there.
      if (::fchown(dir.get(), owner, owner) != 0 || ::fchmod(dir.get(), 0755) != 0) {
        return FailErrno("mount point " + path + " in the package's rootfs", errno);
      }
    }
  }
  return {};
}

std::uint32_t Apps::UidBase(std::uint32_t slot) const {
  auto base = runtime::UidBaseForSlot(slot);
  return base ? *base : runtime::kFirstAppUid + slot * runtime::kAppIdRangeSize;
}

// ---------------------------------------------------------------------------------------------
// Helpers (mu_ held)

Result<AppRecord> Apps::FindRow(const std::string& id) {
  auto found = FK_TRY(store_->FindApp(id));
  if (!found) return Fail(ErrorCode::kNotFound, "no app " + id);
  return *found;
}

Status Apps::CheckNotBusy(const std::string& id) const {
  if (busy_.contains(id)) {
    return Fail(ErrorCode::kConflict,
                "app " + id + " is being upgraded; try again when it is done");
  }
  return {};
}

std::shared_ptr<const package::Descriptor> Apps::ParsedDescriptor(const std::string& text) const {
  // More distinct texts than any node holds apps (each version of each app is one).
  constexpr std::size_t kMaxParsedDescriptors = 512;
  {
    std::shared_lock lock(parsed_mu_);
    if (auto it = parsed_descriptors_.find(text); it != parsed_descriptors_.end())
      return it->second;
  }
  auto parsed = package::ParseDescriptor(text);
  if (!parsed) return nullptr;
  auto descriptor = std::make_shared<const package::Descriptor>(std::move(*parsed));
  std::lock_guard lock(parsed_mu_);
  if (parsed_descriptors_.size() >= kMaxParsedDescriptors) parsed_descriptors_.clear();
  parsed_descriptors_.emplace(text, descriptor);
  return descriptor;
}

Result<AppInfo> Apps::ToInfo(const AppRecord& r) const {
  AppInfo info;
  info.id = r.id;
  info.name = r.name;
  info.version = r.version;
  info.state = r.state;
  info.signer = r.signer;
  info.installed_at = r.installed_at;
  info.updated_at = r.updated_at;
  info.restarts = r.restarts;
  if (auto d = ParsedDescriptor(r.descriptor_text)) {
    info.type = d->type;
    info.profile = d->resources.profile.empty() ? "default" : d->resources.profile;
    if (auto limits = package::ResolveResources(d->resources)) {
      info.memory_mb = limits->memory_mb;
      info.cpu_units = limits->cpu_units;
    }
    auto network = network_->Describe(r.id, *d);
    info.network = std::move(network.description);
    info.ports = std::move(network.ports);
    if (d->access_control == "oauth2") info.oauth_scopes = d->access_control_scopes;
    if (d->resources.network_monitor) {
      info.network = config_.network_monitor.interface.empty()
                         ? "monitor (not granted)"
                         : "monitor " + config_.network_monitor.interface;
    }
  }
  if (!r.last_exit_json.empty()) {
    if (auto rec = runtime::ParseExitRecord(r.last_exit_json)) {
      info.last_exit =
          AppExit{rec->exit_code, rec->signal, rec->oom_killed, rec->finished_at, rec->error};
    }
  }
  return info;
}

Result<package::X509Verifier> Apps::MakeVerifierLocked() {
  auto policy = FK_TRY(store_->GetPolicy());
  auto material = FK_TRY(ReadTrustLocked());
  crypto::TrustStore trust;
  for (const auto& pem : material.anchors) {
    for (auto& cert : FK_TRY_CTX(crypto::Certificate::BundleFromPem(pem), "trust anchor")) {
      trust.AddAnchor(std::move(cert));
    }
  }
  for (const auto& pem : material.crls) trust.AddCrl(FK_TRY_CTX(crypto::Crl::FromPem(pem), "CRL"));
  return package::X509Verifier(std::move(trust), package::SignaturePolicy{policy.require_signed});
}

Result<std::uint32_t> Apps::ReserveSlotLocked() {
  std::set<std::uint32_t> used = reserved_slots_;
  for (const auto& r : FK_TRY(store_->ListApps())) used.insert(r.slot);
  std::uint32_t slot = config_.first_slot;
  while (used.contains(slot)) ++slot;
  FK_TRY_CTX(runtime::UidBaseForSlot(slot), "no free uid range");
  reserved_slots_.insert(slot);
  return slot;
}

std::optional<pid_t> Apps::LiveShim(const std::string& id) const {
  auto text = fs::ReadFile(StateDir(id) + "/" + std::string(runtime::kShimPidFile), 64);
  if (!text) return std::nullopt;
  pid_t pid = 0;
  std::string_view digits(*text);
  while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' '))
    digits.remove_suffix(1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (pid <= 1 || ProcessGone(pid)) return std::nullopt;
  // The pid may have been reused since: it must be a fogkeep-shim for this very app.
  auto cmdline = fs::ReadFile("/proc/" + std::to_string(pid) + "/cmdline", 1 << 16);
  if (!cmdline || cmdline->find("fogkeep-shim") == std::string::npos) return std::nullopt;
  if (cmdline->find(std::string("\0--id=", 6) + id + std::string("\0", 1)) == std::string::npos) {
    return std::nullopt;
  }
  return pid;
}

std::optional<pid_t> Apps::AwaitShim(const std::string& id) const {
  // A shim spawned just before a crash writes its pid file a moment later; without waiting,
  // recovery would miss it and it would start a container no row accounts for.
  std::string pid_file = StateDir(id) + "/" + std::string(runtime::kShimPidFile);
  auto deadline = Clock::now() + 2s;
  while (!Exists(pid_file) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return LiveShim(id);
}

void Apps::CleanupContainer(const std::string& id) {
  // Usually nothing is left (the shim deletes its container before it ends): then no runtime
  // process is spent finding that out, on the way into every start.
  if (runtime_->MayExist(id)) {
    if (auto st = runtime_->Delete(id, /*force=*/true); !st) {
      log::Warn("app {}: delete container: {}", id, st.error().message());
    }
  }
  if (cgroups_) (void)cgroups_->Remove(CgroupPath(id));
  if (auto st = network_->Detach(id); !st) {
    log::Warn("app {}: release network: {}", id, st.error().message());
  }
  if (auto st = monitor_port_->Detach(id); !st) {
    log::Warn("app {}: return the monitor interface: {}", id, st.error().message());
  }
}

std::optional<runtime::ExitRecord> Apps::StopContainer(const std::string& id) {
  watches_.erase(id);
  if (auto shim = LiveShim(id)) {
    // The shim also passes SIGTERM on, but the runtime reaches the init even when the shim is
    // wedged. A pid-1 app without a SIGTERM handler ignores it: SIGKILL after the grace.
    (void)runtime_->Kill(id, SIGTERM);
    if (!WaitGone(*shim, config_.stop_grace)) {
      (void)runtime_->Kill(id, SIGKILL);
      if (!WaitGone(*shim, 10s)) {
        log::Warn("app {}: shim {} did not end after SIGKILL to the container; killing it", id,
                  *shim);
        ::kill(*shim, SIGKILL);
        (void)WaitGone(*shim, 5s);
      }
    }
  }
  CleanupContainer(id);
  auto record = runtime::ReadExitRecord(StateDir(id));
  if (record) return *record;
  return std::nullopt;
}

Status Apps::PrepareDataDir(const AppRecord& r) {
  std::string data = DataDir(r.id);
  FK_TRY(fs::MakeDirs(data, 0700));
  FK_TRY(ChownPath(data, UidBase(r.slot)));
  return {};
}

Status Apps::WriteConfigFile(const AppRecord& r) {
  // Written beside /data (a directory the app cannot touch), owned by the app's root, then
  // renamed into /data: nothing the app planted in /data is followed or opened. Not fsynced:
  // it is written again from the store before every start.
  std::string tmp = AppDir(r.id) + "/config.tmp";
  FK_TRY(fs::WriteFileAtomic(tmp, r.config_ini, 0644, fs::Durability::kAtomicOnly));
  FK_TRY(ChownPath(tmp, UidBase(r.slot)));
  std::string target = DataDir(r.id) + "/" + kConfigFileName;
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return FailErrno("install " + target, err);
  }
  return {};
}

Result<runtime::ContainerSpec> Apps::WriteBundleFor(const AppRecord& r, bool attach_network) {
  auto descriptor = FK_TRY_CTX(package::ParseDescriptor(r.descriptor_text), "app " + r.id);
  auto policy = FK_TRY(store_->GetPolicy());
  NetworkAttachment attachment;
  if (attach_network) {
    attachment = FK_TRY_CTX(network_->Attach(r.id, descriptor, policy), "app " + r.id);
  } else {
    attachment = network_->Describe(r.id, descriptor);
  }
  if (attachment.mode == runtime::NetworkMode::kHost && !policy.allow_host_network) {
    return Fail(ErrorCode::kForbidden,
                "app " + r.id +
                    ": asks for host networking (app.security.host-network), which the node's "
                    "policy does not allow");
  }
  runtime::AppPlacement placement;
  placement.app_id = r.id;
  placement.rootfs = r.package_dir + "/rootfs";
  placement.data_dir = DataDir(r.id);
  placement.ids = runtime::IdRange{UidBase(r.slot), runtime::kAppIdRangeSize};
  placement.netns_path = attachment.netns_path;
  if (descriptor.resources.network_monitor) {
    // ValidateDescriptor keeps network-monitor apart from interfaces and host networking, so
    // the attachment above prepared nothing.
    placement.netns_path = monitor_port_->NetnsPath(r.id);
    placement.userns_path = monitor_port_->UsernsPath(r.id);
  }
  EndpointMounts endpoints;
  if (config_.endpoints) {
    endpoints = FK_TRY_CTX(config_.endpoints->Prepare(r.id, placement.ids), "app " + r.id);
    placement.extra_mounts = endpoints.mounts;
  }
  // With no namespace prepared, declared interfaces are served by the attachment (loopback
  // only for `none`), not refused.
  if (attachment.mode != runtime::NetworkMode::kNamespace) descriptor.resources.network.clear();

  runtime::NodePolicy node_policy;
  node_policy.allowed_capabilities = policy.allowed_capabilities;
  node_policy.limit_swap = cgroups_ ? cgroups_->SupportsSwapLimit() : false;
  node_policy.cgroup_parent = config_.cgroup_parent;
  node_policy.monitor_interface = config_.network_monitor.interface;
  node_policy.monitor_apps = config_.network_monitor.apps;
  // Refuses what the policy does not grant before anything is lent.
  auto spec = FK_TRY_CTX(runtime::ContainerSpecFromDescriptor(descriptor, placement, node_policy),
                         "app " + r.id);
  if (attach_network && descriptor.resources.network_monitor) {
    FK_TRY_CTX(monitor_port_->Attach(r.id, placement.ids), "app " + r.id);
  }
  if (attachment.mode == runtime::NetworkMode::kHost) spec.network = runtime::NetworkMode::kHost;

  // fogkeep's own platform variables win over app.env, like IOx's CAF_APP_*.
  std::vector<std::string> platform = {
      "FOGKEEP_APP_ID=" + r.id,
      "FOGKEEP_APP_DATA_DIR=/data",
      "FOGKEEP_APP_CONFIG_FILE=" + std::string(kConfigFileInApp),
  };
  platform.insert(platform.end(), endpoints.env.begin(), endpoints.env.end());
  std::erase_if(spec.env, [&](const std::string& entry) {
    return std::ranges::any_of(platform, [&](const std::string& p) {
      return entry.starts_with(p.substr(0, p.find('=') + 1));
    });
  });
  spec.env.insert(spec.env.end(), platform.begin(), platform.end());
  // Not fsynced: StartContainer writes it again before every container it creates.
  FK_TRY(runtime::WriteBundle(BundleDir(r.id), spec, fs::Durability::kAtomicOnly));
  return spec;
}

Status Apps::StartContainer(const AppRecord& r) {
  if (LiveShim(r.id)) StopContainer(r.id);
  CleanupContainer(r.id);
  FK_TRY(PrepareDataDir(r));
  FK_TRY(WriteConfigFile(r));
  auto spec = WriteBundleFor(r, /*attach_network=*/true);
  if (!spec) {
    CleanupContainer(r.id);  // releases a network attached before the bundle failed
    return Fail(spec.error());
  }
  ::unlink((StateDir(r.id) + "/" + std::string(runtime::kExitFile)).c_str());
  // Its presence from now on names this start's shim (AwaitShim relies on it).
  ::unlink((StateDir(r.id) + "/" + std::string(runtime::kShimPidFile)).c_str());
  runtime::ShimConfig shim;
  shim.id = r.id;
  shim.bundle_dir = BundleDir(r.id);
  shim.state_dir = StateDir(r.id);
  shim.runtime = config_.runtime;
  shim.runtime_binary = config_.runtime_binary;
  shim.runtime_root = config_.data_dir + "/runtime";
  shim.cgroup_path = runtime::CgroupsPath(*spec);
  shim.log_max_bytes = config_.log_max_bytes;
  auto started = runtime::StartShim(config_.shim_binary, shim);
  if (!started) {
    CleanupContainer(r.id);
    return Fail(started.error().With("start app " + r.id));
  }
  Watch& w = watches_[r.id];
  w.shim_pid = started->shim_pid;
  w.started = Clock::now();
  if (w.backoff == 0ms) w.backoff = config_.backoff_initial;
  w.restart_at.reset();
  return {};
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

Result<AppInfo> Apps::Install(package::ByteSource& source, const InstallOptions& options) {
  if (!options.app_id.empty() && !api::IsAppId(options.app_id)) {
    return Fail(ErrorCode::kInvalidInput,
                "app id '" + options.app_id +
                    "' must be 1-63 characters of [a-z0-9_.-] starting with a letter or digit");
  }
  std::uint32_t slot = 0;
  std::string staging;
  std::int64_t seq = 0;
  std::optional<package::X509Verifier> verifier;
  {
    std::lock_guard lock(mu_);
    if (!options.app_id.empty()) {
      if (FK_TRY(store_->FindApp(options.app_id))) {
        return Fail(ErrorCode::kConflict, "app " + options.app_id + " is already installed");
      }
    }
    verifier.emplace(FK_TRY(MakeVerifierLocked()));
    slot = FK_TRY(ReserveSlotLocked());
    auto made = fs::MakeTempDir(StagingRoot(), "install-");
    if (!made) {
      reserved_slots_.erase(slot);
      return Fail(made.error());
    }
    staging = *made;
    auto begun = store_->BeginIntent(
        Intent{0, "install", options.app_id, "extract", Payload({{"staging", staging}})});
    if (!begun) {
      reserved_slots_.erase(slot);
      (void)fs::RemoveTree(staging);
      return Fail(begun.error());
    }
    seq = *begun;
  }
  // From here every failure removes what was made and closes the intent.
  std::string target;
  std::string id;
  auto abandon = [&](Error error) -> Result<AppInfo> {
    (void)fs::RemoveTree(staging);
    if (!target.empty()) (void)fs::RemoveTree(AppDir(id));
    reserved_slots_.erase(slot);
    (void)store_->FinishIntent(seq);
    return Fail(std::move(error));
  };

  package::ExtractOptions extract;
  extract.id_shift = UidBase(slot);
  auto verified = package::VerifyAndExtract(source, *verifier, staging, extract, config_.limits);
  if (verified) {
    if (Status made = MakeMountPoints(staging, *extract.id_shift); !made)
      verified = Fail(made.error());
  }

  std::lock_guard lock(mu_);
  if (!verified) return abandon(verified.error().With("install"));
  const auto& descriptor = *verified->report.descriptor;
  id = options.app_id.empty() ? DeriveAppId(descriptor.name) : options.app_id;
  if (!api::IsAppId(id)) {
    return abandon(Error(
        ErrorCode::kInvalidInput,
        "install: cannot derive an app id from the name '" + descriptor.name + "'; give one"));
  }
  if (auto st = CheckVersionName(descriptor.version); !st) return abandon(st.error());
  auto existing = store_->FindApp(id);
  if (!existing) return abandon(existing.error());
  if (*existing) return abandon(Error(ErrorCode::kConflict, "app " + id + " is already installed"));

  AppRecord r;
  r.id = id;
  r.name = descriptor.name;
  r.version = descriptor.version;
  r.state = AppState::kDeployed;
  r.slot = slot;
  if (verified->verdict.signer) r.signer = verified->verdict.signer->Subject();
  r.package_dir = AppDir(id) + "/" + descriptor.version;
  r.descriptor_text = verified->report.descriptor_text;
  r.config_ini = verified->report.config;
  r.installed_at = r.updated_at = Now();

  target = r.package_dir;
  if (auto st = store_->UpdateIntent(Intent{seq, "install", id, "commit",
                                            Payload({{"staging", staging}, {"target", target}})});
      !st) {
    target.clear();
    return abandon(st.error());
  }
  // Leftovers of an earlier app of this id that has no row are not this app's.
  (void)fs::RemoveTree(AppDir(id));
  if (auto st = fs::MakeDirs(AppDir(id), 0711); !st) return abandon(st.error());
  if (::rename(staging.c_str(), target.c_str()) != 0) {
    return abandon(
        Error(ErrorCode::kUnavailable, ErrnoMessage("rename staging to " + target, errno)));
  }
  ::chmod(target.c_str(), 0711);
  if (auto st = PrepareDataDir(r); !st) return abandon(st.error());
  if (auto st = fs::FsyncDir(AppDir(id)); !st) return abandon(st.error());
  if (auto st = store_->InsertApp(r, seq); !st) return abandon(st.error());
  reserved_slots_.erase(slot);
  log::Info("app {}: installed version {} ({})", id, r.version,
            r.signer.empty() ? "unsigned" : r.signer);
  return ToInfo(r);
}

Result<AppInfo> Apps::Apply(const std::string& id, AppAction action) {
  std::lock_guard lock(mu_);
  FK_TRY(CheckNotBusy(id));
  auto r = FK_TRY(FindRow(id));
  FK_TRY(Transition(r.state, action));
  switch (action) {
    case AppAction::kActivate:
      return DoActivate(std::move(r));
    case AppAction::kStart:
      return DoStart(std::move(r));
    case AppAction::kStop:
      return DoStop(std::move(r));
    case AppAction::kRestart: {
      FK_TRY(DoStop(std::move(r)));
      return DoStart(FK_TRY(FindRow(id)));
    }
    case AppAction::kDeactivate:
      return DoDeactivate(std::move(r));
    case AppAction::kUninstall:
    case AppAction::kUpgrade:
      break;
  }
  return Fail(ErrorCode::kInvalidInput,
              std::string(AppActionName(action)) + " is its own request, not an action");
}

Result<AppInfo> Apps::DoActivate(AppRecord r) {
  auto seq = FK_TRY(store_->BeginIntent(Intent{0, "activate", r.id, "begin", ""}));
  auto fail = [&](Error e) -> Result<AppInfo> {
    (void)fs::RemoveTree(BundleDir(r.id));
    (void)store_->FinishIntent(seq);
    return Fail(std::move(e));
  };
  if (auto st = PrepareDataDir(r); !st) return fail(st.error());
  if (auto spec = WriteBundleFor(r); !spec) return fail(spec.error());
  r.state = FK_TRY(Transition(r.state, AppAction::kActivate));
  r.updated_at = Now();
  if (auto st = store_->UpdateApp(r, seq); !st) return fail(st.error());
  return ToInfo(r);
}

Result<AppInfo> Apps::DoStart(AppRecord r) {
  auto seq = FK_TRY(store_->BeginIntent(Intent{0, "start", r.id, "begin", ""}));
  watches_[r.id] = Watch{};
  if (auto st = StartContainer(r); !st) {
    watches_.erase(r.id);
    if (auto rec = runtime::ReadExitRecord(StateDir(r.id))) {
      r.last_exit_json = runtime::FormatExitRecord(*rec);
      (void)store_->UpdateApp(r, std::nullopt);
    }
    (void)store_->FinishIntent(seq);
    return Fail(st.error());
  }
  r.state = AppState::kRunning;
  r.restarts = 0;
  r.updated_at = Now();
  if (auto st = store_->UpdateApp(r, seq); !st) {
    StopContainer(r.id);
    (void)store_->FinishIntent(seq);
    return Fail(st.error());
  }
  log::Info("app {}: started", r.id);
  return ToInfo(r);
}

Result<AppInfo> Apps::DoStop(AppRecord r) {
  auto seq = FK_TRY(store_->BeginIntent(Intent{0, "stop", r.id, "begin", ""}));
  if (auto rec = StopContainer(r.id)) r.last_exit_json = runtime::FormatExitRecord(*rec);
  r.state = AppState::kStopped;
  r.updated_at = Now();
  FK_TRY(store_->UpdateApp(r, seq));
  log::Info("app {}: stopped", r.id);
  return ToInfo(r);
}

Result<AppInfo> Apps::DoDeactivate(AppRecord r) {
  auto seq = FK_TRY(store_->BeginIntent(Intent{0, "deactivate", r.id, "begin", ""}));
  FK_TRY(fs::RemoveTree(BundleDir(r.id)));
  r.state = AppState::kDeployed;
  r.updated_at = Now();
  FK_TRY(store_->UpdateApp(r, seq));
  return ToInfo(r);
}

Status Apps::Uninstall(const std::string& id) {
  std::lock_guard lock(mu_);
  FK_TRY(CheckNotBusy(id));
  auto r = FK_TRY(FindRow(id));
  FK_TRY(Transition(r.state, AppAction::kUninstall));
  auto seq = FK_TRY(store_->BeginIntent(Intent{0, "uninstall", id, "begin", ""}));
  StopContainer(id);
  if (config_.endpoints) FK_TRY_CTX(config_.endpoints->Remove(id), "app " + id);
  FK_TRY(fs::RemoveTree(AppDir(id)));
  FK_TRY(store_->DeleteApp(id, seq));
  log::Info("app {}: uninstalled", id);
  return {};
}

Result<AppInfo> Apps::Upgrade(const std::string& id, package::ByteSource& source) {
  std::string staging;
  std::int64_t seq = 0;
  AppRecord before;
  std::optional<package::X509Verifier> verifier;
  PlatformPolicy policy;
  {
    std::lock_guard lock(mu_);
    FK_TRY(CheckNotBusy(id));
    before = FK_TRY(FindRow(id));
    FK_TRY(Transition(before.state, AppAction::kUpgrade));
    verifier.emplace(FK_TRY(MakeVerifierLocked()));
    policy = FK_TRY(store_->GetPolicy());
    staging = FK_TRY(fs::MakeTempDir(StagingRoot(), "upgrade-"));
    auto begun =
        store_->BeginIntent(Intent{0, "upgrade", id, "extract", Payload({{"staging", staging}})});
    if (!begun) {
      (void)fs::RemoveTree(staging);
      return Fail(begun.error());
    }
    seq = *begun;
    busy_.insert(id);
  }
  std::string new_dir;
  // Before the switch: nothing of the running app was touched.
  auto abandon = [&](Error error) -> Result<AppInfo> {
    (void)fs::RemoveTree(staging);
    if (!new_dir.empty()) (void)fs::RemoveTree(new_dir);
    (void)store_->FinishIntent(seq);
    busy_.erase(id);
    return Fail(std::move(error));
  };

  package::ExtractOptions extract;
  extract.id_shift = UidBase(before.slot);
  auto verified = package::VerifyAndExtract(source, *verifier, staging, extract, config_.limits);
  if (verified) {
    if (Status made = MakeMountPoints(staging, *extract.id_shift); !made)
      verified = Fail(made.error());
  }

  std::unique_lock lock(mu_);
  if (!verified) return abandon(verified.error().With("upgrade " + id));
  const auto& descriptor = *verified->report.descriptor;
  if (descriptor.name != before.name) {
    return abandon(Error(
        ErrorCode::kInvalidInput,
        "upgrade " + id + ": the package is '" + descriptor.name + "', not '" + before.name + "'"));
  }
  if (auto st = CheckVersionName(descriptor.version); !st) return abandon(st.error());
  auto r_found = FindRow(id);
  if (!r_found) return abandon(r_found.error());
  AppRecord old = *r_found;
  int cmp = package::CompareVersions(descriptor.version, old.version);
  if (cmp == 0) {
    return abandon(Error(ErrorCode::kConflict,
                         "upgrade " + id + ": version " + old.version + " is already installed"));
  }
  if (cmp < 0 && !policy.allow_downgrade) {
    return abandon(
        Error(ErrorCode::kForbidden, "upgrade " + id + ": " + descriptor.version +
                                         " is older than the installed " + old.version +
                                         " and the node's policy does not allow downgrades"));
  }

  AppRecord next = old;
  next.version = descriptor.version;
  next.package_dir = AppDir(id) + "/" + descriptor.version;
  next.descriptor_text = verified->report.descriptor_text;
  next.signer = verified->verdict.signer ? verified->verdict.signer->Subject() : "";
  next.updated_at = Now();
  next.restarts = 0;
  new_dir = next.package_dir;
  if (auto st = store_->UpdateIntent(Intent{seq, "upgrade", id, "switch",
                                            Payload({{"staging", staging},
                                                     {"new_dir", new_dir},
                                                     {"new_version", next.version},
                                                     {"old_version", old.version}})});
      !st) {
    return abandon(st.error());
  }
  (void)fs::RemoveTree(new_dir);
  if (::rename(staging.c_str(), new_dir.c_str()) != 0) {
    return abandon(
        Error(ErrorCode::kUnavailable, ErrnoMessage("rename staging to " + new_dir, errno)));
  }
  ::chmod(new_dir.c_str(), 0711);
  (void)fs::FsyncDir(AppDir(id));

  // From here the old version may be stopped: a failure restores it as it was.
  auto rollback = [&](const std::string& reason) -> Result<AppInfo> {
    StopContainer(id);
    (void)fs::RemoveTree(new_dir);
    std::string restored;
    if (old.state != AppState::kDeployed) {
      if (auto spec = WriteBundleFor(old); !spec)
        restored = "; restoring it failed: " + spec.error().message();
    }
    if (old.state == AppState::kRunning && restored.empty()) {
      if (auto st = StartContainer(old); !st)
        restored = "; restarting it failed: " + st.error().message();
    }
    (void)store_->FinishIntent(seq);
    busy_.erase(id);
    log::Warn("app {}: upgrade to {} failed: {}; rolled back to {}", id, next.version, reason,
              old.version);
    return Fail(ErrorCode::kConflict, "upgrade to " + next.version + " failed: " + reason +
                                          "; rolled back to " + old.version + restored);
  };

  if (old.state == AppState::kRunning) StopContainer(id);
  if (old.state != AppState::kDeployed) {
    if (auto spec = WriteBundleFor(next); !spec) return rollback(spec.error().message());
  }
  if (old.state == AppState::kRunning) {
    if (auto st = StartContainer(next); !st) return rollback(st.error().message());
    // Probation: a new version that dies at once is a failed upgrade, not a crash to retry.
    pid_t shim = watches_[id].shim_pid;
    auto deadline = Clock::now() + config_.upgrade_probation;
    while (Clock::now() < deadline && !ProcessGone(shim)) std::this_thread::sleep_for(50ms);
    if (ProcessGone(shim)) {
      (void)WaitGone(shim, 2s);
      auto rec = runtime::ReadExitRecord(StateDir(id));
      if (!rec) return rollback("it ended at once without an exit record");
      if (ExitFailed(*rec)) return rollback("it ended at once: " + DescribeExit(*rec));
    }
  }
  if (auto st = store_->UpdateApp(next, seq); !st) return rollback(st.error().message());
  busy_.erase(id);
  (void)fs::RemoveTree(old.package_dir);
  log::Info("app {}: upgraded from {} to {}", id, old.version, next.version);
  return ToInfo(next);
}

// ---------------------------------------------------------------------------------------------
// Queries

Result<std::vector<AppInfo>> Apps::List() {
  std::vector<AppInfo> out;
  for (const auto& r : FK_TRY(store_->ListApps())) out.push_back(FK_TRY(ToInfo(r)));
  return out;
}

Result<AppInfo> Apps::Get(const std::string& id) { return ToInfo(FK_TRY(FindRow(id))); }

Result<std::string> Apps::Logs(const std::string& id, std::size_t tail_lines) {
  std::string text;
  FK_TRY(FindRow(id));
  std::string base = StateDir(id) + "/" + std::string(runtime::kAppLogFile);
  for (const std::string& path : {base + ".1", base}) {
    auto part = fs::ReadFile(path);
    if (part) text += *part;
  }
  return Tail(text, tail_lines);
}

Result<AppMetrics> Apps::Metrics(const std::string& id) {
  auto r = FK_TRY(FindRow(id));
  AppMetrics m;
  m.id = id;
  m.state = r.state;
  m.restarts = r.restarts;
  if (r.state != AppState::kRunning || !cgroups_) return m;
  std::string path = CgroupPath(id);
  if (auto v = cgroups_->CpuUsageSeconds(path)) m.cpu_seconds = *v;
  if (auto v = cgroups_->MemoryUsageBytes(path)) m.memory_bytes = *v;
  if (auto v = cgroups_->MemoryLimitBytes(path); v && *v) m.memory_limit_bytes = **v;
  if (auto v = cgroups_->PidsCurrent(path)) m.pids = *v;
  if (auto v = cgroups_->OomKillCount(path)) m.oom_kills = *v;
  return m;
}

Result<std::string> Apps::GetConfig(const std::string& id) {
  return FK_TRY(FindRow(id)).config_ini;
}

Status Apps::SetConfig(const std::string& id, const std::string& ini) {
  if (ini.size() > (1 << 20))
    return Fail(ErrorCode::kLimit, "the configuration is larger than 1 MiB");
  std::lock_guard lock(mu_);
  FK_TRY(CheckNotBusy(id));
  auto r = FK_TRY(FindRow(id));
  r.config_ini = ini;
  r.updated_at = Now();
  return store_->UpdateApp(r, std::nullopt);
}

Result<PlatformPolicy> Apps::GetPolicy() { return store_->GetPolicy(); }

Status Apps::SetPolicy(const PlatformPolicy& policy) {
  std::lock_guard lock(mu_);
  FK_TRY(store_->SetPolicy(policy));
  log::Info(
      "platform policy: require_signed={} allow_downgrade={} allow_host_network={} capabilities={}",
      policy.require_signed, policy.allow_downgrade, policy.allow_host_network,
      policy.allowed_capabilities.size());
  return {};
}

Result<TrustMaterial> Apps::GetTrust() {
  std::lock_guard lock(mu_);
  return ReadTrustLocked();
}

Result<TrustMaterial> Apps::ReadTrustLocked() {
  TrustMaterial out;
  for (const auto& name : fs::ListDir(TrustDir())) {
    std::string path = TrustDir() + "/" + name;
    if (name.ends_with(".pem")) out.anchors.push_back(FK_TRY(fs::ReadFile(path, 1 << 20)));
    if (name.ends_with(".crl")) out.crls.push_back(FK_TRY(fs::ReadFile(path, 16 << 20)));
  }
  return out;
}

Status Apps::SetTrust(const TrustMaterial& trust) {
  for (const auto& pem : trust.anchors)
    FK_TRY_CTX(crypto::Certificate::BundleFromPem(pem), "trust anchor");
  for (const auto& pem : trust.crls) FK_TRY_CTX(crypto::Crl::FromPem(pem), "CRL");
  std::lock_guard lock(mu_);
  // Build the new directory beside the old one, then swap: a crash leaves one complete set
  // (Recover() puts trust.old back when trust/ is missing).
  std::string next = config_.data_dir + "/trust.new";
  std::string old = config_.data_dir + "/trust.old";
  FK_TRY(fs::RemoveTree(next));
  FK_TRY(fs::MakeDirs(next, 0700));
  char name[64];
  for (std::size_t i = 0; i < trust.anchors.size(); ++i) {
    std::snprintf(name, sizeof(name), "/anchor-%04zu.pem", i);
    FK_TRY(fs::WriteFileAtomic(next + name, trust.anchors[i], 0644));
  }
  for (std::size_t i = 0; i < trust.crls.size(); ++i) {
    std::snprintf(name, sizeof(name), "/crl-%04zu.crl", i);
    FK_TRY(fs::WriteFileAtomic(next + name, trust.crls[i], 0644));
  }
  FK_TRY(fs::RemoveTree(old));
  if (::rename(TrustDir().c_str(), old.c_str()) != 0) return FailErrno("rename trust", errno);
  if (::rename(next.c_str(), TrustDir().c_str()) != 0) return FailErrno("rename trust.new", errno);
  FK_TRY(fs::FsyncDir(config_.data_dir));
  (void)fs::RemoveTree(old);
  log::Info("trust store replaced: {} anchors, {} CRLs", trust.anchors.size(), trust.crls.size());
  return {};
}

// ---------------------------------------------------------------------------------------------
// Recovery

Status Apps::Recover() {
  std::string old_trust = config_.data_dir + "/trust.old";
  if (!Exists(TrustDir()) && Exists(old_trust)) {
    if (::rename(old_trust.c_str(), TrustDir().c_str()) != 0)
      return FailErrno("restore trust", errno);
  }
  (void)fs::RemoveTree(old_trust);
  (void)fs::RemoveTree(config_.data_dir + "/trust.new");
  FK_TRY(fs::MakeDirs(TrustDir(), 0700));

  for (const auto& intent : FK_TRY(store_->PendingIntents())) {
    if (auto st = RecoverIntent(intent); !st) {
      log::Error("recovery of {} {} failed: {}", intent.op, intent.app_id, st.error().message());
    }
    FK_TRY(store_->FinishIntent(intent.seq));
  }
  FK_TRY(Reattach());
  FK_TRY(RemoveOrphans());
  MonitorLocked();
  return {};
}

Status Apps::RecoverIntent(const Intent& intent) {
  const std::string& id = intent.app_id;
  log::Info("recovery: resuming {} of app {} (phase {})", intent.op, id.empty() ? "?" : id,
            intent.phase);
  std::optional<AppRecord> row;
  if (!id.empty()) row = FK_TRY(store_->FindApp(id));
  if (intent.op == "install") {
    // Never committed (the row and the intent's end are one transaction): roll back.
    std::string target = PayloadString(intent, "target");
    if (!target.empty() && !row) (void)fs::RemoveTree(AppDir(id));
    if (!target.empty() && row && row->package_dir != target) (void)fs::RemoveTree(target);
    (void)fs::RemoveTree(PayloadString(intent, "staging"));
    return {};
  }
  if (!row) return {};
  AppRecord r = *row;
  if (intent.op == "activate") {
    if (r.state != AppState::kDeployed) return {};
    auto spec = WriteBundleFor(r);
    if (!spec) {
      (void)fs::RemoveTree(BundleDir(id));
      return Fail(spec.error());
    }
    r.state = AppState::kActivated;
    return store_->UpdateApp(r, std::nullopt);
  }
  if (intent.op == "start") {
    if (AwaitShim(id)) {
      r.state = AppState::kRunning;
      r.restarts = 0;
      return store_->UpdateApp(r, std::nullopt);
    }
    CleanupContainer(id);
    return {};
  }
  if (intent.op == "stop") {
    if (auto rec = StopContainer(id)) r.last_exit_json = runtime::FormatExitRecord(*rec);
    r.state = AppState::kStopped;
    return store_->UpdateApp(r, std::nullopt);
  }
  if (intent.op == "deactivate") {
    FK_TRY(fs::RemoveTree(BundleDir(id)));
    r.state = AppState::kDeployed;
    return store_->UpdateApp(r, std::nullopt);
  }
  if (intent.op == "uninstall") {
    StopContainer(id);
    if (config_.endpoints) FK_TRY_CTX(config_.endpoints->Remove(id), "app " + id);
    FK_TRY(fs::RemoveTree(AppDir(id)));
    return store_->DeleteApp(id, std::nullopt);
  }
  if (intent.op == "upgrade") {
    // Not committed (the row still names the old version): restore the old version.
    (void)fs::RemoveTree(PayloadString(intent, "staging"));
    std::string new_dir = PayloadString(intent, "new_dir");
    if (new_dir.empty() || new_dir == r.package_dir) return {};
    (void)AwaitShim(id);
    StopContainer(id);
    (void)fs::RemoveTree(new_dir);
    if (r.state != AppState::kDeployed) FK_TRY(WriteBundleFor(r));
    if (r.state == AppState::kRunning) FK_TRY(StartContainer(r));
    return {};
  }
  return Fail(ErrorCode::kInternal, "unknown intent " + intent.op);
}

Status Apps::Reattach() {
  for (const auto& r : FK_TRY(store_->ListApps())) {
    auto shim = LiveShim(r.id);
    if (r.state == AppState::kRunning) {
      if (watches_.contains(r.id)) continue;
      Watch& w = watches_[r.id];
      w.backoff = config_.backoff_initial;
      w.started = Clock::now();
      // No live shim: the app ended while fogkeepd was away; the monitor applies the
      // restart policy on its first pass.
      w.shim_pid = shim ? *shim : 0;
      if (shim) log::Info("app {}: reattached to shim {}", r.id, *shim);
      // The running container keeps its mounts; what serves them must be back.
      if (shim && config_.endpoints) {
        const runtime::IdRange ids{UidBase(r.slot), runtime::kAppIdRangeSize};
        if (auto ready = config_.endpoints->Prepare(r.id, ids); !ready) {
          log::Warn("app {}: its endpoints: {}", r.id, ready.error().message());
        }
      }
    } else if (shim) {
      log::Warn("app {}: a shim runs for an app in {} state; stopping it", r.id,
                AppStateName(r.state));
      StopContainer(r.id);
    }
  }
  return {};
}

Status Apps::RemoveOrphans() {
  auto rows = FK_TRY(store_->ListApps());
  std::map<std::string, AppRecord> by_id;
  for (auto& r : rows) by_id.emplace(r.id, r);
  auto keep_container = [&](const std::string& id) {
    auto it = watches_.find(id);
    return it != watches_.end() && it->second.shim_pid != 0;
  };
  // Containers the runtime knows without a running app behind them.
  for (const auto& id : fs::ListDir(config_.data_dir + "/runtime")) {
    if (keep_container(id)) continue;
    if (!runtime::ValidateContainerId(id)) continue;
    log::Warn("recovery: removing orphaned container {}", id);
    if (LiveShim(id)) {
      StopContainer(id);
    } else {
      CleanupContainer(id);
    }
  }
  // Cgroups under the node's parent with no running app.
  if (cgroups_) {
    std::string root = cgroups_->version() == runtime::CgroupVersion::kV2
                           ? "/sys/fs/cgroup" + config_.cgroup_parent
                           : "/sys/fs/cgroup/pids" + config_.cgroup_parent;
    for (const auto& name : fs::ListDir(root)) {
      struct stat st {};
      if (::stat((root + "/" + name).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      if (keep_container(name)) continue;
      (void)cgroups_->Remove(CgroupPath(name));
    }
  }
  // Network attachments of apps whose containers are gone (stopped or crashed while
  // fogkeepd was away); a RUNNING app without a shim is attached again when it restarts.
  std::set<std::string> attached;
  for (const auto& [id, w] : watches_) {
    if (keep_container(id)) attached.insert(id);
  }
  if (auto st = network_->Reconcile(attached); !st) {
    log::Warn("recovery: releasing networks: {}", st.error().message());
  }
  if (auto st = monitor_port_->Reconcile(attached); !st) {
    log::Warn("recovery: returning the monitor interface: {}", st.error().message());
  }
  for (const auto& name : fs::ListDir(StagingRoot()))
    (void)fs::RemoveTree(StagingRoot() + "/" + name);
  for (const auto& name : fs::ListDir(config_.data_dir + "/apps")) {
    auto it = by_id.find(name);
    if (it == by_id.end()) {
      log::Warn("recovery: removing {} (no such app)", AppDir(name));
      if (runtime::ValidateContainerId(name) && LiveShim(name)) StopContainer(name);
      (void)fs::RemoveTree(AppDir(name));
      continue;
    }
    std::string version_dir = it->second.package_dir.substr(it->second.package_dir.rfind('/') + 1);
    for (const auto& entry : fs::ListDir(AppDir(name))) {
      if (entry == version_dir) continue;
      if (std::ranges::find(kReservedNames, entry) != std::end(kReservedNames) &&
          entry != "config.tmp")
        continue;
      (void)fs::RemoveTree(AppDir(name) + "/" + entry);
    }
  }
  if (config_.endpoints) {
    std::set<std::string> installed;
    for (const auto& [id, row] : by_id) installed.insert(id);
    if (auto st = config_.endpoints->Retain(installed); !st) {
      log::Warn("recovery: app endpoints: {}", st.error().message());
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The restart monitor

void Apps::MonitorOnce() {
  std::lock_guard lock(mu_);
  MonitorLocked();
}

void Apps::MonitorLocked() {
  const auto now = Clock::now();
  std::vector<std::string> ids;
  for (const auto& [id, w] : watches_) ids.push_back(id);
  for (const auto& id : ids) {
    if (busy_.contains(id)) continue;
    auto found = store_->FindApp(id);
    if (!found) continue;
    if (!*found || (*found)->state != AppState::kRunning) {
      watches_.erase(id);
      continue;
    }
    AppRecord r = **found;
    Watch& w = watches_[id];
    if (w.restart_at) {
      if (now < *w.restart_at) continue;
      auto backoff = w.backoff;
      if (auto st = StartContainer(r); !st) {
        // StartContainer erased nothing on failure; schedule the next attempt.
        Watch& again = watches_[id];
        again.shim_pid = 0;
        again.backoff = std::min(backoff * 2, config_.backoff_max);
        again.restart_at = Clock::now() + backoff;
        log::Warn("app {}: restart failed: {}", id, st.error().message());
        if (auto rec = runtime::ReadExitRecord(StateDir(id)))
          r.last_exit_json = runtime::FormatExitRecord(*rec);
      } else {
        watches_[id].backoff = backoff;
        log::Info("app {}: restarted (restart {})", id, r.restarts + 1);
      }
      ++r.restarts;
      r.updated_at = Now();
      (void)store_->UpdateApp(r, std::nullopt);
      continue;
    }
    if (w.shim_pid != 0 && !ProcessGone(w.shim_pid)) continue;
    // The app ended on its own (or while fogkeepd was away).
    if (w.shim_pid != 0) (void)WaitGone(w.shim_pid, 2s);
    auto rec = runtime::ReadExitRecord(StateDir(id));
    runtime::ExitRecord record;
    if (rec) {
      record = *rec;
    } else {
      record.error = "the app's shim ended without recording how the app ended";
      record.finished_at = Now();
    }
    CleanupContainer(id);
    if (Clock::now() - w.started >= config_.backoff_reset_after || w.backoff == 0ms) {
      w.backoff = config_.backoff_initial;
    }
    w.shim_pid = 0;
    w.restart_at = Clock::now() + w.backoff;
    log::Warn("app {}: ended ({}); restarting in {} ms", id, DescribeExit(record),
              w.backoff.count());
    w.backoff = std::min(w.backoff * 2, config_.backoff_max);
    r.last_exit_json = runtime::FormatExitRecord(record);
    (void)store_->UpdateApp(r, std::nullopt);
  }
}

void Apps::MonitorLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, config_.monitor_interval, [this] { return stopping_; });
    if (stopping_) break;
    MonitorLocked();
  }
}

}  // namespace fogkeep::node
