// AuthorizationServer: fogkeep-director's OAuth 2.0 authorization server (RFC 6749, held to
// the RFC 9700 security BCP), without HTTP: oauth_routes.h puts it on the wire.
//
// Grants: authorization code with PKCE S256 for every client (RFC 7636), client credentials
// (confidential clients), refresh token with rotation and reuse detection, and the device
// authorization grant (RFC 8628). No implicit grant, no password grant.
//
// What it issues:
//   access token   a JWT (RFC 9068, oauth/access_token.h), ES256, living access_token_lifetime
//                  (at most 10 min); `sid` names the token family it came from, so revoking
//                  the family revokes it at the director at once (nodes validate offline and
//                  see it expire)
//   refresh token  256 random bits, base64url; rotated on every use; a rotated one presented
//                  again revokes its whole family
//   codes          authorization codes (single use, code_lifetime), device codes and user codes
// Only SHA-256 digests of codes, refresh tokens, device codes and client secrets are stored
// (director/oauth_store.h); the secrets themselves exist only in answers.
//
// Scopes are fogkeep permissions (auth/roles.h: "apps.read", "devices.read", ...). A client
// may be granted at most the scopes it is registered with; a token acting for a user carries
// only scopes the user's role holds, and resource servers grant the intersection of the
// token's scopes and the role's permissions again when they check it.
//
// Audiences (RFC 8707 `resource`): the director itself (the issuer URL, the default), one node
// ("urn:fogkeep:node:<device id>") or the nodes of a tag ("urn:fogkeep:tag:<tag>").
//
// Errors of the protocol are OAuthError (RFC 6749 5.2, RFC 8628 3.5), carried as the error's
// code; database failures are "server_error" (500) or "temporarily_unavailable" (503).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "director/enrollment.h"  // Clock
#include "director/oauth_store.h"
#include "oauth/access_token.h"
#include "oauth/jwk.h"

