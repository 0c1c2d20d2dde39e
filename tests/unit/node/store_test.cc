// AppStore contract, run against every back-end (SQLite in memory and on disk).
#include "node/store.h"

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "support/support.h"

namespace fogkeep::node {
namespace {

AppRecord Record(const std::string& id, std::uint32_t slot) {
  AppRecord r;
  r.id = id;
  r.name = id;
  r.version = "1.0.0";
  r.slot = slot;
  r.package_dir = "/var/lib/fogkeep/apps/" + id + "/1.0.0";
  r.descriptor_text = "info:\n  name: " + id + "\n";
  r.config_ini = "[x]\ny = 1\n";
  r.installed_at = 100;
  r.updated_at = 200;
  return r;
}

using Factory = std::function<std::unique_ptr<AppStore>(const std::string& dir)>;

class AppStoreTest : public ::testing::TestWithParam<Factory> {
 protected:
  void SetUp() override {
    store_ = GetParam()(dir_.path());
    ASSERT_TRUE(store_);
  }
  fogkeep::testing::TempDir dir_;
  std::unique_ptr<AppStore> store_;
};

TEST_P(AppStoreTest, AppsRoundTrip) {
  auto r = Record("b-app", 3);
  r.signer = "CN=signer";
  r.state = AppState::kStopped;
  r.restarts = 4;
  r.last_exit_json = "{\"exit_code\":3}";
  ASSERT_TRUE(store_->InsertApp(r, std::nullopt));
  ASSERT_TRUE(store_->InsertApp(Record("a-app", 1), std::nullopt));
  auto got = store_->FindApp("b-app");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->state, AppState::kStopped);
  EXPECT_EQ((*got)->slot, 3u);
  EXPECT_EQ((*got)->signer, "CN=signer");
  EXPECT_EQ((*got)->config_ini, "[x]\ny = 1\n");
  EXPECT_EQ((*got)->restarts, 4);
  EXPECT_EQ((*got)->last_exit_json, "{\"exit_code\":3}");
  EXPECT_EQ((*got)->installed_at, 100);
  auto all = store_->ListApps();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "a-app");  // ordered by id
  EXPECT_FALSE(*store_->FindApp("missing"));
}

TEST_P(AppStoreTest, DuplicateIdsAndSlotsConflict) {
  ASSERT_TRUE(store_->InsertApp(Record("app", 1), std::nullopt));
  auto same_id = store_->InsertApp(Record("app", 2), std::nullopt);
  ASSERT_FALSE(same_id);
  EXPECT_EQ(same_id.error().code(), ErrorCode::kConflict);
  auto same_slot = store_->InsertApp(Record("other", 1), std::nullopt);
  ASSERT_FALSE(same_slot);
  EXPECT_EQ(same_slot.error().code(), ErrorCode::kConflict);
}

TEST_P(AppStoreTest, UpdateAndDelete) {
  ASSERT_TRUE(store_->InsertApp(Record("app", 1), std::nullopt));
  auto r = Record("app", 1);
  r.state = AppState::kRunning;
  r.version = "2.0.0";
  ASSERT_TRUE(store_->UpdateApp(r, std::nullopt));
  EXPECT_EQ((*store_->FindApp("app"))->version, "2.0.0");
  EXPECT_EQ((*store_->FindApp("app"))->state, AppState::kRunning);
  EXPECT_EQ(store_->UpdateApp(Record("ghost", 9), std::nullopt).error().code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(store_->DeleteApp("app", std::nullopt));
  EXPECT_FALSE(*store_->FindApp("app"));
  EXPECT_TRUE(store_->DeleteApp("app", std::nullopt));  // missing is fine
}

TEST_P(AppStoreTest, IntentsAreJournaledAndFinishedWithTheRowChange) {
  auto first = store_->BeginIntent(Intent{0, "install", "", "extract", "{\"staging\":\"/s\"}"});
  auto second = store_->BeginIntent(Intent{0, "start", "app", "begin", ""});
  ASSERT_TRUE(first && second);
  EXPECT_LT(*first, *second);
  ASSERT_TRUE(store_->UpdateIntent(Intent{*first, "install", "app", "commit", "{}"}));
  auto pending = store_->PendingIntents();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].app_id, "app");
  EXPECT_EQ((*pending)[0].phase, "commit");
  EXPECT_EQ((*pending)[1].op, "start");

  // The row and the intent's end are one transaction: a failed insert keeps the intent.
  ASSERT_TRUE(store_->InsertApp(Record("app", 1), *first));
  EXPECT_EQ(store_->PendingIntents()->size(), 1u);
  EXPECT_FALSE(store_->InsertApp(Record("app", 2), *second));
  EXPECT_EQ(store_->PendingIntents()->size(), 1u);
  ASSERT_TRUE(store_->UpdateApp(Record("app", 1), *second));
  EXPECT_TRUE(store_->PendingIntents()->empty());
  EXPECT_TRUE(store_->FinishIntent(12345));
}

