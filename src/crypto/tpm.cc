// SigningKey() hands OpenSSL a key through an EC_KEY_METHOD, which OpenSSL 3 declares
// deprecated; 3.0's TLS code has no other way to a signature made by another provider's key
// (see SigningKey below).
#define OPENSSL_SUPPRESS_DEPRECATED

#include "crypto/tpm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <mutex>
#include <vector>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

constexpr unsigned char kSealVersion = 1;
constexpr std::size_t kPointSize = 65;  // 0x04 || X || Y on P-256
constexpr std::string_view kSealInfo = "fogkeep tpm seal v1";
// A TSS2 PRIVATE KEY PEM of a P-256 key is well under 1 KiB.
constexpr std::size_t kMaxPemBytes = 16 << 10;

using LibCtxPtr = std::unique_ptr<OSSL_LIB_CTX, ossl::Free<OSSL_LIB_CTX_free>>;

// The uncompressed public point of an EC key.
Result<std::string> EncodedPoint(EVP_PKEY* key) {
  unsigned char buf[kPointSize + 1];
  std::size_t size = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf),
                                      &size) != 1 ||
      size != kPointSize) {
    return ossl::FailSsl(ErrorCode::kInternal, "reading an EC public point");
  }
  return std::string(reinterpret_cast<const char*>(buf), size);
}

// An ECDH shared secret (the x-coordinate) of `key` with `peer`, in `libctx` with `propq`.
Result<std::string> Derive(OSSL_LIB_CTX* libctx, EVP_PKEY* key, EVP_PKEY* peer, const char* propq,
                           ErrorCode failure) {
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(libctx, key, propq));
  if (!ctx) return ossl::FailSsl(ErrorCode::kInternal, "EVP_PKEY_CTX_new_from_pkey");
  std::size_t size = 0;
  if (EVP_PKEY_derive_init(ctx.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EVP_PKEY_derive_init");
  }
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1) {
    return ossl::FailSsl(ErrorCode::kIntegrity, "the ECDH peer key is not valid");
  }
  if (EVP_PKEY_derive(ctx.get(), nullptr, &size) != 1) {
    return ossl::FailSsl(failure, "ECDH");
  }
  std::string secret(size, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &size) != 1) {
    Wipe(secret);
    return ossl::FailSsl(failure, "ECDH");
  }
  secret.resize(size);
  return secret;
}

std::string SealInfo(std::string_view ephemeral_point, std::string_view tpm_point) {
  std::string info(kSealInfo);
  info.append(ephemeral_point);
  info.append(tpm_point);
  return info;
}

}  // namespace

// Members are destroyed in reverse order: the keys go before the providers that made them,
// and the providers before their library context.
struct TpmKey::State {
  LibCtxPtr libctx;
  std::unique_ptr<OSSL_PROVIDER, ossl::Free<OSSL_PROVIDER_unload>> default_provider;
  std::unique_ptr<OSSL_PROVIDER, ossl::Free<OSSL_PROVIDER_unload>> tpm2_provider;
  ossl::PkeyPtr key;         // held by the TPM (tpm2 provider, private context)
  ossl::PkeyPtr public_key;  // a software copy of its public half (process default context)
  std::string pem;
  std::string point;
  // Held while `key` is used (signing, ECDH): the state is shared by the TpmKey and every
  // PrivateKey made from it, which any thread may use.
  std::mutex tpm_mu;

  // A private library context with the tpm2 and default providers loaded.
  static Result<std::shared_ptr<State>> Connect() {
    auto state = std::make_shared<State>();
    state->libctx.reset(OSSL_LIB_CTX_new());
    if (!state->libctx) ossl::Die("OSSL_LIB_CTX_new");
    state->default_provider.reset(OSSL_PROVIDER_load(state->libctx.get(), "default"));
    if (!state->default_provider) {
      return ossl::FailSsl(ErrorCode::kInternal, "loading the default provider");
    }
    // Loading initialises the provider, which connects to the TPM.
    state->tpm2_provider.reset(OSSL_PROVIDER_load(state->libctx.get(), "tpm2"));
    if (!state->tpm2_provider) {
      return ossl::FailSsl(ErrorCode::kUnavailable,
                           "cannot use the TPM through OpenSSL's tpm2 provider (is tpm2-openssl "
                           "installed and a TPM reachable, or TPM2OPENSSL_TCTI set?)");
    }
    return state;
  }

