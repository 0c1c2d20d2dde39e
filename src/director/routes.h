// Every route fogkeep-director serves, registered in one place (the daemon serves exactly
// this router, and the authorization test walks it).
//
//   GET    /healthz                              public
//   GET    /.well-known/est/cacerts              public      the fleet CA (certs-only PKCS#7)
//   POST   /.well-known/est/simpleenroll         public      "Authorization: Bearer <token>" +
//                                                            PKCS#10 → the node's certificate
//   POST   /.well-known/est/simplereenroll       node.self   renewal over mutual TLS
//   GET    /api/v1/node/desired                  node.self   DesiredState; ETag; If-None-Match
//                                                            + ?wait=S long-polls (304)
//   POST   /api/v1/node/report                   node.self   NodeReport → 204; its alerts are
//                                                            kept per device, each (device,
//                                                            seq) once
//   GET    /api/v1/alerts                        alerts.read ?device=&tag=&detector=
//                                                            &min_severity=&since=&limit= →
//                                                            AlertList (api/alert.h)
//   GET    /api/v1/devices/{id}/alerts           alerts.read the same for one device
//   POST   /api/v1/enrollment-tokens             enroll      EnrollmentTokenRequest → 201
//   GET    /api/v1/enrollment-tokens             enroll
//   DELETE /api/v1/enrollment-tokens/{id}        enroll      → 204
//   GET    /api/v1/devices                       devices.read  ?tag=&status=&app=
//   GET    /api/v1/devices/{id}                  devices.read
//   PATCH  /api/v1/devices/{id}                  devices.write DeviceUpdate (name, tags)
//   POST   /api/v1/devices/{id}/decommission     devices.write revokes it → DeviceInfo
//   POST   /api/v1/catalog                       catalog.write the package file as the body
//                                                              (streamed, verified against the
//                                                              "*" policy) → 201 CatalogPackage
//   GET    /api/v1/catalog                       catalog.read  CatalogList
//   DELETE /api/v1/catalog/{name}/{version}      catalog.write → 204; 409 while deployed
//   GET    /api/v1/node/packages/{name}/{version} node.self    the package bytes
//   PUT    /api/v1/policies/{tag}                policies.write FleetPolicyDoc → FleetPolicyDoc
//   GET    /api/v1/policies                      policies.read FleetPolicyList
//   DELETE /api/v1/policies/{tag}                policies.write → 204
//   POST   /api/v1/deployments                   deployments.write DeploymentRequest → 201
//                                                              DeploymentInfo
//   GET    /api/v1/deployments                   deployments.read DeploymentList
//   GET    /api/v1/deployments/{id}              deployments.read DeploymentInfo with targets
//   POST   /api/v1/deployments/{id}/{action}     deployments.write pause | resume | cancel |
//                                                              rollback | undeploy
//   plus the login routes (access/auth_api.h), GET /api/v1/audit (access/audit_api.h) and the
//   OAuth 2.0 authorization server's routes (oauth_routes.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "access/auth_api.h"
#include "audit/log.h"
#include "auth/login.h"
#include "core/error.h"
#include "crypto/tls.h"
#include "director/catalog.h"
#include "director/enrollment.h"
#include "director/generation_watch.h"
#include "director/oauth_server.h"
#include "director/rollout.h"
#include "director/store.h"
#include "net/router.h"

namespace fogkeep::director {

struct DirectorServices {
  std::shared_ptr<FleetStore> store;
  std::shared_ptr<Enrollment> enrollment;
  std::shared_ptr<Catalog> catalog;
  std::shared_ptr<Rollouts> rollouts;
  // Signs every desired state (its certificate chains to the fleet CA): the director's own
  // TLS identity.
  std::shared_ptr<const crypto::TlsIdentity> signer;
  std::shared_ptr<GenerationWatch> generations;
  std::shared_ptr<audit::AuditLog> audit;
  std::shared_ptr<auth::LoginService> login;
  // The OAuth 2.0 authorization server (oauth_routes.h); null: no OAuth routes.
  std::shared_ptr<AuthorizationServer> oauth;
  access::AuthApiOptions auth_api;
  std::string version = "0.1.0";
  // Package uploads larger than this are refused with 413 (they are held in memory).
  std::uint64_t max_package_bytes = 256ull << 20;
  // Alerts kept per device; older ones are pruned as new ones arrive.
  std::int64_t alerts_per_device = 10'000;
  // The longest a node's long-poll waits for its desired state to change.
  std::chrono::seconds max_poll_wait{60};
  Clock clock = SystemNow;
};

Status RegisterDirectorRoutes(net::Router& router, const DirectorServices& services);

}  // namespace fogkeep::director
