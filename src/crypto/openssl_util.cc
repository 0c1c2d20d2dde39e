#include "crypto/openssl_util.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace fogkeep::crypto::ossl {
namespace {

constexpr int kMinRsaBits = 2048;

}  // namespace

std::shared_ptr<EVP_PKEY> SharePkey(EVP_PKEY* p) {
  return std::shared_ptr<EVP_PKEY>(p, EVP_PKEY_free);
}
std::shared_ptr<X509> ShareX509(X509* p) { return std::shared_ptr<X509>(p, X509_free); }
std::shared_ptr<X509_CRL> ShareCrl(X509_CRL* p) {
  return std::shared_ptr<X509_CRL>(p, X509_CRL_free);
}

ErrorQueueScope::ErrorQueueScope() { ERR_clear_error(); }
ErrorQueueScope::~ErrorQueueScope() { ERR_clear_error(); }

std::string DrainErrors() {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::unexpected<Error> FailSsl(ErrorCode code, std::string_view what) {
  std::string message(what);
  std::string errors = DrainErrors();
  if (!errors.empty()) message += ": " + errors;
  return Fail(code, std::move(message));
}

Result<BioPtr> ReadBio(std::string_view data) {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) {
    return Fail(ErrorCode::kLimit,
                "input of " + std::to_string(data.size()) + " bytes is too large");
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) return FailSsl(ErrorCode::kInternal, "BIO_new_mem_buf");
  return bio;
}

BioPtr WriteBio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) Die("BIO_new failed");
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(size));
}

Result<KeyType> DetectKeyType(const EVP_PKEY* key) {
  if (key == nullptr) return Fail(ErrorCode::kInvalidInput, "no key");
  // EVP_PKEY_is_a is exact: RSA-PSS restricted keys are a different type and are refused.
  if (EVP_PKEY_is_a(key, "RSA")) return KeyType::kRsa;
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[80] = {};
    std::size_t len = 0;
    // Keys with explicit curve parameters have no group name and are refused with the rest.
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalidInput, "unsupported EC key: the curve is not named");
    }
    int nid = OBJ_sn2nid(group);
    if (nid == NID_undef) nid = EC_curve_nist2nid(group);
    if (nid != NID_X9_62_prime256v1) {
      return Fail(ErrorCode::kInvalidInput,
                  "unsupported EC curve " + std::string(group) + " (only P-256 is supported)");
    }
    return KeyType::kEcdsaP256;
  }
  const char* name = EVP_PKEY_get0_type_name(key);
  return Fail(ErrorCode::kInvalidInput, "unsupported key type " +
                                            std::string(name != nullptr ? name : "(unknown)") +
                                            " (supported: rsa, ecdsa-p256, ed25519)");
}

Result<KeyType> CheckedKeyType(const EVP_PKEY* key, KeyType claimed) {
  KeyType actual = FK_TRY(DetectKeyType(key));
  if (actual != claimed) {
    return Fail(ErrorCode::kInvalidInput, "key is " + std::string(KeyTypeName(actual)) + ", not " +
                                              std::string(KeyTypeName(claimed)));
  }
  if (actual == KeyType::kRsa && EVP_PKEY_get_bits(key) < kMinRsaBits) {
    return Fail(ErrorCode::kInvalidInput, "RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) +
                                              " bits is too small (minimum " +
                                              std::to_string(kMinRsaBits) + ")");
  }
  return actual;
}

int RefusePassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  if (asked != nullptr) *static_cast<bool*>(asked) = true;
  return -1;
}

const EVP_MD* SignatureDigest(KeyType type) {
  return type == KeyType::kEd25519 ? nullptr : EVP_sha256();
}

std::string NameToString(const X509_NAME* name) {
  if (name == nullptr) return {};
  BioPtr bio = WriteBio();
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return {};
  }
  return BioContents(bio.get());
}

std::string Hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

void Die(std::string_view what) {
  std::fprintf(stderr, "fogkeep crypto: fatal: %.*s: %s\n", static_cast<int>(what.size()),
               what.data(), DrainErrors().c_str());
  std::abort();
}

}  // namespace fogkeep::crypto::ossl
