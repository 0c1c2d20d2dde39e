#include "node/sss/certificates.h"

#include <chrono>

namespace fogkeep::node::sss {
namespace {

CertificateInfo Info(std::string_view name, const crypto::Certificate& cert) {
  CertificateInfo info;
  info.name.assign(name);
  info.pem = cert.ToPem();
  info.subject = cert.Subject();
  info.issuer = cert.Issuer();
  info.serial_hex = cert.SerialHex();
  info.fingerprint = cert.Fingerprint();
  info.not_before = cert.NotBefore();
  info.not_after = cert.NotAfter();
  auto now = std::chrono::system_clock::now();
  info.valid_now = info.not_before <= now && now <= info.not_after;
  return info;
}

}  // namespace

Result<CertificateInfo> CertificateService::Put(std::string_view app, std::string_view name,
                                                std::string_view pem) {
  const std::string context = "certificate '" + std::string(name) + "'";
  // A key pasted along with its certificate would be skipped by the parser and dropped by the
  // re-encoding; refusing it tells the app where keys belong instead.
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput,
                context +
                    ": the PEM also holds a private key; import keys with the key "
                    "operations");
  }
  auto certs = crypto::Certificate::BundleFromPem(pem);
  if (!certs) return Fail(std::move(certs).error().With(context));
  if (certs->size() != 1) {
    return Fail(ErrorCode::kInvalidInput,
                context + ": expected one certificate, found " + std::to_string(certs->size()));
  }
  CertificateInfo info = Info(name, certs->front());
  FK_TRY(store_.Put(app, RecordKind::kCertificate, name, info.pem));
  return info;
}

Result<CertificateInfo> CertificateService::Get(std::string_view app, std::string_view name) {
  std::string pem = FK_TRY(store_.Get(app, RecordKind::kCertificate, name));
  auto cert = crypto::Certificate::FromPem(pem);
  // The store authenticated these bytes, and only Put writes them.
  if (!cert) {
    return Fail(ErrorCode::kIntegrity, "certificate '" + std::string(name) +
                                           "' no longer parses: " + cert.error().message());
  }
  return Info(name, *cert);
}

Result<std::vector<RecordInfo>> CertificateService::List(std::string_view app) {
  return store_.List(app, RecordKind::kCertificate);
}

Status CertificateService::Delete(std::string_view app, std::string_view name) {
  return store_.Delete(app, RecordKind::kCertificate, name);
}

}  // namespace fogkeep::node::sss
