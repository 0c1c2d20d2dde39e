// Fuzzes the outer package reader end to end: archive structure, member checks, manifest
// matching and (for unsigned input under a permissive policy) safe extraction of the rootfs.
// Invariant checked beyond "no crash": nothing is ever created outside the staging directory.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/fs.h"
#include "package/reader.h"

namespace {

const std::string& Root() {
  static const std::string root = [] {
    auto dir = fogkeep::fs::MakeTempDir("/tmp", "fogkeep-fuzz-reader-");
    if (!dir) std::abort();
    return *dir;
  }();
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fogkeep;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  {
    package::MemorySource source(bytes);
    (void)package::ScanPackage(source);
  }
  const std::string staging = Root() + "/staging";
  (void)fs::RemoveTree(staging);
  if (::mkdir(staging.c_str(), 0755) != 0) std::abort();
  package::X509Verifier verifier(crypto::TrustStore(), package::SignaturePolicy{false});
  package::PackageLimits limits;
  limits.rootfs.max_entries = 2000;
  limits.rootfs.max_total_bytes = 64 << 20;
  package::MemorySource source(bytes);
  (void)package::VerifyAndExtract(source, verifier, staging, package::ExtractOptions{}, limits);
  (void)fs::RemoveTree(staging);
  // Only the staging directory may ever have existed under the root.
  int stray = 0;
  (void)fs::Walk(Root(), [&](const std::string&, const struct stat&) -> Status {
    ++stray;
    return {};
  });
  if (stray != 0) std::abort();
  return 0;
}
