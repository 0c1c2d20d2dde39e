#include "package/verifier.h"

#include "crypto/hash.h"

namespace fogkeep::package {
namespace {

Verdict Reject(std::string reason) { return Verdict{false, std::move(reason), std::nullopt}; }

struct CheckedSignature {
  crypto::Certificate signer;
  std::vector<crypto::Certificate> intermediates;
};

// The signature checks shared by every verdict: both members present, a SHA-256 manifest,
// a parsable chain, and a signature by the first certificate's key.
Result<CheckedSignature> CheckSignature(const SignedManifest& m) {
  if (!m.certificate_pem) {
    return Fail(ErrorCode::kIntegrity, "package.sig is present but package.cert is missing");
  }
  if (!m.signature) {
    return Fail(ErrorCode::kIntegrity, "package.cert is present but package.sig is missing");
  }
  if (m.legacy) {
    return Fail(ErrorCode::kIntegrity, "a signed package must use a SHA-256 manifest, not SHA-1");
  }
  auto chain = FK_TRY_CTX(crypto::Certificate::BundleFromPem(*m.certificate_pem), "package.cert");
  auto signature = FK_TRY_CTX(crypto::Base64Decode(*m.signature), "package.sig");
  CheckedSignature checked{chain.front(), {chain.begin() + 1, chain.end()}};
  if (!checked.signer.Key().Verify(m.manifest, signature)) {
    return Fail(ErrorCode::kIntegrity, "package.sig does not verify against package.cert");
  }
  return checked;
}

}  // namespace

Verdict X509Verifier::Verify(const SignedManifest& m) const {
  if (!m.certificate_pem && !m.signature) {
    if (policy_.require_signed) {
      return Reject("package is unsigned and the signature policy requires signed packages");
    }
    return Verdict{true, "unsigned, accepted because the policy allows unsigned packages",
                   std::nullopt};
  }
  auto checked = CheckSignature(m);
  if (!checked) return Reject(checked.error().message());
  if (auto trusted = trust_.Verify(checked->signer, checked->intermediates,
                                   crypto::ExtendedKeyUsage::kCodeSigning);
      !trusted) {
    return Reject("signer certificate is not trusted: " + trusted.error().message());
  }
  return Verdict{true, "signed by " + checked->signer.Subject(), checked->signer};
}

Verdict CheckSignatureOnly(const SignedManifest& m) {
  if (!m.certificate_pem && !m.signature) return Reject("unsigned");
  auto checked = CheckSignature(m);
  if (!checked) return Reject(checked.error().message());
  return Verdict{true, "signature valid (signer not checked against a trust store)",
                 checked->signer};
}

}  // namespace fogkeep::package
