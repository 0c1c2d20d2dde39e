// EST enrollment bodies reach the director from any node that can open a TLS connection, and
// the answers reach nodes from whatever answers them: the CSR, PKCS#7 and base64 parsers must
// never crash, hang or leak on any bytes. What they accept must hold together: a request with
// a name by the rules and a stable encoding, 1 to 8 certificates that encode and decode again
// to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/est.h"
#include "crypto/csr.h"
#include "crypto/pkcs7.h"

namespace {

using fogkeep::crypto::Certificate;
using fogkeep::crypto::CertificateRequest;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_est: %s\n", what);
  std::abort();
}

void CheckRequest(const CertificateRequest& csr) {
  const std::string& name = csr.CommonName();
  if (name.empty() || name.size() > CertificateRequest::kMaxCommonNameLength) {
    Die("accepted a common name of the wrong length");
  }
  for (char c : name) {
    if (c < 0x20 || c > 0x7e) Die("accepted a common name that is not printable ASCII");
  }
  if (csr.ToDer().size() > CertificateRequest::kMaxDerBytes) Die("accepted an oversized request");
  (void)csr.VerifySignature();

  auto again = CertificateRequest::FromDer(csr.ToDer());
  if (!again || again->ToDer() != csr.ToDer() || again->CommonName() != name) {
    Die("an accepted request does not parse again to itself");
  }
  auto from_pem = CertificateRequest::FromPem(csr.ToPem());
  if (!from_pem || from_pem->ToDer() != csr.ToDer()) Die("PEM round trip changed the request");
  auto from_body =
      fogkeep::api::est::ParseEnrollRequestBody(fogkeep::api::est::EncodeEnrollRequestBody(csr));
  if (!from_body || from_body->ToDer() != csr.ToDer()) Die("body round trip changed the request");
}

void CheckCertificates(const std::vector<Certificate>& certs) {
  if (certs.empty() || certs.size() > fogkeep::crypto::kMaxCertsOnlyCertificates) {
    Die("accepted a certs-only message with a bad certificate count");
  }
  auto der = fogkeep::crypto::EncodeCertsOnly(certs);
  if (!der) Die("cannot encode accepted certificates");
  auto decoded = fogkeep::crypto::DecodeCertsOnly(*der);
  if (!decoded || decoded->size() != certs.size()) Die("certs-only round trip lost certificates");
  for (std::size_t i = 0; i < certs.size(); ++i) {
    if ((*decoded)[i].ToDer() != certs[i].ToDer()) Die("certs-only round trip changed a cert");
  }
  auto body = fogkeep::api::est::EncodeCertsOnlyBody(certs);
  if (!body || !fogkeep::api::est::ParseCertsOnlyBody(*body)) Die("body round trip failed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  if (auto csr = CertificateRequest::FromDer(bytes)) CheckRequest(*csr);
  if (auto csr = CertificateRequest::FromPem(bytes)) CheckRequest(*csr);
  if (auto csr = fogkeep::api::est::ParseEnrollRequestBody(bytes)) CheckRequest(*csr);

  if (auto certs = fogkeep::crypto::DecodeCertsOnly(bytes)) CheckCertificates(*certs);
  if (auto certs = fogkeep::api::est::ParseCertsOnlyBody(bytes)) CheckCertificates(*certs);
  return 0;
}