  // Fills pem (when empty), public_key and point from `key`; refuses anything but P-256.
  Status Describe() {
    unsigned char* der = nullptr;
    int size = i2d_PUBKEY(key.get(), &der);
    if (size <= 0) return ossl::FailSsl(ErrorCode::kIntegrity, "the TPM key has no public key");
    const unsigned char* p = der;
    public_key.reset(d2i_PUBKEY(nullptr, &p, size));
    OPENSSL_free(der);
    if (!public_key) return ossl::FailSsl(ErrorCode::kIntegrity, "decoding the TPM public key");
    auto type = ossl::DetectKeyType(public_key.get());
    if (!type || *type != KeyType::kEcdsaP256) {
      return Fail(ErrorCode::kIntegrity, "the TPM key is not a P-256 key");
    }
    point = FK_TRY(EncodedPoint(public_key.get()));
    if (pem.empty()) {
      ossl::BioPtr bio = ossl::WriteBio();
      if (PEM_write_bio_PrivateKey_ex(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr,
                                      libctx.get(), "provider=tpm2") != 1) {
        return ossl::FailSsl(ErrorCode::kInternal, "encoding the TPM key as TSS2 PEM");
      }
      pem = ossl::BioContents(bio.get());
    }
    return {};
  }

  // The DER ECDSA signature of `digest` (a SHA-256, SHA-384 or SHA-512 hash, told apart by its
  // size) by the TPM key, written to `sig` of `*sig_size` bytes; `*sig_size` becomes its length.
  // False on failure, with OpenSSL's reasons left on the error queue for the caller's message.
  bool SignDigest(const unsigned char* digest, int size, unsigned char* sig,
                  std::size_t* sig_size) {
    const EVP_MD* md = size == 32   ? EVP_sha256()
                       : size == 48 ? EVP_sha384()
                       : size == 64 ? EVP_sha512()
                                    : nullptr;
    if (md == nullptr) {
      ERR_raise_data(ERR_LIB_EVP, EVP_R_INVALID_DIGEST,
                     "a %d-byte digest is not a SHA-256, SHA-384 or SHA-512 hash", size);
      return false;
    }
    std::lock_guard lock(tpm_mu);
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(libctx.get(), key.get(), "provider=tpm2"));
    return ctx && EVP_PKEY_sign_init(ctx.get()) == 1 &&
           EVP_PKEY_CTX_set_signature_md(ctx.get(), md) == 1 &&
           EVP_PKEY_sign(ctx.get(), sig, sig_size, digest, static_cast<std::size_t>(size)) == 1;
  }
};

namespace {

// SigningKey's keys: an EC_KEY holding only the public point, whose EC_KEY_METHOD signs with
// the TPM. The EC_KEY owns a reference to the state in its ex_data (a heap shared_ptr), so the
// TPM connection lives as long as the last EVP_PKEY holding it, wherever OpenSSL keeps it.

int DupStateReference(CRYPTO_EX_DATA* /*to*/, const CRYPTO_EX_DATA* /*from*/, void** from_d,
                      int /*idx*/, long /*argl*/, void* /*argp*/) {
  auto** held = reinterpret_cast<std::shared_ptr<TpmKey::State>**>(from_d);
  if (*held != nullptr) *held = new std::shared_ptr<TpmKey::State>(**held);
  return 1;
}

void FreeStateReference(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                        long /*argl*/, void* /*argp*/) {
  delete static_cast<std::shared_ptr<TpmKey::State>*>(ptr);
}

int StateIndex() {
  static const int index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EC_KEY, 0, nullptr, nullptr,
                                                   DupStateReference, FreeStateReference);
  return index;
}

