#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>
#include <memory>

#include "crypto/hash.h"
#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, ossl::Free<EVP_CIPHER_CTX_free>>;

// EVP takes int lengths; every blob fogkeep seals is far below this.
constexpr std::size_t kMaxLength = INT_MAX - kGcmOverhead;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Status CheckKey(std::string_view key) {
  if (key.size() != kAes256KeySize) {
    return Fail(ErrorCode::kInvalidInput,
                "an AES-256 key is 32 bytes, not " + std::to_string(key.size()));
  }
  return {};
}

}  // namespace

std::string GenerateAes256Key() { return RandomBytes(kAes256KeySize); }

Result<std::string> AesGcmSeal(std::string_view key, std::string_view plaintext,
                               std::string_view aad) {
  FK_TRY(CheckKey(key));
  if (plaintext.size() > kMaxLength || aad.size() > kMaxLength) {
    return Fail(ErrorCode::kLimit, "AES-GCM input is too large");
  }
  ossl::ErrorQueueScope errors;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) ossl::Die("EVP_CIPHER_CTX_new");
  std::string out = RandomBytes(kGcmNonceSize);
  out.resize(kGcmNonceSize + plaintext.size() + kGcmTagSize);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  unsigned char* body = nonce + kGcmNonceSize;
  int len = 0;
  // The default nonce length of GCM in OpenSSL is 96 bits, the one this format uses.
  if (EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), Bytes(key), nonce, nullptr) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                         static_cast<int>(aad.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), body, &len, Bytes(plaintext),
                                               static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), body + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagSize),
                          body + plaintext.size()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "AES-256-GCM encryption");
  }
  return out;
}

Result<std::string> AesGcmOpen(std::string_view key, std::string_view sealed,
                               std::string_view aad) {
  FK_TRY(CheckKey(key));
  if (sealed.size() < kGcmOverhead) {
    return Fail(ErrorCode::kIntegrity, "sealed data of " + std::to_string(sealed.size()) +
                                           " bytes is too short to be AES-GCM output");
  }
  if (sealed.size() > kMaxLength + kGcmOverhead || aad.size() > kMaxLength) {
    return Fail(ErrorCode::kLimit, "AES-GCM input is too large");
  }
  ossl::ErrorQueueScope errors;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) ossl::Die("EVP_CIPHER_CTX_new");
  std::string_view nonce = sealed.substr(0, kGcmNonceSize);
  std::string_view body = sealed.substr(kGcmNonceSize, sealed.size() - kGcmOverhead);
  std::string tag(sealed.substr(sealed.size() - kGcmTagSize));
  std::string plaintext(body.size(), '\0');
  int len = 0;
  if (EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), Bytes(key), Bytes(nonce), nullptr) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                         static_cast<int>(aad.size())) != 1) ||
      (!body.empty() &&
       EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &len,
                         Bytes(body), static_cast<int>(body.size())) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagSize),
                          tag.data()) != 1) {
    Wipe(plaintext);
    return ossl::FailSsl(ErrorCode::kInternal, "AES-256-GCM decryption");
  }
  // The tag is checked here; until then the plaintext is unauthenticated and never returned.
  if (EVP_DecryptFinal_ex(
          ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + body.size(), &len) != 1) {
    Wipe(plaintext);
    ossl::DrainErrors();
    return Fail(ErrorCode::kIntegrity,
                "sealed data does not authenticate (wrong key or context, or altered bytes)");
  }
  return plaintext;
}

}  // namespace fogkeep::crypto
