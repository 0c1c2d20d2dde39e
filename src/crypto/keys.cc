#include "crypto/keys.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/fs.h"
#include "crypto/hash.h"
#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

constexpr std::size_t kRsaBits = 3072;
// Bytes of a P-256 field element or scalar.
constexpr std::size_t kP256Bytes = 32;
// A PEM key file is a few kilobytes; anything much larger is not one.
constexpr std::size_t kMaxKeyFileBytes = 1 << 20;

// The property query that fetches a signature from the provider holding `key`:
// "provider=<name>" for a key another provider holds (the tpm2 provider's, in a library context
// of its own), "" for keys of the default provider and legacy keys.
//
// Without it the default provider's signature is fetched, and the key is exported to it: a
// provider-held private key exports only its public half, and signing fails ("missing private
// key"). With it, the fetch finds no such provider in the process-wide context, and OpenSSL
// takes the signature from the key's own provider, in the key's own context, instead.
std::string HoldingProviderQuery(const EVP_PKEY* key) {
  const OSSL_PROVIDER* provider = EVP_PKEY_get0_provider(key);
  const char* name = provider == nullptr ? nullptr : OSSL_PROVIDER_get0_name(provider);
  if (name == nullptr || std::string_view(name) == "default") return {};
  return std::string("provider=") + name;
}

// Creates a signing or verification context for `key` with the scheme of `type`.
Result<ossl::MdCtxPtr> SignatureContext(EVP_PKEY* key, KeyType type, bool sign) {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return ossl::FailSsl(ErrorCode::kInternal, "EVP_MD_CTX_new");
  const char* md = type == KeyType::kEd25519 ? nullptr : "SHA256";
  EVP_PKEY_CTX* pctx = nullptr;
  // Verification needs only the public key, which every provider can export.
  const std::string query = sign ? HoldingProviderQuery(key) : std::string();
  const char* propq = query.empty() ? nullptr : query.c_str();
  int ok = sign ? EVP_DigestSignInit_ex(ctx.get(), &pctx, md, nullptr, propq, key, nullptr)
                : EVP_DigestVerifyInit_ex(ctx.get(), &pctx, md, nullptr, nullptr, key, nullptr);
  if (ok != 1) {
    return ossl::FailSsl(ErrorCode::kInternal,
                         sign ? "EVP_DigestSignInit_ex" : "EVP_DigestVerifyInit_ex");
  }
  if (type == KeyType::kRsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EVP_PKEY_CTX_set_rsa_padding");
  }
  return ctx;
}

using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ossl::Free<ECDSA_SIG_free>>;

// `n` as kP256Bytes big-endian bytes; false when it is negative or does not fit.
bool P256Bytes(const BIGNUM* n, std::string* out) {
  out->assign(kP256Bytes, '\0');
  return n != nullptr && !BN_is_negative(n) &&
         BN_bn2binpad(n, reinterpret_cast<unsigned char*>(out->data()), kP256Bytes) ==
             static_cast<int>(kP256Bytes);
}

ossl::BignumPtr BignumFrom(std::string_view bytes) {
  ossl::BignumPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                              static_cast<int>(bytes.size()), nullptr));
  if (!n) ossl::Die("BN_bin2bn");
  return n;
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa:
      return "rsa";
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kEd25519:
      return "ed25519";
  }
  return "unknown";
}

Result<KeyType> ParseKeyType(std::string_view name) {
  for (KeyType type : {KeyType::kRsa, KeyType::kEcdsaP256, KeyType::kEd25519}) {
    if (name == KeyTypeName(type)) return type;
  }
  return Fail(ErrorCode::kInvalidInput, "unknown key type \"" + std::string(name) +
                                            "\" (expected rsa, ecdsa-p256 or ed25519)");
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, ossl::RefusePassword, nullptr);
  if (raw == nullptr) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "no PEM public key (SubjectPublicKeyInfo)");
  }
  std::shared_ptr<EVP_PKEY> key = ossl::SharePkey(raw);
  KeyType type = FK_TRY(ossl::DetectKeyType(key.get()));
  return PublicKey(std::move(key), type);
}

