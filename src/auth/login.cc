#include "auth/login.h"

namespace fogkeep::auth {

Result<Identity> LoginService::Verify(std::string_view user, std::string_view password,
                                      std::string_view source, LoginReport* report) {
  LoginReport local;
  LoginReport& out = report != nullptr ? *report : local;
  out = LoginReport{};

  out.admission = throttle_->Admit(user, source);
  if (!out.admission.allowed) {
    out.retry_after = out.admission.retry_after;
    auto secs = std::chrono::ceil<std::chrono::seconds>(out.retry_after).count();
    return Fail(ErrorCode::kLimit,
                "too many failed login attempts; try again in " + std::to_string(secs) + " s");
  }
  Result<Identity> identity = chain_->Authenticate(user, password, source, &out.trace);
  if (!identity) {
    if (out.trace.decided()) {
      throttle_->RecordFailure(user, source);
    } else {
      throttle_->RecordAbandoned(user, source);
    }
    return Fail(ErrorCode::kUnauthenticated, "invalid credentials");
  }
  throttle_->RecordSuccess(user, source);
  return identity;
}

Result<IssuedTokens> LoginService::Login(std::string_view user, std::string_view password,
                                         std::string_view source, LoginReport* report) {
  const auto checked_since = sessions_->now();
  Identity identity = FK_TRY(Verify(user, password, source, report));
  return sessions_->Create(identity.user, identity.role, identity.backend, source, checked_since);
}

}  // namespace fogkeep::auth
