#include "audit/record.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <ctime>
#include <exception>

#include "core/json_text.h"
#include "crypto/hash.h"

namespace fogkeep::audit {
namespace {

namespace json = boost::json;

constexpr std::string_view kCanonicalHeader = "fogkeep-audit-v1\n";

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.push_back('=');
  out.append(std::to_string(value.size()));
  out.push_back(':');
  out.append(value);
  out.push_back('\n');
}

void AppendMember(std::string& out, std::string_view key, std::string_view value) {
  out.push_back(',');
  json_text::AppendString(out, key);
  out.push_back(':');
  json_text::AppendString(out, value);
}

bool IsHex64(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one (overlong
// forms, surrogates and code points past U+10FFFF included).
std::size_t Utf8Length(std::string_view text, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

Result<std::string> StringMember(const json::object& object, std::string_view key, bool required) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) {
    if (required) return Fail(ErrorCode::kInvalidInput, "missing \"" + std::string(key) + "\"");
    return std::string();
  }
  const json::string* text = value->if_string();
  if (text == nullptr) {
    return Fail(ErrorCode::kInvalidInput, "\"" + std::string(key) + "\" must be a string");
  }
  return std::string(text->data(), text->size());
}

}  // namespace

std::string CanonicalBytes(const Record& r) {
  std::string out(kCanonicalHeader);
  out.reserve(256 + r.time.size() + r.actor.size() + r.role.size() + r.source.size() +
              r.action.size() + r.target.size() + r.result.size() + r.detail.size());
  AppendField(out, "seq", std::to_string(r.seq));
  AppendField(out, "time", r.time);
  AppendField(out, "actor", r.actor);
  AppendField(out, "role", r.role);
  AppendField(out, "source", r.source);
  AppendField(out, "action", r.action);
  AppendField(out, "target", r.target);
  AppendField(out, "result", r.result);
  AppendField(out, "detail", r.detail);
  AppendField(out, "prev", r.prev);
  return out;
}

std::string ComputeHash(const Record& record) { return crypto::Sha256Hex(CanonicalBytes(record)); }

std::string SerializeLine(const Record& r) {
  std::string out = "{\"seq\":" + std::to_string(r.seq);
  AppendMember(out, "time", r.time);
  AppendMember(out, "actor", r.actor);
  AppendMember(out, "role", r.role);
  AppendMember(out, "source", r.source);
  AppendMember(out, "action", r.action);
  AppendMember(out, "target", r.target);
  AppendMember(out, "result", r.result);
  if (!r.detail.empty()) AppendMember(out, "detail", r.detail);
  AppendMember(out, "prev", r.prev);
  AppendMember(out, "hash", r.hash);
  out.push_back('}');
  return out;
}

Result<Record> RecordFromJson(const json::value& value) {
  const json::object* object = value.if_object();
  if (object == nullptr) return Fail(ErrorCode::kInvalidInput, "a record must be a JSON object");
  static constexpr std::string_view kKeys[] = {"seq",    "time",   "actor",  "role",
                                               "source", "action", "target", "result",
                                               "detail", "prev",   "hash"};
  for (const auto& member : *object) {
    bool known = false;
    for (std::string_view key : kKeys) known = known || member.key() == key;
    if (!known) {
      return Fail(ErrorCode::kInvalidInput, "unknown key \"" + std::string(member.key()) + "\"");
    }
  }
  Record r;
  const json::value* seq = object->if_contains("seq");
  if (seq == nullptr) return Fail(ErrorCode::kInvalidInput, "missing \"seq\"");
  if (const std::uint64_t* u = seq->if_uint64()) {
    r.seq = *u;
  } else if (const std::int64_t* i = seq->if_int64(); i != nullptr && *i > 0) {
    r.seq = static_cast<std::uint64_t>(*i);
  }
  if (r.seq == 0) return Fail(ErrorCode::kInvalidInput, "\"seq\" must be a positive integer");
  r.time = FK_TRY(StringMember(*object, "time", true));
  r.actor = FK_TRY(StringMember(*object, "actor", true));
  r.role = FK_TRY(StringMember(*object, "role", true));
  r.source = FK_TRY(StringMember(*object, "source", true));
  r.action = FK_TRY(StringMember(*object, "action", true));
  r.target = FK_TRY(StringMember(*object, "target", true));
  r.result = FK_TRY(StringMember(*object, "result", true));
  r.detail = FK_TRY(StringMember(*object, "detail", false));
  r.prev = FK_TRY(StringMember(*object, "prev", true));
  r.hash = FK_TRY(StringMember(*object, "hash", true));
  if (!IsHex64(r.prev)) {
    return Fail(ErrorCode::kInvalidInput, "\"prev\" must be 64 lowercase hex digits");
  }
  if (!IsHex64(r.hash)) {
    return Fail(ErrorCode::kInvalidInput, "\"hash\" must be 64 lowercase hex digits");
  }
  return r;
}

Result<Record> ParseLine(std::string_view line) {
  if (line.size() > kMaxLineBytes) {
    return Fail(ErrorCode::kInvalidInput,
                "line longer than " + std::to_string(kMaxLineBytes) + " bytes");
  }
  json::parse_options options;
  options.max_depth = 4;  // a record is one flat object
  boost::system::error_code ec;
  json::value value;
  try {
    value = json::parse(line, ec, {}, options);
  } catch (const std::exception& e) {  // allocation failures
    return Fail(ErrorCode::kInvalidInput, std::string("invalid JSON: ") + e.what());
  }
  if (ec) return Fail(ErrorCode::kInvalidInput, "invalid JSON: " + ec.message());
  return RecordFromJson(value);
}

std::string CleanField(std::string_view value, std::size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD
  static constexpr std::string_view kEllipsis = "...";
  std::string out;
  out.reserve(std::min(value.size(), max_bytes));
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t n = Utf8Length(value, i);
    const std::string_view piece = n == 0 ? kReplacement : value.substr(i, n);
    if (out.size() + piece.size() > max_bytes) {
      // Cut back to a character boundary with room for the marker.
      while (!out.empty() && out.size() + kEllipsis.size() > max_bytes) {
        std::size_t start = out.size() - 1;
        while (start > 0 && (static_cast<unsigned char>(out[start]) & 0xc0) == 0x80) --start;
        out.resize(start);
      }
      if (out.size() + kEllipsis.size() <= max_bytes) out.append(kEllipsis);
      return out;
    }
    out.append(piece);
    i += n == 0 ? 1 : n;
  }
  return out;
}