// ECDSA_sign's hook. `sig` has room for ECDSA_size(ec) bytes. `kinv` and `r` (precomputed
// nonce values) do not apply: the TPM draws its own nonce.
int SignInTpm(int /*type*/, const unsigned char* digest, int size, unsigned char* sig,
              unsigned int* sig_size, const BIGNUM* /*kinv*/, const BIGNUM* /*r*/, EC_KEY* ec) {
  auto* held = static_cast<std::shared_ptr<TpmKey::State>*>(EC_KEY_get_ex_data(ec, StateIndex()));
  const int capacity = ECDSA_size(ec);
  if (held == nullptr || capacity <= 0) {
    ERR_raise(ERR_LIB_EC, EC_R_MISSING_PRIVATE_KEY);
    return 0;
  }
  std::size_t written = static_cast<std::size_t>(capacity);
  if (!(*held)->SignDigest(digest, size, sig, &written)) return 0;
  *sig_size = static_cast<unsigned int>(written);
  return 1;
}

// ECDSA_do_sign's hook: the same signature, parsed.
ECDSA_SIG* SignSigInTpm(const unsigned char* digest, int size, const BIGNUM* /*kinv*/,
                        const BIGNUM* /*r*/, EC_KEY* ec) {
  const int capacity = ECDSA_size(ec);
  if (capacity <= 0) return nullptr;
  std::vector<unsigned char> der(static_cast<std::size_t>(capacity));
  unsigned int size_written = 0;
  if (SignInTpm(0, digest, size, der.data(), &size_written, nullptr, nullptr, ec) != 1) {
    return nullptr;
  }
  const unsigned char* p = der.data();
  return d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(size_written));
}

// OpenSSL's own EC method with signing replaced; verification and the rest stay in software.
const EC_KEY_METHOD* TpmSigningMethod() {
  static EC_KEY_METHOD* const method = [] {
    EC_KEY_METHOD* m = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    if (m == nullptr) ossl::Die("EC_KEY_METHOD_new");
    EC_KEY_METHOD_set_sign(m, SignInTpm, nullptr, SignSigInTpm);
    return m;
  }();
  return method;
}

using EcKeyPtr = std::unique_ptr<EC_KEY, ossl::Free<EC_KEY_free>>;

}  // namespace

Result<TpmKey> TpmKey::Generate() {
  ossl::ErrorQueueScope errors;
  std::shared_ptr<State> state = FK_TRY(State::Connect());
  state->key.reset(EVP_PKEY_Q_keygen(state->libctx.get(), "provider=tpm2", "EC", "P-256"));
  if (!state->key) {
    return ossl::FailSsl(ErrorCode::kUnavailable, "generating a P-256 key in the TPM");
  }
  FK_TRY(state->Describe());
  return TpmKey(std::move(state));
}

Result<TpmKey> TpmKey::Load(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return Fail(ErrorCode::kIntegrity,
                "a TPM key PEM of " + std::to_string(pem.size()) + " bytes is too large to be one");
  }
  if (pem.find("-----BEGIN TSS2 PRIVATE KEY-----") == std::string_view::npos) {
    return Fail(ErrorCode::kIntegrity, "not a TPM key (no TSS2 PRIVATE KEY PEM block)");
  }
  ossl::ErrorQueueScope errors;
  std::shared_ptr<State> state = FK_TRY(State::Connect());
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  state->key.reset(PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, ossl::RefusePassword, nullptr,
                                              state->libctx.get(), "?provider=tpm2"));
  if (!state->key) {
    // The provider reports a blob of another TPM, an altered blob and a malformed one alike.
    return ossl::FailSsl(ErrorCode::kIntegrity,
                         "this TPM cannot load the key (made by another TPM, or altered)");
  }
  state->pem.assign(pem);
  FK_TRY(state->Describe());
  return TpmKey(std::move(state));
}

const std::string& TpmKey::pem() const { return state_->pem; }
const std::string& TpmKey::public_point() const { return state_->point; }

Result<std::string> TpmKey::Seal(std::string_view secret, std::string_view aad) const {
  ossl::ErrorQueueScope errors;
  ossl::PkeyPtr ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!ephemeral) return ossl::FailSsl(ErrorCode::kInternal, "generating an ephemeral key");
  std::string ephemeral_point = FK_TRY(EncodedPoint(ephemeral.get()));
  std::string shared = FK_TRY(
      Derive(nullptr, ephemeral.get(), state_->public_key.get(), nullptr, ErrorCode::kInternal));
  std::string key =
      HkdfSha256(shared, "", SealInfo(ephemeral_point, state_->point), kAes256KeySize);
  Wipe(shared);
  auto body = AesGcmSeal(key, secret, aad);
  Wipe(key);
  if (!body) return Fail(std::move(body).error());
  std::string out(1, static_cast<char>(kSealVersion));
  out += ephemeral_point;
  out += *body;
  return out;
}

