// Shared by the node integration and stress tests: a signing CA, busybox packages built and
// signed on the fly, and the clean-up of a whole node (shims, containers, cgroups).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "node/apps.h"
#include "package/signer.h"

namespace fogkeep::node::testing {

inline constexpr char kShimBinary[] = FOGKEEP_SHIM_BINARY;
inline constexpr char kRunc[] = "/usr/sbin/runc";
inline constexpr char kBusybox[] = "/bin/busybox";

// Empty when the tests can run here; otherwise why not (for GTEST_SKIP).
std::string MissingPrerequisite();

struct Signer {
  crypto::Certificate ca;
  package::SigningIdentity identity;
};
// A fresh CA and a codeSigning leaf under it.
Result<Signer> MakeSigner();

struct TestPackage {
  std::string name = "demo";
  std::string version = "1.0.0";
  // The app: /app/run.sh, run by busybox sh as the container's init.
  std::string script = "echo ran > /data/proof\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n";
  std::string config = "[demo]\ncolour = blue\n";
  std::vector<std::string> capabilities;
  // Declares interface eth0 with tcp port `port` in app.resources.network.
  bool declare_interface = false;
  std::uint16_t port = 8080;
  bool host_network = false;  // app.security.host-network: true
};

// Builds the package under `work_dir` and returns its path; signed when `signer` is set.
Result<std::string> BuildTestPackage(const std::string& work_dir, const TestPackage& spec,
                                     const Signer* signer);

// Kills every shim and container of the node at `data_dir` and removes its cgroups (parent
// included). Safe to call on a node that is already clean.
void DestroyNode(const std::string& data_dir, const std::string& cgroup_parent);

// Distinct per process: a cgroup parent and a first uid slot for one node.
std::string UniqueCgroupParent(std::string_view tag);
std::uint32_t UniqueFirstSlot();

}  // namespace fogkeep::node::testing
