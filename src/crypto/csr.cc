#include "crypto/csr.h"

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <utility>

#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

using ReqPtr = std::unique_ptr<X509_REQ, ossl::Free<X509_REQ_free>>;
using AlgorPtr = std::unique_ptr<X509_ALGOR, ossl::Free<X509_ALGOR_free>>;
using BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, ossl::Free<ASN1_BIT_STRING_free>>;

constexpr int kMaxRsaBits = 4096;
// Base64 of kMaxDerBytes with 64-character lines, the armour lines and some text around them.
constexpr std::size_t kMaxPemBytes = 32 << 10;

// The signature algorithm that goes with a key type (crypto/keys.h fixes one per type), and
// whether its AlgorithmIdentifier carries NULL parameters (RSA, RFC 4055 §5) or none (ECDSA,
// RFC 5758 §3.2; Ed25519, RFC 8410 §3).
struct SignatureAlgorithm {
  int nid;
  bool null_parameters;
};

SignatureAlgorithm AlgorithmFor(KeyType type) {
  switch (type) {
    case KeyType::kRsa:
      return {NID_sha256WithRSAEncryption, true};
    case KeyType::kEcdsaP256:
      return {NID_ecdsa_with_SHA256, false};
    case KeyType::kEd25519:
      return {NID_ED25519, false};
  }
  return {NID_undef, false};
}

std::string NidName(int nid) {
  const char* name = OBJ_nid2ln(nid);
  return name != nullptr ? name : "an unknown algorithm";
}

Status CheckCommonName(std::string_view name) {
  if (name.empty()) return Fail(ErrorCode::kInvalidInput, "the common name is empty");
  if (name.size() > CertificateRequest::kMaxCommonNameLength) {
    return Fail(ErrorCode::kInvalidInput,
                "the common name is longer than " +
                    std::to_string(CertificateRequest::kMaxCommonNameLength) + " characters");
  }
  for (char c : name) {
    if (c < 0x20 || c > 0x7e) {
      return Fail(ErrorCode::kInvalidInput,
                  "the common name holds a character that is not printable ASCII");
    }
  }
  return {};
}

// Refuses degenerate RSA public keys: an even modulus (factored at a glance) and a public
// exponent that is even, 1 (every message is its own signature) or beyond 256 bits. OpenSSL's full
// check (EVP_PKEY_public_check) is not used for RSA: it runs a randomised Miller-Rabin test on the
// modulus, so the same bytes could be accepted once and refused the next time.
Status CheckRsaPublicKey(const EVP_PKEY* key) {
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  const bool read = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
                    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1;
  ossl::BignumPtr modulus(n);
  ossl::BignumPtr exponent(e);
  if (!read) return ossl::FailSsl(ErrorCode::kInvalidInput, "certificate request key: bad RSA key");
  if (!BN_is_odd(modulus.get())) {
    return Fail(ErrorCode::kInvalidInput, "certificate request key: the RSA modulus is even");
  }
  if (!BN_is_odd(exponent.get()) || BN_is_one(exponent.get()) ||
      BN_num_bits(exponent.get()) > 256) {
    return Fail(ErrorCode::kInvalidInput,
                "certificate request key: the RSA public exponent is not valid");
  }
  return {};
}

// The key type of a requested key, refusing what fogkeep does not certify.
Result<KeyType> CheckRequestKey(EVP_PKEY* key) {
  KeyType type = FK_TRY_CTX(ossl::DetectKeyType(key), "certificate request key");
  // Also refuses RSA below 2048 bits.
  FK_TRY_CTX(ossl::CheckedKeyType(key, type), "certificate request key");
  if (type == KeyType::kRsa && EVP_PKEY_get_bits(key) > kMaxRsaBits) {
    return Fail(ErrorCode::kInvalidInput,
                "certificate request key: RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) +
                    " bits is too large (maximum " + std::to_string(kMaxRsaBits) + ")");
  }
  if (type == KeyType::kRsa) {
    FK_TRY(CheckRsaPublicKey(key));
  } else if (type == KeyType::kEcdsaP256) {
    // The point lies on the curve and in its prime-order group. (Decoding already refuses
    // most bad points; this is the full check, and it is deterministic.)
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx) return ossl::FailSsl(ErrorCode::kInternal, "EVP_PKEY_CTX_new_from_pkey");
    if (EVP_PKEY_public_check(ctx.get()) != 1) {
      return ossl::FailSsl(ErrorCode::kInvalidInput,
                           "certificate request key: the EC point is not valid");
    }
  }
  return type;
}

