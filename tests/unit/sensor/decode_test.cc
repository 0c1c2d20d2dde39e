// Frame decoding: every layer, every Malformed reason, and every frame cut at every length.
#include "sensor/decode.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kIp = 14;       // IPv4/IPv6 header offset in an untagged frame
constexpr std::size_t kL4 = 14 + 20;  // transport offset behind IPv4 without options

Bytes Copy(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }
Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }
void Put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// 2001:db8::<last>
IpAddress V6(std::uint8_t last) {
  std::array<std::uint8_t, 16> bytes{0x20, 0x01, 0x0d, 0xb8};
  bytes[15] = last;
  return IpAddress::V6(bytes);
}

FrameEndpoints V6Endpoints() {
  FrameEndpoints e;
  e.source = V6(1);
  e.destination = V6(2);
  return e;
}

Packet MustDecode(std::span<const std::uint8_t> frame, LinkType link = LinkType::kEthernet) {
  Packet packet;
  EXPECT_TRUE(Decode(frame, link, 1'000, static_cast<std::uint32_t>(frame.size()), packet))
      << MalformedName(packet.malformed);
  return packet;
}

Malformed DecodeFailure(std::span<const std::uint8_t> frame, LinkType link = LinkType::kEthernet) {
  Packet packet;
  bool ok = Decode(frame, link, 0, static_cast<std::uint32_t>(frame.size()), packet);
  EXPECT_EQ(ok, packet.malformed == Malformed::kNone);
  return packet.malformed;
}

bool Within(std::span<const std::uint8_t> inner, std::span<const std::uint8_t> outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

TEST(PacketTest, AddressesAndNames) {
  IpAddress v4 = IpAddress::V4(0xc0000201);
  EXPECT_TRUE(v4.is_v4());
  EXPECT_EQ(v4.v4(), 0xc0000201u);
  EXPECT_EQ(FormatIp(v4), "192.0.2.1");
  std::array<std::uint8_t, 4> net{10, 1, 2, 3};
  EXPECT_EQ(IpAddress::V4(net), IpAddress::V4(0x0a010203));
  std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_FALSE(IpAddress::V6(v6).is_v4());
  EXPECT_EQ(FormatIp(IpAddress::V6(v6)), "2001:db8::1");
  std::array<std::uint8_t, 16> v6b{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(FormatIp(IpAddress::V6(v6b)), "2001:db8:0:1::1");
  EXPECT_EQ(FormatIp(IpAddress{}), "::");
  EXPECT_EQ(FormatMac({0x00, 0x11, 0x22, 0xaa, 0xbb, 0xff}), "00:11:22:aa:bb:ff");

  std::set<std::string_view> names;
  for (int i = 0; i < static_cast<int>(Malformed::kCount); ++i) {
    std::string_view name = MalformedName(static_cast<Malformed>(i));
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"),
              std::string_view::npos);
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(Malformed::kCount));
  EXPECT_EQ(MalformedName(Malformed::kTruncatedTcp), "truncated-tcp");
  EXPECT_EQ(MalformedName(Malformed::kBadTcpOffset), "bad-tcp-offset");
}

TEST(DecodeTest, LinkTypesFromPcap) {
  EXPECT_EQ(LinkTypeFromDlt(1), LinkType::kEthernet);
  EXPECT_EQ(LinkTypeFromDlt(101), LinkType::kRaw);
  EXPECT_EQ(LinkTypeFromDlt(12), LinkType::kRawDlt12);
  EXPECT_EQ(LinkTypeFromDlt(14), LinkType::kRawDlt14);
  EXPECT_EQ(LinkTypeFromDlt(113), LinkType::kLinuxSll);
  EXPECT_EQ(LinkTypeFromDlt(105), std::nullopt);  // 802.11
}

TEST(DecodeTest, EthernetIpv4Tcp) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.ttl = 61;
  Bytes payload = Text("hello");
  Bytes frame = Copy(builder.Tcp(e,
                                 {.source_port = 40000,
                                  .destination_port = 502,
                                  .sequence = 7,
                                  .acknowledgment = 9,
                                  .flags = kTcpPsh | kTcpAck},
                                 payload));
  Packet p = MustDecode(frame);
  EXPECT_EQ(p.timestamp_us, 1'000u);
  EXPECT_EQ(p.wire_length, frame.size());
  EXPECT_EQ(p.source_mac, e.source_mac);
  EXPECT_EQ(p.destination_mac, e.destination_mac);
  EXPECT_EQ(p.vlan_id, 0);
  EXPECT_EQ(p.ethertype, kEtherTypeIpv4);
  EXPECT_EQ(p.ip_version, 4);
  EXPECT_EQ(FormatIp(p.source), "192.0.2.1");
  EXPECT_EQ(FormatIp(p.destination), "192.0.2.2");
  EXPECT_EQ(p.protocol, kProtoTcp);
  EXPECT_EQ(p.ttl, 61);
  EXPECT_EQ(p.ip_length, 20u + 20u + 5u);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.source_port, 40000);
  EXPECT_EQ(p.destination_port, 502);
  EXPECT_EQ(p.tcp_sequence, 7u);
  EXPECT_EQ(p.tcp_acknowledgment, 9u);
  EXPECT_EQ(p.tcp_flags, kTcpPsh | kTcpAck);
  EXPECT_EQ(Bytes(p.payload.begin(), p.payload.end()), payload);
  EXPECT_EQ(p.payload.data(), frame.data() + kL4 + 20);  // points into the frame, not a copy
  EXPECT_EQ(p.ip_payload.size(), 25u);
}

TEST(DecodeTest, Ipv4OptionsAreSkipped) {
  FrameBuilder builder;
  Bytes frame = Copy(builder.Udp({}, 1000, 53, Text("abcd")));
  // Grow the header to IHL 6 with one 4-byte option (NOPs and an end of list).
  frame.insert(frame.begin() + kL4, {1, 1, 1, 0});
  frame[kIp] = 0x46;
  Put16(frame, kIp + 2, 24 + 8 + 4);
  Packet p = MustDecode(frame);
  EXPECT_EQ(p.source_port, 1000);
  EXPECT_EQ(p.destination_port, 53);
  EXPECT_EQ(Bytes(p.payload.begin(), p.payload.end()), Text("abcd"));
}

TEST(DecodeTest, EthernetPaddingIsNotPayload) {
  FrameBuilder builder;
  Bytes frame = Copy(builder.Udp({}, 5000, 6000, Text("x")));
  ASSERT_EQ(frame.size(), 43u);
  frame.resize(60, 0xee);  // padded to the Ethernet minimum
  Packet p = MustDecode(frame);
  EXPECT_EQ(p.payload.size(), 1u);
  EXPECT_EQ(p.payload[0], 'x');
  EXPECT_EQ(p.ip_payload.size(), 9u);

  // The same with TCP, whose payload ends where the IP total length says.
  Bytes tcp = Copy(builder.Tcp({}, {.source_port = 1, .destination_port = 2}));
  tcp.resize(60, 0xee);
  EXPECT_TRUE(MustDecode(tcp).payload.empty());
}

TEST(DecodeTest, SnapLengthCutKeepsWhatWasCaptured) {
  FrameBuilder builder;
  Bytes payload(1000, 0x42);
  Bytes frame = Copy(builder.Tcp({}, {.source_port = 1, .destination_port = 80}, payload));
  frame.resize(96);  // tcpdump -s 96
  Packet p;
  ASSERT_TRUE(Decode(frame, LinkType::kEthernet, 0, 1054, p));
  EXPECT_EQ(p.wire_length, 1054u);
  EXPECT_EQ(p.ip_length, 1040u);
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.payload.size(), 96u - kL4 - 20);

  Bytes udp = Copy(builder.Udp({}, 1, 2, payload));
  udp.resize(50);
  ASSERT_TRUE(Decode(udp, LinkType::kEthernet, 0, 1042, p));
  EXPECT_EQ(p.payload.size(), 50u - kL4 - 8);
}

TEST(DecodeTest, VlanTags) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.vlan_id = 100;
  Bytes frame = Copy(builder.Udp(e, 1, 2));
  Packet p = MustDecode(frame);
  EXPECT_EQ(p.vlan_id, 100);
  EXPECT_EQ(p.ethertype, kEtherTypeIpv4);
  EXPECT_EQ(p.destination_port, 2);

  // QinQ: an 802.1ad outer tag (VID 7) around the 802.1Q tag (VID 100).
  Bytes qinq = frame;
  qinq.insert(qinq.begin() + 12, {0x88, 0xa8, 0x20, 0x07});
  p = MustDecode(qinq);
  EXPECT_EQ(p.vlan_id, 7);
  EXPECT_EQ(p.destination_port, 2);

  Bytes three = qinq;
  three.insert(three.begin() + 12, {0x81, 0x00, 0x00, 0x09});
  EXPECT_EQ(DecodeFailure(three), Malformed::kTooManyVlanTags);
}

