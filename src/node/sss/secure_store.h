// SecureStore: the Secure Storage Service's records, encrypted per app, in one SQLite file.
//
// Keys (see README.md for the full construction and what it does and does not protect):
//   KEK  one random AES-256 key per store, sealed by a KeySealer (file or TPM) in the database.
//   DEK  one random AES-256 key per app, stored wrapped by the KEK (AES-256-GCM, bound to the
//        app id). Destroying an app deletes its wrapped DEK: its records can no longer be
//        decrypted on this node (crypto-shredding).
//   Each record is AES-256-GCM under a key derived from the app's DEK for exactly that record
//   version; the associated data binds app id, kind, name and version.
//
// Integrity: every write bumps the app's generation counter and gives the record that
// generation as its version. A per-app manifest MAC (keyed from the DEK) covers the app's
// generation and its (kind, name, version) list, and a store-wide MAC (keyed from the KEK)
// covers every app's (id, generation); all are updated in the write's transaction. A record
// rolled back to an older ciphertext, moved to another app or name, deleted or added outside
// the store, or a changed byte anywhere in a row, reads as kIntegrity, never as wrong data.
// Rolling back the whole database file to an older copy is not detected (no counter outside
// the database yet).
//
// One process owns a store: Open takes an exclusive lock on "<path>.lock". All methods are
// safe to call from several threads (one mutex serialises them).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/sqlite.h"
#include "node/sss/key_sealer.h"

namespace fogkeep::node::sss {

enum class RecordKind { kObject = 1, kCertificate = 2, kKey = 3 };
// "object", "certificate", "key".
std::string_view RecordKindName(RecordKind kind);

// Per-app limits. Exceeding one is kLimit and leaves the store unchanged.
struct Quotas {
  std::size_t max_records = 1024;             // records of every kind together
  std::uint64_t max_total_bytes = 16u << 20;  // sum of the records' plaintext sizes
  std::size_t max_record_bytes = 1u << 20;    // one record's plaintext
};

struct RecordInfo {
  RecordKind kind = RecordKind::kObject;
  std::string name;
  std::int64_t version = 0;  // the app's generation when the record was last written
  std::uint64_t size = 0;    // plaintext bytes
};

// Every app with a DEK, and its generation.
using AppGenerations = std::map<std::string, std::int64_t, std::less<>>;

enum class WriteMode {
  kUpsert,      // create the record or replace it
  kCreateOnly,  // kConflict when the record exists
};

// Rules for identifiers (checked by every method, kInvalidInput otherwise):
//   app ids are 1-63 characters of [a-z0-9_.-] starting with a letter or digit (as fogkeepd
//   derives them); record names are 1-128 characters of [A-Za-z0-9_.-].
Status ValidateAppId(std::string_view app);
Status ValidateRecordName(std::string_view name);

// Only KeyService can make one: it lets key records be written and read. Every other caller
// gets kForbidden for Put and Get of RecordKind::kKey, so private key material never leaves the
// service through the store.
class KeyRecordAccess {
  friend class KeyService;
  KeyRecordAccess() = default;
};

class SecureStore {
 public:
  // Opens (creating, mode 0600) the database at `path` and unseals its KEK with `sealer`; a new
  // store gets a fresh KEK sealed by it. kConflict when another process holds the store;
  // kIntegrity when the KEK does not unseal (another sealer, or an altered database) or the
  // list of apps does not match its MAC.
  static Result<std::unique_ptr<SecureStore>> Open(const std::string& path,
                                                   std::shared_ptr<KeySealer> sealer,
                                                   Quotas quotas = {});
  ~SecureStore();  // wipes the keys it holds
  SecureStore(const SecureStore&) = delete;
  SecureStore& operator=(const SecureStore&) = delete;

