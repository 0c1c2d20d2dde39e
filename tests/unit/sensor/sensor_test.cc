// The whole pipeline on the scenarios' synthetic captures, whose ground truth is known: each
// detector raises exactly the alerts its scenario holds, and normal traffic stays silent.
#include "sensor/sensor.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "api/alert.h"
#include "sensor/config.h"
#include "sensor/scenarios.h"

namespace fogkeep::sensor {
namespace {

class Collected final : public AlertSink {
 public:
  void OnAlert(const Alert& alert) override {
    ++by_detector[std::string(alert.detector)];
    lines.push_back(FormatEveAlert(alert));
  }
  std::map<std::string, int> by_detector;
  std::vector<std::string> lines;
};

class Records final : public FlowObserver {
 public:
  void OnFlowEnd(const Flow& flow, FlowEndReason) override {
    ++ended;
    packets += flow.packets[0] + flow.packets[1];
  }
  int ended = 0;
  std::uint64_t packets = 0;
};

SensorOptions TestOptions(std::string_view extra_yaml = "") {
  std::string yaml = "detectors:\n  modbus-write: {allowed-writers: [10.10.0.5]}\n";
  yaml += extra_yaml;
  auto options = ParseSensorConfig(yaml);
  EXPECT_TRUE(options) << options.error().message();
  return *options;
}

struct Run {
  Collected alerts;
  Records records;
  boost::json::object stats;
};

std::unique_ptr<Run> RunScenario(std::string_view name, SensorOptions options,
                                 ScenarioOptions scenario = {}) {
  auto run = std::make_unique<Run>();
  Sensor sensor(std::move(options), run->alerts, &run->records);
  const Status generated = GenerateScenario(
      name, scenario, [&](std::uint64_t at, std::span<const std::uint8_t> frame) -> Status {
        sensor.OnFrame(frame, LinkType::kEthernet, at, static_cast<std::uint32_t>(frame.size()));
        return {};
      });
  EXPECT_TRUE(generated) << generated.error().message();
  sensor.Finish();
  run->stats = sensor.Stats();
  return run;
}

using Expected = std::map<std::string, int>;

struct Case {
  std::string_view scenario;
  Expected alerts;
  std::string_view config = "";
};

class ScenarioTest : public testing::TestWithParam<Case> {};

TEST_P(ScenarioTest, RaisesExactlyItsGroundTruth) {
  const Case& c = GetParam();
  const auto run = RunScenario(c.scenario, TestOptions(c.config));
  EXPECT_EQ(run->alerts.by_detector, c.alerts);
  // Every alert is one the node takes as it is (the contract of api/alert.h).
  for (const std::string& line : run->alerts.lines) {
    auto parsed = api::ParseAlertText(line);
    EXPECT_TRUE(parsed) << line << ": " << parsed.error().message();
  }
  EXPECT_TRUE(run->stats.at("malformed").as_object().empty());
  // Every packet of every flow was accounted to a record.
  EXPECT_EQ(run->records.ended, run->stats.at("flows").at("created").to_number<int>());
}

INSTANTIATE_TEST_SUITE_P(
    Detectors, ScenarioTest,
    testing::Values(Case{"modbus-polling", {}}, Case{"dns-normal", {}}, Case{"normal", {}},
                    Case{"modbus-write", {{"modbus-write", 1}}},
                    Case{"modbus-exceptions", {{"modbus-exceptions", 1}}},
                    Case{"port-scan", {{"port-scan", 1}}}, Case{"host-sweep", {{"host-sweep", 1}}},
                    Case{"syn-flood", {{"syn-flood", 1}}},
                    Case{"dns-tunnel", {{"dns-tunnel", 1}, {"dns-nxdomain", 1}}},
                    Case{"arp-spoof", {{"arp-spoof", 1}}},
                    Case{"new-talker", {}},  // still learning with the default period
                    Case{"new-talker",
                         {{"new-talker", 1}, {"new-service", 1}},
                         "  baseline: {learning: 10s}\n"}),
    [](const testing::TestParamInfo<Case>& info) {
      std::string name(info.param.scenario);
      std::replace(name.begin(), name.end(), '-', '_');
      return name + "_" + std::to_string(info.index);
    });

TEST(Sensor, WithoutTheAllowListTheEngineeringStationIsAlsoAWriter) {
  const auto run = RunScenario("modbus-write", SensorOptions{});
  EXPECT_EQ(run->alerts.by_detector, (Expected{{"modbus-write", 2}}));
}

TEST(Sensor, ADisabledDetectorStaysSilent) {
  const auto run = RunScenario("port-scan", TestOptions("  port-scan: {enabled: false}\n"));
  EXPECT_TRUE(run->alerts.by_detector.empty());
}

TEST(Sensor, ThresholdsComeFromTheConfig) {
  // 200 ports tried, one alert per window at any threshold below that; none above.
  EXPECT_EQ(RunScenario("port-scan", TestOptions("  port-scan: {ports: 201}\n"))
                ->alerts.by_detector.size(),
            0u);
  EXPECT_EQ(RunScenario("port-scan", TestOptions("  port-scan: {ports: 200}\n"))
                ->alerts.by_detector.at("port-scan"),
            1);
  EXPECT_EQ(RunScenario("syn-flood", TestOptions("  syn-flood: {half-open: 401}\n"))
                ->alerts.by_detector.size(),
            0u);
}

TEST(Sensor, ACooldownOfZeroReportsEveryOffence) {
  const auto run = RunScenario("modbus-write", TestOptions("alerts: {cooldown: 0s}\n"));
  // 10.10.0.66 wrote three times (6, 16, 5).
  EXPECT_EQ(run->alerts.by_detector, (Expected{{"modbus-write", 3}}));
}

TEST(Sensor, AlertsCarryTheirEvidence) {
  const auto run = RunScenario("modbus-write", TestOptions());
  ASSERT_EQ(run->alerts.lines.size(), 1u);
  const std::string& line = run->alerts.lines[0];
  EXPECT_NE(line.find("\"event_type\":\"alert\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"src_ip\":\"10.10.0.66\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"dest_ip\":\"10.10.0.21\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"dest_port\":502"), std::string::npos) << line;
  EXPECT_NE(line.find("\"detector\":\"modbus-write\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"severity\":1"), std::string::npos) << line;
  EXPECT_NE(line.find("\"function_code\":6"), std::string::npos) << line;
  EXPECT_NE(line.find("\"start_address\":40"), std::string::npos) << line;
}

TEST(Sensor, ModbusFramesAreCountedByFunction) {
  const auto run = RunScenario("modbus-polling", TestOptions());
  const auto& modbus = run->stats.at("modbus").as_object();
  // 3 PLCs x 50 rounds x (read 3 + read 1), requests and responses.
  EXPECT_EQ(modbus.at("frames").to_number<int>(), 600);
  EXPECT_EQ(modbus.at("functions").at("3").to_number<int>(), 300);
  EXPECT_EQ(modbus.at("functions").at("1").to_number<int>(), 300);
  EXPECT_EQ(modbus.at("exceptions").to_number<int>(), 0);
}

TEST(Sensor, TheMixedCaptureHasItsFlowsAndStaysWithinTheTable) {
  const auto run =
      RunScenario("mixed", TestOptions(), ScenarioOptions{.packets = 20'000, .flows = 1'000});
  EXPECT_TRUE(run->alerts.by_detector.empty());
  // 1,000 TCP sessions and one DNS exchange per wave of 100.
  EXPECT_EQ(run->stats.at("flows").at("created").to_number<int>(), 1'010);
  EXPECT_EQ(run->records.packets, run->stats.at("packets").to_number<std::uint64_t>());
}

TEST(Sensor, AFullFlowTableEvictsAndCountsIt) {
  SensorOptions options = TestOptions();
  options.flows.max_flows = 16;
  const auto run = RunScenario("port-scan", options);
  EXPECT_GT(run->stats.at("flows").at("evicted").to_number<int>(), 0);
  EXPECT_EQ(run->alerts.by_detector, (Expected{{"port-scan", 1}}));
}

TEST(Sensor, FullDetectorTablesIgnoreNewKeysAndCountThem) {
  SensorOptions options = TestOptions("alerts: {max-tracked: 16}\n");
  const auto run = RunScenario("syn-flood", options);
  EXPECT_GT(run->stats.at("untracked").to_number<int>(), 0);
}

}  // namespace
}  // namespace fogkeep::sensor
