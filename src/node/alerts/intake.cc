#include "node/alerts/intake.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <utility>

namespace fogkeep::node::alerts {

AlertIntake::AlertIntake(std::shared_ptr<AlertStore> store, IntakeLimits limits, SteadyClock steady,
                         WallClock wall)
    : store_(std::move(store)),
      limits_(limits),
      steady_(steady ? std::move(steady)
                     : SteadyClock([] { return std::chrono::steady_clock::now(); })),
      wall_(wall ? std::move(wall)
                 : WallClock([] { return static_cast<std::int64_t>(::time(nullptr)); })) {}

Result<PostOutcome> AlertIntake::Post(std::string_view source, std::string_view body) {
  FK_TRY(api::CheckAlertSource(source));
  const std::vector<api::Alert> alerts = FK_TRY(api::ParseAlertBatch(body));
  const auto wanted = static_cast<double>(alerts.size());
  {
    std::lock_guard lock(mu_);
    const auto now = steady_();
    auto it = buckets_.find(source);
    if (it == buckets_.end()) {
      it = buckets_.emplace(std::string(source), Bucket{.tokens = limits_.burst, .at = now}).first;
    }
    Bucket& bucket = it->second;
    const double elapsed = std::chrono::duration<double>(now - bucket.at).count();
    bucket.tokens =
        std::min(limits_.burst, bucket.tokens + std::max(0.0, elapsed) * limits_.alerts_per_second);
    bucket.at = now;
    if (bucket.tokens < wanted) {
      bucket.refused += static_cast<std::int64_t>(alerts.size());
      const double seconds = (wanted - bucket.tokens) / limits_.alerts_per_second;
      return PostOutcome{.accepted = {},
                         .retry_after_seconds = std::max<std::int64_t>(
                             1, static_cast<std::int64_t>(std::ceil(seconds)))};
    }
    bucket.tokens -= wanted;
  }
  const std::int64_t last = FK_TRY(store_->Append(source, alerts, wall_()));
  return PostOutcome{
      .accepted = {.accepted = static_cast<std::int64_t>(alerts.size()), .last_seq = last},
      .retry_after_seconds = std::nullopt};
}

Result<std::vector<api::AlertDrops>> AlertIntake::Drops() {
  std::map<std::string, api::AlertDrops> drops;
  for (const auto& [source, count] : FK_TRY(store_->Pruned())) {
    drops[source] = api::AlertDrops{.source = source, .rate_limited = 0, .pruned = count};
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& [source, bucket] : buckets_) {
      if (bucket.refused == 0) continue;
      api::AlertDrops& entry = drops[source];
      entry.source = source;
      entry.rate_limited = bucket.refused;
    }
  }
  std::vector<api::AlertDrops> out;
  for (auto& [source, entry] : drops) out.push_back(std::move(entry));
  return out;
}

}  // namespace fogkeep::node::alerts
