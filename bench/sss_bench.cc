// Driver of bench/sss_ops.sh: the Secure Storage Service's object put / get and key sign
// operations per second over an app's socket, beside the raw library calls they are built on,
// on the same 1 KiB payloads in the same process.
//
// fogkeep side: the store fogkeepd opens (OpenStorage, the file sealer) and the apps' socket
// server (AppSockets) in this process; one net::Client on app "bench-app"'s socket, keep-alive,
// one request in flight: HTTP/1.1 over the real Unix socket through the real server, as an app
// sends it. Each request must succeed (and each GET return the bytes put) or the run fails.
//   put-new        PUT /v1/objects/o<i>, COUNT distinct names
//   put-overwrite  PUT /v1/objects/o<i> again, other bytes
//   get            GET /v1/objects/o<i>
//   sign           POST /v1/keys/k/sign {"data": base64(1 KiB)}, an ecdsa-p256 key made once
// Baselines, each run right beside its fogkeep phase (after it in the first round, before it
// in the second, and so on) so both see the same machine:
//   put-*  sqlite3 C API, a fresh file, INSERT OR REPLACE of the 1 KiB blob, one transaction
//          (autocommit) per operation, one prepared statement
//   get    SELECT of the blob by name, compared with what was put
//   sign   EVP_DigestSign, ECDSA P-256 with SHA-256 over the same 1 KiB, a fresh context per
//          signature (as crypto::PrivateKey::Sign does)
// Request bodies (base64 JSON for sign) are built before the clock starts: they are the app's
// work, not the service's. Every round starts from fresh files; figures are medians of ROUNDS.
//
//   fogkeep-bench-sss --dir DIR [--count N] [--rounds R] [--json]
//     DIR must exist; each round works in a new directory under it and removes it after.
//     N defaults to 1000: with the key, within an app's default quota of 1024 records (a put's
//     cost grows with the app's record count: its manifest MAC covers every record).
//     R defaults to 5.
#include <openssl/evp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/node.h"
#include "api/sss.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "net/client.h"
#include "node/sss/app_sockets.h"
#include "node/sss/service.h"

