// NodeReporter: sends the sensor's alerts to the local fogkeepd, off the capture thread.
//
// Alerts are queued (at most kMaxQueued; beyond that the oldest are dropped and counted, so a
// flood cannot grow the sensor without bound) and posted in batches of up to
// api::kMaxAlertBatch as {"alerts": [...]} to a Unix socket: inside a fog app, the app's own
// node socket (route /v1/alerts; the node knows the app from the socket), standalone,
// fogkeepd's admin socket (route /api/v1/alerts). A batch the node could not take for a
// transport error or a 5xx is sent again after a growing pause (up to 5 s); one it refused
// (4xx) is dropped and counted, since sending it again would be refused again.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/error.h"
#include "sensor/alert.h"

namespace fogkeep::sensor {

struct NodeTarget {
  std::string socket_path;
  std::string route;  // "/v1/alerts" or "/api/v1/alerts"
};

struct NodeReporterCounters {
  std::uint64_t sent = 0;      // accepted by the node
  std::uint64_t dropped = 0;   // queue overflow
  std::uint64_t refused = 0;   // in batches the node refused (4xx)
  std::uint64_t pending = 0;   // still queued at the time of asking
  std::uint64_t failures = 0;  // posts that failed and were retried
};

class NodeReporter final : public AlertSink {
 public:
  static constexpr std::size_t kMaxQueued = 4096;

  explicit NodeReporter(NodeTarget target);
  // Sends what is queued (giving up after `drain_timeout`), then stops.
  ~NodeReporter() override;
  NodeReporter(const NodeReporter&) = delete;
  NodeReporter& operator=(const NodeReporter&) = delete;

  void OnAlert(const Alert& alert) override;
  // Waits until the queue is empty or `timeout` passed; true when empty.
  bool Drain(std::chrono::milliseconds timeout);
  NodeReporterCounters counters() const;

 private:
  void Run();

  const NodeTarget target_;
  mutable std::mutex mu_;
  std::condition_variable wake_;     // the queue grew, or stopping
  std::condition_variable drained_;  // the queue emptied
  std::deque<std::string> queue_;    // EVE lines; guarded by mu_
  std::size_t in_flight_ = 0;        // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  NodeReporterCounters counters_;    // guarded by mu_
  std::thread thread_;
};

}  // namespace fogkeep::sensor
