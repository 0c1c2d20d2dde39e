#include "sensor/flow_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "sensor/decode.h"
#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

constexpr std::uint64_t kSecond = 1'000'000;

struct Ended {
  Flow flow;
  FlowEndReason reason;
};

class Recorder final : public FlowObserver {
 public:
  void OnFlowEnd(const Flow& flow, FlowEndReason reason) override {
    ended.push_back({flow, reason});
  }
  std::vector<Ended> ended;
};

IpAddress Ip(std::uint32_t v) { return IpAddress::V4(v); }

// A decoded TCP packet from `from`:`from_port` to `to`:`to_port`.
Packet Tcp(std::uint32_t from, std::uint16_t from_port, std::uint32_t to, std::uint16_t to_port,
           std::uint8_t flags, std::uint64_t at_us, std::size_t payload = 0) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.source = Ip(from);
  e.destination = Ip(to);
  static std::vector<std::uint8_t> bytes(1500, 'p');
  const auto frame = builder.Tcp(
      e, TcpFields{.source_port = from_port, .destination_port = to_port, .flags = flags},
      std::span(bytes).first(payload));
  Packet packet;
  EXPECT_TRUE(
      Decode(frame, LinkType::kEthernet, at_us, static_cast<std::uint32_t>(frame.size()), packet));
  packet.payload = {};  // points into the builder, which goes away
  if (payload > 0) packet.payload = std::span(bytes).first(payload);
  return packet;
}

TEST(FlowTable, BothDirectionsShareOneFlowAndTheInitiatorIsItsSource) {
  Recorder recorder;
  FlowTable table({}, &recorder);
  const FlowUpdate first = table.Update(Tcp(0x0a000001, 40000, 0x0a000002, 502, kTcpSyn, 1));
  ASSERT_NE(first.flow, nullptr);
  EXPECT_TRUE(first.created);
  EXPECT_TRUE(first.from_initiator);
  EXPECT_EQ(first.flow->tcp_state, TcpState::kSynSent);

  const FlowUpdate reply =
      table.Update(Tcp(0x0a000002, 502, 0x0a000001, 40000, kTcpSyn | kTcpAck, 2));
  EXPECT_FALSE(reply.created);
  EXPECT_FALSE(reply.from_initiator);
  EXPECT_EQ(reply.flow, first.flow);
  EXPECT_EQ(reply.state_before, TcpState::kSynSent);
  EXPECT_EQ(reply.flow->tcp_state, TcpState::kSynReceived);

  table.Update(Tcp(0x0a000001, 40000, 0x0a000002, 502, kTcpAck, 3));
  table.Update(Tcp(0x0a000001, 40000, 0x0a000002, 502, kTcpAck | kTcpPsh, 4, 12));
  const Flow& flow = *first.flow;
  EXPECT_EQ(flow.tcp_state, TcpState::kEstablished);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(flow.packets[0], 3u);
  EXPECT_EQ(flow.packets[1], 1u);
  EXPECT_EQ(flow.octets[0], 40u + 40u + 52u);  // IP octets: 20 + 20 headers, and 12 bytes
  EXPECT_EQ(flow.source, Ip(0x0a000001));
  EXPECT_EQ(flow.destination_port, 502);
  EXPECT_EQ(flow.tcp_flags[0], kTcpSyn | kTcpAck | kTcpPsh);
  EXPECT_EQ(flow.tcp_flags[1], kTcpSyn | kTcpAck);
}

TEST(FlowTable, AnotherPortOrVlanIsAnotherFlow) {
  FlowTable table({}, nullptr);
  table.Update(Tcp(1, 1000, 2, 80, kTcpSyn, 1));
  table.Update(Tcp(1, 1001, 2, 80, kTcpSyn, 2));
  Packet tagged = Tcp(1, 1000, 2, 80, kTcpSyn, 3);
  tagged.vlan_id = 7;
  EXPECT_TRUE(table.Update(tagged).created);
  EXPECT_EQ(table.size(), 3u);
}

