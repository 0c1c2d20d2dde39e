// package.mf is the signed statement of a package's content. Parsing must never crash, and a
// SHA-256 manifest that parses must serialize back to exactly the bytes that were signed:
// otherwise two different byte strings could carry the same meaning.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "package/manifest.h"

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_manifest: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using fogkeep::package::Manifest;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = Manifest::Parse(text);
  if (!manifest) return 0;

  std::string serialized = manifest->Serialize();
  if (!manifest->legacy() && serialized != text) Die("SHA256 manifest does not round-trip");

  // Whatever parsed, its serialization parses to the same entries (legacy ones gain at most
  // a final newline).
  auto again = Manifest::Parse(serialized);
  if (!again) Die("serialized manifest does not parse");
  if (again->Serialize() != serialized) Die("serialization is not stable");

  for (const auto& entry : manifest->entries()) {
    if (manifest->Find(entry.name) != &entry) Die("Find does not return the entry");
  }
  if (!manifest->legacy()) {
    auto rebuilt = Manifest::FromEntries(manifest->entries());
    if (!rebuilt) Die("FromEntries refuses entries that Parse accepted");
    if (rebuilt->Serialize() != text) Die("FromEntries serializes differently");
  }
  return 0;
}
