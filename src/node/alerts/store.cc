#include "node/alerts/store.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "core/sqlite.h"

namespace fogkeep::node::alerts {
namespace {

// AUTOINCREMENT: a seq is never handed out twice, even once every alert holding it is gone.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS alerts(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at INTEGER NOT NULL,
  source TEXT NOT NULL,
  detector TEXT NOT NULL,
  severity INTEGER NOT NULL,
  alert TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_by_source ON alerts(source, seq);
CREATE INDEX IF NOT EXISTS alerts_by_detector ON alerts(detector, seq);
CREATE TABLE IF NOT EXISTS alert_marks(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alert_pruned(
  source TEXT PRIMARY KEY,
  count INTEGER NOT NULL);
)sql";

constexpr std::string_view kColumns = "seq, received_at, source, detector, severity, alert";

StoredAlert ReadAlert(const sql::Statement& st) {
  return StoredAlert{.seq = st.Int(0),
                     .received_at = st.Int(1),
                     .source = st.Text(2),
                     .detector = st.Text(3),
                     .severity = static_cast<int>(st.Int(4)),
                     .alert_json = st.Text(5)};
}

class SqliteAlertStore final : public AlertStore {
 public:
  SqliteAlertStore(sql::Database db, StoreLimits limits) : db_(std::move(db)), limits_(limits) {}

  Status Init() {
    std::lock_guard lock(mu_);
    return db_.Exec(kSchema);
  }

  Result<std::int64_t> Append(std::string_view source, const std::vector<api::Alert>& alerts,
                              std::int64_t now) override {
    FK_TRY(api::CheckAlertSource(source));
    std::lock_guard lock(mu_);
    auto tx = FK_TRY(sql::Transaction::Begin(db_));
    auto insert =
        FK_TRY(db_.Prepare("INSERT INTO alerts(received_at, source, detector, "
                           "severity, alert) VALUES(?, ?, ?, ?, ?)"));
    for (const api::Alert& alert : alerts) {
      FK_TRY(insert.Bind({now, std::string(source), alert.detector,
                          static_cast<std::int64_t>(alert.severity), alert.json}));
      FK_TRY(insert.Step());
      FK_TRY(insert.Reset());
    }
    const std::int64_t last = FK_TRY(LastSeqLocked());
    if (!alerts.empty()) FK_TRY(PruneLocked(std::string(source)));
    FK_TRY(tx.Commit());
    return last;
  }

  Result<std::vector<StoredAlert>> List(const AlertQuery& query) override {
    std::string where = " WHERE 1 = 1";
    std::vector<sql::Value> params;
    if (query.since) {
      where += " AND seq > ?";
      params.emplace_back(*query.since);
    }
    if (query.detector) {
      where += " AND detector = ?";
      params.emplace_back(*query.detector);
    }
    if (query.source) {
      where += " AND source = ?";
      params.emplace_back(*query.source);
    }
    if (query.min_severity) {
      where += " AND severity <= ?";
      params.emplace_back(static_cast<std::int64_t>(*query.min_severity));
    }
    params.emplace_back(static_cast<std::int64_t>(query.limit));
    // Without a cursor the newest are wanted: read them newest first, then turn them around.
    const bool newest = !query.since;
    std::lock_guard lock(mu_);
    auto st = FK_TRY(db_.Prepare("SELECT " + std::string(kColumns) + " FROM alerts" + where +
                                 (newest ? " ORDER BY seq DESC" : " ORDER BY seq") + " LIMIT ?"));
    FK_TRY(st.Bind(params));
    std::vector<StoredAlert> out;
    while (FK_TRY(st.Step())) out.push_back(ReadAlert(st));
    if (newest) std::ranges::reverse(out);
    return out;
  }

  Result<std::int64_t> LastSeq() override {
    std::lock_guard lock(mu_);
    return LastSeqLocked();
  }

  Result<std::vector<StoredAlert>> Unforwarded(std::size_t max_count,
                                               std::size_t max_bytes) override {
    std::lock_guard lock(mu_);
    const std::int64_t forwarded = FK_TRY(MarkLocked("forwarded"));
    auto st = FK_TRY(db_.Prepare("SELECT " + std::string(kColumns) +
                                 " FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?"));
    FK_TRY(st.Bind({forwarded, static_cast<std::int64_t>(max_count)}));
    std::vector<StoredAlert> out;
    std::size_t bytes = 0;
    while (FK_TRY(st.Step())) {
      StoredAlert alert = ReadAlert(st);
      bytes += alert.alert_json.size();
      if (!out.empty() && bytes > max_bytes) break;
      out.push_back(std::move(alert));
    }
    return out;
  }

