// Decoding of captured frames into Packet (packet.h): link layer, IPv4/IPv6, TCP/UDP/ICMP.
//
// Decoding is allocation-free and copy-free: the spans in the Packet point into the frame.
// Every length taken from the frame is checked against both the enclosing header's length and
// the captured bytes, so a frame cut by the snap length decodes as far as it was captured,
// while a frame whose lengths contradict each other is marked malformed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "sensor/packet.h"

namespace fogkeep::sensor {

// The link-layer header types the sensor decodes, numbered as libpcap's pcap_datalink()
// reports them. Raw IP appears under three numbers depending on the platform and the file.
enum class LinkType : int {
  kEthernet = 1,    // DLT_EN10MB
  kRaw = 101,       // LINKTYPE_RAW (in files)
  kRawDlt12 = 12,   // DLT_RAW on most platforms
  kRawDlt14 = 14,   // DLT_RAW on OpenBSD
  kLinuxSll = 113,  // DLT_LINUX_SLL ("any" device)
};

// The LinkType for a pcap_datalink() value, or nullopt when the sensor cannot decode it.
std::optional<LinkType> LinkTypeFromDlt(int dlt);

// Resets `out` and decodes `frame` (the captured bytes; `wire_length` is the length the frame
// had on the wire). Returns false exactly when out.malformed != kNone; what was decoded before
// the malformed layer stays filled in (e.g. the addresses and ports of a packet with a bad
// TCP offset, which still has has_transport false).
//
// Fragments: an IPv4 or IPv6 fragment sets is_fragment and the fragment fields. A non-first
// fragment has no transport. A first fragment's transport header is decoded when it is
// complete in the fragment; a transport header cut by fragmentation is not malformed (the
// datagram decides, after reassembly) and leaves has_transport false. An IPv6 atomic fragment
// (offset 0, no more fragments; RFC 6946) is decoded as a whole datagram.
bool Decode(std::span<const std::uint8_t> frame, LinkType link, std::uint64_t timestamp_us,
            std::uint32_t wire_length, Packet& out);

// Decodes `l4` as the complete transport segment of protocol out.protocol (a reassembled IPv4
// datagram's payload, reassembly.h) into out's transport fields and payload, after clearing
// them and out.malformed; the link and IP fields are left as they are. Returns false exactly
// when out.malformed != kNone.
bool DecodeTransport(std::span<const std::uint8_t> l4, Packet& out);

// What the decoder saw, per frame.
struct DecodeCounters {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // wire lengths
  std::array<std::uint64_t, static_cast<std::size_t>(Malformed::kCount)> malformed{};
  std::uint64_t ipv4_fragments = 0;
  std::uint64_t ipv6_fragments = 0;
  std::uint64_t non_ip = 0;  // well-formed frames without IP (ARP, LLDP, ...)

  // Adds one decoded frame.
  void Count(const Packet& packet);
  std::uint64_t malformed_count(Malformed reason) const {
    return malformed[static_cast<std::size_t>(reason)];
  }
};

}  // namespace fogkeep::sensor
