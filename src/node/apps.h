// Apps: fogkeepd's AppService over an AppStore, the package reader, an OCI runtime and
// fogkeep-shim.
//
// Layout under the data directory (every path derives from it, so nodes run side by side):
//   lock                     flock'ed by the one Apps that owns the directory
//   state.db                 the AppStore (SQLite)
//   trust/                   trust anchors (*.pem) and CRLs (*.crl)
//   staging/<random>/        installs and upgrades being verified and extracted
//   apps/<id>/<version>/     package members + rootfs/, never modified after install
//   apps/<id>/data/          the app's /data (owned by its mapped root, kept across upgrades)
//   apps/<id>/bundle/        config.json
//   apps/<id>/state/         the shim's state dir: shim.pid, app.log, exit.json, ...
//   runtime/                 the OCI runtime's --root
//   monitor/                 the monitor port's holder and pinned namespaces (monitor_port.h)
//
// The app's configuration (package_config.ini, or what SetConfig stored) is copied into
// /data/package_config.ini at every start, owned by the app's root: FOGKEEP_APP_CONFIG_FILE
// and IOx's CAF_APP_CONFIG_FILE name it. A copy rather than a read-only bind mount because IOx
// apps expect the file in their persistent dir, and the copy is rewritten at each start so
// SetConfig takes effect then.
//
// Every operation persists its intent in the store before acting and removes it in the same
// transaction as its final row change; Open() resumes or rolls back whatever a crash left,
// reattaches to running apps (their shims outlive fogkeepd) and removes orphans.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/fs.h"
#include "node/app_endpoints.h"
#include "node/app_service.h"
#include "node/monitor_port.h"
#include "node/network.h"
#include "node/runtime/cgroups.h"
#include "node/runtime/oci_runtime.h"
#include "node/runtime/shim.h"
#include "node/store.h"
#include "package/descriptor.h"
#include "package/format.h"
#include "package/reader.h"

