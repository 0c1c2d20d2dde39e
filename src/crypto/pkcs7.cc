#include "crypto/pkcs7.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <utility>

#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

using Pkcs7Ptr = std::unique_ptr<PKCS7, ossl::Free<PKCS7_free>>;

}  // namespace

Result<std::string> EncodeCertsOnly(const std::vector<Certificate>& certificates) {
  ossl::ErrorQueueScope errors;
  if (certificates.empty()) {
    return Fail(ErrorCode::kInvalidInput, "a certs-only message needs at least one certificate");
  }
  if (certificates.size() > kMaxCertsOnlyCertificates) {
    return Fail(ErrorCode::kLimit, "a certs-only message holds at most " +
                                       std::to_string(kMaxCertsOnlyCertificates) +
                                       " certificates, not " + std::to_string(certificates.size()));
  }
  Pkcs7Ptr p7(PKCS7_new());
  // PKCS7_set_detached drops the empty id-data content PKCS7_content_new made: RFC 5652 §5.2
  // has the content of a message without signers omitted.
  if (!p7 || PKCS7_set_type(p7.get(), NID_pkcs7_signed) != 1 ||
      PKCS7_content_new(p7.get(), NID_pkcs7_data) != 1 || PKCS7_set_detached(p7.get(), 1) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "building a certs-only SignedData");
  }
  for (const Certificate& cert : certificates) {
    // Takes a reference of its own; the stack keeps the given order.
    if (PKCS7_add_certificate(p7.get(), cert.native()) != 1) {
      return ossl::FailSsl(ErrorCode::kInternal, "PKCS7_add_certificate");
    }
  }
  unsigned char* der = nullptr;
  int size = i2d_PKCS7(p7.get(), &der);
  if (size <= 0) return ossl::FailSsl(ErrorCode::kInternal, "encoding the certs-only SignedData");
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

Result<std::vector<Certificate>> DecodeCertsOnly(std::string_view der) {
  ossl::ErrorQueueScope errors;
  if (der.empty()) return Fail(ErrorCode::kInvalidInput, "empty certs-only message");
  if (der.size() > kMaxCertsOnlyDerBytes) {
    return Fail(ErrorCode::kLimit, "certs-only message of " + std::to_string(der.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(kMaxCertsOnlyDerBytes));
  }
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (!p7) return ossl::FailSsl(ErrorCode::kInvalidInput, "malformed PKCS#7 message");
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kInvalidInput, "trailing bytes after the PKCS#7 message");
  }
  if (!PKCS7_type_is_signed(p7.get()) || p7->d.sign == nullptr) {
    return Fail(ErrorCode::kInvalidInput, "the PKCS#7 message is " +
                                              std::string(OBJ_nid2ln(OBJ_obj2nid(p7->type))) +
                                              ", not a certs-only signedData");
  }
  const PKCS7_SIGNED* sign = p7->d.sign;
  if (sign->signer_info != nullptr && sk_PKCS7_SIGNER_INFO_num(sign->signer_info) > 0) {
    return Fail(ErrorCode::kInvalidInput, "the PKCS#7 message has signers; expected certs-only");
  }
  if (sign->crl != nullptr && sk_X509_CRL_num(sign->crl) > 0) {
    return Fail(ErrorCode::kInvalidInput, "the PKCS#7 message carries CRLs; expected certs-only");
  }
  if (sign->contents == nullptr || !PKCS7_type_is_data(sign->contents)) {
    return Fail(ErrorCode::kInvalidInput,
                "the PKCS#7 message encapsulates content other than id-data");
  }
  if (sign->contents->d.data != nullptr) {
    return Fail(ErrorCode::kInvalidInput,
                "the PKCS#7 message encapsulates content; a certs-only message has none");
  }
  const int count = sign->cert != nullptr ? sk_X509_num(sign->cert) : 0;
  if (count <= 0) {
    return Fail(ErrorCode::kInvalidInput, "the PKCS#7 message holds no certificate");
  }
  if (static_cast<std::size_t>(count) > kMaxCertsOnlyCertificates) {
    return Fail(ErrorCode::kLimit, "the PKCS#7 message holds " + std::to_string(count) +
                                       " certificates; at most " +
                                       std::to_string(kMaxCertsOnlyCertificates) + " are accepted");
  }
  std::vector<Certificate> certs;
  certs.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    X509* cert = sk_X509_value(sign->cert, i);
    if (cert == nullptr || X509_up_ref(cert) != 1) {
      return ossl::FailSsl(ErrorCode::kInternal, "taking a certificate of the PKCS#7 message");
    }
    certs.emplace_back(ossl::ShareX509(cert));
  }
  return certs;
}

}  // namespace fogkeep::crypto
