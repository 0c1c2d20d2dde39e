#include "core/duration.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>

#include <fmt/format.h>

namespace fogkeep {
namespace {

constexpr std::int64_t kMaxDurationSeconds = std::int64_t{100} * 365 * 24 * 3600;

struct Unit {
  char name;
  std::int64_t seconds;
};
// Largest first, for FormatDuration.
constexpr std::array<Unit, 4> kUnits = {{{'d', 24 * 3600}, {'h', 3600}, {'m', 60}, {'s', 1}}};

// The whole of `text` as a number without sign; nullopt for anything else (empty, "+1", "1.5",
// " 1", overflow).
std::optional<std::int64_t> WholeNumber(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// `text` for a message: quoted, cut at 40 characters, anything but printable ASCII as \xNN so
// that a hostile value cannot drive the terminal that shows the error.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 40)) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte >= 0x20 && byte < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", byte);
  }
  return out + (text.size() > 40 ? "...\"" : "\"");
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  const auto invalid = [&] {
    return Fail(ErrorCode::kInvalidInput,
                "duration " + Quoted(text) +
                    " is not a whole number with a unit: s, m, h or d (\"90s\", \"30m\", \"24h\", "
                    "\"7d\")");
  };
  if (text.size() < 2) return invalid();
  const auto unit = std::ranges::find(kUnits, text.back(), &Unit::name);
  if (unit == kUnits.end()) return invalid();
  const std::optional<std::int64_t> count = WholeNumber(text.substr(0, text.size() - 1));
  if (!count) return invalid();
  if (*count > kMaxDurationSeconds / unit->seconds) {
    return Fail(ErrorCode::kInvalidInput, "duration " + Quoted(text) + " is beyond 100 years");
  }
  return std::chrono::seconds(*count * unit->seconds);
}

std::string FormatDuration(std::chrono::seconds d) {
  const std::int64_t n = d.count();
  for (const Unit& unit : kUnits) {
    if (n != 0 && n % unit.seconds == 0) return std::to_string(n / unit.seconds) + unit.name;
  }
  return std::to_string(n) + "s";
}

}  // namespace fogkeep
