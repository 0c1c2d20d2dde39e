// The node's AlertStore on SQLite: sequence numbers, order, filters, the bounds and what they
// count, the forwarded mark, and all of it after reopening the file.
#include "node/alerts/store.h"

#include <gtest/gtest.h>

#include "support/support.h"

namespace fogkeep::node::alerts {
namespace {

using fogkeep::testing::Must;

api::Alert MakeAlert(const std::string& detector, int severity,
                     const std::string& signature = "s") {
  const std::string json = R"({"timestamp":"2026-11-26T14:03:07Z","event_type":"alert",)"
                           R"("alert":{"detector":")" +
                           detector + R"(","signature":")" + signature + R"(","severity":)" +
                           std::to_string(severity) + "}}";
  return Must(api::ParseAlertText(json), "alert");
}

std::vector<api::Alert> Many(int n, const std::string& detector = "port-scan") {
  std::vector<api::Alert> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeAlert(detector, 2, "n" + std::to_string(i)));
  return out;
}

std::vector<std::int64_t> Seqs(const std::vector<StoredAlert>& alerts) {
  std::vector<std::int64_t> out;
  for (const StoredAlert& a : alerts) out.push_back(a.seq);
  return out;
}

class AlertStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<AlertStore> Open(StoreLimits limits = {}) {
    return Must(OpenSqliteAlertStore(dir_ / "alerts.db", limits), "open");
  }
  fogkeep::testing::TempDir dir_;
};

