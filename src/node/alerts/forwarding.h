// ReportSender: when a node posts its report to its director, and how the report carries the
// node's alerts there.
//
// A report is posted when its state (apps, health) differs from the last one the director
// acknowledged, when alerts are waiting, or when `interval` has passed since the last. It
// carries the alerts after the store's forwarded mark, oldest first, at most `max_alerts` and
// about `max_alert_bytes` of them. Only a 2xx answer moves the mark (durably) past the last
// alert carried; any other answer, a transport failure or a crash before the mark is written
// leaves it, so the same alerts go again and the director, which keeps each (device, seq)
// once, holds them exactly once. While full batches remain, another report follows at once
// (up to `max_batches` per call).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "api/director.h"
#include "core/error.h"
#include "net/http.h"
#include "node/alerts/store.h"

namespace fogkeep::node::alerts {

struct ReportOptions {
  std::chrono::seconds interval{60};
  std::size_t max_alerts = api::kMaxReportAlerts;
  std::size_t max_alert_bytes = 1 << 20;
  std::size_t max_batches = 8;
};

class ReportSender {
 public:
  // Sends one report body; its answer whatever the status. Errors are transport failures.
  using Post = std::function<Result<net::Response>(const std::string& body)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `store` may be null: reports then carry no alerts.
  explicit ReportSender(std::shared_ptr<AlertStore> store, ReportOptions options = {},
                        Clock clock = {});

  // Posts `state` (its alerts ignored and replaced) through `post` when due, as above. A
  // non-2xx answer is its error (net::ResponseError).
  Status Send(const api::NodeReport& state, const Post& post);

 private:
  // Constant after construction.
  const std::shared_ptr<AlertStore> store_;
  const ReportOptions options_;
  const Clock clock_;

  // The caller's thread's alone (the director link's).
  std::string last_state_;  // the last acknowledged report, without its alerts
  std::chrono::steady_clock::time_point reported_at_{};
  bool reported_ = false;
};

}  // namespace fogkeep::node::alerts
