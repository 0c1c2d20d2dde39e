#include "node/store.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <mutex>
#include <utility>

#include "core/sqlite.h"

namespace fogkeep::node {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS apps(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  state TEXT NOT NULL,
  slot INTEGER NOT NULL UNIQUE,
  signer TEXT NOT NULL,
  package_dir TEXT NOT NULL,
  descriptor TEXT NOT NULL,
  config TEXT NOT NULL,
  installed_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  restarts INTEGER NOT NULL DEFAULT 0,
  last_exit TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS intents(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  op TEXT NOT NULL,
  app_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
)sql";

constexpr std::string_view kAppColumns =
    "id, name, version, state, slot, signer, package_dir, descriptor, config, installed_at, "
    "updated_at, restarts, last_exit";

std::vector<sql::Value> AppValues(const AppRecord& r) {
  return {r.id,
          r.name,
          r.version,
          std::string(AppStateName(r.state)),
          static_cast<std::int64_t>(r.slot),
          r.signer,
          r.package_dir,
          r.descriptor_text,
          r.config_ini,
          r.installed_at,
          r.updated_at,
          static_cast<std::int64_t>(r.restarts),
          r.last_exit_json};
}

Result<AppRecord> ReadApp(const sql::Statement& st) {
  AppRecord r;
  r.id = st.Text(0);
  r.name = st.Text(1);
  r.version = st.Text(2);
  auto state = ParseAppState(st.Text(3));
  if (!state) return Fail(ErrorCode::kInternal, "app " + r.id + ": unknown state " + st.Text(3));
  r.state = *state;
  r.slot = static_cast<std::uint32_t>(st.Int(4));
  r.signer = st.Text(5);
  r.package_dir = st.Text(6);
  r.descriptor_text = st.Text(7);
  r.config_ini = st.Text(8);
  r.installed_at = st.Int(9);
  r.updated_at = st.Int(10);
  r.restarts = static_cast<int>(st.Int(11));
  r.last_exit_json = st.Text(12);
  return r;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

class SqliteAppStore final : public AppStore {
 public:
  explicit SqliteAppStore(sql::Database db) : db_(std::move(db)) {}

  Result<std::vector<AppRecord>> ListApps() override {
    return *FK_TRY(Apps());  // copied outside the lock
  }

  Result<std::optional<AppRecord>> FindApp(const std::string& id) override {
    const std::shared_ptr<const std::vector<AppRecord>> apps = FK_TRY(Apps());
    auto it = std::ranges::find(*apps, id, &AppRecord::id);
    if (it == apps->end()) return std::optional<AppRecord>();
    return std::optional<AppRecord>(*it);
  }

  Status InsertApp(const AppRecord& record, std::optional<std::int64_t> finish_intent) override {
    std::lock_guard lock(mu_);
    RepublishOnReturn republish(*this);
    auto tx = FK_TRY(sql::Transaction::Begin(db_));
    auto existing = FK_TRY(db_.Prepare("SELECT id FROM apps WHERE id = ? OR slot = ?"));
    FK_TRY(existing.Bind({record.id, static_cast<std::int64_t>(record.slot)}));
    if (FK_TRY(existing.Step())) {
      return Fail(ErrorCode::kConflict, "app " + record.id + " is already installed");
    }
    FK_TRY(db_.Run("INSERT INTO apps(" + std::string(kAppColumns) +
                       ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   AppValues(record)));
    FK_TRY(FinishLocked(finish_intent));
    return tx.Commit();
  }

  Status UpdateApp(const AppRecord& record, std::optional<std::int64_t> finish_intent) override {
    std::lock_guard lock(mu_);
    RepublishOnReturn republish(*this);
    auto tx = FK_TRY(sql::Transaction::Begin(db_));
    auto values = AppValues(record);
    values.push_back(record.id);
    int changed = FK_TRY(
        db_.Run("UPDATE apps SET id = ?, name = ?, version = ?, state = ?, slot = ?, signer = ?, "
                "package_dir = ?, descriptor = ?, config = ?, installed_at = ?, updated_at = ?, "
                "restarts = ?, last_exit = ? WHERE id = ?",
                values));
    if (changed == 0) return Fail(ErrorCode::kNotFound, "no app " + record.id);
    FK_TRY(FinishLocked(finish_intent));
    return tx.Commit();
  }

  Status DeleteApp(const std::string& id, std::optional<std::int64_t> finish_intent) override {
    std::lock_guard lock(mu_);
    RepublishOnReturn republish(*this);
    auto tx = FK_TRY(sql::Transaction::Begin(db_));
    FK_TRY(db_.Run("DELETE FROM apps WHERE id = ?", {id}));
    FK_TRY(FinishLocked(finish_intent));
    return tx.Commit();
  }

  Result<std::int64_t> BeginIntent(const Intent& intent) override {
    std::lock_guard lock(mu_);
    FK_TRY(
        db_.Run("INSERT INTO intents(op, app_id, phase, payload, created_at) VALUES(?, ?, ?, ?, ?)",
                {intent.op, intent.app_id, intent.phase, intent.payload,
                 static_cast<std::int64_t>(::time(nullptr))}));
    return db_.LastInsertId();
  }

  Status UpdateIntent(const Intent& intent) override {
    std::lock_guard lock(mu_);
    int changed =
        FK_TRY(db_.Run("UPDATE intents SET app_id = ?, phase = ?, payload = ? WHERE seq = ?",
                       {intent.app_id, intent.phase, intent.payload, intent.seq}));
    if (changed == 0) return Fail(ErrorCode::kNotFound, "no intent " + std::to_string(intent.seq));
    return {};
  }

  Status FinishIntent(std::int64_t seq) override {
    std::lock_guard lock(mu_);
    return FinishLocked(seq);
  }

  Result<std::vector<Intent>> PendingIntents() override {
    std::lock_guard lock(mu_);
    auto st =
        FK_TRY(db_.Prepare("SELECT seq, op, app_id, phase, payload FROM intents ORDER BY seq"));
    std::vector<Intent> out;
    while (FK_TRY(st.Step())) {
      out.push_back(Intent{st.Int(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4)});
    }
    return out;
  }

  Result<PlatformPolicy> GetPolicy() override {
    std::lock_guard lock(mu_);
    PlatformPolicy policy;
    auto st = FK_TRY(db_.Prepare("SELECT key, value FROM settings WHERE key LIKE 'policy.%'"));
    while (FK_TRY(st.Step())) {
      std::string key = st.Text(0);
      std::string value = st.Text(1);
      if (key == "policy.require_signed") policy.require_signed = value == "1";
      if (key == "policy.allow_host_network") policy.allow_host_network = value == "1";
      if (key == "policy.allow_downgrade") policy.allow_downgrade = value == "1";
      if (key == "policy.allowed_capabilities") policy.allowed_capabilities = SplitList(value);
    }
    return policy;
  }

  Status SetPolicy(const PlatformPolicy& policy) override {
    std::lock_guard lock(mu_);
    auto tx = FK_TRY(sql::Transaction::Begin(db_));
    const std::pair<const char*, std::string> values[] = {
        {"policy.require_signed", policy.require_signed ? "1" : "0"},
        {"policy.allow_host_network", policy.allow_host_network ? "1" : "0"},
        {"policy.allow_downgrade", policy.allow_downgrade ? "1" : "0"},
        {"policy.allowed_capabilities", JoinList(policy.allowed_capabilities)},
    };
    for (const auto& [key, value] : values) {
      FK_TRY(db_.Run("INSERT OR REPLACE INTO settings(key, value) VALUES(?, ?)",
                     {std::string(key), value}));
    }
    return tx.Commit();
  }

  Status Init() {
    std::lock_guard lock(mu_);
    return db_.Exec(kSchema);
  }

 private:
  Status FinishLocked(std::optional<std::int64_t> seq) {
    if (!seq) return {};
    FK_TRY(db_.Run("DELETE FROM intents WHERE seq = ?", {*seq}));
    return {};
  }

  // Every app row, ordered by id, as last committed. Readers take the published snapshot
  // without mu_, so an API read never waits for a write's commit (and its fsync) and needs
  // neither a query nor a lock of the database file. This object is the only writer of the
  // rows: fogkeepd opens one store per data directory, whose lock it holds (daemon.cc).
  Result<std::shared_ptr<const std::vector<AppRecord>>> Apps() {
    if (auto published = apps_.load()) return published;
    std::lock_guard lock(mu_);  // none published yet, or the last reload failed
    return ReloadLocked();
  }

  // Reads the rows and publishes them. On failure it publishes none, so that the next reader
  // tries again rather than see rows a write may have changed.
  Result<std::shared_ptr<const std::vector<AppRecord>>> ReloadLocked() {
    auto rows = ReadAppsLocked();
    apps_.store(rows ? *rows : nullptr);
    return rows;
  }

  Result<std::shared_ptr<const std::vector<AppRecord>>> ReadAppsLocked() {
    auto st = FK_TRY(db_.Prepare("SELECT " + std::string(kAppColumns) + " FROM apps ORDER BY id"));
    auto rows = std::make_shared<std::vector<AppRecord>>();
    while (FK_TRY(st.Step())) rows->push_back(FK_TRY(ReadApp(st)));
    return rows;
  }

  // Held by each write of the rows (under mu_): when it returns, committed or not, the
  // snapshot is read again, so readers see the write as soon as its caller does.
  class RepublishOnReturn {
   public:
    explicit RepublishOnReturn(SqliteAppStore& store) : store_(store) {}
    ~RepublishOnReturn() { (void)store_.ReloadLocked(); }
    RepublishOnReturn(const RepublishOnReturn&) = delete;
    RepublishOnReturn& operator=(const RepublishOnReturn&) = delete;

   private:
    SqliteAppStore& store_;
  };

  // One connection; SQLite connections must not be used from two threads at once.
  std::mutex mu_;
  sql::Database db_;  // guarded by mu_
  // The rows of `apps` (Apps()); stored under mu_, loaded without it. A snapshot is never
  // changed once published: a write publishes a new one.
  std::atomic<std::shared_ptr<const std::vector<AppRecord>>> apps_;
};

}  // namespace

Result<std::unique_ptr<AppStore>> OpenSqliteAppStore(const std::string& path) {
  // The app queries answer every API read, and parsing their SQL cost more than running it.
  auto db = FK_TRY_CTX(sql::Database::Open(path, /*kept_statements=*/16), "open " + path);
  auto store = std::make_unique<SqliteAppStore>(std::move(db));
  FK_TRY_CTX(store->Init(), "schema of " + path);
  return std::unique_ptr<AppStore>(std::move(store));
}

}  // namespace fogkeep::node
