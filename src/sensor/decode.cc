#include "sensor/decode.h"

#include <algorithm>
#include <cstring>

#include "sensor/wire.h"

namespace fogkeep::sensor {

namespace {

using wire::Load16;
using wire::Load32;

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kLinuxSllHeader = 16;
constexpr std::size_t kVlanTag = 4;
constexpr std::size_t kMaxVlanTags = 2;
constexpr std::uint16_t kEtherTypeVlanLegacyQinQ = 0x9100;
constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
// Longer chains do not occur in honest traffic; they are a way to hide the transport header.
constexpr int kMaxIpv6ExtensionHeaders = 8;
constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6Ah = 51;
constexpr std::uint8_t kIpv6DestinationOptions = 60;
constexpr std::size_t kTcpMinHeader = 20;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kIcmpHeader = 8;
constexpr std::size_t kArpEthernetIpv4 = 28;

bool Fail(Packet& out, Malformed reason) {
  out.malformed = reason;
  return false;
}

// Decodes the transport header at the start of `l4`, the captured bytes of a segment whose IP
// header says it is `l4_length` bytes long (l4.size() <= l4_length). `whole` is false for a
// first fragment, whose transport header and lengths may be cut by fragmentation rather than
// lie.
bool DecodeL4(std::span<const std::uint8_t> l4, std::size_t l4_length, bool whole, Packet& out) {
  const std::uint8_t* p = l4.data();
  switch (out.protocol) {
    case kProtoTcp: {
      if (!whole && l4_length < kTcpMinHeader) return true;
      if (l4.size() < kTcpMinHeader) return Fail(out, Malformed::kTruncatedTcp);
      out.source_port = Load16(p);
      out.destination_port = Load16(p + 2);
      out.tcp_sequence = Load32(p + 4);
      out.tcp_acknowledgment = Load32(p + 8);
      out.tcp_flags = p[13];
      std::size_t offset = std::size_t{p[12]} >> 4 << 2;
      if (offset < kTcpMinHeader) return Fail(out, Malformed::kBadTcpOffset);
      if (offset > l4_length) return whole ? Fail(out, Malformed::kBadTcpOffset) : true;
      if (offset > l4.size()) return Fail(out, Malformed::kTruncatedTcp);
      out.has_transport = true;
      out.payload = l4.subspan(offset);
      return true;
    }
    case kProtoUdp: {
      if (!whole && l4_length < kUdpHeader) return true;
      if (l4.size() < kUdpHeader) return Fail(out, Malformed::kTruncatedUdp);
      out.source_port = Load16(p);
      out.destination_port = Load16(p + 2);
      std::size_t length = Load16(p + 4);
      if (length < kUdpHeader || (whole && length > l4_length)) {
        return Fail(out, Malformed::kBadUdpLength);
      }
      out.has_transport = true;
      out.payload = l4.subspan(kUdpHeader, std::min(length, l4.size()) - kUdpHeader);
      return true;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (!whole && l4_length < kIcmpHeader) return true;
      if (l4.size() < kIcmpHeader) return Fail(out, Malformed::kTruncatedIcmp);
      out.icmp_type = p[0];
      out.icmp_code = p[1];
      out.has_transport = true;
      out.payload = l4.subspan(kIcmpHeader);
      return true;
    }
    default:
      return true;
  }
}

bool DecodeArp(std::span<const std::uint8_t> d, Packet& out) {
  if (d.size() < 8) return Fail(out, Malformed::kTruncatedArp);
  out.is_arp = true;
  out.arp.operation = Load16(d.data() + 6);
  bool ethernet_ipv4 =
      Load16(d.data()) == 1 && Load16(d.data() + 2) == kEtherTypeIpv4 && d[4] == 6 && d[5] == 4;
  if (!ethernet_ipv4) return true;
  if (d.size() < kArpEthernetIpv4) return Fail(out, Malformed::kTruncatedArp);
  std::memcpy(out.arp.sender_mac.data(), d.data() + 8, 6);
  out.arp.sender_ip = IpAddress::V4(d.subspan<14, 4>());
  std::memcpy(out.arp.target_mac.data(), d.data() + 18, 6);
  out.arp.target_ip = IpAddress::V4(d.subspan<24, 4>());
  return true;
}

bool DecodeIpv4(std::span<const std::uint8_t> d, Packet& out) {
  if (d.size() < kIpv4MinHeader) return Fail(out, Malformed::kTruncatedIpv4);
  if (d[0] >> 4 != 4) return Fail(out, Malformed::kBadIpv4Header);
  std::size_t header = std::size_t{d[0] & 0x0fu} * 4;
  if (header < kIpv4MinHeader) return Fail(out, Malformed::kBadIpv4Header);
  if (d.size() < header) return Fail(out, Malformed::kTruncatedIpv4);
  out.ip_version = 4;
  out.ttl = d[8];
  out.protocol = d[9];
  out.source = IpAddress::V4(d.subspan<12, 4>());
  out.destination = IpAddress::V4(d.subspan<16, 4>());
  std::size_t total = Load16(d.data() + 2);
  out.ip_length = static_cast<std::uint32_t>(total);
  if (total < header) return Fail(out, Malformed::kBadIpv4Length);
  // Bounded by the total length so that Ethernet padding never becomes payload.
  std::size_t captured_end = std::min(total, d.size());
  out.ip_payload = d.subspan(header, captured_end - header);

  std::uint16_t fragment = Load16(d.data() + 6);
  bool more = (fragment & 0x2000) != 0;
  std::uint16_t offset = static_cast<std::uint16_t>((fragment & 0x1fff) * 8);
  if (!more && offset == 0) return DecodeL4(out.ip_payload, total - header, true, out);
  out.is_fragment = true;
  out.is_first_fragment = offset == 0;
  out.fragment_id = Load16(d.data() + 4);
  out.fragment_offset = offset;
  out.more_fragments = more;
  if (offset != 0) return true;
  return DecodeL4(out.ip_payload, total - header, false, out);
}

bool DecodeIpv6(std::span<const std::uint8_t> d, Packet& out) {
  if (d.size() < kIpv6Header) return Fail(out, Malformed::kTruncatedIpv6);
  if (d[0] >> 4 != 6) return Fail(out, Malformed::kBadIpv6Header);
  out.ip_version = 6;
  out.ttl = d[7];
  out.source = IpAddress::V6(d.subspan<8, 16>());
  out.destination = IpAddress::V6(d.subspan<24, 16>());
  std::size_t declared_end = kIpv6Header + Load16(d.data() + 4);
  out.ip_length = static_cast<std::uint32_t>(declared_end);
  std::size_t captured_end = std::min(declared_end, d.size());

  std::uint8_t next = d[6];
  std::size_t pos = kIpv6Header;
  bool whole = true;
  for (int headers = 0;; ++headers) {
    if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6DestinationOptions &&
        next != kIpv6Ah && next != kIpv6Fragment) {
      break;
    }
    if (headers == kMaxIpv6ExtensionHeaders) return Fail(out, Malformed::kBadIpv6Header);
    // An extension header past the declared payload is a lie; past the capture, a snap cut.
    if (pos + 8 > declared_end) return Fail(out, Malformed::kBadIpv6Header);
    if (pos + 8 > captured_end) return Fail(out, Malformed::kTruncatedIpv6);
    std::size_t length = next == kIpv6Fragment ? 8
                         : next == kIpv6Ah     ? (std::size_t{d[pos + 1]} + 2) * 4
                                               : (std::size_t{d[pos + 1]} + 1) * 8;
    if (pos + length > declared_end) return Fail(out, Malformed::kBadIpv6Header);
    if (pos + length > captured_end) return Fail(out, Malformed::kTruncatedIpv6);
    std::uint8_t following = d[pos];
    if (next == kIpv6Fragment) {
      std::uint16_t field = Load16(d.data() + pos + 2);
      std::uint16_t offset = field & 0xfff8;
      bool more = (field & 1) != 0;
      if (offset != 0 || more) {
        out.is_fragment = true;
        out.is_first_fragment = offset == 0;
        out.fragment_id = Load32(d.data() + pos + 4);
        out.fragment_offset = offset;
        out.more_fragments = more;
        whole = false;
      }
      if (offset != 0) {
        out.protocol = following;
        out.ip_payload = d.subspan(pos + length, captured_end - pos - length);
        return true;
      }
    }
    next = following;
    pos += length;
  }
  out.protocol = next;
  out.ip_payload = d.subspan(pos, captured_end - pos);
  return DecodeL4(out.ip_payload, declared_end - pos, whole, out);
}

}  // namespace

