// fogkeep-shim: holds one app container's stdio, logs its output, waits for it and records how
// it ended. Started by fogkeepd through node::runtime::StartShim; see node/runtime/shim.h.
#include <unistd.h>

#include <string>

#include "node/runtime/shim.h"

int main(int argc, char** argv) {
  auto config = fogkeep::node::runtime::ParseShimArguments(argc, argv);
  if (!config) {
    std::string line = "fogkeep-shim: " + config.error().message() + "\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    return 2;
  }
  return fogkeep::node::runtime::RunShim(*config);
}