Result<PublicKey> PublicKey::FromEcP256Point(const EcP256Point& point) {
  if (point.x.size() != kP256Bytes || point.y.size() != kP256Bytes) {
    return Fail(ErrorCode::kInvalidInput, "a P-256 coordinate must be 32 bytes");
  }
  ossl::ErrorQueueScope errors;
  std::string encoded = "\x04" + point.x + point.y;  // SEC 1 uncompressed point
  char group[] = "P-256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size()),
      OSSL_PARAM_construct_end()};
  ossl::PkeyCtxPtr from_data(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!from_data) ossl::Die("EVP_PKEY_CTX_new_from_name(EC)");
  EVP_PKEY* raw = nullptr;
  // Decoding the point refuses coordinates outside the field and points off the curve; the
  // public key check then also refuses the point at infinity and points outside the group.
  if (EVP_PKEY_fromdata_init(from_data.get()) != 1 ||
      EVP_PKEY_fromdata(from_data.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ossl::DrainErrors();
    return Fail(ErrorCode::kInvalidInput, "the coordinates are not a point on P-256");
  }
  std::shared_ptr<EVP_PKEY> key = ossl::SharePkey(raw);
  ossl::PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) ossl::Die("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    ossl::DrainErrors();
    return Fail(ErrorCode::kInvalidInput, "the coordinates are not a valid P-256 public key");
  }
  return PublicKey(std::move(key), KeyType::kEcdsaP256);
}

int PublicKey::bits() const { return EVP_PKEY_get_bits(key_.get()); }

Result<std::string> PublicKey::ToPem() const {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = ossl::WriteBio();
  if (PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "PEM_write_bio_PUBKEY");
  }
  return ossl::BioContents(bio.get());
}

