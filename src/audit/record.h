// One record of the audit trail and its two encodings: the JSON line stored in audit.log, and
// the canonical byte string that the record's hash covers.
//
// A line holds, in this order: seq, time, actor, role, source, action, target, result, detail
// (omitted when empty), prev, hash. `hash` is SHA-256 (lowercase hex) over the canonical bytes
// of every other field, `prev` included; `prev` is the hash of the record before, or
// kGenesisHash for seq 1. The canonical bytes are
//
//   "fogkeep-audit-v1\n" then, for each field in the order above (detail always, prev last):
//   <name> "=" <decimal byte length of value> ":" <value> "\n"
//
// with seq written in decimal. Length prefixes make the encoding unambiguous whatever a value
// holds, and anyone can recompute a hash without a JSON library that escapes the way this one
// does (see src/audit/README.md for a ten-line Python check).
//
// The JSON line itself is canonical too: compact, keys in the order above, strings escaped
// minimally (\" \\ \b \f \n \r \t, other control characters as \u00XX, everything else as
// UTF-8 bytes). A line that parses but is not byte-for-byte what SerializeLine gives for its
// content has been edited, even if its meaning is unchanged.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::audit {

// `prev` of the first record.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
// Longest line the reader accepts; Append keeps records far below it (see the field limits).
inline constexpr std::size_t kMaxLineBytes = 64 * 1024;

// What happened, as the caller of AuditLog::Append reports it.
struct Event {
  std::string actor;   // who: "token:3f2a9c1d0b7e", "uid:0", "-" when unknown
  std::string role;    // the actor's roles joined by ","; "" when unauthenticated
  std::string source;  // where from: a peer IP, "unix:uid=0", "local" for fogkeepd itself
  std::string action;  // "apps.install", "auth.failed", "audit.recovered"
  std::string target;  // what: an app id, a path
  std::string result;  // an HTTP status ("201"), or a word for fogkeepd's own events
  std::string detail;  // optional free text (an error message)
};

struct Record {
  std::uint64_t seq = 0;  // 1, 2, 3, ... without gaps
  std::string time;       // RFC 3339 UTC with milliseconds: "2026-03-01T12:00:00.123Z"
  std::string actor;
  std::string role;
  std::string source;
  std::string action;
  std::string target;
  std::string result;
  std::string detail;
  std::string prev;  // 64 lowercase hex digits
  std::string hash;  // 64 lowercase hex digits
};

// The bytes `hash` covers (everything but `hash`).
std::string CanonicalBytes(const Record& record);
// SHA-256 of CanonicalBytes, lowercase hex.
std::string ComputeHash(const Record& record);
// The JSON line, without the trailing newline.
std::string SerializeLine(const Record& record);

// Parses one line (without its newline). Strict about shape: an object of exactly the known
// keys, strings where strings belong, seq a positive integer, prev and hash 64 lowercase hex
// digits. Says nothing about whether hash matches; kInvalidInput for anything else. Never
// throws, whatever the bytes.
Result<Record> ParseLine(std::string_view line);
// The same from an already parsed JSON value (the records of GET /api/v1/audit).
Result<Record> RecordFromJson(const boost::json::value& value);

// A value as Append stores it: invalid UTF-8 bytes become U+FFFD, and a value longer than
// `max_bytes` is cut at a character boundary and ends with "...".
std::string CleanField(std::string_view value, std::size_t max_bytes);

// "2026-03-01T12:00:00.123Z"
std::string FormatTime(std::chrono::system_clock::time_point time);
// A time filter in the record's own format, so that records compare as strings. Accepts
// "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (fraction cut to milliseconds) and "YYYY-MM-DD" (midnight
// UTC); anything else is kInvalidInput.
Result<std::string> NormalizeTime(std::string_view text);

}  // namespace fogkeep::audit
