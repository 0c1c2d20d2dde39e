// Durations as people write them on a command line or in a config file: one whole number and
// one unit ("90s", "30m", "24h", "7d").
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep {

// One whole number and one unit, s, m, h or d ("3600s", "30m", "24h", "7d"). Strict: no bare
// number, fraction, sign, space or compound form ("1h30m"); kInvalidInput saying what is
// accepted. At most 100 years.
Result<std::chrono::seconds> ParseDuration(std::string_view text);
// The shortest exact spelling of `d` in the units above: "90s", "30m", "24h", "7d".
std::string FormatDuration(std::chrono::seconds d);

}  // namespace fogkeep
