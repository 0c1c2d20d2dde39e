#include "node/sss/secure_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <optional>

#include "crypto/aead.h"
#include "crypto/hash.h"

namespace fogkeep::node::sss {
namespace {

constexpr std::string_view kFormat = "1";
// Labels that separate every use of a key (HKDF info, sealing context, MAC and AAD prefixes).
constexpr std::string_view kKekContext = "fogkeep sss kek v1";
constexpr std::string_view kAppSetLabel = "fogkeep sss apps v1";
constexpr std::string_view kDekLabel = "fogkeep sss dek v1";
constexpr std::string_view kManifestLabel = "fogkeep sss manifest v1";
constexpr std::string_view kRecordKeyLabel = "fogkeep sss record key v1";
constexpr std::string_view kRecordAadLabel = "fogkeep sss record v1";

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS apps (
  app TEXT PRIMARY KEY,
  wrapped_dek BLOB NOT NULL,
  generation INTEGER NOT NULL,
  manifest_mac BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  app TEXT NOT NULL,
  kind INTEGER NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  sealed BLOB NOT NULL,
  PRIMARY KEY (app, kind, name)
) WITHOUT ROWID;
)sql";

// ---- Unambiguous encodings of what keys, AADs and MACs bind ----

void PutU64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}
void PutField(std::string& out, std::string_view field) {
  PutU64(out, field.size());
  out.append(field);
}

std::string RecordLabel(std::string_view prefix, std::string_view app, RecordKind kind,
                        std::string_view name, std::int64_t version) {
  std::string out(prefix);
  PutField(out, app);
  out.push_back(static_cast<char>(kind));
  PutField(out, name);
  PutU64(out, static_cast<std::uint64_t>(version));
  return out;
}

std::string DekAad(std::string_view app) {
  std::string out(kDekLabel);
  PutField(out, app);
  return out;
}

// Each record version gets its own AES key, so the random-nonce limit of AES-GCM (2^32
// messages per key) never binds however often an app writes.
std::string RecordKey(std::string_view dek, std::string_view app, RecordKind kind,
                      std::string_view name, std::int64_t version) {
  return crypto::HkdfSha256(dek, "", RecordLabel(kRecordKeyLabel, app, kind, name, version),
                            crypto::kAes256KeySize);
}

bool IsRecordKind(std::int64_t value) {
  return value >= static_cast<int>(RecordKind::kObject) &&
         value <= static_cast<int>(RecordKind::kKey);
}

std::string Describe(std::string_view app, RecordKind kind, std::string_view name) {
  return std::string(RecordKindName(kind)) + " '" + std::string(name) + "' of app '" +
         std::string(app) + "'";
}

std::string AppSetKey(std::string_view kek) {
  return crypto::HkdfSha256(kek, "", kAppSetLabel, 32);
}

// HMAC over every app's (id, generation), in id order.
std::string AppSetMac(std::string_view key, const AppGenerations& generations) {
  std::string data(kAppSetLabel);
  PutU64(data, generations.size());
  for (const auto& [app, generation] : generations) {
    PutField(data, app);
    PutU64(data, static_cast<std::uint64_t>(generation));
  }
  return crypto::HmacSha256(key, data);
}

std::unexpected<Error> Tampered(std::string what) {
  return Fail(ErrorCode::kIntegrity, std::move(what));
}

Result<std::optional<std::string>> ReadMeta(sql::Database& db, std::string_view name) {
  auto stmt = FK_TRY(db.Prepare("SELECT value FROM meta WHERE name = ?"));
  FK_TRY(stmt.Bind({std::string(name)}));
  if (!FK_TRY(stmt.Step())) return std::optional<std::string>();
  return std::optional<std::string>(stmt.Bytes(0));
}

Status WriteMeta(sql::Database& db, std::string_view name, std::string value) {
  FK_TRY(db.Run("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                {std::string(name), sql::Blob{std::move(value)}}));
  return {};
}

// Creates the database file with mode 0600 when missing (SQLite would use 0644 less the
// umask, and gives its -wal and -shm files the database file's mode).
Status CreateDatabaseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  if (errno == EEXIST) return {};
  return FailErrno("create " + path, errno);
}

}  // namespace

