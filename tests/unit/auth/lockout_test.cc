// LoginThrottle with a fake clock: backoff and lockout per user and per source, reset on
// success, unknown names tracked like known ones, concurrency limits and the table bound.
#include "auth/lockout.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace fogkeep::auth {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

class FakeClock {
 public:
  LoginThrottle::Clock AsClock() {
    return [this] { return now_; };
  }
  void Advance(std::chrono::steady_clock::duration d) { now_ += d; }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
};

// Small numbers so every step is visible.
LoginThrottleConfig TestConfig() {
  LoginThrottleConfig config;
  config.per_user = {.free_failures = 2,
                     .base_delay = 1s,
                     .max_delay = 8s,
                     .lockout_failures = 6,
                     .lockout_duration = 5min,
                     .window = 30min};
  config.per_source = {.free_failures = 100,
                       .base_delay = 1s,
                       .max_delay = 8s,
                       .lockout_failures = 0,
                       .lockout_duration = 0s,
                       .window = 30min};
  config.max_entries = 1000;
  return config;
}

class LockoutTest : public ::testing::Test {
 protected:
  std::unique_ptr<LoginThrottle> Make(LoginThrottleConfig config = TestConfig()) {
    auto throttle = LoginThrottle::Create(config, clock_.AsClock());
    EXPECT_TRUE(throttle) << throttle.error().message();
    return std::move(*throttle);
  }
  // One failed attempt, which must be admitted.
  void FailOnce(LoginThrottle& t, std::string_view user, std::string_view source) {
    Admission a = t.Admit(user, source);
    ASSERT_TRUE(a.allowed) << "retry after " << a.retry_after.count() << " ms";
    t.RecordFailure(user, source);
  }

  FakeClock clock_;
};

TEST_F(LockoutTest, BackoffDoublesUpToTheMaximumThenLocks) {
  auto t = Make();
  // Two free failures.
  FailOnce(*t, "alice", "192.0.2.1");
  FailOnce(*t, "alice", "192.0.2.1");
  // Failures 3, 4, 5: 1 s, 2 s, 4 s.
  for (milliseconds expected : {1000ms, 2000ms, 4000ms}) {
    FailOnce(*t, "alice", "192.0.2.1");
    Admission a = t->Admit("alice", "192.0.2.1");
    EXPECT_FALSE(a.allowed);
    EXPECT_EQ(a.retry_after, expected);
    EXPECT_EQ(a.limited_by, "user");
    EXPECT_FALSE(a.locked);
    clock_.Advance(expected - 1ms);
    EXPECT_FALSE(t->Admit("alice", "192.0.2.1").allowed);
    clock_.Advance(1ms);
  }
  // Failure 6 locks for five minutes.
  FailOnce(*t, "alice", "192.0.2.1");
  Admission locked = t->Admit("alice", "192.0.2.1");
  EXPECT_FALSE(locked.allowed);
  EXPECT_TRUE(locked.locked);
  EXPECT_EQ(locked.retry_after, milliseconds(5min));
  clock_.Advance(5min - 1s);
  EXPECT_FALSE(t->Admit("alice", "198.51.100.7").allowed) << "the user is locked from anywhere";
  clock_.Advance(1s);
  // Unlocked, but the record remembers: the next failure locks again at once.
  FailOnce(*t, "alice", "192.0.2.1");
  EXPECT_TRUE(t->Admit("alice", "192.0.2.1").locked);
}

TEST_F(LockoutTest, MaxDelayCapsTheBackoff) {
  auto config = TestConfig();
  config.per_user.lockout_failures = 0;
  auto t = Make(config);
  for (int i = 0; i < 12; ++i) {
    FailOnce(*t, "alice", "192.0.2.1");
    Admission a = t->Admit("alice", "192.0.2.1");
    if (a.allowed) {
      t->RecordAbandoned("alice", "192.0.2.1");
    } else {
      clock_.Advance(a.retry_after);
    }
  }
  FailOnce(*t, "alice", "192.0.2.1");
  EXPECT_EQ(t->Admit("alice", "192.0.2.1").retry_after, 8000ms);
}

