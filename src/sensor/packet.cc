#include "sensor/packet.h"

#include <arpa/inet.h>

#include <cstring>

namespace fogkeep::sensor {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

IpAddress IpAddress::V4(std::uint32_t host_order) {
  IpAddress address;
  std::memcpy(address.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  address.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
  address.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
  address.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
  address.bytes[15] = static_cast<std::uint8_t>(host_order);
  return address;
}

IpAddress IpAddress::V4(std::span<const std::uint8_t, 4> network_order) {
  IpAddress address;
  std::memcpy(address.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  std::memcpy(address.bytes.data() + 12, network_order.data(), 4);
  return address;
}

IpAddress IpAddress::V6(std::span<const std::uint8_t, 16> network_order) {
  IpAddress address;
  std::memcpy(address.bytes.data(), network_order.data(), 16);
  return address;
}

bool IpAddress::is_v4() const {
  return std::memcmp(bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

std::uint32_t IpAddress::v4() const {
  return std::uint32_t{bytes[12]} << 24 | std::uint32_t{bytes[13]} << 16 |
         std::uint32_t{bytes[14]} << 8 | bytes[15];
}

std::string FormatIp(const IpAddress& address) {
  char text[INET6_ADDRSTRLEN];
  // inet_ntop writes the RFC 5952 form for IPv6 (glibc) and cannot fail for these families
  // with a buffer of INET6_ADDRSTRLEN.
  const char* written = address.is_v4()
                            ? inet_ntop(AF_INET, address.bytes.data() + 12, text, sizeof(text))
                            : inet_ntop(AF_INET6, address.bytes.data(), text, sizeof(text));
  return written != nullptr ? std::string(written) : std::string();
}

std::string FormatMac(const MacAddress& mac) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(17, ':');
  for (std::size_t i = 0; i < mac.size(); ++i) {
    text[i * 3] = kHex[mac[i] >> 4];
    text[i * 3 + 1] = kHex[mac[i] & 0xf];
  }
  return text;
}

std::string_view MalformedName(Malformed reason) {
  switch (reason) {
    case Malformed::kNone:
      return "none";
    case Malformed::kTruncatedEthernet:
      return "truncated-ethernet";
    case Malformed::kTruncatedVlan:
      return "truncated-vlan";
    case Malformed::kTooManyVlanTags:
      return "too-many-vlan-tags";
    case Malformed::kTruncatedArp:
      return "truncated-arp";
    case Malformed::kTruncatedIpv4:
      return "truncated-ipv4";
    case Malformed::kBadIpv4Header:
      return "bad-ipv4-header";
    case Malformed::kBadIpv4Length:
      return "bad-ipv4-length";
    case Malformed::kTruncatedIpv6:
      return "truncated-ipv6";
    case Malformed::kBadIpv6Header:
      return "bad-ipv6-header";
    case Malformed::kTruncatedTcp:
      return "truncated-tcp";
    case Malformed::kBadTcpOffset:
      return "bad-tcp-offset";
    case Malformed::kTruncatedUdp:
      return "truncated-udp";
    case Malformed::kBadUdpLength:
      return "bad-udp-length";
    case Malformed::kTruncatedIcmp:
      return "truncated-icmp";
    case Malformed::kCount:
      break;
  }
  return "unknown";
}

}  // namespace fogkeep::sensor
