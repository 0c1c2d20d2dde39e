#include "auth/lockout.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace fogkeep::auth {
namespace {

using std::chrono::milliseconds;

// Keys longer than this are cut: distinct over-long names then share one record, which only
// makes guessing them slower.
constexpr std::size_t kMaxKeyBytes = 256;
constexpr int kMaxCountedFailures = 1 << 20;

milliseconds CeilMs(std::chrono::steady_clock::duration d) {
  return std::max(milliseconds(1), std::chrono::ceil<milliseconds>(d));
}

milliseconds Backoff(int failures, const ThrottlePolicy& policy) {
  if (failures <= policy.free_failures) return milliseconds(0);
  int doublings = failures - policy.free_failures - 1;
  milliseconds delay = policy.base_delay;
  for (int i = 0; i < doublings && delay.count() > 0 && delay < policy.max_delay; ++i) delay *= 2;
  return std::min(delay, policy.max_delay);
}

Status CheckPolicy(const ThrottlePolicy& p, std::string_view which) {
  if (p.free_failures < 0 || p.lockout_failures < 0 || p.base_delay.count() < 0 ||
      p.max_delay < p.base_delay || p.lockout_duration.count() < 0 || p.window.count() <= 0) {
    return Fail(ErrorCode::kInvalidInput,
                std::string(which) +
                    " throttle: counts and durations must not be negative, max_delay must be at "
                    "least base_delay, and the window must be positive");
  }
  return {};
}

}  // namespace

Status ValidateThrottleConfig(const LoginThrottleConfig& config) {
  FK_TRY(CheckPolicy(config.per_user, "per-user"));
  FK_TRY(CheckPolicy(config.per_source, "per-source"));
  if (config.max_entries == 0) {
    return Fail(ErrorCode::kInvalidInput, "throttle: max_entries must be at least 1");
  }
  return {};
}

Result<std::unique_ptr<LoginThrottle>> LoginThrottle::Create(LoginThrottleConfig config,
                                                             Clock clock) {
  FK_TRY(ValidateThrottleConfig(config));
  if (!clock) clock = [] { return std::chrono::steady_clock::now(); };
  return std::unique_ptr<LoginThrottle>(new LoginThrottle(std::move(config), std::move(clock)));
}

std::string LoginThrottle::UserKey(std::string_view user) {
  // Lower-cased: a back-end that matches names without regard to case must not give each
  // spelling its own budget of guesses.
  std::string key(user.substr(0, kMaxKeyBytes));
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

std::string LoginThrottle::SourceKey(std::string_view source) {
  std::string text(source.substr(0, kMaxKeyBytes));
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (std::size_t zone = text.find('%'); zone != std::string::npos) text.resize(zone);
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    ::inet_ntop(AF_INET, &v4, out, sizeof out);
    return out;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      std::memcpy(&v4, &v6.s6_addr[12], 4);
      ::inet_ntop(AF_INET, &v4, out, sizeof out);
      return out;
    }
    std::memset(&v6.s6_addr[8], 0, 8);
    ::inet_ntop(AF_INET6, &v6, out, sizeof out);
    return std::string(out) + "/64";
  }
  return std::string(source.substr(0, kMaxKeyBytes));
}

LoginThrottle::Record* LoginThrottle::Find(Table& table, const std::string& key,
                                           const ThrottlePolicy& policy, TimePoint now) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return nullptr;
  Record& record = it->second;
  if (record.in_flight == 0 && record.locked_until <= now && record.failures > 0 &&
      now - record.last_failure >= policy.window) {
    Erase(table, key);
    return nullptr;
  }
  table.recency.splice(table.recency.begin(), table.recency, record.lru);
  return &record;
}

LoginThrottle::Record& LoginThrottle::Touch(Table& table, const std::string& key,
                                            const ThrottlePolicy& policy, TimePoint now) {
  if (Record* found = Find(table, key, policy, now)) return *found;
  if (table.records.size() >= config_.max_entries) {
    table.records.erase(table.recency.back());
    table.recency.pop_back();
  }
  table.recency.push_front(key);
  Record& record = table.records[key];
  record.lru = table.recency.begin();
  return record;
}

void LoginThrottle::Erase(Table& table, const std::string& key) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return;
  table.recency.erase(it->second.lru);
  table.records.erase(it);
}

