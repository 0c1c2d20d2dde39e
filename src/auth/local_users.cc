#include "auth/local_users.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <thread>

#include "auth/roles.h"
#include "core/fs.h"
#include "crypto/hash.h"

namespace fogkeep::auth {
namespace {

constexpr std::string_view kHeader = "# fogkeep local users v1\n";
constexpr std::size_t kMaxFileBytes = 4 << 20;
constexpr std::size_t kMaxNameBytes = 64;
// fs::LockExclusive does not wait; writers retry for up to ~5 s before giving up.
constexpr int kLockTries = 250;
constexpr auto kLockPause = std::chrono::milliseconds(20);

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::size_t CodePoints(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

Result<std::string> ReadAll(int fd) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("read", errno);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxFileBytes) return Fail(ErrorCode::kLimit, "users file too large");
  }
}

Status CheckRole(std::string_view role) {
  if (IsKnownRole(role)) return {};
  return Fail(ErrorCode::kInvalidInput,
              "unknown role " + std::string(role) +
                  " (known: admin, app-manager, network-manager, auditor)");
}

AuthOutcome Refused(std::string reason, bool user_unknown) {
  return AuthOutcome{
      .accepted = false, .role = {}, .reason = std::move(reason), .user_unknown = user_unknown};
}

}  // namespace

Status ValidateUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return Fail(ErrorCode::kInvalidInput,
                "user name must be 1.." + std::to_string(kMaxNameBytes) + " characters");
  }
  if (name.front() == '.' || name.front() == '-' ||
      !std::all_of(name.begin(), name.end(), NameChar)) {
    return Fail(ErrorCode::kInvalidInput,
                "user name may hold only a-z, 0-9, '.', '_' and '-', and must not start with "
                "'.' or '-'");
  }
  return {};
}

Result<std::unique_ptr<LocalUserStore>> LocalUserStore::Open(std::string path,
                                                             LocalUserOptions options) {
  FK_TRY_CTX(ValidateParams(options.argon2), "local users");
  if (options.max_concurrent_hashes < 1 || options.min_password_chars < 1 ||
      options.max_password_bytes < options.min_password_chars) {
    return Fail(ErrorCode::kInvalidInput,
                "local users: need max_concurrent_hashes >= 1 and 1 <= min_password_chars <= "
                "max_password_bytes");
  }
  // The dummy hash's password is random and forgotten: nothing ever matches it.
  std::string dummy = FK_TRY(HashPassword(crypto::RandomBytes(32), options.argon2));
  std::unique_ptr<LocalUserStore> store(
      new LocalUserStore(std::move(path), std::move(options), std::move(dummy)));
  FileIdentity identity;
  std::vector<Entry> entries = FK_TRY(store->Load(&identity));
  store->cache_ = std::move(entries);
  store->cache_identity_ = identity;
  store->cache_valid_ = true;
  return store;
}

Result<std::vector<LocalUserStore::Entry>> LocalUserStore::Load(FileIdentity* identity) const {
  *identity = FileIdentity{};
  fs::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::vector<Entry>{};
    return FailErrno("open " + path_, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat " + path_, errno);
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kIntegrity, path_ + " is not a regular file");
  }
  // Hashes readable by others invite offline guessing; writable by others, anyone could add
  // an admin. Refuse both rather than warn.
  if ((st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
    return Fail(ErrorCode::kIntegrity, path_ + " must be owned by uid " +
                                           std::to_string(::geteuid()) +
                                           " with no access for group or others (chmod 600)");
  }
  std::string text = FK_TRY_CTX(ReadAll(fd.get()), "read " + path_);
  identity->exists = true;
  identity->inode = st.st_ino;
  identity->mtime = st.st_mtim;
  identity->size = st.st_size;

  std::vector<Entry> entries;
  std::size_t line_no = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    ++line_no;
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto malformed = [&](std::string_view why) {
      return Fail(ErrorCode::kIntegrity,
                  path_ + ":" + std::to_string(line_no) + ": " + std::string(why));
    };
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
      return malformed("expected \"<name> <role> <argon2id PHC string>\"");
    }
    Entry entry{std::string(line.substr(0, sp1)), std::string(line.substr(sp1 + 1, sp2 - sp1 - 1)),
                std::string(line.substr(sp2 + 1))};
    if (!ValidateUserName(entry.name)) return malformed("invalid user name");
    if (!IsKnownRole(entry.role)) return malformed("unknown role " + entry.role);
    if (auto phc = ParsePhc(entry.phc); !phc) return malformed(phc.error().message());
    for (const Entry& other : entries) {
      if (other.name == entry.name) return malformed("duplicate user " + entry.name);
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

Status LocalUserStore::Save(const std::vector<Entry>& entries) {
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->name < b->name; });
  std::string text(kHeader);
  for (const Entry* e : sorted) text += e->name + " " + e->role + " " + e->phc + "\n";
  return fs::WriteFileAtomic(path_, text, 0600);
}

template <typename Change>
Status LocalUserStore::Mutate(Change change) {
  Result<fs::UniqueFd> lock = fs::LockExclusive(path_ + ".lock");
  for (int i = 1; i < kLockTries && !lock && lock.error().code() == ErrorCode::kConflict; ++i) {
    std::this_thread::sleep_for(kLockPause);
    lock = fs::LockExclusive(path_ + ".lock");
  }
  if (!lock) return Fail(std::move(lock).error());
  FileIdentity identity;
  std::vector<Entry> entries = FK_TRY(Load(&identity));
  FK_TRY(change(entries));
  FK_TRY_CTX(Save(entries), "write " + path_);
  std::lock_guard guard(cache_mu_);
  cache_valid_ = false;  // the next lookup reads what was written
  return {};
}

