// `fogkeep login` and `fogkeep logout` (and `fogkeep fleet login`/`logout` for the director): a
// user's session on a server, its tokens kept in the login cache (cli/credentials.h at
// CredentialCache::Default()) for the commands that follow.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cli/credentials.h"
#include "cli/login_api.h"
#include "cli/node_client.h"
#include "core/error.h"

namespace CLI {
class App;
}

namespace fogkeep::cli {

struct LoginOutcome {
  Credential credential;     // as cached
  api::SessionInfo session;  // as the server described it
};

// Where the certificate of the server at canonical URL `url` is checked against for a login:
// target.ca (made absolute, so that the cached path works from any directory), else the --ca of
// the earlier login to the server (of target.server's kind); "" with --insecure-skip-verify.
Result<std::string> LoginCa(const NodeTarget& target, const std::string& url);

// Logs `user` in to target.node (a node, or the director when target.server says so) with
// `password` and caches the session's tokens, replacing an earlier login to the server. The
// server's certificate is checked against target.ca, else the --ca of the earlier login; the
// path is cached as an absolute one. --token is ignored.
// Errors: kUnauthenticated "login failed: invalid credentials"; kLimit "... try again in N s"
// when the server throttles logins; transport, TLS and cache errors. When the tokens cannot be
// cached, the new session is ended on the server (best effort) before the error is returned.
Result<LoginOutcome> LogIn(const NodeTarget& target, std::string_view user,
                           std::string_view password);

struct LogoutOutcome {
  std::string node;         // the server's URL; "" when there was no login at all
  bool was_cached = false;  // a login for the node was in the cache (and is now removed)
  // The session had already ended on the node (expired, revoked, logged out elsewhere).
  bool already_ended = false;
  // Why the node could not be told (unreachable, refused): the session stays valid there
  // until credential.session_expires, although its tokens are gone from the cache.
  std::optional<Error> node_error;
  Credential credential;  // the removed login, when was_cached
};

// Ends the session of target.node (or of the only server of target.server's kind in the cache
// when target.node is empty) on the server through /api/v1/auth/logout (an OAuth login's:
// by revoking its refresh token at the director, cli/oauth_login.h), and removes its tokens
// from the cache whatever the server answered. kInvalidInput when target.node is empty and the
// cache holds several logins of the kind; cache errors pass through.
Result<LogoutOutcome> LogOut(const NodeTarget& target);

// Adds `login` and `logout` for servers of `kind` to `parent`: the root command for nodes (and
// for the director's OAuth login, --director), `fleet` for the director's password login.
void AddLoginCommands(CLI::App& parent, ServerKind kind);

}  // namespace fogkeep::cli
