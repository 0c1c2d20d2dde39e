// Packet: one captured frame decoded in place, the contract between the decoder (decode.h) and
// everything that looks at traffic (flow table, detectors).
//
// Decoding never allocates and never copies payload bytes: spans point into the captured
// frame, which the caller keeps alive while the Packet is used. Every length read from the
// frame is checked against what was captured before it is used; a frame that lies about a
// length is marked `malformed` with the reason and decoded no further than its last sound
// layer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fogkeep::sensor {

// An IPv4 or IPv6 address. IPv4 is kept in the IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one
// type keys flows of both families and compares with memcmp.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress V4(std::uint32_t host_order);
  static IpAddress V4(std::span<const std::uint8_t, 4> network_order);
  static IpAddress V6(std::span<const std::uint8_t, 16> network_order);
  bool is_v4() const;
  std::uint32_t v4() const;  // host order; only when is_v4()
  auto operator<=>(const IpAddress&) const = default;
};
// "192.0.2.1" or "2001:db8::1" (RFC 5952).
std::string FormatIp(const IpAddress& address);

using MacAddress = std::array<std::uint8_t, 6>;
// "00:11:22:33:44:55"
std::string FormatMac(const MacAddress& mac);

// Why a frame was not decoded to its end. Counted per reason (DecodeCounters).
enum class Malformed : std::uint8_t {
  kNone = 0,
  kTruncatedEthernet,  // shorter than an Ethernet header
  kTruncatedVlan,      // an 802.1Q tag cut short
  kTooManyVlanTags,    // more than two stacked tags
  kTruncatedArp,
  kTruncatedIpv4,  // shorter than 20 bytes or than its IHL
  kBadIpv4Header,  // version != 4 or IHL < 5
  kBadIpv4Length,  // total length below the header length
  kTruncatedIpv6,
  kBadIpv6Header,  // version != 6, or an extension header chain too long or cut short
  kTruncatedTcp,   // shorter than 20 bytes
  kBadTcpOffset,   // data offset < 5 or past the end of the segment
  kTruncatedUdp,
  kBadUdpLength,  // length field below 8 or past the end of the datagram
  kTruncatedIcmp,
  kCount
};
std::string_view MalformedName(Malformed reason);

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;

// TCP flag bits as in the header's 13th byte (tcpControlBits in IPFIX).
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;

struct ArpInfo {
  std::uint16_t operation = 0;  // 1 request, 2 reply
  MacAddress sender_mac{};
  IpAddress sender_ip;  // only Ethernet/IPv4 ARP is decoded
  MacAddress target_mac{};
  IpAddress target_ip;
};

struct Packet {
  std::uint64_t timestamp_us = 0;  // capture time, microseconds since the epoch
  std::uint32_t wire_length = 0;   // the frame's length on the wire (may exceed what was captured)

  // Link layer.
  MacAddress source_mac{};
  MacAddress destination_mac{};
  std::uint16_t vlan_id = 0;  // the outer 802.1Q tag's VID; 0 when untagged
  std::uint16_t ethertype = 0;

  bool is_arp = false;
  ArpInfo arp;

  // Network layer: ip_version is 0 when the frame carries no IP.
  std::uint8_t ip_version = 0;
  IpAddress source;
  IpAddress destination;
  std::uint8_t protocol = 0;    // IPv4 protocol / IPv6 next header after extension headers
  std::uint8_t ttl = 0;         // or hop limit
  std::uint32_t ip_length = 0;  // the IP datagram's length as its header says (header included)
  // IPv4 fragment (MF set or offset > 0) or IPv6 fragment header. A non-first fragment has no
  // transport header: the ports stay 0 and has_transport is false.
  bool is_fragment = false;
  bool is_first_fragment = false;
  // When is_fragment: the IPv4 identification (or the IPv6 fragment header's), the fragment's
  // offset in bytes and its more-fragments flag; what reassembly (reassembly.h) keys and places
  // fragments by.
  std::uint32_t fragment_id = 0;
  std::uint16_t fragment_offset = 0;
  bool more_fragments = false;
  // The bytes after the IP header (IPv6: after the extension headers walked), bounded by both
  // the IP length and what was captured.
  std::span<const std::uint8_t> ip_payload;

  // Transport layer, when has_transport.
  bool has_transport = false;
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  std::uint8_t tcp_flags = 0;
  std::uint32_t tcp_sequence = 0;
  std::uint32_t tcp_acknowledgment = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  // Application bytes of this packet: the TCP/UDP payload, bounded by both the IP length and
  // what was captured (so it may be shorter than the wire carried).
  std::span<const std::uint8_t> payload;

  Malformed malformed = Malformed::kNone;
};

}  // namespace fogkeep::sensor
