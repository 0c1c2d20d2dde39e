#include "fleetsim/apply.h"

#include <gtest/gtest.h>

namespace fogkeep::fleetsim {
namespace {

std::vector<api::DesiredApp> Desired() {
  return {api::DesiredApp{.name = "nginx", .version = "2.0", .sha256 = "aa"},
          api::DesiredApp{.name = "probe", .version = "1.1", .state = "STOPPED"}};
}

TEST(AppliedAppsTest, RunsEveryDesiredAppAtItsVersion) {
  const auto apps = AppliedApps(Desired(), FailureRule{});
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[0].id, "nginx");
  EXPECT_EQ(apps[0].name, "nginx");
  EXPECT_EQ(apps[0].version, "2.0");
  EXPECT_EQ(apps[0].state, "RUNNING");
  EXPECT_EQ(apps[0].error, "");
  EXPECT_EQ(apps[1].state, "STOPPED");  // the desired state is what the node reaches
}

TEST(AppliedAppsTest, AFailingNodeFailsOnlyTheGivenVersion) {
  const auto apps = AppliedApps(Desired(), FailureRule{.node_fails = true, .version = "2.0"});
  EXPECT_EQ(apps[0].state, "FAILED");
  EXPECT_NE(apps[0].error.find("nginx 2.0"), std::string::npos);
  EXPECT_EQ(apps[1].state, "STOPPED");
}

TEST(AppliedAppsTest, AFailingNodeWithoutVersionFailsEverything) {
  const auto apps = AppliedApps(Desired(), FailureRule{.node_fails = true});
  EXPECT_EQ(apps[0].state, "FAILED");
  EXPECT_EQ(apps[1].state, "FAILED");
}

TEST(AppliedAppsTest, AVersionAloneFailsNoNode) {
  const auto apps = AppliedApps(Desired(), FailureRule{.node_fails = false, .version = "2.0"});
  EXPECT_EQ(apps[0].state, "RUNNING");
}

TEST(SameAppsTest, ComparesEveryField) {
  EXPECT_TRUE(SameApps(Desired(), Desired()));
  EXPECT_TRUE(SameApps({}, {}));
  auto other = Desired();
  other[0].version = "2.1";
  EXPECT_FALSE(SameApps(Desired(), other));
  other = Desired();
  other[1].config_ini = "[x]\n";
  EXPECT_FALSE(SameApps(Desired(), other));
  other = Desired();
  other.pop_back();
  EXPECT_FALSE(SameApps(Desired(), other));
}

TEST(RunningKeysTest, ListsOnlyRunningApps) {
  const auto apps = AppliedApps(Desired(), FailureRule{});
  EXPECT_EQ(RunningKeys(apps), std::vector<std::string>{"nginx@2.0"});
}

}  // namespace
}  // namespace fogkeep::fleetsim
