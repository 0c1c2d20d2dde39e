// A thin RAII layer over SQLite 3 for fogkeep's embedded stores (node state, the director's
// default store). WAL mode and synchronous=FULL by default: a committed transaction survives
// SIGKILL and power loss, which the crash-consistency rules rely on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fogkeep::sql {

// Binary data bound as a BLOB (a std::string binds as TEXT). Ciphertexts and keys are blobs:
// SQLite never treats their bytes as characters.
struct Blob {
  std::string bytes;
};

using Value = std::variant<std::monostate, std::int64_t, double, std::string, Blob>;

// A Database's idle prepared statements, by SQL text (sqlite.cc).
class StatementCache;

class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  // Binds parameters 1..n in order.
  Status Bind(const std::vector<Value>& params);
  // Advances; true when a row is available.
  Result<bool> Step();
  std::int64_t Int(int column) const;
  std::string Text(int column) const;
  // The column's bytes as stored (for BLOB columns; TEXT reads the same).
  std::string Bytes(int column) const;
  bool IsNull(int column) const;
  Status Reset();

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, sqlite3* db, StatementCache* cache)
      : stmt_(stmt), db_(db), cache_(cache) {}
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
  StatementCache* cache_ = nullptr;  // where it goes back, reset, when it is destroyed
};

// One connection. It and its statements must not be used from two threads at once: it is
// opened without SQLite's own per-call locking, which would only repeat the lock every user
// holds anyway (the node's store serialises all its calls).
class Database {
 public:
  // Opens (creating) the database file with WAL and synchronous=FULL, a busy timeout, and
  // foreign keys on. ":memory:" works for tests. Up to `kept_statements` prepared statements
  // are kept for reuse (Prepare): worth their few KiB each for a store that answers many
  // requests a second (the director's), not for the small stores a node opens per app.
  static Result<Database> Open(const std::string& path, std::size_t kept_statements = 0);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // Runs one or more statements without results (schema, pragmas).
  Status Exec(std::string_view sql);
  // One statement. With kept statements (Open), prepared ones are kept by their SQL text for
  // the next Prepare of the same text (parsing and planning cost more than most of fogkeep's
  // queries): a Statement goes back, reset and unbound, when it is destroyed. Statements
  // must not outlive their Database.
  Result<Statement> Prepare(std::string_view sql);
  // Prepare + Bind + Step to completion; returns the number of changed rows.
  Result<int> Run(std::string_view sql, const std::vector<Value>& params = {});
  std::int64_t LastInsertId() const;

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK.
  Status Begin();
  Status Commit();
  Status Rollback();

 private:
  Database(sqlite3* db, std::size_t kept_statements);
  Error LastError(std::string_view what) const;
  void Close();
  // A transaction control statement, through the kept statements like any other.
  Status RunControl(std::string_view sql);
  sqlite3* db_ = nullptr;
  std::unique_ptr<StatementCache> cache_;
};

// Rolls back on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Database& db) : db_(&db) {}
  Database* db_;
};

}  // namespace fogkeep::sql
