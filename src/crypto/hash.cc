#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>

#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

const EVP_MD* MdFor(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::kSha1 ? EVP_sha1() : EVP_sha256();
}

void InitDigest(EVP_MD_CTX* ctx, const EVP_MD* md) {
  if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1) ossl::Die("EVP_DigestInit_ex2");
}

// Base64 of at most this many input bytes is encoded per EVP_EncodeBlock call, so every length
// passed to OpenSSL fits an int. A multiple of 3, so chunks concatenate without padding.
constexpr std::size_t kEncodeChunk = 3 << 20;
// The decoding counterpart: a multiple of 4 characters.
constexpr std::size_t kDecodeChunk = 4 << 20;

// Value of a base64 character of the standard alphabet, or -1.
int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Digest::Digest(DigestAlgorithm algorithm) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) ossl::Die("EVP_MD_CTX_new");
  ctx_.reset(ctx, EVP_MD_CTX_free);
  InitDigest(ctx, MdFor(algorithm));
}

void Digest::Update(const void* data, std::size_t size) {
  if (size == 0) return;
  if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) ossl::Die("EVP_DigestUpdate");
}

std::string Digest::Final() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out, &size) != 1) ossl::Die("EVP_DigestFinal_ex");
  // Restart with the same algorithm, so a second use digests fresh input rather than failing.
  InitDigest(ctx_.get(), EVP_MD_CTX_get0_md(ctx_.get()));
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string Digest::HexFinal() { return ToHex(Final()); }

std::string Sha256Hex(std::string_view data) {
  Digest digest(DigestAlgorithm::kSha256);
  digest.Update(data);
  return digest.HexFinal();
}

std::string ToHex(std::string_view bytes) {
  return ossl::Hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::string block;
  while (!bytes.empty()) {
    std::size_t n = std::min(bytes.size(), kEncodeChunk);
    block.resize((n + 2) / 3 * 4 + 1);  // EVP_EncodeBlock writes a terminating NUL
    int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(block.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(n));
    out.append(block.data(), static_cast<std::size_t>(written));
    bytes.remove_prefix(n);
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.size() % 4 != 0) {
    return Fail(ErrorCode::kInvalidInput, "invalid base64: length " + std::to_string(text.size()) +
                                              " is not a multiple of 4");
  }
  if (text.empty()) return std::string();

  // Padding may only end the text: "xx==" or "xxx=". EVP_DecodeBlock alone would accept
  // whitespace, and decodes "=" in the middle of the input, so the text is checked here first.
  std::size_t padding = 0;
  if (text[text.size() - 1] == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    if (Base64Value(text[i]) < 0) {
      return Fail(ErrorCode::kInvalidInput,
                  "invalid base64: unexpected character at offset " + std::to_string(i));
    }
  }
  // The bits after the last encoded byte must be zero, so each byte string has exactly one
  // encoding.
  int last = Base64Value(text[text.size() - 1 - padding]);
  if ((padding == 2 && (last & 0x0f) != 0) || (padding == 1 && (last & 0x03) != 0)) {
    return Fail(ErrorCode::kInvalidInput, "invalid base64: non-zero bits in the padding");
  }

  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::string block;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t n = std::min(rest.size(), kDecodeChunk);
    block.resize(n / 4 * 3);
    int written =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(block.data()),
                        reinterpret_cast<const unsigned char*>(rest.data()), static_cast<int>(n));
    if (written < 0 || static_cast<std::size_t>(written) != n / 4 * 3) {
      ossl::DrainErrors();
      return Fail(ErrorCode::kInvalidInput, "invalid base64");
    }
    out.append(block.data(), static_cast<std::size_t>(written));
    rest.remove_prefix(n);
  }
  // EVP_DecodeBlock decodes padding as zero bytes; they are not part of the data.
  out.resize(out.size() - padding);
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string text = Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  // Four characters carry three bytes; a last group of one character carries none.
  if (text.size() % 4 == 1) {
    return Fail(ErrorCode::kInvalidInput, "invalid base64url: length " +
                                              std::to_string(text.size()) +
                                              " is not that of an unpadded encoding");
  }
  std::string standard(text);
  for (std::size_t i = 0; i < standard.size(); ++i) {
    char& c = standard[i];
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || Base64Value(c) < 0) {
      return Fail(ErrorCode::kInvalidInput,
                  "invalid base64url: unexpected character at offset " + std::to_string(i));
    }
  }
  // The bits after the last encoded byte must be zero (2 characters carry 1 byte and 4 spare
  // bits, 3 carry 2 bytes and 2 spare bits).
  const std::size_t tail = standard.size() % 4;
  if (tail != 0) {
    const int last = Base64Value(standard.back());
    if ((tail == 2 && (last & 0x0f) != 0) || (tail == 3 && (last & 0x03) != 0)) {
      return Fail(ErrorCode::kInvalidInput,
                  "invalid base64url: non-zero bits after the last encoded byte");
    }
    standard.append(4 - tail, '=');
  }
  return Base64Decode(standard);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> Md5(std::string_view data) {
  ossl::ErrorQueueScope errors;
  // Fetched once and kept for the life of the process: a fetch per call would take the
  // provider store's lock for every RADIUS packet. Null when no provider offers MD5.
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  if (md5 == nullptr) {
    return ossl::FailSsl(ErrorCode::kUnavailable, "MD5 is not offered by the OpenSSL providers");
  }
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) ossl::Die("EVP_MD_CTX_new");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestInit_ex2(ctx.get(), md5, nullptr) != 1 ||
      (!data.empty() && EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1) ||
      EVP_DigestFinal_ex(ctx.get(), out, &size) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "MD5");
  }
  return std::string(reinterpret_cast<const char*>(out), size);
}

