// SqlDb on PostgreSQL through libpq: a pool of connections, each transaction on one of them.
//
// Writes run at SERIALIZABLE isolation, so a store method that reads and then writes behaves
// as if the director replicas ran one at a time; PostgreSQL aborts one side of a conflict with
// SQLSTATE 40001 (or 40P01 for a deadlock) and the whole transaction is run again, a bounded
// number of times. Reads run at REPEATABLE READ READ ONLY: one consistent snapshot, never a
// serialisation failure. A failed transaction is rolled back without being committed: the
// store only refuses on facts that, once committed, stay true (a token is used, a revision has
// moved on, a row exists), so a refusal read from a committed snapshot holds.
//
// Parameters go out with explicit types: integers as int8 text, text as text, blobs as bytea in
// binary format (so every byte value, NUL included, passes unchanged). Results come back in
// text format; bytea columns are decoded from their escaped text form.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.h"
#include "director/libpq.h"
#include "director/sql_db.h"

namespace fogkeep::director {
namespace {

// Type OIDs from PostgreSQL's catalog/pg_type.dat; stable across versions.
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// How often a transaction that lost a serialisation conflict is run again before the caller
// gets kUnavailable. Each round commits at least one of the contenders, so this bounds the
// wait under contention from as many concurrent writers.
constexpr int kMaxAttempts = 30;

// Key of the transaction-scoped advisory lock that serialises schema creation between
// replicas starting at once ("fogkeep" and a version byte, as a 64-bit integer).
constexpr std::int64_t kSchemaLockKey = 0x666f676b65657001;

// The largest bytea value PostgreSQL stores (its field limit), which also fits libpq's int
// parameter lengths.
constexpr std::size_t kMaxBlobSize = (std::size_t{1} << 30) - 1;

// libpq's functions; OpenPostgresDb loads them before anything here runs.
const libpq::Functions& Pq() { return libpq::Loaded(); }

std::string TrimMessage(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "unknown error" : text;
}

struct ResultDeleter {
  void operator()(PGresult* result) const { Pq().PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// Rewrites the `?` placeholders of `sql` to $1..$n. Only the store's own SQL passes here: `?`
// inside a quoted literal or identifier is left alone, and nothing else needs recognising.
std::string NumberPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 1;
  char quote = 0;
  for (char c : sql) {
    if (quote != 0) {
      if (c == quote) quote = 0;
      out.push_back(c);
    } else if (c == '\'' || c == '"') {
      quote = c;
      out.push_back(c);
    } else if (c == '?') {
      out += "$" + std::to_string(next++);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The outcome of a failed command, classified.
struct Failure {
  Error error;
  bool retryable = false;        // a serialisation failure or deadlock: run the transaction again
  bool connection_lost = false;  // the connection is unusable
};

Failure Classify(PGconn* conn, const PGresult* result, std::string_view what) {
  const bool lost = Pq().PQstatus(conn) != CONNECTION_OK;
  const char* sqlstate =
      result != nullptr ? Pq().PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary =
      result != nullptr ? Pq().PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message =
      std::string(what) + ": " +
      (primary != nullptr ? TrimMessage(primary) : TrimMessage(Pq().PQerrorMessage(conn)));
  if (lost) {
    return {Error(ErrorCode::kUnavailable, "PostgreSQL connection lost: " + message), false, true};
  }
  const std::string state = sqlstate != nullptr ? sqlstate : "";
  if (!state.empty()) message += " (SQLSTATE " + state + ")";
  const std::string klass = state.substr(0, std::min<std::size_t>(2, state.size()));
  if (state == "40001" || state == "40P01") {
    return {Error(ErrorCode::kUnavailable, message), true, false};
  }
  ErrorCode code = ErrorCode::kInternal;  // syntax, undefined objects: a bug in the store
  if (klass == "22") {
    code = ErrorCode::kInvalidInput;  // data exception: a value the column cannot hold
  } else if (klass == "23") {
    code = ErrorCode::kConflict;  // integrity constraint violation
  } else if (klass == "54") {
    code = ErrorCode::kLimit;  // program limit exceeded (an index entry too large, say)
  } else if (klass == "08" || klass == "53" || klass == "55" || klass == "57" || klass == "58" ||
             klass == "40" || klass == "25") {
    code = ErrorCode::kUnavailable;  // connection, resources, operator intervention, I/O
  }
  return {Error(code, message), false, false};
}

// Parameters in the shape PQexecParams takes. Views into `params`, which must outlive it.
class PgParams {
 public:
  explicit PgParams(const SqlParams& params) {
    const std::size_t n = params.size();
    integers_.reserve(n);  // never reallocates: values_ points into it
    types_.reserve(n);
    values_.reserve(n);
    lengths_.reserve(n);
    formats_.reserve(n);
    static const char kEmpty[] = "";
    for (const SqlValue& param : params) {
      if (const auto* integer = std::get_if<std::int64_t>(&param)) {
        integers_.push_back(std::to_string(*integer));
        Add(kInt8Oid, integers_.back().c_str(), 0, 0);
      } else if (const auto* text = std::get_if<std::string>(&param)) {
        Add(kTextOid, text->c_str(), 0, 0);
      } else if (const auto* blob = std::get_if<SqlBlob>(&param)) {
        // A null pointer would be SQL NULL: an empty blob points at an empty string.
        Add(kByteaOid, blob->bytes.empty() ? kEmpty : blob->bytes.data(),
            static_cast<int>(blob->bytes.size()), 1);
      } else {
        Add(0, nullptr, 0, 0);
      }
    }
  }
  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void Add(Oid type, const char* value, int length, int format) {
    types_.push_back(type);
    values_.push_back(value);
    lengths_.push_back(length);
    formats_.push_back(format);
  }
  std::vector<std::string> integers_;
  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

class PostgresRow final : public SqlRow {
 public:
  PostgresRow(const PGresult* result, int row) : result_(result), row_(row) {}

  bool IsNull(int column) const override { return Pq().PQgetisnull(result_, row_, column) == 1; }

  std::string Text(int column) const override {
    const char* value = Pq().PQgetvalue(result_, row_, column);
    if (Pq().PQftype(result_, column) != kByteaOid) {
      return std::string(value, static_cast<std::size_t>(Pq().PQgetlength(result_, row_, column)));
    }
    std::size_t size = 0;
    unsigned char* bytes =
        Pq().PQunescapeBytea(reinterpret_cast<const unsigned char*>(value), &size);
    if (bytes == nullptr) {
      log::Error("director store: out of memory decoding a bytea column");
      std::abort();
    }
    std::string out(reinterpret_cast<const char*>(bytes), size);
    Pq().PQfreemem(bytes);
    return out;
  }

  std::int64_t Int(int column) const override {
    const char* value = Pq().PQgetvalue(result_, row_, column);
    const char* end = value + Pq().PQgetlength(result_, row_, column);
    std::int64_t out = 0;
    auto [ptr, ec] = std::from_chars(value, end, out);
    if (ec != std::errc() || ptr != end) {
      log::Error("director store: column {} holds \"{}\", not an integer (schema mismatch)",
                 Pq().PQfname(result_, column), std::string_view(value, end - value));
      std::abort();
    }
    return out;
  }

 private:
  const PGresult* result_;
  int row_;
};

class PostgresTx final : public SqlTx {
 public:
  explicit PostgresTx(PGconn* conn) : conn_(conn) {}

  Result<std::int64_t> Exec(std::string_view sql, const SqlParams& params) override {
    PgResult result = FK_TRY(Run(sql, params));
    const char* tuples = Pq().PQcmdTuples(result.get());
    std::int64_t changed = 0;
    std::from_chars(tuples, tuples + std::strlen(tuples), changed);  // "" for other commands
    return changed;
  }

  Status Query(std::string_view sql, const SqlParams& params, const RowReader& each_row) override {
    PgResult result = FK_TRY(Run(sql, params));
    const int rows = Pq().PQntuples(result.get());
    for (int i = 0; i < rows; ++i) FK_TRY(each_row(PostgresRow(result.get(), i)));
    return {};
  }

  Status ExecScript(std::string_view sql) override {
    PgResult result(Pq().PQexec(conn_, std::string(sql).c_str()));
    const ExecStatusType status =
        result != nullptr ? Pq().PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Fail(Record(Classify(conn_, result.get(), "schema")));
    }
    return {};
  }

  // Whether the last failed statement lost a serialisation conflict, so that the transaction
  // is worth running again.
  bool retryable() const { return retryable_; }

 private:
  Result<PgResult> Run(std::string_view sql, const SqlParams& params) {
    FK_TRY(CheckTextParams(params));
    for (const SqlValue& param : params) {
      const auto* blob = std::get_if<SqlBlob>(&param);
      if (blob != nullptr && blob->bytes.size() > kMaxBlobSize) {
        return Fail(ErrorCode::kLimit, "a blob of " + std::to_string(blob->bytes.size()) +
                                           " bytes is larger than PostgreSQL stores (1 GiB)");
      }
    }
    const std::string text = NumberPlaceholders(sql);
    const PgParams pg(params);
    PgResult result(Pq().PQexecParams(conn_, text.c_str(), pg.size(), pg.types(), pg.values(),
                                      pg.lengths(), pg.formats(), /*resultFormat=*/0));
    const ExecStatusType status =
        result != nullptr ? Pq().PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Fail(Record(Classify(conn_, result.get(), "postgres")));
    }
    return result;
  }

  Error Record(Failure failure) {
    retryable_ = failure.retryable;
    return std::move(failure.error);
  }

  PGconn* conn_;
  bool retryable_ = false;
};

void IgnoreNotice(void*, const char*) {}  // "relation already exists, skipping" and the like

// Connections to one database, at most `capacity` open at once.
class ConnectionPool {
 public:
  // A connection taken from the pool; returning it (destruction) keeps it for the next caller
  // when it is healthy and outside any transaction, and closes it otherwise.
  class Lease {
   public:
    Lease(ConnectionPool* pool, PGconn* conn) : pool_(pool), conn_(conn) {}
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), conn_(std::exchange(other.conn_, nullptr)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Return(conn_);
    }
    PGconn* get() const { return conn_; }

   private:
    ConnectionPool* pool_;
    PGconn* conn_;
  };

  ConnectionPool(std::string conninfo, int capacity)
      : conninfo_(std::move(conninfo)), capacity_(capacity) {}
  int capacity() const { return capacity_; }

  // Every lease must have been returned.
  ~ConnectionPool() {
    for (PGconn* conn : idle_) Pq().PQfinish(conn);
  }
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection, or a new one while fewer than `capacity` are open; otherwise waits for
  // one to be returned. kUnavailable when a new connection cannot be made.
  Result<Lease> Acquire() {
    {
      std::unique_lock lock(mu_);
      returned_.wait(lock, [&] { return !idle_.empty() || open_ < capacity_; });
      if (!idle_.empty()) {
        PGconn* conn = idle_.back();
        idle_.pop_back();
        return Lease(this, conn);
      }
      ++open_;
    }
    auto conn = Connect();
    if (!conn) {
      std::lock_guard lock(mu_);
      --open_;
      returned_.notify_one();
      return Fail(std::move(conn).error());
    }
    return Lease(this, *conn);
  }

 private:
  Result<PGconn*> Connect() {
    PGconn* conn = Pq().PQconnectdb(conninfo_.c_str());
    if (conn == nullptr)
      return Fail(ErrorCode::kUnavailable, "connect to PostgreSQL: out of memory");
    if (Pq().PQstatus(conn) != CONNECTION_OK) {
      // The message names host and port, never the password of the connection string.
      std::string message = TrimMessage(Pq().PQerrorMessage(conn));
      Pq().PQfinish(conn);
      return Fail(ErrorCode::kUnavailable, "connect to PostgreSQL: " + message);
    }
    Pq().PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
    if (Pq().PQsetClientEncoding(conn, "UTF8") != 0) {
      std::string message = TrimMessage(Pq().PQerrorMessage(conn));
      Pq().PQfinish(conn);
      return Fail(ErrorCode::kUnavailable, "PostgreSQL client encoding UTF8: " + message);
    }
    return conn;
  }

  void Return(PGconn* conn) {
    const bool reusable =
        Pq().PQstatus(conn) == CONNECTION_OK && Pq().PQtransactionStatus(conn) == PQTRANS_IDLE;
    if (!reusable) Pq().PQfinish(conn);
    std::lock_guard lock(mu_);
    if (reusable) {
      idle_.push_back(conn);
    } else {
      --open_;
    }
    returned_.notify_one();
  }

  const std::string conninfo_;
  const int capacity_;

  std::mutex mu_;
  std::condition_variable returned_;  // signalled when a connection is returned or closed
  std::vector<PGconn*> idle_;         // guarded by mu_
  int open_ = 0;                      // guarded by mu_: idle plus leased connections
};

// The result of one attempt at a transaction.
struct Attempt {
  Status status;
  bool retryable = false;   // lost a serialisation conflict
  bool begin_lost = false;  // the connection was found dead before anything was sent on it
};

class PostgresDb final : public SqlDb {
 public:
  PostgresDb(std::string conninfo, int connections) : pool_(std::move(conninfo), connections) {}

  // Makes one connection, so that a wrong address or password fails at open.
  Status Check() {
    auto lease = FK_TRY(pool_.Acquire());
    return {};
  }

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }

  Status InTransaction(TxKind kind, const std::function<Status(SqlTx&)>& body) override {
    const char* begin = kind == TxKind::kRead ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                              : "BEGIN ISOLATION LEVEL SERIALIZABLE";
    int lost_connections = 0;
    for (int attempt = 1;; ++attempt) {
      auto lease = FK_TRY(pool_.Acquire());
      Attempt outcome = RunOnce(lease.get(), begin, {}, body);
      if (outcome.status) return {};
      // An idle connection the server closed (restart, idle timeout) shows only when used.
      // Nothing had been sent on it, so trying again is safe; the dead connection is closed
      // when its lease ends, and after every idle one has been tried a new one is made.
      if (outcome.begin_lost && lost_connections++ < pool_.capacity()) {
        --attempt;
        continue;
      }
      if (!outcome.retryable) return outcome.status;
      if (attempt == kMaxAttempts) {
        return Fail(std::move(outcome.status)
                        .error()
                        .With("gave up after " + std::to_string(kMaxAttempts) +
                              " serialisation conflicts"));
      }
      Backoff(attempt);
    }
  }

  Status QueryOnce(std::string_view sql, const SqlParams& params,
                   const RowReader& each_row) override {
    // Rows reach `each_row` only once the whole result has arrived, so a statement that found
    // its connection lost (an idle one the server closed) has passed nothing on and, reading
    // only, can be run again on another; after every idle one has been tried a new one is made.
    for (int lost_connections = 0;; ++lost_connections) {
      auto lease = FK_TRY(pool_.Acquire());
      PostgresTx tx(lease.get());
      Status status = tx.Query(sql, params, each_row);
      if (status || Pq().PQstatus(lease.get()) == CONNECTION_OK ||
          lost_connections == pool_.capacity()) {
        return status;
      }
    }
  }

  Status InSchemaTransaction(const std::function<Status(SqlTx&)>& body) override {
    auto lease = FK_TRY(pool_.Acquire());
    // READ COMMITTED, so that statements after the lock see what the replica that held it
    // created. The lock is released by COMMIT or ROLLBACK.
    return RunOnce(lease.get(), "BEGIN",
                   "SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLockKey) + ")", body)
        .status;
  }

 private:
  static Attempt RunOnce(PGconn* conn, const char* begin, const std::string& first,
                         const std::function<Status(SqlTx&)>& body) {
    PgResult begun(Pq().PQexec(conn, begin));
    if (begun == nullptr || Pq().PQresultStatus(begun.get()) != PGRES_COMMAND_OK) {
      Failure failure = Classify(conn, begun.get(), "begin transaction");
      return {Fail(std::move(failure.error)), false, failure.connection_lost};
    }
    PostgresTx tx(conn);
    Status status = first.empty() ? Status() : tx.ExecScript(first);
    if (status) status = body(tx);
    if (!status) {
      if (Pq().PQstatus(conn) == CONNECTION_OK) Pq().PQclear(Pq().PQexec(conn, "ROLLBACK"));
      return {std::move(status), tx.retryable(), false};
    }
    PgResult committed(Pq().PQexec(conn, "COMMIT"));
    if (committed == nullptr || Pq().PQresultStatus(committed.get()) != PGRES_COMMAND_OK) {
      Failure failure = Classify(conn, committed.get(), "commit");
      if (failure.connection_lost) {
        // The server may or may not have committed before the connection went.
        failure.error = std::move(failure.error).With("outcome unknown");
      }
      return {Fail(std::move(failure.error)), failure.retryable, false};
    }
    // COMMIT of a transaction that an ignored error aborted answers ROLLBACK.
    if (std::strcmp(Pq().PQcmdStatus(committed.get()), "COMMIT") != 0) {
      return {Fail(ErrorCode::kInternal, "transaction was rolled back by an earlier error"), false,
              false};
    }
    return {Status(), false, false};
  }

  // Sleeps a random time below a bound that doubles with each attempt (1 ms up to 64 ms), so
  // that contenders that collided do not collide again in lockstep.
  static void Backoff(int attempt) {
    thread_local std::minstd_rand random(std::random_device{}());
    const int bound = 1 << std::min(attempt, 6);
    std::uniform_int_distribution<int> micros(0, bound * 1000);
    std::this_thread::sleep_for(std::chrono::microseconds(micros(random)));
  }

  ConnectionPool pool_;
};

}  // namespace

Result<std::unique_ptr<SqlDb>> OpenPostgresDb(const std::string& conninfo, int connections) {
  if (connections < 1) {
    return Fail(ErrorCode::kInvalidInput, "PostgreSQL pool size must be at least 1");
  }
  FK_TRY(libpq::Load());
  char* parse_error = nullptr;
  PQconninfoOption* options = Pq().PQconninfoParse(conninfo.c_str(), &parse_error);
  if (options == nullptr) {
    std::string message = parse_error != nullptr ? TrimMessage(parse_error) : "out of memory";
    Pq().PQfreemem(parse_error);
    return Fail(ErrorCode::kInvalidInput, "PostgreSQL connection string: " + message);
  }
  Pq().PQconninfoFree(options);
  auto db = std::make_unique<PostgresDb>(conninfo, connections);
  FK_TRY(db->Check());
  return std::unique_ptr<SqlDb>(std::move(db));
}

}  // namespace fogkeep::director
