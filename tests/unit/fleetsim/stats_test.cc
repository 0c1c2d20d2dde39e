#include "fleetsim/stats.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

namespace fogkeep::fleetsim {
namespace {

TEST(FleetStatsTest, CountsFromManyThreads) {
  FleetStats stats;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&stats] {
      for (int i = 0; i < 1000; ++i) {
        stats.CountRequest();
        stats.CountDesired304();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const Counters c = stats.Read();
  EXPECT_EQ(c.requests, 4000u);
  EXPECT_EQ(c.desired_304, 4000u);
  EXPECT_EQ(c.desired_200, 0u);
}

TEST(FleetStatsTest, ErrorsAreGroupedByKindAndTheLastIsKept) {
  FleetStats stats;
  stats.CountError("connect", "connect: 127.0.0.1:9443: Connection refused");
  stats.CountError("HTTP 401", "report: HTTP 401: not a current device certificate");
  stats.CountError("connect", "connect: 127.0.0.1:9443: timed out");
  EXPECT_EQ(stats.Read().errors, 3u);
  const auto kinds = stats.ErrorKinds();
  EXPECT_EQ(kinds.at("connect"), 2u);
  EXPECT_EQ(kinds.at("HTTP 401"), 1u);
  EXPECT_EQ(stats.LastError(), "connect: 127.0.0.1:9443: timed out");
}

TEST(FleetStatsTest, RunningFollowsEachNodesChanges) {
  FleetStats stats;
  const std::string v1 = AppKey("nginx", "1.0"), v2 = AppKey("nginx", "2.0");
  EXPECT_EQ(stats.ReplaceRunning({}, {v1}, v1), 1);
  EXPECT_EQ(stats.ReplaceRunning({}, {v1}, v1), 2);
  EXPECT_EQ(stats.ReplaceRunning({v1}, {v2}, v2), 1);
  EXPECT_EQ(stats.Running().at(v1), 1);
  EXPECT_EQ(stats.Running().at(v2), 1);
  EXPECT_EQ(stats.ReplaceRunning({v1}, {}, v1), 0);
  EXPECT_FALSE(stats.Running().contains(v1));  // versions without nodes are dropped
  EXPECT_EQ(stats.ReplaceRunning({}, {}), 0);  // nothing watched
}

TEST(StatsLineTest, ShowsTotalsAndRatesOverTheWindow) {
  const Counters before{.enrolled = 10, .requests = 100, .desired_304 = 90};
  const Counters now{.enrolled = 10,
                     .requests = 300,
                     .desired_200 = 10,
                     .desired_304 = 280,
                     .reports = 20,
                     .errors = 1,
                     .handshakes = 10};
  const std::string line = StatsLine(now, before, 2.0, 12.0, 10, {{"nginx@1.0", 10}});
  EXPECT_EQ(line,
            "t=12.0s enrolled=10/10 req/s=100.0 check-ins/s=95.0 200=10 304=280 reports=20 "
            "errors=1 handshakes=10 running: nginx@1.0=10");
  EXPECT_NE(StatsLine(now, before, 0, 0, 10, {}).find("req/s=0.0"), std::string::npos);
  EXPECT_NE(StatsLine(now, before, 1, 0, 10, {}).find("running: none"), std::string::npos);
}

TEST(SummaryTest, JsonCarriesTheCountsAndRates) {
  Summary summary{.nodes = 50,
                  .enroll_seconds = 1.5,
                  .totals = {.enrolled = 50,
                             .requests = 500,
                             .desired_200 = 50,
                             .desired_304 = 400,
                             .reports = 50},
                  .window_seconds = 4,
                  .window = {.requests = 400, .desired_304 = 380},
                  .running = {{"nginx@1.0", 45}},
                  .error_kinds = {{"HTTP 503", 2}},
                  .last_error = "desired state: HTTP 503: busy",
                  .until_running = AppVersion{"nginx", "1.0"},
                  .until_reached = true,
                  .until_seconds = 2.25,
                  .until_from_change = true};
  const boost::json::value json = boost::json::parse(SummaryJson(summary));
  const boost::json::object& o = json.as_object();
  EXPECT_EQ(o.at("nodes").to_number<int>(), 50);
  EXPECT_EQ(o.at("enrolled").to_number<int>(), 50);
  EXPECT_EQ(o.at("totals").at("desired_304").to_number<int>(), 400);
  EXPECT_EQ(o.at("totals").at("reports").to_number<int>(), 50);
  EXPECT_DOUBLE_EQ(o.at("window").at("requests_per_second").to_number<double>(), 100.0);
  EXPECT_DOUBLE_EQ(o.at("window").at("checkins_per_second").to_number<double>(), 95.0);
  EXPECT_EQ(o.at("running").at("nginx@1.0").to_number<int>(), 45);
  EXPECT_EQ(o.at("error_kinds").at("HTTP 503").to_number<int>(), 2);
  EXPECT_TRUE(o.at("until_running").at("reached").as_bool());
  EXPECT_DOUBLE_EQ(o.at("until_running").at("seconds").to_number<double>(), 2.25);
  EXPECT_EQ(o.at("until_running").at("measured_from").as_string(), "change");

  const std::string text = SummaryText(summary);
  EXPECT_NE(text.find("100.0 requests/s, 95.0 check-ins/s"), std::string::npos) << text;
  EXPECT_NE(text.find("every node runs nginx@1.0 2.25 s after"), std::string::npos) << text;
  EXPECT_NE(text.find("HTTP 503=2"), std::string::npos) << text;
}

TEST(SummaryTest, SaysWhenTheVersionWasDesiredFromTheStart) {
  const Summary summary{.nodes = 3,
                        .until_running = AppVersion{"nginx", "2.0"},
                        .until_reached = true,
                        .until_seconds = 1.5};
  EXPECT_NE(SummaryText(summary).find("1.50 s after polling started"), std::string::npos);
  const boost::json::value json = boost::json::parse(SummaryJson(summary));
  EXPECT_EQ(json.at("until_running").at("measured_from").as_string(), "start");
}

TEST(SummaryTest, NoWindowMeansNoRates) {
  const Summary summary{.nodes = 1};
  const boost::json::value json = boost::json::parse(SummaryJson(summary));
  EXPECT_EQ(json.at("window").at("requests_per_second").to_number<double>(), 0.0);
  EXPECT_FALSE(json.as_object().contains("until_running"));
}

}  // namespace
}  // namespace fogkeep::fleetsim
