// The rollout engine over a real SQLite store with a clock the tests move: waves, pauses,
// the failure threshold with and without automatic rollback, operator actions, undeploy,
// what each device is told (including the previous version for devices a wave has not
// reached), and two engines on one database deciding each step once.
#include "director/rollout.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "director/store.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Open();
    for (int i = 1; i <= 4; ++i) {
      Device d{.id = "d" + std::to_string(i),
               .name = "node " + std::to_string(i),
               .tags = {i <= 3 ? "plant-a" : "plant-b"},
               .enrolled_at = 1};
      ASSERT_TRUE(store_->InsertDevice(d));
    }
    for (const char* version : {"1.0.0", "2.0.0"}) {
      CatalogEntry e{.name = "hello", .version = version, .sha256 = "ab", .size = 1};
      ASSERT_TRUE(store_->PutPackage(e, "x"));
    }
    rollouts_ = std::make_unique<Rollouts>(store_, [this] { return now_; });
  }

  std::shared_ptr<FleetStore> Open() {
    auto store = OpenSqliteStore(dir_ / "fleet.db");
    EXPECT_TRUE(store) << store.error().message();
    return std::move(*store);
  }

  api::DeploymentInfo Deploy(const std::string& version, api::RolloutSpec rollout = {},
                             std::vector<std::string> tags = {"plant-a"}) {
    api::DeploymentRequest request{
        .app = "hello", .version = version, .tags = std::move(tags), .rollout = rollout};
    auto created = rollouts_->Create(request, "alice");
    EXPECT_TRUE(created) << created.error().message();
    return *created;
  }

  api::DeploymentInfo Get(const std::string& id) { return **rollouts_->Get(id); }

  // `device` reports hello at `version` in `state` (with `error`).
  void Report(const std::string& device, const std::string& version, const std::string& state,
              const std::string& error = "") {
    api::NodeReport report;
    if (!version.empty()) {
      report.apps.push_back(
          {.id = "hello", .name = "hello", .version = version, .state = state, .error = error});
    }
    ASSERT_TRUE(rollouts_->OnReport(device, report));
  }

  std::string DesiredVersion(const std::string& device) {
    auto apps = rollouts_->DesiredApps(device);
    EXPECT_TRUE(apps);
    if (apps->empty()) return "-";
    EXPECT_EQ(apps->size(), 1u);
    return (*apps)[0].version;
  }

  std::string TargetState(const api::DeploymentInfo& d, const std::string& device) {
    for (const auto& t : d.targets) {
      if (t.device == device) return t.state;
    }
    return "?";
  }

  fogkeep::testing::TempDir dir_;
  std::int64_t now_ = 1000;
  std::shared_ptr<FleetStore> store_;
  std::unique_ptr<Rollouts> rollouts_;
};

TEST_F(RolloutTest, WavesAdvanceAsDevicesReportRunningAndTheDeploymentCompletes) {
  const auto d = Deploy("1.0.0", {.wave_size = "2"});
  EXPECT_EQ(d.state, "rolling");
  EXPECT_EQ(d.waves, 2);
  EXPECT_EQ(TargetState(d, "d1"), "assigned");
  EXPECT_EQ(TargetState(d, "d3"), "pending");
  EXPECT_EQ(TargetState(d, "d4"), "?");  // another tag
  EXPECT_EQ(DesiredVersion("d1"), "1.0.0");
  EXPECT_EQ(DesiredVersion("d3"), "-");
  EXPECT_FALSE(*rollouts_->Tick());  // the first wave is still being applied
  Report("d1", "1.0.0", "RUNNING");
  Report("d2", "1.0.0", "RUNNING");
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(TargetState(Get(d.id), "d3"), "assigned");
  EXPECT_EQ(DesiredVersion("d3"), "1.0.0");
  Report("d3", "1.0.0", "RUNNING");
  EXPECT_TRUE(*rollouts_->Tick());
  const auto done = Get(d.id);
  EXPECT_EQ(done.state, "completed");
  EXPECT_EQ(done.running, 3);
  EXPECT_FALSE(*rollouts_->Tick());
}

