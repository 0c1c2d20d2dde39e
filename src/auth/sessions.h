// SessionStore: what a successful login gets, in SQLite so that sessions survive a restart of
// fogkeepd.
//
// A login creates a session bound to one user and the role the back-end gave, and two tokens:
//   access token   "fka_" + 43 base64url characters (256 random bits), sent as
//                  "Authorization: Bearer ..." on every request; lives access_ttl.
//   refresh token  "fkr_" + 43 base64url characters (256 random bits), sent only to refresh;
//                  each refresh replaces both tokens (rotation), and the old refresh token dies.
// A session ends at the first of: logout, revocation (by an admin, or of all a user's sessions
// when the user is removed or changes role), idle_timeout without any use of either token,
// or max_lifetime after login. Presenting a refresh token that was already rotated away is
// taken as theft (someone else holds a copy) and revokes the whole session, as RFC 9700
// (OAuth 2.0 Security BCP, 4.14.2) recommends.
//
// Only SHA-256 digests of tokens are stored, so a copy of the database yields no credential.
// Lookups go by digest (an index on a hash of the secret leaks nothing about the secret) and
// the digest found is compared again in constant time.
//
// Writes: every login, refresh and logout commits (synchronous=FULL). Using an access token
// records the time of use at most once per touch_interval per session, so the idle timeout is
// exact to within touch_interval and ordinary requests rarely write.
//
// Every token that does not authenticate gets kUnauthenticated "invalid or expired token",
// whatever the cause; a database that fails is kUnavailable. Thread-safe (one mutex around
// the connection); several processes may open the same file (the CLI revokes sessions while
// the daemon runs). Clients must not refresh one session twice at once: the second refresh
// presents a rotated token and ends the session.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/sqlite.h"

namespace fogkeep::auth {

struct SessionOptions {
  std::chrono::seconds access_ttl{std::chrono::minutes(15)};
  std::chrono::seconds idle_timeout{std::chrono::minutes(30)};
  std::chrono::seconds max_lifetime{std::chrono::hours(12)};
  std::chrono::seconds touch_interval{std::chrono::minutes(1)};
  // Logging in once more beyond this ends the user's least recently used session.
  std::size_t max_sessions_per_user = 16;
};

// kInvalidInput unless 0 < access_ttl <= max_lifetime, 0 < idle_timeout, touch_interval >= 0
// and below idle_timeout, and max_sessions_per_user >= 1.
Status ValidateSessionOptions(const SessionOptions& options);

struct Session {
  std::string id;  // public identifier (32 hex): for listing, revoking and the audit log
  std::string user;
  std::string role;
  std::string backend;  // the back-end that accepted the login ("local", "radius", "pam")
  std::string source;   // the address the login came from
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point last_used;
  // When the current access token stops working (never after session_expires).
  std::chrono::system_clock::time_point expires;
  // When the session ends whatever happens (login + max_lifetime).
  std::chrono::system_clock::time_point session_expires;
};

// What login and refresh hand to the client. The tokens exist only here and on the client.
struct IssuedTokens {
  std::string access_token;
  std::string refresh_token;
  Session session;
};

// Whether `token` has the shape of an access token of this store (its prefix), so that the
// HTTP layer can send other bearer tokens elsewhere.
bool LooksLikeAccessToken(std::string_view token);

class SessionStore {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // Opens (creating, mode 0600) the database at `path`; ":memory:" for a private in-memory
  // store. kInvalidInput for bad options; kIntegrity for a path that is not a regular file.
  static Result<std::unique_ptr<SessionStore>> Open(const std::string& path,
                                                    SessionOptions options = {}, Clock clock = {});

  // Starts a session for an authenticated user. kInvalidInput for an empty user or unknown role.
  // `checked_since`: when the check of the user's password began. When RevokeUser ran for the
  // user at or after that moment (the password or role changed, or the user was removed, while
  // the back-ends were still being asked), no session is made: kUnauthenticated
  // "invalid credentials".
  Result<IssuedTokens> Create(
      std::string_view user, std::string_view role, std::string_view backend,
      std::string_view source,
      std::optional<std::chrono::system_clock::time_point> checked_since = std::nullopt);

  // The session an access token belongs to, if the token is current and the session alive.
  Result<Session> Authenticate(std::string_view access_token);

  // Rotates the session's tokens. A refresh token that was already rotated revokes the session.
  Result<IssuedTokens> Refresh(std::string_view refresh_token);

  // Ends the session that `token` (its access or its current refresh token) belongs to.
  // kUnauthenticated when the token belongs to no live session.
  Status Logout(std::string_view token);

  // Ends one session by id; kNotFound when no live session has it.
  Status Revoke(std::string_view session_id);
  // Ends every session of `user`, and any that a login checked before now would still create
  // (see Create); returns how many were live.
  Result<int> RevokeUser(std::string_view user);

  // Live sessions, of one user or of all, most recent login first.
  Result<std::vector<Session>> List(std::optional<std::string_view> user = std::nullopt);

  // Deletes ended sessions (expired, idle or revoked) and their rotated tokens. Create calls
  // it; the daemon may call it on a timer. Returns the number of sessions deleted.
  Result<int> PurgeEnded();

  const SessionOptions& options() const { return options_; }
  // The store's clock, for `checked_since`.
  std::chrono::system_clock::time_point now() const { return clock_(); }

 private:
  SessionStore(sql::Database db, SessionOptions options, Clock clock)
      : options_(options), clock_(std::move(clock)), db_(std::move(db)) {}

  std::int64_t Now() const;
  static std::int64_t UnixMillis(std::chrono::system_clock::time_point t);
  // The live session (neither past its end nor idle at `now`) whose `column` holds `digest`.
  Result<std::optional<Session>> FindLocked(std::string_view column, const std::string& digest,
                                            std::int64_t now);
  Result<IssuedTokens> IssueLocked(Session session, std::int64_t now);
  Result<int> PurgeEndedLocked(std::int64_t now);

  // Constant after construction.
  const SessionOptions options_;
  const Clock clock_;

  std::mutex mu_;
  sql::Database db_;  // guarded by mu_
};

}  // namespace fogkeep::auth