namespace fogkeep::director {

// The public client of the fogkeep command line, registered by the director on first start.
inline constexpr std::string_view kCliClientId = "fogkeep-cli";

// The client id of app `app_id` on device `device_id`: "app.<device>.<app>" (device ids hold
// no dot, so the id names one pair).
std::string AppClientId(std::string_view device_id, std::string_view app_id);
// The audience that names one node: "urn:fogkeep:node:<device id>".
std::string NodeAudience(std::string_view device_id);

struct OAuthServerOptions {
  // The issuer identifier (RFC 8414): the director's https URL without a trailing slash. It is
  // the `iss` of every token and the audience that names the director. A director listening
  // on port 0 learns it once bound (AuthorizationServer::SetIssuer).
  std::string issuer;
  std::chrono::seconds access_token_lifetime{std::chrono::minutes(5)};
  std::chrono::seconds refresh_token_lifetime{std::chrono::days(14)};
  // No refresh of one authorization outlives this, however often it is rotated.
  std::chrono::seconds family_lifetime{std::chrono::days(30)};
  std::chrono::seconds code_lifetime{std::chrono::seconds(60)};
  std::chrono::seconds device_code_lifetime{std::chrono::minutes(10)};
  std::int64_t device_poll_interval = 5;
  // A signing key older than this is replaced (the previous one stays in the JWKS).
  std::chrono::seconds signing_key_lifetime{std::chrono::days(30)};
  // How long a replica trusts its copy of the signing keys before reading them again.
  std::chrono::seconds key_refresh{std::chrono::seconds(60)};
  // A new key is published (JWKS, nodes' desired states) this long before it signs: tokens
  // go on being signed with the previous key meanwhile, so that resource servers holding a
  // copy of the key set (nodes, offline) know the new key before they see a token of it.
  // Longer than a node's desired-state long poll plus key_refresh.
  std::chrono::seconds key_publish_ahead{std::chrono::minutes(5)};
};

// A scope parameter as its scope tokens, sorted, each once; and back, joined by spaces.
std::vector<std::string> SplitScope(std::string_view scope);
std::string JoinScope(const std::vector<std::string>& scopes);

// kInvalidInput unless the issuer is an https URL without query, fragment or trailing slash,
// the access token lifetime is 1 s to 10 min and the other lifetimes are positive.
Status ValidateOAuthServerOptions(const OAuthServerOptions& options);

// An error answer of the protocol.
struct OAuthError {
  std::string error;        // "invalid_grant", "invalid_client", "authorization_pending", ...
  std::string description;  // error_description: for the developer, never a secret
  int status = 400;         // 401 for invalid_client, 500/503 for the server's own failures
};
template <typename T>
using OAuthResult = std::expected<T, OAuthError>;

// The answer of the token endpoint (RFC 6749 5.1).
struct TokenAnswer {
  std::string access_token;
  std::int64_t expires_in = 0;
  std::string refresh_token;  // "" when none is issued
  std::string scope;          // as granted, space-separated
};

// A client's credentials as the token endpoint received them: client_secret_basic, or a
// public client's client_id in the body.
struct ClientCredentials {
  std::string client_id;
  std::optional<std::string> secret;  // from HTTP Basic; none for a public client
};

// Form fields or query parameters, decoded, in order.
using OAuthParams = std::vector<std::pair<std::string, std::string>>;

// An authorization request (RFC 6749 4.1.1 + PKCE) after validation. Audiences are chosen at
// the token endpoint (`resource`), not here.
struct AuthorizationRequest {
  OAuthClient client;
  std::string redirect_uri;
  std::vector<std::string> scopes;  // requested, each registered for the client
  std::string state;
  std::string code_challenge;
};

// What the authorization endpoint does with a request it refuses: show an error page (the
// client or its redirect URI cannot be trusted, RFC 6749 4.1.2.1), or send the error to the
// validated redirect URI.
struct AuthorizeRefusal {
  bool redirect = false;
  std::string redirect_uri;  // with redirect
  std::string state;         // with redirect
  OAuthError error;
};

// RFC 8628 3.2.
struct DeviceAuthorizationAnswer {
  std::string device_code;
  std::string user_code;  // "XXXX-XXXX"
  std::string verification_uri;
  std::string verification_uri_complete;
  std::int64_t expires_in = 0;
  std::int64_t interval = 0;
};

// RFC 7662 2.2. Inactive tokens have only active = false.
struct Introspection {
  bool active = false;
  std::string token_type;  // "access_token" | "refresh_token"
  std::string client_id;
  std::string subject;
  std::string scope;
  std::string role;
  std::vector<std::string> audiences;
  std::int64_t expires_at = 0;
  std::int64_t issued_at = 0;
  std::string token_id;
};

// A new confidential client's secret is shown once, here.
struct CreatedClient {
  OAuthClient client;
  std::string secret;  // "" for a public client
};

class AuthorizationServer {
 public:
  AuthorizationServer(std::shared_ptr<OAuthStore> store, OAuthServerOptions options,
                      Clock clock = SystemNow);

  // The options, with the issuer as it is now.
  OAuthServerOptions options() const;
  // Sets the issuer once the address is known; kInvalidInput for one ValidateOAuthServerOptions
  // refuses.
  Status SetIssuer(std::string issuer);
  OAuthStore& store() { return *store_; }
  std::int64_t Now() const { return clock_(); }

  // The RFC 8414 metadata document, JSON.
  std::string MetadataJson() const;
  // The JWK Set (current key, then the previous one). Makes the first key when there is none
  // and rotates one older than signing_key_lifetime.
  Result<oauth::JwkSet> Keys();
  // The kid of the key that signs new tokens (Keys().keys().front()).
  Result<std::string> CurrentKeyId();

  // --- clients (managed by admins through the API)
  // Validates and stores a client; a confidential one gets a fresh secret. kInvalidInput for a
  // bad id, redirect URI (https, or http only on a loopback address; no fragment), scope
  // (not a permission) or grant.
  Result<CreatedClient> CreateClient(OAuthClient client);
  Result<std::string> RotateClientSecret(const std::string& client_id);

  // --- apps' own clients (IOx's access-control: oauth2), asked for by their node
  // A fresh confidential client for app `app_id` on device `device_id`, replacing any it had
  // (whose secret then stops working): client_credentials only, acting with
  // auth::kAppClientRole within `scopes` (auth::DefaultAppOAuthScopes() when empty; each must
  // pass auth::IsAppOAuthScope, else kInvalidInput), its tokens limited to that node's
  // audience and the director's. Its id is AppClientId(device_id, app_id).
  Result<CreatedClient> IssueAppClient(const std::string& device_id, const std::string& app_id,
                                       std::vector<std::string> scopes);
  // Deletes that client, revoking what it was issued; succeeds when there is none.
  Status DeleteAppClient(const std::string& device_id, const std::string& app_id);

