// SqlDb on embedded SQLite through core's sql::Database: one connection, one transaction at a
// time.
#include <mutex>
#include <utility>

#include "core/sqlite.h"
#include "director/sql_db.h"

namespace fogkeep::director {
namespace {

std::vector<sql::Value> ToSqliteValues(const SqlParams& params) {
  std::vector<sql::Value> values;
  values.reserve(params.size());
  for (const SqlValue& param : params) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, SqlBlob>) {
            values.emplace_back(sql::Blob{std::string(v.bytes)});
          } else {
            values.emplace_back(v);
          }
        },
        param);
  }
  return values;
}

class SqliteRow final : public SqlRow {
 public:
  explicit SqliteRow(const sql::Statement& statement) : statement_(statement) {}
  bool IsNull(int column) const override { return statement_.IsNull(column); }
  // Bytes() reads TEXT, BLOB (NUL bytes included) and INTEGER (as decimal) alike.
  std::string Text(int column) const override { return statement_.Bytes(column); }
  std::int64_t Int(int column) const override { return statement_.Int(column); }

 private:
  const sql::Statement& statement_;
};

class SqliteTx final : public SqlTx {
 public:
  explicit SqliteTx(sql::Database& db) : db_(db) {}

  Result<std::int64_t> Exec(std::string_view sql, const SqlParams& params) override {
    FK_TRY(CheckTextParams(params));
    return FK_TRY(db_.Run(sql, ToSqliteValues(params)));
  }

  Status Query(std::string_view sql, const SqlParams& params, const RowReader& each_row) override {
    FK_TRY(CheckTextParams(params));
    auto statement = FK_TRY(db_.Prepare(sql));
    FK_TRY(statement.Bind(ToSqliteValues(params)));
    SqliteRow row(statement);
    while (FK_TRY(statement.Step())) FK_TRY(each_row(row));
    return {};
  }

  Status ExecScript(std::string_view sql) override { return db_.Exec(sql); }

 private:
  sql::Database& db_;
};

class SqliteDb final : public SqlDb {
 public:
  explicit SqliteDb(sql::Database db) : db_(std::move(db)) {}

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  Status InTransaction(TxKind kind, const std::function<Status(SqlTx&)>& body) override {
    std::lock_guard lock(mu_);
    // A deferred BEGIN lets readers in other processes run beside a writer (WAL); a writer
    // takes the file's write lock up front, waiting for it under the busy timeout, so it never
    // fails half-way on a lock another process holds.
    return RunLocked(kind == TxKind::kRead ? "BEGIN" : "BEGIN IMMEDIATE", body);
  }

  Status QueryOnce(std::string_view sql, const SqlParams& params,
                   const RowReader& each_row) override {
    std::lock_guard lock(mu_);
    return SqliteTx(db_).Query(sql, params, each_row);
  }

  Status InSchemaTransaction(const std::function<Status(SqlTx&)>& body) override {
    std::lock_guard lock(mu_);
    return RunLocked("BEGIN IMMEDIATE", body);
  }

 private:
  Status RunLocked(std::string_view begin, const std::function<Status(SqlTx&)>& body) {
    FK_TRY(db_.Run(begin));
    SqliteTx tx(db_);
    Status result = body(tx);
    if (result) result = db_.Commit();
    if (!result) (void)db_.Rollback();
    return result;
  }

  std::mutex mu_;
  sql::Database db_;  // guarded by mu_: a connection serves one thread at a time
};

}  // namespace

Result<std::unique_ptr<SqlDb>> OpenSqliteDb(const std::string& path) {
  // Every node request runs a few statements: keep them prepared (more than the store has).
  auto db = FK_TRY(sql::Database::Open(path, /*kept_statements=*/256));
  return std::unique_ptr<SqlDb>(std::make_unique<SqliteDb>(std::move(db)));
}

}  // namespace fogkeep::director
