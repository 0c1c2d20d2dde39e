// The bounded pipes between I/O coroutines and blocking threads, and the worker pool.
#include "net/body_pipe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "net/worker_pool.h"

namespace fogkeep::net {
namespace {

using namespace std::chrono_literals;

TEST(BodyPipeTest, DeliversBytesInOrderAndEnds) {
  std::atomic<int> wakes{0};
  BodyPipe pipe(8, [&] { ++wakes; });
  pipe.Push("hello ");
  pipe.Push("world");
  pipe.End();
  std::string got;
  char buf[4];
  for (;;) {
    Result<std::size_t> n = pipe.Read(buf, sizeof(buf));
    ASSERT_TRUE(n);
    if (*n == 0) break;
    got.append(buf, *n);
  }
  EXPECT_EQ(got, "hello world");
  EXPECT_EQ(pipe.pushed(), 11u);
}

TEST(BodyPipeTest, FullPipeFlagsTheIoSideAndWakesItWhenDrained) {
  std::atomic<int> wakes{0};
  BodyPipe pipe(10, [&] { ++wakes; });
  EXPECT_TRUE(pipe.ReserveRoom());
  pipe.Push(std::string(10, 'x'));
  EXPECT_FALSE(pipe.ReserveRoom());  // bounded: the I/O side must wait
  char buf[3];
  ASSERT_EQ(*pipe.Read(buf, sizeof(buf)), 3u);  // 7 left, below capacity
  EXPECT_EQ(wakes.load(), 1);
  EXPECT_TRUE(pipe.ReserveRoom());
  ASSERT_EQ(*pipe.Read(buf, sizeof(buf)), 3u);
  EXPECT_EQ(wakes.load(), 1);  // nobody waiting, no wake
}

TEST(BodyPipeTest, ReaderBlocksUntilDataOrFailure) {
  BodyPipe pipe(1024, [] {});
  std::future<Result<std::size_t>> first = std::async(std::launch::async, [&] {
    char buf[16];
    return pipe.Read(buf, sizeof(buf));
  });
  EXPECT_EQ(first.wait_for(50ms), std::future_status::timeout);
  pipe.Push("abc");
  ASSERT_EQ(*first.get(), 3u);

  std::future<Result<std::size_t>> second = std::async(std::launch::async, [&] {
    char buf[16];
    return pipe.Read(buf, sizeof(buf));
  });
  pipe.Abort(Error(ErrorCode::kUnavailable, "client went away"));
  Result<std::size_t> failed = second.get();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
}

TEST(BodyPipeTest, QueuedDataIsReadBeforeTheFailure) {
  BodyPipe pipe(1024, [] {});
  pipe.Push("tail");
  pipe.Abort(Error(ErrorCode::kLimit, "too big"));
  char buf[16];
  ASSERT_EQ(*pipe.Read(buf, sizeof(buf)), 4u);
  Result<std::size_t> failed = pipe.Read(buf, sizeof(buf));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kLimit);
}

TEST(StreamPipeTest, ProducerBlocksWhenFullAndFailsWhenCancelled) {
  std::atomic<int> wakes{0};
  StreamPipe pipe(4, [&] { ++wakes; });
  StreamPipe::Taken taken = pipe.Take();  // nothing yet: the I/O side now waits
  EXPECT_TRUE(taken.data.empty());
  EXPECT_FALSE(taken.finish);
  ASSERT_TRUE(pipe.Write("abcd"));
  EXPECT_EQ(wakes.load(), 1);

  std::future<Status> blocked = std::async(std::launch::async, [&] { return pipe.Write("e"); });
  EXPECT_EQ(blocked.wait_for(50ms), std::future_status::timeout);  // full: backpressure
  EXPECT_EQ(pipe.Take().data, "abcd");
  ASSERT_TRUE(blocked.get());
  EXPECT_EQ(pipe.Take().data, "e");

  EXPECT_FALSE(pipe.Cancelled());
  pipe.Cancel();
  EXPECT_TRUE(pipe.Cancelled());
  Status after = pipe.Write("f");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), ErrorCode::kUnavailable);
}

TEST(StreamPipeTest, FinishIsSeenAfterTheLastData) {
  StreamPipe pipe(64, [] {});
  ASSERT_TRUE(pipe.Write("last"));
  pipe.Finish({});
  StreamPipe::Taken first = pipe.Take();
  EXPECT_EQ(first.data, "last");
  EXPECT_FALSE(first.finish);
  StreamPipe::Taken second = pipe.Take();
  ASSERT_TRUE(second.finish);
  EXPECT_TRUE(*second.finish);
}

TEST(WorkerPoolTest, RunsTasksOnAtMostMaxThreads) {
  WorkerPool pool(2, "test");
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 8; ++i) {
    pool.Submit([&] {
      int now = ++running;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(10ms);
      --running;
      ++done;
    });
  }
  pool.Shutdown();  // runs what was queued
  EXPECT_EQ(done.load(), 8);
  EXPECT_LE(peak.load(), 2);
}

TEST(WorkerPoolTest, TrySubmitRefusesWhenEveryThreadIsBusy) {
  WorkerPool pool(1, "test");
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  WorkerPool::Task first = [gate] { gate.wait(); };
  ASSERT_TRUE(pool.TrySubmit(first));
  bool ran = false;
  WorkerPool::Task second = [&ran] { ran = true; };
  EXPECT_FALSE(pool.TrySubmit(second));
  EXPECT_TRUE(second);  // left untouched for the caller
  release.set_value();
  pool.Shutdown();
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace fogkeep::net
