// argon2id password hashes in the PHC string format (libargon2, RFC 9106):
//
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt, base64 unpadded>$<hash, base64 unpadded>
//
// Every hash carries its own cost and salt, so raising the cost later leaves old hashes
// verifiable. The default cost is OWASP's argon2id recommendation (m = 19 MiB, t = 2, p = 1);
// anything cheaper is for tests and benchmarks and IsWeakerThanDefault() says so.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::auth {

struct Argon2Params {
  std::uint32_t memory_kib = 19 * 1024;  // m
  std::uint32_t passes = 2;              // t
  std::uint32_t lanes = 1;               // p
  std::uint32_t salt_bytes = 16;
  std::uint32_t hash_bytes = 32;

  bool operator==(const Argon2Params&) const = default;
};

// Bounds that every parameter set, configured or read from a stored hash, must respect; the
// upper ones stop a tampered hash from making one login allocate gigabytes or run for minutes.
inline constexpr std::uint32_t kArgon2MaxMemoryKib = 1024 * 1024;  // 1 GiB
inline constexpr std::uint32_t kArgon2MaxPasses = 64;
inline constexpr std::uint32_t kArgon2MaxLanes = 16;

// kInvalidInput unless: 8 * lanes <= memory <= 1 GiB, 1 <= passes <= 64, 1 <= lanes <= 16,
// 8 <= salt <= 64 bytes, 16 <= hash <= 64 bytes.
Status ValidateParams(const Argon2Params& params);

// Whether `params` buys less work than the defaults (less memory or fewer passes, or a
// shorter salt or hash): the daemon warns about such a configuration.
bool IsWeakerThanDefault(const Argon2Params& params);

// A parsed PHC string.
struct PhcHash {
  Argon2Params params;  // salt_bytes and hash_bytes are the decoded lengths
  std::string salt;     // raw bytes
  std::string hash;     // raw bytes
};

// Strict parse: the exact layout above, version 19, decimal numbers without leading zeros or
// signs, parameters in bounds (ValidateParams), unpadded standard base64. kInvalidInput for
// anything else.
Result<PhcHash> ParsePhc(std::string_view encoded);
std::string FormatPhc(const PhcHash& phc);

// Hashes `password` with a fresh random salt of params.salt_bytes. kInvalidInput for invalid
// params; kUnavailable when libargon2 fails (out of memory).
Result<std::string> HashPassword(std::string_view password, const Argon2Params& params);

// Recomputes `password`'s hash with the salt and parameters of `encoded` and compares the two
// in constant time. false for a wrong password; kInvalidInput for a malformed `encoded`;
// kUnavailable when libargon2 fails.
Result<bool> VerifyPassword(std::string_view encoded, std::string_view password);

}  // namespace fogkeep::auth