TEST(DecodeTest, ArpRequestAndVlanTaggedReply) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.destination_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  Bytes request = Copy(builder.Arp(e, 1, {}));
  EXPECT_EQ(request.size(), 60u);
  Packet p = MustDecode(request);
  EXPECT_TRUE(p.is_arp);
  EXPECT_EQ(p.ip_version, 0);
  EXPECT_EQ(p.ethertype, kEtherTypeArp);
  EXPECT_EQ(p.arp.operation, 1);
  EXPECT_EQ(p.arp.sender_mac, e.source_mac);
  EXPECT_EQ(FormatIp(p.arp.sender_ip), "192.0.2.1");
  EXPECT_EQ(p.arp.target_mac, MacAddress{});
  EXPECT_EQ(FormatIp(p.arp.target_ip), "192.0.2.2");

  e.vlan_id = 30;
  MacAddress target{0x02, 0, 0, 0, 0, 9};
  p = MustDecode(builder.Arp(e, 2, target));
  EXPECT_EQ(p.vlan_id, 30);
  EXPECT_EQ(p.arp.operation, 2);
  EXPECT_EQ(p.arp.target_mac, target);
}

TEST(DecodeTest, IcmpAndIcmpv6) {
  FrameBuilder builder;
  Bytes echo = {0, 1, 0, 2, 'p', 'i', 'n', 'g'};
  Packet p = MustDecode(builder.Icmp({}, 8, 0, echo));
  EXPECT_EQ(p.protocol, kProtoIcmp);
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.icmp_type, 8);
  EXPECT_EQ(p.icmp_code, 0);
  EXPECT_EQ(p.payload.size(), 4u);

  p = MustDecode(builder.Icmp({}, 3, 3, Bytes(4 + 28, 0)));
  EXPECT_EQ(p.icmp_type, 3);
  EXPECT_EQ(p.icmp_code, 3);

  p = MustDecode(builder.Icmp(V6Endpoints(), 128, 0, echo));
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(p.protocol, kProtoIcmpv6);
  EXPECT_EQ(p.icmp_type, 128);
}

