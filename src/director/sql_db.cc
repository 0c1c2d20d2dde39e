#include "director/sql_db.h"

#include <string>

namespace fogkeep::director {
namespace {

// Whether `text` is well-formed UTF-8 (RFC 3629: shortest forms only, no surrogates, nothing
// above U+10FFFF), the same rule PostgreSQL applies to a UTF8 database.
bool IsUtf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;   // bounds of the second byte, which rule out overlong forms,
    unsigned char high = 0xbf;  // surrogates and code points above U+10FFFF
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      return false;
    }
    if (n - i < length) return false;
    if (byte(i + 1) < low || byte(i + 1) > high) return false;
    for (std::size_t k = 2; k < length; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

Status CheckTextParams(const SqlParams& params) {
  for (const SqlValue& param : params) {
    const auto* text = std::get_if<std::string>(&param);
    if (text == nullptr) continue;
    if (text->find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput, "text contains a NUL byte");
    }
    if (!IsUtf8(*text)) return Fail(ErrorCode::kInvalidInput, "text is not valid UTF-8");
  }
  return {};
}

}  // namespace fogkeep::director