Status PublicKey::Verify(std::string_view message, std::string_view signature) const {
  ossl::ErrorQueueScope errors;
  auto type = ossl::CheckedKeyType(key_.get(), type_);
  if (!type) return Fail(ErrorCode::kIntegrity, "refusing key: " + type.error().message());
  auto ctx = SignatureContext(key_.get(), *type, /*sign=*/false);
  if (!ctx) return Fail(ErrorCode::kIntegrity, "refusing key: " + ctx.error().message());
  int ok = EVP_DigestVerify(ctx->get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (ok != 1) {
    // 0 is a wrong signature; a negative value is a malformed one (bad DER, wrong length).
    // Both mean the same to the caller, and OpenSSL's text adds nothing useful.
    return Fail(ErrorCode::kIntegrity,
                "the " + std::string(KeyTypeName(*type)) + " signature does not verify");
  }
  return {};
}

std::string PublicKey::Fingerprint() const {
  ossl::ErrorQueueScope errors;
  unsigned char* der = nullptr;
  // Only a key a certificate carried but OpenSSL could not decode has no encoding.
  int size = i2d_PUBKEY(key_.get(), &der);
  if (size <= 0) return {};
  std::string hex = Sha256Hex(std::string_view(reinterpret_cast<const char*>(der), size));
  OPENSSL_free(der);
  return hex;
}

Result<EcP256Point> PublicKey::EcPoint() const {
  if (type_ != KeyType::kEcdsaP256) {
    return Fail(ErrorCode::kInvalidInput,
                "a " + std::string(KeyTypeName(type_)) + " key has no P-256 point");
  }
  ossl::ErrorQueueScope errors;
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  const bool got = EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
                   EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
  ossl::BignumPtr own_x(x);
  ossl::BignumPtr own_y(y);
  EcP256Point point;
  if (!got || !P256Bytes(x, &point.x) || !P256Bytes(y, &point.y)) {
    return ossl::FailSsl(ErrorCode::kInternal, "reading the P-256 point");
  }
  return point;
}

// ---- ECDSA signature forms ----

Result<std::string> EcdsaP256SignatureToRaw(std::string_view der) {
  ossl::ErrorQueueScope errors;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  // A P-256 signature takes at most 72 bytes of DER; the bound also keeps the length in a long.
  EcdsaSigPtr sig(der.size() > 2 * kP256Bytes + 16
                      ? nullptr
                      : d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != reinterpret_cast<const unsigned char*>(der.data() + der.size())) {
    ossl::DrainErrors();
    return Fail(ErrorCode::kInvalidInput, "not one DER ECDSA signature");
  }
  std::string r;
  std::string s;
  if (!P256Bytes(ECDSA_SIG_get0_r(sig.get()), &r) || !P256Bytes(ECDSA_SIG_get0_s(sig.get()), &s)) {
    return Fail(ErrorCode::kInvalidInput, "the ECDSA signature's r or s is out of range for P-256");
  }
  return r + s;
}

Result<std::string> EcdsaP256SignatureToDer(std::string_view raw) {
  if (raw.size() != kEcdsaP256RawSignatureBytes) {
    return Fail(ErrorCode::kInvalidInput,
                "a raw P-256 signature is 64 bytes, not " + std::to_string(raw.size()));
  }
  ossl::ErrorQueueScope errors;
  ossl::BignumPtr r = BignumFrom(raw.substr(0, kP256Bytes));
  ossl::BignumPtr s = BignumFrom(raw.substr(kP256Bytes));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  // ECDSA_SIG_set0 takes ownership of r and s only when it succeeds.
  if (!sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) ossl::Die("ECDSA_SIG_set0");
  (void)r.release();
  (void)s.release();
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(sig.get(), &der);
  if (size <= 0) ossl::Die("i2d_ECDSA_SIG");
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  ossl::ErrorQueueScope errors;
  EVP_PKEY* raw = nullptr;
  switch (type) {
    case KeyType::kRsa:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", kRsaBits);
      break;
    case KeyType::kEcdsaP256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEd25519:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  if (raw == nullptr) {
    return ossl::FailSsl(ErrorCode::kInternal,
                         "generating a " + std::string(KeyTypeName(type)) + " key");
  }
  return PrivateKey(ossl::SharePkey(raw), type);
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  bool password_asked = false;
  EVP_PKEY* raw = PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, ossl::RefusePassword,
                                             &password_asked, nullptr, nullptr);
  if (raw == nullptr) {
    if (password_asked || pem.find("ENCRYPTED") != std::string_view::npos) {
      ossl::DrainErrors();
      return Fail(ErrorCode::kInvalidInput, "encrypted private keys are not supported");
    }
    return ossl::FailSsl(ErrorCode::kInvalidInput, "no PEM private key");
  }
  std::shared_ptr<EVP_PKEY> key = ossl::SharePkey(raw);
  KeyType type = FK_TRY(ossl::DetectKeyType(key.get()));
  return PrivateKey(std::move(key), type);
}

Result<PrivateKey> PrivateKey::Load(const std::string& path) {
  std::string pem = FK_TRY(fs::ReadFile(path, kMaxKeyFileBytes));
  auto key = FromPem(pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) return Fail(std::move(key).error().With(path));
  return key;
}

Result<std::string> PrivateKey::ToPem() const {
  ossl::ErrorQueueScope errors;
  // The secure-memory BIO wipes its buffer when freed.
  ossl::BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return ossl::FailSsl(ErrorCode::kInternal, "BIO_new");
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1) {
    return ossl::FailSsl(ErrorCode::kInternal, "PEM_write_bio_PKCS8PrivateKey");
  }
  return ossl::BioContents(bio.get());
}

Status PrivateKey::Save(const std::string& path) const {
  std::string pem = FK_TRY(ToPem());
  Status written = fs::WriteFileAtomic(path, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!written) return Fail(std::move(written).error().With(path));
  return {};
}

PublicKey PrivateKey::Public() const {
  ossl::ErrorQueueScope errors;
  // A copy through the DER SubjectPublicKeyInfo, so the PublicKey holds no private material.
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key_.get(), &der);
  if (size <= 0) ossl::Die("i2d_PUBKEY");
  const unsigned char* p = der;
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, size);
  OPENSSL_free(der);
  if (pub == nullptr) ossl::Die("d2i_PUBKEY");
  return PublicKey(ossl::SharePkey(pub), type_);
}

Result<std::string> PrivateKey::Sign(std::string_view message) const {
  ossl::ErrorQueueScope errors;
  KeyType type = FK_TRY(ossl::CheckedKeyType(key_.get(), type_));
  ossl::MdCtxPtr ctx = FK_TRY(SignatureContext(key_.get(), type, /*sign=*/true));
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  std::size_t size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &size, data, message.size()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EVP_DigestSign");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                     message.size()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EVP_DigestSign");
  }
  signature.resize(size);  // ECDSA DER signatures are often shorter than the maximum
  return signature;
}

}  // namespace fogkeep::crypto
