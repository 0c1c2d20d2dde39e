#include "auth/roles.h"

#include <array>
#include <initializer_list>

namespace fogkeep::auth {
namespace {

constexpr std::array<std::string_view, 4> kRoles = {kRoleAdmin, kRoleAppManager,
                                                    kRoleNetworkManager, kRoleAuditor};

constexpr std::array<PermissionInfo, 27> kPermissions = {{
    {kPermissionAppsRead, "list apps, their state, logs, metrics and configuration"},
    {kPermissionAppsWrite, "install, upgrade, start, stop, validate, configure and remove apps"},
    {kPermissionStorageRead, "read apps' secure-storage records"},
    {kPermissionStorageWrite, "create, change and delete apps' secure-storage records and keys"},
    {kPermissionMetricsRead, "scrape /metrics"},
    {kPermissionPlatformRead, "read platform settings (trust anchors, policy)"},
    {kPermissionPlatformWrite, "change platform settings; start and stop the platform"},
    {kPermissionNetworkRead, "list interfaces and networks"},
    {kPermissionNetworkWrite, "create, change and delete interfaces and networks"},
    {kPermissionEnroll, "enroll the node with a director; create the director's enrollment tokens"},
    {kPermissionDevicesRead, "list the fleet's devices, their tags, apps and reports"},
    {kPermissionDevicesWrite, "tag, rename and decommission the fleet's devices"},
    {kPermissionCatalogRead, "list the director's catalog of signed packages"},
    {kPermissionCatalogWrite, "upload packages to the catalog and delete them"},
    {kPermissionDeploymentsRead, "list deployments and each device's progress"},
    {kPermissionDeploymentsWrite, "deploy apps to the fleet; pause, resume, cancel, roll back"},
    {kPermissionPoliciesRead, "read the fleet policies"},
    {kPermissionPoliciesWrite, "set the fleet policies (signatures, trust, capabilities)"},
    {kPermissionLogsRead, "read the platform's logs"},
    {kPermissionAlertsRead, "read security alerts (a node's, the fleet's)"},
    {kPermissionAlertsWrite, "post security alerts to a node (a host traffic sensor)"},
    {kPermissionAuditRead, "read the audit log"},
    {kPermissionUsersRead, "list local users and their roles"},
    {kPermissionUsersManage, "add, change and remove local users"},
    {kPermissionSessionsManage, "list and revoke other users' sessions"},
    {kPermissionOAuthClientsManage, "register, change and delete the director's OAuth clients"},
    {kPermissionSessionSelf, "see who one is logged in as; log out"},
}};

// The rows of every role but admin (who holds everything).
struct Grant {
  std::string_view role;
  std::initializer_list<std::string_view> permissions;
};
const std::array<Grant, 3> kGrants = {{
    {kRoleAppManager,
     {kPermissionAppsRead, kPermissionAppsWrite, kPermissionStorageRead, kPermissionStorageWrite,
      kPermissionMetricsRead, kPermissionPlatformRead, kPermissionNetworkRead,
      kPermissionDevicesRead, kPermissionCatalogRead, kPermissionCatalogWrite,
      kPermissionDeploymentsRead, kPermissionDeploymentsWrite, kPermissionPoliciesRead,
      kPermissionAlertsRead, kPermissionSessionSelf}},
    {kRoleNetworkManager,
     {kPermissionAppsRead, kPermissionMetricsRead, kPermissionPlatformRead,
      kPermissionPlatformWrite, kPermissionNetworkRead, kPermissionNetworkWrite, kPermissionEnroll,
      kPermissionLogsRead, kPermissionDevicesRead, kPermissionDevicesWrite, kPermissionCatalogRead,
      kPermissionDeploymentsRead, kPermissionPoliciesRead, kPermissionPoliciesWrite,
      kPermissionAlertsRead, kPermissionAlertsWrite, kPermissionSessionSelf}},
    {kRoleAuditor,
     {kPermissionAppsRead, kPermissionMetricsRead, kPermissionPlatformRead, kPermissionNetworkRead,
      kPermissionLogsRead, kPermissionAuditRead, kPermissionUsersRead, kPermissionDevicesRead,
      kPermissionCatalogRead, kPermissionDeploymentsRead, kPermissionPoliciesRead,
      kPermissionAlertsRead, kPermissionSessionSelf}},
}};

}  // namespace

std::span<const std::string_view> AllRoles() { return kRoles; }

bool IsAppOAuthScope(std::string_view permission) {
  for (std::string_view scope :
       {kPermissionPlatformRead, kPermissionMetricsRead, kPermissionNetworkRead,
        kPermissionAppsRead, kPermissionAlertsRead}) {
    if (permission == scope) return RoleHolds(kAppClientRole, scope);
  }
  return false;
}

std::vector<std::string> DefaultAppOAuthScopes() {
  return {std::string(kPermissionMetricsRead), std::string(kPermissionPlatformRead)};
}

std::span<const PermissionInfo> AllPermissions() { return kPermissions; }

bool IsKnownRole(std::string_view role) {
  for (std::string_view known : kRoles) {
    if (known == role) return true;
  }
  return false;
}

bool IsKnownPermission(std::string_view permission) {
  for (const PermissionInfo& known : kPermissions) {
    if (known.name == permission) return true;
  }
  return false;
}

bool RoleHolds(std::string_view role, std::string_view permission) {
  if (role == kRoleAdmin) return true;
  if (permission.empty()) return false;
  for (const Grant& grant : kGrants) {
    if (grant.role != role) continue;
    for (std::string_view held : grant.permissions) {
      if (held == permission) return true;
    }
    return false;
  }
  return false;
}

std::string PermissionMatrixMarkdown() {
  std::string out = "| permission | allows |";
  for (std::string_view role : kRoles) {
    out.append(" ").append(role).append(" |");
  }
  out.append("\n|---|---|");
  for (std::size_t i = 0; i < kRoles.size(); ++i) out.append(":-:|");
  out.append("\n");
  for (const PermissionInfo& permission : kPermissions) {
    out.append("| `").append(permission.name).append("` | ");
    out.append(permission.description).append(" |");
    for (std::string_view role : kRoles) {
      out.append(RoleHolds(role, permission.name) ? " ✓ |" : "  |");
    }
    out.append("\n");
  }
  return out;
}

}  // namespace fogkeep::auth
