// Enrollment and node identity: one-time tokens, EST issuance and renewal of node
// certificates by the fleet CA, and decommissioning.
//
// A token is "<id>.<secret>": the id (16 hex digits) names it in lists and audit records; the
// secret (32 random bytes, base64url) is shown once and stored only as its SHA-256. Enrolling
// consumes the token atomically in the store, so a token works once even when two nodes race
// with it, and every refusal (unknown, used, expired, wrong secret) reads the same to the
// caller. The CA ignores the CSR's subject: the director names the device (CN = device id) and
// keeps the CSR's common name only as the device's display name.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/director.h"
#include "core/error.h"
#include "crypto/csr.h"
#include "crypto/x509.h"
#include "director/ca.h"
#include "director/store.h"

namespace fogkeep::director {

struct EnrollmentOptions {
  // Lifetime of node certificates; nodes renew when a third of it is left.
  std::chrono::seconds certificate_lifetime = std::chrono::hours(24 * 7);
  std::chrono::seconds max_token_lifetime = std::chrono::hours(24 * 30);
  std::chrono::seconds min_token_lifetime = std::chrono::seconds(60);
};

// Unix seconds now; tests pass their own clock.
using Clock = std::function<std::int64_t()>;
std::int64_t SystemNow();

// Tags are what deployments and policies target: 1 to 64 characters of [a-z0-9._:-], starting
// with a letter or digit. Sorted and made unique on the way in.
Result<std::vector<std::string>> NormalizeTags(std::vector<std::string> tags);

class Enrollment {
 public:
  Enrollment(std::shared_ptr<FleetStore> store, std::shared_ptr<FleetCa> ca,
             EnrollmentOptions options = {}, Clock clock = SystemNow);

  // A new token; the answer carries `token` (the only time it exists outside the caller).
  Result<api::EnrollmentTokenInfo> CreateToken(const api::EnrollmentTokenRequest& request,
                                               const std::string& created_by);

  struct Issued {
    std::string device_id;
    std::vector<crypto::Certificate> chain;  // the node certificate, then the CA
  };
  // /simpleenroll: consumes `token` and certifies the CSR's key under a new device id.
  // kUnauthenticated for any token refusal; kIntegrity for a CSR whose signature fails.
  Result<Issued> Enroll(std::string_view token, const crypto::CertificateRequest& csr);
  // /simplereenroll: a new certificate for an enrolled device (mutual TLS proved it).
  // kForbidden when the device was decommissioned.
  Result<Issued> Reenroll(const std::string& device_id, const crypto::CertificateRequest& csr);
  // Revokes every certificate the device holds (its current one) and marks it decommissioned;
  // its next request is refused. kNotFound for an unknown device.
  Status Decommission(const std::string& device_id);

  const FleetCa& ca() const { return *ca_; }

 private:
  Result<crypto::Certificate> Issue(const crypto::CertificateRequest& csr,
                                    const std::string& device_id);

  const std::shared_ptr<FleetStore> store_;
  const std::shared_ptr<FleetCa> ca_;
  const EnrollmentOptions options_;
  const Clock clock_;
};

}  // namespace fogkeep::director
