#include "sensor/synth.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sensor/wire.h"

namespace fogkeep::sensor {

namespace {

using wire::Load16;
using wire::Store16;
using wire::Store32;

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kMinEthernetFrame = 60;  // without the FCS

std::uint64_t SumWords(std::uint64_t sum, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += Load16(p + i);
  if (n % 2) sum += std::uint64_t{p[n - 1]} << 8;
  return sum;
}

std::uint16_t Fold(std::uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

void Append(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void Append8(std::vector<std::uint8_t>& out, std::uint8_t v) { out.push_back(v); }
void Append16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void Append32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  Append16(out, static_cast<std::uint16_t>(v >> 16));
  Append16(out, static_cast<std::uint16_t>(v));
}
// Writes the big-endian length of what was appended after `at` + `width` into the `width`
// bytes at `at`.
void PatchLength(std::vector<std::uint8_t>& out, std::size_t at, std::size_t width) {
  std::size_t length = out.size() - at - width;
  for (std::size_t i = 0; i < width; ++i) {
    out[at + i] = static_cast<std::uint8_t>(length >> (8 * (width - 1 - i)));
  }
}

void AppendEthernet(std::vector<std::uint8_t>& out, const FrameEndpoints& endpoints,
                    std::uint16_t ethertype) {
  Append(out, endpoints.destination_mac);
  Append(out, endpoints.source_mac);
  if (endpoints.vlan_id != 0) {
    Append16(out, kEtherTypeVlan);
    Append16(out, endpoints.vlan_id & 0x0fff);
  }
  Append16(out, ethertype);
}

void SetIpv4Checksum(std::uint8_t* header, std::size_t length) {
  header[10] = header[11] = 0;
  Store16(header + 10, Fold(SumWords(0, header, length)));
}

void AppendDnsName(std::vector<std::uint8_t>& out, std::string_view name) {
  while (!name.empty()) {
    std::size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    Append8(out, static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  Append8(out, 0);
}

void StoreLe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
void StoreLe32(std::uint8_t* p, std::uint32_t v) {
  StoreLe16(p, static_cast<std::uint16_t>(v));
  StoreLe16(p + 2, static_cast<std::uint16_t>(v >> 16));
}

}  // namespace

std::size_t FrameBuilder::Start(const FrameEndpoints& endpoints, std::uint8_t protocol,
                                std::size_t l4_length, std::uint16_t fragment_field) {
  bool v4 = endpoints.source.is_v4();
  frame_.clear();
  AppendEthernet(frame_, endpoints, v4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  std::size_t ip_start = frame_.size();
  std::size_t header = v4 ? kIpv4Header : kIpv6Header;
  frame_.resize(ip_start + header + l4_length);
  std::uint8_t* ip = frame_.data() + ip_start;
  if (v4) {
    ip[0] = 0x45;
    Store16(ip + 2, static_cast<std::uint16_t>(header + l4_length));
    Store16(ip + 4, endpoints.ip_id);
    Store16(ip + 6, fragment_field);
    ip[8] = endpoints.ttl;
    ip[9] = protocol;
    std::memcpy(ip + 12, endpoints.source.bytes.data() + 12, 4);
    std::memcpy(ip + 16, endpoints.destination.bytes.data() + 12, 4);
    SetIpv4Checksum(ip, header);
  } else {
    ip[0] = 0x60;
    Store16(ip + 4, static_cast<std::uint16_t>(l4_length));
    ip[6] = protocol;
    ip[7] = endpoints.ttl;
    std::memcpy(ip + 8, endpoints.source.bytes.data(), 16);
    std::memcpy(ip + 24, endpoints.destination.bytes.data(), 16);
  }
  return ip_start + header;
}

void FrameBuilder::ChecksumTransport(const FrameEndpoints& endpoints, std::uint8_t protocol,
                                     std::size_t l4_start, std::size_t checksum_at,
                                     bool pseudo_header) {
  std::uint8_t* l4 = frame_.data() + l4_start;
  std::size_t length = frame_.size() - l4_start;
  std::uint64_t sum = 0;
  if (pseudo_header) {
    bool v4 = endpoints.source.is_v4();
    std::size_t from = v4 ? 12 : 0;
    sum = SumWords(sum, endpoints.source.bytes.data() + from, 16 - from);
    sum = SumWords(sum, endpoints.destination.bytes.data() + from, 16 - from);
    sum += protocol + (length >> 16) + (length & 0xffff);
  }
  sum = SumWords(sum, l4, length);
  std::uint16_t checksum = Fold(sum);
  if (protocol == kProtoUdp && checksum == 0) checksum = 0xffff;  // 0 means "none" in UDP
  Store16(l4 + checksum_at, checksum);
}

std::span<const std::uint8_t> FrameBuilder::Tcp(const FrameEndpoints& endpoints,
                                                const TcpFields& tcp,
                                                std::span<const std::uint8_t> payload) {
  std::size_t l4 = Start(endpoints, kProtoTcp, 20 + payload.size());
  std::uint8_t* p = frame_.data() + l4;
  Store16(p, tcp.source_port);
  Store16(p + 2, tcp.destination_port);
  Store32(p + 4, tcp.sequence);
  Store32(p + 8, tcp.acknowledgment);
  p[12] = 5 << 4;
  p[13] = tcp.flags;
  Store16(p + 14, tcp.window);
  if (!payload.empty()) std::memcpy(p + 20, payload.data(), payload.size());
  ChecksumTransport(endpoints, kProtoTcp, l4, 16, true);
  return frame_;
}

std::span<const std::uint8_t> FrameBuilder::Udp(const FrameEndpoints& endpoints,
                                                std::uint16_t source_port,
                                                std::uint16_t destination_port,
                                                std::span<const std::uint8_t> payload) {
  std::size_t l4 = Start(endpoints, kProtoUdp, 8 + payload.size());
  std::uint8_t* p = frame_.data() + l4;
  Store16(p, source_port);
  Store16(p + 2, destination_port);
  Store16(p + 4, static_cast<std::uint16_t>(8 + payload.size()));
  if (!payload.empty()) std::memcpy(p + 8, payload.data(), payload.size());
  ChecksumTransport(endpoints, kProtoUdp, l4, 6, true);
  return frame_;
}

std::span<const std::uint8_t> FrameBuilder::Icmp(const FrameEndpoints& endpoints, std::uint8_t type,
                                                 std::uint8_t code,
                                                 std::span<const std::uint8_t> body) {
  bool v4 = endpoints.source.is_v4();
  std::uint8_t protocol = v4 ? kProtoIcmp : kProtoIcmpv6;
  std::size_t l4 = Start(endpoints, protocol, 4 + body.size());
  std::uint8_t* p = frame_.data() + l4;
  p[0] = type;
  p[1] = code;
  if (!body.empty()) std::memcpy(p + 4, body.data(), body.size());
  ChecksumTransport(endpoints, protocol, l4, 2, !v4);
  return frame_;
}

std::span<const std::uint8_t> FrameBuilder::Arp(const FrameEndpoints& endpoints,
                                                std::uint16_t operation,
                                                const MacAddress& target_mac) {
  frame_.clear();
  AppendEthernet(frame_, endpoints, kEtherTypeArp);
  Append16(frame_, 1);  // Ethernet
  Append16(frame_, kEtherTypeIpv4);
  Append8(frame_, 6);
  Append8(frame_, 4);
  Append16(frame_, operation);
  Append(frame_, endpoints.source_mac);
  Append(frame_, std::span(endpoints.source.bytes).subspan<12, 4>());
  Append(frame_, target_mac);
  Append(frame_, std::span(endpoints.destination.bytes).subspan<12, 4>());
  if (frame_.size() < kMinEthernetFrame) frame_.resize(kMinEthernetFrame);  // padding, as sent
  return frame_;
}

std::span<const std::uint8_t> FrameBuilder::Ip(const FrameEndpoints& endpoints,
                                               std::uint8_t protocol,
                                               std::span<const std::uint8_t> l4) {
  std::size_t start = Start(endpoints, protocol, l4.size());
  if (!l4.empty()) std::memcpy(frame_.data() + start, l4.data(), l4.size());
  return frame_;
}

std::span<const std::uint8_t> FrameBuilder::Ipv4Fragment(const FrameEndpoints& endpoints,
                                                         std::uint8_t protocol,
                                                         std::uint16_t offset, bool more_fragments,
                                                         std::span<const std::uint8_t> data) {
  std::uint16_t field = static_cast<std::uint16_t>((offset / 8) | (more_fragments ? 0x2000 : 0));
  std::size_t start = Start(endpoints, protocol, data.size(), field);
  if (!data.empty()) std::memcpy(frame_.data() + start, data.data(), data.size());
  return frame_;
}

std::vector<std::vector<std::uint8_t>> FragmentIpv4(std::span<const std::uint8_t> frame,
                                                    std::size_t fragment_bytes) {
  std::vector<std::vector<std::uint8_t>> fragments;
  if (frame.size() < kEthernetHeader) return fragments;
  std::size_t ip_start = kEthernetHeader;
  std::uint16_t ethertype = Load16(frame.data() + 12);
  if (ethertype == kEtherTypeVlan && frame.size() >= kEthernetHeader + 4) {
    ethertype = Load16(frame.data() + 16);
    ip_start += 4;
  }
  if (ethertype != kEtherTypeIpv4 || frame.size() < ip_start + kIpv4Header) return fragments;
  const std::uint8_t* ip = frame.data() + ip_start;
  std::size_t header = std::size_t{ip[0] & 0x0fu} * 4;
  std::size_t total = Load16(ip + 2);
  if (header < kIpv4Header || total < header || frame.size() < ip_start + total) return fragments;
  std::size_t chunk = std::max<std::size_t>(8, fragment_bytes / 8 * 8);
  std::size_t length = total - header;
  for (std::size_t offset = 0; offset < length; offset += chunk) {
    std::size_t n = std::min(chunk, length - offset);
    std::vector<std::uint8_t> fragment(frame.begin(), frame.begin() + ip_start + header);
    fragment.insert(fragment.end(), ip + header + offset, ip + header + offset + n);
    std::uint8_t* fip = fragment.data() + ip_start;
    Store16(fip + 2, static_cast<std::uint16_t>(header + n));
    Store16(fip + 6, static_cast<std::uint16_t>(offset / 8 | (offset + n < length ? 0x2000 : 0)));
    SetIpv4Checksum(fip, header);
    fragments.push_back(std::move(fragment));
  }
  return fragments;
}

std::vector<std::uint8_t> ModbusAdu(std::uint16_t transaction_id, std::uint8_t unit_id,
                                    std::span<const std::uint8_t> pdu) {
  std::vector<std::uint8_t> adu;
  adu.reserve(7 + pdu.size());
  Append16(adu, transaction_id);
  Append16(adu, 0);
  Append16(adu, static_cast<std::uint16_t>(1 + pdu.size()));
  Append8(adu, unit_id);
  Append(adu, pdu);
  return adu;
}

std::vector<std::uint8_t> ModbusReadRequest(std::uint16_t transaction_id, std::uint8_t unit_id,
                                            std::uint8_t function_code, std::uint16_t start,
                                            std::uint16_t quantity) {
  std::vector<std::uint8_t> pdu{function_code};
  Append16(pdu, start);
  Append16(pdu, quantity);
  return ModbusAdu(transaction_id, unit_id, pdu);
}

std::vector<std::uint8_t> ModbusWriteSingle(std::uint16_t transaction_id, std::uint8_t unit_id,
                                            std::uint8_t function_code, std::uint16_t address,
                                            std::uint16_t value) {
  std::vector<std::uint8_t> pdu{function_code};
  Append16(pdu, address);
  Append16(pdu, value);
  return ModbusAdu(transaction_id, unit_id, pdu);
}

std::vector<std::uint8_t> ModbusWriteRegisters(std::uint16_t transaction_id, std::uint8_t unit_id,
                                               std::uint16_t start,
                                               std::span<const std::uint16_t> values) {
  std::vector<std::uint8_t> pdu{16};
  Append16(pdu, start);
  Append16(pdu, static_cast<std::uint16_t>(values.size()));
  Append8(pdu, static_cast<std::uint8_t>(2 * values.size()));
  for (std::uint16_t value : values) Append16(pdu, value);
  return ModbusAdu(transaction_id, unit_id, pdu);
}

std::vector<std::uint8_t> ModbusReadResponse(std::uint16_t transaction_id, std::uint8_t unit_id,
                                             std::uint8_t function_code,
                                             std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> pdu{function_code, static_cast<std::uint8_t>(data.size())};
  Append(pdu, data);
  return ModbusAdu(transaction_id, unit_id, pdu);
}

std::vector<std::uint8_t> ModbusException(std::uint16_t transaction_id, std::uint8_t unit_id,
                                          std::uint8_t function_code, std::uint8_t exception_code) {
  std::vector<std::uint8_t> pdu{static_cast<std::uint8_t>(function_code | 0x80), exception_code};
  return ModbusAdu(transaction_id, unit_id, pdu);
}

std::vector<std::uint8_t> DnsQuery(std::uint16_t id, std::string_view name, std::uint16_t qtype) {
  std::vector<std::uint8_t> message;
  Append16(message, id);
  Append16(message, 0x0100);  // recursion desired
  Append16(message, 1);
  Append16(message, 0);
  Append16(message, 0);
  Append16(message, 0);
  AppendDnsName(message, name);
  Append16(message, qtype);
  Append16(message, 1);  // IN
  return message;
}

std::vector<std::uint8_t> DnsResponse(std::uint16_t id, std::string_view name, std::uint16_t qtype,
                                      std::uint8_t rcode, std::span<const IpAddress> answers) {
  std::vector<std::uint8_t> message = DnsQuery(id, name, qtype);
  Store16(message.data() + 2, static_cast<std::uint16_t>(0x8180 | (rcode & 0x0f)));
  Store16(message.data() + 6, static_cast<std::uint16_t>(answers.size()));
  for (const IpAddress& address : answers) {
    bool v4 = address.is_v4();
    Append16(message, 0xc00c);  // the question's name
    Append16(message, v4 ? 1 : 28);
    Append16(message, 1);
    Append32(message, 300);
    Append16(message, v4 ? 4 : 16);
    Append(message, std::span(address.bytes).subspan(v4 ? 12 : 0));
  }
  return message;
}

std::vector<std::uint8_t> TlsClientHello(std::string_view server_name) {
  std::vector<std::uint8_t> out;
  Append8(out, 22);
  Append16(out, 0x0301);
  std::size_t record_length = out.size();
  Append16(out, 0);
  Append8(out, 1);
  std::size_t handshake_length = out.size();
  out.insert(out.end(), 3, 0);
  Append16(out, 0x0303);
  for (int i = 0; i < 32; ++i) Append8(out, static_cast<std::uint8_t>(i));  // random
  Append8(out, 32);
  for (int i = 0; i < 32; ++i) Append8(out, static_cast<std::uint8_t>(0xa0 + i));  // session id
  Append16(out, 8);
  for (std::uint16_t suite : {0x1301, 0x1302, 0x1303, 0xc02f}) Append16(out, suite);
  Append8(out, 1);
  Append8(out, 0);  // null compression
  std::size_t extensions_length = out.size();
  Append16(out, 0);
  if (!server_name.empty()) {
    Append16(out, 0);  // server_name
    Append16(out, static_cast<std::uint16_t>(5 + server_name.size()));
    Append16(out, static_cast<std::uint16_t>(3 + server_name.size()));
    Append8(out, 0);  // host_name
    Append16(out, static_cast<std::uint16_t>(server_name.size()));
    out.insert(out.end(), server_name.begin(), server_name.end());
  }
  for (std::uint16_t v : {10, 4, 2, 0x001d}) Append16(out, v);          // supported_groups: x25519
  for (std::uint16_t v : {13, 6, 4, 0x0403, 0x0804}) Append16(out, v);  // signature_algorithms
  for (std::uint16_t v : {43, 3}) Append16(out, v);  // supported_versions: TLS 1.3
  Append8(out, 2);
  Append16(out, 0x0304);
  for (std::uint16_t v : {51, 38, 36, 0x001d, 32}) Append16(out, v);  // key_share: x25519
  for (int i = 0; i < 32; ++i) Append8(out, static_cast<std::uint8_t>(0x40 + i));
  PatchLength(out, extensions_length, 2);
  PatchLength(out, handshake_length, 3);
  PatchLength(out, record_length, 2);
  return out;
}

Result<PcapWriter> PcapWriter::Create(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return FailErrno("create " + path, errno);
  PcapWriter writer(file, path);
  // Large buffered writes: the benchmark generator writes a million frames through this.
  std::setvbuf(file, nullptr, _IOFBF, 1 << 20);
  std::uint8_t header[24] = {};
  StoreLe32(header, 0xa1b2c3d4);
  StoreLe16(header + 4, 2);
  StoreLe16(header + 6, 4);
  StoreLe32(header + 16, kSnapLength);
  StoreLe32(header + 20, 1);  // LINKTYPE_ETHERNET
  if (std::fwrite(header, sizeof(header), 1, file) != 1) return FailErrno("write " + path, errno);
  return writer;
}

PcapWriter::PcapWriter(PcapWriter&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), path_(std::move(other.path_)) {}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

PcapWriter::~PcapWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status PcapWriter::Write(std::uint64_t timestamp_us, std::span<const std::uint8_t> frame,
                         std::uint32_t wire_length) {
  if (file_ == nullptr) return Fail(ErrorCode::kInternal, "write " + path_ + ": already closed");
  std::uint32_t captured =
      static_cast<std::uint32_t>(std::min<std::size_t>(frame.size(), kSnapLength));
  std::uint8_t header[16];
  StoreLe32(header, static_cast<std::uint32_t>(timestamp_us / 1'000'000));
  StoreLe32(header + 4, static_cast<std::uint32_t>(timestamp_us % 1'000'000));
  StoreLe32(header + 8, captured);
  StoreLe32(header + 12, wire_length != 0 ? wire_length : static_cast<std::uint32_t>(frame.size()));
  if (std::fwrite(header, sizeof(header), 1, file_) != 1 ||
      (captured != 0 && std::fwrite(frame.data(), captured, 1, file_) != 1)) {
    return FailErrno("write " + path_, errno);
  }
  return {};
}

Status PcapWriter::Close() {
  if (file_ == nullptr) return {};
  std::FILE* file = std::exchange(file_, nullptr);
  bool flushed = std::fflush(file) == 0;
  int err = errno;
  if (std::fclose(file) != 0 && flushed) {
    flushed = false;
    err = errno;
  }
  if (!flushed) return FailErrno("write " + path_, err);
  return {};
}

}  // namespace fogkeep::sensor
