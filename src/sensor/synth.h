// Synthetic traffic: frames with correct lengths and checksums, application payloads for the
// protocols the sensor parses, and a classic pcap writer. Used by the unit tests, the benchmark
// generator and the integration tests; what it writes decodes cleanly in tshark.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "sensor/packet.h"

namespace fogkeep::sensor {

// Who a frame is from and to, and how it is framed. The address family of `source` picks
// IPv4 or IPv6 (both addresses must be of the same family).
struct FrameEndpoints {
  MacAddress source_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  MacAddress destination_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  std::uint16_t vlan_id = 0;                          // one 802.1Q tag when non-zero
  IpAddress source = IpAddress::V4(0xc0000201);       // 192.0.2.1
  IpAddress destination = IpAddress::V4(0xc0000202);  // 192.0.2.2
  std::uint8_t ttl = 64;                              // or hop limit
  std::uint16_t ip_id = 0;                            // IPv4 identification
};

struct TcpFields {
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  std::uint32_t sequence = 0;
  std::uint32_t acknowledgment = 0;
  std::uint8_t flags = kTcpAck;
  std::uint16_t window = 65535;
};

// Builds Ethernet frames into one reused buffer: each call returns the frame, valid until the
// next call on the same builder, so generating traffic allocates nothing once the buffer has
// grown. IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums are all computed. The transport
// bytes plus the IP header must fit the IP length field (65,535 bytes).
class FrameBuilder {
 public:
  std::span<const std::uint8_t> Tcp(const FrameEndpoints& endpoints, const TcpFields& tcp,
                                    std::span<const std::uint8_t> payload = {});
  std::span<const std::uint8_t> Udp(const FrameEndpoints& endpoints, std::uint16_t source_port,
                                    std::uint16_t destination_port,
                                    std::span<const std::uint8_t> payload = {});
  // ICMP for IPv4 endpoints, ICMPv6 for IPv6; `body` follows type, code and checksum (for an
  // echo: identifier, sequence number, data).
  std::span<const std::uint8_t> Icmp(const FrameEndpoints& endpoints, std::uint8_t type,
                                     std::uint8_t code, std::span<const std::uint8_t> body = {});
  // An Ethernet/IPv4 ARP message (operation 1 request, 2 reply) from the source MAC and IPv4
  // address to the destination IPv4 address and `target_mac` (zero in a request); the Ethernet
  // destination is endpoints.destination_mac (broadcast for a request).
  std::span<const std::uint8_t> Arp(const FrameEndpoints& endpoints, std::uint16_t operation,
                                    const MacAddress& target_mac);
  // An IP datagram carrying `l4` as `protocol`, its checksum left as given.
  std::span<const std::uint8_t> Ip(const FrameEndpoints& endpoints, std::uint8_t protocol,
                                   std::span<const std::uint8_t> l4);
  // One IPv4 fragment of datagram endpoints.ip_id: `data` at byte `offset` (a multiple of 8).
  std::span<const std::uint8_t> Ipv4Fragment(const FrameEndpoints& endpoints, std::uint8_t protocol,
                                             std::uint16_t offset, bool more_fragments,
                                             std::span<const std::uint8_t> data);

 private:
  // Writes the Ethernet and IP headers for `l4_length` transport bytes, sizes the frame and
  // returns where the transport bytes start.
  std::size_t Start(const FrameEndpoints& endpoints, std::uint8_t protocol, std::size_t l4_length,
                    std::uint16_t fragment_field = 0);
  // Computes the transport checksum at `checksum_at` (relative to the transport start).
  void ChecksumTransport(const FrameEndpoints& endpoints, std::uint8_t protocol,
                         std::size_t l4_start, std::size_t checksum_at, bool pseudo_header);

  std::vector<std::uint8_t> frame_;
};

// Splits the IPv4 datagram of an Ethernet frame (as FrameBuilder makes them, with or without a
// VLAN tag and IPv4 options) into fragments carrying at most `fragment_bytes` of its payload
// each (rounded down to a multiple of 8, at least 8), in order. Returns no frames when `frame`
// is not Ethernet/IPv4.
std::vector<std::vector<std::uint8_t>> FragmentIpv4(std::span<const std::uint8_t> frame,
                                                    std::size_t fragment_bytes);

// Modbus/TCP ADUs: the MBAP header (protocol id 0, length computed) before `pdu`.
std::vector<std::uint8_t> ModbusAdu(std::uint16_t transaction_id, std::uint8_t unit_id,
                                    std::span<const std::uint8_t> pdu);
// Read request, functions 1-4.
std::vector<std::uint8_t> ModbusReadRequest(std::uint16_t transaction_id, std::uint8_t unit_id,
                                            std::uint8_t function_code, std::uint16_t start,
                                            std::uint16_t quantity);
// Write single coil (5) or register (6); the request and its echoing response are identical.
std::vector<std::uint8_t> ModbusWriteSingle(std::uint16_t transaction_id, std::uint8_t unit_id,
                                            std::uint8_t function_code, std::uint16_t address,
                                            std::uint16_t value);
// Write multiple registers (16) request.
std::vector<std::uint8_t> ModbusWriteRegisters(std::uint16_t transaction_id, std::uint8_t unit_id,
                                               std::uint16_t start,
                                               std::span<const std::uint16_t> values);
// Read response, functions 1-4: byte count and `data`.
std::vector<std::uint8_t> ModbusReadResponse(std::uint16_t transaction_id, std::uint8_t unit_id,
                                             std::uint8_t function_code,
                                             std::span<const std::uint8_t> data);
std::vector<std::uint8_t> ModbusException(std::uint16_t transaction_id, std::uint8_t unit_id,
                                          std::uint8_t function_code, std::uint8_t exception_code);

// A recursive query for `name` (dot-separated, no trailing dot), class IN.
std::vector<std::uint8_t> DnsQuery(std::uint16_t id, std::string_view name, std::uint16_t qtype);
// The response to DnsQuery(id, name, qtype) with `rcode` and one A or AAAA record per address
// (its owner a compression pointer to the question), TTL 300.
std::vector<std::uint8_t> DnsResponse(std::uint16_t id, std::string_view name, std::uint16_t qtype,
                                      std::uint8_t rcode, std::span<const IpAddress> answers = {});

// A TLS 1.3 ClientHello in one handshake record, with server_name `server_name` (omitted when
// empty), supported_groups, signature_algorithms, supported_versions and an X25519 key_share.
std::vector<std::uint8_t> TlsClientHello(std::string_view server_name);

// Writes a classic pcap file: magic a1b2c3d4 little-endian, microsecond timestamps, snap length
// 65535, link type Ethernet. Writes are buffered; Close() reports what the buffering hid.
class PcapWriter {
 public:
  static Result<PcapWriter> Create(const std::string& path);
  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  ~PcapWriter();  // closes without reporting; call Close() to learn of errors

  // Appends one frame captured at `timestamp_us`. `wire_length` 0 means frame.size(); frames
  // longer than the snap length are cut to it.
  Status Write(std::uint64_t timestamp_us, std::span<const std::uint8_t> frame,
               std::uint32_t wire_length = 0);
  Status Close();

  static constexpr std::uint32_t kSnapLength = 65535;

 private:
  PcapWriter(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}

  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace fogkeep::sensor
