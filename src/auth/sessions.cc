#include "auth/sessions.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "auth/roles.h"
#include "core/fs.h"
#include "crypto/hash.h"

namespace fogkeep::auth {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr std::string_view kAccessPrefix = "fka_";
constexpr std::string_view kRefreshPrefix = "fkr_";
constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kTokenChars = 43;  // base64url of 32 bytes, unpadded
constexpr std::size_t kMaxUserBytes = 256;

// A session is alive at ?now while it has neither reached its end nor sat idle too long;
// revoked and logged-out sessions are deleted, so they are simply absent.
constexpr std::string_view kColumns =
    "id, user, role, backend, source, created, last_used, expires, access_expires";

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  role TEXT NOT NULL,
  backend TEXT NOT NULL,
  source TEXT NOT NULL,
  created INTEGER NOT NULL,
  last_used INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  access_digest TEXT NOT NULL UNIQUE,
  access_expires INTEGER NOT NULL,
  refresh_digest TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS rotated_refresh_tokens (
  digest TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS rotated_by_session ON rotated_refresh_tokens(session_id);
-- When RevokeUser last ran for a user, in milliseconds: logins checked before then make no
-- session. Kept for max_lifetime, far longer than any login takes.
CREATE TABLE IF NOT EXISTS user_revocations (
  user TEXT PRIMARY KEY,
  revoked_at_ms INTEGER NOT NULL
);
PRAGMA user_version = 1;
)sql";

std::string NewToken(std::string_view prefix) {
  return std::string(prefix) + crypto::Base64UrlEncode(crypto::RandomBytes(kTokenBytes));
}

bool HasShape(std::string_view token, std::string_view prefix) {
  if (token.size() != prefix.size() + kTokenChars || !token.starts_with(prefix)) return false;
  for (char c : token.substr(prefix.size())) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string Digest(std::string_view token) { return crypto::Sha256Hex(token); }

std::unexpected<Error> InvalidToken() {
  return Fail(ErrorCode::kUnauthenticated, "invalid or expired token");
}

system_clock::time_point FromUnix(std::int64_t s) { return system_clock::time_point(seconds(s)); }

Session ReadSession(const sql::Statement& row) {
  Session s;
  s.id = row.Text(0);
  s.user = row.Text(1);
  s.role = row.Text(2);
  s.backend = row.Text(3);
  s.source = row.Text(4);
  s.created = FromUnix(row.Int(5));
  s.last_used = FromUnix(row.Int(6));
  s.session_expires = FromUnix(row.Int(7));
  s.expires = FromUnix(row.Int(8));
  return s;
}

// Creates the database file 0600 before SQLite does (SQLite gives its -wal and -shm files the
// main file's mode), and tightens an existing one.
Status PrepareFile(const std::string& path) {
  fs::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return FailErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kIntegrity, path + " is not a regular file");
  if ((st.st_mode & 07777) != 0600 && ::fchmod(fd.get(), 0600) != 0) {
    return FailErrno("chmod " + path, errno);
  }
  return {};
}

}  // namespace

bool LooksLikeAccessToken(std::string_view token) { return HasShape(token, kAccessPrefix); }

Status ValidateSessionOptions(const SessionOptions& o) {
  if (o.access_ttl.count() <= 0 || o.access_ttl > o.max_lifetime || o.idle_timeout.count() <= 0 ||
      o.touch_interval.count() < 0 || o.touch_interval >= o.idle_timeout ||
      o.max_sessions_per_user < 1) {
    return Fail(ErrorCode::kInvalidInput,
                "sessions: need 0 < access_ttl <= max_lifetime, 0 <= touch_interval < "
                "idle_timeout, and max_sessions_per_user >= 1");
  }
  return {};
}

Result<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& path,
                                                         SessionOptions options, Clock clock) {
  FK_TRY(ValidateSessionOptions(options));
  if (path != ":memory:") FK_TRY_CTX(PrepareFile(path), "session store");
  sql::Database db = FK_TRY_CTX(sql::Database::Open(path), "session store");
  FK_TRY_CTX(db.Exec(kSchema), "session store " + path);
  if (!clock) clock = [] { return system_clock::now(); };
  return std::unique_ptr<SessionStore>(new SessionStore(std::move(db), options, std::move(clock)));
}

std::int64_t SessionStore::UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t SessionStore::Now() const {
  return std::chrono::duration_cast<seconds>(clock_().time_since_epoch()).count();
}

