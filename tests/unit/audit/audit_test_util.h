// Builds well-formed audit chains in memory, so tests can tamper with them line by line.
#pragma once

#include <string>
#include <vector>

#include "audit/record.h"
#include "audit/verify.h"

namespace fogkeep::audit::test {

// Records 1..n, chained from the genesis value; every other one carries a detail.
inline std::vector<Record> MakeChain(int n) {
  std::vector<Record> out;
  std::string prev(kGenesisHash);
  for (int i = 1; i <= n; ++i) {
    Record r;
    r.seq = static_cast<std::uint64_t>(i);
    r.time =
        "2026-03-01T12:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i % 60) + ".000Z";
    r.actor = "token:0123456789ab";
    r.role = "admin";
    r.source = "10.0.0." + std::to_string(i);
    r.action = i % 2 == 0 ? "apps.start" : "apps.install";
    r.target = "app-" + std::to_string(i);
    r.result = "200";
    r.detail = i % 2 == 0 ? "" : "detail of " + std::to_string(i);
    r.prev = prev;
    r.hash = ComputeHash(r);
    prev = r.hash;
    out.push_back(r);
  }
  return out;
}

inline std::vector<std::string> Lines(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(SerializeLine(r));
  return out;
}

inline std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

inline Anchor HeadOf(const std::vector<Record>& records) {
  return Anchor{records.back().seq, records.back().hash};
}

// Re-signs a record after a change, as someone who knows the format would.
inline Record Rehash(Record r) {
  r.hash = ComputeHash(r);
  return r;
}

inline std::string Describe(const VerifyReport& report) {
  std::string out;
  for (const Finding& f : report.findings) {
    out += "line " + std::to_string(f.line) + " " + std::string(FindingKindName(f.kind)) + ": " +
           f.message + "\n";
  }
  return out.empty() ? "(no findings)" : out;
}

}  // namespace fogkeep::audit::test
