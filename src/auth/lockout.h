// LoginThrottle: exponential backoff and lockout of password guessing, per user name and per
// source address, in memory.
//
// A login asks Admit(user, source) first. When either record says "not yet", the attempt is
// refused before any password is looked at, with how long to wait (the HTTP layer answers 429
// with Retry-After). An admitted attempt must be followed by exactly one of RecordSuccess,
// RecordFailure or RecordAbandoned for the same (user, source).
//
// Per record (one per user name, one per source address), with the policy's numbers:
//   - the first `free_failures` failures cost nothing;
//   - failure n > free_failures makes the record wait base_delay * 2^(n - free_failures - 1),
//     at most max_delay, after that failure;
//   - failure n >= lockout_failures (when > 0) locks the record for lockout_duration;
//   - a record with no failure for `window` is forgotten. With window > lockout_duration (the
//     default), a locked record that fails again once its lockout ends is locked again at once.
// Attempts in flight count: a record admits at most max(1, free_failures - failures)
// concurrent attempts, so parallel requests cannot slip past the backoff.
//
// User names that do not exist are tracked exactly like those that do, so neither the answer
// nor its timing tells them apart. Success clears the user's record but not the source's: an
// attacker who owns one account must not wipe the source's count by logging into it between
// guesses at others. IPv6 sources are tracked per /64 (one host usually owns a whole /64);
// IPv4-mapped IPv6 addresses count as their IPv4 address.
//
// Memory is bounded: each table (users, sources) holds at most max_entries records and evicts
// the least recently touched one to make room. An attacker who spreads guesses over more
// names or sources than that can push records out; the per-source table then still holds the
// sources doing the spreading unless they are more than max_entries too.
//
// Lockout trades availability for safety: anyone can lock a known user name out for
// lockout_duration by guessing. root on the Unix socket never logs in with a password, so the
// local CLI stays usable as a break-glass path.
//
// Thread-safe; one mutex guards both tables.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace fogkeep::auth {

struct ThrottlePolicy {
  int free_failures = 3;
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{std::chrono::minutes(1)};
  int lockout_failures = 10;  // 0: never lock, only back off
  std::chrono::seconds lockout_duration{std::chrono::minutes(15)};
  std::chrono::seconds window{std::chrono::hours(1)};
};

struct LoginThrottleConfig {
  ThrottlePolicy per_user;
  // A source may front many users (a NAT, a jump host): more failures before it slows down.
  ThrottlePolicy per_source{.free_failures = 10,
                            .base_delay = std::chrono::milliseconds(1000),
                            .max_delay = std::chrono::minutes(1),
                            .lockout_failures = 50,
                            .lockout_duration = std::chrono::minutes(15),
                            .window = std::chrono::hours(1)};
  std::size_t max_entries = 10000;  // per table
};

// kInvalidInput for negative counts or durations, max_delay < base_delay, or max_entries 0.
Status ValidateThrottleConfig(const LoginThrottleConfig& config);

struct Admission {
  bool allowed = false;
  // When not allowed: how long until an attempt may be admitted (at least 1 ms).
  std::chrono::milliseconds retry_after{0};
  // When not allowed, for logs: "user" or "source", and whether it is locked (vs backing off).
  std::string_view limited_by;
  bool locked = false;
};

class LoginThrottle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // kInvalidInput when `config` fails ValidateThrottleConfig. `clock` defaults to
  // steady_clock::now.
  static Result<std::unique_ptr<LoginThrottle>> Create(LoginThrottleConfig config = {},
                                                       Clock clock = {});

  // Reserves an attempt for `user` from `source` or says how long to wait.
  Admission Admit(std::string_view user, std::string_view source);
  // The attempt proved the password: the user's record is cleared, the source's attempt
  // released.
  void RecordSuccess(std::string_view user, std::string_view source);
  // The attempt was refused: both records count a failure.
  void RecordFailure(std::string_view user, std::string_view source);
  // No back-end could decide (all unavailable): the reservation is released, nothing counted.
  void RecordAbandoned(std::string_view user, std::string_view source);

  // Records held now (for metrics and tests).
  std::size_t tracked_users() const;
  std::size_t tracked_sources() const;

  // The key a source address is tracked under ("192.0.2.1", "2001:db8:1:2::/64").
  static std::string SourceKey(std::string_view source);

 private:
  LoginThrottle(LoginThrottleConfig config, Clock clock)
      : config_(std::move(config)), clock_(std::move(clock)) {}

  using TimePoint = std::chrono::steady_clock::time_point;
  struct Record {
    int failures = 0;
    int in_flight = 0;
    TimePoint last_failure{};
    TimePoint next_allowed{};  // backoff: no attempt before this
    TimePoint locked_until{};
    std::list<std::string>::iterator lru;  // position in the table's recency list
  };
  // One table: records by key, and keys from most to least recently touched.
  struct Table {
    std::unordered_map<std::string, Record> records;
    std::list<std::string> recency;
  };

  // The record for `key`, created (evicting the least recent one if full) when missing;
  // forgets one whose window has passed. Marks it most recent.
  Record& Touch(Table& table, const std::string& key, const ThrottlePolicy& policy, TimePoint now);
  Record* Find(Table& table, const std::string& key, const ThrottlePolicy& policy, TimePoint now);
  void Erase(Table& table, const std::string& key);
  // How long `record` must wait now, 0 when it may try; sets *locked.
  static std::chrono::milliseconds Wait(const Record& record, const ThrottlePolicy& policy,
                                        TimePoint now, bool* locked);
  static void Fail(Record& record, const ThrottlePolicy& policy, TimePoint now);
  static std::string UserKey(std::string_view user);

  // Constant after construction.
  const LoginThrottleConfig config_;
  const Clock clock_;

  mutable std::mutex mu_;
  Table users_;    // guarded by mu_
  Table sources_;  // guarded by mu_
};

}  // namespace fogkeep::auth
