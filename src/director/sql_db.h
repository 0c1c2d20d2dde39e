// SqlDb: the little the director's stores need from a SQL database, so that one
// implementation of each (store_sql.cc, oauth_store_sql.cc) runs on embedded SQLite and on
// PostgreSQL. Private to the stores: only they, their back-ends (sql_db_*.cc) and the code that
// opens one database and hands it to all of them (OpenFleetStore, OpenOAuthStore) include it.
//
// The store writes one SQL text per statement for both back-ends: parameters are positional
// `?` (the PostgreSQL back-end rewrites them to $1..$n), and only SQL that both dialects run
// the same way is used (ON CONFLICT ... DO UPDATE/NOTHING, RETURNING, EXISTS). Schema DDL is
// the exception: it names per-dialect column types, see SqlDialect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"

namespace fogkeep::director {

enum class SqlDialect { kSqlite, kPostgres };

// Binary data bound as a BLOB / BYTEA, passed through byte for byte (NUL and 0xff included).
// The bytes are borrowed: they must outlive the call that binds them.
struct SqlBlob {
  std::string_view bytes;
};

// A statement parameter: NULL, a 64-bit integer, text, or bytes. Text must be valid UTF-8
// without NUL bytes (PostgreSQL stores no NUL in text, and both back-ends refuse the same
// input): a text parameter that is not is refused with kInvalidInput before anything runs.
using SqlValue = std::variant<std::monostate, std::int64_t, std::string, SqlBlob>;
using SqlParams = std::vector<SqlValue>;

// One result row, valid only inside the RowReader it is passed to. Columns are numbered from 0
// in the order of the select (or RETURNING) list.
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  virtual bool IsNull(int column) const = 0;
  // Text columns as stored, blob columns as their raw bytes, integers in decimal.
  virtual std::string Text(int column) const = 0;
  // Integer columns. A column that is not an integer is a broken invariant of the schema.
  virtual std::int64_t Int(int column) const = 0;
};
using RowReader = std::function<Status(const SqlRow&)>;

// The statements of one open transaction. Valid only inside the body it is passed to.
class SqlTx {
 public:
  virtual ~SqlTx() = default;
  // Runs one statement and returns the number of rows it inserted, updated or deleted (an
  // upsert whose DO UPDATE ... WHERE did not hold counts 0).
  virtual Result<std::int64_t> Exec(std::string_view sql, const SqlParams& params = {}) = 0;
  // Runs one statement and passes each result row to `each_row`, in order; the first error
  // `each_row` returns ends the query and is returned.
  virtual Status Query(std::string_view sql, const SqlParams& params,
                       const RowReader& each_row) = 0;
  // Runs several statements without parameters or results (schema DDL).
  virtual Status ExecScript(std::string_view sql) = 0;
};

// What a transaction does, so each back-end can choose how to isolate it.
enum class TxKind {
  // Reads only; sees one consistent snapshot.
  kRead,
  // Reads and writes; serialisable against every other kWrite transaction of every process
  // sharing the database.
  kWrite,
};

// A database handle (SQLite: one connection; PostgreSQL: a pool). Safe to use from many
// threads at once.
class SqlDb {
 public:
  virtual ~SqlDb() = default;

  virtual SqlDialect dialect() const = 0;

  // Runs `body` inside one transaction: commits when it returns OK, rolls back when it fails
  // and returns its error. A back-end may run `body` more than once (PostgreSQL retries a
  // serialisation failure a bounded number of times), so `body` must assign its results, never
  // accumulate them across calls, and must not act outside the database. `body` must not call
  // back into this SqlDb (a back-end may hold its only connection, or a lock, meanwhile).
  virtual Status InTransaction(TxKind kind, const std::function<Status(SqlTx&)>& body) = 0;

  // Runs one read-only statement (a SELECT) outside any transaction, passing each row to
  // `each_row` as SqlTx::Query does: one statement sees one consistent snapshot by itself. For
  // the reads every request makes: on PostgreSQL this is one round trip where a transaction
  // takes three. A back-end may run the statement again when it found its connection lost.
  virtual Status QueryOnce(std::string_view sql, const SqlParams& params,
                           const RowReader& each_row) = 0;

  // Runs `body` in a transaction that no other process sharing the database runs at the same
  // time (schema creation and migration). Runs `body` once.
  virtual Status InSchemaTransaction(const std::function<Status(SqlTx&)>& body) = 0;
};

// Opens (creating) the SQLite database at `path` (":memory:" for tests) in WAL mode with
// synchronous=FULL. Transactions run one at a time under a mutex; kWrite ones BEGIN IMMEDIATE,
// so writers in other processes queue on the file lock instead of failing mid-transaction.
Result<std::unique_ptr<SqlDb>> OpenSqliteDb(const std::string& path);

// Connects to PostgreSQL with the libpq connection string `conninfo` and keeps up to
// `connections` connections. kWrite transactions run at SERIALIZABLE isolation and are retried
// on serialisation failures; a lost connection is replaced on the next call (the call that
// found it lost fails with kUnavailable unless nothing had been sent on it yet). Fails with
// kUnavailable when the first connection cannot be made.
Result<std::unique_ptr<SqlDb>> OpenPostgresDb(const std::string& conninfo, int connections);

// kInvalidInput unless every text parameter is valid UTF-8 without NUL bytes. Both back-ends
// call it before running a statement.
Status CheckTextParams(const SqlParams& params);

}  // namespace fogkeep::director
