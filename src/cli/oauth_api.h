// The CLI's side of fogkeep-director's OAuth 2.0 authorization server (director/oauth_routes.h),
// as the public client "fogkeep-cli":
//   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata: the issuer and endpoints
//   POST device_authorization_endpoint             RFC 8628 3.1: device and user codes
//   GET  authorization_endpoint (in a browser)     RFC 6749 4.1 + PKCE S256 (RFC 7636), with a
//                                                  loopback redirect (RFC 8252 7.3)
//   POST token_endpoint                            every grant: code, device code, refresh
//   POST revocation_endpoint                       RFC 7009
// Here: the requests' bodies and what the CLI demands of every answer before it acts on it or
// caches it. No I/O; oauth_login.h runs the flows.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/credentials.h"
#include "core/error.h"
#include "net/http.h"

namespace fogkeep::cli {

// The public client the director registers for this command line on its first start.
inline constexpr std::string_view kCliClientId = "fogkeep-cli";
inline constexpr std::string_view kMetadataPath = "/.well-known/oauth-authorization-server";
inline constexpr std::string_view kDeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code";
// The path of the loopback redirect URI; the director registers http://127.0.0.1/callback for
// the client, any port (RFC 8252 7.3).
inline constexpr std::string_view kCallbackPath = "/callback";

// The director's RFC 8414 metadata, as far as the CLI uses it. Endpoints are absolute URLs on
// the director's own origin; "" when the director does not offer one.
struct ServerMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string device_authorization_endpoint;
  std::string revocation_endpoint;
  // RFC 9207: the authorization response carries `iss`, and the client must check it.
  bool iss_parameter = false;
};

// Parses the metadata the director at `director` (its canonical URL) served. kIntegrity unless
// the issuer is that very URL (RFC 8414 3.3: metadata naming another issuer is not this
// server's); the message names the issuer to log in with. kInvalidInput for a malformed
// document, a missing token endpoint, or an endpoint on another origin (tokens and codes go to
// the server whose certificate was checked, nowhere else).
Result<ServerMetadata> ParseServerMetadata(std::string_view body, std::string_view director);

// The origin-form request target ("/oauth2/token") of endpoint URL `endpoint` on `director`;
// kInvalidInput when the URL is not https://, names another host or port, or holds a fragment
// or characters that cannot go in a request line.
Result<std::string> EndpointTarget(std::string_view endpoint, std::string_view director);

// An application/x-www-form-urlencoded body of `fields`, in order.
std::string FormBody(const std::vector<std::pair<std::string_view, std::string_view>>& fields);

// The token endpoint's answer (RFC 6749 5.1). Untrusted: kInvalidInput unless token_type is
// Bearer, the access token (and the refresh token, when there is one) is 1 to 1024 visible
// ASCII characters, expires_in is positive, and the scope holds no control characters.
struct TokenAnswer {
  std::string access_token;
  std::string refresh_token;  // "" when none was issued
  std::int64_t expires_in = 0;
  std::string scope;  // as granted, space-separated
};
Result<TokenAnswer> ParseTokenAnswer(std::string_view body);

// The error of a refused OAuth request (RFC 6749 5.2): `error` and its description; nullopt when
// the body is not one.
struct OAuthErrorAnswer {
  std::string error;
  std::string description;
};
std::optional<OAuthErrorAnswer> ParseOAuthError(std::string_view body);
// A refused OAuth request as an Error with context `what`: "what: invalid_grant: the refresh
// token was already used", control characters escaped; the status when the body says nothing.
Error OAuthFailure(const net::Response& response, std::string_view what);

// The device authorization answer (RFC 8628 3.2). Untrusted: kInvalidInput unless the device
// code is a token, the user code and the verification URIs can be shown on a terminal (and
// the URIs are https://), and expires_in is positive. interval defaults to 5 s, at least 1 s.
struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;  // "" when the director sent none
  std::int64_t expires_in = 0;
  std::int64_t interval = 5;
};
Result<DeviceAuthorization> ParseDeviceAuthorization(std::string_view body);

// What one poll of the token endpoint with the device code (RFC 8628 3.4) answered: the tokens
// once the user approved; nullopt while the decision is pending, after adding 5 s to
// `interval` on slow_down (3.5). kForbidden "login denied on the director's verification page
// (<the director's reason>)" when the user denied, kUnauthenticated when the code expired, with
// a message that says what to do; other refusals as OAuthFailure.
Result<std::optional<TokenAnswer>> ReadDevicePoll(const net::Response& response,
                                                  std::chrono::seconds* interval);
// The error of a device code that expired before anyone approved it.
Error DeviceCodeExpired();

// PKCE S256 (RFC 7636): a fresh verifier (32 random bytes, base64url) and its challenge.
struct Pkce {
  std::string verifier;
  std::string challenge;
};
Pkce NewPkce();
// A fresh `state` for an authorization request: 32 random bytes, base64url.
std::string NewState();

// The URL the browser opens: `endpoint` with the authorization request of RFC 6749 4.1.1 and
// PKCE in its query.
struct AuthorizationRequest {
  std::string client_id;
  std::string redirect_uri;
  std::string scope;  // "" for every scope the client may have
  std::string state;
  std::string code_challenge;
};
std::string AuthorizationUrl(std::string_view endpoint, const AuthorizationRequest& request);

// The authorization code in the loopback redirect's request target
// ("/callback?code=...&state=...&iss=..."), after the checks of RFC 6749 4.1.2 and RFC 9207:
//   another path                            kNotFound (not the redirect: the listener answers
//                                           404 and keeps waiting)
//   iss other than `issuer`, or missing
//     while `iss_required`                  kIntegrity (a mix-up: the answer of another server)
//   state other than `state`                kIntegrity (not this login's request: forged, or a
//                                           stale redirect)
//   error=access_denied                     kForbidden "login denied in the browser (<the
//                                           director's reason>)"
//   another error                           kUnauthenticated naming it
//   no code                                 kInvalidInput
Result<std::string> ParseCallback(std::string_view target, std::string_view state,
                                  std::string_view issuer, bool iss_required);

// The login to cache for `director` from a token answer received at `now`. The user and role
// are read from the access token's claims (a JWT; for display and for the cache's key fields
// only: the director checks the token, this machine does not); kInvalidInput when the token
// names no user or no refresh token was issued.
Result<Credential> CredentialFromTokenAnswer(std::string director, const TokenAnswer& answer,
                                             std::string ca, OAuthGrant grant,
                                             std::chrono::system_clock::time_point now);
// `login` with the tokens of a refresh answer received at `now`: the rotated refresh token
// replaces the old one (which is kept only when the director issued none).
Result<Credential> RefreshedCredential(const Credential& login, const TokenAnswer& answer,
                                       std::chrono::system_clock::time_point now);

}  // namespace fogkeep::cli