namespace {

using namespace fogkeep;
namespace sss = fogkeep::node::sss;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kPayloadBytes = 1024;
constexpr char kApp[] = "bench-app";

struct Options {
  std::string dir;
  unsigned long count = 1000;
  unsigned long rounds = 5;
  bool json = false;
};

// What both sides work on: the same names and bytes, in every round.
struct Workload {
  std::vector<std::string> names;      // o0, o1, ...
  std::vector<std::string> first;      // put-new payloads
  std::vector<std::string> second;     // put-overwrite payloads (what get must return)
  std::vector<std::string> sign_body;  // {"data": base64(first[i])}
};

enum Operation { kPutNew, kPutOverwrite, kGet, kSign, kOperations };
constexpr const char* kOperationName[kOperations] = {"put-new", "put-overwrite", "get", "sign"};
constexpr const char* kBaselineName[kOperations] = {
    "sqlite INSERT OR REPLACE (new row)", "sqlite INSERT OR REPLACE (existing row)",
    "sqlite SELECT by key", "EVP_DigestSign P-256/SHA-256"};

// Operations per second of each round, per operation and side.
struct Samples {
  std::vector<double> fogkeep[kOperations];
  std::vector<double> baseline[kOperations];
};

double OpsPerSecond(unsigned long count, Clock::duration elapsed) {
  return static_cast<double>(count) / std::chrono::duration<double>(elapsed).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

bool ParseNumber(std::string_view text, unsigned long* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && *out > 0;
}

Workload MakeWorkload(unsigned long count) {
  Workload w;
  for (unsigned long i = 0; i < count; ++i) {
    w.names.push_back("o" + std::to_string(i));
    w.first.push_back(crypto::RandomBytes(kPayloadBytes));
    w.second.push_back(crypto::RandomBytes(kPayloadBytes));
    w.sign_body.push_back(
        api::ToJsonText(api::SssSignRequest{crypto::Base64Encode(w.first.back())}));
  }
  return w;
}

// ---- fogkeep: the service over the app's socket ----

// One round's service: store, socket server and the app's client, in `dir`.
struct Service {
  std::shared_ptr<sss::StorageServices> storage;
  std::unique_ptr<sss::AppSockets> sockets;
  std::unique_ptr<net::Client> client;
  std::string public_key_pem;  // of key "k"
};

Result<net::Response> Expect(Result<net::Response> response, int status, std::string_view what) {
  if (!response) return Fail(std::move(response).error().With(what));
  if (response->status != status) {
    return Fail(ErrorCode::kInternal, std::string(what) + ": HTTP " +
                                          std::to_string(response->status) + " " + response->body);
  }
  return response;
}

Result<Service> StartService(const std::string& dir, unsigned long count) {
  // The default per-app quota (1024 records, 16 MiB) holds the default COUNT objects and the
  // key; a larger COUNT gets room for itself rather than a kLimit half-way.
  sss::StorageSettings settings;
  settings.quotas.max_records = std::max<std::size_t>(settings.quotas.max_records, count + 1);
  settings.quotas.max_total_bytes =
      std::max<std::uint64_t>(settings.quotas.max_total_bytes, (count + 1) * 2 * kPayloadBytes);
  Service s;
  s.storage = FK_TRY_CTX(sss::OpenStorage(settings, dir), "open storage");
  s.sockets = FK_TRY_CTX(sss::AppSockets::Start(sss::SocketsRoot(dir), s.storage), "sockets");
  // The listener admits the app's uid range and root. Unprivileged, the range is this
  // process's own uid, so the bench needs no root; as root (never a range base: container root
  // must not be host root) it is an app's usual range, as in the unit tests.
  const uid_t uid = ::geteuid();
  const node::runtime::IdRange ids =
      uid != 0 ? node::runtime::IdRange{.host_base = uid, .size = 1}
               : node::runtime::IdRange{.host_base = 300000, .size = 65536};
  FK_TRY_CTX(s.sockets->Prepare(kApp, ids), "prepare the app's socket");
  s.client = FK_TRY(net::Client::Unix(s.sockets->SocketPath(kApp)));
  net::Response made = FK_TRY(Expect(
      s.client->Request(net::Method::kPut, "/v1/keys/k", {}, R"({"algorithm":"ecdsa-p256"})"), 201,
      "generate key k"));
  s.public_key_pem = FK_TRY(api::FromJsonText<api::SssKey>(made.body)).public_key_pem;
  return s;
}

Result<double> ServicePut(net::Client& client, const Workload& w,
                          const std::vector<std::string>& payloads) {
  std::vector<std::string> targets;
  for (const auto& name : w.names) targets.push_back("/v1/objects/" + name);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < targets.size(); ++i) {
    FK_TRY(Expect(client.Request(net::Method::kPut, targets[i], {}, payloads[i]), 200,
                  "PUT " + targets[i]));
  }
  return OpsPerSecond(targets.size(), Clock::now() - start);
}

Result<double> ServiceGet(net::Client& client, const Workload& w) {
  std::vector<std::string> targets;
  for (const auto& name : w.names) targets.push_back("/v1/objects/" + name);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < targets.size(); ++i) {
    net::Response got =
        FK_TRY(Expect(client.Request(net::Method::kGet, targets[i]), 200, "GET " + targets[i]));
    if (got.body != w.second[i]) {
      return Fail(ErrorCode::kIntegrity, "GET " + targets[i] + ": not the bytes put");
    }
  }
  return OpsPerSecond(targets.size(), Clock::now() - start);
}

Result<double> ServiceSign(Service& s, const Workload& w) {
  std::string last;
  const auto start = Clock::now();
  for (const auto& body : w.sign_body) {
    last = FK_TRY(Expect(s.client->Request(net::Method::kPost, "/v1/keys/k/sign", {}, body), 200,
                         "sign"))
               .body;
  }
  const double rate = OpsPerSecond(w.sign_body.size(), Clock::now() - start);
  // The service must have computed the same function as the baseline: the last signature
  // verifies over its payload under the key's public half.
  auto answer = FK_TRY(api::FromJsonText<api::SssSignature>(last));
  const std::string signature = FK_TRY(crypto::Base64Decode(answer.signature));
  auto key = FK_TRY(crypto::PublicKey::FromPem(s.public_key_pem));
  FK_TRY_CTX(key.Verify(w.first.back(), signature), "the service's signature");
  return rate;
}

// ---- baselines: SQLite and OpenSSL called directly ----

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using SqliteDb = std::unique_ptr<sqlite3, SqliteCloser>;
using SqliteStatement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

