// NetworkProvider: the seam between an app's declared network and the node's networking.
//
// fogkeepd asks the provider, when an app starts, where the app's container should live on
// the network, and tells it when the app stops, so back-ends plug in without touching
// node/apps.cc. Two exist:
//   `none` (here): every app gets a fresh network namespace holding only loopback;
//   `bridge` (network_cni.h): an app that declares an interface joins a CNI bridge with NAT
//   and its declared ports mapped on the node (DESIGN.md "Isolation defaults").
// With either, an app whose descriptor asks for host networking (app.security.host-network)
// gets the kHost attachment; whether the policy allows it is node/apps.cc's check. An app that
// asks for network-monitor gets no attachment here: node/monitor_port.h lends it the node's
// monitor interface in namespaces of its own.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "node/app_service.h"
#include "node/runtime/spec.h"
#include "package/descriptor.h"

namespace fogkeep::node {

struct NetworkAttachment {
  runtime::NetworkMode mode = runtime::NetworkMode::kNone;
  std::string netns_path;  // with kNamespace: the namespace prepared for the app
  // What AppInfo::network reports: "none", "none (bridge unavailable)", "bridge",
  // "bridge 10.89.0.5" (while attached), "host".
  std::string description = "none";
  // What AppInfo::ports reports: "tcp/8080" as declared, or "tcp/8080->8080" (node port ->
  // app port) where the provider maps it on the node.
  std::vector<std::string> ports;
};

class NetworkProvider {
 public:
  virtual ~NetworkProvider() = default;
  // What app `app_id` would get, or has while attached, without preparing anything: for
  // AppInfo, and for the bundle written at activation (Attach runs at every start). Safe to
  // call concurrently with the methods below.
  virtual NetworkAttachment Describe(const std::string& app_id,
                                     const package::Descriptor& descriptor) const = 0;
  // Prepares the app's network before its container is created. Idempotent: whatever an
  // earlier attachment of the app (or a crash in the middle of one) left is released first.
  // kForbidden when the app asks for something the policy does not allow; kConflict when a
  // port it needs on the node is taken.
  virtual Result<NetworkAttachment> Attach(const std::string& app_id,
                                           const package::Descriptor& descriptor,
                                           const PlatformPolicy& policy) = 0;
  // Releases what Attach prepared; releasing twice, or what was never prepared, succeeds.
  // A failure leaves enough behind for a later Detach to finish the job.
  virtual Status Detach(const std::string& app_id) = 0;
  // Releases the attachment of every app not in `keep` (recovery calls it with the apps whose
  // containers still run, so what a crash or a stop while fogkeepd was down left is freed).
  // Failures are logged and retried at the next call; the first one is returned.
  virtual Status Reconcile(const std::set<std::string>& keep) = 0;
};

// The `none` back-end. An app that declares an interface still runs, with loopback only: the
// attachment says "none (bridge unavailable)" and a warning is logged at every start, so the
// operator sees why the app's ports are not reachable.
std::unique_ptr<NetworkProvider> MakeNoNetworkProvider();

// The ports `descriptor` declares, as AppInfo::ports shows them unmapped: "tcp/8080".
std::vector<std::string> DeclaredPorts(const package::Descriptor& descriptor);

}  // namespace fogkeep::node