  Result<std::int64_t> Forwarded() override {
    std::lock_guard lock(mu_);
    return MarkLocked("forwarded");
  }

  Status MarkForwarded(std::int64_t seq) override {
    std::lock_guard lock(mu_);
    FK_TRY(db_.Run(
        "INSERT INTO alert_marks(name, value) VALUES('forwarded', ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value WHERE excluded.value > value",
        {seq}));
    return {};
  }

  Result<std::map<std::string, std::int64_t>> Pruned() override {
    std::lock_guard lock(mu_);
    auto st = FK_TRY(db_.Prepare("SELECT source, count FROM alert_pruned ORDER BY source"));
    std::map<std::string, std::int64_t> out;
    while (FK_TRY(st.Step())) out[st.Text(0)] = st.Int(1);
    return out;
  }

 private:
  Result<std::int64_t> LastSeqLocked() {
    auto st = FK_TRY(db_.Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'alerts'"));
    if (!FK_TRY(st.Step())) return std::int64_t{0};
    return st.Int(0);
  }

  Result<std::int64_t> MarkLocked(std::string_view name) {
    auto st = FK_TRY(db_.Prepare("SELECT value FROM alert_marks WHERE name = ?"));
    FK_TRY(st.Bind({std::string(name)}));
    if (!FK_TRY(st.Step())) return std::int64_t{0};
    return st.Int(0);
  }

  // The bounds, inside the caller's transaction: first `source`'s own, then the store's.
  Status PruneLocked(const std::string& source) {
    const auto per_source = static_cast<std::int64_t>(limits_.max_per_source);
    const int own = FK_TRY(db_.Run(
        "DELETE FROM alerts WHERE source = ? AND seq <= (SELECT seq FROM alerts WHERE source = ? "
        "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
        {source, source, per_source}));
    if (own > 0) FK_TRY(CountPrunedLocked(source, own));

    auto cut = FK_TRY(db_.Prepare("SELECT seq FROM alerts ORDER BY seq DESC LIMIT 1 OFFSET ?"));
    FK_TRY(cut.Bind({static_cast<std::int64_t>(limits_.max_alerts)}));
    if (!FK_TRY(cut.Step())) return {};
    const std::int64_t oldest_kept_after = cut.Int(0);
    FK_TRY(cut.Reset());
    auto counts =
        FK_TRY(db_.Prepare("SELECT source, COUNT(*) FROM alerts WHERE seq <= ? GROUP BY source"));
    FK_TRY(counts.Bind({oldest_kept_after}));
    std::vector<std::pair<std::string, std::int64_t>> removed;
    while (FK_TRY(counts.Step())) removed.emplace_back(counts.Text(0), counts.Int(1));
    FK_TRY(counts.Reset());
    FK_TRY(db_.Run("DELETE FROM alerts WHERE seq <= ?", {oldest_kept_after}));
    for (const auto& [from, count] : removed) FK_TRY(CountPrunedLocked(from, count));
    return {};
  }

  Status CountPrunedLocked(const std::string& source, std::int64_t count) {
    FK_TRY(
        db_.Run("INSERT INTO alert_pruned(source, count) VALUES(?, ?) "
                "ON CONFLICT(source) DO UPDATE SET count = count + excluded.count",
                {source, count}));
    return {};
  }

  // One connection; SQLite connections must not be used from two threads at once.
  std::mutex mu_;
  sql::Database db_;  // guarded by mu_
  const StoreLimits limits_;
};

}  // namespace

Result<std::unique_ptr<AlertStore>> OpenSqliteAlertStore(const std::string& path,
                                                         StoreLimits limits) {
  if (limits.max_alerts == 0 || limits.max_per_source == 0) {
    return Fail(ErrorCode::kInvalidInput, "alert store bounds must be at least 1");
  }
  auto db = FK_TRY_CTX(sql::Database::Open(path), "open " + path);
  auto store = std::make_unique<SqliteAlertStore>(std::move(db), limits);
  FK_TRY_CTX(store->Init(), "schema of " + path);
  return std::unique_ptr<AlertStore>(std::move(store));
}

}  // namespace fogkeep::node::alerts
