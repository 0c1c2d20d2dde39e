// package.yaml arrives from anyone who can upload a package. Whatever the bytes, parsing and
// validation must return a verdict: no crash, no sanitizer report, no runaway time or memory.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "package/descriptor.h"

namespace {

int Sign(int v) { return (v > 0) - (v < 0); }

// CompareVersions decides downgrades, so it must be a consistent order on whatever versions
// a descriptor carries.
void CheckVersionOrder(std::string_view a, std::string_view b) {
  using fogkeep::package::CompareVersions;
  if (CompareVersions(a, a) != 0 || Sign(CompareVersions(a, b)) != -Sign(CompareVersions(b, a))) {
    std::fprintf(stderr, "CompareVersions is not an order on '%.*s' and '%.*s'\n",
                 static_cast<int>(a.size()), a.data(), static_cast<int>(b.size()), b.data());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto descriptor = fogkeep::package::ParseDescriptor(text);
  if (!descriptor) return 0;
  auto valid = fogkeep::package::ValidateDescriptor(*descriptor);
  auto limits = fogkeep::package::ResolveResources(descriptor->resources);
  if (valid && !limits) {
    // A descriptor that validates must have resources the node can apply.
    std::fprintf(stderr, "valid descriptor without resource limits: %s\n",
                 limits.error().message().c_str());
    std::abort();
  }
  CheckVersionOrder(descriptor->version, descriptor->schema_version);
  CheckVersionOrder(descriptor->version, descriptor->description);
  return 0;
}
