#include "sensor/config.h"

#include <gtest/gtest.h>

namespace fogkeep::sensor {
namespace {

TEST(SensorConfig, AnEmptyFileKeepsTheDefaults) {
  auto options = ParseSensorConfig("");
  ASSERT_TRUE(options) << options.error().message();
  EXPECT_EQ(options->flows.max_flows, 65'536u);
  EXPECT_EQ(options->detectors.port_scan.ports, 64u);
  EXPECT_TRUE(options->detectors.modbus_write.allowed_writers.empty());
}

TEST(SensorConfig, EverySectionIsRead) {
  auto options = ParseSensorConfig(R"(
flows: {max-flows: 1000, idle-timeout: 2m, active-timeout: 1h, closed-linger: 3s}
reassembly: {max-datagrams: 8, timeout: 10s}
alerts: {cooldown: 5m, max-tracked: 500}
detectors:
  port-scan: {enabled: false, ports: 10, window: 30s}
  host-sweep: {hosts: 20, window: 2m}
  syn-flood: {half-open: 99}
  baseline: {enabled: true, learning: 1h}
  modbus-write: {allowed-writers: [10.0.0.5, 10.0.1.0/24, "2001:db8::/32"]}
  modbus-exceptions: {count: 3, window: 1m}
  dns: {max-label: 40, entropy: 3.5, entropy-min-length: 16, nxdomain: 7, window: 5m}
  arp-spoof: {enabled: false}
)");
  ASSERT_TRUE(options) << options.error().message();
  EXPECT_EQ(options->flows.max_flows, 1000u);
  EXPECT_EQ(options->flows.idle_timeout_us, 120'000'000u);
  EXPECT_EQ(options->flows.closed_linger_us, 3'000'000u);
  EXPECT_EQ(options->reassembly.max_datagrams, 8u);
  EXPECT_EQ(options->detectors.cooldown_us, 300'000'000u);
  EXPECT_EQ(options->detectors.max_tracked, 500u);
  EXPECT_FALSE(options->detectors.port_scan.enabled);
  EXPECT_EQ(options->detectors.host_sweep.hosts, 20u);
  EXPECT_EQ(options->detectors.syn_flood.half_open, 99u);
  EXPECT_EQ(options->detectors.baseline.learning_us, 3'600'000'000u);
  ASSERT_EQ(options->detectors.modbus_write.allowed_writers.size(), 3u);
  EXPECT_DOUBLE_EQ(options->detectors.dns.entropy, 3.5);
  EXPECT_EQ(options->detectors.dns.nxdomain, 7u);
  EXPECT_FALSE(options->detectors.arp_spoof.enabled);
}

TEST(SensorConfig, MistakesAreRefusedWithTheirPath) {
  const std::pair<const char*, const char*> cases[] = {
      {"detectors: {port-scan: {portz: 10}}", "detectors.port-scan.portz: unknown key"},
      {"detectors: {port-scan: {ports: ten}}", "detectors.port-scan.ports: must be a whole"},
      {"detectors: {port-scan: {ports: 1}}", "detectors.port-scan.ports: must be a whole"},
      {"detectors: {port-scan: {ports: -5}}", "detectors.port-scan.ports"},
      {"detectors: {port-scan: {enabled: yes}}", "must be true or false"},
      {"detectors: {dns: {entropy: 9}}", "detectors.dns.entropy: must be a number"},
      {"detectors: {modbus-write: {allowed-writers: [10.0.0.0/33]}}", "the prefix must be"},
      {"detectors: {modbus-write: {allowed-writers: [plc.example]}}", "is not an IP address"},
      {"detectors: {modbus-write: {allowed-writers: 10.0.0.5}}", "must be a list"},
      {"flows: {idle-timeout: 90}", "flows.idle-timeout"},
      {"flows: {max-flows: 99999999999}", "flows.max-flows"},
      {"flows: [1, 2]", "flows: must be a map"},
      {"sensors: {}", "sensors: unknown key"},
      {"flows: {max-flows: [1]}", "flows.max-flows"},
  };
  for (const auto& [yaml, message] : cases) {
    auto options = ParseSensorConfig(yaml);
    ASSERT_FALSE(options) << yaml;
    EXPECT_EQ(options.error().code(), ErrorCode::kInvalidInput) << yaml;
    EXPECT_NE(options.error().message().find(message), std::string::npos)
        << yaml << " -> " << options.error().message();
  }
}

TEST(SensorConfig, CidrsMatchTheirBlockOnly) {
  const Cidr v4 = *ParseCidr("10.0.1.0/24");
  EXPECT_TRUE(v4.Contains(IpAddress::V4(0x0a0001fe)));
  EXPECT_FALSE(v4.Contains(IpAddress::V4(0x0a0002fe)));
  const Cidr host = *ParseCidr("10.0.0.5");
  EXPECT_TRUE(host.Contains(IpAddress::V4(0x0a000005)));
  EXPECT_FALSE(host.Contains(IpAddress::V4(0x0a000006)));
  const Cidr odd = *ParseCidr("192.168.0.0/13");
  EXPECT_TRUE(odd.Contains(IpAddress::V4(0xc0af0001)));   // 192.175.0.1
  EXPECT_FALSE(odd.Contains(IpAddress::V4(0xc0b00001)));  // 192.176.0.1
  const Cidr v6 = *ParseCidr("2001:db8::/32");
  std::array<std::uint8_t, 16> inside = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0,    0,    0,    0,    0, 0, 0, 1};
  EXPECT_TRUE(v6.Contains(IpAddress::V6(std::span<const std::uint8_t, 16>(inside))));
  EXPECT_FALSE(v6.Contains(IpAddress::V4(0x0a000005)));
  EXPECT_TRUE(ParseCidr("0.0.0.0/0")->Contains(IpAddress::V4(0x01020304)));
  EXPECT_FALSE(
      ParseCidr("0.0.0.0/0")->Contains(IpAddress::V6(std::span<const std::uint8_t, 16>(inside))));
}

}  // namespace
}  // namespace fogkeep::sensor
