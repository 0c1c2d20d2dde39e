#include "audit/query.h"

#include <algorithm>
#include <charconv>
#include <deque>

namespace fogkeep::audit {
namespace {

constexpr std::size_t kReadPiece = 1 << 20;

// Keeps the last `limit` matching lines.
class Collector {
 public:
  explicit Collector(const QueryFilter& filter) : filter_(filter) {}

  void Line(std::string_view line) {
    Result<Record> record = ParseLine(line);
    if (!record || !filter_.Matches(*record)) return;
    ++matched_;
    kept_.emplace_back(line);
    if (kept_.size() > filter_.limit) kept_.pop_front();
  }

  QueryResult Take() {
    QueryResult out;
    out.matched = matched_;
    out.lines.assign(std::make_move_iterator(kept_.begin()), std::make_move_iterator(kept_.end()));
    return out;
  }

 private:
  const QueryFilter& filter_;
  std::deque<std::string> kept_;
  std::uint64_t matched_ = 0;
};

}  // namespace

Result<QueryFilter> QueryFilter::FromParams(
    const std::vector<std::pair<std::string, std::string>>& params) {
  QueryFilter filter;
  for (const auto& [name, value] : params) {
    if (name == "since" && !value.empty()) {
      filter.since = FK_TRY_CTX(NormalizeTime(value), "since");
    } else if (name == "until" && !value.empty()) {
      filter.until = FK_TRY_CTX(NormalizeTime(value), "until");
    } else if (name == "actor") {
      filter.actor = value;
    } else if (name == "action") {
      filter.action = value;
    } else if (name == "result") {
      filter.result = value;
    } else if (name == "limit" && !value.empty()) {
      std::size_t limit = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size() || limit == 0 ||
          limit > kMaxQueryLimit) {
        return Fail(ErrorCode::kInvalidInput,
                    "limit must be between 1 and " + std::to_string(kMaxQueryLimit));
      }
      filter.limit = limit;
    }
  }
  return filter;
}

bool QueryFilter::Matches(const Record& r) const {
  if (!since.empty() && r.time < since) return false;
  if (!until.empty() && r.time >= until) return false;
  if (!actor.empty() && r.actor != actor) return false;
  if (!action.empty()) {
    if (action.back() == '*') {
      if (!std::string_view(r.action).starts_with(
              std::string_view(action).substr(0, action.size() - 1))) {
        return false;
      }
    } else if (r.action != action) {
      return false;
    }
  }
  if (!result.empty()) {
    const bool status_class = result.size() == 3 && result[0] >= '1' && result[0] <= '5' &&
                              result[1] == 'x' && result[2] == 'x';
    if (status_class) {
      if (r.result.size() != 3 || r.result[0] != result[0]) return false;
    } else if (r.result != result) {
      return false;
    }
  }
  return true;
}

QueryResult QueryText(std::string_view text, const QueryFilter& filter) {
  Collector collector(filter);
  std::size_t pos = 0;
  for (;;) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;
    collector.Line(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return collector.Take();
}

Result<QueryResult> QueryLog(const AuditLog& log, const QueryFilter& filter) {
  const Snapshot snapshot = log.snapshot();
  Collector collector(filter);
  std::string carry;  // an unfinished line from the previous piece
  std::uint64_t offset = 0;
  while (offset < snapshot.bytes) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kReadPiece, snapshot.bytes - offset));
    std::string piece = FK_TRY(log.Read(offset, want));
    if (piece.empty()) break;
    offset += piece.size();
    std::string_view rest = piece;
    for (;;) {
      const std::size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) break;
      if (carry.empty()) {
        collector.Line(rest.substr(0, nl));
      } else {
        carry.append(rest.substr(0, nl));
        collector.Line(carry);
        carry.clear();
      }
      rest.remove_prefix(nl + 1);
    }
    // A line longer than any record is not one: drop it rather than buffer it.
    if (carry.size() + rest.size() <= kMaxLineBytes) {
      carry.append(rest);
    } else {
      carry = std::string(kMaxLineBytes + 1, ' ');
    }
  }
  return collector.Take();
}

}  // namespace fogkeep::audit
