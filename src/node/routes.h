// Every route fogkeepd serves, registered in one place: the daemon serves exactly this
// router, and the authorization-matrix test walks exactly this router, so an endpoint added
// here without an entry in that test's table fails it.
#pragma once

#include <memory>

#include "access/auth_api.h"
#include "audit/log.h"
#include "auth/login.h"
#include "core/error.h"
#include "net/router.h"
#include "node/alerts/intake.h"
#include "node/api.h"
#include "node/app_service.h"
#include "node/sss/routes.h"

namespace fogkeep::node {

struct NodeServices {
  std::shared_ptr<AppService> apps;
  ApiOptions api;
  std::shared_ptr<audit::AuditLog> audit;
  std::shared_ptr<auth::LoginService> login;
  access::AuthApiOptions auth_api;
  // The apps' secure storage, reached by administrators; null: its routes are not served.
  std::shared_ptr<sss::StorageServices> storage;
  // Security alerts (node/alerts/routes.h); null: their routes are not served.
  std::shared_ptr<alerts::AlertIntake> alerts;
};

// The node API (node/api.h), GET /api/v1/audit (node/audit_api.h), the login routes
// (node/auth_api.h), the apps' secure storage (node/sss/routes.h) and the alerts
// (node/alerts/routes.h).
Status RegisterNodeRoutes(net::Router& router, const NodeServices& services);

}  // namespace fogkeep::node
