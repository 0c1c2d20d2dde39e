// Streaming digests and encodings.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

struct evp_md_ctx_st;

namespace fogkeep::crypto {

enum class DigestAlgorithm { kSha256, kSha1 };  // SHA-1 only for legacy IOx manifests

// Incremental digest. Update() any number of times, then HexFinal() once.
class Digest {
 public:
  explicit Digest(DigestAlgorithm algorithm = DigestAlgorithm::kSha256);
  void Update(const void* data, std::size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  std::string Final();     // raw bytes
  std::string HexFinal();  // lowercase hex

 private:
  std::shared_ptr<evp_md_ctx_st> ctx_;
};

std::string Sha256Hex(std::string_view data);
std::string ToHex(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);  // one line, no newlines
// Strict decoding: standard alphabet, padding required, no whitespace except one trailing
// newline. Anything else is kInvalidInput.
Result<std::string> Base64Decode(std::string_view text);
// base64url (RFC 4648 section 5) without padding: the encoding of JOSE (RFC 7515 section 2),
// PKCE and fogkeep's random tokens.
std::string Base64UrlEncode(std::string_view bytes);
// Strict decoding, so that each byte string has exactly one accepted text: url alphabet only,
// no padding, no whitespace, no length of 1 modulo 4, and the unused bits of the last
// character zero. Anything else is kInvalidInput.
Result<std::string> Base64UrlDecode(std::string_view text);
// Constant-time equality of two byte strings (lengths may leak).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// MD5 (RFC 1321) and HMAC-MD5 (RFC 2104), 16 raw bytes each. Only for protocols that mandate
// them (RADIUS authenticators, RFC 2865 and RFC 3579); never for anything fogkeep designs.
// kUnavailable when the loaded OpenSSL providers offer no MD5 (a FIPS-only configuration).
Result<std::string> Md5(std::string_view data);
Result<std::string> HmacMd5(std::string_view key, std::string_view data);
// HMAC-SHA-256 (RFC 2104), 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);
// HKDF-SHA-256 (RFC 5869, extract then expand): `size` bytes (at most 255 * 32) of key
// material from the secret `ikm`. Distinct `info` strings give independent keys from one secret.
std::string HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       std::size_t size);

// Cryptographically secure random bytes.
std::string RandomBytes(std::size_t n);
// Overwrites `secret` with zeros (in a way the compiler keeps) and empties it: for keys and
// plaintexts that must not linger in freed memory.
void Wipe(std::string& secret);

// Wipes `secret` when the scope ends, on every path out (a request body that held a private
// key, a key being unsealed). The string must outlive the guard.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& secret) : secret_(secret) {}
  ~WipeOnExit() { Wipe(secret_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& secret_;
};

}  // namespace fogkeep::crypto
