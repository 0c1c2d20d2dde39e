#include "cli/trust_files.h"

#include "core/fs.h"
#include "crypto/x509.h"

namespace fogkeep::cli {

Result<api::TrustMaterial> ReadTrustFiles(const std::vector<std::string>& anchor_files,
                                          const std::vector<std::string>& crl_files) {
  api::TrustMaterial trust;
  for (const auto& path : anchor_files) {
    const std::string pem = FK_TRY_CTX(fs::ReadFile(path, 1 << 20), path);
    for (const auto& cert : FK_TRY_CTX(crypto::Certificate::BundleFromPem(pem), path)) {
      trust.anchors.push_back(cert.ToPem());
    }
  }
  for (const auto& path : crl_files) {
    const std::string pem = FK_TRY_CTX(fs::ReadFile(path, 1 << 20), path);
    trust.crls.push_back(FK_TRY_CTX(crypto::Crl::FromPem(pem), path).ToPem());
  }
  return trust;
}

}  // namespace fogkeep::cli
