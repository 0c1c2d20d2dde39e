// Fuzzes rootfs extraction directly (tar parsing, path checks, links, whiteouts), with the
// invariant that nothing appears outside the extraction root.
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/fs.h"
#include "package/rootfs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fogkeep;
  static const std::string base = [] {
    auto dir = fs::MakeTempDir("/tmp", "fogkeep-fuzz-rootfs-");
    if (!dir) std::abort();
    return *dir;
  }();
  const std::string root = base + "/root";
  (void)fs::RemoveTree(root);
  if (::mkdir(root.c_str(), 0755) != 0) std::abort();
  auto fd = fs::OpenDir(root);
  if (!fd) std::abort();
  package::ExtractOptions options;
  options.limits.max_entries = 2000;
  options.limits.max_total_bytes = 64 << 20;
  options.apply_whiteouts = size > 0 && (data[0] & 1);
  package::MemorySource source(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)package::ExtractTar(source, fd->get(), options);
  (void)fs::RemoveTree(root);
  int stray = 0;
  (void)fs::Walk(base, [&](const std::string&, const struct stat&) -> Status {
    ++stray;
    return {};
  });
  if (stray != 0) std::abort();
  return 0;
}