std::string_view RecordKindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kObject:
      return "object";
    case RecordKind::kCertificate:
      return "certificate";
    case RecordKind::kKey:
      return "key";
  }
  return "record";
}

Status ValidateAppId(std::string_view app) {
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  };
  bool alnum_first =
      !app.empty() && ((app[0] >= 'a' && app[0] <= 'z') || (app[0] >= '0' && app[0] <= '9'));
  if (app.size() > 63 || !alnum_first || !std::ranges::all_of(app, ok)) {
    return Fail(ErrorCode::kInvalidInput,
                "app id must be 1-63 characters of [a-z0-9_.-] starting with a letter or digit");
  }
  return {};
}

Status ValidateRecordName(std::string_view name) {
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  };
  if (name.empty() || name.size() > 128 || !std::ranges::all_of(name, ok)) {
    return Fail(ErrorCode::kInvalidInput, "record name must be 1-128 characters of [A-Za-z0-9_.-]");
  }
  return {};
}

SecureStore::AppState::~AppState() {
  crypto::Wipe(dek);
  crypto::Wipe(manifest_key);
}

SecureStore::SecureStore(sql::Database db, fs::UniqueFd lock, Quotas quotas, std::string kek)
    : quotas_(quotas),
      lock_(std::move(lock)),
      kek_(std::move(kek)),
      app_set_key_(AppSetKey(kek_)),
      db_(std::move(db)) {}

SecureStore::~SecureStore() {
  crypto::Wipe(kek_);
  crypto::Wipe(app_set_key_);
}

Result<std::unique_ptr<SecureStore>> SecureStore::Open(const std::string& path,
                                                       std::shared_ptr<KeySealer> sealer,
                                                       Quotas quotas) {
  if (!sealer) return Fail(ErrorCode::kInternal, "secure store opened without a key sealer");
  const std::string context = "open secure store " + path;
  fs::UniqueFd lock = FK_TRY_CTX(fs::LockExclusive(path + ".lock"), context);
  FK_TRY_CTX(CreateDatabaseFile(path), context);
  sql::Database db = FK_TRY_CTX(sql::Database::Open(path), context);
  // Deleted content is overwritten with zeros, so a destroyed app's wrapped DEK does not linger
  // in free pages of the file.
  FK_TRY_CTX(db.Exec("PRAGMA secure_delete = ON;"), context);
  FK_TRY_CTX(db.Exec(kSchema), context);

  std::string kek;
  crypto::WipeOnExit wipe_kek(kek);
  {
    auto tx = FK_TRY_CTX(sql::Transaction::Begin(db), context);
    auto format = FK_TRY_CTX(ReadMeta(db, "format"), context);
    auto sealed = FK_TRY_CTX(ReadMeta(db, "kek"), context);
    if (!sealed) {
      auto stmt = FK_TRY_CTX(db.Prepare("SELECT (SELECT COUNT(*) FROM apps) + "
                                        "(SELECT COUNT(*) FROM records)"),
                             context);
      FK_TRY_CTX(stmt.Step(), context);
      if (stmt.Int(0) != 0) {
        return Tampered(context + ": the database holds app data but no key-encryption key");
      }
      kek = crypto::GenerateAes256Key();
      std::string sealed_kek = FK_TRY_CTX(sealer->Seal(kek, kKekContext), context);
      FK_TRY_CTX(WriteMeta(db, "format", std::string(kFormat)), context);
      FK_TRY_CTX(WriteMeta(db, "sealer", std::string(sealer->kind())), context);
      FK_TRY_CTX(WriteMeta(db, "kek", std::move(sealed_kek)), context);
      FK_TRY_CTX(WriteMeta(db, "apps_mac", AppSetMac(AppSetKey(kek), {})), context);
    } else {
      if (format != std::optional<std::string>(kFormat)) {
        return Fail(ErrorCode::kUnavailable,
                    context + ": unsupported store format (fogkeep writes format 1)");
      }
      auto unsealed = sealer->Unseal(*sealed, kKekContext);
      if (!unsealed) {
        auto kind = ReadMeta(db, "sealer");
        std::string hint;
        if (kind && *kind && **kind != sealer->kind()) {
          hint = " (the store was created with the " + **kind + " sealer, not the " +
                 std::string(sealer->kind()) + " one)";
        }
        return Fail(std::move(unsealed).error().With(
            context + ": the key-encryption key does not unseal" + hint));
      }
      kek = std::move(unsealed).value();
    }
    FK_TRY_CTX(tx.Commit(), context);
  }
  if (kek.size() != crypto::kAes256KeySize) {
    return Tampered(context + ": the unsealed key-encryption key has the wrong size");
  }
  std::unique_ptr<SecureStore> store(
      new SecureStore(std::move(db), std::move(lock), quotas, std::move(kek)));
  FK_TRY_CTX(store->LoadAppSet(), context);
  return store;
}

