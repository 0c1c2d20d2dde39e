// PKCS#10 certificate signing requests (RFC 2986), as nodes send them to enroll (RFC 7030).
//
// A request reaching the director is hostile input: FromDer and FromPem parse it strictly and
// keep only what issuance may use, the subject's common name (a hint, never copied into a
// certificate by the fleet CA) and the public key. Accepted:
//   size       at most kMaxDerBytes of DER, exactly one request, no trailing bytes
//   version    v1 (0)
//   subject    exactly one commonName: printable ASCII, 1 to kMaxCommonNameLength characters
//   key        ECDSA P-256, RSA of 2048 to 4096 bits, or Ed25519 (the key types fogkeep signs
//              and verifies with everywhere; other curves and types are kInvalidInput)
//   signature  the one scheme of the key type, as crypto/keys.h fixes it: sha256WithRSAEncryption,
//              ecdsa-with-SHA256 or Ed25519
// Attributes (challengePassword, requested extensions) are parsed by OpenSSL but ignored:
// nothing in a request decides what a certificate contains.
//
// Parsing does not check the signature: VerifySignature() does, so that a caller cannot forget
// the proof of possession without writing a line that says so. The fleet CA calls it itself.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/keys.h"

namespace fogkeep::crypto {

class CertificateRequest {
 public:
  static constexpr std::size_t kMaxDerBytes = 16 << 10;
  static constexpr std::size_t kMaxCommonNameLength = 64;

  // A request for `key` whose subject is CN=`common_name`, signed through key.Sign() (so a key
  // held by a TPM or another provider works as a key in memory does). kInvalidInput when the
  // name breaks the rules above or the key type is not accepted.
  static Result<CertificateRequest> Create(const PrivateKey& key, std::string_view common_name);

  // kLimit when the input exceeds the size limit; kInvalidInput for anything malformed or
  // outside the rules above, with a message naming what.
  static Result<CertificateRequest> FromDer(std::string_view der);
  // One PEM block "CERTIFICATE REQUEST" (or the older "NEW CERTIFICATE REQUEST") and nothing
  // else but surrounding text; the DER inside goes through FromDer.
  static Result<CertificateRequest> FromPem(std::string_view pem);

  // The DER exactly as parsed or created.
  const std::string& ToDer() const { return der_; }
  std::string ToPem() const;

  // The subject's common name: the requester's suggestion of a name, nothing more.
  const std::string& CommonName() const { return common_name_; }
  // The key to certify, once VerifySignature() has passed.
  const PublicKey& Key() const { return key_; }

  // Proof of possession: OK when the request is signed by the private key of Key(); kIntegrity
  // otherwise.
  Status VerifySignature() const;

 private:
  CertificateRequest(std::string der, std::string info, std::string signature,
                     std::string common_name, PublicKey key)
      : der_(std::move(der)),
        info_(std::move(info)),
        signature_(std::move(signature)),
        common_name_(std::move(common_name)),
        key_(std::move(key)) {}

  std::string der_;
  std::string info_;  // the signed CertificationRequestInfo, as its bytes appear in der_
  std::string signature_;
  std::string common_name_;
  PublicKey key_;
};

}  // namespace fogkeep::crypto