TEST(DecodeTest, Ipv6Udp) {
  FrameBuilder builder;
  FrameEndpoints e = V6Endpoints();
  e.ttl = 200;
  Packet p = MustDecode(builder.Udp(e, 5353, 53, Text("query")));
  EXPECT_EQ(p.ethertype, kEtherTypeIpv6);
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(FormatIp(p.source), "2001:db8::1");
  EXPECT_EQ(FormatIp(p.destination), "2001:db8::2");
  EXPECT_EQ(p.ttl, 200);
  EXPECT_EQ(p.protocol, kProtoUdp);
  EXPECT_EQ(p.ip_length, 40u + 8 + 5);
  EXPECT_EQ(p.source_port, 5353);
  EXPECT_EQ(Bytes(p.payload.begin(), p.payload.end()), Text("query"));
}

// An IPv6 frame whose payload is `chain` (extension headers, each {next, length, ...}) followed
// by `l4`, with the IPv6 next header `first`.
Bytes Ipv6WithChain(std::uint8_t first, const Bytes& chain, const Bytes& l4) {
  FrameBuilder builder;
  Bytes body = chain;
  body.insert(body.end(), l4.begin(), l4.end());
  return Copy(builder.Ip(V6Endpoints(), first, body));
}

Bytes UdpHeader(std::uint16_t source, std::uint16_t destination, const Bytes& payload) {
  Bytes udp = {0, 0, 0, 0, 0, 0, 0, 0};
  Put16(udp, 0, source);
  Put16(udp, 2, destination);
  Put16(udp, 4, static_cast<std::uint16_t>(8 + payload.size()));
  udp.insert(udp.end(), payload.begin(), payload.end());
  return udp;
}