  // --- authorization endpoint
  // Validates the query of GET /oauth2/authorize (also the hidden fields of its forms).
  std::expected<AuthorizationRequest, AuthorizeRefusal> ValidateAuthorizeRequest(
      const OAuthParams& params);
  // The user approved `request`: a code for it, single use, living code_lifetime. The scopes
  // are those of the request that `role` holds.
  OAuthResult<std::string> IssueCode(const AuthorizationRequest& request, const std::string& user,
                                     const std::string& role);

  // --- token endpoint: grant_type and its parameters (form fields), after the client's
  // credentials were read from the request.
  OAuthResult<TokenAnswer> Token(const ClientCredentials& credentials, const OAuthParams& params);

  // --- device authorization (RFC 8628)
  OAuthResult<DeviceAuthorizationAnswer> AuthorizeDevice(const ClientCredentials& credentials,
                                                         const OAuthParams& params);
  // For the verification page: the pending authorization of `user_code` and its client.
  OAuthResult<std::pair<DeviceAuthorization, OAuthClient>> PendingDevice(
      const std::string& user_code);
  OAuthResult<void> DecideDevice(const std::string& user_code, bool approve,
                                 const std::string& user, const std::string& role);

  // --- introspection (RFC 7662) and revocation (RFC 7009), by an authenticated client
  OAuthResult<Introspection> Introspect(const ClientCredentials& credentials,
                                        const std::string& token);
  OAuthResult<void> Revoke(const ClientCredentials& credentials, const std::string& token);

  // --- resource server side, for the director's own API
  // The claims of an access token for the director (audience = issuer), checked against the
  // current keys and the revocation state in the store. kUnauthenticated when refused.
  Result<oauth::AccessTokenClaims> ValidateForDirector(std::string_view token);

  // A key for short-lived, HMAC-protected form tickets of the authorization pages (the
  // consent step), the same on every replica: derived from the current signing key.
  Result<std::string> FormKey();

 private:
  struct LoadedKeys {
    std::optional<oauth::SigningKey> current;  // the newest key (JWKS first)
    std::optional<oauth::SigningKey> signer;   // current once published for key_publish_ahead
    oauth::JwkSet jwks;
    std::int64_t loaded_at = 0;
  };

  // The keys, read again from the store when key_refresh has passed (rotating one that is too
  // old). Shared and never changed, so callers use them without the lock.
  Result<std::shared_ptr<const LoadedKeys>> LoadKeys();
  OAuthResult<OAuthClient> AuthenticateClient(const ClientCredentials& credentials);
  OAuthResult<TokenAnswer> CodeGrant(const OAuthClient& client, const OAuthParams& params);
  OAuthResult<TokenAnswer> RefreshGrant(const OAuthClient& client, const OAuthParams& params);
  OAuthResult<TokenAnswer> ClientCredentialsGrant(const OAuthClient& client,
                                                  const OAuthParams& params);
  OAuthResult<TokenAnswer> DeviceGrant(const OAuthClient& client, const OAuthParams& params);
  OAuthResult<std::string> IssueAccess(const OAuthClient& client, const std::string& subject,
                                       const std::string& role, const std::string& scope,
                                       const std::vector<std::string>& resources,
                                       const std::string& family_id);
  OAuthResult<TokenAnswer> StartFamily(const OAuthClient& client, const std::string& user,
                                       const std::string& role, const std::string& scope,
                                       const std::vector<std::string>& resources, GrantType grant,
                                       const std::string& grant_digest);

  std::string Issuer() const;

  // Constant after construction.
  const std::shared_ptr<OAuthStore> store_;
  const Clock clock_;

  mutable std::mutex mu_;
  // options_.issuer is guarded by mu_; its other members never change after construction.
  OAuthServerOptions options_;
  std::shared_ptr<const LoadedKeys> keys_;  // guarded by mu_
};

}  // namespace fogkeep::director
