// The intake's rate per source, and the reports that carry alerts to the director: sent when
// due, the mark moved only after a 2xx, the same alerts again after a failure or a crash.
#include "node/alerts/forwarding.h"

#include <gtest/gtest.h>

#include "api/node.h"
#include "node/alerts/intake.h"
#include "support/support.h"

namespace fogkeep::node::alerts {
namespace {

using fogkeep::testing::Must;
using namespace std::chrono_literals;

std::string AlertText(const std::string& signature = "scan") {
  return R"({"timestamp":"2026-11-26T14:03:07Z","event_type":"alert",)"
         R"("alert":{"detector":"port-scan","signature":")" +
         signature + R"(","severity":2}})";
}

std::string Batch(int n) {
  std::string out = R"({"alerts":[)";
  for (int i = 0; i < n; ++i) out += (i == 0 ? "" : ",") + AlertText("n" + std::to_string(i));
  return out + "]}";
}

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
  std::function<std::chrono::steady_clock::time_point()> Fn() {
    return [this] { return now; };
  }
};

// ---- intake

TEST(AlertIntakeTest, StoresAValidPostUnderItsSource) {
  auto store = std::shared_ptr<AlertStore>(Must(OpenSqliteAlertStore(":memory:"), "store"));
  AlertIntake intake(store, {}, {}, [] { return std::int64_t{1764165787}; });
  const PostOutcome outcome = Must(intake.Post("thermo", Batch(3)), "post");
  EXPECT_FALSE(outcome.retry_after_seconds);
  EXPECT_EQ(outcome.accepted.accepted, 3);
  EXPECT_EQ(outcome.accepted.last_seq, 3);
  const auto stored = Must(store->List({}), "list");
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[0].source, "thermo");
  EXPECT_EQ(stored[0].received_at, 1764165787);
}

TEST(AlertIntakeTest, ABadBodyStoresNothing) {
  auto store = std::shared_ptr<AlertStore>(Must(OpenSqliteAlertStore(":memory:"), "store"));
  AlertIntake intake(store);
  auto refused = intake.Post("thermo", R"({"alerts":[)" + AlertText() + R"(,{"event_type":"x"}]})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(Must(store->List({}), "list").empty());
}

TEST(AlertIntakeTest, ASourceOverItsRateIsRefusedWholeAndCountedOthersAreNot) {
  auto store = std::shared_ptr<AlertStore>(Must(OpenSqliteAlertStore(":memory:"), "store"));
  FakeClock clock;
  AlertIntake intake(store, {.alerts_per_second = 10, .burst = 20}, clock.Fn());
  EXPECT_FALSE(Must(intake.Post("noisy", Batch(15)), "first").retry_after_seconds);
  // 5 tokens left: a batch of 10 is refused whole, told to wait ceil(5 / 10) = 1 s.
  const PostOutcome refused = Must(intake.Post("noisy", Batch(10)), "second");
  ASSERT_TRUE(refused.retry_after_seconds);
  EXPECT_EQ(*refused.retry_after_seconds, 1);
  EXPECT_EQ(refused.accepted.accepted, 0);
  // Another source has its own bucket.
  EXPECT_FALSE(Must(intake.Post("quiet", Batch(20)), "quiet").retry_after_seconds);
  // Half a second later, 5 + 5 tokens: the batch of 10 passes.
  clock.now += 500ms;
  EXPECT_FALSE(Must(intake.Post("noisy", Batch(10)), "refilled").retry_after_seconds);
  EXPECT_EQ(Must(store->List({.limit = 1000, .source = "noisy"}), "noisy").size(), 25u);
  const auto drops = Must(intake.Drops(), "drops");
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].source, "noisy");
  EXPECT_EQ(drops[0].rate_limited, 10);
  EXPECT_EQ(drops[0].pruned, 0);
}

TEST(AlertIntakeTest, DropsJoinTheRateLimitAndTheStoresBounds) {
  auto store = std::shared_ptr<AlertStore>(
      Must(OpenSqliteAlertStore(":memory:", {.max_alerts = 100, .max_per_source = 4}), "store"));
  FakeClock clock;
  AlertIntake intake(store, {.alerts_per_second = 1, .burst = 6}, clock.Fn());
  Must(intake.Post("thermo", Batch(6)), "six");      // two pruned
  Must(intake.Post("thermo", Batch(1)), "refused");  // over the rate
  const auto drops = Must(intake.Drops(), "drops");
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].pruned, 2);
  EXPECT_EQ(drops[0].rate_limited, 1);
}

// ---- reports

class ReportSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::shared_ptr<AlertStore>(Must(OpenSqliteAlertStore(dir_ / "alerts.db"), "store"));
  }

  // A director that answers `status` and keeps what it was sent.
  ReportSender::Post Director(int status) {
    return [this, status](const std::string& body) -> Result<net::Response> {
      sent_.push_back(Must(api::FromJsonText<api::NodeReport>(body), "report"));
      net::Response response;
      response.status = status;
      if (status >= 400) response.body = R"({"error":{"code":"unavailable","message":"down"}})";
      return response;
    };
  }

  void Add(int n) {
    std::vector<api::Alert> alerts;
    for (int i = 0; i < n; ++i) alerts.push_back(Must(api::ParseAlertText(AlertText()), "alert"));
    Must(store_->Append("host", alerts, 1), "append");
  }

  static std::vector<std::int64_t> Seqs(const api::NodeReport& report) {
    std::vector<std::int64_t> out;
    for (const api::AlertRecord& a : report.alerts) out.push_back(a.seq);
    return out;
  }

  fogkeep::testing::TempDir dir_;
  std::shared_ptr<AlertStore> store_;
  std::vector<api::NodeReport> sent_;
  FakeClock clock_;
  const api::NodeReport state_{.agent_version = "0.1.0", .health = "ok", .apps = {}, .alerts = {}};
};

