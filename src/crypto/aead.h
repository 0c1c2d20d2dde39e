// Authenticated encryption: AES-256-GCM with a random 96-bit nonce, in one self-contained blob.
//
// A sealed blob is nonce (12 bytes) || ciphertext (as long as the plaintext) || tag (16 bytes).
// The associated data is authenticated but not stored: the opener must supply the same bytes.
//
// Random nonces are safe for up to 2^32 seals under one key (NIST SP 800-38D, 8.3); a key used
// for more must be replaced, or each message given its own key (HkdfSha256 over a unique label).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::crypto {

inline constexpr std::size_t kAes256KeySize = 32;
inline constexpr std::size_t kGcmNonceSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;
// Bytes a sealed blob adds to its plaintext.
inline constexpr std::size_t kGcmOverhead = kGcmNonceSize + kGcmTagSize;

// A fresh random AES-256 key.
std::string GenerateAes256Key();

// Encrypts and authenticates `plaintext` and authenticates `aad` under `key` (32 bytes, else
// kInvalidInput). Returns nonce || ciphertext || tag.
Result<std::string> AesGcmSeal(std::string_view key, std::string_view plaintext,
                               std::string_view aad);

// The plaintext of a blob from AesGcmSeal. kIntegrity when the blob is too short or does not
// authenticate under `key` and `aad` (a wrong key, wrong associated data, or any changed byte),
// and then no plaintext is released. kInvalidInput for a key that is not 32 bytes.
Result<std::string> AesGcmOpen(std::string_view key, std::string_view sealed, std::string_view aad);

}  // namespace fogkeep::crypto
