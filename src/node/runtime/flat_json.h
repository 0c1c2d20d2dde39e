// The small, flat JSON objects the runtime layer exchanges with runc/crun (`state` output, log
// lines) and records for the daemon (exit.json), read and written without a JSON library.
//
// Why not Boost.JSON, which builds config.json: the shim links everything here, and with
// Boost.JSON (and the iostreams, locale and printf machinery it drags into a static binary) the
// shim's resident memory grew by about a third, over its 1 MiB budget. These objects have only
// string, number, boolean and null members; nested values are parsed (so a malformed document
// is still refused) but only reported as present.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::node::runtime {

class FlatJsonObject {
 public:
  // Parses one JSON object (RFC 8259). Refuses anything else, trailing bytes, duplicate keys,
  // invalid escapes or UTF-16 surrogates, and nesting deeper than 64.
  static Result<FlatJsonObject> Parse(std::string_view text);

  // A member's value, when present with that type. Strings come back unescaped (UTF-8).
  std::optional<std::string> String(std::string_view key) const;
  // Integers only: a fraction or exponent, or a value outside int64, is std::nullopt.
  std::optional<std::int64_t> Int(std::string_view key) const;
  std::optional<bool> Bool(std::string_view key) const;
  bool Contains(std::string_view key) const;

  // Add or replace a member. (Distinct names: an int would convert to both int64 and bool.)
  void SetString(std::string_view key, std::string_view value);
  void SetInt(std::string_view key, std::int64_t value);
  void SetBool(std::string_view key, bool value);

  // Compact JSON, members in insertion order; nested values read by Parse are written as null.
  std::string Serialize() const;

 private:
  enum class Kind { kString, kNumber, kBool, kNull, kNested };
  struct Member {
    std::string key;
    Kind kind;
    std::string value;  // unescaped string, number literal, "true"/"false"
  };
  const Member* Find(std::string_view key) const;
  void Put(std::string_view key, Kind kind, std::string value);

  std::vector<Member> members_;
};

}  // namespace fogkeep::node::runtime
