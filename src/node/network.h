// NetworkProvider: the seam between an app's declared network and the node's networking.
//
// fogkeepd asks the provider, when an app starts, where the app's container should live on
// the network, and tells it when the app stops, so a CNI bridge back-end (bridge + host-local
// + portmap, DESIGN.md "Isolation defaults") can plug in later without touching node/apps.cc.
// The only back-end today is `none`: every app gets a fresh network namespace holding only
// loopback.
#pragma once

#include <memory>
#include <string>

#include "core/error.h"
#include "node/app_service.h"
#include "node/runtime/spec.h"
#include "package/descriptor.h"

namespace fogkeep::node {

struct NetworkAttachment {
  runtime::NetworkMode mode = runtime::NetworkMode::kNone;
  std::string netns_path;  // with kNamespace: the namespace prepared for the app
  // What AppInfo::network reports: "none", "none (bridge unavailable)", "bridge", "host".
  std::string description = "none";
};

class NetworkProvider {
 public:
  virtual ~NetworkProvider() = default;
  // What the app would get, without preparing anything (for AppInfo).
  virtual NetworkAttachment Describe(const package::Descriptor& descriptor) const = 0;
  // Prepares the app's network before its container is created. kForbidden when the app asks
  // for something the policy does not allow.
  virtual Result<NetworkAttachment> Attach(const std::string& app_id,
                                           const package::Descriptor& descriptor,
                                           const PlatformPolicy& policy) = 0;
  // Releases what Attach prepared; releasing twice, or what was never prepared, succeeds.
  virtual Status Detach(const std::string& app_id) = 0;
};

// The `none` back-end. An app that declares an interface still runs, with loopback only: the
// attachment says "none (bridge unavailable)" and a warning is logged at every start, so the
// operator sees why the app's ports are not reachable.
std::unique_ptr<NetworkProvider> MakeNoNetworkProvider();

}  // namespace fogkeep::node
