// What the director's SQL stores (store_sql.cc: FleetStore, oauth_store_sql.cc: OAuthStore)
// share over one SqlDb: schema versioning, the bounds on indexed text, and a few statements
// every store runs. Private to those stores, like sql_db.h.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "director/sql_db.h"

namespace fogkeep::director::sql_store {

// The rows of the shared `schema_version` table: each store versions its own tables, so either
// can be migrated without the other.
constexpr std::int64_t kFleetSchemaRow = 1;  // FleetStore's tables
constexpr std::int64_t kOAuthSchemaRow = 2;  // OAuthStore's oauth_* tables

// Brings a store's tables to version steps.size() in one SqlDb::InSchemaTransaction, so
// replicas starting at once migrate once: steps[i] is the SQL script that takes version i to
// i + 1, run for every version past the one stored in `schema_row`. In the scripts `{text}` is
// a text column that sorts byte-wise and `{bytes}` a binary one (see DialectSql); their
// statements should be idempotent all the same. kConflict, naming `tables`, when the database
// holds a newer version than this director knows.
Status MigrateSchema(SqlDb& db, std::int64_t schema_row, std::string_view tables,
                     std::span<const std::string_view> steps);

// `schema` with the dialect's column types in place of `{text}` and `{bytes}`.
std::string DialectSql(std::string_view schema, SqlDialect dialect);

// What each SQL store is built on: the database, which it may share with the other stores, and
// its transactions, whose errors say what the store was doing.
class SqlStore {
 protected:
  explicit SqlStore(std::shared_ptr<SqlDb> db) : db_(std::move(db)) {}

  // Runs `body` in one kWrite / kRead transaction, adding `what` to its error.
  Status Write(std::string_view what, const std::function<Status(SqlTx&)>& body) const;
  Status Read(std::string_view what, const std::function<Status(SqlTx&)>& body) const;
  // SqlDb::QueryOnce, adding `what` to its error.
  Status QueryOnce(std::string_view what, std::string_view sql, const SqlParams& params,
                   const RowReader& each_row) const;

 private:
  const std::shared_ptr<SqlDb> db_;
};

// head + columns + tail, for statements that name a store's column list.
std::string Sql(std::string_view head, std::string_view columns, std::string_view tail);

// The longest value of an indexed column (ids, names, tags, serials). PostgreSQL refuses
// B-tree entries above about 2.7 KB, SQLite has no such bound: a limit well below both keeps
// the back-ends alike, and no legitimate key comes near it.
constexpr std::size_t kMaxKeyBytes = 1024;

// kLimit when one of `keys` is longer than kMaxKeyBytes.
Status CheckKeys(std::string_view what, std::initializer_list<std::string_view> keys);
Status CheckKeyList(std::string_view what, const std::vector<std::string>& keys);
// kInvalidInput when `value` is empty.
Status RequireNonEmpty(std::string_view value, std::string_view what);

// Whether the query returns a row.
Result<bool> Exists(SqlTx& tx, std::string_view sql, const SqlParams& params);
// The first column of every row the query returns, as text.
Result<std::vector<std::string>> Strings(SqlTx& tx, std::string_view sql, const SqlParams& params);
// Rows of (owner, value) grouped by owner, for filling the lists of many rows at once.
Result<std::unordered_map<std::string, std::vector<std::string>>> GroupedStrings(
    SqlTx& tx, std::string_view sql, const SqlParams& params);
// Replaces the rows of a child table that hold one value per (owner, value), e.g. a device's
// tags. Duplicates in `values` collapse.
Status ReplaceChildren(SqlTx& tx, std::string_view table, std::string_view owner_column,
                       std::string_view value_column, const std::string& owner,
                       const std::vector<std::string>& values);

}  // namespace fogkeep::director::sql_store
