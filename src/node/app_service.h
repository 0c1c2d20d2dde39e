// The node's application service: what fogkeepd does to apps, behind one interface that the
// HTTP API (node/api.cc) and tests call. The implementation (node/apps.cc) persists the
// intent of every operation before acting, makes each step idempotent, and on start-up
// resumes or rolls back whatever a crash interrupted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "node/lifecycle.h"
#include "package/stream.h"

namespace fogkeep::node {

struct AppExit {
  int exit_code = -1;  // -1 when it did not exit normally
  int signal = 0;
  bool oom_killed = false;
  std::int64_t finished_at = 0;  // Unix seconds
  std::string error;             // the runtime could not start or watch it
};

struct AppInfo {
  std::string id;  // [a-z0-9][a-z0-9_.-]{0,62}; from the install request or the app name
  std::string name;
  std::string version;
  AppState state = AppState::kDeployed;
  std::string type;     // docker | lxc
  std::string signer;   // certificate subject, or "" when installed unsigned
  std::string profile;  // resource profile as resolved: "c1.tiny"
  int memory_mb = 0;
  int cpu_units = 0;
  // The declared ports: "tcp/8080" when the node does not map them (no bridge, or host
  // networking), "tcp/8080->8080" (node port -> app port) when the bridge maps them.
  std::vector<std::string> ports;
  // "none" (loopback only), "none (bridge unavailable)" (declares an interface, but the node
  // has no bridge networking), "bridge" (joins the bridge when it runs), "bridge 10.89.0.5"
  // (joined, with its address), "host" (shares the node's network stack).
  std::string network;
  std::int64_t installed_at = 0;  // Unix seconds
  std::int64_t updated_at = 0;
  int restarts = 0;  // automatic restarts since the last start
  std::optional<AppExit> last_exit;
  // Set when the descriptor asks for OAuth (access-control: oauth2): the scopes it names,
  // none for the default ones.
  std::optional<std::vector<std::string>> oauth_scopes;
};

struct AppMetrics {
  std::string id;
  AppState state = AppState::kDeployed;
  double cpu_seconds = 0;
  std::uint64_t memory_bytes = 0;
  std::uint64_t memory_limit_bytes = 0;
  std::uint64_t pids = 0;
  std::uint64_t oom_kills = 0;
  int restarts = 0;
};

// The platform policy (GET/PUT /api/v1/platform/policy). Every relaxation is off by default;
// changing one is audited and reported as a warning.
struct PlatformPolicy {
  bool require_signed = true;
  std::vector<std::string> allowed_capabilities;
  bool allow_host_network = false;
  bool allow_downgrade = false;
};

// The node's trust anchors and CRLs as PEM (GET/PUT /api/v1/platform/trust).
struct TrustMaterial {
  std::vector<std::string> anchors;  // PEM certificates
  std::vector<std::string> crls;     // PEM CRLs
};

struct InstallOptions {
  std::string app_id;  // empty: derived from the descriptor's name
};

class AppService {
 public:
  virtual ~AppService() = default;

  // Verifies and extracts the package while it streams from `package`; the new app is
  // DEPLOYED. kIntegrity for an untrusted or tampered package, kConflict for an id in use,
  // kLimit for a package over the node's limits.
  virtual Result<AppInfo> Install(package::ByteSource& package, const InstallOptions& options) = 0;
  // Replaces the app's version, keeping /data; the app returns to the state it was in. If the
  // new version fails to start, the previous one is restored and runs as before (kConflict
  // with the reason). A lower version is refused unless the policy allows downgrades.
  virtual Result<AppInfo> Upgrade(const std::string& id, package::ByteSource& package) = 0;
  // activate, start, stop, restart or deactivate, through the lifecycle table.
  virtual Result<AppInfo> Apply(const std::string& id, AppAction action) = 0;
  // Removes a DEPLOYED app and everything it owns (rootfs, /data, logs).
  virtual Status Uninstall(const std::string& id) = 0;

  virtual Result<std::vector<AppInfo>> List() = 0;
  virtual Result<AppInfo> Get(const std::string& id) = 0;
  // The last `tail_lines` lines of the app's output (all kept output when 0).
  virtual Result<std::string> Logs(const std::string& id, std::size_t tail_lines) = 0;
  virtual Result<AppMetrics> Metrics(const std::string& id) = 0;
  // package_config.ini as the app sees it at FOGKEEP_APP_CONFIG_FILE; Set takes effect at the
  // next start.
  virtual Result<std::string> GetConfig(const std::string& id) = 0;
  virtual Status SetConfig(const std::string& id, const std::string& ini) = 0;

  virtual Result<PlatformPolicy> GetPolicy() = 0;
  virtual Status SetPolicy(const PlatformPolicy& policy) = 0;
  virtual Result<TrustMaterial> GetTrust() = 0;
  // Replaces the trust anchors and CRLs; every PEM must parse.
  virtual Status SetTrust(const TrustMaterial& trust) = 0;
};

}  // namespace fogkeep::node
