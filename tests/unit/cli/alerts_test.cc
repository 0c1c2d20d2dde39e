// `fogkeep alerts` and `fogkeep fleet alerts`: the request each sends and the table each prints.
#include "cli/alerts.h"

#include <gtest/gtest.h>

#include "support/support.h"

namespace fogkeep::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

std::string Alert(const std::string& extra, const std::string& signature = "Modbus write",
                  int severity = 1) {
  return R"({"timestamp":"2026-11-26T14:03:07.250113+0000","event_type":"alert",)" + extra +
         R"("alert":{"detector":"modbus-write","signature":")" + signature + R"(","severity":)" +
         std::to_string(severity) + "}}";
}

api::AlertRecord Record(std::int64_t seq, std::string source, std::string json) {
  return api::AlertRecord{.id = 0,
                          .device = "",
                          .seq = seq,
                          .received_at = 1764165787,
                          .source = std::move(source),
                          .alert_json = std::move(json)};
}

TEST(AlertTargetTest, NodeAndFleetQueries) {
  EXPECT_EQ(NodeAlertsTarget({}), "/api/v1/alerts?limit=50");
  EXPECT_EQ(NodeAlertsTarget({.since = 42,
                              .limit = 500,
                              .detector = "modbus-write",
                              .min_severity = 2,
                              .app = "thermo",
                              .device = "d-1",
                              .tag = "plant-a"}),
            "/api/v1/alerts?limit=500&since=42&detector=modbus-write&min_severity=2&app=thermo");
  EXPECT_EQ(FleetAlertsTarget({.detector = "port-scan", .device = "d-1", .tag = "plant a&b"}),
            "/api/v1/alerts?limit=50&detector=port-scan&device=d-1&tag=plant%20a%26b");
}

TEST(AlertTableTest, OneRowPerAlertOldestFirst) {
  api::AlertList list;
  list.alerts = {
      Record(
          1, "host",
          Alert(R"("src_ip":"10.9.0.7","src_port":51515,"dest_ip":"10.9.0.2","dest_port":502,)")),
      Record(2, "thermo",
             Alert(R"("src_ip":"fe80::1","dest_ip":"fe80::2","dest_port":22,)", "SSH scan", 3)),
      Record(3, "thermo", Alert("", "no flow", 2)),
  };
  const Rows rows = AlertTableRows(list, /*fleet=*/false);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"TIME", "SOURCE", "SEVERITY", "DETECTOR", "FLOW",
                                               "SIGNATURE"}));
  EXPECT_EQ(rows[1],
            (std::vector<std::string>{"2026-11-26T14:03:07", "host", "high", "modbus-write",
                                      "10.9.0.7:51515 → 10.9.0.2:502", "Modbus write"}));
  EXPECT_EQ(rows[2][2], "low");
  EXPECT_EQ(rows[2][4], "fe80::1 → [fe80::2]:22");
  EXPECT_EQ(rows[3][2], "medium");
  EXPECT_EQ(rows[3][4], "-");
}

TEST(AlertTableTest, TheFleetTableNamesTheDevice) {
  api::AlertList list;
  list.alerts = {Record(9, "host", Alert(""))};
  list.alerts[0].device = "d-4f1c2a9b";
  list.alerts[0].id = 77;
  const Rows rows = AlertTableRows(list, /*fleet=*/true);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "DEVICE");
  EXPECT_EQ(rows[1][1], "d-4f1c2a9b");
  EXPECT_EQ(rows[1][2], "host");
  EXPECT_EQ(rows[1].size(), 7u);
}

TEST(AlertTableTest, TextFromOutsideCannotDriveTheTerminal) {
  api::AlertList list;
  // A device name and a stored alert that never passed the node's check (an old director).
  list.alerts = {Record(1, "host", R"({"alert":"\u001b[2J"})")};
  list.alerts[0].device = "d-\x1b[31m";
  const Rows rows = AlertTableRows(list, /*fleet=*/true);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][1].find('\x1b'), std::string::npos) << rows[1][1];
  EXPECT_EQ(rows[1][3], "-");
  EXPECT_NE(rows[1][6].find("not a valid alert"), std::string::npos) << rows[1][6];
  EXPECT_EQ(rows[1][0], "2025-11-26T14:03:07Z");  // the node's reception time instead
}

}  // namespace
}  // namespace fogkeep::cli
