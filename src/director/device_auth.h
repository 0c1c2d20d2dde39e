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
//
// Each accepted node request also counts as a check-in: the device's last_seen is raised in
// batches (see DeviceAuthenticator), so that polling costs the store one read per request and
// at most one row write per device every kLastSeenStep.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/error.h"
#include "director/enrollment.h"  // Clock
#include "director/store.h"
#include "net/router.h"

namespace fogkeep::director {

// The permission of the routes only enrolled nodes call.
inline constexpr std::string_view kPermissionNodeSelf = "node.self";
inline constexpr std::string_view kMechanismMtls = "mtls";

class DeviceAuthenticator : public net::Authenticator {
 public:
  // Requests without a client certificate go to `people` (sessions, API tokens). `clock`
  // dates check-ins.
  DeviceAuthenticator(std::shared_ptr<FleetStore> store, std::shared_ptr<net::Authenticator> people,
                      Clock clock = SystemNow)
      : store_(std::move(store)), people_(std::move(people)), clock_(std::move(clock)) {}
  Result<net::Principal> Authenticate(const net::Request& request) override;
  bool MayBlock(const net::Request& /*request*/) const override { return true; }

  // last_seen is written when the stored value is this old, so it is up to this stale.
  static constexpr std::chrono::seconds kLastSeenStep{30};
  // Check-ins noted in memory are written together, by the first request after this long
  // (on its worker thread). Those not yet written when the director stops are lost: the next
  // request of each of those devices notes it again.
  static constexpr std::chrono::seconds kLastSeenFlushEvery{5};

 private:
  // Notes a check-in of `device_id`, whose stored last_seen is `last_seen`.
  void NoteSeen(const std::string& device_id, std::int64_t last_seen);

  const std::shared_ptr<FleetStore> store_;
  const std::shared_ptr<net::Authenticator> people_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, std::int64_t> unwritten_;  // device id → seen at; guarded by mu_
  std::int64_t flushed_at_ = 0;                    // guarded by mu_
};

class DirectorAuthorizer : public net::Authorizer {
 public:
  Status Authorize(const net::Principal& principal, std::string_view permission,
                   const net::Request& request) override;
};

}  // namespace fogkeep::director
