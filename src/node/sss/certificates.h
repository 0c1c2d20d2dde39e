// CertificateService: an app's X.509 certificates, kept as certificate records of the store.
//
// What is accepted: PEM text holding exactly one well-formed certificate and no private key.
// It is stored re-encoded (the certificate alone, canonical PEM), so nothing else that came
// with it is kept. Validity is reported, not enforced: an expired or not-yet-valid certificate
// is stored (an app may keep an old CA to check old signatures), and CertificateInfo says so.
// No chain is built: this is storage, not a trust decision.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/x509.h"
#include "node/sss/secure_store.h"

namespace fogkeep::node::sss {

struct CertificateInfo {
  std::string name;
  std::string pem;  // the certificate as stored
  std::string subject;
  std::string issuer;
  std::string serial_hex;
  std::string fingerprint;  // SHA-256 of the DER, lowercase hex
  crypto::TimePoint not_before;
  crypto::TimePoint not_after;
  bool valid_now = false;  // not_before <= now <= not_after when the info was made
};

class CertificateService {
 public:
  // `store` must outlive the service.
  explicit CertificateService(SecureStore& store) : store_(store) {}

  // Stores (or replaces) certificate `name`. kInvalidInput, saying why, when `pem` is not one
  // certificate or also holds a private key.
  Result<CertificateInfo> Put(std::string_view app, std::string_view name, std::string_view pem);
  Result<CertificateInfo> Get(std::string_view app, std::string_view name);
  Result<std::vector<RecordInfo>> List(std::string_view app);
  Status Delete(std::string_view app, std::string_view name);

 private:
  SecureStore& store_;
};

}  // namespace fogkeep::node::sss
