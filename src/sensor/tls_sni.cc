#include "sensor/tls_sni.h"

#include "sensor/wire.h"

namespace fogkeep::sensor {

namespace {

using wire::Load16;
using wire::Load24;

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::uint16_t kServerNameExtension = 0;
constexpr std::uint8_t kHostName = 0;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr std::size_t kRandomAndVersion = 2 + 32;
constexpr std::size_t kMaxSessionId = 32;

}  // namespace

bool ParseClientHelloSni(std::span<const std::uint8_t> tcp_payload, std::array<char, 256>& out,
                         std::size_t& length) {
  const std::uint8_t* p = tcp_payload.data();
  const std::size_t present = tcp_payload.size();
  if (present < kRecordHeader + kHandshakeHeader) return false;
  if (p[0] != kHandshakeRecord || p[1] != 3 || p[5] != kClientHello) return false;
  std::size_t record_end = kRecordHeader + Load16(p + 3);
  std::size_t hello_end = kRecordHeader + kHandshakeHeader + Load24(p + 6);
  if (hello_end > record_end) return false;

  // `pos` walks the ClientHello; a field must fit both in the container its length belongs to
  // (`end`) and in the bytes present.
  std::size_t pos = kRecordHeader + kHandshakeHeader + kRandomAndVersion;
  auto fits = [&](std::size_t n, std::size_t end) { return pos + n <= end && pos + n <= present; };

  if (!fits(1, hello_end)) return false;
  std::size_t session_id = p[pos];
  if (session_id > kMaxSessionId) return false;
  pos += 1 + session_id;
  if (!fits(2, hello_end)) return false;
  std::size_t suites = Load16(p + pos);
  if (suites < 2 || suites % 2 != 0) return false;
  pos += 2 + suites;
  if (!fits(1, hello_end)) return false;
  std::size_t compressions = p[pos];
  if (compressions < 1) return false;
  pos += 1 + compressions;
  if (!fits(2, hello_end)) return false;
  std::size_t extensions_end = pos + 2 + Load16(p + pos);
  if (extensions_end > hello_end) return false;
  pos += 2;

  while (fits(4, extensions_end)) {
    std::uint16_t type = Load16(p + pos);
    std::size_t extension_end = pos + 4 + Load16(p + pos + 2);
    if (extension_end > extensions_end) return false;
    pos += 4;
    if (type != kServerNameExtension) {
      pos = extension_end;
      continue;
    }
    if (!fits(2, extension_end)) return false;
    std::size_t list_end = pos + 2 + Load16(p + pos);
    if (list_end > extension_end) return false;
    pos += 2;
    while (fits(3, list_end)) {
      std::uint8_t name_type = p[pos];
      std::size_t name_length = Load16(p + pos + 1);
      pos += 3;
      if (!fits(name_length, list_end)) return false;
      if (name_type == kHostName) {
        if (name_length == 0 || name_length > out.size()) return false;
        for (std::size_t i = 0; i < name_length; ++i) {
          char c = static_cast<char>(p[pos + i]);
          out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        }
        length = name_length;
        return true;
      }
      pos += name_length;
    }
    return false;
  }
  return false;
}

}  // namespace fogkeep::sensor