TEST_F(AlertStoreTest, SequenceNumbersIncreaseAndListsAreOldestFirst) {
  auto store = Open();
  EXPECT_EQ(*store->LastSeq(), 0);
  EXPECT_EQ(*store->Append("host", {MakeAlert("modbus-write", 1)}, 100), 1);
  EXPECT_EQ(*store->Append("thermo", {MakeAlert("port-scan", 3), MakeAlert("port-scan", 2)}, 101),
            3);
  const auto all = Must(store->List({}), "list");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(Seqs(all), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(all[0].source, "host");
  EXPECT_EQ(all[0].detector, "modbus-write");
  EXPECT_EQ(all[0].severity, 1);
  EXPECT_EQ(all[0].received_at, 100);
  EXPECT_EQ(all[1].source, "thermo");
  EXPECT_EQ(all[1].severity, 3);
  EXPECT_NE(all[0].alert_json.find("modbus-write"), std::string::npos);
}

TEST_F(AlertStoreTest, FiltersAndTheTwoKindsOfPage) {
  auto store = Open();
  Must(store->Append("host", {MakeAlert("modbus-write", 1), MakeAlert("port-scan", 3)}, 1), "a");
  Must(store->Append("thermo", {MakeAlert("modbus-write", 2), MakeAlert("port-scan", 1)}, 2), "b");
  EXPECT_EQ(Seqs(Must(store->List({.detector = "modbus-write"}), "d")),
            (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(Seqs(Must(store->List({.source = "thermo"}), "s")), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(Seqs(Must(store->List({.min_severity = 1}), "high")),
            (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(Seqs(Must(store->List({.min_severity = 2}), "high+medium")),
            (std::vector<std::int64_t>{1, 3, 4}));
  // Without a cursor: the newest `limit`, oldest first. With one: the next after it.
  EXPECT_EQ(Seqs(Must(store->List({.limit = 2}), "newest")), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(Seqs(Must(store->List({.since = 1, .limit = 2}), "page")),
            (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(Must(store->List({.since = 4}), "end").empty());
  EXPECT_EQ(Seqs(Must(store->List({.since = 0, .limit = 10, .source = "host", .min_severity = 1}),
                      "combined")),
            (std::vector<std::int64_t>{1}));
}

TEST_F(AlertStoreTest, ANoisySourceEvictsItsOwnAlertsFirstAndTheyAreCounted) {
  auto store = Open({.max_alerts = 100, .max_per_source = 10});
  Must(store->Append("quiet", {MakeAlert("modbus-write", 1)}, 1), "quiet");
  for (int i = 0; i < 5; ++i) Must(store->Append("noisy", Many(7), 2), "noisy");
  const auto noisy = Must(store->List({.limit = 1000, .source = "noisy"}), "noisy");
  ASSERT_EQ(noisy.size(), 10u);  // its newest ten
  EXPECT_EQ(noisy.back().seq, 36);
  EXPECT_EQ(noisy.front().seq, 27);
  EXPECT_EQ(Must(store->List({.source = "quiet"}), "quiet").size(), 1u);
  const auto pruned = Must(store->Pruned(), "pruned");
  EXPECT_EQ(pruned.at("noisy"), 25);
  EXPECT_FALSE(pruned.contains("quiet"));
}

TEST_F(AlertStoreTest, TheStoreBoundRemovesTheOldestOfAnySource) {
  auto store = Open({.max_alerts = 5, .max_per_source = 5});
  Must(store->Append("a", Many(3), 1), "a");
  Must(store->Append("b", Many(4), 2), "b");
  const auto kept = Must(store->List({.limit = 100}), "list");
  EXPECT_EQ(Seqs(kept), (std::vector<std::int64_t>{3, 4, 5, 6, 7}));
  const auto pruned = Must(store->Pruned(), "pruned");
  EXPECT_EQ(pruned.at("a"), 2);
  EXPECT_FALSE(pruned.contains("b"));
}

TEST_F(AlertStoreTest, ForwardingTakesTheOldestUnacknowledgedAndTheMarkOnlyRises) {
  auto store = Open();
  Must(store->Append("host", Many(5), 1), "append");
  EXPECT_EQ(*store->Forwarded(), 0);
  EXPECT_EQ(Seqs(Must(store->Unforwarded(3, 1 << 20), "first")),
            (std::vector<std::int64_t>{1, 2, 3}));
  Must(store->MarkForwarded(3), "mark");
  EXPECT_EQ(Seqs(Must(store->Unforwarded(3, 1 << 20), "rest")), (std::vector<std::int64_t>{4, 5}));
  Must(store->MarkForwarded(2), "lower");  // ignored
  EXPECT_EQ(*store->Forwarded(), 3);
  // The byte bound: as many as fit, but always the first.
  const std::size_t one = Must(store->Unforwarded(1, 1 << 20), "one")[0].alert_json.size();
  EXPECT_EQ(Must(store->Unforwarded(10, one * 2), "two").size(), 2u);
  EXPECT_EQ(Must(store->Unforwarded(10, 1), "at least one").size(), 1u);
}

TEST_F(AlertStoreTest, EverythingSurvivesReopeningAndSeqsAreNeverReused) {
  {
    auto store = Open({.max_alerts = 3, .max_per_source = 3});
    Must(store->Append("host", Many(5), 1), "append");
    Must(store->MarkForwarded(4), "mark");
  }
  auto store = Open({.max_alerts = 3, .max_per_source = 3});
  EXPECT_EQ(*store->LastSeq(), 5);
  EXPECT_EQ(*store->Forwarded(), 4);
  EXPECT_EQ(Seqs(Must(store->List({}), "list")), (std::vector<std::int64_t>{3, 4, 5}));
  EXPECT_EQ(Must(store->Pruned(), "pruned").at("host"), 2);
  // Even once every alert is pruned, the next seq follows the last one handed out.
  EXPECT_EQ(*store->Append("host", Many(3), 2), 8);
  EXPECT_EQ(Seqs(Must(store->List({}), "list")), (std::vector<std::int64_t>{6, 7, 8}));
}

TEST_F(AlertStoreTest, AnInvalidSourceIsRefusedAndNothingIsStored) {
  auto store = Open();
  auto appended = store->Append("../x", Many(1), 1);
  ASSERT_FALSE(appended);
  EXPECT_EQ(appended.error().code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(Must(store->List({}), "list").empty());
  EXPECT_FALSE(OpenSqliteAlertStore(":memory:", {.max_alerts = 0}));
}

}  // namespace
}  // namespace fogkeep::node::alerts
