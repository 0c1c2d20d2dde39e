// The permission matrix: properties every row must keep, whatever is added later.
#include "auth/roles.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::auth {
namespace {

std::set<std::string_view> HeldBy(std::string_view role) {
  std::set<std::string_view> held;
  for (const PermissionInfo& p : AllPermissions()) {
    if (RoleHolds(role, p.name)) held.insert(p.name);
  }
  return held;
}

TEST(RolesTest, FourRolesAdminFirst) {
  ASSERT_EQ(AllRoles().size(), 4u);
  EXPECT_EQ(AllRoles()[0], kRoleAdmin);
  for (std::string_view role : AllRoles()) EXPECT_TRUE(IsKnownRole(role)) << role;
  EXPECT_FALSE(IsKnownRole(""));
  EXPECT_FALSE(IsKnownRole("Admin"));
  EXPECT_FALSE(IsKnownRole("root"));
}

TEST(RolesTest, PermissionNamesAreUniqueAndDescribed) {
  std::set<std::string_view> seen;
  for (const PermissionInfo& p : AllPermissions()) {
    EXPECT_TRUE(seen.insert(p.name).second) << "duplicate " << p.name;
    EXPECT_FALSE(p.description.empty()) << p.name;
    EXPECT_TRUE(IsKnownPermission(p.name));
  }
  // The names node/api.h routes already declare keep their spelling.
  for (std::string_view name : {"apps.read", "apps.write", "platform.read", "platform.write",
                                "metrics.read", "audit.read"}) {
    EXPECT_TRUE(IsKnownPermission(name)) << name;
  }
}

TEST(RolesTest, AdminHoldsEverythingIncludingUnknownPermissions) {
  for (const PermissionInfo& p : AllPermissions()) EXPECT_TRUE(RoleHolds(kRoleAdmin, p.name));
  EXPECT_TRUE(RoleHolds(kRoleAdmin, "director.deploy"));
}

TEST(RolesTest, UnknownPermissionBelongsToAdminAlone) {
  for (std::string_view role : AllRoles()) {
    EXPECT_EQ(RoleHolds(role, "something.new"), role == kRoleAdmin) << role;
    EXPECT_EQ(RoleHolds(role, ""), role == kRoleAdmin) << role;
  }
}

TEST(RolesTest, EveryRoleMayEndItsOwnSession) {
  for (std::string_view role : AllRoles()) EXPECT_TRUE(RoleHolds(role, kPermissionSessionSelf));
}

TEST(RolesTest, UnknownRoleHoldsNothing) {
  for (std::string_view role : {"", "root", "ADMIN", "admin ", "guest"}) {
    EXPECT_TRUE(HeldBy(role).empty()) << "'" << role << "'";
    EXPECT_FALSE(RoleHolds(role, "unlisted.permission"));
  }
}

TEST(RolesTest, AuditorHoldsOnlyReadPermissions) {
  std::set<std::string_view> held = HeldBy(kRoleAuditor);
  // Beside reading, an auditor may only end its own session.
  for (std::string_view p : held)
    EXPECT_TRUE(p.ends_with(".read") || p == kPermissionSessionSelf) << p;
  EXPECT_TRUE(held.contains(kPermissionAuditRead));
  // Secrets in the apps' secure storage are not evidence.
  EXPECT_FALSE(held.contains(kPermissionStorageRead));
}

TEST(RolesTest, AppManagerCannotTouchThePlatformOrNetworks) {
  EXPECT_TRUE(RoleHolds(kRoleAppManager, kPermissionAppsWrite));
  EXPECT_TRUE(RoleHolds(kRoleAppManager, kPermissionStorageWrite));
  EXPECT_TRUE(RoleHolds(kRoleAppManager, kPermissionMetricsRead));
  for (std::string_view p :
       {kPermissionPlatformWrite, kPermissionNetworkWrite, kPermissionEnroll, kPermissionAuditRead,
        kPermissionUsersManage, kPermissionSessionsManage}) {
    EXPECT_FALSE(RoleHolds(kRoleAppManager, p)) << p;
  }
}

TEST(RolesTest, NetworkManagerCannotTouchApps) {
  EXPECT_TRUE(RoleHolds(kRoleNetworkManager, kPermissionNetworkWrite));
  EXPECT_TRUE(RoleHolds(kRoleNetworkManager, kPermissionPlatformWrite));
  EXPECT_TRUE(RoleHolds(kRoleNetworkManager, kPermissionEnroll));
  EXPECT_TRUE(RoleHolds(kRoleNetworkManager, kPermissionLogsRead));
  for (std::string_view p :
       {kPermissionAppsWrite, kPermissionStorageRead, kPermissionStorageWrite, kPermissionAuditRead,
        kPermissionUsersManage, kPermissionSessionsManage}) {
    EXPECT_FALSE(RoleHolds(kRoleNetworkManager, p)) << p;
  }
}

TEST(RolesTest, UserAndSessionManagementIsAdminOnly) {
  for (std::string_view role : AllRoles()) {
    if (role == kRoleAdmin) continue;
    EXPECT_FALSE(RoleHolds(role, kPermissionUsersManage)) << role;
    EXPECT_FALSE(RoleHolds(role, kPermissionSessionsManage)) << role;
  }
}

TEST(RolesTest, MarkdownTableMatchesTheMatrix) {
  const std::string table = PermissionMatrixMarkdown();
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(table.back(), '\n');
  EXPECT_TRUE(table.starts_with(
      "| permission | allows | admin | app-manager | network-manager | auditor |\n"
      "|---|---|:-:|:-:|:-:|:-:|\n"));
  std::size_t lines = 0;
  for (char c : table) lines += c == '\n';
  EXPECT_EQ(lines, 2 + AllPermissions().size());
  std::size_t pos = table.find("| `apps.write` | ");
  ASSERT_NE(pos, std::string::npos);
  std::string row = table.substr(pos, table.find('\n', pos) - pos);
  EXPECT_TRUE(row.ends_with("| ✓ | ✓ |  |  |")) << row;
  std::size_t checks = 0;
  for (pos = table.find("✓"); pos != std::string::npos; pos = table.find("✓", pos + 1)) ++checks;
  std::size_t held = 0;
  for (std::string_view role : AllRoles()) held += HeldBy(role).size();
  EXPECT_EQ(checks, held);
}

TEST(RolesTest, TheReadmeCarriesTheMatrixVerbatim) {
  auto readme = fs::ReadFile(fogkeep::testing::SourcePath("README.md"));
  ASSERT_TRUE(readme) << readme.error().message();
  EXPECT_NE(readme->find(PermissionMatrixMarkdown()), std::string::npos)
      << "README.md's permission table differs from auth/roles.cc; paste this:\n"
      << PermissionMatrixMarkdown();
}

TEST(RolesTest, AppClientsHoldOnlyReadScopesTheirRoleHolds) {
  for (std::string_view scope :
       {"platform.read", "metrics.read", "network.read", "apps.read", "alerts.read"}) {
    EXPECT_TRUE(IsAppOAuthScope(scope)) << scope;
    EXPECT_TRUE(RoleHolds(kAppClientRole, scope)) << scope;
  }
  for (std::string_view scope : {"apps.write", "storage.read", "logs.read", "audit.read",
                                 "devices.read", "session.self", "", "platform.read "}) {
    EXPECT_FALSE(IsAppOAuthScope(scope)) << scope;
  }
  for (const std::string& scope : DefaultAppOAuthScopes()) EXPECT_TRUE(IsAppOAuthScope(scope));
  EXPECT_EQ(DefaultAppOAuthScopes(), (std::vector<std::string>{"metrics.read", "platform.read"}));
}

}  // namespace
}  // namespace fogkeep::auth
