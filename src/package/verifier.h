// The trust decision for a package: one method, a verdict and a reason (like containerd's
// image verifier). The reader has already checked that every member matches the manifest;
// a verifier decides whether that manifest may be trusted.
#pragma once

#include <optional>
#include <string>

#include "crypto/x509.h"

namespace fogkeep::package {

// What a trust decision is made on: the exact bytes of package.mf and, for a signed package,
// package.cert (PEM chain, signer first) and package.sig (one line of base64).
struct SignedManifest {
  std::string manifest;
  bool legacy = false;  // a SHA-1 (IOx) manifest
  std::optional<std::string> certificate_pem;
  std::optional<std::string> signature;
};

struct Verdict {
  bool trusted = false;
  std::string reason;  // why not, or how ("signed by CN=dev signer,O=fogkeep")
  std::optional<crypto::Certificate> signer;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual Verdict Verify(const SignedManifest& manifest) const = 0;
};

struct SignaturePolicy {
  bool require_signed = true;  // weakening this is an explicit admin choice
};

// Accepts a package whose signature over package.mf verifies with the key of the first
// certificate of package.cert, and whose certificate chains (through the rest of
// package.cert) to an anchor of the trust store, holds the codeSigning EKU, is within its
// validity period and is not revoked by a CRL in the store. Unsigned packages are accepted
// only when the policy does not require signatures.
class X509Verifier : public Verifier {
 public:
  X509Verifier(crypto::TrustStore trust, SignaturePolicy policy)
      : trust_(std::move(trust)), policy_(policy) {}
  Verdict Verify(const SignedManifest& manifest) const override;

 private:
  crypto::TrustStore trust_;
  SignaturePolicy policy_;
};

// Checks only that the signature matches package.cert's key, without any trust decision:
// what `fogkeep package inspect` reports. `signer` is set when the signature is valid.
Verdict CheckSignatureOnly(const SignedManifest& manifest);

}  // namespace fogkeep::package
