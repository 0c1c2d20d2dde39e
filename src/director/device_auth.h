// Who is calling the director: an enrolled node (mutual TLS) or a person (session or API
// token), and what each may do.
//
// A node proves itself with the client certificate the fleet CA issued it; the TLS handshake
// has already verified the chain to the fleet CA. DeviceAuthenticator then requires that the
// certificate is the device's current one (a renewed device's older certificates stop working)
// and that the device is still enrolled, on every request: a decommissioned node is refused
// from its next request, whatever its certificate's validity says. Nodes get the principal
// {id: device id, mechanism: "mtls"}, and hold exactly one permission, node.self (their own
// desired state, reports and renewal); people never hold it.
#pragma once

#include <memory>
#include <string_view>

#include "core/error.h"
#include "director/store.h"
#include "net/router.h"

namespace fogkeep::director {

// The permission of the routes only enrolled nodes call.
inline constexpr std::string_view kPermissionNodeSelf = "node.self";
inline constexpr std::string_view kMechanismMtls = "mtls";

class DeviceAuthenticator : public net::Authenticator {
 public:
  // Requests without a client certificate go to `people` (sessions, API tokens).
  DeviceAuthenticator(std::shared_ptr<FleetStore> store, std::shared_ptr<net::Authenticator> people)
      : store_(std::move(store)), people_(std::move(people)) {}
  Result<net::Principal> Authenticate(const net::Request& request) override;
  bool MayBlock(const net::Request& /*request*/) const override { return true; }

 private:
  const std::shared_ptr<FleetStore> store_;
  const std::shared_ptr<net::Authenticator> people_;
};

class DirectorAuthorizer : public net::Authorizer {
 public:
  Status Authorize(const net::Principal& principal, std::string_view permission,
                   const net::Request& request) override;
};

}  // namespace fogkeep::director