Result<std::optional<Session>> SessionStore::FindLocked(std::string_view column,
                                                        const std::string& digest,
                                                        std::int64_t now) {
  std::string sql = "SELECT " + std::string(kColumns) + ", " + std::string(column) +
                    " FROM sessions WHERE " + std::string(column) +
                    " = ?1 AND expires > ?2 AND last_used + ?3 > ?2";
  sql::Statement stmt = FK_TRY(db_.Prepare(sql));
  FK_TRY(stmt.Bind({digest, now, static_cast<std::int64_t>(options_.idle_timeout.count())}));
  if (!FK_TRY(stmt.Step())) return std::optional<Session>();
  if (!crypto::ConstantTimeEquals(stmt.Text(9), digest)) return std::optional<Session>();
  return std::optional<Session>(ReadSession(stmt));
}

Result<IssuedTokens> SessionStore::IssueLocked(Session session, std::int64_t now) {
  IssuedTokens issued;
  issued.access_token = NewToken(kAccessPrefix);
  issued.refresh_token = NewToken(kRefreshPrefix);
  const std::int64_t end =
      std::chrono::duration_cast<seconds>(session.session_expires.time_since_epoch()).count();
  const std::int64_t access_expires = std::min(end, now + options_.access_ttl.count());
  FK_TRY(
      db_.Run("UPDATE sessions SET access_digest = ?1, access_expires = ?2, refresh_digest = ?3, "
              "last_used = ?4 WHERE id = ?5",
              {Digest(issued.access_token), access_expires, Digest(issued.refresh_token), now,
               session.id}));
  session.last_used = FromUnix(now);
  session.expires = FromUnix(access_expires);
  issued.session = std::move(session);
  return issued;
}

Result<IssuedTokens> SessionStore::Create(
    std::string_view user, std::string_view role, std::string_view backend, std::string_view source,
    std::optional<std::chrono::system_clock::time_point> checked_since) {
  if (user.empty() || user.size() > kMaxUserBytes || user.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput, "session: invalid user name");
  }
  if (!IsKnownRole(role)) {
    return Fail(ErrorCode::kInvalidInput, "session: unknown role " + std::string(role));
  }
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  sql::Transaction tx = FK_TRY(sql::Transaction::Begin(db_));
  FK_TRY(PurgeEndedLocked(now));
  if (checked_since) {
    sql::Statement revoked = FK_TRY(
        db_.Prepare("SELECT 1 FROM user_revocations WHERE user = ?1 AND revoked_at_ms >= ?2"));
    FK_TRY(revoked.Bind({std::string(user), UnixMillis(*checked_since)}));
    if (FK_TRY(revoked.Step())) return Fail(ErrorCode::kUnauthenticated, "invalid credentials");
  }
  // Make room: keep the user's max - 1 most recently used sessions.
  FK_TRY(db_.Run(
      "DELETE FROM sessions WHERE user = ?1 AND id NOT IN (SELECT id FROM sessions WHERE user = "
      "?1 ORDER BY last_used DESC, created DESC LIMIT ?2)",
      {std::string(user), static_cast<std::int64_t>(options_.max_sessions_per_user - 1)}));
  Session session;
  session.id = crypto::ToHex(crypto::RandomBytes(16));
  session.user = std::string(user);
  session.role = std::string(role);
  session.backend = std::string(backend);
  session.source = std::string(source);
  session.created = FromUnix(now);
  session.session_expires = FromUnix(now + options_.max_lifetime.count());
  // Placeholder digests (never a token's: those are hex) until IssueLocked sets real ones.
  FK_TRY(db_.Run(
      "INSERT INTO sessions (id, user, role, backend, source, created, last_used, expires, "
      "access_digest, access_expires, refresh_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, "
      "'a:' || ?1, 0, 'r:' || ?1)",
      {session.id, session.user, session.role, session.backend, session.source, now,
       now + options_.max_lifetime.count()}));
  IssuedTokens issued = FK_TRY(IssueLocked(std::move(session), now));
  FK_TRY(tx.Commit());
  return issued;
}

Result<Session> SessionStore::Authenticate(std::string_view access_token) {
  if (!LooksLikeAccessToken(access_token)) return InvalidToken();
  const std::string digest = Digest(access_token);
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  std::optional<Session> session = FK_TRY(FindLocked("access_digest", digest, now));
  if (!session || session->expires <= FromUnix(now)) return InvalidToken();
  if (FromUnix(now) - session->last_used >= options_.touch_interval) {
    FK_TRY(db_.Run("UPDATE sessions SET last_used = ?1 WHERE id = ?2", {now, session->id}));
    session->last_used = FromUnix(now);
  }
  return *session;
}

