#include "node/routes.h"

#include "access/audit_api.h"
#include "access/auth_api.h"
#include "node/alerts/routes.h"

namespace fogkeep::node {

Status RegisterNodeRoutes(net::Router& router, const NodeServices& services) {
  FK_TRY(RegisterNodeApi(router, services.apps, services.api));
  FK_TRY(access::RegisterAuditApi(router, services.audit));
  FK_TRY(access::RegisterAuthApi(router, services.login, services.auth_api));
  if (services.storage) {
    // An app that is not installed has no store to show: 404, not an empty one.
    std::shared_ptr<AppService> apps = services.apps;
    FK_TRY(sss::RegisterAdminStorageRoutes(router, services.storage,
                                           [apps](const std::string& id) -> Status {
                                             FK_TRY(apps->Get(id));
                                             return {};
                                           }));
  }
  if (services.alerts) FK_TRY(alerts::RegisterAlertRoutes(router, services.alerts));
  return {};
}

}  // namespace fogkeep::node
