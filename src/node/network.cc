#include "node/network.h"

#include "core/log.h"

namespace fogkeep::node {
namespace {

class NoNetworkProvider final : public NetworkProvider {
 public:
  NetworkAttachment Describe(const std::string&,
                             const package::Descriptor& descriptor) const override {
    NetworkAttachment out;
    out.ports = DeclaredPorts(descriptor);
    if (descriptor.security.host_network) {
      out.mode = runtime::NetworkMode::kHost;
      out.description = "host";
    } else if (!descriptor.resources.network.empty()) {
      out.description = "none (bridge unavailable)";
    }
    return out;
  }

  Result<NetworkAttachment> Attach(const std::string& app_id, const package::Descriptor& descriptor,
                                   const PlatformPolicy&) override {
    auto out = Describe(app_id, descriptor);
    if (out.mode == runtime::NetworkMode::kNone && !descriptor.resources.network.empty()) {
      log::Warn(
          "app {}: asks for interface {}, but bridge networking is not available on this "
          "node; it runs with loopback only",
          app_id, descriptor.resources.network.front().interface_name);
    }
    return out;
  }

  Status Detach(const std::string&) override { return {}; }
  Status Reconcile(const std::set<std::string>&) override { return {}; }
};

}  // namespace

std::unique_ptr<NetworkProvider> MakeNoNetworkProvider() {
  return std::make_unique<NoNetworkProvider>();
}

std::vector<std::string> DeclaredPorts(const package::Descriptor& descriptor) {
  std::vector<std::string> out;
  for (const auto& net : descriptor.resources.network) {
    for (const auto& port : net.ports)
      out.push_back(port.protocol + "/" + std::to_string(port.port));
  }
  return out;
}

}  // namespace fogkeep::node
