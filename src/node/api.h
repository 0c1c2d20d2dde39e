// The node HTTP API (/healthz, /metrics, /api/v1/...), registered on a net::Router and served
// by fogkeepd on its HTTPS and Unix listeners. Handlers translate between the wire types of
// api/node.h and AppService calls, and nothing else: every decision about apps is the
// service's. Errors become {"error": {...}} with net's one status mapping.
//
// Every non-public route names the permission it needs, so one access-control matrix can
// govern them all:
//   apps.read       GET /api/v1/apps, /apps/{id}, /apps/{id}/logs, /apps/{id}/metrics,
//                   /apps/{id}/config
//   apps.write      POST /api/v1/apps (install), DELETE /apps/{id}, POST /apps/{id}/{action},
//                   POST /apps/{id}/upgrade, PUT /apps/{id}/config
//   platform.read   GET /api/v1/platform/trust, /api/v1/platform/policy
//   platform.write  PUT /api/v1/platform/trust, /api/v1/platform/policy
//   metrics.read    GET /metrics
//   audit.read      GET /api/v1/audit (node/audit_api.h)
//   alerts.read     GET /api/v1/alerts; alerts.write POST /api/v1/alerts (node/alerts/routes.h)
// GET /healthz is public.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/roles.h"
#include "core/error.h"
#include "net/router.h"
#include "node/app_service.h"

namespace fogkeep::node {

// The permissions the node's routes name; the matrix that gives them to roles is auth/roles.h.
using auth::kPermissionAppsRead;
using auth::kPermissionAppsWrite;
using auth::kPermissionAuditRead;
using auth::kPermissionMetricsRead;
using auth::kPermissionPlatformRead;
using auth::kPermissionPlatformWrite;

struct ApiOptions {
  // Package uploads (install, upgrade) larger than this are refused with 413.
  std::uint64_t max_upload_bytes = 512ull << 20;
  // package_config.ini uploads.
  std::uint64_t max_config_bytes = 64 << 10;
  // How often a followed log is polled for new output.
  std::chrono::milliseconds log_poll_interval{500};
  // Reported by /healthz.
  std::string version = "0.1.0";
  // Open connections for /metrics, when the server can tell; omitted otherwise.
  std::function<std::optional<std::uint64_t>()> open_connections;
};

// Registers every route above on `router`. The handlers share ownership of `apps`.
Status RegisterNodeApi(net::Router& router, std::shared_ptr<AppService> apps,
                       ApiOptions options = {});

}  // namespace fogkeep::node