TEST(DecodeTest, Ipv6ExtensionHeaderChain) {
  Bytes udp = UdpHeader(1, 2, Text("data"));
  // Hop-by-hop (8 bytes, PadN) -> routing (24 bytes) -> destination options (8) -> UDP.
  Bytes chain = {43, 0, 1, 4, 0, 0, 0, 0};
  Bytes routing(24, 0);
  routing[0] = 60;
  routing[1] = 2;
  chain.insert(chain.end(), routing.begin(), routing.end());
  chain.insert(chain.end(), {17, 0, 1, 4, 0, 0, 0, 0});
  Bytes frame = Ipv6WithChain(0, chain, udp);
  Packet p = MustDecode(frame);
  EXPECT_EQ(p.protocol, kProtoUdp);
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.destination_port, 2);
  EXPECT_EQ(Bytes(p.payload.begin(), p.payload.end()), Text("data"));
  EXPECT_EQ(p.ip_payload.size(), udp.size());

  // No next header and ESP end the walk without a transport.
  p = MustDecode(Ipv6WithChain(60, {59, 0, 1, 4, 0, 0, 0, 0}, {}));
  EXPECT_EQ(p.protocol, 59);
  EXPECT_FALSE(p.has_transport);
  p = MustDecode(Ipv6WithChain(50, {}, Bytes(16, 0xaa)));
  EXPECT_EQ(p.protocol, 50);
  EXPECT_FALSE(p.has_transport);
  EXPECT_EQ(p.ip_payload.size(), 16u);

  // Nine destination options headers: a chain longer than honest traffic uses.
  Bytes long_chain;
  for (int i = 0; i < 9; ++i) long_chain.insert(long_chain.end(), {60, 0, 1, 4, 0, 0, 0, 0});
  long_chain[8 * 8] = 17;
  EXPECT_EQ(DecodeFailure(Ipv6WithChain(60, long_chain, udp)), Malformed::kBadIpv6Header);
  // Eight are still fine.
  Bytes eight(long_chain.begin() + 8, long_chain.end());
  EXPECT_EQ(MustDecode(Ipv6WithChain(60, eight, udp)).destination_port, 2);

  // A header length reaching past the payload length.
  EXPECT_EQ(DecodeFailure(Ipv6WithChain(60, {17, 4, 1, 4, 0, 0, 0, 0}, udp)),
            Malformed::kBadIpv6Header);
}

TEST(DecodeTest, Ipv6Fragments) {
  Bytes udp = UdpHeader(7, 8, Bytes(100, 1));  // claims 108 bytes: more than the fragment holds
  Bytes first_header = {17, 0, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78};  // offset 0, M, id
  Bytes first_data(udp.begin(), udp.begin() + 48);
  Packet p = MustDecode(Ipv6WithChain(44, first_header, first_data));
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.is_first_fragment);
  EXPECT_TRUE(p.more_fragments);
  EXPECT_EQ(p.fragment_id, 0x12345678u);
  EXPECT_EQ(p.fragment_offset, 0);
  EXPECT_TRUE(p.has_transport);  // the UDP header is whole; its length spans the datagram
  EXPECT_EQ(p.destination_port, 8);
  EXPECT_EQ(p.payload.size(), 40u);

  Bytes later_header = {17, 0, 0x00, 0x30, 0x12, 0x34, 0x56, 0x78};  // offset 48, last
  p = MustDecode(Ipv6WithChain(44, later_header, Bytes(udp.begin() + 48, udp.end())));
  EXPECT_TRUE(p.is_fragment);
  EXPECT_FALSE(p.is_first_fragment);
  EXPECT_FALSE(p.more_fragments);
  EXPECT_EQ(p.fragment_offset, 48);
  EXPECT_EQ(p.protocol, kProtoUdp);
  EXPECT_FALSE(p.has_transport);
  EXPECT_EQ(p.destination_port, 0);
  EXPECT_EQ(p.ip_payload.size(), 60u);

  // An atomic fragment (RFC 6946) is a whole datagram.
  Bytes whole = UdpHeader(7, 8, Text("abc"));
  p = MustDecode(Ipv6WithChain(44, {17, 0, 0, 0, 0, 0, 0, 1}, whole));
  EXPECT_FALSE(p.is_fragment);
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.payload.size(), 3u);
}

