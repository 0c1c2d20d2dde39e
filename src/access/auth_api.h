// Login sessions at an API edge (fogkeepd's and the director's): the routes over
// auth::LoginService, and the authenticator that accepts a session's access token beside the
// server's API tokens.
//
//   POST   /api/v1/auth/login          public           {"user","password"} → LoginResult;
//                                                       401 "invalid credentials" for every
//                                                       refusal; 429 + Retry-After when throttled;
//                                                       503 + Retry-After when too many logins
//                                                       are being checked; 400 for a user name
//                                                       with control characters or surrounding
//                                                       spaces (one person, one lockout record)
//   POST   /api/v1/auth/refresh        public           {"refresh_token"} → LoginResult (both
//                                                       tokens rotate); 401
//   POST   /api/v1/auth/logout         session.self     ends the caller's session; 204
//   GET    /api/v1/auth/whoami         session.self     who the caller is (WhoAmI)
//   GET    /api/v1/auth/sessions       sessions.manage  live sessions (?user=U)
//   DELETE /api/v1/auth/sessions/{id}  sessions.manage  revokes one; 204
//
// Every login and refresh, accepted or not, reaches the audit trail through the server's
// audit sink: the handlers name the user as the request's principal and put what the
// back-ends said in Request::audit_note. Wire types: api/node.h.
#pragma once

#include <memory>

#include "auth/login.h"
#include "auth/sessions.h"
#include "core/error.h"
#include "net/router.h"

namespace fogkeep::access {

struct AuthApiOptions {
  // Logins checked at once. Each holds one of the server's worker threads for as long as its
  // back-ends take (argon2id, or RADIUS timeouts × retries × servers); more are answered 503
  // with Retry-After at once, so that callers who need no account cannot occupy every worker.
  // Keep it below the server's worker_threads.
  int max_logins_in_flight = 2;
};

Status RegisterAuthApi(net::Router& router, std::shared_ptr<auth::LoginService> login,
                       AuthApiOptions options = {});

// A bearer token with the shape of a session access token (auth::LooksLikeAccessToken) is
// checked against `sessions` and yields the session's user and role (mechanism "session");
// any other request goes to `fallback` (API tokens, root on the Unix socket).
class SessionAuthenticator : public net::Authenticator {
 public:
  SessionAuthenticator(std::shared_ptr<auth::SessionStore> sessions,
                       std::shared_ptr<net::Authenticator> fallback)
      : sessions_(std::move(sessions)), fallback_(std::move(fallback)) {}

  Result<net::Principal> Authenticate(const net::Request& request) override;
  // Sessions live in SQLite, and a use is written down now and then.
  bool MayBlock(const net::Request& request) const override;

 private:
  const std::shared_ptr<auth::SessionStore> sessions_;
  const std::shared_ptr<net::Authenticator> fallback_;
};

}  // namespace fogkeep::access
