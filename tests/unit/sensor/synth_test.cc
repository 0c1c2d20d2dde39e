// Synthetic frames decode to what they were built from, carry valid checksums, and the pcap
// writer's files read back through libpcap.
#include "sensor/synth.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <vector>

#include "sensor/decode.h"
#include "sensor/modbus.h"
#include "support/support.h"

namespace fogkeep::sensor {
namespace {

using Bytes = std::vector<std::uint8_t>;
using fogkeep::testing::Must;
using fogkeep::testing::TempDir;

Bytes Copy(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

std::uint16_t OnesComplementSum(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += p[i] << 8 | p[i + 1];
  if (n % 2) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

TEST(SynthTest, Ipv4AndUdpChecksumsVerify) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.ip_id = 99;
  Bytes frame = Copy(builder.Udp(e, 1234, 53, DnsQuery(1, "example.com", 1)));
  EXPECT_EQ(OnesComplementSum(frame.data() + 14, 20), 0xffff);  // header sums to all ones
  // UDP: pseudo header (addresses, protocol, length) plus the datagram.
  std::size_t udp_length = frame.size() - 34;
  std::uint32_t pseudo = OnesComplementSum(frame.data() + 26, 8) + 17 + udp_length;
  EXPECT_EQ(OnesComplementSum(frame.data() + 34, udp_length, pseudo), 0xffff);

  Bytes icmp = Copy(builder.Icmp(e, 8, 0, Bytes{0, 1, 0, 1}));
  EXPECT_EQ(OnesComplementSum(icmp.data() + 34, icmp.size() - 34), 0xffff);
}

TEST(SynthTest, FramesDecodeToWhatWasBuilt) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.vlan_id = 12;
  Bytes modbus = ModbusReadRequest(5, 1, 3, 0, 2);
  Packet p;
  ASSERT_TRUE(Decode(builder.Tcp(e,
                                 {.source_port = 50000,
                                  .destination_port = kModbusPort,
                                  .sequence = 100,
                                  .flags = kTcpPsh | kTcpAck},
                                 modbus),
                     LinkType::kEthernet, 0, 0, p));
  EXPECT_EQ(p.vlan_id, 12);
  EXPECT_EQ(p.tcp_sequence, 100u);
  EXPECT_EQ(Bytes(p.payload.begin(), p.payload.end()), modbus);
}

TEST(SynthTest, FragmentIpv4CoversTheDatagram) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.ip_id = 0x0102;
  e.vlan_id = 3;
  Bytes payload(1000, 0x5a);
  Bytes whole = Copy(builder.Udp(e, 1, 2, payload));
  std::vector<Bytes> fragments = FragmentIpv4(whole, 300);  // 296-byte pieces
  ASSERT_EQ(fragments.size(), 4u);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < fragments.size(); ++i) {
    Packet p;
    ASSERT_TRUE(Decode(fragments[i], LinkType::kEthernet, 0, 0, p));
    EXPECT_EQ(p.vlan_id, 3);
    EXPECT_EQ(p.fragment_id, 0x0102u);
    EXPECT_EQ(p.fragment_offset, covered);
    EXPECT_EQ(p.more_fragments, i + 1 < fragments.size());
    EXPECT_EQ(OnesComplementSum(fragments[i].data() + 18, 20), 0xffff);
    covered += p.ip_payload.size();
  }
  EXPECT_EQ(covered, 1008u);
  EXPECT_TRUE(FragmentIpv4(builder.Arp(e, 1, {}), 64).empty());
}

TEST(SynthTest, PcapWriterReadsBackThroughLibpcap) {
  TempDir dir;
  std::string path = dir / "traffic.pcap";
  FrameBuilder builder;
  std::vector<Bytes> written;
  {
    PcapWriter writer = Must(PcapWriter::Create(path));
    FrameEndpoints e;
    for (int i = 0; i < 100; ++i) {
      e.ip_id = static_cast<std::uint16_t>(i);
      std::span<const std::uint8_t> frame =
          i % 2 ? builder.Udp(e, 1000, 53, DnsQuery(static_cast<std::uint16_t>(i), "a.test", 1))
                : builder.Tcp(e, {.source_port = 1, .destination_port = 443},
                              TlsClientHello("a.test"));
      written.emplace_back(frame.begin(), frame.end());
      Must(writer.Write(1'700'000'000'000'000ull + i * 1'500, frame));
    }
    Must(writer.Write(1'700'000'001'000'000ull, written[0], 1514));  // a snap-cut frame
    Must(writer.Close());
    EXPECT_TRUE(writer.Close());  // closing twice is harmless
    EXPECT_FALSE(writer.Write(0, written[0]));
  }

  char error[PCAP_ERRBUF_SIZE];
  pcap_t* pcap = pcap_open_offline(path.c_str(), error);
  ASSERT_NE(pcap, nullptr) << error;
  EXPECT_EQ(pcap_datalink(pcap), DLT_EN10MB);
  EXPECT_EQ(pcap_snapshot(pcap), 65535);
  pcap_pkthdr* header;
  const u_char* data;
  std::size_t count = 0;
  while (pcap_next_ex(pcap, &header, &data) == 1) {
    const Bytes& expected = written[count < 100 ? count : 0];
    ASSERT_EQ(header->caplen, expected.size());
    EXPECT_EQ(Bytes(data, data + header->caplen), expected);
    if (count < 100) {
      EXPECT_EQ(header->len, expected.size());
      EXPECT_EQ(header->ts.tv_sec, 1'700'000'000);
      EXPECT_EQ(header->ts.tv_usec, static_cast<suseconds_t>(count * 1'500));
    } else {
      EXPECT_EQ(header->len, 1514u);
      EXPECT_EQ(header->ts.tv_sec, 1'700'000'001);
    }
    ++count;
  }
  pcap_close(pcap);
  EXPECT_EQ(count, 101u);
}

TEST(SynthTest, PcapWriterReportsAMissingDirectory) {
  TempDir dir;
  Result<PcapWriter> writer = PcapWriter::Create(dir / "missing/traffic.pcap");
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(writer.error().message().find("missing/traffic.pcap"), std::string::npos);
}

}  // namespace
}  // namespace fogkeep::sensor