namespace fogkeep::node {

struct AppsConfig {
  std::string data_dir;     // required; created when missing
  std::string shim_binary;  // empty: fogkeep-shim next to the running executable
  std::string runtime = "runc";
  std::string runtime_binary;  // empty: the runtime's usual path
  // Parent of every app's cgroup ("<parent>/<id>"); tests give each node its own.
  std::string cgroup_parent = "/fogkeep";
  // Apps get slots first_slot, first_slot + 1, ... (host uid base 200000 + slot * 65536).
  std::uint32_t first_slot = 0;
  std::chrono::milliseconds stop_grace{10'000};  // SIGTERM → SIGKILL
  // A new version that exits non-zero within this window after an upgrade is rolled back.
  std::chrono::milliseconds upgrade_probation{2'000};
  // The restart monitor: how often it looks, and its exponential backoff.
  bool run_monitor = true;
  std::chrono::milliseconds monitor_interval{500};
  std::chrono::milliseconds backoff_initial{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  std::chrono::milliseconds backoff_reset_after{60'000};  // uptime that resets the backoff
  std::uint64_t log_max_bytes = 1 << 20;                  // per app.log file
  package::PackageLimits limits;
  // Optional back-ends; null: SQLite state.db and the `none` network.
  std::shared_ptr<AppStore> store;
  std::shared_ptr<NetworkProvider> network;
  // Services mounted into every app (the secure-storage socket); null: none.
  std::shared_ptr<AppEndpoints> endpoints;
  // The monitor port lent to an app asking for network-monitor (node/monitor_port.h), its
  // state under monitor/; none by default.
  MonitorPortSettings network_monitor;
};

class Apps final : public AppService {
 public:
  // Opens the node's state under config.data_dir, runs recovery (pending intents, reattach,
  // orphans) and starts the restart monitor.
  static Result<std::unique_ptr<Apps>> Open(AppsConfig config);
  // Stops the monitor. Running apps keep running (their shims are detached).
  ~Apps() override;

  Result<AppInfo> Install(package::ByteSource& package, const InstallOptions& options) override;
  Result<AppInfo> Upgrade(const std::string& id, package::ByteSource& package) override;
  Result<AppInfo> Apply(const std::string& id, AppAction action) override;
  Status Uninstall(const std::string& id) override;
  Result<std::vector<AppInfo>> List() override;
  Result<AppInfo> Get(const std::string& id) override;
  Result<std::string> Logs(const std::string& id, std::size_t tail_lines) override;
  Result<AppMetrics> Metrics(const std::string& id) override;
  Result<std::string> GetConfig(const std::string& id) override;
  Status SetConfig(const std::string& id, const std::string& ini) override;
  Result<PlatformPolicy> GetPolicy() override;
  Status SetPolicy(const PlatformPolicy& policy) override;
  Result<TrustMaterial> GetTrust() override;
  Status SetTrust(const TrustMaterial& trust) override;

  // One pass of the restart monitor, now (tests, and the monitor thread itself).
  void MonitorOnce();
  const std::string& data_dir() const { return config_.data_dir; }
  // The app's directories (tests and tools inspect them).
  std::string AppDir(const std::string& id) const;
  std::string StateDir(const std::string& id) const;
  std::string DataDir(const std::string& id) const;

 private:
  // What the monitor knows about a RUNNING app.
  struct Watch {
    pid_t shim_pid = 0;  // 0: no shim (ended, or not restarted yet)
    std::chrono::steady_clock::time_point started{};
    std::chrono::milliseconds backoff{0};
    std::optional<std::chrono::steady_clock::time_point> restart_at;
  };

  explicit Apps(AppsConfig config);
  Status Init();

  // The app's row; kNotFound when there is none. Needs no lock (the store is atomic per call).
  Result<AppRecord> FindRow(const std::string& id);

  // All below run with mu_ held.
  Status Recover();
  Status RecoverIntent(const Intent& intent);
  Status Reattach();
  Status RemoveOrphans();
  Result<AppInfo> ToInfo(const AppRecord& record) const;
  // The parsed descriptor of `text` (null when it does not parse), from parsed_descriptors_.
  std::shared_ptr<const package::Descriptor> ParsedDescriptor(const std::string& text) const;
  Status CheckNotBusy(const std::string& id) const;
  Result<package::X509Verifier> MakeVerifierLocked();
  Result<TrustMaterial> ReadTrustLocked();
  Result<std::uint32_t> ReserveSlotLocked();
  // Builds the spec and writes bundle/config.json. With `attach_network` (a start) the app's
  // network is prepared; otherwise (activation, a bundle rewritten for later) only described,
  // so an app holds network resources only while its container runs.
  Result<runtime::ContainerSpec> WriteBundleFor(const AppRecord& record,
                                                bool attach_network = false);
  // Writes the config into /data and starts the shim; registers the watch.
  Status StartContainer(const AppRecord& record);
  // SIGTERM, grace, SIGKILL; waits for the shim; deletes the container and its cgroup.
  // Returns the exit record when one was written.
  std::optional<runtime::ExitRecord> StopContainer(const std::string& id);
  // Deletes the runtime's container and the cgroup (no process is signalled first).
  void CleanupContainer(const std::string& id);
  // The live shim of app `id` (its pid file names a running fogkeep-shim for this id).
  std::optional<pid_t> LiveShim(const std::string& id) const;
  // LiveShim, after waiting (up to 2 s) for a shim that was spawned but has not written its
  // pid file yet. For recovering starts that a crash interrupted.
  std::optional<pid_t> AwaitShim(const std::string& id) const;
  Status PrepareDataDir(const AppRecord& record);
  Status WriteConfigFile(const AppRecord& record);
  Result<AppInfo> DoActivate(AppRecord record);
  Result<AppInfo> DoStart(AppRecord record);
  Result<AppInfo> DoStop(AppRecord record);
  Result<AppInfo> DoDeactivate(AppRecord record);
  void MonitorLocked();
  void MonitorLoop();

  std::string BundleDir(const std::string& id) const;
  std::string StagingRoot() const;
  std::string TrustDir() const;
  std::string CgroupPath(const std::string& id) const;
  std::uint32_t UidBase(std::uint32_t slot) const;
  // Creates the endpoints' mount points in the rootfs under `staging`, owned by `owner`.
  Status MakeMountPoints(const std::string& staging, std::uint32_t owner) const;

  // Constant after Open().
  AppsConfig config_;
  fs::UniqueFd data_dir_lock_;       // held for the service's lifetime (data_dir/lock)
  std::shared_ptr<AppStore> store_;  // internally synchronised
  std::shared_ptr<NetworkProvider> network_;
  std::unique_ptr<MonitorPort> monitor_port_;  // internally synchronised
  std::unique_ptr<runtime::OciRuntime> runtime_;
  std::unique_ptr<runtime::Cgroups> cgroups_;

  // mu_ serialises every mutation of apps, their rows, directories and containers, the trust
  // directory and the members below. It is held through a whole operation, including a stop's
  // grace period and an upgrade's probation, so operations on apps queue behind each other.
  // The reports (List, Get, Logs, Metrics, GetConfig, GetPolicy) do not take it: they read the
  // store, whose every change is atomic, so they see each app before or after a step, and
  // never wait behind a slow stop.
  mutable std::mutex mu_;
  std::map<std::string, Watch> watches_;    // RUNNING apps the monitor watches
  std::set<std::uint32_t> reserved_slots_;  // slots of installs still extracting
  std::set<std::string> busy_;              // apps with an upgrade extracting (mu_ released)
  bool stopping_ = false;
  std::condition_variable wake_;

  std::thread monitor_;  // started last in Open(), joined by the destructor

  // Descriptors ToInfo parsed, by their text. A parse depends on the text alone (an upgrade
  // brings a new text), so an entry is never stale; it spares every report a YAML parse per
  // app. Cleared when it grows past a bound. Its own lock: the reports do not take mu_.
  mutable std::shared_mutex parsed_mu_;  // lookups share it
  mutable std::unordered_map<std::string, std::shared_ptr<const package::Descriptor>>
      parsed_descriptors_;  // guarded by parsed_mu_
};

}  // namespace fogkeep::node
