// AlertIntake: how alerts get into a node's AlertStore. It parses and validates a posted body
// (api::ParseAlertBatch: all of it or none), holds each source to a rate (a token bucket per
// source, refilled at `alerts_per_second` up to `burst`), and stores what it admits. A source
// over its rate is refused whole and told when to come back; what it lost is counted, beside
// what the store's bounds pruned, so a flood never goes unnoticed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/alert.h"
#include "core/error.h"
#include "node/alerts/store.h"

namespace fogkeep::node::alerts {

struct IntakeLimits {
  double alerts_per_second = 50;
  double burst = 1000;  // at least api::kMaxAlertBatch, so a full batch can ever pass
};

// The outcome of a post: stored, or refused by the source's rate limit.
struct PostOutcome {
  api::AlertsAccepted accepted;
  // Set when the batch was refused for the rate: whole seconds until it would pass.
  std::optional<std::int64_t> retry_after_seconds;
};

class AlertIntake {
 public:
  using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;
  using WallClock = std::function<std::int64_t()>;  // Unix seconds

  // Clocks default to the system's.
  AlertIntake(std::shared_ptr<AlertStore> store, IntakeLimits limits = {}, SteadyClock steady = {},
              WallClock wall = {});

  // Takes the body of a POST of alerts from `source` (an app id, or api::kHostAlertSource).
  // kInvalidInput / kLimit for a body that is not a valid batch (nothing is stored); the
  // store's errors pass through.
  Result<PostOutcome> Post(std::string_view source, std::string_view body);

  // Sources that lost alerts: refused by the rate limit since this intake started, or pruned
  // by the store's bounds (durable). Ordered by source.
  Result<std::vector<api::AlertDrops>> Drops();

  AlertStore& store() { return *store_; }
  const std::shared_ptr<AlertStore>& shared_store() const { return store_; }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
    std::int64_t refused = 0;  // alerts refused for the rate
  };

  // Constant after construction.
  const std::shared_ptr<AlertStore> store_;
  const IntakeLimits limits_;
  const SteadyClock steady_;
  const WallClock wall_;

  std::mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;  // guarded by mu_
};

}  // namespace fogkeep::node::alerts
