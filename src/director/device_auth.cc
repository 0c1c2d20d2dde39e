#include "director/device_auth.h"

#include "access/auth_token.h"

namespace fogkeep::director {

Result<net::Principal> DeviceAuthenticator::Authenticate(const net::Request& request) {
  if (!request.peer.certificate) return people_->Authenticate(request);
  const net::ClientCertificate& cert = *request.peer.certificate;
  const std::optional<Device> device = FK_TRY(store_->FindDevice(cert.common_name));
  if (!device || device->status != DeviceStatus::kEnrolled ||
      device->cert_fingerprint != cert.fingerprint) {
    return Fail(ErrorCode::kUnauthenticated,
                "client certificate " + cert.subject + " is not a current device certificate");
  }
  return net::Principal{.id = device->id, .mechanism = std::string(kMechanismMtls), .roles = {}};
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
