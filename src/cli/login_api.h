// The CLI's side of the node's /api/v1/auth endpoints:
//   POST /api/v1/auth/login    {"user": U, "password": P}   public
//   POST /api/v1/auth/refresh  {"refresh_token": "fkr_..."} public; rotates both tokens
//   POST /api/v1/auth/logout   Authorization: Bearer <access token>; 204
// The wire types are api::LoginRequest, api::RefreshRequest and api::LoginResult (api/node.h,
// shared with fogkeepd). Here: what the CLI demands of an answer before it caches anything,
// and how the answer becomes a cache entry.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "api/node.h"
#include "cli/credentials.h"
#include "core/error.h"

namespace fogkeep::cli {

inline constexpr std::string_view kLoginPath = "/api/v1/auth/login";
inline constexpr std::string_view kRefreshPath = "/api/v1/auth/refresh";
inline constexpr std::string_view kLogoutPath = "/api/v1/auth/logout";

// Parses the answer of a login or a refresh. Beyond api::FromJson's type checks, the answer is
// untrusted: kInvalidInput unless token_type is Bearer, both tokens are 1 to 1024 visible
// ASCII characters, expires_in is positive, the session names its user and its two expiry
// times, and nothing shown to the user holds control characters.
Result<api::LoginResult> ParseLoginResult(std::string_view body);

// The bodies of a login and of a refresh request.
std::string LoginRequestBody(std::string_view user, std::string_view password);
std::string RefreshRequestBody(std::string_view refresh_token);

// What the cache keeps of a result received at `now` (this machine's clock). The node's times
// are moved onto this clock by the offset between `now` and the node's time of issue (the
// access token's end minus expires_in), so that a node whose clock is off does not make a
// live session look ended, or the reverse.
Credential CredentialFromLoginResult(std::string node, const api::LoginResult& result,
                                     std::string ca, std::chrono::system_clock::time_point now);

}  // namespace fogkeep::cli
