// The fleet CA: the director's own certificate authority, which certifies enrolled nodes for
// mutual TLS and the director's HTTPS endpoint.
//
// It lives in a directory of its own:
//   ca.key  the CA's private key, PKCS#8 PEM, mode 0600, owned by the director's user
//   ca.crt  the self-signed CA certificate, PEM (nodes get it through EST /cacerts)
//
// What a certificate says is decided here, never by a request: a node certificate names the
// device id the director chose, carries clientAuth only and lives at most kMaxNodeLifetime;
// nothing from the CSR but its public key reaches it, and only after the CSR's proof of
// possession verified. The CA certificate has pathLenConstraint 0: it certifies leaves only.
//
// A FleetCa is immutable once created or loaded; its methods may be called from several
// threads at once.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/csr.h"
#include "crypto/keys.h"
#include "crypto/x509.h"

namespace fogkeep::director {

class FleetCa {
 public:
  static constexpr std::chrono::seconds kCaLifetime = std::chrono::hours(24 * 3650);
  static constexpr std::chrono::seconds kMaxNodeLifetime = std::chrono::hours(24 * 30);
  // The CA/Browser Forum's limit for server certificates, which clients may enforce.
  static constexpr std::chrono::seconds kMaxServerLifetime = std::chrono::hours(24 * 397);
  // notBefore lies this far in the past (at most a quarter of the lifetime), so a node whose
  // clock is a little behind accepts its new certificate at once. The cap keeps a short-lived
  // certificate renewable: nodes renew when a third of notBefore..notAfter is left, which a
  // backdate longer than half the lifetime would make due at once, and forever.
  static constexpr std::chrono::seconds kBackdate = std::chrono::minutes(5);

  // Makes a new CA in `dir` (created 0700 if missing): an EC P-256 key and a self-signed
  // certificate CN=`fleet_name`, valid kCaLifetime. `fleet_name` is 1 to 64 printable ASCII
  // characters (kInvalidInput otherwise). Never replaces a CA: kConflict when ca.key or ca.crt
  // already exists in `dir`. Both files are written atomically, the key with mode 0600.
  static Result<FleetCa> Create(const std::string& dir, std::string_view fleet_name);

  // Loads the CA of `dir`. kIntegrity when ca.key is a symbolic link, not a regular file, not
  // owned by this process's user, or accessible to group or others; also when ca.crt is not a
  // CA certificate or does not match the key. kNotFound when either file is missing.
  static Result<FleetCa> Load(const std::string& dir);

  // The CA certificate: the trust anchor of every certificate issued here.
  const crypto::Certificate& certificate() const { return cert_; }

  // Certifies the key of `csr` for the node `device_id` (1 to 64 printable ASCII characters,
  // no spaces): subject CN=`device_id`, O=fogkeep; extended key usage clientAuth only; valid
  // from kBackdate ago for `lifetime`, capped at kMaxNodeLifetime and at the CA's own expiry.
  // The CSR's subject and attributes are ignored (its common name is only a hint the caller
  // may keep as the device's display name). kIntegrity when the CSR's signature does not
  // verify; kInvalidInput for a bad device id or a lifetime that is not positive.
  Result<crypto::Certificate> IssueNodeCertificate(const crypto::CertificateRequest& csr,
                                                   std::string_view device_id,
                                                   std::chrono::seconds lifetime) const;

  // Certifies `key` for a TLS server (the director itself) reachable under `dns_names` and
  // `ip_addresses` (at least one name in all): extended key usage serverAuth only; subject CN
  // the first name that fits in 64 characters; lifetime capped at kMaxServerLifetime and at
  // the CA's expiry. kInvalidInput for no name, an invalid name, or a lifetime that is not
  // positive.
  Result<crypto::Certificate> IssueServerCertificate(const crypto::PublicKey& key,
                                                     std::vector<std::string> dns_names,
                                                     std::vector<std::string> ip_addresses,
                                                     std::chrono::seconds lifetime) const;

  // A CRL of this CA revoking the certificates with these serial numbers (lowercase hex, as
  // crypto::Certificate::SerialHex and the store keep them), valid for `lifetime`.
  // kInvalidInput for a malformed serial.
  Result<crypto::Crl> IssueRevocationList(
      const std::vector<std::string>& revoked_serials_hex,
      std::chrono::seconds lifetime = std::chrono::hours(24 * 7)) const;

 private:
  FleetCa(crypto::Certificate cert, crypto::PrivateKey key)
      : cert_(std::move(cert)), key_(std::move(key)) {}

  // Issues a leaf for `key` with the given options after capping its lifetime.
  Result<crypto::Certificate> IssueLeaf(const crypto::PublicKey& key, crypto::IssueOptions options,
                                        std::chrono::seconds lifetime,
                                        std::chrono::seconds max_lifetime) const;

  // Constant after construction.
  crypto::Certificate cert_;
  crypto::PrivateKey key_;
};

}  // namespace fogkeep::director
