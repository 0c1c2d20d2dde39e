#include "fleetsim/selection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace fogkeep::fleetsim {
namespace {

std::size_t CountOf(const std::vector<bool>& chosen) {
  return static_cast<std::size_t>(std::count(chosen.begin(), chosen.end(), true));
}

TEST(ChooseFailingNodesTest, ChoosesExactlyTheRoundedShare) {
  EXPECT_EQ(CountOf(ChooseFailingNodes(1000, 10, 1)), 100u);
  EXPECT_EQ(CountOf(ChooseFailingNodes(50, 10, 7)), 5u);
  EXPECT_EQ(CountOf(ChooseFailingNodes(3, 50, 7)), 2u);  // 1.5 rounds up
  EXPECT_EQ(CountOf(ChooseFailingNodes(10, 100, 7)), 10u);
  EXPECT_EQ(CountOf(ChooseFailingNodes(10, 0, 7)), 0u);
  EXPECT_EQ(CountOf(ChooseFailingNodes(10, 1, 7)), 0u);  // 0.1 node rounds to none
  EXPECT_EQ(ChooseFailingNodes(0, 50, 7).size(), 0u);
}

TEST(ChooseFailingNodesTest, ClampsOutOfRangePercentages) {
  EXPECT_EQ(CountOf(ChooseFailingNodes(10, 250, 7)), 10u);
  EXPECT_EQ(CountOf(ChooseFailingNodes(10, -5, 7)), 0u);
  EXPECT_EQ(CountOf(ChooseFailingNodes(10, std::nan(""), 7)), 0u);
}

TEST(ChooseFailingNodesTest, SameSeedSameNodes) {
  EXPECT_EQ(ChooseFailingNodes(500, 20, 42), ChooseFailingNodes(500, 20, 42));
}

TEST(ChooseFailingNodesTest, OtherSeedOtherNodes) {
  EXPECT_NE(ChooseFailingNodes(500, 20, 42), ChooseFailingNodes(500, 20, 43));
}

TEST(ChooseFailingNodesTest, LargerShareIsASuperset) {
  const std::vector<bool> small = ChooseFailingNodes(400, 5, 9);
  const std::vector<bool> large = ChooseFailingNodes(400, 30, 9);
  for (std::size_t i = 0; i < small.size(); ++i) {
    if (small[i]) {
      EXPECT_TRUE(large[i]) << "node " << i;
    }
  }
}

TEST(ChooseFailingNodesTest, SpreadsOverTheFleet) {
  // Not the first or last indexes: both halves of the fleet get failing nodes.
  const std::vector<bool> chosen = ChooseFailingNodes(1000, 10, 3);
  const auto first_half = std::count(chosen.begin(), chosen.begin() + 500, true);
  EXPECT_GT(first_half, 20);
  EXPECT_LT(first_half, 80);
}

TEST(NodeRandomTest, IsDeterministicPerSeedAndIndex) {
  NodeRandom a(5, 17), b(5, 17), c(5, 18), d(6, 17);
  const std::uint64_t first = a.Next();
  EXPECT_EQ(first, b.Next());
  EXPECT_NE(first, c.Next());
  EXPECT_NE(first, d.Next());
}

TEST(NodeRandomTest, JitterStaysWithinItsSpread) {
  NodeRandom random(1, 2);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto value = random.Jitter(std::chrono::milliseconds(30'000), 0.1).count();
    ASSERT_GE(value, 27'000);
    ASSERT_LE(value, 33'000);
    seen.insert(value / 1000);
  }
  EXPECT_GE(seen.size(), 6u);  // 27..33 s all come up
  EXPECT_EQ(random.Jitter(std::chrono::milliseconds(0), 0.5).count(), 0);
}

TEST(NodeRandomTest, BelowStaysBelow) {
  NodeRandom random(1, 2);
  for (int i = 0; i < 1000; ++i) {
    const auto value = random.Below(std::chrono::milliseconds(250)).count();
    ASSERT_GE(value, 0);
    ASSERT_LT(value, 250);
  }
  EXPECT_EQ(random.Below(std::chrono::milliseconds(0)).count(), 0);
}

TEST(NodeRandomTest, UnitIsInTheHalfOpenInterval) {
  NodeRandom random(9, 9);
  double low = 1, high = 0;
  for (int i = 0; i < 10'000; ++i) {
    const double u = random.Unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    low = std::min(low, u);
    high = std::max(high, u);
  }
  EXPECT_LT(low, 0.01);
  EXPECT_GT(high, 0.99);
}

}  // namespace
}  // namespace fogkeep::fleetsim