std::unexpected<Error> SqliteFailure(sqlite3* db, std::string_view what) {
  return Fail(ErrorCode::kUnavailable, std::string(what) + ": " + sqlite3_errmsg(db));
}

// A fresh database with the store's durability: journal_mode=WAL and synchronous=FULL (as
// sql::Database::Open sets them) and secure_delete=ON (as SecureStore::Open adds, so a
// replaced row's bytes are zeroed here too). This is the like-for-like setting: every commit
// is on disk when the call returns, on both sides.
Result<SqliteDb> OpenBaselineDb(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) return SqliteFailure(db.get(), "open " + path);
  if (sqlite3_exec(db.get(),
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
                   "CREATE TABLE objects (name TEXT PRIMARY KEY, data BLOB NOT NULL);",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteFailure(db.get(), "set up " + path);
  }
  return db;
}

Result<SqliteStatement> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    return SqliteFailure(db, sql);
  }
  return SqliteStatement(raw);
}

Result<double> SqlitePut(sqlite3* db, const Workload& w, const std::vector<std::string>& payloads) {
  SqliteStatement stmt =
      FK_TRY(Prepare(db, "INSERT OR REPLACE INTO objects (name, data) VALUES (?, ?)"));
  const auto start = Clock::now();
  for (std::size_t i = 0; i < w.names.size(); ++i) {
    sqlite3_bind_text(stmt.get(), 1, w.names[i].data(), static_cast<int>(w.names[i].size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(stmt.get(), 2, payloads[i].data(), static_cast<int>(payloads[i].size()),
                      SQLITE_STATIC);
    if (sqlite3_step(stmt.get()) != SQLITE_DONE) return SqliteFailure(db, "insert");
    sqlite3_reset(stmt.get());
  }
  return OpsPerSecond(w.names.size(), Clock::now() - start);
}

Result<double> SqliteGet(sqlite3* db, const Workload& w) {
  SqliteStatement stmt = FK_TRY(Prepare(db, "SELECT data FROM objects WHERE name = ?"));
  const auto start = Clock::now();
  for (std::size_t i = 0; i < w.names.size(); ++i) {
    sqlite3_bind_text(stmt.get(), 1, w.names[i].data(), static_cast<int>(w.names[i].size()),
                      SQLITE_STATIC);
    if (sqlite3_step(stmt.get()) != SQLITE_ROW) return SqliteFailure(db, "select " + w.names[i]);
    // Copied out, as the service's answer is: the caller owns the bytes after the call.
    std::string data(static_cast<const char*>(sqlite3_column_blob(stmt.get(), 0)),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), 0)));
    sqlite3_reset(stmt.get());
    if (data != w.second[i]) return Fail(ErrorCode::kIntegrity, "select: not the bytes put");
  }
  return OpsPerSecond(w.names.size(), Clock::now() - start);
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// The call crypto::PrivateKey::Sign makes, without the service around it: a fresh digest
// context initialised for SHA-256 on the key, one EVP_DigestSign into a buffer of the maximum
// size.
Result<double> OpensslSign(EVP_PKEY* key, const Workload& w) {
  std::vector<unsigned char> signature(static_cast<std::size_t>(EVP_PKEY_get_size(key)));
  const auto start = Clock::now();
  for (const auto& data : w.first) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    std::size_t size = signature.size();
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), signature.data(), &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
      return Fail(ErrorCode::kInternal, "EVP_DigestSign failed");
    }
  }
  return OpsPerSecond(w.first.size(), Clock::now() - start);
}

// ---- rounds ----