// The bytes of the first element of the DER SEQUENCE `der` (for a CertificationRequest, the
// CertificationRequestInfo that the signature covers). Indefinite lengths are refused.
Result<std::string_view> FirstElement(std::string_view der) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  long length = 0;
  int tag = 0;
  int cls = 0;
  int ret = ASN1_get_object(&p, &length, &tag, &cls, static_cast<long>(der.size()));
  if ((ret & 0x80) != 0 || ret != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidInput, "the certificate request is not a DER SEQUENCE");
  }
  const unsigned char* element = p;
  const long remaining = static_cast<long>(der.size()) - (p - begin);
  ret = ASN1_get_object(&p, &length, &tag, &cls, remaining);
  if ((ret & 0x80) != 0 || ret != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidInput, "the certificate request info is not a DER SEQUENCE");
  }
  const std::size_t start = static_cast<std::size_t>(element - begin);
  const std::size_t size = static_cast<std::size_t>(p - element) + static_cast<std::size_t>(length);
  return der.substr(start, size);
}

// The one commonName of a request's subject, checked.
Result<std::string> SubjectCommonName(const X509_NAME* subject) {
  int index = -1;
  int count = 0;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    index = i;
    ++count;
  }
  if (count != 1) {
    return Fail(ErrorCode::kInvalidInput,
                "the certificate request subject must hold exactly one "
                "common name (it holds " +
                    std::to_string(count) + ")");
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int size = ASN1_STRING_to_UTF8(&utf8, data);
  if (size < 0) {
    return ossl::FailSsl(ErrorCode::kInvalidInput,
                         "the certificate request common name is not a valid string");
  }
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(size));
  OPENSSL_free(utf8);
  FK_TRY_CTX(CheckCommonName(name), "certificate request");
  return name;
}

// Refuses a signature algorithm other than the one of the key's type, with parameters other
// than those the standards fix, and a signature BIT STRING with unused bits.
Status CheckSignatureFields(KeyType type, const X509_ALGOR* algorithm,
                            const ASN1_BIT_STRING* signature) {
  const ASN1_OBJECT* oid = nullptr;
  int parameter_type = V_ASN1_UNDEF;
  const void* parameter = nullptr;
  X509_ALGOR_get0(&oid, &parameter_type, &parameter, algorithm);
  const SignatureAlgorithm expected = AlgorithmFor(type);
  const int nid = OBJ_obj2nid(oid);
  if (nid != expected.nid) {
    return Fail(ErrorCode::kInvalidInput, "certificate request signed with " + NidName(nid) +
                                              "; a " + std::string(KeyTypeName(type)) +
                                              " key must sign with " + NidName(expected.nid));
  }
  // RFC 4055 has verifiers accept absent parameters beside NULL for RSA.
  const bool parameters_ok =
      parameter_type == V_ASN1_UNDEF || (expected.null_parameters && parameter_type == V_ASN1_NULL);
  if (!parameters_ok) {
    return Fail(ErrorCode::kInvalidInput,
                "certificate request signature algorithm has unexpected parameters");
  }
  if ((signature->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 && (signature->flags & 0x07) != 0) {
    return Fail(ErrorCode::kInvalidInput,
                "certificate request signature is not a whole number of bytes");
  }
  return {};
}

}  // namespace

Result<CertificateRequest> CertificateRequest::Create(const PrivateKey& key,
                                                      std::string_view common_name) {
  ossl::ErrorQueueScope errors;
  FK_TRY(CheckCommonName(common_name));
  // Public() is a copy of the public half in the default library context, whatever provider
  // holds the private half.
  const PublicKey public_key = key.Public();
  const KeyType type = FK_TRY(CheckRequestKey(public_key.native()));

  ReqPtr req(X509_REQ_new());
  if (!req) return ossl::FailSsl(ErrorCode::kInternal, "X509_REQ_new");
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), public_key.native()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "building the certificate request");
  }

  // Sign the encoded CertificationRequestInfo through the key's own Sign(), not X509_REQ_sign:
  // that is the one operation every PrivateKey offers, TPM-held ones included.
  unsigned char* info = nullptr;
  int info_size = i2d_re_X509_REQ_tbs(req.get(), &info);
  if (info_size <= 0) return ossl::FailSsl(ErrorCode::kInternal, "encoding the request info");
  std::string info_der(reinterpret_cast<const char*>(info), static_cast<std::size_t>(info_size));
  OPENSSL_free(info);
  const std::string signature = FK_TRY_CTX(key.Sign(info_der), "signing the certificate request");

  const SignatureAlgorithm algorithm = AlgorithmFor(type);
  AlgorPtr algor(X509_ALGOR_new());
  BitStringPtr bits(ASN1_BIT_STRING_new());
  if (!algor || !bits ||
      X509_ALGOR_set0(algor.get(), OBJ_nid2obj(algorithm.nid),
                      algorithm.null_parameters ? V_ASN1_NULL : V_ASN1_UNDEF, nullptr) != 1 ||
      ASN1_STRING_set(bits.get(), signature.data(), static_cast<int>(signature.size())) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "building the request signature");
  }
  // A whole number of bytes: no unused bits in the last one.
  bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
  bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
  if (X509_REQ_set1_signature_algo(req.get(), algor.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "X509_REQ_set1_signature_algo");
  }
  X509_REQ_set0_signature(req.get(), bits.release());

  unsigned char* der = nullptr;
  int der_size = i2d_X509_REQ(req.get(), &der);
  if (der_size <= 0) return ossl::FailSsl(ErrorCode::kInternal, "encoding the request");
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_size));
  OPENSSL_free(der);

  // Read back through the parser the director uses, and check the signature: a key whose
  // Sign() does not match its Public() (a misbehaving provider) fails here, not at the CA.
  auto parsed = FromDer(out);
  if (!parsed) return Fail(std::move(parsed).error().With("re-reading the created request"));
  if (auto verified = parsed->VerifySignature(); !verified) {
    return Fail(ErrorCode::kInternal,
                "the created certificate request does not verify: " + verified.error().message());
  }
  return parsed;
}