namespace {

// HMAC with the digest named `digest_name` ("MD5", "SHA256").
Result<std::string> Hmac(const char* digest_name, std::string_view key, std::string_view data) {
  ossl::ErrorQueueScope errors;
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (hmac == nullptr) {
    return ossl::FailSsl(ErrorCode::kUnavailable, "HMAC is not offered by the OpenSSL providers");
  }
  std::unique_ptr<EVP_MAC_CTX, ossl::Free<EVP_MAC_CTX_free>> ctx(EVP_MAC_CTX_new(hmac));
  if (ctx == nullptr) ossl::Die("EVP_MAC_CTX_new");
  std::string digest(digest_name);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
                         OSSL_PARAM_construct_end()};
  // A null key pointer would mean "keep the previous key"; an empty key is a valid key.
  static const unsigned char kNoKey = 0;
  const auto* key_bytes =
      key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) != 1) {
    return ossl::FailSsl(ErrorCode::kUnavailable,
                         "HMAC-" + digest + " is not offered by the OpenSSL providers");
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t size = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if ((!data.empty() && EVP_MAC_update(ctx.get(), bytes, data.size()) != 1) ||
      EVP_MAC_final(ctx.get(), out, &size, sizeof(out)) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "HMAC-" + digest);
  }
  return std::string(reinterpret_cast<const char*>(out), size);
}

}  // namespace

Result<std::string> HmacMd5(std::string_view key, std::string_view data) {
  return Hmac("MD5", key, data);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  // The default provider always offers HMAC-SHA-256; only a broken library fails here.
  auto mac = Hmac("SHA256", key, data);
  if (!mac) ossl::Die("HMAC-SHA256: " + mac.error().message());
  return std::move(mac).value();
}

std::string HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       std::size_t size) {
  constexpr std::size_t kMaxSize = 255 * 32;  // RFC 5869: at most 255 hash lengths
  if (size == 0 || size > kMaxSize) ossl::Die("HKDF-SHA256: output size out of range");
  ossl::ErrorQueueScope errors;
  static EVP_KDF* const hkdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr);
  if (hkdf == nullptr) ossl::Die("EVP_KDF_fetch(HKDF)");
  std::unique_ptr<EVP_KDF_CTX, ossl::Free<EVP_KDF_CTX_free>> ctx(EVP_KDF_CTX_new(hkdf));
  if (ctx == nullptr) ossl::Die("EVP_KDF_CTX_new");
  char digest[] = "SHA256";
  // OSSL_PARAM wants non-const pointers; HKDF only reads them. An empty key or salt still needs
  // a non-null pointer.
  static unsigned char kEmpty = 0;
  auto bytes = [](std::string_view s) {
    return s.empty() ? &kEmpty : reinterpret_cast<unsigned char*>(const_cast<char*>(s.data()));
  };
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, bytes(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, bytes(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, bytes(info), info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(size, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), size, params) != 1) {
    ossl::Die("EVP_KDF_derive(HKDF)");
  }
  return out;
}

std::string RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  while (n > 0) {
    int chunk = static_cast<int>(std::min<std::size_t>(n, INT_MAX));
    // Without a working CSPRNG, keys, serials and tokens would be predictable: stop here.
    if (RAND_bytes(p, chunk) != 1) ossl::Die("RAND_bytes");
    p += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
  return out;
}

void Wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace fogkeep::crypto