Status SecureStore::LoadAppSet() {
  AppGenerations generations;
  auto stmt = FK_TRY(db_.Prepare("SELECT app, generation FROM apps ORDER BY app"));
  while (FK_TRY(stmt.Step())) generations.emplace(stmt.Text(0), stmt.Int(1));
  auto stored = FK_TRY(ReadMeta(db_, "apps_mac"));
  if (!stored || !crypto::ConstantTimeEquals(*stored, AppSetMac(app_set_key_, generations))) {
    return Tampered(
        "the store's list of apps does not match its MAC: an app was removed, added or rolled "
        "back outside fogkeep");
  }
  generations_ = std::move(generations);
  return {};
}

Result<SecureStore::AppState*> SecureStore::LoadApp(const std::string& app) {
  if (auto it = apps_.find(app); it != apps_.end()) return it->second.get();
  auto known = generations_.find(app);
  if (known == generations_.end()) return nullptr;

  const std::string subject = "app '" + app + "'";
  auto row =
      FK_TRY(db_.Prepare("SELECT wrapped_dek, generation, manifest_mac FROM apps WHERE app = ?"));
  FK_TRY(row.Bind({app}));
  if (!FK_TRY(row.Step())) return Tampered(subject + ": its key row is missing from the database");
  if (row.Int(1) != known->second) {
    return Tampered(subject + ": its generation is " + std::to_string(row.Int(1)) +
                    " in the database, not " + std::to_string(known->second) +
                    " (rolled back or altered)");
  }
  auto state = std::make_unique<AppState>();
  auto dek = crypto::AesGcmOpen(kek_, row.Bytes(0), DekAad(app));
  if (!dek) return Tampered(subject + ": its data key does not unwrap: " + dek.error().message());
  state->dek = std::move(dek).value();
  state->manifest_key = crypto::HkdfSha256(state->dek, "", kManifestLabel, 32);
  state->generation = known->second;
  std::string stored_mac = row.Bytes(2);

  auto records =
      FK_TRY(db_.Prepare("SELECT kind, name, version, length(sealed) FROM records WHERE app = ?"));
  FK_TRY(records.Bind({app}));
  while (FK_TRY(records.Step())) {
    std::int64_t kind = records.Int(0);
    std::int64_t sealed_size = records.Int(3);
    if (!IsRecordKind(kind) || sealed_size < static_cast<std::int64_t>(crypto::kGcmOverhead)) {
      return Tampered(subject + ": a record row has been altered (kind " + std::to_string(kind) +
                      ", " + std::to_string(sealed_size) + " sealed bytes)");
    }
    auto size = static_cast<std::uint64_t>(sealed_size) - crypto::kGcmOverhead;
    state->entries[{static_cast<RecordKind>(kind), records.Text(1)}] = {records.Int(2), size};
    state->total_bytes += size;
  }
  if (!crypto::ConstantTimeEquals(stored_mac, ManifestMac(app, *state))) {
    return Tampered(subject +
                    ": its records do not match its manifest: a record was removed, added, moved "
                    "or replaced by an older copy outside fogkeep");
  }
  AppState* loaded = state.get();
  apps_.emplace(app, std::move(state));
  return loaded;
}