Result<CertificateRequest> CertificateRequest::FromDer(std::string_view der) {
  ossl::ErrorQueueScope errors;
  if (der.empty()) return Fail(ErrorCode::kInvalidInput, "empty certificate request");
  if (der.size() > kMaxDerBytes) {
    return Fail(ErrorCode::kLimit, "certificate request of " + std::to_string(der.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(kMaxDerBytes));
  }
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req) return ossl::FailSsl(ErrorCode::kInvalidInput, "malformed DER certificate request");
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kInvalidInput, "trailing bytes after the DER certificate request");
  }
  const std::string_view info = FK_TRY(FirstElement(der));
  if (X509_REQ_get_version(req.get()) != X509_REQ_VERSION_1) {
    return Fail(ErrorCode::kInvalidInput, "unsupported certificate request version " +
                                              std::to_string(X509_REQ_get_version(req.get())));
  }
  std::string common_name = FK_TRY(SubjectCommonName(X509_REQ_get_subject_name(req.get())));

  EVP_PKEY* raw_key = X509_REQ_get_pubkey(req.get());
  if (raw_key == nullptr) {
    return ossl::FailSsl(ErrorCode::kInvalidInput,
                         "certificate request key: unreadable or unsupported public key");
  }
  std::shared_ptr<EVP_PKEY> key = ossl::SharePkey(raw_key);
  const KeyType type = FK_TRY(CheckRequestKey(key.get()));

  const ASN1_BIT_STRING* signature = nullptr;
  const X509_ALGOR* algorithm = nullptr;
  X509_REQ_get0_signature(req.get(), &signature, &algorithm);
  if (signature == nullptr || algorithm == nullptr) {
    return Fail(ErrorCode::kInvalidInput, "certificate request without a signature");
  }
  FK_TRY(CheckSignatureFields(type, algorithm, signature));
  std::string signature_bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(signature)),
                              static_cast<std::size_t>(ASN1_STRING_length(signature)));
  return CertificateRequest(std::string(der), std::string(info), std::move(signature_bytes),
                            std::move(common_name), PublicKey(std::move(key), type));
}

Result<CertificateRequest> CertificateRequest::FromPem(std::string_view pem) {
  ossl::ErrorQueueScope errors;
  if (pem.size() > kMaxPemBytes) {
    return Fail(ErrorCode::kLimit, "PEM certificate request of " + std::to_string(pem.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(kMaxPemBytes));
  }
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long size = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &size) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "no PEM certificate request");
  }
  const std::string block_name(name);
  const bool has_header = header[0] != '\0';
  std::string der(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (block_name != PEM_STRING_X509_REQ && block_name != PEM_STRING_X509_REQ_OLD) {
    return Fail(ErrorCode::kInvalidInput,
                "expected a PEM CERTIFICATE REQUEST, found " + block_name);
  }
  if (has_header) {
    return Fail(ErrorCode::kInvalidInput, "PEM certificate request with headers (encrypted?)");
  }
  // Exactly one request: a second block of any kind is refused, not silently dropped.
  if (PEM_read_bio(bio.get(), &name, &header, &data, &size) == 1) {
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    return Fail(ErrorCode::kInvalidInput, "more than one PEM block around the certificate request");
  }
  ERR_clear_error();
  return FromDer(der);
}

std::string CertificateRequest::ToPem() const {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = ossl::WriteBio();
  if (PEM_write_bio(bio.get(), PEM_STRING_X509_REQ, "",
                    reinterpret_cast<const unsigned char*>(der_.data()),
                    static_cast<long>(der_.size())) <= 0) {
    ossl::Die("PEM_write_bio");
  }
  return ossl::BioContents(bio.get());
}

Status CertificateRequest::VerifySignature() const {
  // The algorithm and its parameters were checked against the key type when parsing, so the
  // scheme PublicKey::Verify applies is the one the request names.
  auto verified = key_.Verify(info_, signature_);
  if (!verified) {
    return Fail(ErrorCode::kIntegrity, "the certificate request is not signed by its key (" +
                                           verified.error().message() + ")");
  }
  return {};
}

}  // namespace fogkeep::crypto
