// Alerts arrive from apps (their sockets), from a host sensor (the node API) and, re-checked,
// from nodes' reports at the director: api::ParseAlertBatch and api::ParseAlertText decide
// what of them is kept.
// Invariants beyond "no crash": an accepted alert is at most kMaxAlertBytes of JSON, and its
// kept text is accepted again as the same alert (the director's re-check of what a node
// forwards never refuses what the node accepted).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "api/alert.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fogkeep;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Result<std::vector<api::Alert>> batch = api::ParseAlertBatch(input);
  if (!batch) return 0;
  for (const api::Alert& alert : *batch) {
    if (alert.json.size() > api::kMaxAlertBytes) std::abort();
    Result<api::Alert> again = api::ParseAlertText(alert.json);
    if (!again || again->json != alert.json || again->detector != alert.detector ||
        again->severity != alert.severity) {
      std::fprintf(stderr, "a kept alert is not accepted again: %s\n", alert.json.c_str());
      std::abort();
    }
  }
  return 0;
}