TEST_F(LockoutTest, SuccessClearsTheUserButNotTheSource) {
  auto config = TestConfig();
  config.per_source.free_failures = 3;
  auto t = Make(config);
  FailOnce(*t, "alice", "192.0.2.1");
  FailOnce(*t, "alice", "192.0.2.1");
  FailOnce(*t, "alice", "192.0.2.1");
  clock_.Advance(1s);
  ASSERT_TRUE(t->Admit("alice", "192.0.2.1").allowed);
  t->RecordSuccess("alice", "192.0.2.1");
  // alice starts afresh: two free failures again.
  FailOnce(*t, "alice", "198.51.100.1");
  FailOnce(*t, "alice", "198.51.100.1");
  EXPECT_TRUE(t->Admit("alice", "198.51.100.1").allowed);
  t->RecordSuccess("alice", "198.51.100.1");
  // The source still counts its three failures: one more and it backs off, whoever logs in.
  FailOnce(*t, "bob", "192.0.2.1");
  Admission a = t->Admit("carol", "192.0.2.1");
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.limited_by, "source");
}

TEST_F(LockoutTest, SourcesAreTrackedAcrossUsers) {
  auto config = TestConfig();
  config.per_source = {.free_failures = 3,
                       .base_delay = 2s,
                       .max_delay = 8s,
                       .lockout_failures = 5,
                       .lockout_duration = 10min,
                       .window = 30min};
  auto t = Make(config);
  // Spraying one guess at many names from one address: three are free, the fourth backs off.
  for (int i = 0; i < 4; ++i) FailOnce(*t, "user" + std::to_string(i), "203.0.113.9");
  Admission a = t->Admit("user9", "203.0.113.9");
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.limited_by, "source");
  EXPECT_EQ(a.retry_after, 2000ms);
  clock_.Advance(2s);
  // The fifth locks the source.
  FailOnce(*t, "user10", "203.0.113.9");
  Admission locked = t->Admit("user12", "203.0.113.9");
  EXPECT_TRUE(locked.locked);
  EXPECT_EQ(locked.limited_by, "source");
  // Another address is not affected.
  EXPECT_TRUE(t->Admit("user12", "203.0.113.10").allowed);
}

TEST_F(LockoutTest, UnknownUsersAreTrackedLikeKnownOnes) {
  // The throttle never learns whether a name exists: the same sequence gives the same answers.
  auto t = Make();
  for (std::string_view user : {"alice", "no-such-user"}) {
    for (int i = 0; i < 3; ++i) FailOnce(*t, user, "192.0.2." + std::to_string(user.size()));
  }
  Admission known = t->Admit("alice", "192.0.2.50");
  Admission unknown = t->Admit("no-such-user", "192.0.2.51");
  EXPECT_EQ(known.allowed, unknown.allowed);
  EXPECT_EQ(known.retry_after, unknown.retry_after);
  EXPECT_EQ(known.locked, unknown.locked);
}

TEST_F(LockoutTest, NameCaseDoesNotBuyMoreGuesses) {
  auto t = Make();
  FailOnce(*t, "alice", "192.0.2.1");
  FailOnce(*t, "Alice", "192.0.2.1");
  FailOnce(*t, "ALICE", "192.0.2.1");
  EXPECT_FALSE(t->Admit("aLiCe", "192.0.2.1").allowed);
}

TEST_F(LockoutTest, WindowForgetsOldFailures) {
  auto t = Make();
  for (int i = 0; i < 3; ++i) FailOnce(*t, "alice", "192.0.2.1");
  EXPECT_EQ(t->tracked_users(), 1u);
  clock_.Advance(30min);
  EXPECT_TRUE(t->Admit("alice", "192.0.2.1").allowed);
  t->RecordFailure("alice", "192.0.2.1");
  // Counted as the first failure of a new window: still free.
  FailOnce(*t, "alice", "192.0.2.1");
}