Result<std::string> TpmKey::Unseal(std::string_view sealed, std::string_view aad) const {
  if (sealed.size() < 1 + kPointSize + kGcmOverhead ||
      static_cast<unsigned char>(sealed[0]) != kSealVersion) {
    return Fail(ErrorCode::kIntegrity, "not a TPM-sealed blob of this version");
  }
  std::string ephemeral_point(sealed.substr(1, kPointSize));
  std::string_view body = sealed.substr(1 + kPointSize);

  ossl::ErrorQueueScope errors;
  // The ephemeral public key, built by the private context's default provider and validated
  // (on the curve) when it is set as the ECDH peer.
  char group[] = "P-256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, ephemeral_point.data(),
                                        ephemeral_point.size()),
      OSSL_PARAM_construct_end()};
  ossl::PkeyCtxPtr from_data(
      EVP_PKEY_CTX_new_from_name(state_->libctx.get(), "EC", "provider=default"));
  EVP_PKEY* raw_peer = nullptr;
  if (!from_data || EVP_PKEY_fromdata_init(from_data.get()) != 1 ||
      EVP_PKEY_fromdata(from_data.get(), &raw_peer, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ossl::DrainErrors();
    return Fail(ErrorCode::kIntegrity, "the TPM-sealed blob carries an invalid public point");
  }
  ossl::PkeyPtr peer(raw_peer);
  std::unique_lock lock(state_->tpm_mu);
  std::string shared = FK_TRY(Derive(state_->libctx.get(), state_->key.get(), peer.get(),
                                     "?provider=tpm2", ErrorCode::kUnavailable));
  lock.unlock();
  std::string key =
      HkdfSha256(shared, "", SealInfo(ephemeral_point, state_->point), kAes256KeySize);
  Wipe(shared);
  auto secret = AesGcmOpen(key, body, aad);
  Wipe(key);
  return secret;
}

// Why not the tpm2 provider's key itself: OpenSSL 3.0's TLS code fetches the signature for its
// CertificateVerify by algorithm name, with the SSL_CTX's library context and property query,
// one query for the whole handshake. In the process-wide context that is the default
// provider's ECDSA, to which a tpm2 key exports only its public half ("missing private key").
// An SSL_CTX made in this key's context cannot do better: no query picks the tpm2 provider's
// ECDSA for this key without also sending the handshake's hashing, key exchange or the server's
// signature check to the TPM (which, besides being slow, runs out of TPM object slots), and
// "?provider=default" picks the default provider's ECDSA again. A key with its own
// EC_KEY_METHOD is a "foreign" legacy key to OpenSSL 3.0, which calls the method's sign hook
// in any context, TLS and EVP_DigestSign alike; only that hook reaches the TPM.
Result<PrivateKey> TpmKey::SigningKey() const {
  ossl::ErrorQueueScope errors;
  EcKeyPtr ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (!ec) return ossl::FailSsl(ErrorCode::kInternal, "EC_KEY_new_by_curve_name");
  if (EC_KEY_oct2key(ec.get(), reinterpret_cast<const unsigned char*>(state_->point.data()),
                     state_->point.size(), nullptr) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "setting the TPM key's public point");
  }
  // The method first: OpenSSL decides that a key is foreign when it is assigned to an EVP_PKEY.
  if (EC_KEY_set_method(ec.get(), TpmSigningMethod()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EC_KEY_set_method");
  }
  auto reference = std::make_unique<std::shared_ptr<State>>(state_);
  if (EC_KEY_set_ex_data(ec.get(), StateIndex(), reference.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EC_KEY_set_ex_data");
  }
  reference.release();  // freed with the EC_KEY (FreeStateReference)
  ossl::PkeyPtr pkey(EVP_PKEY_new());
  if (!pkey || EVP_PKEY_assign_EC_KEY(pkey.get(), ec.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "EVP_PKEY_assign_EC_KEY");
  }
  ec.release();  // owned by pkey
  const KeyType type = FK_TRY(ossl::DetectKeyType(pkey.get()));
  return PrivateKey(ossl::SharePkey(pkey.release()), type);
}

}  // namespace fogkeep::crypto
