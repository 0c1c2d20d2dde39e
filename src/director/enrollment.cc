#include "director/enrollment.h"

#include <algorithm>

#include "api/node.h"
#include "crypto/hash.h"

namespace fogkeep::director {
namespace {

constexpr std::size_t kTokenIdBytes = 8;
constexpr std::size_t kTokenSecretBytes = 32;
constexpr std::size_t kDeviceIdBytes = 8;
constexpr std::size_t kMaxTags = 32;

bool IsTagChar(char c, bool first) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '.' || c == '_' || c == ':' || c == '-'));
}

}  // namespace

std::int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::vector<std::string>> NormalizeTags(std::vector<std::string> tags) {
  if (tags.size() > kMaxTags) {
    return Fail(ErrorCode::kInvalidInput, "at most " + std::to_string(kMaxTags) + " tags");
  }
  for (const std::string& tag : tags) {
    bool ok = !tag.empty() && tag.size() <= 64;
    for (std::size_t i = 0; ok && i < tag.size(); ++i) ok = IsTagChar(tag[i], i == 0);
    if (!ok) {
      return Fail(ErrorCode::kInvalidInput,
                  "a tag is 1 to 64 characters of a-z 0-9 . _ : - starting with a letter or "
                  "digit");
    }
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

Enrollment::Enrollment(std::shared_ptr<FleetStore> store, std::shared_ptr<FleetCa> ca,
                       EnrollmentOptions options, Clock clock)
    : store_(std::move(store)), ca_(std::move(ca)), options_(options), clock_(std::move(clock)) {}

Result<api::EnrollmentTokenInfo> Enrollment::CreateToken(const api::EnrollmentTokenRequest& request,
                                                         const std::string& created_by) {
  const std::chrono::seconds ttl(request.ttl_seconds);
  if (ttl < options_.min_token_lifetime || ttl > options_.max_token_lifetime) {
    return Fail(ErrorCode::kInvalidInput, "ttl_seconds must be between " +
                                              std::to_string(options_.min_token_lifetime.count()) +
                                              " and " +
                                              std::to_string(options_.max_token_lifetime.count()));
  }
  // Each fallible step before the aggregate below: an early return from inside an aggregate
  // initializer would skip destroying the members already built.
  std::vector<std::string> tags = FK_TRY(NormalizeTags(request.tags));
  const std::int64_t now = clock_();
  const std::string secret = crypto::Base64UrlEncode(crypto::RandomBytes(kTokenSecretBytes));
  EnrollmentToken token{.id = crypto::ToHex(crypto::RandomBytes(kTokenIdBytes)),
                        .secret_hash = crypto::Sha256Hex(secret),
                        .tags = std::move(tags),
                        .created_by = created_by,
                        .created_at = now,
                        .expires_at = now + ttl.count()};
  FK_TRY(store_->CreateEnrollmentToken(token));
  return api::EnrollmentTokenInfo{.id = token.id,
                                  .token = token.id + "." + secret,
                                  .tags = token.tags,
                                  .created_by = token.created_by,
                                  .created_at = token.created_at,
                                  .expires_at = token.expires_at};
}

Result<crypto::Certificate> Enrollment::Issue(const crypto::CertificateRequest& csr,
                                              const std::string& device_id) {
  return ca_->IssueNodeCertificate(csr, device_id, options_.certificate_lifetime);
}

Result<Enrollment::Issued> Enrollment::Enroll(std::string_view token,
                                              const crypto::CertificateRequest& csr) {
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == token.size()) {
    return Fail(ErrorCode::kUnauthenticated, "invalid enrollment token");
  }
  // Proof of possession before the token is spent: a broken CSR must not burn it.
  FK_TRY(csr.VerifySignature());
  const std::string device_id = "d-" + crypto::ToHex(crypto::RandomBytes(kDeviceIdBytes));
  Result<EnrollmentToken> consumed =
      store_->ConsumeEnrollmentToken(std::string(token.substr(0, dot)),
                                     crypto::Sha256Hex(token.substr(dot + 1)), device_id, clock_());
  // Every refusal reads the same: a guesser learns nothing about which check failed.
  if (!consumed && consumed.error().code() == ErrorCode::kUnauthenticated) {
    return Fail(ErrorCode::kUnauthenticated, "invalid enrollment token");
  }
  if (!consumed) return std::unexpected(consumed.error());
  const crypto::Certificate cert = FK_TRY(Issue(csr, device_id));
  const std::int64_t now = clock_();
  Device device{.id = device_id,
                .name = csr.CommonName(),
                .tags = consumed->tags,
                .cert_serial = cert.SerialHex(),
                .cert_fingerprint = cert.Fingerprint(),
                .cert_not_after = api::UnixSeconds(cert.NotAfter()),
                .enrolled_at = now,
                .last_seen = now};
  FK_TRY(store_->InsertDevice(device));
  return Issued{device_id, {cert, ca_->certificate()}};
}

Result<Enrollment::Issued> Enrollment::Reenroll(const std::string& device_id,
                                                const crypto::CertificateRequest& csr) {
  const std::optional<Device> device = FK_TRY(store_->FindDevice(device_id));
  if (!device) return Fail(ErrorCode::kNotFound, "no device " + device_id);
  if (device->status != DeviceStatus::kEnrolled) {
    return Fail(ErrorCode::kForbidden, "device " + device_id + " was decommissioned");
  }
  const crypto::Certificate cert = FK_TRY(Issue(csr, device_id));
  FK_TRY(store_->UpdateDeviceCertificate(device_id, cert.SerialHex(), cert.Fingerprint(),
                                         api::UnixSeconds(cert.NotAfter())));
  return Issued{device_id, {cert, ca_->certificate()}};
}

Status Enrollment::Decommission(const std::string& device_id) {
  const std::optional<Device> device = FK_TRY(store_->FindDevice(device_id));
  if (!device) return Fail(ErrorCode::kNotFound, "no device " + device_id);
  return store_->DecommissionDevice(device_id, {device->cert_serial}, clock_());
}

}  // namespace fogkeep::director