Result<IssuedTokens> SessionStore::Refresh(std::string_view refresh_token) {
  if (!HasShape(refresh_token, kRefreshPrefix)) return InvalidToken();
  const std::string digest = Digest(refresh_token);
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  sql::Transaction tx = FK_TRY(sql::Transaction::Begin(db_));
  std::optional<Session> session = FK_TRY(FindLocked("refresh_digest", digest, now));
  if (!session) {
    // A rotated token presented again: the session's tokens have leaked. End it.
    int ended = FK_TRY(db_.Run(
        "DELETE FROM sessions WHERE id = (SELECT session_id FROM rotated_refresh_tokens WHERE "
        "digest = ?1)",
        {digest}));
    if (ended > 0) FK_TRY(tx.Commit());
    return InvalidToken();
  }
  FK_TRY(db_.Run("INSERT INTO rotated_refresh_tokens (digest, session_id) VALUES (?1, ?2)",
                 {digest, session->id}));
  IssuedTokens issued = FK_TRY(IssueLocked(std::move(*session), now));
  FK_TRY(tx.Commit());
  return issued;
}

Status SessionStore::Logout(std::string_view token) {
  std::string_view column;
  if (HasShape(token, kAccessPrefix)) {
    column = "access_digest";
  } else if (HasShape(token, kRefreshPrefix)) {
    column = "refresh_digest";
  } else {
    return InvalidToken();
  }
  const std::string digest = Digest(token);
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  std::optional<Session> session = FK_TRY(FindLocked(column, digest, now));
  // An expired access token may still log its session out, but not one that is gone.
  if (!session) return InvalidToken();
  FK_TRY(db_.Run("DELETE FROM sessions WHERE id = ?1", {session->id}));
  return {};
}

Status SessionStore::Revoke(std::string_view session_id) {
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  int ended = FK_TRY(db_.Run(
      "DELETE FROM sessions WHERE id = ?1 AND expires > ?2 AND last_used "
      "+ ?3 > ?2",
      {std::string(session_id), now, static_cast<std::int64_t>(options_.idle_timeout.count())}));
  if (ended == 0) {
    return Fail(ErrorCode::kNotFound, "no live session " + std::string(session_id));
  }
  return {};
}

Result<int> SessionStore::RevokeUser(std::string_view user) {
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  sql::Transaction tx = FK_TRY(sql::Transaction::Begin(db_));
  FK_TRY(PurgeEndedLocked(now));
  int ended = FK_TRY(db_.Run("DELETE FROM sessions WHERE user = ?1", {std::string(user)}));
  FK_TRY(db_.Run(
      "INSERT INTO user_revocations (user, revoked_at_ms) VALUES (?1, ?2) ON CONFLICT(user) DO "
      "UPDATE SET revoked_at_ms = max(revoked_at_ms, excluded.revoked_at_ms)",
      {std::string(user), UnixMillis(clock_())}));
  FK_TRY(tx.Commit());
  return ended;
}

Result<std::vector<Session>> SessionStore::List(std::optional<std::string_view> user) {
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  std::string sql = "SELECT " + std::string(kColumns) +
                    " FROM sessions WHERE expires > ?1 AND last_used + ?2 > ?1" +
                    (user ? " AND user = ?3" : "") + " ORDER BY created DESC, id";
  sql::Statement stmt = FK_TRY(db_.Prepare(sql));
  std::vector<sql::Value> params = {now, static_cast<std::int64_t>(options_.idle_timeout.count())};
  if (user) params.emplace_back(std::string(*user));
  FK_TRY(stmt.Bind(params));
  std::vector<Session> out;
  while (FK_TRY(stmt.Step())) out.push_back(ReadSession(stmt));
  return out;
}

Result<int> SessionStore::PurgeEnded() {
  const std::int64_t now = Now();
  std::lock_guard lock(mu_);
  return PurgeEndedLocked(now);
}

Result<int> SessionStore::PurgeEndedLocked(std::int64_t now) {
  FK_TRY(db_.Run("DELETE FROM user_revocations WHERE revoked_at_ms < ?1",
                 {(now - static_cast<std::int64_t>(options_.max_lifetime.count())) * 1000}));
  return db_.Run("DELETE FROM sessions WHERE expires <= ?1 OR last_used + ?2 <= ?1",
                 {now, static_cast<std::int64_t>(options_.idle_timeout.count())});
}

}  // namespace fogkeep::auth
