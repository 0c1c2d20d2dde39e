// PKCS#7 / CMS "certs-only" messages: a degenerate SignedData that carries certificates and
// nothing else (RFC 5652 §5.2, RFC 8551 §3.2.2). EST answers /simpleenroll, /simplereenroll
// (RFC 7030 §4.2.3) and /cacerts (§4.1.3) with one.
//
// The encoding is the one `openssl crl2pkcs7 -nocrl` writes: SignedData version 1, no digest
// algorithms, encapsulated content type id-data with the content omitted, the certificates in
// the order given, no CRLs, no signers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/x509.h"

namespace fogkeep::crypto {

// A certs-only message holds an issued certificate and the chain above it, or a CA's
// certificates: a handful. More is not an EST answer.
inline constexpr std::size_t kMaxCertsOnlyCertificates = 8;
inline constexpr std::size_t kMaxCertsOnlyDerBytes = 64 << 10;

// DER of a certs-only SignedData holding `certificates` in order. kInvalidInput when there
// are none, kLimit when there are more than kMaxCertsOnlyCertificates.
Result<std::string> EncodeCertsOnly(const std::vector<Certificate>& certificates);

// The certificates of a certs-only SignedData, in the order of the message. The input is
// hostile: kLimit beyond kMaxCertsOnlyDerBytes or kMaxCertsOnlyCertificates; kInvalidInput
// for trailing bytes, any content type but signedData, any signer, any CRL, encapsulated
// content that is present or not id-data, and for a message without a certificate. The
// certificates are parsed, not verified: trusting them is the caller's decision.
Result<std::vector<Certificate>> DecodeCertsOnly(std::string_view der);

}  // namespace fogkeep::crypto
