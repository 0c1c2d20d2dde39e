#include "node/routes.h"

#include "node/audit_api.h"
#include "node/auth_api.h"

namespace fogkeep::node {

Status RegisterNodeRoutes(net::Router& router, const NodeServices& services) {
  FK_TRY(RegisterNodeApi(router, services.apps, services.api));
  FK_TRY(RegisterAuditApi(router, services.audit));
  return RegisterAuthApi(router, services.login, services.auth_api);
}

}  // namespace fogkeep::node
