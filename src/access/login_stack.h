// Everything a server needs to log people in, built from its `auth:` settings in one call:
// the back-end chain, the brute-force throttle, the session store under the data directory,
// and the authenticator that accepts session tokens and API tokens. Settings weaker than
// fogkeep's defaults are logged and recorded in the server's audit trail before anything is
// served: a weaker setting is the administrator's explicit choice, never a silent one.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "access/auth_config.h"
#include "audit/log.h"
#include "auth/login.h"
#include "auth/sessions.h"
#include "core/error.h"
#include "net/router.h"

namespace fogkeep::access {

struct LoginStack {
  std::shared_ptr<auth::LoginService> login;
  std::shared_ptr<auth::SessionStore> sessions;
  // Session tokens (SessionAuthenticator), else API tokens and root on a Unix socket
  // (TokenAuthenticator over TokensFile(data_dir)).
  std::shared_ptr<net::Authenticator> authenticator;
};

// `server` is the audit trail's actor for the weaker-settings records ("fogkeepd").
Result<LoginStack> OpenLoginStack(const AuthSettings& settings, const std::string& data_dir,
                                  audit::AuditLog& audit, std::string_view server);

}  // namespace fogkeep::access
