// `fogkeep login --director`: a user's OAuth 2.0 login to the fleet's director, as the public
// client "fogkeep-cli", without the password ever reaching this command:
//
//   device grant (default, RFC 8628)  the director hands out a user code; the user signs in and
//                                     approves it on the director's verification page, in any
//                                     browser on any machine, while this command polls
//   --browser (RFC 6749 4.1 + PKCE)   the user signs in and consents in a browser on this
//                                     machine, which the director sends back to a one-shot
//                                     listener on 127.0.0.1 (cli/loopback.h)
//
// Both start from the director's RFC 8414 metadata, whose issuer must be the --director URL,
// and end with the director's JWT access token and rotating refresh token in the login cache
// (cli/credentials.h), marked as OAuth so that NodeClient refreshes them at the token endpoint
// and `fogkeep logout` revokes them.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "cli/credentials.h"
#include "cli/node_client.h"
#include "core/error.h"

namespace fogkeep::cli {

struct OAuthLoginRequest {
  NodeTarget target;  // the director: its URL in `node`, --ca, --insecure-skip-verify
  bool browser = false;
  std::string scope;  // space-separated; "" asks for every scope (the role still limits them)
  std::chrono::seconds browser_timeout = std::chrono::minutes(5);
  bool open_browser = true;  // try xdg-open with the authorization URL
};

struct OAuthLoginOutcome {
  Credential credential;  // as cached
  std::string scope;      // as granted
};

// Runs the login and caches it, replacing an earlier login to the director. What the user must
// do (the verification URI and user code, or the authorization URL) goes to `prompts`. The
// director's certificate is checked against target.ca, else the --ca of the earlier login to
// it. Errors: kForbidden when the user denied, kUnauthenticated when the code expired,
// kUnavailable when the browser did not come back in time, kIntegrity when the metadata or
// the redirect belong to another server or request; transport, TLS and cache errors. When the
// tokens cannot be cached, they are revoked (best effort) before the error is returned.
Result<OAuthLoginOutcome> OAuthLogIn(const OAuthLoginRequest& request, std::ostream& prompts);

// Revokes `login`'s refresh token (and so its whole grant, access tokens included) at the
// director's revocation endpoint (RFC 7009), over a connection checked against `ca`.
Status RevokeOAuthLogin(const Credential& login, const std::string& ca, bool insecure);

}  // namespace fogkeep::cli
