#include "fleetsim/options.h"

namespace fogkeep::fleetsim {

namespace {

constexpr std::size_t kMaxNodes = 1'000'000;
constexpr std::size_t kMaxThreads = 64;

}  // namespace

Status Validate(const SimOptions& o) {
  auto invalid = [](std::string message) { return Fail(ErrorCode::kInvalidInput, message); };
  if (o.director_url.empty()) return invalid("--director is required");
  if (o.ca_file.empty()) return invalid("--ca is required");
  if (o.nodes == 0 || o.nodes > kMaxNodes) {
    return invalid("--nodes must be 1 to " + std::to_string(kMaxNodes));
  }
  if (o.name_prefix.empty() || o.name_prefix.size() > 40) {
    return invalid("--name-prefix must be 1 to 40 characters");
  }
  for (char c : o.name_prefix) {
    if (c < 0x21 || c > 0x7e) return invalid("--name-prefix must be printable ASCII");
  }
  if (!(o.fail_percent >= 0 && o.fail_percent <= 100)) {
    return invalid("--fail-percent must be 0 to 100");
  }
  if (o.threads == 0 || o.threads > kMaxThreads) {
    return invalid("--threads must be 1 to " + std::to_string(kMaxThreads));
  }
  if (o.enroll_concurrency == 0) return invalid("--enroll-concurrency must be at least 1");
  if (o.long_poll.count() < 0 || o.long_poll.count() > 3600) {
    return invalid("--long-poll must be 0 to 3600 seconds");
  }
  const std::pair<std::chrono::milliseconds, const char*> non_negative[] = {
      {o.poll_interval, "--poll-interval"},
      {o.apply_time, "--apply-ms"},
      {o.report_interval, "--report-interval"},
      {o.retry_delay, "--retry-delay"},
      {o.warmup, "--warmup"},
      {o.stats_interval, "--stats-interval"}};
  for (const auto& [value, flag] : non_negative) {
    if (value.count() < 0) return invalid(std::string(flag) + " must not be negative");
  }
  if (o.timeout.count() <= 0) return invalid("--timeout must be positive");
  if (o.duration && o.duration->count() < 0) return invalid("--duration must not be negative");
  if (o.until_running && (o.until_running->app.empty() || o.until_running->version.empty())) {
    return invalid("--until-running needs an app and a version");
  }
  if (o.long_poll.count() == 0 && o.poll_interval.count() == 0 && o.retry_delay.count() == 0) {
    return invalid("--retry-delay must be positive when polling continuously");
  }
  return {};
}

}  // namespace fogkeep::fleetsim