TEST_F(ReportSenderTest, ReportsWhenChangedWhenAlertsWaitOrWhenTheIntervalPassed) {
  ReportSender sender(store_, {.interval = 60s}, clock_.Fn());
  Must(sender.Send(state_, Director(204)), "first");
  EXPECT_EQ(sent_.size(), 1u);  // the first is always sent
  Must(sender.Send(state_, Director(204)), "same");
  EXPECT_EQ(sent_.size(), 1u);  // nothing changed, nothing waits
  Add(2);
  Must(sender.Send(state_, Director(204)), "alerts");
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(Seqs(sent_[1]), (std::vector<std::int64_t>{1, 2}));
  // Acknowledged: the next call has nothing to carry and is not due.
  Must(sender.Send(state_, Director(204)), "after");
  EXPECT_EQ(sent_.size(), 2u);
  api::NodeReport changed = state_;
  changed.health = "degraded";
  Must(sender.Send(changed, Director(204)), "changed");
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_TRUE(sent_[2].alerts.empty());
  clock_.now += 61s;
  Must(sender.Send(changed, Director(204)), "interval");
  EXPECT_EQ(sent_.size(), 4u);
}

TEST_F(ReportSenderTest, OnlyA2xxMovesTheMarkAndAFailedReportCarriesTheSameAlertsAgain) {
  ReportSender sender(store_, {}, clock_.Fn());
  Add(3);
  const Status failed = sender.Send(state_, Director(503));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(*store_->Forwarded(), 0);
  Must(sender.Send(state_, Director(200)), "again");
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(Seqs(sent_[0]), Seqs(sent_[1]));  // the same alerts, for the director to dedup
  EXPECT_EQ(*store_->Forwarded(), 3);

  // A transport failure is no acknowledgement either.
  Add(1);
  const Status lost = sender.Send(state_, [](const std::string&) -> Result<net::Response> {
    return Fail(ErrorCode::kUnavailable, "connection reset");
  });
  ASSERT_FALSE(lost);
  EXPECT_EQ(*store_->Forwarded(), 3);
}

TEST_F(ReportSenderTest, ACrashBeforeTheMarkSendsTheAlertsAgainAfterRestart) {
  Add(2);
  {
    // The director stored the report, but the node was killed before it read the answer: to
    // the node that is a failed exchange, and the mark stays where it was.
    ReportSender sender(store_, {}, clock_.Fn());
    std::vector<std::int64_t> carried;
    auto director = [&](const std::string& body) -> Result<net::Response> {
      carried = Seqs(Must(api::FromJsonText<api::NodeReport>(body), "report"));
      return Fail(ErrorCode::kUnavailable, "killed before the answer was read");
    };
    EXPECT_FALSE(sender.Send(state_, director));
    EXPECT_EQ(carried, (std::vector<std::int64_t>{1, 2}));
  }
  store_.reset();
  store_ = std::shared_ptr<AlertStore>(Must(OpenSqliteAlertStore(dir_ / "alerts.db"), "reopen"));
  ReportSender restarted(store_, {}, clock_.Fn());
  Must(restarted.Send(state_, Director(204)), "after restart");
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Seqs(sent_[0]), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(*store_->Forwarded(), 2);
}

TEST_F(ReportSenderTest, ABacklogGoesInBoundedBatchesOldestFirst) {
  ReportSender sender(store_, {.max_alerts = 4, .max_batches = 8}, clock_.Fn());
  Add(10);
  Must(sender.Send(state_, Director(204)), "backlog");
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(Seqs(sent_[0]), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(Seqs(sent_[1]), (std::vector<std::int64_t>{5, 6, 7, 8}));
  EXPECT_EQ(Seqs(sent_[2]), (std::vector<std::int64_t>{9, 10}));
  EXPECT_EQ(*store_->Forwarded(), 10);
  // At most max_batches per call: the rest waits for the next call.
  ReportSender capped(store_, {.max_alerts = 1, .max_batches = 2}, clock_.Fn());
  Add(3);
  sent_.clear();
  Must(capped.Send(state_, Director(204)), "capped");
  EXPECT_EQ(sent_.size(), 2u);
  EXPECT_EQ(*store_->Forwarded(), 12);
}

TEST_F(ReportSenderTest, WithoutAStoreReportsCarryNoAlerts) {
  ReportSender sender(nullptr, {}, clock_.Fn());
  api::NodeReport with_alerts = state_;
  with_alerts.alerts.push_back({.seq = 1, .source = "host", .alert_json = AlertText()});
  Must(sender.Send(with_alerts, Director(204)), "send");
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_TRUE(sent_[0].alerts.empty());
}

}  // namespace
}  // namespace fogkeep::node::alerts
