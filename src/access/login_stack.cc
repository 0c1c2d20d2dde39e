#include "access/login_stack.h"

#include "access/auth_api.h"
#include "access/auth_token.h"
#include "core/log.h"

namespace fogkeep::access {

Result<LoginStack> OpenLoginStack(const AuthSettings& settings, const std::string& data_dir,
                                  audit::AuditLog& audit, std::string_view server) {
  for (const std::string& weaker : WeakerThanDefaults(settings)) {
    log::Warn("weaker than the default: {}", weaker);
    const audit::Event event{.actor = std::string(server),
                             .source = "local",
                             .action = "config.weaker",
                             .target = "auth",
                             .result = "accepted",
                             .detail = weaker};
    FK_TRY(audit.Append(event));
  }
  std::unique_ptr<auth::AuthChain> chain = FK_TRY(BuildAuthChain(settings, data_dir));
  std::unique_ptr<auth::LoginThrottle> throttle =
      FK_TRY(auth::LoginThrottle::Create(settings.throttle));
  std::shared_ptr<auth::SessionStore> sessions =
      FK_TRY(auth::SessionStore::Open(SessionsFile(data_dir), settings.sessions));
  LoginStack stack;
  stack.sessions = sessions;
  stack.login =
      std::make_shared<auth::LoginService>(std::move(chain), std::move(throttle), sessions);
  stack.authenticator = std::make_shared<SessionAuthenticator>(
      sessions, std::make_shared<TokenAuthenticator>(TokensFile(data_dir)));
  return stack;
}

}  // namespace fogkeep::access
