// Reading records back with filters, for GET /api/v1/audit and `fogkeep audit list`.
//
// Queries read; they do not verify (that is VerifyText's job): lines that are not records are
// skipped, and an incomplete last line is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/log.h"
#include "audit/record.h"
#include "core/error.h"

namespace fogkeep::audit {

inline constexpr std::size_t kDefaultQueryLimit = 100;
// The response header of GET /api/v1/audit?format=raw naming the head of the lines sent
// (FormatAnchor), absent while the log is empty.
inline constexpr std::string_view kHeadHeader = "X-Fogkeep-Audit-Head";
inline constexpr std::size_t kMaxQueryLimit = 10000;

struct QueryFilter {
  std::string since;   // records at or after this time (NormalizeTime form); "" for any
  std::string until;   // records before this time; "" for any
  std::string actor;   // exact
  std::string action;  // exact, or a prefix when it ends in "*" ("apps.*")
  std::string result;  // exact, or a status class "2xx", "4xx", "5xx"
  std::size_t limit = kDefaultQueryLimit;

  // Builds a filter from query parameters (name, value), checking each: times must parse,
  // limit must be 1..kMaxQueryLimit; unknown names are ignored. kInvalidInput otherwise.
  static Result<QueryFilter> FromParams(
      const std::vector<std::pair<std::string, std::string>>& params);
  bool Matches(const Record& record) const;
};

struct QueryResult {
  // The JSON lines of the last `limit` matching records, oldest first.
  std::vector<std::string> lines;
  std::uint64_t matched = 0;  // matching records in all, `lines` included
};

QueryResult QueryText(std::string_view text, const QueryFilter& filter);
// The same over an open log, read in pieces up to its snapshot.
Result<QueryResult> QueryLog(const AuditLog& log, const QueryFilter& filter);

}  // namespace fogkeep::audit