TEST_F(LockoutTest, ParallelAttemptsCannotSkipTheBackoff) {
  auto t = Make();
  // Two free failures allow two attempts in flight at once, not a third.
  ASSERT_TRUE(t->Admit("alice", "192.0.2.1").allowed);
  ASSERT_TRUE(t->Admit("alice", "192.0.2.2").allowed);
  Admission third = t->Admit("alice", "192.0.2.3");
  EXPECT_FALSE(third.allowed);
  EXPECT_EQ(third.retry_after, 1000ms);
  t->RecordFailure("alice", "192.0.2.1");
  t->RecordFailure("alice", "192.0.2.2");
  clock_.Advance(10s);
  // At the backoff stage only one at a time.
  ASSERT_TRUE(t->Admit("alice", "192.0.2.1").allowed);
  EXPECT_FALSE(t->Admit("alice", "192.0.2.2").allowed);
}

TEST_F(LockoutTest, AbandonedAttemptsCountNothing) {
  auto t = Make();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(t->Admit("alice", "192.0.2.1").allowed);
    t->RecordAbandoned("alice", "192.0.2.1");
  }
  EXPECT_EQ(t->tracked_users(), 0u);
  EXPECT_EQ(t->tracked_sources(), 0u);
}

TEST_F(LockoutTest, TablesAreBoundedAndEvictTheLeastRecent) {
  auto config = TestConfig();
  config.per_user.free_failures = 0;
  config.per_user.lockout_failures = 1;  // one failure locks: eviction is then visible
  config.max_entries = 3;
  auto t = Make(config);
  for (std::string_view user : {"u0", "u1", "u2"}) FailOnce(*t, user, "192.0.2.1");
  EXPECT_FALSE(t->Admit("u0", "192.0.2.1").allowed);  // u0 becomes the most recent
  FailOnce(*t, "spray", "192.0.2.1");                 // pushes out u1, the least recent
  EXPECT_EQ(t->tracked_users(), 3u);
  EXPECT_FALSE(t->Admit("u0", "192.0.2.1").allowed);
  EXPECT_FALSE(t->Admit("u2", "192.0.2.1").allowed);
  Admission u1 = t->Admit("u1", "192.0.2.1");
  EXPECT_TRUE(u1.allowed);
  t->RecordAbandoned("u1", "192.0.2.1");
  for (int i = 0; i < 50; ++i) {
    FailOnce(*t, "spray" + std::to_string(i), "198.51.100." + std::to_string(i));
    EXPECT_LE(t->tracked_users(), 3u);
    EXPECT_LE(t->tracked_sources(), 3u);
  }
}

TEST_F(LockoutTest, SourceKeys) {
  EXPECT_EQ(LoginThrottle::SourceKey("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::SourceKey("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::SourceKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::SourceKey("[2001:db8:1:2::9]"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::SourceKey("fe80::1%eth0"), "fe80::/64");
  EXPECT_EQ(LoginThrottle::SourceKey("/run/fogkeep/fogkeepd.sock"), "/run/fogkeep/fogkeepd.sock");
  EXPECT_EQ(LoginThrottle::SourceKey(std::string(1000, 'x')).size(), 256u);
}

TEST_F(LockoutTest, OneHostsIpv6AddressesShareARecord) {
  auto config = TestConfig();
  config.per_source.free_failures = 2;
  auto t = Make(config);
  FailOnce(*t, "a", "2001:db8:1:2::1");
  FailOnce(*t, "b", "2001:db8:1:2::2");
  FailOnce(*t, "c", "2001:db8:1:2:ffff::3");
  EXPECT_FALSE(t->Admit("d", "2001:db8:1:2::4").allowed);
  EXPECT_TRUE(t->Admit("d", "2001:db8:1:3::4").allowed);
}

TEST_F(LockoutTest, RejectsBadConfig) {
  auto bad = TestConfig();
  bad.per_user.max_delay = 1ms;
  EXPECT_FALSE(LoginThrottle::Create(bad));
  bad = TestConfig();
  bad.max_entries = 0;
  EXPECT_FALSE(LoginThrottle::Create(bad));
  bad = TestConfig();
  bad.per_source.free_failures = -1;
  EXPECT_FALSE(LoginThrottle::Create(bad));
  EXPECT_TRUE(LoginThrottle::Create());
}

}  // namespace
}  // namespace fogkeep::auth
