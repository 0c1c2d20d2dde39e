// Bodies of the EST enrollment exchange (RFC 7030) between a node and the director.
//
//   GET  /.well-known/est/cacerts          -> certs-only PKCS#7 of the fleet CA (§4.1.3)
//   POST /.well-known/est/simpleenroll     PKCS#10 request -> certs-only PKCS#7 (§4.2.1, §4.2.3)
//   POST /.well-known/est/simplereenroll   the same, over mutual TLS with the current cert (§4.2.2)
//
// Bodies travel as base64 of the DER (RFC 7030 §4: Content-Transfer-Encoding: base64, the
// RFC 4648 alphabet with padding). Readers accept the text with or without line breaks (CR, LF
// or CRLF, anywhere) and refuse every other character, whitespace included; writers emit
// 64-character lines ending in LF. Sizes are limited before anything is decoded, and the DER
// goes through crypto/csr.h and crypto/pkcs7.h, which treat it as hostile.
//
// The HTTP layer matches the content types and maps errors to status codes; nothing here
// knows HTTP.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/csr.h"
#include "crypto/x509.h"

namespace fogkeep::api::est {

inline constexpr std::string_view kCaCertsPath = "/.well-known/est/cacerts";
inline constexpr std::string_view kSimpleEnrollPath = "/.well-known/est/simpleenroll";
inline constexpr std::string_view kSimpleReenrollPath = "/.well-known/est/simplereenroll";

// Content-Type of an enrollment request body.
inline constexpr std::string_view kPkcs10ContentType = "application/pkcs10";
// Content-Type of an enrollment answer (an issued certificate and its chain).
inline constexpr std::string_view kCertsOnlyContentType =
    "application/pkcs7-mime; smime-type=certs-only";
// Content-Type of a /cacerts answer (RFC 7030 §4.1.3 names no smime-type there).
inline constexpr std::string_view kCaCertsContentType = "application/pkcs7-mime";
// Value of the Content-Transfer-Encoding header every EST body is sent with.
inline constexpr std::string_view kTransferEncoding = "base64";

// Body size limits: the base64 of the DER limits of crypto/csr.h and crypto/pkcs7.h, with
// room for line breaks.
inline constexpr std::size_t kMaxEnrollRequestBodyBytes = 32 << 10;
inline constexpr std::size_t kMaxCertsOnlyBodyBytes = 128 << 10;

// The type of a node key kept in a file, which fogkeep-fleetsim's nodes use too: Ed25519. The
// director holds the certificate of every node connected to it for as long as the connection
// lives, and OpenSSL gives each parsed P-256 key its own copy of the curve's group: an Ed25519
// node certificate costs the director about 1.8 KiB less for each node. A key made in a TPM
// is P-256, the curve TPM 2.0 offers.
inline constexpr crypto::KeyType kNodeFileKeyType = crypto::KeyType::kEd25519;

// The request in a /simpleenroll or /simplereenroll body. Its signature is not checked here:
// the CA checks it (CertificateRequest::VerifySignature). kLimit for an oversized body,
// kInvalidInput for an empty one, bad base64 or a request crypto/csr.h refuses.
Result<crypto::CertificateRequest> ParseEnrollRequestBody(std::string_view body);
// The body a node sends: base64 of the request's DER in 64-character lines.
std::string EncodeEnrollRequestBody(const crypto::CertificateRequest& request);

// The body of an enrollment or /cacerts answer: base64 of a certs-only PKCS#7 holding
// `certificates` in order (for enrollment: the issued certificate first). kInvalidInput when
// there is none, kLimit for more than crypto::kMaxCertsOnlyCertificates.
Result<std::string> EncodeCertsOnlyBody(const std::vector<crypto::Certificate>& certificates);
// The certificates of such a body, in order; nothing about them is verified. kLimit for an
// oversized body, kInvalidInput for an empty one, bad base64 or a message crypto/pkcs7.h
// refuses.
Result<std::vector<crypto::Certificate>> ParseCertsOnlyBody(std::string_view body);

}  // namespace fogkeep::api::est
