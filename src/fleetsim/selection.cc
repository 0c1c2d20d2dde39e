#include "fleetsim/selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fogkeep::fleetsim {

std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {

std::uint64_t NodeKey(std::uint64_t seed, std::size_t index) {
  return Mix64(Mix64(seed) ^ static_cast<std::uint64_t>(index));
}

}  // namespace

std::vector<bool> ChooseFailingNodes(std::size_t nodes, double percent, std::uint64_t seed) {
  std::vector<bool> failing(nodes, false);
  if (!(percent > 0) || nodes == 0) return failing;  // also catches NaN
  percent = std::min(percent, 100.0);
  const auto count = static_cast<std::size_t>(std::min<double>(
      static_cast<double>(nodes), std::llround(static_cast<double>(nodes) * percent / 100.0)));
  if (count == 0) return failing;
  std::vector<std::size_t> order(nodes);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Ties (astronomically rare) are broken by index, so the order is total and stable.
  auto before = [seed](std::size_t a, std::size_t b) {
    const std::uint64_t ka = NodeKey(seed, a), kb = NodeKey(seed, b);
    return ka != kb ? ka < kb : a < b;
  };
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count - 1),
                   order.end(), before);
  for (std::size_t i = 0; i < count; ++i) failing[order[i]] = true;
  return failing;
}

NodeRandom::NodeRandom(std::uint64_t seed, std::size_t index)
    : state_(NodeKey(seed ^ 0x5bd1e9955bd1e995ULL, index)) {}

std::uint64_t NodeRandom::Next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return Mix64(state_);
}

double NodeRandom::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

std::chrono::milliseconds NodeRandom::Jitter(std::chrono::milliseconds base, double spread) {
  const double factor = 1.0 + spread * (2.0 * Unit() - 1.0);
  const double scaled = static_cast<double>(base.count()) * factor;
  return std::chrono::milliseconds(scaled <= 0 ? 0 : std::llround(scaled));
}

std::chrono::milliseconds NodeRandom::Below(std::chrono::milliseconds span) {
  if (span.count() <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(Next() % static_cast<std::uint64_t>(span.count())));
}

}  // namespace fogkeep::fleetsim
