// LoginService: POST /api/v1/auth/login in one call. It asks the throttle, then the chain of
// back-ends, reports the outcome to the throttle, and on success starts a session:
//
//   Admit(user, source) ── refused ──> kLimit "too many failed login attempts; try again in N s"
//        │ admitted
//   chain.Authenticate ── refused ──> RecordFailure ──> kUnauthenticated "invalid credentials"
//        │            └─ no back-end decided ──> RecordAbandoned ──> (the same answer)
//        │ accepted
//   RecordSuccess ──> sessions.Create(user, role, backend, source) ──> IssuedTokens
//
// Unknown users and wrong passwords take the same path, get the same answer and (with the
// local store's dummy hash) the same time. What really happened goes to LoginReport, for the
// audit log; it never goes into the answer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/chain.h"
#include "auth/lockout.h"
#include "auth/sessions.h"
#include "core/error.h"

namespace fogkeep::auth {

// For the audit log and the HTTP layer; never for the response body.
struct LoginReport {
  ChainTrace trace;  // empty when the throttle refused
  // Set when the throttle refused: the HTTP layer sends it as Retry-After (rounded up to
  // seconds), and the audit log notes whether the user or the source was locked.
  std::chrono::milliseconds retry_after{0};
  Admission admission;

  // retry_after as Retry-After wants it: whole seconds, rounded up, at least 1 (RFC 9110,
  // 10.2.3).
  std::int64_t RetryAfterSeconds() const {
    return std::max<std::int64_t>(std::chrono::ceil<std::chrono::seconds>(retry_after).count(), 1);
  }
};

class LoginService {
 public:
  LoginService(std::shared_ptr<const AuthChain> chain, std::shared_ptr<LoginThrottle> throttle,
               std::shared_ptr<SessionStore> sessions)
      : chain_(std::move(chain)), throttle_(std::move(throttle)), sessions_(std::move(sessions)) {}

  // The throttle and the back-ends without a session: who `user` is when `password` is
  // right (the OAuth authorization page, which issues codes, not sessions). Errors: kLimit
  // (throttled; report->retry_after says how long) or kUnauthenticated "invalid credentials"
  // (every refusal). Thread-safe.
  Result<Identity> Verify(std::string_view user, std::string_view password, std::string_view source,
                          LoginReport* report = nullptr);

  // Verify, then a session. Errors: Verify's, or the session store's (kUnavailable) after a
  // successful check. Thread-safe.
  Result<IssuedTokens> Login(std::string_view user, std::string_view password,
                             std::string_view source, LoginReport* report = nullptr);

  SessionStore& sessions() { return *sessions_; }

 private:
  // Constant after construction.
  const std::shared_ptr<const AuthChain> chain_;
  const std::shared_ptr<LoginThrottle> throttle_;
  const std::shared_ptr<SessionStore> sessions_;
};

}  // namespace fogkeep::auth