Status RunRound(const Options& options, unsigned long round, const Workload& w,
                EVP_PKEY* baseline_key, Samples* samples) {
  const std::string dir = FK_TRY(fs::MakeTempDir(options.dir, "round."));
  Status result = [&]() -> Status {
    Service service = FK_TRY(StartService(dir + "/fogkeep", options.count));
    SqliteDb db = FK_TRY(OpenBaselineDb(dir + "/baseline.db"));
    // One phase on both sides, which goes first alternating by round, so that neither side
    // always inherits the other's leftovers (dirty pages the disk is still writing, a warm or
    // cold cache).
    auto phase = [&](Operation op, auto fogkeep, auto baseline) -> Status {
      double fk = 0;
      double base = 0;
      if (round % 2 == 0) {
        fk = FK_TRY(fogkeep());
        base = FK_TRY(baseline());
      } else {
        base = FK_TRY(baseline());
        fk = FK_TRY(fogkeep());
      }
      samples->fogkeep[op].push_back(fk);
      samples->baseline[op].push_back(base);
      return {};
    };
    net::Client& client = *service.client;
    FK_TRY(phase(
        kPutNew, [&] { return ServicePut(client, w, w.first); },
        [&] { return SqlitePut(db.get(), w, w.first); }));
    FK_TRY(phase(
        kPutOverwrite, [&] { return ServicePut(client, w, w.second); },
        [&] { return SqlitePut(db.get(), w, w.second); }));
    FK_TRY(phase(
        kGet, [&] { return ServiceGet(client, w); }, [&] { return SqliteGet(db.get(), w); }));
    FK_TRY(phase(
        kSign, [&] { return ServiceSign(service, w); },
        [&] { return OpensslSign(baseline_key, w); }));
    return {};
  }();
  Status removed = fs::RemoveTree(dir);
  FK_TRY(result);
  return removed;
}

void PrintTable(const Options& options, const Samples& samples) {
  std::printf(
      "%lu operations of %zu bytes per phase, one client, sequential; rounds: %lu "
      "(median)\n",
      options.count, kPayloadBytes, options.rounds);
  std::printf("%-14s %14s %14s %7s  %s\n", "operation", "fogkeep ops/s", "baseline ops/s", "ratio",
              "baseline");
  for (int op = 0; op < kOperations; ++op) {
    const double fk = Median(samples.fogkeep[op]);
    const double base = Median(samples.baseline[op]);
    std::printf("%-14s %14.0f %14.0f %7.2f  %s\n", kOperationName[op], fk, base, fk / base,
                kBaselineName[op]);
  }
}

// The medians, and each round's figure in the order run, for scripts.
void PrintJson(const Options& options, const Samples& samples) {
  auto list = [](const std::vector<double>& values) {
    std::string out = "[";
    for (double v : values) out += (out.size() > 1 ? "," : "") + std::to_string(std::lround(v));
    return out + "]";
  };
  std::printf(R"({"count":%lu,"payload_bytes":%zu,"rounds":%lu,"results":[)", options.count,
              kPayloadBytes, options.rounds);
  for (int op = 0; op < kOperations; ++op) {
    const double fk = Median(samples.fogkeep[op]);
    const double base = Median(samples.baseline[op]);
    std::printf(R"(%s{"operation":"%s","fogkeep_ops_per_s":%.1f,"baseline":"%s",)"
                R"("baseline_ops_per_s":%.1f,"ratio":%.4f,"fogkeep_rounds":%s,)"
                R"("baseline_rounds":%s})",
                op == 0 ? "" : ",", kOperationName[op], fk, kBaselineName[op], base, fk / base,
                list(samples.fogkeep[op]).c_str(), list(samples.baseline[op]).c_str());
  }
  std::printf("]}\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool ok = true;
  for (int i = 1; i < argc && ok; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--dir" && has_value) {
      options.dir = argv[++i];
    } else if (arg == "--count" && has_value) {
      ok = ParseNumber(argv[++i], &options.count);
    } else if (arg == "--rounds" && has_value) {
      ok = ParseNumber(argv[++i], &options.rounds);
    } else {
      ok = false;
    }
  }
  if (!ok || options.dir.empty()) {
    std::fprintf(stderr, "usage: %s --dir DIR [--count N] [--rounds R] [--json]\n", argv[0]);
    return 2;
  }

  // Each round's "listening on" line would interleave with the table; warnings still show.
  log::SetLevel(log::Level::kWarn);
  const Workload workload = MakeWorkload(options.count);
  std::unique_ptr<EVP_PKEY, PkeyFree> baseline_key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!baseline_key) {
    std::fprintf(stderr, "cannot generate the baseline's P-256 key\n");
    return 1;
  }
  Samples samples;
  for (unsigned long round = 0; round < options.rounds; ++round) {
    if (Status ran = RunRound(options, round, workload, baseline_key.get(), &samples); !ran) {
      std::fprintf(stderr, "round %lu: %s\n", round + 1, ran.error().message().c_str());
      return 1;
    }
  }
  if (options.json) {
    PrintJson(options, samples);
  } else {
    PrintTable(options, samples);
  }
  return 0;
}