std::string SecureStore::ManifestMac(std::string_view app, const AppState& state) {
  std::string data(kManifestLabel);
  PutField(data, app);
  PutU64(data, static_cast<std::uint64_t>(state.generation));
  PutU64(data, state.entries.size());
  for (const auto& [key, entry] : state.entries) {
    data.push_back(static_cast<char>(key.first));
    PutField(data, key.second);
    PutU64(data, static_cast<std::uint64_t>(entry.version));
  }
  return crypto::HmacSha256(state.manifest_key, data);
}

Status SecureStore::Commit(const std::string& app, std::unique_ptr<AppState> next, bool new_app,
                           const std::function<Status()>& row_change) {
  std::string manifest = ManifestMac(app, *next);
  AppGenerations generations = generations_;
  generations[app] = next->generation;
  std::string set_mac = AppSetMac(app_set_key_, generations);

  auto tx = FK_TRY(sql::Transaction::Begin(db_));
  FK_TRY(row_change());
  if (new_app) {
    std::string wrapped = FK_TRY(crypto::AesGcmSeal(kek_, next->dek, DekAad(app)));
    auto inserted =
        db_.Run("INSERT INTO apps (app, wrapped_dek, generation, manifest_mac) VALUES (?, ?, ?, ?)",
                {app, sql::Blob{std::move(wrapped)}, next->generation, sql::Blob{manifest}});
    if (!inserted && inserted.error().code() == ErrorCode::kConflict) {
      return Tampered("app '" + app + "': a key row the store did not write is in the database");
    }
    FK_TRY(inserted);
  } else {
    int changed = FK_TRY(
        db_.Run("UPDATE apps SET generation = ?, manifest_mac = ? WHERE app = ? AND generation = ?",
                {next->generation, sql::Blob{manifest}, app, generations_.at(app)}));
    if (changed != 1) return Tampered("app '" + app + "': its key row changed outside fogkeep");
  }
  int changed = FK_TRY(db_.Run("UPDATE meta SET value = ? WHERE name = 'apps_mac'",
                               {sql::Blob{std::move(set_mac)}}));
  if (changed != 1) return Tampered("the store's app list MAC is missing from the database");
  FK_TRY(tx.Commit());

  generations_ = std::move(generations);
  apps_[app] = std::move(next);
  return {};
}

Result<RecordInfo> SecureStore::Write(const std::string& app, RecordKind kind,
                                      std::string_view name, std::string_view data,
                                      WriteMode mode) {
  FK_TRY(ValidateAppId(app));
  FK_TRY(ValidateRecordName(name));
  const std::string subject = Describe(app, kind, name);
  if (data.size() > quotas_.max_record_bytes) {
    return Fail(ErrorCode::kLimit, subject + ": " + std::to_string(data.size()) +
                                       " bytes exceed the limit of " +
                                       std::to_string(quotas_.max_record_bytes) + " per record");
  }
  std::lock_guard lock(mu_);
  AppState* current = FK_TRY(LoadApp(app));
  const bool new_app = current == nullptr;
  auto next = std::make_unique<AppState>();
  if (new_app) {
    next->dek = crypto::GenerateAes256Key();
    next->manifest_key = crypto::HkdfSha256(next->dek, "", kManifestLabel, 32);
  } else {
    *next = *current;
  }

  EntryKey key{kind, std::string(name)};
  auto existing = next->entries.find(key);
  const bool exists = existing != next->entries.end();
  if (exists && mode == WriteMode::kCreateOnly) {
    return Fail(ErrorCode::kConflict, subject + " already exists");
  }
  std::size_t records = next->entries.size() + (exists ? 0 : 1);
  if (records > quotas_.max_records) {
    return Fail(ErrorCode::kLimit, "app '" + app + "' may keep at most " +
                                       std::to_string(quotas_.max_records) + " records");
  }
  std::uint64_t bytes = next->total_bytes - (exists ? existing->second.size : 0) + data.size();
  if (bytes > quotas_.max_total_bytes) {
    return Fail(ErrorCode::kLimit, "app '" + app + "' may keep at most " +
                                       std::to_string(quotas_.max_total_bytes) +
                                       " bytes; this write would make it " + std::to_string(bytes));
  }
  if (next->generation == std::numeric_limits<std::int64_t>::max()) {
    return Fail(ErrorCode::kLimit, "app '" + app + "' has used up its write counter");
  }
  const std::int64_t version = ++next->generation;
  next->entries[key] = {version, data.size()};
  next->total_bytes = bytes;

  std::string record_key = RecordKey(next->dek, app, kind, name, version);
  auto sealed =
      crypto::AesGcmSeal(record_key, data, RecordLabel(kRecordAadLabel, app, kind, name, version));
  crypto::Wipe(record_key);
  if (!sealed) return Fail(std::move(sealed).error().With(subject));
  Status committed = Commit(app, std::move(next), new_app, [&]() -> Status {
    FK_TRY(db_.Run(
        "INSERT OR REPLACE INTO records (app, kind, name, version, sealed) VALUES (?, ?, ?, ?, ?)",
        {app, static_cast<std::int64_t>(kind), std::string(name), version,
         sql::Blob{std::move(sealed).value()}}));
    return {};
  });
  if (!committed) return Fail(std::move(committed).error().With("store " + subject));
  return RecordInfo{kind, std::string(name), version, data.size()};
}

