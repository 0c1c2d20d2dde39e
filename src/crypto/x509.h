// X.509 certificates, CRLs, issuance and chain verification over OpenSSL 3.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"

struct x509_st;
struct X509_crl_st;

namespace fogkeep::crypto {

using TimePoint = std::chrono::system_clock::time_point;

enum class ExtendedKeyUsage { kCodeSigning, kServerAuth, kClientAuth };
std::string_view ExtendedKeyUsageName(ExtendedKeyUsage eku);  // "codeSigning", ...

class Certificate {
 public:
  static Result<Certificate> FromPem(std::string_view pem);  // the first certificate
  static Result<Certificate> FromDer(std::string_view der);
  // Every certificate in a PEM bundle, in order; an empty bundle is kInvalidInput.
  static Result<std::vector<Certificate>> BundleFromPem(std::string_view pem);

  std::string ToPem() const;
  std::string ToDer() const;
  std::string Subject() const;  // one-line RFC 2253 form, e.g. "CN=dev signer,O=fogkeep"
  std::string Issuer() const;
  std::string CommonName() const;
  std::string SerialHex() const;
  TimePoint NotBefore() const;
  TimePoint NotAfter() const;
  bool IsCa() const;
  bool HasExtendedKeyUsage(ExtendedKeyUsage eku) const;
  // The subject's key. A key of an unsupported type (another curve, RSA-PSS, Ed448) reads as
  // kRsa from type(), and its Verify() refuses it.
  PublicKey Key() const;
  std::string Fingerprint() const;  // SHA-256 of the DER, lowercase hex

  x509_st* native() const { return cert_.get(); }
  explicit Certificate(std::shared_ptr<x509_st> cert) : cert_(std::move(cert)) {}

 private:
  std::shared_ptr<x509_st> cert_;
};

class Crl {
 public:
  static Result<Crl> FromPem(std::string_view pem);
  std::string ToPem() const;
  std::string Issuer() const;
  bool Lists(const Certificate& cert) const;  // the serial is revoked by this CRL

  X509_crl_st* native() const { return crl_.get(); }
  explicit Crl(std::shared_ptr<X509_crl_st> crl) : crl_(std::move(crl)) {}

 private:
  std::shared_ptr<X509_crl_st> crl_;
};

struct IssueOptions {
  std::string common_name;
  std::string organization = "fogkeep";
  std::chrono::seconds lifetime = std::chrono::hours(24 * 365);
  std::chrono::seconds backdate = std::chrono::minutes(5);  // notBefore = now - backdate
  bool is_ca = false;
  int path_length = -1;  // CA only; -1 = unlimited
  std::vector<ExtendedKeyUsage> extended_key_usages;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::optional<TimePoint> not_before;  // overrides backdate (tests make expired certs)
  std::optional<TimePoint> not_after;   // overrides lifetime
  // Leaves only: leave out basicConstraints CA:FALSE (its absence says the same, RFC 5280
  // section 4.2.1.9) and the subjectKeyIdentifier (chain building uses a CA's, never a
  // leaf's). For certificates a server holds by the thousand: a peer keeps each extension of
  // the certificate, parsed, for as long as it is connected.
  bool compact = false;
};

// Issues a certificate for `subject_key`, signed by `issuer_key`. When `issuer` is null the
// certificate is self-signed (issuer_key must then be the subject's key). Serial numbers are
// 128-bit random. CAs get basicConstraints CA:TRUE and keyCertSign|cRLSign; leaves get
// basicConstraints CA:FALSE (unless compact), digitalSignature and the requested EKUs. All get
// an authorityKeyIdentifier and, but for compact leaves, a subjectKeyIdentifier.
Result<Certificate> IssueCertificate(const PublicKey& subject_key, const IssueOptions& options,
                                     const Certificate* issuer, const PrivateKey& issuer_key);

// Issues a CRL by `ca` listing `revoked`, valid for `lifetime`.
Result<Crl> IssueCrl(const Certificate& ca, const PrivateKey& ca_key,
                     const std::vector<Certificate>& revoked,
                     std::chrono::seconds lifetime = std::chrono::hours(24 * 30));
// The same for certificates known only by their serial numbers, in the hex form of
// Certificate::SerialHex() (either case; kInvalidInput for anything else). The caller vouches
// that the serials are of certificates `ca` issued: a CRL cannot tell.
Result<Crl> IssueCrlForSerials(const Certificate& ca, const PrivateKey& ca_key,
                               const std::vector<std::string>& revoked_serials_hex,
                               std::chrono::seconds lifetime = std::chrono::hours(24 * 30));

// Trust anchors and CRLs. Verification builds a chain from the leaf through the supplied
// intermediates to an anchor, checks validity periods at `at` (now by default), requires the
// EKU on the leaf, and refuses any certificate in the chain listed by a CRL of its issuer held
// in the store. A certificate whose issuer has no CRL in the store is not refused for that.
class TrustStore {
 public:
  TrustStore();
  // Loads every PEM certificate and CRL from a file, or from each *.pem/*.crt/*.crl file of a
  // directory. A source with no certificate is kInvalidInput.
  static Result<TrustStore> Load(const std::string& file_or_dir);

  void AddAnchor(Certificate cert);
  void AddCrl(Crl crl);
  const std::vector<Certificate>& anchors() const { return anchors_; }
  const std::vector<Crl>& crls() const { return crls_; }

  // OK, or kIntegrity with a reason a person can act on ("certificate has expired",
  // "certificate is revoked", "certificate lacks the codeSigning extended key usage",
  // "unable to get local issuer certificate").
  Status Verify(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                ExtendedKeyUsage required, std::optional<TimePoint> at = std::nullopt) const;

 private:
  std::vector<Certificate> anchors_;
  std::vector<Crl> crls_;
};

}  // namespace fogkeep::crypto