milliseconds LoginThrottle::Wait(const Record& record, const ThrottlePolicy& policy, TimePoint now,
                                 bool* locked) {
  *locked = false;
  if (record.locked_until > now) {
    *locked = true;
    return CeilMs(record.locked_until - now);
  }
  if (record.next_allowed > now) return CeilMs(record.next_allowed - now);
  int concurrent = std::max(1, policy.free_failures - record.failures);
  if (record.in_flight >= concurrent) return std::max(milliseconds(1), policy.base_delay);
  return milliseconds(0);
}

void LoginThrottle::Fail(Record& record, const ThrottlePolicy& policy, TimePoint now) {
  record.failures = std::min(record.failures + 1, kMaxCountedFailures);
  record.last_failure = now;
  record.next_allowed = now + Backoff(record.failures, policy);
  if (policy.lockout_failures > 0 && record.failures >= policy.lockout_failures) {
    record.locked_until = now + policy.lockout_duration;
  }
}

Admission LoginThrottle::Admit(std::string_view user, std::string_view source) {
  const TimePoint now = clock_();
  const std::string user_key = UserKey(user);
  const std::string source_key = SourceKey(source);
  std::lock_guard lock(mu_);
  Record& u = Touch(users_, user_key, config_.per_user, now);
  Record& s = Touch(sources_, source_key, config_.per_source, now);
  bool user_locked = false;
  bool source_locked = false;
  milliseconds user_wait = Wait(u, config_.per_user, now, &user_locked);
  milliseconds source_wait = Wait(s, config_.per_source, now, &source_locked);
  if (user_wait.count() > 0 || source_wait.count() > 0) {
    // A record created just now for this check holds nothing worth keeping.
    bool by_user = user_wait >= source_wait;
    Admission refused{.allowed = false,
                      .retry_after = by_user ? user_wait : source_wait,
                      .limited_by = by_user ? "user" : "source",
                      .locked = by_user ? user_locked : source_locked};
    if (u.failures == 0 && u.in_flight == 0) Erase(users_, user_key);
    if (s.failures == 0 && s.in_flight == 0) Erase(sources_, source_key);
    return refused;
  }
  ++u.in_flight;
  ++s.in_flight;
  return Admission{.allowed = true};
}

void LoginThrottle::RecordSuccess(std::string_view user, std::string_view source) {
  const TimePoint now = clock_();
  const std::string user_key = UserKey(user);
  const std::string source_key = SourceKey(source);
  std::lock_guard lock(mu_);
  if (Record* u = Find(users_, user_key, config_.per_user, now)) {
    int in_flight = std::max(0, u->in_flight - 1);
    if (in_flight == 0) {
      Erase(users_, user_key);
    } else {
      Record fresh;
      fresh.in_flight = in_flight;
      fresh.lru = u->lru;
      *u = fresh;
    }
  }
  if (Record* s = Find(sources_, source_key, config_.per_source, now)) {
    s->in_flight = std::max(0, s->in_flight - 1);
    if (s->in_flight == 0 && s->failures == 0) Erase(sources_, source_key);
  }
}

void LoginThrottle::RecordFailure(std::string_view user, std::string_view source) {
  const TimePoint now = clock_();
  const std::string user_key = UserKey(user);
  const std::string source_key = SourceKey(source);
  std::lock_guard lock(mu_);
  Record& u = Touch(users_, user_key, config_.per_user, now);
  u.in_flight = std::max(0, u.in_flight - 1);
  Fail(u, config_.per_user, now);
  Record& s = Touch(sources_, source_key, config_.per_source, now);
  s.in_flight = std::max(0, s.in_flight - 1);
  Fail(s, config_.per_source, now);
}

void LoginThrottle::RecordAbandoned(std::string_view user, std::string_view source) {
  const TimePoint now = clock_();
  const std::string user_key = UserKey(user);
  const std::string source_key = SourceKey(source);
  std::lock_guard lock(mu_);
  if (Record* u = Find(users_, user_key, config_.per_user, now)) {
    u->in_flight = std::max(0, u->in_flight - 1);
    if (u->in_flight == 0 && u->failures == 0) Erase(users_, user_key);
  }
  if (Record* s = Find(sources_, source_key, config_.per_source, now)) {
    s->in_flight = std::max(0, s->in_flight - 1);
    if (s->in_flight == 0 && s->failures == 0) Erase(sources_, source_key);
  }
}

std::size_t LoginThrottle::tracked_users() const {
  std::lock_guard lock(mu_);
  return users_.records.size();
}

std::size_t LoginThrottle::tracked_sources() const {
  std::lock_guard lock(mu_);
  return sources_.records.size();
}

}  // namespace fogkeep::auth
