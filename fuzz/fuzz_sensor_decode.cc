// Frames captured on an OT network are hostile byte for byte. The first input byte picks the
// link type (Ethernet, raw IP, Linux cooked, raw IP under DLT 12), the rest is the frame: it is
// decoded, its payload goes through the Modbus (both directions), DNS and TLS SNI parsers, and
// its IPv4 datagram through reassembly. Invariants beyond "no crash, no read outside the
// input":
// - Decode fails exactly when it names a reason, and every span it sets lies in the frame;
// - the application parsers stay within their output limits;
// - an IPv4 payload cut into fragments (size and order chosen by the input) reassembles to
//   exactly its bytes, and a fragment from the input itself never breaks the reassembler.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "sensor/decode.h"
#include "sensor/dns.h"
#include "sensor/modbus.h"
#include "sensor/reassembly.h"
#include "sensor/tls_sni.h"

namespace {

using namespace fogkeep::sensor;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_sensor_decode: %s\n", what);
  std::abort();
}

bool Within(std::span<const std::uint8_t> inner, std::span<const std::uint8_t> outer) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

void ParseApplication(std::span<const std::uint8_t> payload) {
  std::array<ModbusFrame, 4> frames;
  for (bool request : {true, false}) {
    ModbusParse parsed = ParseModbus(payload, request, frames);
    if (parsed.frames > frames.size()) Die("more Modbus frames than room");
    for (std::size_t i = 0; i < parsed.frames; ++i) {
      if (frames[i].function_code & 0x80) Die("Modbus function code keeps the exception bit");
      if (frames[i].length < 2 || frames[i].length > 254) Die("Modbus length out of range");
    }
  }
  DnsMessage dns;
  if (ParseDns(payload, dns) && dns.qname_length > 253) Die("DNS name over 253 characters");
  if (payload.size() > 2 && ParseDns(payload.subspan(2), dns) && dns.qname_length > 253) {
    Die("DNS name over 253 characters");
  }
  std::array<char, 256> sni;
  std::size_t sni_length = 0;
  if (ParseClientHelloSni(payload, sni, sni_length) && (sni_length == 0 || sni_length > 255)) {
    Die("SNI length out of range");
  }
}

// Offers `datagram` (the IP payload of `packet`) as fragments of `piece` bytes, in reverse when
// `reverse`, and checks that it comes back whole.
void Refragment(const Packet& packet, std::span<const std::uint8_t> datagram, std::size_t piece,
                bool reverse) {
  Ipv4Reassembler reassembler({.max_datagrams = 2, .budget_bytes = 128 * 1024});
  std::vector<std::size_t> offsets;
  for (std::size_t offset = 0; offset < datagram.size(); offset += piece) offsets.push_back(offset);
  if (reverse) std::reverse(offsets.begin(), offsets.end());
  std::span<const std::uint8_t> whole;
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    Packet fragment = packet;
    std::size_t offset = offsets[i];
    fragment.is_fragment = true;
    fragment.is_first_fragment = offset == 0;
    fragment.fragment_offset = static_cast<std::uint16_t>(offset);
    fragment.more_fragments = offset + piece < datagram.size();
    fragment.ip_payload = datagram.subspan(offset, std::min(piece, datagram.size() - offset));
    whole = reassembler.Add(fragment);
    if (!whole.empty() && i + 1 != offsets.size()) Die("reassembled before the last hole");
  }
  if (whole.size() != datagram.size() ||
      !std::equal(whole.begin(), whole.end(), datagram.begin())) {
    Die("reassembly changed the datagram");
  }
  Packet decoded = packet;
  DecodeTransport(whole, decoded);
  if (!Within(decoded.payload, whole)) Die("reassembled payload outside the datagram");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::array<LinkType, 4> kLinks = {LinkType::kEthernet, LinkType::kRaw,
                                                     LinkType::kLinuxSll, LinkType::kRawDlt12};
  LinkType link = kLinks[data[0] % kLinks.size()];
  std::span<const std::uint8_t> frame(data + 1, size - 1);

  Packet packet;
  bool ok = Decode(frame, link, size, static_cast<std::uint32_t>(frame.size()), packet);
  if (ok != (packet.malformed == Malformed::kNone)) Die("Decode result and reason disagree");
  if (!Within(packet.payload, frame) || !Within(packet.ip_payload, frame)) {
    Die("a span outside the frame");
  }
  DecodeCounters counters;
  counters.Count(packet);

  ParseApplication(packet.payload);
  if (!ok) ParseApplication(frame);  // the parsers see hostile bytes either way

  if (packet.ip_version == 4 && packet.is_fragment) {
    Ipv4Reassembler reassembler({.max_datagrams = 2, .budget_bytes = 128 * 1024});
    // One fragment, and the same again as a duplicate, cannot fill a datagram.
    if (!reassembler.Add(packet).empty() || !reassembler.Add(packet).empty()) {
      Die("a lone fragment completed a datagram");
    }
  }
  if (ok && packet.ip_version == 4 && !packet.is_fragment && !packet.ip_payload.empty()) {
    std::uint8_t choice = data[size - 1];
    Refragment(packet, packet.ip_payload, 8 * (1 + (choice & 0x3f)), (choice & 0x40) != 0);
  }
  return 0;
}
