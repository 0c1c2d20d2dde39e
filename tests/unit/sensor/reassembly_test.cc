// IPv4 reassembly: order, overlaps, limits and timeouts.
#include "sensor/reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "sensor/decode.h"
#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes Sequence(std::size_t n, std::uint8_t first = 0) {
  Bytes b(n);
  std::iota(b.begin(), b.end(), first);
  return b;
}

class ReassemblyTest : public ::testing::Test {
 protected:
  // Builds, decodes and offers one fragment of datagram `id` (UDP) at time `time_us`.
  std::span<const std::uint8_t> Offer(Ipv4Reassembler& reassembler, std::uint16_t id,
                                      std::uint16_t offset, bool more, const Bytes& data,
                                      std::uint64_t time_us = 0,
                                      std::uint32_t source = 0xc0000201) {
    FrameEndpoints e;
    e.ip_id = id;
    e.source = IpAddress::V4(source);
    Packet p;
    EXPECT_TRUE(Decode(builder_.Ipv4Fragment(e, kProtoUdp, offset, more, data), LinkType::kEthernet,
                       time_us, 0, p));
    EXPECT_TRUE(p.is_fragment);
    last_ = p;
    return reassembler.Add(p);
  }

  FrameBuilder builder_;
  Packet last_;
};

TEST_F(ReassemblyTest, InOrderDatagramReassemblesAndDecodes) {
  FrameEndpoints e;
  e.ip_id = 77;
  Bytes payload = Sequence(300);
  std::span<const std::uint8_t> frame = builder_.Udp(e, 4000, 53, payload);
  Bytes whole(frame.begin(), frame.end());
  std::vector<Bytes> fragments = FragmentIpv4(whole, 120);
  ASSERT_EQ(fragments.size(), 3u);

  Ipv4Reassembler reassembler;
  std::span<const std::uint8_t> l4;
  Packet p;
  for (std::size_t i = 0; i < fragments.size(); ++i) {
    ASSERT_TRUE(Decode(fragments[i], LinkType::kEthernet, i, 0, p));
    l4 = reassembler.Add(p);
    if (i + 1 < fragments.size()) {
      EXPECT_TRUE(l4.empty());
    }
  }
  ASSERT_EQ(l4.size(), 308u);
  EXPECT_TRUE(std::equal(l4.begin(), l4.end(), whole.begin() + 34));
  ASSERT_TRUE(DecodeTransport(l4, p));
  EXPECT_EQ(p.source_port, 4000);
  EXPECT_EQ(p.destination_port, 53);
  EXPECT_EQ(Bytes(p.payload.begin(), p.payload.end()), payload);
  EXPECT_EQ(reassembler.counters().fragments, 3u);
  EXPECT_EQ(reassembler.counters().reassembled, 1u);
  EXPECT_EQ(reassembler.in_progress(), 0u);
  EXPECT_EQ(reassembler.held_bytes(), 0u);
}

TEST_F(ReassemblyTest, OutOfOrderAndInterleavedDatagrams) {
  Ipv4Reassembler reassembler;
  Bytes data = Sequence(40);
  // Last first, then the middle, then the first; another datagram with the same id from
  // another source interleaved.
  EXPECT_TRUE(Offer(reassembler, 5, 32, false, Bytes(data.begin() + 32, data.end())).empty());
  EXPECT_TRUE(Offer(reassembler, 5, 0, true, Bytes(16, 0xee), 0, 0x0a000001).empty());
  EXPECT_TRUE(Offer(reassembler, 5, 16, true, Bytes(data.begin() + 16, data.begin() + 32)).empty());
  EXPECT_EQ(reassembler.in_progress(), 2u);
  std::span<const std::uint8_t> l4 =
      Offer(reassembler, 5, 0, true, Bytes(data.begin(), data.begin() + 16));
  EXPECT_EQ(Bytes(l4.begin(), l4.end()), data);
  EXPECT_EQ(reassembler.in_progress(), 1u);
  l4 = Offer(reassembler, 5, 16, false, Bytes(8, 0xef), 0, 0x0a000001);
  ASSERT_EQ(l4.size(), 24u);
  EXPECT_EQ(l4[0], 0xee);
  EXPECT_EQ(l4[23], 0xef);
  EXPECT_EQ(reassembler.counters().reassembled, 2u);
}

TEST_F(ReassemblyTest, ConflictingOverlapDropsTheDatagram) {
  Ipv4Reassembler reassembler;
  Offer(reassembler, 9, 0, true, Bytes(16, 'A'));
  // Bytes 8..23: the first 8 overlap with different content.
  EXPECT_TRUE(Offer(reassembler, 9, 8, true, Bytes(16, 'B')).empty());
  EXPECT_EQ(reassembler.counters().overlaps, 1u);
  EXPECT_EQ(reassembler.in_progress(), 0u);
  // What is left of it starts a new datagram that never completes from the tail alone.
  EXPECT_TRUE(Offer(reassembler, 9, 16, false, Bytes(8, 'C')).empty());
  EXPECT_EQ(reassembler.counters().reassembled, 0u);
}

TEST_F(ReassemblyTest, ExactDuplicatesAreAccepted) {
  Ipv4Reassembler reassembler;
  Offer(reassembler, 9, 0, true, Bytes(16, 'A'));
  Offer(reassembler, 9, 0, true, Bytes(16, 'A'));  // mirror-port duplicate
  Offer(reassembler, 9, 8, true, Bytes(8, 'A'));   // overlapping, same bytes
  std::span<const std::uint8_t> l4 = Offer(reassembler, 9, 16, false, Bytes(3, 'Z'));
  EXPECT_EQ(reassembler.counters().overlaps, 0u);
  ASSERT_EQ(l4.size(), 19u);
  EXPECT_EQ(l4[15], 'A');
  EXPECT_EQ(l4[18], 'Z');
}

