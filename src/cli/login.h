// `fogkeep login` and `fogkeep logout`: a user's session on a node, its tokens kept in the
// login cache (cli/credentials.h at CredentialCache::Default()) for the commands that follow.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cli/credentials.h"
#include "cli/login_api.h"
#include "cli/node_client.h"
#include "core/error.h"

namespace fogkeep::cli {

struct LoginOutcome {
  Credential credential;     // as cached
  api::SessionInfo session;  // as the node described it
};

// Logs `user` in to target.node with `password` and caches the session's tokens, replacing an
// earlier login to the node. The node's certificate is checked against target.ca, else the
// --ca of the earlier login; the path is cached as an absolute one. --token is ignored.
// Errors: kUnauthenticated "login failed: invalid credentials"; kLimit "... try again in N s"
// when the node throttles logins; transport, TLS and cache errors. When the tokens cannot be
// cached, the new session is ended on the node (best effort) before the error is returned.
Result<LoginOutcome> LogIn(const NodeTarget& target, std::string_view user,
                           std::string_view password);

struct LogoutOutcome {
  std::string node;         // "" when there was no login at all
  bool was_cached = false;  // a login for the node was in the cache (and is now removed)
  // The session had already ended on the node (expired, revoked, logged out elsewhere).
  bool already_ended = false;
  // Why the node could not be told (unreachable, refused): the session stays valid there
  // until credential.session_expires, although its tokens are gone from the cache.
  std::optional<Error> node_error;
  Credential credential;  // the removed login, when was_cached
};

// Ends the session of target.node (or of the only node in the cache when target.node is
// empty) on the node through /api/v1/auth/logout, and removes its tokens from the cache
// whatever the node answered. kInvalidInput when target.node is empty and the cache holds
// several logins; cache errors pass through.
Result<LogoutOutcome> LogOut(const NodeTarget& target);

}  // namespace fogkeep::cli
