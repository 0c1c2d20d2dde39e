// What the simulated fleet did: counters every node adds to, which app versions the nodes
// report running, and the lines and summary printed from them.
//
// FleetStats is safe to use from every I/O thread at once: counters are relaxed atomics (each
// is a total; nothing orders one against another), and the few structured records (errors by
// kind, running apps) sit behind a mutex because they change only on errors and on reports
// that differ from the node's previous one.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleetsim/options.h"

namespace fogkeep::fleetsim {

// Totals since the start, as read at one moment.
struct Counters {
  std::uint64_t enrolled = 0;
  std::uint64_t requests = 0;     // every answered request (any status)
  std::uint64_t desired_200 = 0;  // GET /api/v1/node/desired answered with a new state
  std::uint64_t desired_304 = 0;  // ... answered "unchanged": a check-in
  std::uint64_t reports = 0;      // POST /api/v1/node/report answered 204
  std::uint64_t errors = 0;       // failed exchanges: transport, TLS, or an unexpected status
  std::uint64_t handshakes = 0;   // TLS connections opened
};

// `later` minus `earlier`, field by field.
Counters Delta(const Counters& later, const Counters& earlier);

// "app@version".
std::string AppKey(std::string_view app, std::string_view version);

class FleetStats {
 public:
  void CountEnrolled() { enrolled_.fetch_add(1, std::memory_order_relaxed); }
  void CountRequest() { requests_.fetch_add(1, std::memory_order_relaxed); }
  void CountDesired200() { desired_200_.fetch_add(1, std::memory_order_relaxed); }
  void CountDesired304() { desired_304_.fetch_add(1, std::memory_order_relaxed); }
  void CountReport() { reports_.fetch_add(1, std::memory_order_relaxed); }
  void CountHandshake() { handshakes_.fetch_add(1, std::memory_order_relaxed); }
  // A failed exchange. `kind` groups errors in the summary ("connect", "HTTP 401"); `message`
  // is kept as the last error seen.
  void CountError(std::string_view kind, std::string_view message);

  Counters Read() const;

  // One node's running apps (AppKey of each app it reports RUNNING) went from `before` to
  // `after`. Returns how many nodes now run `watched` (an AppKey), 0 when not given.
  std::int64_t ReplaceRunning(const std::vector<std::string>& before,
                              const std::vector<std::string>& after, std::string_view watched = {});
  // How many nodes run each app version, only versions with at least one node.
  std::map<std::string, std::int64_t> Running() const;
  std::map<std::string, std::uint64_t> ErrorKinds() const;
  std::string LastError() const;

 private:
  std::atomic<std::uint64_t> enrolled_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> desired_200_{0};
  std::atomic<std::uint64_t> desired_304_{0};
  std::atomic<std::uint64_t> reports_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> handshakes_{0};

  mutable std::mutex mu_;
  // Guarded by mu_.
  std::map<std::string, std::int64_t> running_;
  std::map<std::string, std::uint64_t> error_kinds_;
  std::string last_error_;
};

// One periodic line: the totals at `elapsed_seconds` and the rates over the last `window_seconds`
// (`now` minus `before`), e.g.
//   "t=35.0s enrolled=50/50 req/s=101.2 check-ins/s=99.8 200=50 304=3490 reports=100 errors=0
//    running: nginx@1.2=48"
std::string StatsLine(const Counters& now, const Counters& before, double window_seconds,
                      double elapsed_seconds, std::size_t nodes,
                      const std::map<std::string, std::int64_t>& running);

// The end of a run, as printed (text or --json).
struct Summary {
  std::size_t nodes = 0;
  double enroll_seconds = 0;  // 0 when identities were loaded
  bool identities_loaded = false;
  Counters totals;
  // The measured window: polling time after the warm-up, and the counters within it.
  double window_seconds = 0;
  Counters window;
  std::map<std::string, std::int64_t> running;
  std::map<std::string, std::uint64_t> error_kinds;
  std::string last_error;
  std::optional<AppVersion> until_running;
  bool until_reached = false;
  // From the first change of a desired state (or the start of polling when none was seen:
  // the version was already desired) to the moment every node reported the version running.
  double until_seconds = 0;
  bool until_from_change = false;  // whether a change was seen
};

std::string SummaryJson(const Summary& summary);
std::string SummaryText(const Summary& summary);

}  // namespace fogkeep::fleetsim
