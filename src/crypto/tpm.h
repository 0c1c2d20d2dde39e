// Keys held by a TPM 2.0, used through OpenSSL 3's tpm2 provider (Debian package tpm2-openssl).
//
// Each TpmKey loads the provider into a private OSSL_LIB_CTX of its own, beside a default
// provider in that context, so the rest of fogkeep keeps using the process-wide default
// provider and never reaches the TPM by accident.
//
// Which TPM: the provider's TCTI, taken from the environment variable TPM2OPENSSL_TCTI (for
// example "swtpm:host=127.0.0.1,port=2321"), else the TSS default (/dev/tpmrm0, then /dev/tpm0).
// tpm2-openssl 1.1.1 (Debian 12) ignores the "tcti" provider configuration parameter, so the
// environment is the only override. A storage hierarchy with an authorization value needs
// TPM2OPENSSL_PARENT_AUTH.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/keys.h"

namespace fogkeep::crypto {

// A NIST P-256 key generated inside the TPM. Its private part never leaves the TPM in clear:
// the PEM form ("TSS2 PRIVATE KEY") holds it encrypted under the TPM's storage hierarchy, so
// only the TPM that made it can load it, and a copy of the PEM alone is worth nothing.
//
// Seal and Unseal are ECIES over this key, for small secrets (a key-encryption key):
//   seal:   an ephemeral P-256 key pair E is made in software; Z = ECDH(E, tpm public key);
//           K = HKDF-SHA256(Z, info = "fogkeep tpm seal v1" || E.pub || tpm.pub);
//           blob = 0x01 || E.pub (65 bytes, uncompressed) || AES-256-GCM(K, secret, aad)
//   unseal: Z = ECDH(tpm private key, E.pub) computed inside the TPM (TPM2_ECDH_ZGen), then
//           the same K and AES-GCM verification.
// Sealing needs only the public key; unsealing needs this TPM. The provider in Debian 12
// (1.1.1) decrypts RSA with PKCS#1 v1.5 only (no OAEP), which is why the construction is ECDH.
//
// A TpmKey keeps its TPM connection and the loaded key for its lifetime, shared with the
// PrivateKeys SigningKey() makes. The operations that reach the TPM (Unseal, and signing through
// such a PrivateKey) are serialized on that connection, so copies may be used from several
// threads; Generate and Load make a connection of their own each.
class TpmKey {
 public:
  // Creates a new key inside the TPM. kUnavailable when the provider cannot be loaded or the
  // TPM cannot be reached.
  static Result<TpmKey> Generate();
  // Loads a key from its TSS2 PRIVATE KEY PEM. kIntegrity when the PEM is not such a key or
  // this TPM cannot load it (it was made by another TPM, or altered); kUnavailable when there
  // is no TPM to ask.
  static Result<TpmKey> Load(std::string_view pem);

  // The TSS2 PRIVATE KEY PEM (safe to store: only this TPM can use it).
  const std::string& pem() const;
  // The public key as an uncompressed P-256 point (65 bytes).
  const std::string& public_point() const;

  // ECIES as above. `aad` is authenticated, not stored: Unseal needs the same bytes.
  Result<std::string> Seal(std::string_view secret, std::string_view aad) const;
  // kIntegrity when the blob is malformed or does not authenticate under this key and `aad`;
  // kUnavailable when the TPM fails.
  Result<std::string> Unseal(std::string_view sealed, std::string_view aad) const;

  // This key as an ECDSA P-256 PrivateKey whose private operations happen in the TPM: Sign (so
  // certificate requests) and TLS client authentication (TlsIdentity) both work with it, in the
  // process-wide OpenSSL context, while the tpm2 provider stays in this key's context. It keeps
  // the TPM connection alive as long as it, a copy, or a TLS context holding it exists. ToPem
  // and Save fail: the private key cannot leave the TPM (pem() is what can be stored).
  Result<PrivateKey> SigningKey() const;

  struct State;  // the library context, providers and keys; defined in tpm.cc

 private:
  explicit TpmKey(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace fogkeep::crypto
