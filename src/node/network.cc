#include "node/network.h"

#include "core/log.h"

namespace fogkeep::node {
namespace {

class NoNetworkProvider final : public NetworkProvider {
 public:
  NetworkAttachment Describe(const package::Descriptor& descriptor) const override {
    NetworkAttachment out;
    if (!descriptor.resources.network.empty()) out.description = "none (bridge unavailable)";
    return out;
  }

  Result<NetworkAttachment> Attach(const std::string& app_id, const package::Descriptor& descriptor,
                                   const PlatformPolicy&) override {
    auto out = Describe(descriptor);
    if (!descriptor.resources.network.empty()) {
      log::Warn(
          "app {}: asks for interface {}, but bridge networking is not available on this "
          "node; it runs with loopback only",
          app_id, descriptor.resources.network.front().interface_name);
    }
    return out;
  }

  Status Detach(const std::string&) override { return {}; }
};

}  // namespace

std::unique_ptr<NetworkProvider> MakeNoNetworkProvider() {
  return std::make_unique<NoNetworkProvider>();
}

}  // namespace fogkeep::node
