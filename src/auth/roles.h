// The one access-control matrix of fogkeep: which role holds which permission.
//
// Every API route names the permission it needs; the HTTP layer asks RoleHolds() and nothing
// else, so this table is the whole policy. Roles and permissions are plain strings on the wire
// (tokens, the audit log, RADIUS/PAM role mappings) and constants here.
//
//   admin            every permission, including any not listed below
//   app-manager      install, upgrade, start/stop, validate and monitor apps; the apps' secure
//                    storage; the fleet's catalog and deployments; sees platform settings,
//                    networks (to attach apps to them), devices, fleet policies and alerts
//   network-manager  node provisioning: interfaces and networks, platform settings (trust,
//                    policy), enrollment, platform start/stop, platform logs; the fleet's
//                    devices (tags, decommissioning) and fleet policies; a host traffic
//                    sensor's alerts (watching the network is this role's work); sees apps,
//                    the catalog and deployments
//   auditor          read-only: everything that is *.read except the apps' secure storage
//                    (secrets are not evidence), including the audit log and the user list
//
// A permission that no row names belongs to admin alone, so a route added with a new
// permission is closed to everyone else until the matrix says otherwise.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fogkeep::auth {

inline constexpr std::string_view kRoleAdmin = "admin";
inline constexpr std::string_view kRoleAppManager = "app-manager";
inline constexpr std::string_view kRoleNetworkManager = "network-manager";
inline constexpr std::string_view kRoleAuditor = "auditor";

// The names node/api.h already uses keep their meaning.
inline constexpr std::string_view kPermissionAppsRead = "apps.read";
inline constexpr std::string_view kPermissionAppsWrite = "apps.write";
inline constexpr std::string_view kPermissionStorageRead = "storage.read";
inline constexpr std::string_view kPermissionStorageWrite = "storage.write";
inline constexpr std::string_view kPermissionMetricsRead = "metrics.read";
inline constexpr std::string_view kPermissionPlatformRead = "platform.read";
inline constexpr std::string_view kPermissionPlatformWrite = "platform.write";
inline constexpr std::string_view kPermissionNetworkRead = "network.read";
inline constexpr std::string_view kPermissionNetworkWrite = "network.write";
inline constexpr std::string_view kPermissionEnroll = "enroll";
inline constexpr std::string_view kPermissionDevicesRead = "devices.read";
inline constexpr std::string_view kPermissionDevicesWrite = "devices.write";
inline constexpr std::string_view kPermissionCatalogRead = "catalog.read";
inline constexpr std::string_view kPermissionCatalogWrite = "catalog.write";
inline constexpr std::string_view kPermissionDeploymentsRead = "deployments.read";
inline constexpr std::string_view kPermissionDeploymentsWrite = "deployments.write";
inline constexpr std::string_view kPermissionPoliciesRead = "policies.read";
inline constexpr std::string_view kPermissionPoliciesWrite = "policies.write";
inline constexpr std::string_view kPermissionLogsRead = "logs.read";
inline constexpr std::string_view kPermissionAlertsRead = "alerts.read";
inline constexpr std::string_view kPermissionAlertsWrite = "alerts.write";
inline constexpr std::string_view kPermissionAuditRead = "audit.read";
inline constexpr std::string_view kPermissionUsersRead = "users.read";
inline constexpr std::string_view kPermissionUsersManage = "users.manage";
inline constexpr std::string_view kPermissionSessionsManage = "sessions.manage";
// Admins only: OAuth clients decide who may act for whom.
inline constexpr std::string_view kPermissionOAuthClientsManage = "oauth-clients.manage";
// Every role holds it: the routes about the caller's own session (whoami, logout).
inline constexpr std::string_view kPermissionSessionSelf = "session.self";

// A permission and what it lets its holder do (one line, for the README table and `--help`).
struct PermissionInfo {
  std::string_view name;
  std::string_view description;
};

// The four roles, admin first.
std::span<const std::string_view> AllRoles();
// Every permission the matrix names, in table order.
std::span<const PermissionInfo> AllPermissions();

bool IsKnownRole(std::string_view role);
bool IsKnownPermission(std::string_view permission);

// Whether `role` holds `permission`. admin holds every permission, known or not; other roles
// hold only what their row names; an unknown or empty role holds nothing, and nobody holds the
// empty permission except admin.
bool RoleHolds(std::string_view role, std::string_view permission);

// The most an app's own OAuth client may hold (IOx's `access-control: oauth2`): platform.read,
// metrics.read, network.read, apps.read and alerts.read, all read-only. Such a client acts
// with the auditor role, which holds each of them, so its scopes alone decide.
inline constexpr std::string_view kAppClientRole = kRoleAuditor;
bool IsAppOAuthScope(std::string_view permission);
// What an app that names no scope gets: platform.read and metrics.read (apps.read would also
// show it the other apps, their logs and configuration: an app must ask for that).
std::vector<std::string> DefaultAppOAuthScopes();

// The matrix as a GitHub Markdown table: one row per permission (name, description) and one
// column per role with "✓" where the role holds it. Ends with a newline. The README carries
// this text verbatim, and a test compares the two.
std::string PermissionMatrixMarkdown();

}  // namespace fogkeep::auth