TEST_F(RolloutTest, APauseBetweenWavesWaitsForTheClock) {
  EXPECT_EQ(Deploy("1.0.0", {.wave_size = "34%"}).waves, 2);  // 34 % of 3: 2 per wave
  const auto d = Deploy("1.0.0", {.wave_size = "1", .pause_seconds = 30});
  EXPECT_EQ(d.waves, 3);
  Report("d1", "1.0.0", "RUNNING");
  EXPECT_TRUE(*rollouts_->Tick());   // the first wave is done: the pause starts
  EXPECT_FALSE(*rollouts_->Tick());  // and lasts
  EXPECT_EQ(TargetState(Get(d.id), "d2"), "pending");
  now_ += 30;
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(TargetState(Get(d.id), "d2"), "assigned");
}

TEST_F(RolloutTest, FailuresPastTheThresholdRollBackToThePreviousVersion) {
  const auto v1 = Deploy("1.0.0");
  for (const char* id : {"d1", "d2", "d3"}) Report(id, "1.0.0", "RUNNING");
  ASSERT_TRUE(rollouts_->Tick());
  ASSERT_EQ(Get(v1.id).state, "completed");

  const auto v2 = Deploy("2.0.0", {.wave_size = "1", .failure_threshold_percent = 0});
  EXPECT_EQ(v2.previous_version, "1.0.0");
  // Devices the rollout has not reached keep the version of the deployment before.
  EXPECT_EQ(DesiredVersion("d1"), "2.0.0");
  EXPECT_EQ(DesiredVersion("d2"), "1.0.0");
  Report("d1", "2.0.0", "FAILED", "capability CAP_NET_ADMIN is not allowed");
  EXPECT_TRUE(*rollouts_->Tick());
  auto halted = Get(v2.id);
  EXPECT_EQ(halted.state, "rolling-back");
  EXPECT_EQ(halted.reason, "1 of 1 devices failed (threshold 0%)");
  EXPECT_EQ(TargetState(halted, "d1"), "failed");
  EXPECT_EQ(DesiredVersion("d1"), "1.0.0");
  EXPECT_EQ(DesiredVersion("d2"), "1.0.0");
  EXPECT_FALSE(*rollouts_->Tick());  // d1 has not confirmed the old version yet
  Report("d1", "1.0.0", "RUNNING");
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(Get(v2.id).state, "rolled-back");
  EXPECT_EQ(TargetState(Get(v2.id), "d1"), "rolled-back");
}

TEST_F(RolloutTest, WithoutAutomaticRollbackTheRolloutHaltsAndWaitsForAnOperator) {
  const auto d = Deploy("1.0.0", {.failure_threshold_percent = 50, .auto_rollback = false});
  Report("d1", "1.0.0", "FAILED", "no");
  Report("d2", "1.0.0", "RUNNING");
  EXPECT_FALSE(*rollouts_->Tick());  // 1 of 3 reached devices: 33 % is not past 50 %
  Report("d2", "1.0.0", "FAILED", "no");
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(Get(d.id).state, "halted");
  EXPECT_FALSE(*rollouts_->Tick());
  // No previous version: rolling back removes the app.
  auto back = rollouts_->Act(d.id, "rollback");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->state, "rolling-back");
  EXPECT_EQ(DesiredVersion("d1"), "-");
  for (const char* id : {"d1", "d2", "d3"}) Report(id, "", "");
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(Get(d.id).state, "rolled-back");
}

