#include "director/device_auth.h"

#include <utility>
#include <vector>

#include "access/auth_token.h"
#include "core/log.h"

namespace fogkeep::director {

Result<net::Principal> DeviceAuthenticator::Authenticate(const net::Request& request) {
  if (!request.peer.certificate) return people_->Authenticate(request);
  const net::ClientCertificate& cert = *request.peer.certificate;
  const std::optional<DeviceCredential> device =
      FK_TRY(store_->FindDeviceCredential(cert.common_name));
  if (!device || device->status != DeviceStatus::kEnrolled ||
      device->cert_fingerprint != cert.fingerprint) {
    return Fail(ErrorCode::kUnauthenticated,
                "client certificate " + cert.subject + " is not a current device certificate");
  }
  NoteSeen(cert.common_name, device->last_seen);
  return net::Principal{
      .id = cert.common_name, .mechanism = std::string(kMechanismMtls), .roles = {}};
}

void DeviceAuthenticator::NoteSeen(const std::string& device_id, std::int64_t last_seen) {
  const std::int64_t now = clock_();
  std::vector<std::pair<std::string, std::int64_t>> batch;
  {
    std::lock_guard lock(mu_);
    if (now - last_seen >= kLastSeenStep.count()) unwritten_[device_id] = now;
    if (unwritten_.empty() || now - flushed_at_ < kLastSeenFlushEvery.count()) return;
    flushed_at_ = now;
    batch.assign(unwritten_.begin(), unwritten_.end());
    unwritten_.clear();
  }
  // A failed write costs only freshness: the devices are noted again on their next request.
  if (Status touched = store_->TouchDevices(batch); !touched) {
    log::Warn("last seen of {} devices: {}", batch.size(), touched.error().message());
  }
}

Status DirectorAuthorizer::Authorize(const net::Principal& principal, std::string_view permission,
                                     const net::Request& request) {
  const bool node = principal.mechanism == kMechanismMtls;
  if (node != (permission == kPermissionNodeSelf)) {
    return Fail(ErrorCode::kForbidden, node ? "nodes may only call the node routes"
                                            : "only enrolled nodes call this route");
  }
  if (node) return {};
  return access::RoleAuthorizer().Authorize(principal, permission, request);
}

}  // namespace fogkeep::director