TEST(DecodeTest, Ipv4Fragments) {
  FrameBuilder builder;
  FrameEndpoints e;
  e.ip_id = 0x4242;
  Bytes payload(200, 0x11);
  Bytes whole = Copy(builder.Udp(e, 1111, 2222, payload));
  std::vector<Bytes> fragments = FragmentIpv4(whole, 64);
  ASSERT_EQ(fragments.size(), 4u);  // 208 transport bytes in 64-byte pieces

  Packet p = MustDecode(fragments[0]);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.is_first_fragment);
  EXPECT_TRUE(p.more_fragments);
  EXPECT_EQ(p.fragment_id, 0x4242u);
  EXPECT_EQ(p.fragment_offset, 0);
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.source_port, 1111);
  EXPECT_EQ(p.payload.size(), 56u);

  p = MustDecode(fragments[2]);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_FALSE(p.is_first_fragment);
  EXPECT_EQ(p.fragment_offset, 128);
  EXPECT_FALSE(p.has_transport);
  EXPECT_EQ(p.source_port, 0);
  EXPECT_EQ(p.ip_payload.size(), 64u);

  p = MustDecode(fragments[3]);
  EXPECT_FALSE(p.more_fragments);
  EXPECT_EQ(p.fragment_offset, 192);
  EXPECT_EQ(p.ip_payload.size(), 16u);

  // A tiny first fragment that cuts the TCP header is not malformed, and has no transport.
  Bytes tcp = Copy(builder.Tcp(e, {.source_port = 1, .destination_port = 2}, payload));
  std::vector<Bytes> tiny = FragmentIpv4(tcp, 8);
  p = MustDecode(tiny[0]);
  EXPECT_TRUE(p.is_first_fragment);
  EXPECT_FALSE(p.has_transport);
}

TEST(DecodeTest, RawAndLinuxCookedLinks) {
  FrameBuilder builder;
  Bytes frame = Copy(builder.Udp({}, 1, 2, Text("r")));
  Bytes ip(frame.begin() + kIp, frame.end());
  for (LinkType link : {LinkType::kRaw, LinkType::kRawDlt12, LinkType::kRawDlt14}) {
    Packet p = MustDecode(ip, link);
    EXPECT_EQ(p.ethertype, kEtherTypeIpv4);
    EXPECT_EQ(p.destination_port, 2);
    EXPECT_EQ(p.source_mac, MacAddress{});
  }
  Bytes v6 = Copy(builder.Udp(V6Endpoints(), 1, 2, Text("r")));
  Packet p = MustDecode(Bytes(v6.begin() + kIp, v6.end()), LinkType::kRaw);
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(p.ethertype, kEtherTypeIpv6);

  // Linux cooked: packet type 0 (to us), ARPHRD_ETHER, 6-byte address, 2 padding, protocol.
  Bytes sll = {0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x07, 0, 0, 0x08, 0x00};
  sll.insert(sll.end(), ip.begin(), ip.end());
  p = MustDecode(sll, LinkType::kLinuxSll);
  EXPECT_EQ(p.source_mac, (MacAddress{0x02, 0, 0, 0, 0, 0x07}));
  EXPECT_EQ(p.destination_port, 2);
  EXPECT_EQ(DecodeFailure(Bytes(sll.begin(), sll.begin() + 15), LinkType::kLinuxSll),
            Malformed::kTruncatedEthernet);
  EXPECT_EQ(DecodeFailure({}, LinkType::kRaw), Malformed::kTruncatedIpv4);
}