TEST_F(RolloutTest, OperatorActionsFollowTheStateMachine) {
  const auto d = Deploy("1.0.0", {.wave_size = "1"});
  EXPECT_EQ(rollouts_->Act(d.id, "resume").error().code(), ErrorCode::kConflict);
  EXPECT_EQ(rollouts_->Act(d.id, "explode").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(rollouts_->Act("dep-nope", "pause").error().code(), ErrorCode::kNotFound);
  ASSERT_EQ(rollouts_->Act(d.id, "pause")->state, "paused");
  Report("d1", "1.0.0", "RUNNING");
  EXPECT_FALSE(*rollouts_->Tick());  // paused: no next wave
  EXPECT_EQ(TargetState(Get(d.id), "d2"), "pending");
  ASSERT_EQ(rollouts_->Act(d.id, "resume")->state, "rolling");
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(TargetState(Get(d.id), "d2"), "assigned");
  ASSERT_EQ(rollouts_->Act(d.id, "cancel")->state, "cancelled");
  EXPECT_FALSE(*rollouts_->Tick());
  EXPECT_EQ(DesiredVersion("d2"), "1.0.0");  // a cancel keeps what devices got
  EXPECT_EQ(DesiredVersion("d3"), "-");      // and gives nothing more
  auto undeploy = rollouts_->Act(d.id, "undeploy");
  ASSERT_TRUE(undeploy);
  EXPECT_EQ(TargetState(*undeploy, "d3"), "removed");
  EXPECT_EQ(DesiredVersion("d1"), "-");
  Report("d1", "", "");
  EXPECT_FALSE(*rollouts_->Tick());  // d2 still has it
  Report("d2", "", "");
  EXPECT_TRUE(*rollouts_->Tick());
  EXPECT_EQ(Get(d.id).state, "undeployed");
  EXPECT_EQ(rollouts_->Act(d.id, "undeploy").error().code(), ErrorCode::kConflict);
}

TEST_F(RolloutTest, BadRequestsAreRefusedWithTheReason) {
  api::DeploymentRequest r{.app = "hello", .version = "9.9.9", .tags = {"plant-a"}};
  EXPECT_EQ(rollouts_->Create(r, "a").error().code(), ErrorCode::kNotFound);
  r.version = "1.0.0";
  r.tags = {"plant-z"};
  EXPECT_EQ(rollouts_->Create(r, "a").error().code(), ErrorCode::kInvalidInput);
  r.tags = {"plant-a"};
  for (const char* size : {"0", "0%", "101%", "ten", "", "-1"}) {
    r.rollout.wave_size = size;
    EXPECT_EQ(rollouts_->Create(r, "a").error().code(), ErrorCode::kInvalidInput) << size;
  }
  r.rollout.wave_size = "1";
  r.rollout.failure_threshold_percent = 101;
  EXPECT_EQ(rollouts_->Create(r, "a").error().code(), ErrorCode::kInvalidInput);
  r.rollout.failure_threshold_percent = 0;
  r.tags.clear();
  r.devices = {"d9"};
  EXPECT_EQ(rollouts_->Create(r, "a").error().code(), ErrorCode::kInvalidInput);
  r.devices = {"d4"};
  EXPECT_TRUE(rollouts_->Create(r, "a"));
}

TEST_F(RolloutTest, ASecondEngineOnTheSameDatabaseDoesNotRepeatAStep) {
  Rollouts other(Open(), [this] { return now_; });
  const auto d = Deploy("1.0.0", {.wave_size = "1"});
  Report("d1", "1.0.0", "RUNNING");
  // (Two engines deciding from the same revision at once: the store's revision check lets one
  // write, as the store's conformance suite shows.)
  const bool first = *rollouts_->Tick();
  const bool second = *other.Tick();
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);  // the wave it would have started has started
  EXPECT_EQ(Get(d.id).wave, 1);
}

TEST(WaveSizeTest, CountsAndPercentages) {
  EXPECT_EQ(*WaveSize("10", 1000), 10);
  EXPECT_EQ(*WaveSize("25%", 1000), 250);
  EXPECT_EQ(*WaveSize("1%", 10), 1);  // never 0
  EXPECT_EQ(*WaveSize("100%", 3), 3);
  EXPECT_FALSE(WaveSize("10 ", 3));
  EXPECT_FALSE(WaveSize("%", 3));
}

}  // namespace
}  // namespace fogkeep::director
