#include "node/sss/app_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using fogkeep::testing::Must;
using namespace std::chrono_literals;

TEST(AppGateTest, OperationsOfAnOpenAppPassWithItsEpoch) {
  AppGate gate;
  const std::uint64_t epoch = gate.Open("a");
  EXPECT_EQ(gate.Open("a"), epoch);  // still open: the same opening
  EXPECT_TRUE(gate.Enter("a", epoch, 0));
  EXPECT_TRUE(gate.Enter("a", std::nullopt, 0));  // an operator's call names no opening
  auto other = gate.Enter("a", epoch + 1, 0);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), ErrorCode::kNotFound);
  // An app never opened (installed, not yet started) is open to operators only.
  EXPECT_TRUE(gate.Enter("b", std::nullopt, 0));
  EXPECT_FALSE(gate.Enter("b", 0, 0));
}

TEST(AppGateTest, CloseWaitsForOperationsInFlightAndRefusesLaterOnes) {
  AppGate gate;
  const std::uint64_t epoch = gate.Open("a");
  std::optional<AppGate::Pass> running = Must(gate.Enter("a", epoch, 0), "enter");
  std::atomic<bool> destroyed{false};
  std::thread uninstall([&] {
    Must(gate.Close("a",
                    [&]() -> Status {
                      destroyed = true;
                      return {};
                    }),
         "close");
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(destroyed) << "destroyed while an operation ran";
  // Closing already refuses new operations, even before the destruction ran.
  auto late = gate.Enter("a", std::nullopt, 0);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kNotFound);
  running.reset();
  uninstall.join();
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(gate.Enter("a", epoch, 0));
  EXPECT_FALSE(gate.Enter("a", std::nullopt, 0));
  // Installed again: a new opening; the old one stays refused.
  const std::uint64_t again = gate.Open("a");
  EXPECT_NE(again, epoch);
  EXPECT_TRUE(gate.Enter("a", again, 0));
  EXPECT_FALSE(gate.Enter("a", epoch, 0));
}

TEST(AppGateTest, AnAppHoldsAtMostItsShareOfOperations) {
  AppGate gate;
  const std::uint64_t a = gate.Open("a");
  const std::uint64_t b = gate.Open("b");
  auto first = Must(gate.Enter("a", a, 2), "1");
  auto second = Must(gate.Enter("a", a, 2), "2");
  auto third = gate.Enter("a", a, 2);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(gate.Enter("b", b, 2));  // another app is not held up
  { auto done = std::move(first); }    // one ends: room again
  EXPECT_TRUE(gate.Enter("a", a, 2));
}

}  // namespace
}  // namespace fogkeep::node::sss