TEST(FlowTable, IdleFlowsEndAfterTheirTimeoutAndClosedOnesAfterTheLinger) {
  Recorder recorder;
  FlowTable table({.idle_timeout_us = 60 * kSecond, .closed_linger_us = 5 * kSecond}, &recorder);
  table.Update(Tcp(1, 1000, 2, 80, kTcpSyn, 0));
  table.Update(Tcp(3, 1000, 2, 80, kTcpSyn, 1 * kSecond));
  table.Update(Tcp(3, 1000, 2, 80, kTcpRst, 2 * kSecond));  // closed at 2 s
  table.Update(Tcp(4, 1000, 2, 80, kTcpSyn, 3 * kSecond));

  table.Expire(6 * kSecond);
  EXPECT_TRUE(recorder.ended.empty());
  table.Expire(7 * kSecond);  // the closed flow's linger has passed; it is not the oldest
  ASSERT_EQ(recorder.ended.size(), 1u);
  EXPECT_EQ(recorder.ended[0].flow.source, Ip(3));
  EXPECT_EQ(recorder.ended[0].reason, FlowEndReason::kEndOfFlow);

  table.Expire(60 * kSecond);
  ASSERT_EQ(recorder.ended.size(), 2u);
  EXPECT_EQ(recorder.ended[1].flow.source, Ip(1));
  EXPECT_EQ(recorder.ended[1].reason, FlowEndReason::kIdleTimeout);

  table.Flush();
  ASSERT_EQ(recorder.ended.size(), 3u);
  EXPECT_EQ(recorder.ended[2].reason, FlowEndReason::kForcedEnd);
  EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, ActiveTimeoutReportsALongFlowAndStartsAFreshRecord) {
  Recorder recorder;
  FlowTable table({.active_timeout_us = 10 * kSecond}, &recorder);
  for (std::uint64_t t = 0; t <= 12; ++t) table.Update(Tcp(1, 1000, 2, 80, kTcpAck, t * kSecond));
  ASSERT_EQ(recorder.ended.size(), 1u);
  EXPECT_EQ(recorder.ended[0].reason, FlowEndReason::kActiveTimeout);
  EXPECT_EQ(recorder.ended[0].flow.packets[0], 10u);  // 0 s .. 9 s
  EXPECT_EQ(table.size(), 1u);
  table.Flush();
  ASSERT_EQ(recorder.ended.size(), 2u);
  EXPECT_EQ(recorder.ended[1].flow.packets[0], 3u);  // 10 s .. 12 s
  EXPECT_EQ(recorder.ended[1].flow.id, recorder.ended[0].flow.id);
}

TEST(FlowTable, AFullTableEndsTheFlowSeenLeastRecently) {
  Recorder recorder;
  FlowTable table({.max_flows = 16}, &recorder);
  for (std::uint32_t i = 0; i < 16; ++i) table.Update(Tcp(100 + i, 1000, 2, 80, kTcpSyn, i));
  table.Update(Tcp(100, 1000, 2, 80, kTcpAck, 20));  // flow 0 is recent again
  table.Update(Tcp(999, 1000, 2, 80, kTcpSyn, 21));
  ASSERT_EQ(recorder.ended.size(), 1u);
  EXPECT_EQ(recorder.ended[0].reason, FlowEndReason::kLackOfResources);
  EXPECT_EQ(recorder.ended[0].flow.source, Ip(101));
  EXPECT_EQ(table.size(), 16u);
  EXPECT_EQ(table.counters().ended[5], 1u);
}

// Random churn against a std::map model: every flow stays findable after others are erased
// (backward-shift deletion must keep probe chains intact).
TEST(FlowTable, ChurnKeepsEveryLiveFlowFindable) {
  FlowTable table({.max_flows = 64, .idle_timeout_us = 5 * kSecond}, nullptr);
  std::mt19937 random(7);
  std::map<std::uint32_t, std::uint64_t> last_seen;  // source -> last packet time
  std::uint64_t now = 0;
  for (int step = 0; step < 20'000; ++step) {
    now += 1000;
    const std::uint32_t source = random() % 200;
    const FlowUpdate update = table.Update(Tcp(source, 1, 2, 80, kTcpAck, now));
    const bool known = last_seen.contains(source);
    EXPECT_EQ(update.created, !known) << "step " << step << " source " << source;
    last_seen[source] = now;
    if (table.size() > 64) FAIL() << "over the bound";
    if (step % 500 == 0) {
      table.Expire(now);
      std::erase_if(last_seen, [&](const auto& e) { return e.second + 5 * kSecond <= now; });
    }
    // Evictions: keep the model to the table's size by the same LRU rule.
    while (last_seen.size() > table.size()) {
      auto oldest =
          std::min_element(last_seen.begin(), last_seen.end(),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
      last_seen.erase(oldest);
    }
  }
}

TEST(FlowTable, RecordsUseIpfixNames) {
  Recorder recorder;
  FlowTable table({}, &recorder);
  table.Update(Tcp(0x0a000001, 40000, 0x0a000002, 502, kTcpSyn, 1'500'000));
  table.Update(Tcp(0x0a000002, 502, 0x0a000001, 40000, kTcpRst | kTcpAck, 2'500'000));
  table.Flush();
  ASSERT_EQ(recorder.ended.size(), 1u);
  EXPECT_EQ(recorder.ended[0].reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(FormatFlowRecord(recorder.ended[0].flow, FlowEndReason::kEndOfFlow),
            "{\"flowId\":1,\"flowStartMilliseconds\":1500,\"flowEndMilliseconds\":2500,"
            "\"sourceIPv4Address\":\"10.0.0.1\",\"destinationIPv4Address\":\"10.0.0.2\","
            "\"sourceTransportPort\":40000,\"destinationTransportPort\":502,"
            "\"protocolIdentifier\":6,\"packetDeltaCount\":1,\"octetDeltaCount\":40,"
            "\"reversePacketDeltaCount\":1,\"reverseOctetDeltaCount\":40,\"tcpControlBits\":2,"
            "\"reverseTcpControlBits\":20,\"flowEndReason\":3}");
}

}  // namespace
}  // namespace fogkeep::sensor
