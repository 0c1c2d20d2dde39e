// The simulator's deterministic choices: which nodes fail, and the jitter of their timers.
// Everything follows from the seed and a node's index, so two runs with the same --seed inject
// the same failures into the same nodes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fogkeep::fleetsim {

// SplitMix64: a fast, well-mixed 64-bit hash (and the step of a tiny generator).
std::uint64_t Mix64(std::uint64_t x);

// Exactly round(nodes * percent / 100) of the `nodes` indexes, chosen by `seed`: the ones whose
// Mix64(seed, index) is smallest. The same arguments always give the same set; a larger
// percentage gives a superset of a smaller one's. `percent` is clamped to [0, 100].
std::vector<bool> ChooseFailingNodes(std::size_t nodes, double percent, std::uint64_t seed);

// A node's own random stream, independent of every other node's (seeded by seed and index).
class NodeRandom {
 public:
  NodeRandom(std::uint64_t seed, std::size_t index);
  std::uint64_t Next();
  // Uniform in [0, 1).
  double Unit();
  // `base` scaled by a factor uniform in [1 - spread, 1 + spread]; never negative.
  std::chrono::milliseconds Jitter(std::chrono::milliseconds base, double spread);
  // Uniform in [0, span).
  std::chrono::milliseconds Below(std::chrono::milliseconds span);

 private:
  std::uint64_t state_;
};

}  // namespace fogkeep::fleetsim
