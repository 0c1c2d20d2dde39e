#include "crypto/tpm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

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
};

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
  std::string shared = FK_TRY(Derive(state_->libctx.get(), state_->key.get(), peer.get(),
                                     "?provider=tpm2", ErrorCode::kUnavailable));
  std::string key =
      HkdfSha256(shared, "", SealInfo(ephemeral_point, state_->point), kAes256KeySize);
  Wipe(shared);
  auto secret = AesGcmOpen(key, body, aad);
  Wipe(key);
  return secret;
}

}  // namespace fogkeep::crypto
