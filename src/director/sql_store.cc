#include "director/sql_store.h"

#include <utility>

namespace fogkeep::director::sql_store {

Status MigrateSchema(SqlDb& db, std::int64_t schema_row, std::string_view tables,
                     std::span<const std::string_view> steps) {
  const auto latest = static_cast<std::int64_t>(steps.size());
  return db.InSchemaTransaction([&](SqlTx& tx) -> Status {
    FK_TRY(tx.ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_version(id BIGINT PRIMARY KEY, version BIGINT NOT "
        "NULL)"));
    std::int64_t version = 0;
    FK_TRY(tx.Query("SELECT version FROM schema_version WHERE id = ?", {schema_row},
                    [&](const SqlRow& row) -> Status {
                      version = row.Int(0);
                      return {};
                    }));
    if (version > latest) {
      return Fail(ErrorCode::kConflict, std::string(tables) + " have schema version " +
                                            std::to_string(version) + ", newer than the " +
                                            std::to_string(latest) +
                                            " this director knows: upgrade the director");
    }
    if (version == latest) return {};
    // Each step from the version found to the latest, in one transaction: a database of an
    // older director is migrated in place, a new one gets every step.
    for (std::int64_t step = version; step < latest; ++step) {
      FK_TRY(tx.ExecScript(DialectSql(steps[step], db.dialect())));
    }
    FK_TRY(
        tx.Exec("INSERT INTO schema_version(id, version) VALUES(?, ?) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                {schema_row, latest}));
    return {};
  });
}

std::string DialectSql(std::string_view schema, SqlDialect dialect) {
  const bool postgres = dialect == SqlDialect::kPostgres;
  const std::pair<std::string_view, std::string_view> replacements[] = {
      {"{text}", postgres ? "TEXT COLLATE \"C\"" : "TEXT"},
      {"{bytes}", postgres ? "BYTEA" : "BLOB"},
  };
  std::string out(schema);
  for (const auto& [from, to] : replacements) {
    for (auto at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size())) {
      out.replace(at, from.size(), to);
    }
  }
  return out;
}

namespace {

Status RunTx(SqlDb& db, TxKind kind, std::string_view what,
             const std::function<Status(SqlTx&)>& body) {
  Status status = db.InTransaction(kind, body);
  if (!status) return Fail(std::move(status).error().With(what));
  return {};
}

}  // namespace

Status SqlStore::Write(std::string_view what, const std::function<Status(SqlTx&)>& body) const {
  return RunTx(*db_, TxKind::kWrite, what, body);
}

Status SqlStore::Read(std::string_view what, const std::function<Status(SqlTx&)>& body) const {
  return RunTx(*db_, TxKind::kRead, what, body);
}

Status SqlStore::QueryOnce(std::string_view what, std::string_view sql, const SqlParams& params,
                           const RowReader& each_row) const {
  Status status = db_->QueryOnce(sql, params, each_row);
  if (!status) return Fail(std::move(status).error().With(what));
  return {};
}

std::string Sql(std::string_view head, std::string_view columns, std::string_view tail) {
  std::string out;
  out.reserve(head.size() + columns.size() + tail.size());
  out.append(head).append(columns).append(tail);
  return out;
}

Status CheckKeys(std::string_view what, std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    if (key.size() > kMaxKeyBytes) {
      return Fail(ErrorCode::kLimit,
                  std::string(what) + " longer than " + std::to_string(kMaxKeyBytes) + " bytes");
    }
  }
  return {};
}

Status CheckKeyList(std::string_view what, const std::vector<std::string>& keys) {
  for (const std::string& key : keys) FK_TRY(CheckKeys(what, {key}));
  return {};
}

Status RequireNonEmpty(std::string_view value, std::string_view what) {
  if (value.empty()) return Fail(ErrorCode::kInvalidInput, std::string(what) + " is empty");
  return {};
}

Result<bool> Exists(SqlTx& tx, std::string_view sql, const SqlParams& params) {
  bool found = false;
  FK_TRY(tx.Query(sql, params, [&](const SqlRow&) -> Status {
    found = true;
    return {};
  }));
  return found;
}

Result<std::vector<std::string>> Strings(SqlTx& tx, std::string_view sql, const SqlParams& params) {
  std::vector<std::string> out;
  FK_TRY(tx.Query(sql, params, [&](const SqlRow& row) -> Status {
    out.push_back(row.Text(0));
    return {};
  }));
  return out;
}

Result<std::unordered_map<std::string, std::vector<std::string>>> GroupedStrings(
    SqlTx& tx, std::string_view sql, const SqlParams& params) {
  std::unordered_map<std::string, std::vector<std::string>> out;
  FK_TRY(tx.Query(sql, params, [&](const SqlRow& row) -> Status {
    out[row.Text(0)].push_back(row.Text(1));
    return {};
  }));
  return out;
}

Status ReplaceChildren(SqlTx& tx, std::string_view table, std::string_view owner_column,
                       std::string_view value_column, const std::string& owner,
                       const std::vector<std::string>& values) {
  const std::string table_s(table), owner_s(owner_column), value_s(value_column);
  FK_TRY(tx.Exec("DELETE FROM " + table_s + " WHERE " + owner_s + " = ?", {owner}));
  const std::string insert = "INSERT INTO " + table_s + "(" + owner_s + ", " + value_s +
                             ") VALUES(?, ?) ON CONFLICT (" + owner_s + ", " + value_s +
                             ") DO NOTHING";
  for (const std::string& value : values) FK_TRY(tx.Exec(insert, {owner, value}));
  return {};
}

}  // namespace fogkeep::director::sql_store
