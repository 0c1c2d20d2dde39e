#include "auth/password_hash.h"

#include <argon2.h>

#include <charconv>
#include <cstring>
#include <vector>

#include "crypto/hash.h"

namespace fogkeep::auth {
namespace {

constexpr std::string_view kPrefix = "$argon2id$v=19$";

// Decimal without sign or leading zeros, fitting in 32 bits.
bool ParseNumber(std::string_view text, std::uint32_t* out) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text.front() == '0')) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string Base64Unpadded(std::string_view bytes) {
  std::string text = crypto::Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

Result<std::string> DecodeBase64Unpadded(std::string_view text) {
  if (text.empty() || text.size() % 4 == 1) {
    return Fail(ErrorCode::kInvalidInput, "invalid base64 length");
  }
  std::string padded(text);
  padded.append((4 - text.size() % 4) % 4, '=');
  if (padded.find('=') < text.size()) return Fail(ErrorCode::kInvalidInput, "padded base64");
  return crypto::Base64Decode(padded);
}

// Overwrites a buffer that held secret material before it is released.
void Wipe(std::string& bytes) {
  if (!bytes.empty()) ::explicit_bzero(bytes.data(), bytes.size());
}

Result<std::string> RawHash(std::string_view password, std::string_view salt,
                            const Argon2Params& params) {
  std::string out(params.hash_bytes, '\0');
  int rc = ::argon2id_hash_raw(params.passes, params.memory_kib, params.lanes, password.data(),
                               password.size(), salt.data(), salt.size(), out.data(), out.size());
  if (rc != ARGON2_OK) {
    return Fail(ErrorCode::kUnavailable, std::string("argon2id: ") + ::argon2_error_message(rc));
  }
  return out;
}

}  // namespace

Status ValidateParams(const Argon2Params& p) {
  auto invalid = [](std::string what) {
    return Fail(ErrorCode::kInvalidInput, "argon2id " + what);
  };
  if (p.lanes < 1 || p.lanes > kArgon2MaxLanes) {
    return invalid("parallelism must be 1.." + std::to_string(kArgon2MaxLanes));
  }
  if (p.memory_kib < 8 * p.lanes || p.memory_kib > kArgon2MaxMemoryKib) {
    return invalid("memory must be 8 KiB per lane .. " + std::to_string(kArgon2MaxMemoryKib) +
                   " KiB");
  }
  if (p.passes < 1 || p.passes > kArgon2MaxPasses) {
    return invalid("passes must be 1.." + std::to_string(kArgon2MaxPasses));
  }
  if (p.salt_bytes < 8 || p.salt_bytes > 64) return invalid("salt must be 8..64 bytes");
  if (p.hash_bytes < 16 || p.hash_bytes > 64) return invalid("hash must be 16..64 bytes");
  return {};
}

bool IsWeakerThanDefault(const Argon2Params& params) {
  const Argon2Params defaults;
  return params.memory_kib < defaults.memory_kib || params.passes < defaults.passes ||
         params.salt_bytes < defaults.salt_bytes || params.hash_bytes < defaults.hash_bytes;
}

Result<PhcHash> ParsePhc(std::string_view encoded) {
  auto malformed = [] { return Fail(ErrorCode::kInvalidInput, "not an argon2id v19 PHC string"); };
  if (!encoded.starts_with(kPrefix)) return malformed();
  std::string_view rest = encoded.substr(kPrefix.size());
  // "m=..,t=..,p=..$salt$hash": exactly three fields.
  std::size_t d1 = rest.find('$');
  if (d1 == std::string_view::npos) return malformed();
  std::size_t d2 = rest.find('$', d1 + 1);
  if (d2 == std::string_view::npos || rest.find('$', d2 + 1) != std::string_view::npos) {
    return malformed();
  }
  std::string_view params = rest.substr(0, d1);
  PhcHash phc;
  const std::string_view keys[3] = {"m=", "t=", "p="};
  std::uint32_t* values[3] = {&phc.params.memory_kib, &phc.params.passes, &phc.params.lanes};
  for (int i = 0; i < 3; ++i) {
    if (!params.starts_with(keys[i])) return malformed();
    params.remove_prefix(2);
    std::size_t comma = params.find(',');
    if ((i < 2) != (comma != std::string_view::npos)) return malformed();
    if (!ParseNumber(params.substr(0, comma), values[i])) return malformed();
    params = i < 2 ? params.substr(comma + 1) : std::string_view();
  }
  auto salt = DecodeBase64Unpadded(rest.substr(d1 + 1, d2 - d1 - 1));
  auto hash = DecodeBase64Unpadded(rest.substr(d2 + 1));
  if (!salt || !hash) return malformed();
  phc.salt = std::move(*salt);
  phc.hash = std::move(*hash);
  phc.params.salt_bytes = static_cast<std::uint32_t>(phc.salt.size());
  phc.params.hash_bytes = static_cast<std::uint32_t>(phc.hash.size());
  FK_TRY_CTX(ValidateParams(phc.params), "PHC string");
  return phc;
}

std::string FormatPhc(const PhcHash& phc) {
  return std::string(kPrefix) + "m=" + std::to_string(phc.params.memory_kib) +
         ",t=" + std::to_string(phc.params.passes) + ",p=" + std::to_string(phc.params.lanes) +
         "$" + Base64Unpadded(phc.salt) + "$" + Base64Unpadded(phc.hash);
}

Result<std::string> HashPassword(std::string_view password, const Argon2Params& params) {
  FK_TRY(ValidateParams(params));
  PhcHash phc;
  phc.params = params;
  phc.salt = crypto::RandomBytes(params.salt_bytes);
  phc.hash = FK_TRY(RawHash(password, phc.salt, params));
  std::string encoded = FormatPhc(phc);
  Wipe(phc.hash);
  return encoded;
}

Result<bool> VerifyPassword(std::string_view encoded, std::string_view password) {
  PhcHash phc = FK_TRY(ParsePhc(encoded));
  std::string computed = FK_TRY(RawHash(password, phc.salt, phc.params));
  bool equal = crypto::ConstantTimeEquals(computed, phc.hash);
  Wipe(computed);
  Wipe(phc.hash);
  return equal;
}

}  // namespace fogkeep::auth
