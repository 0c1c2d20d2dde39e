// AppStore: where fogkeepd keeps what it knows about its apps, the journal of operations in
// flight, and the platform policy. One small interface (like LevelDB's DB) so a second back-end
// can plug in beside SQLite without touching node/apps.cc.
//
// Crash-consistency contract: every method is atomic (all of it is durable, or none of it).
// The methods that take `finish_intent` also remove that intent in the same transaction, so
// "the app row changed" and "the operation is over" can never be seen apart after a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "node/app_service.h"
#include "node/lifecycle.h"

namespace fogkeep::node {

// One installed app as persisted.
struct AppRecord {
  std::string id;
  std::string name;
  std::string version;
  AppState state = AppState::kDeployed;
  std::uint32_t slot = 0;       // selects the app's host uid range
  std::string signer;           // certificate subject, "" when unsigned
  std::string package_dir;      // absolute: <data>/apps/<id>/<version>
  std::string descriptor_text;  // package.yaml as installed
  std::string config_ini;       // package_config.ini as the app sees it
  std::int64_t installed_at = 0;
  std::int64_t updated_at = 0;
  int restarts = 0;            // automatic restarts since the last user start
  std::string last_exit_json;  // exit.json of the last run, "" when none
};

// An operation whose intent was persisted before it acted. `payload` is a flat JSON object
// whose members depend on `op` (see node/apps.cc).
struct Intent {
  std::int64_t seq = 0;
  std::string op;      // install | activate | start | stop | deactivate | uninstall | upgrade
  std::string app_id;  // may be "" for an install whose id is not known yet
  std::string phase;
  std::string payload;
};

class AppStore {
 public:
  virtual ~AppStore() = default;

  // Every app, ordered by id. ListApps and FindApp see every write that has returned, and do
  // not wait for one in progress: the API's list runs on its I/O thread.
  virtual Result<std::vector<AppRecord>> ListApps() = 0;
  // std::nullopt when there is no such app (not an error).
  virtual Result<std::optional<AppRecord>> FindApp(const std::string& id) = 0;
  // Adds a new app; kConflict when the id (or the slot) is taken.
  virtual Status InsertApp(const AppRecord& record, std::optional<std::int64_t> finish_intent) = 0;
  // Replaces an existing app's row; kNotFound when there is none.
  virtual Status UpdateApp(const AppRecord& record, std::optional<std::int64_t> finish_intent) = 0;
  // Removes an app's row; removing a missing app succeeds.
  virtual Status DeleteApp(const std::string& id, std::optional<std::int64_t> finish_intent) = 0;

  // Persists a new intent and returns its sequence number.
  virtual Result<std::int64_t> BeginIntent(const Intent& intent) = 0;
  // Rewrites the app id, phase and payload of a pending intent.
  virtual Status UpdateIntent(const Intent& intent) = 0;
  // Removes an intent; finishing a missing one succeeds.
  virtual Status FinishIntent(std::int64_t seq) = 0;
  // Intents not finished, oldest first.
  virtual Result<std::vector<Intent>> PendingIntents() = 0;

  // The defaults of PlatformPolicy until one has been set.
  virtual Result<PlatformPolicy> GetPolicy() = 0;
  virtual Status SetPolicy(const PlatformPolicy& policy) = 0;
};

// The SQLite back-end: one database file (created when missing) in WAL mode with
// synchronous=FULL, so a committed change survives SIGKILL and power loss. ":memory:" works.
// The store must be the file's only writer (fogkeepd holds its data directory's lock): reads
// come from a snapshot of the rows that its own writes keep current.
Result<std::unique_ptr<AppStore>> OpenSqliteAppStore(const std::string& path);

}  // namespace fogkeep::node