std::string FormatTime(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(time.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  long millis = static_cast<long>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[96];  // room for any int the compiler can imagine in tm's fields
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

Result<std::string> NormalizeTime(std::string_view text) {
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidInput,
                "time must be RFC 3339 UTC (2026-03-01T12:00:00Z) or a date (2026-03-01), not \"" +
                    std::string(text.substr(0, 64)) + "\"");
  };
  auto digits = [&](std::size_t pos, std::size_t n) {
    if (pos + n > text.size()) return false;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
    }
    return true;
  };
  auto number = [&](std::size_t pos, std::size_t n) {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  if (!digits(0, 4) || text.size() < 10 || text[4] != '-' || !digits(5, 2) || text[7] != '-' ||
      !digits(8, 2)) {
    return bad();
  }
  const int month = number(5, 2);
  const int day = number(8, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31) return bad();
  std::string out(text.substr(0, 10));
  if (text.size() == 10) return out + "T00:00:00.000Z";
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || !digits(11, 2) ||
      text[13] != ':' || !digits(14, 2) || text[16] != ':' || !digits(17, 2)) {
    return bad();
  }
  if (number(11, 2) > 23 || number(14, 2) > 59 || number(17, 2) > 60) return bad();
  out += "T" + std::string(text.substr(11, 8));
  std::size_t pos = 19;
  std::string fraction;
  if (text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      fraction.push_back(text[pos++]);
    if (fraction.empty()) return bad();
  }
  if (pos + 1 != text.size() || (text[pos] != 'Z' && text[pos] != 'z')) return bad();
  fraction.resize(3, '0');
  return out + "." + fraction + "Z";
}

}  // namespace fogkeep::audit