Result<std::string> SecureStore::Read(const std::string& app, RecordKind kind,
                                      std::string_view name) {
  FK_TRY(ValidateAppId(app));
  FK_TRY(ValidateRecordName(name));
  const std::string subject = Describe(app, kind, name);
  std::lock_guard lock(mu_);
  AppState* state = FK_TRY(LoadApp(app));
  const Entry* entry = nullptr;
  if (state != nullptr) {
    auto it = state->entries.find({kind, std::string(name)});
    if (it != state->entries.end()) entry = &it->second;
  }
  if (entry == nullptr) return Fail(ErrorCode::kNotFound, "no " + subject);

  auto row = FK_TRY(
      db_.Prepare("SELECT version, sealed FROM records WHERE app = ? AND kind = ? AND name = ?"));
  FK_TRY(row.Bind({app, static_cast<std::int64_t>(kind), std::string(name)}));
  if (!FK_TRY(row.Step())) return Tampered(subject + " is missing from the database");
  if (row.Int(0) != entry->version) {
    return Tampered(subject + " is at version " + std::to_string(row.Int(0)) +
                    " in the database but " + std::to_string(entry->version) +
                    " in its manifest (rolled back or replaced)");
  }
  std::string record_key = RecordKey(state->dek, app, kind, name, entry->version);
  auto plaintext = crypto::AesGcmOpen(
      record_key, row.Bytes(1), RecordLabel(kRecordAadLabel, app, kind, name, entry->version));
  crypto::Wipe(record_key);
  if (!plaintext) return Fail(std::move(plaintext).error().With(subject));
  return plaintext;
}

Result<RecordInfo> SecureStore::Put(std::string_view app, RecordKind kind, std::string_view name,
                                    std::string_view data, WriteMode mode) {
  if (kind == RecordKind::kKey) {
    return Fail(ErrorCode::kForbidden, "key records are written only by the key operations");
  }
  return Write(std::string(app), kind, name, data, mode);
}

Result<std::string> SecureStore::Get(std::string_view app, RecordKind kind, std::string_view name) {
  if (kind == RecordKind::kKey) {
    return Fail(ErrorCode::kForbidden, "key material is never returned; use the key operations");
  }
  return Read(std::string(app), kind, name);
}

std::vector<std::string> SecureStore::Apps() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(generations_.size());
  for (const auto& [app, generation] : generations_) out.push_back(app);
  return out;
}

Status SecureStore::PutKey(KeyRecordAccess, std::string_view app, std::string_view name,
                           std::string_view material, WriteMode mode) {
  FK_TRY(Write(std::string(app), RecordKind::kKey, name, material, mode));
  return {};
}

Result<std::string> SecureStore::GetKey(KeyRecordAccess, std::string_view app,
                                        std::string_view name) {
  return Read(std::string(app), RecordKind::kKey, name);
}

