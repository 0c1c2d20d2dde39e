// Synthetic captures with known ground truth: one scenario per detector, the normal traffic
// that must stay silent beside them, and the mixed capture the benchmark reads. Used by the
// tests (in process, and through `fogkeep-sensor synth` for the tshark cross-check) and by
// bench/sensor_throughput.sh; operators can use them to drill a deployment's alert path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "core/error.h"

namespace fogkeep::sensor {

struct ScenarioOptions {
  std::uint64_t start_us = 1'780'000'000'000'000;  // 2026-05-28: any fixed time will do
  // For "mixed" only.
  std::uint64_t packets = 1'000'000;
  std::size_t flows = 10'000;
};

// Every scenario name, in the order --help lists them.
std::span<const std::string_view> ScenarioNames();
// One line on what the scenario holds and which alerts it must raise.
std::string_view ScenarioSummary(std::string_view name);

using FrameSink =
    std::function<Status(std::uint64_t timestamp_us, std::span<const std::uint8_t> frame)>;
// Emits scenario `name`'s frames, in time order. kInvalidInput for an unknown name.
Status GenerateScenario(std::string_view name, const ScenarioOptions& options,
                        const FrameSink& sink);

}  // namespace fogkeep::sensor
