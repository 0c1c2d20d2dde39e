// LocalUserStore: fogkeep's own users, with argon2id password hashes, as an AuthBackend.
//
// Storage is one text file in the style of /etc/shadow, owned by root, mode 0600:
//
//   # fogkeep local users v1
//   <name> <role> $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// Why a file and not SQLite: a node has a handful of users, so rewriting the whole file is
// cheap; a rewrite goes through fs::WriteFileAtomic (temporary file created 0600, fsync,
// rename, fsync of the directory), so a crash leaves the old file or the new one and never a
// half-written hash; there are no -wal/-shm side files whose modes would have to be policed;
// an operator can read, back up and restore it with ordinary tools; and `fogkeepd user ...`
// (another process) changes it while the daemon runs without any shared connection: writers
// serialise on an flock of "<file>.lock" and re-read the file under it, and readers notice a
// new inode or mtime and reload.
//
// Timing and enumeration: a login for an unknown (or syntactically invalid) name is checked
// against a dummy hash made when the store opens, with the configured parameters, so it costs
// one argon2id computation like a wrong password does; hashes are compared in constant time.
// A user whose stored hash has other parameters (made before the cost changed) costs what
// those parameters cost until `passwd` rehashes it.
//
// Memory: each argon2id computation allocates memory_kib. At most `max_concurrent_hashes`
// run at once and the others wait, so a burst of logins cannot exhaust a small node's RAM.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/backend.h"
#include "auth/password_hash.h"
#include "core/error.h"

namespace fogkeep::auth {

struct LocalUserOptions {
  Argon2Params argon2;                  // cost of new hashes and of the dummy hash
  std::size_t min_password_chars = 12;  // counted in UTF-8 code points, for add and passwd
  std::size_t max_password_bytes = 1024;
  int max_concurrent_hashes = 2;  // argon2id computations in flight at once (>= 1)
};

// A user as `list` shows it; the hash never leaves the store.
struct LocalUserInfo {
  std::string name;
  std::string role;
  Argon2Params argon2;  // cost of the stored hash, so an operator sees which need a rehash
};

// Names: 1..64 bytes of [a-z0-9._-], starting with a letter, digit or '_'. Lower case only,
// so "Admin" and "admin" can never be two users (or two lockout records).
Status ValidateUserName(std::string_view name);

class LocalUserStore : public AuthBackend {
 public:
  // Opens the store at `path` (which need not exist yet: no users) and computes the dummy
  // hash. kInvalidInput for bad options; kIntegrity for an existing file that others may
  // read or write or that is not a regular file, or that does not parse.
  static Result<std::unique_ptr<LocalUserStore>> Open(std::string path,
                                                      LocalUserOptions options = {});

  // Adds a user. kInvalidInput for a bad name, an unknown role or a password out of bounds;
  // kConflict when the name exists. Mutations hash before taking the file lock, re-read the
  // file under it, and leave a file they cannot parse untouched (kIntegrity).
  Status Add(std::string_view name, std::string_view role, std::string_view password);
  // Replaces a user's password (with the current parameters). kNotFound for an unknown user.
  Status SetPassword(std::string_view name, std::string_view password);
  // Changes a user's role. kNotFound for an unknown user. Callers must also revoke the user's
  // sessions, which carry the old role until they expire.
  Status SetRole(std::string_view name, std::string_view role);
  // Removes a user. kNotFound for an unknown user. Callers revoke the user's sessions too.
  Status Remove(std::string_view name);
  // Every user, sorted by name, as the file says now.
  Result<std::vector<LocalUserInfo>> List();

  // Accepts a known user with the right password, with the stored role. Refusals: unknown or
  // invalid name (user_unknown = true), wrong password, password over max_password_bytes.
  // Errors: the file cannot be read or no longer parses. Thread-safe.
  Result<AuthOutcome> Authenticate(std::string_view user, std::string_view password,
                                   std::string_view source_address) override;

  const std::string& path() const { return path_; }

 private:
  struct Entry {
    std::string name;
    std::string role;
    std::string phc;
  };
  LocalUserStore(std::string path, LocalUserOptions options, std::string dummy_phc)
      : path_(std::move(path)), options_(std::move(options)), dummy_phc_(std::move(dummy_phc)) {}

  // Which version of the file a cache holds: a rewrite (rename) changes the inode.
  struct FileIdentity {
    bool exists = false;
    ino_t inode = 0;
    struct timespec mtime {};
    off_t size = 0;
    bool operator==(const FileIdentity& o) const {
      return exists == o.exists && inode == o.inode && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec && size == o.size;
    }
  };
  // Reads and parses the file (a missing file has no entries); `identity` receives the
  // version read.
  Result<std::vector<Entry>> Load(FileIdentity* identity) const;
  Status Save(const std::vector<Entry>& entries);
  // Under an flock of "<path>.lock" (waiting up to about 5 s, then kConflict): re-reads the
  // file, runs `change` on its entries and writes the result atomically.
  template <typename Change>
  Status Mutate(Change change);
  Status CheckPassword(std::string_view password) const;
  // Up-to-date copy of the entry for `name`, if any (reloads the cache when the file changed).
  Result<std::optional<Entry>> Lookup(std::string_view name);
  // Bounds the number of concurrent argon2id computations.
  Result<bool> VerifyThrottled(std::string_view phc, std::string_view password);

  // Constant after construction.
  const std::string path_;
  const LocalUserOptions options_;
  const std::string dummy_phc_;

  std::mutex cache_mu_;
  // Guarded by cache_mu_: the file's entries as of `cache_identity_`.
  std::vector<Entry> cache_;
  FileIdentity cache_identity_;
  bool cache_valid_ = false;

  std::mutex hash_mu_;
  std::condition_variable hash_cv_;
  int hashes_running_ = 0;  // guarded by hash_mu_
};

}  // namespace fogkeep::auth
