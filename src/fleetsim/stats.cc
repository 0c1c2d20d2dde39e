#include "fleetsim/stats.h"

#include <fmt/format.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace fogkeep::fleetsim {

Counters Delta(const Counters& later, const Counters& earlier) {
  return Counters{.enrolled = later.enrolled - earlier.enrolled,
                  .requests = later.requests - earlier.requests,
                  .desired_200 = later.desired_200 - earlier.desired_200,
                  .desired_304 = later.desired_304 - earlier.desired_304,
                  .reports = later.reports - earlier.reports,
                  .errors = later.errors - earlier.errors,
                  .handshakes = later.handshakes - earlier.handshakes};
}

std::string AppKey(std::string_view app, std::string_view version) {
  return fmt::format("{}@{}", app, version);
}

void FleetStats::CountError(std::string_view kind, std::string_view message) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  ++error_kinds_[std::string(kind)];
  last_error_ = std::string(message);
}

Counters FleetStats::Read() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  return Counters{.enrolled = enrolled_.load(kRelaxed),
                  .requests = requests_.load(kRelaxed),
                  .desired_200 = desired_200_.load(kRelaxed),
                  .desired_304 = desired_304_.load(kRelaxed),
                  .reports = reports_.load(kRelaxed),
                  .errors = errors_.load(kRelaxed),
                  .handshakes = handshakes_.load(kRelaxed)};
}

std::int64_t FleetStats::ReplaceRunning(const std::vector<std::string>& before,
                                        const std::vector<std::string>& after,
                                        std::string_view watched) {
  std::lock_guard lock(mu_);
  for (const std::string& key : before) {
    auto it = running_.find(key);
    if (it != running_.end() && --it->second <= 0) running_.erase(it);
  }
  for (const std::string& key : after) ++running_[key];
  if (watched.empty()) return 0;
  auto it = running_.find(std::string(watched));
  return it == running_.end() ? 0 : it->second;
}

std::map<std::string, std::int64_t> FleetStats::Running() const {
  std::lock_guard lock(mu_);
  return running_;
}

std::map<std::string, std::uint64_t> FleetStats::ErrorKinds() const {
  std::lock_guard lock(mu_);
  return error_kinds_;
}

std::string FleetStats::LastError() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

namespace {

double PerSecond(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

std::string RunningText(const std::map<std::string, std::int64_t>& running) {
  if (running.empty()) return "none";
  std::string out;
  for (const auto& [key, count] : running) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", key, count);
  }
  return out;
}

boost::json::object CountersJson(const Counters& c) {
  boost::json::object out;
  out["requests"] = c.requests;
  out["desired_200"] = c.desired_200;
  out["desired_304"] = c.desired_304;
  out["reports"] = c.reports;
  out["errors"] = c.errors;
  out["handshakes"] = c.handshakes;
  return out;
}

}  // namespace

std::string StatsLine(const Counters& now, const Counters& before, double window_seconds,
                      double elapsed_seconds, std::size_t nodes,
                      const std::map<std::string, std::int64_t>& running) {
  const Counters d = Delta(now, before);
  return fmt::format(
      "t={:.1f}s enrolled={}/{} req/s={:.1f} check-ins/s={:.1f} 200={} 304={} reports={} "
      "errors={} handshakes={} running: {}",
      elapsed_seconds, now.enrolled, nodes, PerSecond(d.requests, window_seconds),
      PerSecond(d.desired_304, window_seconds), now.desired_200, now.desired_304, now.reports,
      now.errors, now.handshakes, RunningText(running));
}

std::string SummaryJson(const Summary& s) {
  boost::json::object out;
  out["nodes"] = s.nodes;
  out["enrolled"] = s.totals.enrolled;
  out["identities_loaded"] = s.identities_loaded;
  out["enroll_seconds"] = s.enroll_seconds;
  out["totals"] = CountersJson(s.totals);
  boost::json::object window = CountersJson(s.window);
  window["seconds"] = s.window_seconds;
  window["requests_per_second"] = PerSecond(s.window.requests, s.window_seconds);
  window["checkins_per_second"] = PerSecond(s.window.desired_304, s.window_seconds);
  out["window"] = std::move(window);
  boost::json::object running;
  for (const auto& [key, count] : s.running) running[key] = count;
  out["running"] = std::move(running);
  boost::json::object kinds;
  for (const auto& [kind, count] : s.error_kinds) kinds[kind] = count;
  out["error_kinds"] = std::move(kinds);
  out["last_error"] = s.last_error;
  if (s.until_running) {
    boost::json::object until;
    until["app"] = s.until_running->app;
    until["version"] = s.until_running->version;
    until["reached"] = s.until_reached;
    until["seconds"] = s.until_seconds;
    until["measured_from"] = s.until_from_change ? "change" : "start";
    out["until_running"] = std::move(until);
  }
  return boost::json::serialize(out);
}

std::string SummaryText(const Summary& s) {
  std::string out = fmt::format(
      "nodes: {} ({} enrolled{})\n", s.nodes, s.totals.enrolled,
      s.identities_loaded ? ", identities loaded" : fmt::format(" in {:.1f} s", s.enroll_seconds));
  out += fmt::format(
      "measured {:.1f} s: {:.1f} requests/s, {:.1f} check-ins/s (304), 200={} reports={} "
      "errors={} handshakes={}\n",
      s.window_seconds, PerSecond(s.window.requests, s.window_seconds),
      PerSecond(s.window.desired_304, s.window_seconds), s.window.desired_200, s.window.reports,
      s.window.errors, s.window.handshakes);
  out += fmt::format("totals: requests={} 200={} 304={} reports={} errors={} handshakes={}\n",
                     s.totals.requests, s.totals.desired_200, s.totals.desired_304,
                     s.totals.reports, s.totals.errors, s.totals.handshakes);
  out += "running: " + RunningText(s.running) + "\n";
  if (!s.error_kinds.empty()) {
    std::string kinds;
    for (const auto& [kind, count] : s.error_kinds) {
      kinds += fmt::format("{}{}={}", kinds.empty() ? "" : " ", kind, count);
    }
    out += "errors: " + kinds + "; last: " + s.last_error + "\n";
  }
  if (s.until_running) {
    const std::string key = AppKey(s.until_running->app, s.until_running->version);
    if (!s.until_reached) {
      out += fmt::format("not every node runs {} yet\n", key);
    } else if (s.until_from_change) {
      out += fmt::format("every node runs {} {:.2f} s after the desired state changed\n", key,
                         s.until_seconds);
    } else {
      out += fmt::format(
          "every node runs {} {:.2f} s after polling started (it was already "
          "desired)\n",
          key, s.until_seconds);
    }
  }
  return out;
}

}  // namespace fogkeep::fleetsim
