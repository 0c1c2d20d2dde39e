#include "sensor/dns.h"

#include "sensor/wire.h"

namespace fogkeep::sensor {

namespace {

using wire::Load16;

constexpr std::size_t kHeader = 12;
constexpr std::size_t kMaxNameWire = 255;  // RFC 1035 3.1, length octets included
constexpr int kMaxPointers = 16;

}  // namespace

bool ParseDns(std::span<const std::uint8_t> message, DnsMessage& out) {
  out = DnsMessage{};
  if (message.size() < kHeader) return false;
  const std::uint8_t* m = message.data();
  out.id = Load16(m);
  out.is_response = (m[2] & 0x80) != 0;
  out.opcode = (m[2] >> 3) & 0x0f;
  out.rcode = m[3] & 0x0f;
  out.qdcount = Load16(m + 4);
  out.ancount = Load16(m + 6);
  if (out.qdcount == 0) return true;

  std::size_t pos = kHeader;
  std::size_t question_end = 0;  // where qtype starts: after the first pointer or the root
  std::size_t wire_length = 1;   // the root's length octet
  // Each pointer must land before the run of labels it ends, so the name only ever moves to
  // lower offsets and cannot loop; the pointer bound is a second fence.
  std::size_t run_start = kHeader;
  int pointers = 0;
  for (;;) {
    if (pos >= message.size()) return false;
    std::uint8_t length = m[pos];
    if ((length & 0xc0) == 0xc0) {
      if (pos + 1 >= message.size()) return false;
      std::size_t target = std::size_t{length & 0x3fu} << 8 | m[pos + 1];
      if (target >= run_start || ++pointers > kMaxPointers) return false;
      if (question_end == 0) question_end = pos + 2;
      pos = run_start = target;
      continue;
    }
    if (length & 0xc0) return false;  // 01 and 10 label types: extended or reserved
    if (length == 0) {
      if (question_end == 0) question_end = pos + 1;
      break;
    }
    wire_length += std::size_t{length} + 1;
    if (wire_length > kMaxNameWire) return false;
    if (message.size() - pos - 1 < length) return false;
    // wire_length <= 255 keeps the text (labels plus separating dots) within 254 characters.
    if (out.label_count > 0) out.qname[out.qname_length++] = '.';
    for (std::size_t i = 0; i < length; ++i) {
      char c = static_cast<char>(m[pos + 1 + i]);
      out.qname[out.qname_length++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    ++out.label_count;
    if (length > out.longest_label) out.longest_label = length;
    pos += std::size_t{length} + 1;
  }
  if (message.size() - question_end < 4) return false;
  out.qtype = Load16(m + question_end);
  out.qclass = Load16(m + question_end + 2);
  out.has_question = true;
  return true;
}

}  // namespace fogkeep::sensor