  // Stores `data` as record (app, kind, name); the app's DEK is created on its first record.
  // kLimit beyond the quotas; kForbidden for key records; kIntegrity when the app's existing
  // records fail verification (nothing is written over a tampered app). Returns the record as
  // now stored (its new version).
  Result<RecordInfo> Put(std::string_view app, RecordKind kind, std::string_view name,
                         std::string_view data, WriteMode mode = WriteMode::kUpsert);
  // The record's plaintext. kNotFound when the app never stored it or deleted it; kIntegrity
  // when it is missing, replaced or altered in the database; kForbidden for key records.
  Result<std::string> Get(std::string_view app, RecordKind kind, std::string_view name);
  // The app's records of `kind`, sorted by name, checked against the app's manifest (a record
  // deleted or added behind the store's back is kIntegrity). Empty for an unknown app.
  Result<std::vector<RecordInfo>> List(std::string_view app, RecordKind kind);
  // Removes one record. kNotFound when there is no such record.
  Status Delete(std::string_view app, RecordKind kind, std::string_view name);
  // Removes every record of the app and its wrapped DEK, in one transaction, without verifying
  // them first (so a tampered app can still be cleared). An app with nothing stored succeeds.
  // Crypto-shredding: afterwards nothing of the app can be decrypted from this node's files
  // (freed bytes are zeroed and the WAL is checkpointed). It does not reach copies: a backup
  // of the database from before, with the same sealing key file or TPM, still decrypts it.
  Status DestroyApp(std::string_view app);

  // Every app that has a data key (has stored something and was not destroyed since).
  std::vector<std::string> Apps();

  const Quotas& quotas() const { return quotas_; }

  // Key records, for KeyService only (see KeyRecordAccess).
  Status PutKey(KeyRecordAccess, std::string_view app, std::string_view name,
                std::string_view material, WriteMode mode);
  Result<std::string> GetKey(KeyRecordAccess, std::string_view app, std::string_view name);

 private:
  struct Entry {
    std::int64_t version = 0;
    std::uint64_t size = 0;
  };
  using EntryKey = std::pair<RecordKind, std::string>;
  // An app whose DEK unwrapped and whose rows matched its manifest MAC.
  struct AppState {
    std::string dek;  // wiped on destruction
    std::string manifest_key;
    std::int64_t generation = 0;
    std::map<EntryKey, Entry> entries;
    std::uint64_t total_bytes = 0;

    AppState() = default;
    AppState(const AppState&) = default;
    AppState& operator=(const AppState&) = default;
    ~AppState();
  };

  SecureStore(sql::Database db, fs::UniqueFd lock, Quotas quotas, std::string kek);

  Status LoadAppSet();
  // The verified state of `app`, or null when the app has stored nothing.
  Result<AppState*> LoadApp(const std::string& app);
  Result<RecordInfo> Write(const std::string& app, RecordKind kind, std::string_view name,
                           std::string_view data, WriteMode mode);
  Result<std::string> Read(const std::string& app, RecordKind kind, std::string_view name);
  // Commits `next` as the app's new state: apps row, app-set MAC, and `row_change` (the
  // record-level statement) in one transaction, then adopts it in memory.
  Status Commit(const std::string& app, std::unique_ptr<AppState> next, bool new_app,
                const std::function<Status()>& row_change);
  // HMAC (keyed from the app's DEK) over its generation and (kind, name, version) list.
  static std::string ManifestMac(std::string_view app, const AppState& state);

  // Constant after construction.
  const Quotas quotas_;
  fs::UniqueFd lock_;
  std::string kek_;          // wiped on destruction
  std::string app_set_key_;  // HKDF(KEK): authenticates the set of apps

  // State below is protected by mu_.
  std::mutex mu_;
  sql::Database db_;
  // Every app with a DEK, and its generation, as verified against the app-set MAC.
  AppGenerations generations_;
  // Apps loaded and verified since Open.
  std::map<std::string, std::unique_ptr<AppState>, std::less<>> apps_;
};

}  // namespace fogkeep::node::sss