Result<std::vector<RecordInfo>> SecureStore::List(std::string_view app_id, RecordKind kind) {
  FK_TRY(ValidateAppId(app_id));
  const std::string app(app_id);
  std::lock_guard lock(mu_);
  AppState* state = FK_TRY(LoadApp(app));
  std::vector<RecordInfo> out;
  if (state == nullptr) return out;
  for (const auto& [key, entry] : state->entries) {
    if (key.first == kind) out.push_back({kind, key.second, entry.version, entry.size});
  }
  // The rows must be exactly the manifest's: same names (both sorted bytewise), same versions.
  auto rows = FK_TRY(
      db_.Prepare("SELECT name, version FROM records WHERE app = ? AND kind = ? ORDER BY name"));
  FK_TRY(rows.Bind({app, static_cast<std::int64_t>(kind)}));
  std::size_t i = 0;
  while (FK_TRY(rows.Step())) {
    if (i >= out.size() || rows.Text(0) != out[i].name || rows.Int(1) != out[i].version) {
      return Tampered("app '" + app + "': its " + std::string(RecordKindName(kind)) +
                      " records do not match its manifest (changed outside fogkeep)");
    }
    ++i;
  }
  if (i != out.size()) {
    return Tampered("app '" + app + "': " + std::to_string(out.size() - i) + " " +
                    std::string(RecordKindName(kind)) +
                    " record(s) of its manifest are missing from the database");
  }
  return out;
}

Status SecureStore::Delete(std::string_view app_id, RecordKind kind, std::string_view name) {
  FK_TRY(ValidateAppId(app_id));
  FK_TRY(ValidateRecordName(name));
  const std::string app(app_id);
  const std::string subject = Describe(app, kind, name);
  std::lock_guard lock(mu_);
  AppState* current = FK_TRY(LoadApp(app));
  EntryKey key{kind, std::string(name)};
  if (current == nullptr || !current->entries.contains(key)) {
    return Fail(ErrorCode::kNotFound, "no " + subject);
  }
  auto next = std::make_unique<AppState>(*current);
  auto entry = next->entries.find(key);
  next->total_bytes -= entry->second.size;
  next->entries.erase(entry);
  ++next->generation;
  Status committed = Commit(app, std::move(next), /*new_app=*/false, [&]() -> Status {
    int changed = FK_TRY(db_.Run("DELETE FROM records WHERE app = ? AND kind = ? AND name = ?",
                                 {app, static_cast<std::int64_t>(kind), std::string(name)}));
    if (changed != 1) return Tampered(subject + " is missing from the database");
    return {};
  });
  if (!committed) return Fail(std::move(committed).error().With("delete " + subject));
  return {};
}

Status SecureStore::DestroyApp(std::string_view app_id) {
  FK_TRY(ValidateAppId(app_id));
  const std::string app(app_id);
  const std::string context = "destroy the secure storage of app '" + app + "'";
  std::lock_guard lock(mu_);
  AppGenerations generations = generations_;
  generations.erase(app);
  std::string set_mac = AppSetMac(app_set_key_, generations);
  {
    auto tx = FK_TRY_CTX(sql::Transaction::Begin(db_), context);
    FK_TRY_CTX(db_.Run("DELETE FROM records WHERE app = ?", {app}), context);
    FK_TRY_CTX(db_.Run("DELETE FROM apps WHERE app = ?", {app}), context);
    FK_TRY_CTX(db_.Run("UPDATE meta SET value = ? WHERE name = 'apps_mac'",
                       {sql::Blob{std::move(set_mac)}}),
               context);
    FK_TRY_CTX(tx.Commit(), context);
  }
  generations_ = std::move(generations);
  apps_.erase(app);
  // Copy the zeroed pages from the WAL into the database file and empty the WAL, so neither
  // file keeps the wrapped DEK. The deletion is already durable; if the checkpoint cannot run
  // now (it cannot fail the commit), a later one does the same.
  (void)db_.Exec("PRAGMA wal_checkpoint(TRUNCATE);");
  return {};
}

}  // namespace fogkeep::node::sss
