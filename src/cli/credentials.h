// The token cache behind `fogkeep login` and `fogkeep fleet login`: per server (a node, or the
// fleet's director), the tokens of one login session, so that later commands need no --token.
//
// File: $XDG_CONFIG_HOME/fogkeep/credentials.json, else $HOME/.config/fogkeep/credentials.json.
// It holds bearer credentials, so it is mode 0600 in a directory created 0700, replaced
// atomically on every change, and refused (kIntegrity, with the command that fixes it) when
// another user owns it, when group or others may read or write it, or when it is a symlink.
// Its content is parsed as untrusted input: a wrong type is kInvalidInput naming the field.
//
//   {"version": 1, "logins": [{"node": "https://host:8443", "user": "alice", "role": "auditor",
//     "access_token": "fka_...", "refresh_token": "fkr_...", "access_expires": 1767225600,
//     "session_expires": 1767268800, "ca": "/home/alice/node.pem"},
//     {"node": "https://dir:9443", "server": "director", ...}]}
//
// "node" is the server's URL whatever the server is (the key predates directors); "server" is
// absent for a node, so files written before directors existed read unchanged.
//
// A login made with OAuth (`fogkeep login --director`) also holds
//   "oauth": {"client_id": "fogkeep-cli", "token_endpoint": "https://dir:9443/oauth2/token",
//             "revocation_endpoint": "https://dir:9443/oauth2/revoke"}
// and its tokens are the director's JWT access token and its rotating refresh token. Such a
// login has no end this machine knows of ("session_expires" is 0): the director decides, and
// says so by refusing the refresh token.
//
// Changes go through Update, which holds an flock on "credentials.json.lock" beside the file
// while it reads, calls back and writes. A token refresh runs inside that callback, so two
// fogkeep processes never refresh one session at once (the node would take the second refresh
// of a rotated token as theft and end the session).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::cli {

// The servers a login can be to: fogkeepd's node API, or fogkeep-director's fleet API.
enum class ServerKind { kNode, kDirector };

// How an OAuth login is refreshed and ended: the client it logged in as and the director's
// endpoints, from the director's RFC 8414 metadata, each on the director's own origin.
struct OAuthGrant {
  std::string client_id;
  std::string token_endpoint;
  std::string revocation_endpoint;  // "" when the director has none

  bool operator==(const OAuthGrant&) const = default;
};

// One server's login. Times are this machine's clock.
struct Credential {
  std::string node;  // canonical URL of the server (CanonicalServerUrl), the key
  std::string user;
  std::string role;
  std::string access_token;
  std::string refresh_token;
  std::chrono::system_clock::time_point access_expires;
  std::chrono::system_clock::time_point session_expires;
  std::string ca;  // the --ca given at login (absolute path), "" when none
  ServerKind server = ServerKind::kNode;
  std::optional<OAuthGrant> oauth;  // set for an OAuth login (to a director only)

  bool operator==(const Credential&) const = default;
};

// Whether `text` can be sent as a bearer token: 1 to 1024 visible ASCII characters, so that
// no token read from a file or an answer can inject header lines.
bool IsBearerToken(std::string_view text);
// Whether `text` may be shown on a terminal: no control characters (escape sequences), at
// most 4096 bytes.
bool IsDisplaySafe(std::string_view text);

// Whether the access token is still good at `now`, with a margin for the request's flight.
bool AccessTokenCurrent(const Credential& credential, std::chrono::system_clock::time_point now);
// Whether the session may still be refreshed at `now`. Always true for an OAuth login: only
// the director knows when its refresh token ends.
bool SessionAlive(const Credential& credential, std::chrono::system_clock::time_point now);

// $XDG_CONFIG_HOME/fogkeep/credentials.json when XDG_CONFIG_HOME is an absolute path, else
// $HOME/.config/fogkeep/credentials.json; kInvalidInput when neither variable is usable.
Result<std::string> DefaultCredentialsPath();

class CredentialCache {
 public:
  // The cache in the file at `path`; nothing is read or created until a call needs it.
  explicit CredentialCache(std::string path) : path_(std::move(path)) {}
  // The cache at DefaultCredentialsPath().
  static Result<CredentialCache> Default();

  const std::string& path() const { return path_; }

  // The login for the server at URL `node`, or nullopt when there is none (also when the file
  // does not exist).
  Result<std::optional<Credential>> Find(std::string_view node) const;
  // Every login, in the file's order.
  Result<std::vector<Credential>> List() const;

  // Reads the current login for `node` (nullopt when none) under the lock and passes it to
  // `update`, which returns the login to keep (replacing or adding it), nullopt to remove it,
  // or an error, which leaves the file untouched and is returned. Waits up to 30 s for another
  // fogkeep holding the lock (then kUnavailable). The file is rewritten only when it changes;
  // the directory is created (0700) when missing.
  using Updater = std::function<Result<std::optional<Credential>>(std::optional<Credential>)>;
  Status Update(std::string_view node, const Updater& update);

  // Adds or replaces the login for credential.node.
  Status Store(const Credential& credential);
  // Removes the login for `node`; returns whether there was one.
  Result<bool> Remove(std::string_view node);

 private:
  std::string path_;
};

}  // namespace fogkeep::cli
