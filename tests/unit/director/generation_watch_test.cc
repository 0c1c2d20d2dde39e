// GenerationWatch over an in-memory SQLite store: waiters fire when the generation moves (at
// once after Changed(), within a poll interval otherwise), when their time is up, or when the
// watch stops; all on the watch's one thread, none inside WhenBeyond.
#include "director/generation_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "director/store.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

using namespace std::chrono_literals;
using fogkeep::testing::Must;

// What the `done` callbacks were called with, and on which threads.
class Outcomes {
 public:
  GenerationWatch::Done Callback() {
    return [this](Result<std::int64_t> result) {
      std::lock_guard lock(mu_);
      results_.push_back(std::move(result));
      threads_.insert(std::this_thread::get_id());
      changed_.notify_all();
    };
  }
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  std::vector<Result<std::int64_t>> results() {
    std::lock_guard lock(mu_);
    return results_;
  }
  std::set<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Result<std::int64_t>> results_;  // guarded by mu_
  std::set<std::thread::id> threads_;          // guarded by mu_
};

Device MakeDevice(const std::string& id) {
  Device d;
  d.id = id;
  d.name = id;
  d.cert_serial = "0a";
  d.cert_fingerprint = std::string(64, 'f');
  d.cert_not_after = 2'000'000'000;
  d.enrolled_at = 1'700'000'000;
  return d;
}

class GenerationWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Must(OpenSqliteStore(":memory:"), "open store");
    Must(store_->InsertDevice(MakeDevice("dev-1")), "insert device");
  }
  // A write that raises the generation.
  void Retag(std::string tag) { Must(store_->SetDeviceTags("dev-1", {std::move(tag)}), "tag"); }

  std::shared_ptr<FleetStore> store_;
};

TEST_F(GenerationWatchTest, ChangedFiresWaitersAtOnce) {
  // A poll interval far beyond the test: only Changed() can explain a prompt answer.
  GenerationWatch watch(store_, 60s);
  const std::int64_t seen = Must(watch.Current(), "current");
  Outcomes outcomes;
  EXPECT_NE(watch.WhenBeyond(seen, 60s, outcomes.Callback()), 0u);
  EXPECT_FALSE(outcomes.WaitFor(1, 200ms));
  Retag("moved");
  watch.Changed();
  ASSERT_TRUE(outcomes.WaitFor(1, 10s));
  ASSERT_TRUE(outcomes.results()[0]);
  EXPECT_GT(*outcomes.results()[0], seen);
  EXPECT_FALSE(outcomes.threads().contains(std::this_thread::get_id()));
  EXPECT_EQ(Must(watch.Current(), "current"), *outcomes.results()[0]);
}

TEST_F(GenerationWatchTest, WritesElsewhereAreSeenWithinAPollInterval) {
  GenerationWatch watch(store_, 50ms);
  const std::int64_t seen = Must(watch.Current(), "current");
  Outcomes outcomes;
  watch.WhenBeyond(seen, 60s, outcomes.Callback());
  Retag("moved");  // as another replica would: no Changed()
  ASSERT_TRUE(outcomes.WaitFor(1, 10s));
  ASSERT_TRUE(outcomes.results()[0]);
  EXPECT_GT(*outcomes.results()[0], seen);
}

TEST_F(GenerationWatchTest, TimeoutAnswersWithTheUnchangedGeneration) {
  GenerationWatch watch(store_, 20ms);
  const std::int64_t seen = Must(watch.Current(), "current");
  Outcomes outcomes;
  const auto start = std::chrono::steady_clock::now();
  watch.WhenBeyond(seen, 300ms, outcomes.Callback());
  ASSERT_TRUE(outcomes.WaitFor(1, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  ASSERT_TRUE(outcomes.results()[0]);
  EXPECT_EQ(*outcomes.results()[0], seen);
}

TEST_F(GenerationWatchTest, AGenerationAlreadyPastIsAnsweredAtOnce) {
  GenerationWatch watch(store_, 60s);
  const std::int64_t current = Must(watch.Current(), "current");
  Outcomes outcomes;
  watch.WhenBeyond(current - 1, 60s, outcomes.Callback());
  ASSERT_TRUE(outcomes.WaitFor(1, 10s));
  ASSERT_TRUE(outcomes.results()[0]);
  EXPECT_EQ(*outcomes.results()[0], current);
}

TEST_F(GenerationWatchTest, ForgottenWaitersAreNotCalled) {
  GenerationWatch watch(store_, 20ms);
  const std::int64_t seen = Must(watch.Current(), "current");
  Outcomes forgotten, kept;
  const GenerationWatch::Ticket ticket = watch.WhenBeyond(seen, 200ms, forgotten.Callback());
  watch.WhenBeyond(seen, 200ms, kept.Callback());
  watch.Forget(ticket);
  watch.Forget(ticket);  // twice, and unknown tickets, are ignored
  watch.Forget(0);
  ASSERT_TRUE(kept.WaitFor(1, 10s));
  EXPECT_FALSE(forgotten.WaitFor(1, 300ms));
}

TEST_F(GenerationWatchTest, OneThreadAnswersAThousandWaiters) {
  GenerationWatch watch(store_, 60s);
  const std::int64_t seen = Must(watch.Current(), "current");
  Outcomes outcomes;
  for (int i = 0; i < 1000; ++i) watch.WhenBeyond(seen, 60s, outcomes.Callback());
  Retag("moved");
  watch.Changed();
  ASSERT_TRUE(outcomes.WaitFor(1000, 30s));
  for (const Result<std::int64_t>& result : outcomes.results()) {
    ASSERT_TRUE(result);
    EXPECT_GT(*result, seen);
  }
  EXPECT_EQ(outcomes.threads().size(), 1u);
}

TEST_F(GenerationWatchTest, StopEndsEveryWaitAtOnce) {
  GenerationWatch watch(store_, 60s);
  const std::int64_t seen = Must(watch.Current(), "current");
  Outcomes outcomes;
  for (int i = 0; i < 100; ++i) watch.WhenBeyond(seen, 60s, outcomes.Callback());
  const auto start = std::chrono::steady_clock::now();
  watch.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // Stop returns once every waiter has been answered, with the last generation read.
  ASSERT_EQ(outcomes.results().size(), 100u);
  for (const Result<std::int64_t>& result : outcomes.results()) {
    ASSERT_TRUE(result);
    EXPECT_EQ(*result, seen);
  }
  // Afterwards a waiter is answered at once, on the calling thread.
  Outcomes late;
  EXPECT_EQ(watch.WhenBeyond(seen, 60s, late.Callback()), 0u);
  ASSERT_EQ(late.results().size(), 1u);
  EXPECT_TRUE(late.threads().contains(std::this_thread::get_id()));
  watch.Stop();  // idempotent
}

TEST_F(GenerationWatchTest, TheLastReferenceMayGoInsideACallback) {
  auto watch = std::make_shared<GenerationWatch>(store_, 60s);
  const std::int64_t seen = Must(watch->Current(), "current");
  std::atomic<bool> called{false};
  watch->WhenBeyond(seen, 50ms, [held = watch, &called](Result<std::int64_t>) { called = true; });
  watch.reset();  // the callback holds the only reference now
  for (int i = 0; i < 500 && !called; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(called);
  std::this_thread::sleep_for(100ms);  // the thread, let go, ends on its own
}

}  // namespace
}  // namespace fogkeep::director