TEST_F(ReassemblyTest, TimeoutByPacketTime) {
  Ipv4Reassembler reassembler({.timeout_us = 30'000'000});
  Offer(reassembler, 1, 0, true, Bytes(8, 1), 1'000'000);
  // Within the timeout: still there.
  Offer(reassembler, 2, 0, true, Bytes(8, 1), 31'000'000);
  EXPECT_EQ(reassembler.counters().timed_out, 0u);
  EXPECT_EQ(reassembler.in_progress(), 2u);
  // 30 s and a microsecond after the first started: it is dropped before the new fragment
  // is placed, so the new fragment starts over.
  EXPECT_TRUE(Offer(reassembler, 1, 8, false, Bytes(8, 2), 31'000'001).empty());
  EXPECT_EQ(reassembler.counters().timed_out, 1u);
  EXPECT_EQ(reassembler.counters().reassembled, 0u);
  reassembler.Expire(100'000'000);
  EXPECT_EQ(reassembler.counters().timed_out, 3u);
  EXPECT_EQ(reassembler.in_progress(), 0u);
  EXPECT_EQ(reassembler.held_bytes(), 0u);
}

TEST_F(ReassemblyTest, TooLargeDatagram) {
  Ipv4Reassembler reassembler;
  EXPECT_TRUE(Offer(reassembler, 1, 65528, false, Bytes(16, 1)).empty());
  EXPECT_EQ(reassembler.counters().too_large, 1u);
  EXPECT_EQ(reassembler.in_progress(), 0u);

  Ipv4Reassembler small({.max_datagram_bytes = 1000});
  Offer(small, 1, 0, true, Bytes(992, 1));
  EXPECT_TRUE(Offer(small, 1, 992, false, Bytes(16, 1)).empty());
  EXPECT_EQ(small.counters().too_large, 1u);
  EXPECT_EQ(small.held_bytes(), 0u);
}

TEST_F(ReassemblyTest, TooManyDatagramsEvictsTheOldest) {
  Ipv4Reassembler reassembler({.max_datagrams = 2});
  Offer(reassembler, 1, 0, true, Bytes(8, 1));
  Offer(reassembler, 2, 0, true, Bytes(8, 2));
  Offer(reassembler, 3, 0, true, Bytes(8, 3));
  EXPECT_EQ(reassembler.counters().evicted, 1u);
  EXPECT_EQ(reassembler.in_progress(), 2u);
  EXPECT_TRUE(Offer(reassembler, 1, 8, false, Bytes(8, 1)).empty());  // 1 is gone
  EXPECT_EQ(reassembler.counters().evicted, 2u);                      // and evicted 2
  EXPECT_EQ(Offer(reassembler, 3, 8, false, Bytes(8, 3)).size(), 16u);
}

TEST_F(ReassemblyTest, ByteBudgetEvictsTheOldest) {
  Ipv4Reassembler reassembler({.budget_bytes = 1024});
  Offer(reassembler, 1, 0, true, Bytes(800, 1));
  EXPECT_EQ(reassembler.held_bytes(), 800u);
  Offer(reassembler, 2, 0, true, Bytes(400, 2));
  EXPECT_EQ(reassembler.counters().evicted, 1u);
  EXPECT_EQ(reassembler.in_progress(), 1u);
  EXPECT_EQ(reassembler.held_bytes(), 400u);
  // A single datagram past the budget cannot be held at all.
  Offer(reassembler, 3, 1024, true, Bytes(8, 3));
  EXPECT_EQ(reassembler.counters().evicted, 3u);  // datagram 2, then 3 itself
  EXPECT_EQ(reassembler.in_progress(), 0u);
  EXPECT_EQ(reassembler.held_bytes(), 0u);
}

TEST_F(ReassemblyTest, InconsistentFragments) {
  Ipv4Reassembler reassembler;
  Offer(reassembler, 1, 0, true, Bytes(12, 1));  // not a multiple of 8 with more to come
  EXPECT_EQ(reassembler.counters().inconsistent, 1u);
  Offer(reassembler, 2, 8, false, Bytes(8, 1));
  Offer(reassembler, 2, 8, false, Bytes(16, 1));  // a second, different end
  EXPECT_EQ(reassembler.counters().inconsistent, 2u);
  Offer(reassembler, 4, 16, false, Bytes(8, 1));
  Offer(reassembler, 4, 24, true, Bytes(8, 1));  // data past the end
  EXPECT_EQ(reassembler.counters().inconsistent, 3u);
  EXPECT_EQ(reassembler.in_progress(), 0u);
}

TEST_F(ReassemblyTest, SteadyStateReusesSlots) {
  Ipv4Reassembler reassembler({.max_datagrams = 4});
  Bytes data = Sequence(64);
  for (std::uint16_t id = 0; id < 200; ++id) {
    Offer(reassembler, id, 32, false, Bytes(data.begin() + 32, data.end()), id);
    std::span<const std::uint8_t> l4 =
        Offer(reassembler, id, 0, true, Bytes(data.begin(), data.begin() + 32), id);
    ASSERT_EQ(Bytes(l4.begin(), l4.end()), data);
  }
  EXPECT_EQ(reassembler.counters().reassembled, 200u);
  EXPECT_EQ(reassembler.counters().evicted, 0u);
}

}  // namespace
}  // namespace fogkeep::sensor