Status LocalUserStore::CheckPassword(std::string_view password) const {
  if (password.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput, "password must not contain NUL");
  }
  if (password.size() > options_.max_password_bytes) {
    return Fail(ErrorCode::kInvalidInput,
                "password longer than " + std::to_string(options_.max_password_bytes) + " bytes");
  }
  if (CodePoints(password) < options_.min_password_chars) {
    return Fail(
        ErrorCode::kInvalidInput,
        "password shorter than " + std::to_string(options_.min_password_chars) + " characters");
  }
  return {};
}

Status LocalUserStore::Add(std::string_view name, std::string_view role,
                           std::string_view password) {
  FK_TRY(ValidateUserName(name));
  FK_TRY(CheckRole(role));
  FK_TRY(CheckPassword(password));
  std::string phc = FK_TRY(HashPassword(password, options_.argon2));
  return Mutate([&](std::vector<Entry>& entries) -> Status {
    for (const Entry& e : entries) {
      if (e.name == name) {
        return Fail(ErrorCode::kConflict, "user " + std::string(name) + " exists");
      }
    }
    entries.push_back({std::string(name), std::string(role), phc});
    return {};
  });
}

namespace {
template <typename Entries>
auto FindEntry(Entries& entries, std::string_view name) {
  return std::find_if(entries.begin(), entries.end(),
                      [&](const auto& e) { return e.name == name; });
}
}  // namespace

Status LocalUserStore::SetPassword(std::string_view name, std::string_view password) {
  FK_TRY(ValidateUserName(name));
  FK_TRY(CheckPassword(password));
  std::string phc = FK_TRY(HashPassword(password, options_.argon2));
  return Mutate([&](std::vector<Entry>& entries) -> Status {
    auto it = FindEntry(entries, name);
    if (it == entries.end()) return Fail(ErrorCode::kNotFound, "no user " + std::string(name));
    it->phc = phc;
    return {};
  });
}

Status LocalUserStore::SetRole(std::string_view name, std::string_view role) {
  FK_TRY(ValidateUserName(name));
  FK_TRY(CheckRole(role));
  return Mutate([&](std::vector<Entry>& entries) -> Status {
    auto it = FindEntry(entries, name);
    if (it == entries.end()) return Fail(ErrorCode::kNotFound, "no user " + std::string(name));
    it->role = std::string(role);
    return {};
  });
}

Status LocalUserStore::Remove(std::string_view name) {
  FK_TRY(ValidateUserName(name));
  return Mutate([&](std::vector<Entry>& entries) -> Status {
    auto it = FindEntry(entries, name);
    if (it == entries.end()) return Fail(ErrorCode::kNotFound, "no user " + std::string(name));
    entries.erase(it);
    return {};
  });
}

Result<std::vector<LocalUserInfo>> LocalUserStore::List() {
  FileIdentity identity;
  std::vector<Entry> entries = FK_TRY(Load(&identity));
  std::vector<LocalUserInfo> out;
  for (const Entry& e : entries) {
    PhcHash phc = FK_TRY(ParsePhc(e.phc));
    out.push_back({e.name, e.role, phc.params});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<std::optional<LocalUserStore::Entry>> LocalUserStore::Lookup(std::string_view name) {
  std::lock_guard guard(cache_mu_);
  FileIdentity now;
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    now.exists = true;
    now.inode = st.st_ino;
    now.mtime = st.st_mtim;
    now.size = st.st_size;
  } else if (errno != ENOENT) {
    return FailErrno("stat " + path_, errno);
  }
  if (!cache_valid_ || !(now == cache_identity_)) {
    cache_valid_ = false;
    FileIdentity loaded;
    cache_ = FK_TRY(Load(&loaded));
    cache_identity_ = loaded;
    cache_valid_ = true;
  }
  auto it = FindEntry(cache_, name);
  if (it == cache_.end()) return std::optional<Entry>();
  return std::optional<Entry>(*it);
}

Result<bool> LocalUserStore::VerifyThrottled(std::string_view phc, std::string_view password) {
  {
    std::unique_lock lock(hash_mu_);
    hash_cv_.wait(lock, [&] { return hashes_running_ < options_.max_concurrent_hashes; });
    ++hashes_running_;
  }
  Result<bool> verdict = VerifyPassword(phc, password);
  {
    std::lock_guard lock(hash_mu_);
    --hashes_running_;
  }
  hash_cv_.notify_one();
  return verdict;
}

Result<AuthOutcome> LocalUserStore::Authenticate(std::string_view user, std::string_view password,
                                                 std::string_view) {
  // Over-long passwords are refused before any work; the length says nothing about the user.
  if (password.size() > options_.max_password_bytes) {
    return Refused("password longer than " + std::to_string(options_.max_password_bytes) + " bytes",
                   false);
  }
  std::optional<Entry> entry;
  if (ValidateUserName(user)) entry = FK_TRY(Lookup(user));
  if (!entry) {
    // Same work as a wrong password: one argon2id computation with the configured cost.
    FK_TRY(VerifyThrottled(dummy_phc_, password));
    return Refused("unknown user", true);
  }
  bool match = FK_TRY(VerifyThrottled(entry->phc, password));
  if (!match) return Refused("wrong password", false);
  return AuthOutcome{.accepted = true, .role = entry->role, .reason = "local password"};
}

}  // namespace fogkeep::auth