TEST(DecodeTest, EveryMalformedReason) {
  FrameBuilder builder;
  Bytes tcp = Copy(builder.Tcp({}, {.source_port = 1, .destination_port = 2}, Text("abcdef")));
  Bytes udp = Copy(builder.Udp({}, 1, 2, Text("abcdef")));
  Bytes icmp = Copy(builder.Icmp({}, 8, 0, Bytes{0, 1, 0, 1}));
  Bytes v6 = Copy(builder.Udp(V6Endpoints(), 1, 2));
  FrameEndpoints broadcast;
  Bytes arp = Copy(builder.Arp(broadcast, 1, {}));

  EXPECT_EQ(DecodeFailure(Bytes(tcp.begin(), tcp.begin() + 13)), Malformed::kTruncatedEthernet);

  Bytes vlan(tcp.begin(), tcp.begin() + 12);
  vlan.insert(vlan.end(), {0x81, 0x00, 0x00});
  EXPECT_EQ(DecodeFailure(vlan), Malformed::kTruncatedVlan);

  EXPECT_EQ(DecodeFailure(Bytes(arp.begin(), arp.begin() + 14 + 27)), Malformed::kTruncatedArp);
  EXPECT_EQ(DecodeFailure(Bytes(arp.begin(), arp.begin() + 14 + 7)), Malformed::kTruncatedArp);

  EXPECT_EQ(DecodeFailure(Bytes(tcp.begin(), tcp.begin() + kIp + 19)), Malformed::kTruncatedIpv4);
  Bytes long_ihl(tcp.begin(), tcp.begin() + kIp + 20);
  long_ihl[kIp] = 0x46;  // IHL 6 with only 20 bytes captured
  EXPECT_EQ(DecodeFailure(long_ihl), Malformed::kTruncatedIpv4);

  Bytes version = tcp;
  version[kIp] = 0x55;
  EXPECT_EQ(DecodeFailure(version), Malformed::kBadIpv4Header);
  Bytes short_ihl = tcp;
  short_ihl[kIp] = 0x44;
  EXPECT_EQ(DecodeFailure(short_ihl), Malformed::kBadIpv4Header);

  Bytes total = tcp;
  Put16(total, kIp + 2, 19);
  EXPECT_EQ(DecodeFailure(total), Malformed::kBadIpv4Length);

  EXPECT_EQ(DecodeFailure(Bytes(v6.begin(), v6.begin() + kIp + 39)), Malformed::kTruncatedIpv6);
  Bytes v6_version = v6;
  v6_version[kIp] = 0x40;
  EXPECT_EQ(DecodeFailure(v6_version), Malformed::kBadIpv6Header);

  // IP says 10 transport bytes: shorter than a TCP header.
  Bytes short_tcp = tcp;
  Put16(short_tcp, kIp + 2, 30);
  EXPECT_EQ(DecodeFailure(short_tcp), Malformed::kTruncatedTcp);
  EXPECT_EQ(DecodeFailure(Bytes(tcp.begin(), tcp.begin() + kL4 + 19)), Malformed::kTruncatedTcp);

  Bytes offset_low = tcp;
  offset_low[kL4 + 12] = 4 << 4;
  EXPECT_EQ(DecodeFailure(offset_low), Malformed::kBadTcpOffset);
  Bytes offset_high = tcp;
  offset_high[kL4 + 12] = 15 << 4;  // 60 bytes of header in a 26-byte segment
  Packet p;
  EXPECT_FALSE(Decode(offset_high, LinkType::kEthernet, 0, 0, p));
  EXPECT_EQ(p.malformed, Malformed::kBadTcpOffset);
  EXPECT_FALSE(p.has_transport);
  EXPECT_EQ(p.destination_port, 2);  // what was sound is kept
  EXPECT_EQ(p.ip_version, 4);

  EXPECT_EQ(DecodeFailure(Bytes(udp.begin(), udp.begin() + kL4 + 7)), Malformed::kTruncatedUdp);
  Bytes udp_short = udp;
  Put16(udp_short, kL4 + 4, 7);
  EXPECT_EQ(DecodeFailure(udp_short), Malformed::kBadUdpLength);
  Bytes udp_long = udp;
  Put16(udp_long, kL4 + 4, 15);  // one more than the IP payload
  EXPECT_EQ(DecodeFailure(udp_long), Malformed::kBadUdpLength);
  Bytes udp_zero = udp;
  Put16(udp_zero, kL4 + 4, 0);
  EXPECT_EQ(DecodeFailure(udp_zero), Malformed::kBadUdpLength);

  Bytes icmp_short = icmp;
  Put16(icmp_short, kIp + 2, 20 + 4);
  EXPECT_EQ(DecodeFailure(icmp_short), Malformed::kTruncatedIcmp);
}

TEST(DecodeTest, DecodeTransportOfReassembledDatagram) {
  FrameBuilder builder;
  Bytes frame = Copy(builder.Udp({}, 10, 20, Text("reassembled")));
  Packet p = MustDecode(frame);
  Bytes l4(p.ip_payload.begin(), p.ip_payload.end());
  p.has_transport = false;
  p.source_port = 0;
  ASSERT_TRUE(DecodeTransport(l4, p));
  EXPECT_TRUE(p.has_transport);
  EXPECT_EQ(p.source_port, 10);
  EXPECT_EQ(p.payload.data(), l4.data() + 8);
  EXPECT_EQ(p.payload.size(), 11u);
  EXPECT_EQ(FormatIp(p.source), "192.0.2.1");  // IP fields untouched

  l4[5] = 200;  // a UDP length past the datagram
  EXPECT_FALSE(DecodeTransport(l4, p));
  EXPECT_EQ(p.malformed, Malformed::kBadUdpLength);
  EXPECT_FALSE(DecodeTransport({}, p));
  EXPECT_EQ(p.malformed, Malformed::kTruncatedUdp);
}