TEST_P(AppStoreTest, PolicyDefaultsAreTheSafeOnes) {
  auto policy = store_->GetPolicy();
  ASSERT_TRUE(policy);
  EXPECT_TRUE(policy->require_signed);
  EXPECT_FALSE(policy->allow_downgrade);
  EXPECT_FALSE(policy->allow_host_network);
  EXPECT_TRUE(policy->allowed_capabilities.empty());

  PlatformPolicy relaxed;
  relaxed.require_signed = false;
  relaxed.allow_downgrade = true;
  relaxed.allow_host_network = true;
  relaxed.allowed_capabilities = {"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"};
  ASSERT_TRUE(store_->SetPolicy(relaxed));
  policy = store_->GetPolicy();
  EXPECT_FALSE(policy->require_signed);
  EXPECT_TRUE(policy->allow_downgrade);
  EXPECT_TRUE(policy->allow_host_network);
  EXPECT_EQ(policy->allowed_capabilities, relaxed.allowed_capabilities);
}

INSTANTIATE_TEST_SUITE_P(Backends, AppStoreTest,
                         ::testing::Values(Factory([](const std::string&) {
                                             return std::move(*OpenSqliteAppStore(":memory:"));
                                           }),
                                           Factory([](const std::string& dir) {
                                             return std::move(
                                                 *OpenSqliteAppStore(dir + "/state.db"));
                                           })),
                         [](const auto& info) {
                           return info.index == 0 ? std::string("SqliteMemory")
                                                  : std::string("SqliteFile");
                         });

TEST(SqliteAppStoreTest, SurvivesReopening) {
  fogkeep::testing::TempDir dir;
  {
    auto store = OpenSqliteAppStore(dir.path() + "/state.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->InsertApp(Record("app", 1), std::nullopt));
    ASSERT_TRUE((*store)->BeginIntent(Intent{0, "stop", "app", "begin", ""}));
  }
  auto store = OpenSqliteAppStore(dir.path() + "/state.db");
  ASSERT_TRUE(store);
  EXPECT_TRUE(*(*store)->FindApp("app"));
  EXPECT_EQ((*store)->PendingIntents()->size(), 1u);
}

TEST(SqliteAppStoreTest, ReadsSeeEachWriteAsSoonAsItReturns) {
  fogkeep::testing::TempDir dir;
  auto store = OpenSqliteAppStore(dir.path() + "/state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->InsertApp(Record("app", 1), std::nullopt));
  auto r = Record("app", 1);
  r.state = AppState::kRunning;
  ASSERT_TRUE((*store)->UpdateApp(r, std::nullopt));
  EXPECT_EQ((*(*store)->FindApp("app"))->state, AppState::kRunning);
  // A refused write leaves the rows as they were.
  EXPECT_FALSE((*store)->InsertApp(Record("app", 2), std::nullopt));
  ASSERT_TRUE((*store)->InsertApp(Record("other", 2), std::nullopt));
  EXPECT_EQ((*store)->ListApps()->size(), 2u);
  ASSERT_TRUE((*store)->DeleteApp("app", std::nullopt));
  EXPECT_FALSE(*(*store)->FindApp("app"));
  EXPECT_EQ((*store)->ListApps()->size(), 1u);
}

}  // namespace
}  // namespace fogkeep::node
