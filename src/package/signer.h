// Signing a package: a fresh SHA-256 package.mf over every member, package.sig over its exact
// bytes, package.cert with the signer certificate and its intermediates.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"
#include "crypto/x509.h"

namespace fogkeep::package {

struct SigningIdentity {
  crypto::PrivateKey key;
  crypto::Certificate certificate;  // must hold the codeSigning EKU and match `key`
  std::vector<crypto::Certificate> intermediates;
};

// Writes a signed copy of the package `input` to `output` (atomically). An existing
// signature is replaced; an existing manifest (SHA-256, or IOx's SHA-1) must match the
// members, so a tampered package is never blessed. Members are copied in their order after
// package.mf, package.sig and package.cert, which lets a node verify the signature before
// artifacts.tar.gz arrives and extract it straight from the stream.
Status SignPackage(const std::string& input, const SigningIdentity& identity,
                   const std::string& output);

}  // namespace fogkeep::package
