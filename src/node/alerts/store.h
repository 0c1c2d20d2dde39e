// AlertStore: the security alerts a node has accepted (from its apps and from a host sensor),
// kept until its director holds them and while they are among the newest.
//
// Contracts:
// - Every method is atomic; a method that returned OK is durable (SQLite WAL, synchronous=FULL:
//   a SIGKILL or a power loss right after loses nothing acknowledged).
// - Sequence numbers are assigned by the store, increase strictly, and are never reused, not
//   even after the alerts that held them were pruned or the store was reopened.
// - The store is bounded: after every append, a source's alerts beyond the newest
//   `max_per_source` are removed, then every alert beyond the newest `max_alerts`. So one noisy
//   source evicts its own alerts first, and what the bounds remove is counted per source.
// - Safe to call from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/alert.h"
#include "core/error.h"

namespace fogkeep::node::alerts {

struct StoredAlert {
  std::int64_t seq = 0;
  std::int64_t received_at = 0;  // Unix seconds
  std::string source;            // an app id, or "host"
  std::string detector;
  int severity = 0;
  std::string alert_json;  // as api::ParseAlert serialized it
};

struct AlertQuery {
  // Set: the alerts after this seq, oldest first (paging forward). Unset: the newest `limit`,
  // oldest first.
  std::optional<std::int64_t> since;
  std::size_t limit = 100;
  std::optional<std::string> detector;
  std::optional<std::string> source;
  // At least this severe: severity <= min_severity (1 high, 2 medium, 3 low).
  std::optional<int> min_severity;
};

struct StoreLimits {
  std::size_t max_alerts = 10'000;
  std::size_t max_per_source = 2'500;
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;

  // Stores `alerts` (already validated) from `source`, received at `now`, in order, and applies
  // the bounds, in one transaction. Returns the seq of the last (the highest assigned so far
  // when `alerts` is empty).
  virtual Result<std::int64_t> Append(std::string_view source,
                                      const std::vector<api::Alert>& alerts, std::int64_t now) = 0;
  // Alerts matching `query`, oldest first.
  virtual Result<std::vector<StoredAlert>> List(const AlertQuery& query) = 0;
  // The highest seq ever assigned; 0 before the first alert.
  virtual Result<std::int64_t> LastSeq() = 0;

  // --- forwarding to the director
  // Alerts after Forwarded(), oldest first: at most `max_count`, and no more than `max_bytes` of
  // alert JSON in all (but always the first, when there is one).
  virtual Result<std::vector<StoredAlert>> Unforwarded(std::size_t max_count,
                                                       std::size_t max_bytes) = 0;
  // The seq up to which the director acknowledged every alert; 0 before the first.
  virtual Result<std::int64_t> Forwarded() = 0;
  // Records that the director holds every alert up to `seq`. A lower mark than the stored one
  // is ignored.
  virtual Status MarkForwarded(std::int64_t seq) = 0;

  // Alerts the bounds removed, per source, over the store's life.
  virtual Result<std::map<std::string, std::int64_t>> Pruned() = 0;
};

// The SQLite back-end at `path` (created when missing; ":memory:" for tests): a file of its own
// (data-dir/alerts.db), so that a flood of alerts never queues app lifecycle writes behind its
// commits.
Result<std::unique_ptr<AlertStore>> OpenSqliteAlertStore(const std::string& path,
                                                         StoreLimits limits = {});

}  // namespace fogkeep::node::alerts