TEST(DecodeTest, Counters) {
  FrameBuilder builder;
  DecodeCounters counters;
  Packet p;
  FrameEndpoints e;
  Bytes udp = Copy(builder.Udp(e, 1, 2, Bytes(100, 0)));
  Decode(udp, LinkType::kEthernet, 0, 142, p);
  counters.Count(p);
  Decode(builder.Arp(e, 1, {}), LinkType::kEthernet, 0, 60, p);
  counters.Count(p);
  Decode(FragmentIpv4(udp, 16)[1], LinkType::kEthernet, 0, 50, p);
  counters.Count(p);
  Decode(Bytes(5, 0), LinkType::kEthernet, 0, 5, p);
  counters.Count(p);
  EXPECT_EQ(counters.packets, 4u);
  EXPECT_EQ(counters.bytes, 142u + 60 + 50 + 5);
  EXPECT_EQ(counters.non_ip, 1u);
  EXPECT_EQ(counters.ipv4_fragments, 1u);
  EXPECT_EQ(counters.ipv6_fragments, 0u);
  EXPECT_EQ(counters.malformed_count(Malformed::kTruncatedEthernet), 1u);
  EXPECT_EQ(counters.malformed_count(Malformed::kTruncatedTcp), 0u);
}

// Every frame cut at every length decodes without reading outside the captured bytes (the
// sanitizer build catches the reads), reports consistently, and keeps its spans inside it.
TEST(DecodeTest, EveryFrameTruncatedAtEveryLength) {
  FrameBuilder builder;
  FrameEndpoints tagged;
  tagged.vlan_id = 5;
  std::vector<Bytes> frames;
  frames.push_back(Copy(builder.Tcp(tagged, {.source_port = 1, .destination_port = 502},
                                    ModbusReadRequest(1, 1, 3, 0, 10))));
  frames.push_back(Copy(builder.Udp({}, 1, 53, DnsQuery(1, "example.com", 1))));
  frames.push_back(Copy(builder.Udp(V6Endpoints(), 1, 53, DnsQuery(1, "example.com", 28))));
  frames.push_back(Copy(builder.Tcp(V6Endpoints(), {.source_port = 1, .destination_port = 443},
                                    TlsClientHello("example.com"))));
  frames.push_back(Copy(builder.Icmp({}, 8, 0, Bytes{0, 1, 0, 1})));
  frames.push_back(Copy(builder.Icmp(V6Endpoints(), 128, 0, Bytes{0, 1, 0, 1})));
  frames.push_back(Copy(builder.Arp(tagged, 1, {})));
  Bytes chain = {43, 0, 1, 4, 0, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 9};
  frames.push_back(Ipv6WithChain(0, chain, UdpHeader(1, 2, Text("fragment"))));
  FrameEndpoints e;
  e.ip_id = 3;
  frames.push_back(FragmentIpv4(builder.Udp(e, 1, 2, Bytes(64, 1)), 32)[1]);

  for (const Bytes& whole : frames) {
    for (LinkType link : {LinkType::kEthernet, LinkType::kRaw, LinkType::kLinuxSll}) {
      for (std::size_t n = 0; n <= whole.size(); ++n) {
        // A fresh heap copy of exactly n bytes, so that an overread lands outside it.
        std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + n);
        std::span<const std::uint8_t> frame(cut);
        Packet p;
        bool ok = Decode(frame, link, 0, static_cast<std::uint32_t>(whole.size()), p);
        ASSERT_EQ(ok, p.malformed == Malformed::kNone) << n;
        ASSERT_TRUE(Within(p.payload, frame)) << n;
        ASSERT_TRUE(Within(p.ip_payload, frame)) << n;
        if (p.has_transport && p.ip_version != 0) {
          ASSERT_TRUE(Within(p.payload, p.ip_payload));
        }
      }
    }
    // The whole frame decodes cleanly as Ethernet.
    MustDecode(whole);
  }
}

}  // namespace
}  // namespace fogkeep::sensor
