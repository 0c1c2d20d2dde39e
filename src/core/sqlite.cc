#include "core/sqlite.h"

#include <sqlite3.h>

#include <functional>
#include <map>
#include <string>
#include <utility>

namespace fogkeep::sql {

class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity) : capacity_(capacity) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() {
    for (const auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);
  }

  // An idle statement prepared from exactly `sql`, or null.
  sqlite3_stmt* Take(std::string_view sql) {
    auto it = idle_.find(sql);
    if (it == idle_.end()) return nullptr;
    sqlite3_stmt* stmt = it->second;
    idle_.erase(it);
    return stmt;
  }

  // Keeps `stmt`, reset and unbound, unless one of the same text is already idle (two were in
  // use at once) or the cache is full; those are finalized.
  void Return(sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (idle_.size() >= capacity_ || !idle_.emplace(sqlite3_sql(stmt), stmt).second) {
      sqlite3_finalize(stmt);
    }
  }

 private:
  const std::size_t capacity_;
  std::map<std::string, sqlite3_stmt*, std::less<>> idle_;
};

namespace {

void Release(sqlite3_stmt* stmt, StatementCache* cache) {
  if (stmt == nullptr) return;
  if (cache != nullptr) {
    cache->Return(stmt);
  } else {
    sqlite3_finalize(stmt);
  }
}

}  // namespace

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_), cache_(other.cache_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release(stmt_, cache_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
    cache_ = other.cache_;
  }
  return *this;
}

Statement::~Statement() { Release(stmt_, cache_); }

Status Statement::Bind(const std::vector<Value>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    int rc = std::visit(
        [&](const auto& v) -> int {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            return sqlite3_bind_null(stmt_, index);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            return sqlite3_bind_int64(stmt_, index, v);
          } else if constexpr (std::is_same_v<T, double>) {
            return sqlite3_bind_double(stmt_, index, v);
          } else if constexpr (std::is_same_v<T, Blob>) {
            // A null pointer would bind NULL; an empty blob is a zero-length value.
            static const char kEmpty = 0;
            return sqlite3_bind_blob64(stmt_, index, v.bytes.empty() ? &kEmpty : v.bytes.data(),
                                       v.bytes.size(), SQLITE_TRANSIENT);
          } else {
            return sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()),
                                     SQLITE_TRANSIENT);
          }
        },
        params[i]);
    if (rc != SQLITE_OK) {
      return Fail(ErrorCode::kInternal, std::string("sqlite bind: ") + sqlite3_errmsg(db_));
    }
  }
  return {};
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ErrorCode code = rc == SQLITE_CONSTRAINT                         ? ErrorCode::kConflict
                   : (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? ErrorCode::kIntegrity
                                                                   : ErrorCode::kUnavailable;
  return Fail(code, std::string("sqlite: ") + sqlite3_errmsg(db_));
}

std::int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
}

std::string Statement::Bytes(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return data == nullptr
             ? std::string()
             : std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Status Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return {};
}

Result<Database> Database::Open(const std::string& path, std::size_t kept_statements) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw, kept_statements);
  if (rc != SQLITE_OK) {
    return Fail(ErrorCode::kUnavailable,
                "open database " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 0);
  FK_TRY_CTX(db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"),
             "open database " + path);
  return db;
}

Database::Database(sqlite3* db, std::size_t kept_statements)
    : db_(db), cache_(std::make_unique<StatementCache>(kept_statements)) {}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), cache_(std::move(other.cache_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    Close();
    db_ = std::exchange(other.db_, nullptr);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

Database::~Database() { Close(); }

void Database::Close() {
  cache_.reset();  // its statements first: a connection with statements left closes late
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Error Database::LastError(std::string_view what) const {
  int rc = sqlite3_errcode(db_);
  ErrorCode code = rc == SQLITE_CONSTRAINT                         ? ErrorCode::kConflict
                   : (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? ErrorCode::kIntegrity
                                                                   : ErrorCode::kUnavailable;
  return Error(code, std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status Database::Exec(std::string_view sql) {
  char* message = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string m = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return Fail(LastError("sqlite exec").code(), "sqlite: " + m);
  }
  return {};
}

Result<Statement> Database::Prepare(std::string_view sql) {
  if (sqlite3_stmt* kept = cache_->Take(sql)) return Statement(kept, db_, cache_.get());
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Fail(LastError("sqlite prepare"));
  }
  // Empty text (a comment, whitespace) prepares to no statement: there is nothing to run.
  if (stmt == nullptr) return Fail(ErrorCode::kInvalidInput, "sqlite prepare: no statement");
  return Statement(stmt, db_, cache_.get());
}

Result<int> Database::Run(std::string_view sql, const std::vector<Value>& params) {
  auto stmt = FK_TRY(Prepare(sql));
  FK_TRY(stmt.Bind(params));
  while (FK_TRY(stmt.Step())) {
  }
  return sqlite3_changes(db_);
}

std::int64_t Database::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

Status Database::Begin() { return RunControl("BEGIN IMMEDIATE"); }
Status Database::Commit() { return RunControl("COMMIT"); }
Status Database::Rollback() { return RunControl("ROLLBACK"); }

Status Database::RunControl(std::string_view sql) {
  FK_TRY(Run(sql));
  return {};
}

Result<Transaction> Transaction::Begin(Database& db) {
  FK_TRY(db.Begin());
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->Rollback();
}

Status Transaction::Commit() {
  Database* db = std::exchange(db_, nullptr);
  return db->Commit();
}

}  // namespace fogkeep::sql