std::optional<LinkType> LinkTypeFromDlt(int dlt) {
  switch (dlt) {
    case static_cast<int>(LinkType::kEthernet):
    case static_cast<int>(LinkType::kRaw):
    case static_cast<int>(LinkType::kRawDlt12):
    case static_cast<int>(LinkType::kRawDlt14):
    case static_cast<int>(LinkType::kLinuxSll):
      return static_cast<LinkType>(dlt);
    default:
      return std::nullopt;
  }
}

bool Decode(std::span<const std::uint8_t> frame, LinkType link, std::uint64_t timestamp_us,
            std::uint32_t wire_length, Packet& out) {
  out = Packet{};
  out.timestamp_us = timestamp_us;
  out.wire_length = wire_length;

  std::size_t offset = 0;
  std::uint16_t ethertype = 0;
  switch (link) {
    case LinkType::kEthernet:
      if (frame.size() < kEthernetHeader) return Fail(out, Malformed::kTruncatedEthernet);
      std::memcpy(out.destination_mac.data(), frame.data(), 6);
      std::memcpy(out.source_mac.data(), frame.data() + 6, 6);
      ethertype = Load16(frame.data() + 12);
      offset = kEthernetHeader;
      break;
    case LinkType::kLinuxSll:
      // Packet type, ARPHRD type, address length, 8 address bytes, protocol.
      if (frame.size() < kLinuxSllHeader) return Fail(out, Malformed::kTruncatedEthernet);
      if (Load16(frame.data() + 2) == 1 && Load16(frame.data() + 4) == 6) {
        std::memcpy(out.source_mac.data(), frame.data() + 6, 6);
      }
      ethertype = Load16(frame.data() + 14);
      offset = kLinuxSllHeader;
      break;
    case LinkType::kRaw:
    case LinkType::kRawDlt12:
    case LinkType::kRawDlt14:
      if (frame.empty()) return Fail(out, Malformed::kTruncatedIpv4);
      if (frame[0] >> 4 == 6) {
        out.ethertype = kEtherTypeIpv6;
        return DecodeIpv6(frame, out);
      }
      out.ethertype = kEtherTypeIpv4;
      return DecodeIpv4(frame, out);
  }

  for (std::size_t tags = 0; ethertype == kEtherTypeVlan || ethertype == kEtherTypeQinQ ||
                             ethertype == kEtherTypeVlanLegacyQinQ;
       ++tags) {
    if (tags == kMaxVlanTags) return Fail(out, Malformed::kTooManyVlanTags);
    if (frame.size() - offset < kVlanTag) return Fail(out, Malformed::kTruncatedVlan);
    if (tags == 0) out.vlan_id = Load16(frame.data() + offset) & 0x0fff;
    ethertype = Load16(frame.data() + offset + 2);
    offset += kVlanTag;
  }
  out.ethertype = ethertype;
  std::span<const std::uint8_t> rest = frame.subspan(offset);
  switch (ethertype) {
    case kEtherTypeIpv4:
      return DecodeIpv4(rest, out);
    case kEtherTypeIpv6:
      return DecodeIpv6(rest, out);
    case kEtherTypeArp:
      return DecodeArp(rest, out);
    default:
      return true;
  }
}

bool DecodeTransport(std::span<const std::uint8_t> l4, Packet& out) {
  out.has_transport = false;
  out.source_port = 0;
  out.destination_port = 0;
  out.tcp_flags = 0;
  out.tcp_sequence = 0;
  out.tcp_acknowledgment = 0;
  out.icmp_type = 0;
  out.icmp_code = 0;
  out.payload = {};
  out.malformed = Malformed::kNone;
  return DecodeL4(l4, l4.size(), true, out);
}

void DecodeCounters::Count(const Packet& packet) {
  ++packets;
  bytes += packet.wire_length;
  if (packet.malformed != Malformed::kNone) {
    ++malformed[static_cast<std::size_t>(packet.malformed)];
  } else if (packet.ip_version == 0) {
    ++non_ip;
  }
  if (packet.is_fragment) ++(packet.ip_version == 4 ? ipv4_fragments : ipv6_fragments);
}

}  // namespace fogkeep::sensor
