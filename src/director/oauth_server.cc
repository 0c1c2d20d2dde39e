#include "director/oauth_server.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "auth/roles.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "oauth/pkce.h"

namespace fogkeep::director {
namespace {

namespace json = boost::json;

constexpr std::size_t kTokenBytes = 32;  // codes, refresh tokens, device codes, secrets
constexpr std::string_view kNodeAudiencePrefix = "urn:fogkeep:node:";
constexpr std::string_view kTagAudiencePrefix = "urn:fogkeep:tag:";
// RFC 8628 6.1: 20 consonants, no vowels (no words), no look-alikes; 8 of them ≈ 34.6 bits,
// enough while the code lives minutes and polling is rate-limited.
constexpr std::string_view kUserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ";
constexpr std::size_t kUserCodeLength = 8;
constexpr std::size_t kMaxClientIdBytes = 128;
constexpr std::size_t kMaxStateBytes = 1024;

OAuthError Protocol(std::string error, std::string description, int status = 400) {
  return OAuthError{std::move(error), std::move(description), status};
}
std::unexpected<OAuthError> Refuse(std::string error, std::string description, int status = 400) {
  return std::unexpected(Protocol(std::move(error), std::move(description), status));
}

// A failure of the store or of signing: the client can do nothing about it.
std::unexpected<OAuthError> ServerError(const Error& error) {
  if (error.code() == ErrorCode::kUnavailable) {
    return Refuse("temporarily_unavailable", "the authorization server is unavailable", 503);
  }
  log::Warn("oauth: {}", error.message());
  return Refuse("server_error", "the authorization server failed", 500);
}

std::string NewSecret() { return crypto::Base64UrlEncode(crypto::RandomBytes(kTokenBytes)); }

// The one value of parameter `name`: nullopt when absent or empty; invalid_request when sent
// twice (RFC 6749 3.1).
OAuthResult<std::optional<std::string>> Param(const OAuthParams& params, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [key, value] : params) {
    if (key != name) continue;
    if (found) return Refuse("invalid_request", "parameter " + std::string(name) + " repeated");
    found = value;
  }
  if (found && found->empty()) return std::nullopt;
  return found;
}

OAuthResult<std::string> Required(const OAuthParams& params, std::string_view name) {
  auto value = Param(params, name);
  if (!value) return std::unexpected(value.error());
  if (!*value) return Refuse("invalid_request", "missing parameter " + std::string(name));
  return **value;
}

std::vector<std::string> Values(const OAuthParams& params, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [key, value] : params) {
    if (key == name) out.push_back(value);
  }
  return out;
}

bool Contains(const std::vector<std::string>& set, std::string_view value) {
  return std::ranges::find(set, value) != set.end();
}
bool Allows(const OAuthClient& client, GrantType grant) {
  return std::ranges::find(client.grant_types, grant) != client.grant_types.end();
}

// The requested scope (default: everything `allowed`), each a scope the client may have.
OAuthResult<std::vector<std::string>> RequestedScopes(const OAuthParams& params,
                                                      const std::vector<std::string>& allowed) {
  auto scope = Param(params, "scope");
  if (!scope) return std::unexpected(scope.error());
  if (!*scope) return allowed;
  std::vector<std::string> requested = SplitScope(**scope);
  for (const std::string& s : requested) {
    if (!Contains(allowed, s)) return Refuse("invalid_scope", "scope " + s + " is not allowed");
  }
  return requested;
}

// The scopes of `scopes` that `role` holds: a token acting for a user never says more than
// the user may do.
std::vector<std::string> HeldBy(const std::vector<std::string>& scopes, std::string_view role) {
  std::vector<std::string> out;
  for (const std::string& s : scopes) {
    if (auth::RoleHolds(role, s)) out.push_back(s);
  }
  return out;
}

bool IsLoopbackHost(std::string_view host) { return host == "127.0.0.1" || host == "[::1]"; }

// A redirect URI a client may register: absolute, https (or http on a loopback address, for
// native apps, RFC 8252 7.3), no fragment, no userinfo.
Status CheckRedirectUri(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (parsed.has_error()) {
    return Fail(ErrorCode::kInvalidInput, "redirect URI " + std::string(uri) + " is malformed");
  }
  const boost::urls::url_view& url = *parsed;
  const bool loopback = url.scheme() == "http" && IsLoopbackHost(url.encoded_host());
  if (url.scheme() != "https" && !loopback) {
    return Fail(ErrorCode::kInvalidInput, "redirect URI " + std::string(uri) +
                                              " must be https (or http on 127.0.0.1 or [::1])");
  }
  if (url.has_fragment() || url.has_userinfo() || url.encoded_host().empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "redirect URI " + std::string(uri) + " must have a host and no fragment or user");
  }
  return {};
}

// Whether `presented` is the registered `registered`: the same string, except that a loopback
// http URI may name any port (RFC 8252 7.3).
bool RedirectMatches(std::string_view registered, std::string_view presented) {
  if (registered == presented) return true;
  auto r = boost::urls::parse_absolute_uri(registered);
  auto p = boost::urls::parse_absolute_uri(presented);
  if (r.has_error() || p.has_error()) return false;
  if (r->scheme() != "http" || p->scheme() != "http") return false;
  if (r->encoded_host() != p->encoded_host() || !IsLoopbackHost(r->encoded_host())) return false;
  return r->encoded_path() == p->encoded_path() && r->has_query() == p->has_query() &&
         r->encoded_query() == p->encoded_query() && !p->has_fragment() && !p->has_userinfo();
}

Status CheckClientId(std::string_view id) {
  if (id.empty() || id.size() > kMaxClientIdBytes) {
    return Fail(ErrorCode::kInvalidInput, "client id must be 1 to 128 characters");
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return Fail(ErrorCode::kInvalidInput, "client id may hold only A-Z a-z 0-9 - _ .");
  }
  return {};
}

// An audience a token may name: the director, one node, or the nodes of a tag.
bool IsAudience(std::string_view issuer, std::string_view resource) {
  if (resource == issuer) return true;
  for (std::string_view prefix : {kNodeAudiencePrefix, kTagAudiencePrefix}) {
    if (resource.starts_with(prefix) && resource.size() > prefix.size() &&
        resource.size() <= prefix.size() + 253) {
      const std::string_view rest = resource.substr(prefix.size());
      return std::ranges::all_of(rest, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == ':';
      });
    }
  }
  return false;
}

// The audiences the token asks for (RFC 8707 `resource`), the director when none; a client
// held to some resources may name only those.
OAuthResult<std::vector<std::string>> Audiences(const OAuthParams& params,
                                                const std::string& issuer,
                                                const OAuthClient& client) {
  std::vector<std::string> resources = Values(params, "resource");
  if (resources.empty()) resources = {issuer};
  if (resources.size() > 16) return Refuse("invalid_target", "too many resources");
  for (const std::string& r : resources) {
    if (!IsAudience(issuer, r)) return Refuse("invalid_target", "unknown resource " + r);
    if (!client.resources.empty() && !Contains(client.resources, r)) {
      return Refuse("invalid_target", "resource " + r + " is not allowed for this client");
    }
  }
  std::ranges::sort(resources);
  resources.erase(std::unique(resources.begin(), resources.end()), resources.end());
  return resources;
}

std::string NewUserCode() {
  const std::string random = crypto::RandomBytes(kUserCodeLength);
  std::string code;
  for (std::size_t i = 0; i < kUserCodeLength; ++i) {
    // 256 is not a multiple of 20: a slight bias toward the first 16 letters, which costs
    // under 0.1 bit of the code's 34.6.
    code += kUserCodeAlphabet[static_cast<unsigned char>(random[i]) % kUserCodeAlphabet.size()];
    if (i == 3) code += '-';
  }
  return code;
}

}  // namespace

std::vector<std::string> SplitScope(std::string_view scope) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= scope.size()) {
    std::size_t end = scope.find(' ', start);
    if (end == std::string_view::npos) end = scope.size();
    if (end > start) out.emplace_back(scope.substr(start, end - start));
    start = end + 1;
  }
  std::ranges::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string JoinScope(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

Status ValidateOAuthServerOptions(const OAuthServerOptions& o) {
  auto url = boost::urls::parse_absolute_uri(o.issuer);
  if (url.has_error() || url->scheme() != "https" || url->has_query() || url->has_fragment() ||
      o.issuer.ends_with('/')) {
    return Fail(ErrorCode::kInvalidInput,
                "the OAuth issuer must be an https URL without query, fragment or trailing /");
  }
  if (o.access_token_lifetime < std::chrono::seconds(1) ||
      o.access_token_lifetime > oauth::kMaxAccessTokenLifetime) {
    return Fail(ErrorCode::kInvalidInput, "access tokens must live 1 s to 10 min");
  }
  for (auto lifetime : {o.refresh_token_lifetime, o.family_lifetime, o.code_lifetime,
                        o.device_code_lifetime, o.signing_key_lifetime, o.key_refresh}) {
    if (lifetime <= std::chrono::seconds(0)) {
      return Fail(ErrorCode::kInvalidInput, "OAuth lifetimes must be positive");
    }
  }
  if (o.device_poll_interval <= 0) {
    return Fail(ErrorCode::kInvalidInput, "the device poll interval must be positive");
  }
  return {};
}

AuthorizationServer::AuthorizationServer(std::shared_ptr<OAuthStore> store,
                                         OAuthServerOptions options, Clock clock)
    : store_(std::move(store)), clock_(std::move(clock)), options_(std::move(options)) {}

OAuthServerOptions AuthorizationServer::options() const {
  std::lock_guard lock(mu_);
  return options_;
}

std::string AuthorizationServer::Issuer() const {
  std::lock_guard lock(mu_);
  return options_.issuer;
}

Status AuthorizationServer::SetIssuer(std::string issuer) {
  std::lock_guard lock(mu_);
  OAuthServerOptions changed = options_;
  changed.issuer = issuer;
  FK_TRY(ValidateOAuthServerOptions(changed));
  options_.issuer = std::move(issuer);  // the only member that changes: the others are read
  return {};                            // without the lock
}

std::string AuthorizationServer::MetadataJson() const {
  const std::string iss = Issuer();
  json::array scopes;
  for (const auto& permission : auth::AllPermissions()) scopes.emplace_back(permission.name);
  json::object doc{
      {"issuer", iss},
      {"authorization_endpoint", iss + "/oauth2/authorize"},
      {"token_endpoint", iss + "/oauth2/token"},
      {"device_authorization_endpoint", iss + "/oauth2/device_authorization"},
      {"introspection_endpoint", iss + "/oauth2/introspect"},
      {"revocation_endpoint", iss + "/oauth2/revoke"},
      {"jwks_uri", iss + "/oauth2/jwks"},
      {"scopes_supported", std::move(scopes)},
      {"response_types_supported", json::array{"code"}},
      {"response_modes_supported", json::array{"query"}},
      {"grant_types_supported",
       json::array{"authorization_code", "refresh_token", "client_credentials",
                   "urn:ietf:params:oauth:grant-type:device_code"}},
      {"token_endpoint_auth_methods_supported", json::array{"client_secret_basic", "none"}},
      {"introspection_endpoint_auth_methods_supported", json::array{"client_secret_basic"}},
      {"revocation_endpoint_auth_methods_supported", json::array{"client_secret_basic", "none"}},
      {"code_challenge_methods_supported", json::array{"S256"}},
      {"authorization_response_iss_parameter_supported", true},
  };
  return json::serialize(doc);
}

Result<std::shared_ptr<const AuthorizationServer::LoadedKeys>> AuthorizationServer::LoadKeys() {
  const std::int64_t now = Now();
  {
    std::lock_guard lock(mu_);
    if (keys_ && now - keys_->loaded_at < options_.key_refresh.count()) return keys_;
  }
  std::vector<SigningKey> stored = FK_TRY(store_->ActiveSigningKeys());
  const bool stale = stored.empty() || stored.front().state != SigningKeyState::kCurrent ||
                     now - stored.front().created_at >= options_.signing_key_lifetime.count();
  if (stale) {
    crypto::PrivateKey key = FK_TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
    const std::string kid = key.Public().Fingerprint().substr(0, 16);
    const std::string replaces = stored.empty() ? "" : stored.front().kid;
    Status rotated = store_->RotateSigningKey(kid, FK_TRY(key.ToPem()), now, replaces);
    // kConflict: another replica rotated first; use its key.
    if (!rotated && rotated.error().code() != ErrorCode::kConflict) {
      return std::unexpected(rotated.error());
    }
    if (rotated) log::Info("oauth: new access-token signing key {}", kid);
    stored = FK_TRY(store_->ActiveSigningKeys());
  }
  LoadedKeys loaded;
  loaded.loaded_at = now;
  for (const SigningKey& stored_key : stored) {
    crypto::PrivateKey key = FK_TRY(crypto::PrivateKey::FromPem(stored_key.private_key_pem));
    FK_TRY(loaded.jwks.Add(FK_TRY(oauth::Jwk::Es256(stored_key.kid, key.Public()))));
    if (stored_key.state == SigningKeyState::kCurrent && !loaded.current) {
      loaded.current = oauth::SigningKey{stored_key.kid, key};
      if (now - stored_key.created_at >= options_.key_publish_ahead.count()) {
        loaded.signer = loaded.current;
      }
    } else if (stored_key.state == SigningKeyState::kPrevious && !loaded.signer) {
      loaded.signer = oauth::SigningKey{stored_key.kid, std::move(key)};
    }
  }
  if (!loaded.current) return Fail(ErrorCode::kInternal, "no current signing key");
  if (!loaded.signer) loaded.signer = loaded.current;  // the first key has nothing before it
  auto shared = std::make_shared<const LoadedKeys>(std::move(loaded));
  std::lock_guard lock(mu_);
  keys_ = shared;
  return shared;
}

Result<oauth::JwkSet> AuthorizationServer::Keys() { return FK_TRY(LoadKeys())->jwks; }

Result<std::string> AuthorizationServer::CurrentKeyId() { return FK_TRY(LoadKeys())->current->kid; }

Result<std::string> AuthorizationServer::FormKey() {
  const auto keys = FK_TRY(LoadKeys());
  std::string pem = FK_TRY(keys->current->key.ToPem());
  crypto::WipeOnExit wipe(pem);
  return crypto::HkdfSha256(pem, "", "fogkeep oauth form tickets", 32);
}

Result<CreatedClient> AuthorizationServer::CreateClient(OAuthClient client) {
  FK_TRY(CheckClientId(client.id));
  if (client.name.empty()) client.name = client.id;
  for (const std::string& uri : client.redirect_uris) FK_TRY(CheckRedirectUri(uri));
  for (const std::string& resource : client.resources) {
    if (!IsAudience(Issuer(), resource)) {
      return Fail(ErrorCode::kInvalidInput, "resource " + resource + " is not an audience here");
    }
  }
  for (const std::string& scope : client.scopes) {
    if (!auth::IsKnownPermission(scope)) {
      return Fail(ErrorCode::kInvalidInput, "scope " + scope + " is not a fogkeep permission");
    }
  }
  if (!client.role.empty() && !auth::IsKnownRole(client.role)) {
    return Fail(ErrorCode::kInvalidInput, "unknown role " + client.role);
  }
  if (Allows(client, GrantType::kAuthorizationCode) && client.redirect_uris.empty()) {
    return Fail(ErrorCode::kInvalidInput, "the authorization_code grant needs a redirect URI");
  }
  if (Allows(client, GrantType::kClientCredentials) &&
      client.type != OAuthClientType::kConfidential) {
    return Fail(ErrorCode::kInvalidInput, "only confidential clients may use client_credentials");
  }
  // Its tokens act for no user: without a role they would carry scopes no resource server
  // grants (RoleAuthorizer asks the role too), a client that can do nothing.
  if (Allows(client, GrantType::kClientCredentials) && client.role.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "a client_credentials client needs a role (the permissions it acts with)");
  }
  CreatedClient created;
  if (client.type == OAuthClientType::kConfidential) {
    created.secret = NewSecret();
    client.secret_digest = crypto::Sha256Hex(created.secret);
  } else {
    client.secret_digest.clear();
  }
  client.created_at = Now();
  FK_TRY(store_->CreateClient(client));
  created.client = std::move(client);
  return created;
}

std::string NodeAudience(std::string_view device_id) {
  return std::string(kNodeAudiencePrefix) + std::string(device_id);
}

std::string AppClientId(std::string_view device_id, std::string_view app_id) {
  return "app." + std::string(device_id) + "." + std::string(app_id);
}

Result<CreatedClient> AuthorizationServer::IssueAppClient(const std::string& device_id,
                                                          const std::string& app_id,
                                                          std::vector<std::string> scopes) {
  if (scopes.empty()) scopes = auth::DefaultAppOAuthScopes();
  for (const std::string& scope : scopes) {
    if (!auth::IsAppOAuthScope(scope)) {
      return Fail(ErrorCode::kInvalidInput,
                  "scope " + scope +
                      " is not one an app may hold (platform.read, metrics.read, network.read, "
                      "apps.read, alerts.read)");
    }
  }
  std::ranges::sort(scopes);
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  OAuthClient client;
  client.id = AppClientId(device_id, app_id);
  client.name = "app " + app_id + " on " + device_id;
  client.type = OAuthClientType::kConfidential;
  client.grant_types = {GrantType::kClientCredentials};
  client.scopes = std::move(scopes);
  client.role = std::string(auth::kAppClientRole);
  client.resources = {Issuer(), NodeAudience(device_id)};
  std::ranges::sort(client.resources);
  client.created_by = device_id;
  client.created_at = Now();
  // A node asks again only when the app lost its credentials (a new install, a crash before
  // they were stored): the old secret, and what was issued with it, must stop working.
  FK_TRY(DeleteAppClient(device_id, app_id));
  return CreateClient(std::move(client));
}

Status AuthorizationServer::DeleteAppClient(const std::string& device_id,
                                            const std::string& app_id) {
  Status deleted = store_->DeleteClient(AppClientId(device_id, app_id), Now());
  if (!deleted && deleted.error().code() != ErrorCode::kNotFound) return deleted;
  return {};
}

Result<std::string> AuthorizationServer::RotateClientSecret(const std::string& client_id) {
  std::string secret = NewSecret();
  FK_TRY(store_->RotateClientSecret(client_id, crypto::Sha256Hex(secret)));
  return secret;
}

OAuthResult<OAuthClient> AuthorizationServer::AuthenticateClient(
    const ClientCredentials& credentials) {
  auto found = store_->FindClient(credentials.client_id);
  if (!found) return ServerError(found.error());
  // One answer for every failure, so that the answer does not tell which client ids exist.
  const auto invalid = [] { return Refuse("invalid_client", "client authentication failed", 401); };
  if (!*found || (*found)->disabled) return invalid();
  OAuthClient& client = **found;
  if (client.type == OAuthClientType::kConfidential) {
    if (!credentials.secret ||
        !crypto::ConstantTimeEquals(crypto::Sha256Hex(*credentials.secret), client.secret_digest)) {
      return invalid();
    }
  } else if (credentials.secret) {
    return invalid();  // a public client has no secret to present
  }
  return std::move(client);
}

std::expected<AuthorizationRequest, AuthorizeRefusal> AuthorizationServer::ValidateAuthorizeRequest(
    const OAuthParams& params) {
  const auto page = [](std::string error, std::string description) {
    return std::unexpected(AuthorizeRefusal{false, "", "", Protocol(error, description)});
  };
  auto client_id = Param(params, "client_id");
  if (!client_id || !*client_id) return page("invalid_request", "missing or repeated client_id");
  auto found = store_->FindClient(**client_id);
  if (!found) {
    return std::unexpected(AuthorizeRefusal{false, "", "", ServerError(found.error()).error()});
  }
  if (!*found || (*found)->disabled) return page("invalid_client", "unknown client");
  AuthorizationRequest request;
  request.client = std::move(**found);
  // The redirect URI must be sent and match a registered one exactly before anything is ever
  // sent to it (RFC 9700 2.1, 4.1.3).
  auto redirect_uri = Param(params, "redirect_uri");
  if (!redirect_uri || !*redirect_uri) {
    return page("invalid_request", "missing or repeated redirect_uri");
  }
  const bool registered = std::ranges::any_of(request.client.redirect_uris, [&](const auto& uri) {
    return RedirectMatches(uri, **redirect_uri);
  });
  if (!registered) return page("invalid_request", "redirect_uri is not registered for the client");
  request.redirect_uri = **redirect_uri;

  auto state = Param(params, "state");
  if (state && *state && (*state)->size() <= kMaxStateBytes) request.state = **state;
  const auto back = [&](std::string error, std::string description) {
    return std::unexpected(AuthorizeRefusal{true, request.redirect_uri, request.state,
                                            Protocol(std::move(error), std::move(description))});
  };
  if (!state) return back("invalid_request", "parameter state repeated");
  if (state && *state && (*state)->size() > kMaxStateBytes) {
    return back("invalid_request", "state is too long");
  }
  auto response_type = Param(params, "response_type");
  if (!response_type || !*response_type) return back("invalid_request", "missing response_type");
  if (**response_type != "code") {
    return back("unsupported_response_type", "only response_type=code is supported");
  }
  if (!Allows(request.client, GrantType::kAuthorizationCode)) {
    return back("unauthorized_client", "the client may not use the authorization code grant");
  }
  // PKCE for every client, S256 only (RFC 9700 2.1.1).
  auto challenge = Param(params, "code_challenge");
  auto method = Param(params, "code_challenge_method");
  if (!challenge || !*challenge) return back("invalid_request", "PKCE code_challenge is required");
  if (!method || !*method || !oauth::ValidateCodeChallengeMethod(**method)) {
    return back("invalid_request", "code_challenge_method must be S256");
  }
  if (!oauth::ValidateCodeChallenge(**challenge)) {
    return back("invalid_request", "code_challenge is malformed");
  }
  request.code_challenge = **challenge;
  auto scopes = RequestedScopes(params, request.client.scopes);
  if (!scopes) return back(scopes.error().error, scopes.error().description);
  if (scopes->empty()) return back("invalid_scope", "no scope requested");
  request.scopes = std::move(*scopes);
  return request;
}

OAuthResult<std::string> AuthorizationServer::IssueCode(const AuthorizationRequest& request,
                                                        const std::string& user,
                                                        const std::string& role) {
  const std::vector<std::string> granted = HeldBy(request.scopes, role);
  if (granted.empty()) return Refuse("access_denied", "the user's role holds none of the scopes");
  const std::string code = NewSecret();
  AuthorizationCode stored;
  stored.digest = crypto::Sha256Hex(code);
  stored.client_id = request.client.id;
  stored.user = user;
  stored.role = role;
  stored.redirect_uri = request.redirect_uri;
  stored.scope = JoinScope(granted);
  stored.code_challenge = request.code_challenge;
  stored.issued_at = Now();
  stored.expires_at = stored.issued_at + options_.code_lifetime.count();
  if (Status created = store_->CreateCode(stored); !created) return ServerError(created.error());
  return code;
}

OAuthResult<TokenAnswer> AuthorizationServer::Token(const ClientCredentials& credentials,
                                                    const OAuthParams& params) {
  auto grant_name = Required(params, "grant_type");
  if (!grant_name) return std::unexpected(grant_name.error());
  const std::optional<GrantType> grant = ParseGrantType(*grant_name);
  if (!grant) {
    return Refuse("unsupported_grant_type", "grant_type " + *grant_name + " is not supported");
  }
  auto client = AuthenticateClient(credentials);
  if (!client) return std::unexpected(client.error());
  if (!Allows(*client, *grant)) {
    return Refuse("unauthorized_client", "the client may not use grant " + *grant_name);
  }
  switch (*grant) {
    case GrantType::kAuthorizationCode:
      return CodeGrant(*client, params);
    case GrantType::kRefreshToken:
      return RefreshGrant(*client, params);
    case GrantType::kClientCredentials:
      return ClientCredentialsGrant(*client, params);
    case GrantType::kDeviceCode:
      return DeviceGrant(*client, params);
  }
  return Refuse("unsupported_grant_type", "grant_type is not supported");
}

OAuthResult<std::string> AuthorizationServer::IssueAccess(const OAuthClient& client,
                                                          const std::string& subject,
                                                          const std::string& role,
                                                          const std::string& scope,
                                                          const std::vector<std::string>& resources,
                                                          const std::string& family_id) {
  auto keys = LoadKeys();
  if (!keys) return ServerError(keys.error());
  oauth::AccessTokenClaims claims;
  claims.issuer = Issuer();
  claims.subject = subject;
  claims.audiences = resources;
  claims.issued_at = Now();
  claims.expires_at = claims.issued_at + options_.access_token_lifetime.count();
  claims.token_id = oauth::NewTokenId();
  claims.client_id = client.id;
  claims.scopes = SplitScope(scope);
  claims.role = role;
  claims.session_id = family_id;
  auto token = oauth::IssueAccessToken(*(*keys)->signer, claims);
  if (!token) return ServerError(token.error());
  return std::move(*token);
}

OAuthResult<TokenAnswer> AuthorizationServer::StartFamily(
    const OAuthClient& client, const std::string& user, const std::string& role,
    const std::string& scope, const std::vector<std::string>& resources, GrantType grant,
    const std::string& grant_digest) {
  const std::int64_t now = Now();
  TokenFamily family;
  family.id = crypto::ToHex(crypto::RandomBytes(16));
  family.client_id = client.id;
  family.user = user;
  family.role = role;
  family.scope = scope;
  family.created_at = now;
  family.expires_at = now + options_.family_lifetime.count();
  TokenAnswer answer;
  std::optional<RefreshToken> refresh;
  if (Allows(client, GrantType::kRefreshToken)) {
    answer.refresh_token = NewSecret();
    refresh = RefreshToken{crypto::Sha256Hex(answer.refresh_token), family.id, now,
                           now + options_.refresh_token_lifetime.count(), std::nullopt};
  }
  if (Status created = store_->CreateTokenFamily(family, refresh, grant, grant_digest); !created) {
    // The code was presented again, or its user's or client's tokens revoked, meanwhile.
    if (created.error().code() == ErrorCode::kConflict) {
      return Refuse("invalid_grant", "the grant is no longer valid");
    }
    return ServerError(created.error());
  }
  auto access = IssueAccess(client, user, role, scope, resources, family.id);
  if (!access) return std::unexpected(access.error());
  answer.access_token = std::move(*access);
  answer.expires_in = options_.access_token_lifetime.count();
  answer.scope = scope;
  return answer;
}

OAuthResult<TokenAnswer> AuthorizationServer::CodeGrant(const OAuthClient& client,
                                                        const OAuthParams& params) {
  auto code = Required(params, "code");
  if (!code) return std::unexpected(code.error());
  auto verifier = Param(params, "code_verifier");
  if (!verifier) return std::unexpected(verifier.error());
  auto redirect_uri = Param(params, "redirect_uri");
  if (!redirect_uri) return std::unexpected(redirect_uri.error());
  auto resources = Audiences(params, Issuer(), client);
  if (!resources) return std::unexpected(resources.error());

  const std::string digest = crypto::Sha256Hex(*code);
  auto redeemed = store_->ConsumeCode(digest, Now());
  if (!redeemed) return ServerError(redeemed.error());
  switch (redeemed->verdict) {
    case CodeVerdict::kInvalid:
      return Refuse("invalid_grant", "the authorization code is invalid or expired");
    case CodeVerdict::kAlreadyUsed:
      // The store revoked what the first redemption issued.
      log::Warn("oauth: authorization code of client {} presented twice; its tokens are revoked",
                client.id);
      return Refuse("invalid_grant", "the authorization code was already used");
    case CodeVerdict::kRedeemed:
      break;
  }
  const AuthorizationCode& stored = redeemed->code;
  if (stored.client_id != client.id) {
    return Refuse("invalid_grant", "the authorization code was issued to another client");
  }
  if (stored.redirect_uri.empty() != !*redirect_uri ||
      (*redirect_uri && **redirect_uri != stored.redirect_uri)) {
    return Refuse("invalid_grant", "redirect_uri differs from the authorization request's");
  }
  // Every code has a challenge (the authorization endpoint requires one); a verifier for a
  // code without one would be a PKCE downgrade, and is refused all the same.
  if (stored.code_challenge.empty()) {
    return Refuse("invalid_grant", "the authorization code has no PKCE challenge");
  }
  if (!*verifier) return Refuse("invalid_grant", "code_verifier is required");
  if (!oauth::VerifyCodeVerifier(**verifier, stored.code_challenge)) {
    return Refuse("invalid_grant", "code_verifier does not match the code_challenge");
  }
  return StartFamily(client, stored.user, stored.role, stored.scope, *resources,
                     GrantType::kAuthorizationCode, digest);
}

OAuthResult<TokenAnswer> AuthorizationServer::RefreshGrant(const OAuthClient& client,
                                                           const OAuthParams& params) {
  auto token = Required(params, "refresh_token");
  if (!token) return std::unexpected(token.error());
  auto resources = Audiences(params, Issuer(), client);
  if (!resources) return std::unexpected(resources.error());
  const std::int64_t now = Now();
  std::string next = NewSecret();
  auto rotation =
      store_->RotateRefreshToken(client.id, crypto::Sha256Hex(*token), crypto::Sha256Hex(next), now,
                                 now + options_.refresh_token_lifetime.count());
  if (!rotation) return ServerError(rotation.error());
  switch (rotation->verdict) {
    case RotationVerdict::kInvalid:
      return Refuse("invalid_grant", "the refresh token is invalid or expired");
    case RotationVerdict::kReused:
      log::Warn(
          "oauth: a rotated refresh token of client {} (user {}) was presented again; "
          "its family is revoked",
          client.id, rotation->family.user);
      return Refuse("invalid_grant", "the refresh token was already used; the grant is revoked");
    case RotationVerdict::kRotated:
      break;
  }
  const TokenFamily& family = rotation->family;
  // A refresh may narrow the scope, never widen it (RFC 6749 6).
  auto scopes = RequestedScopes(params, SplitScope(family.scope));
  if (!scopes) return std::unexpected(scopes.error());
  const std::string subject = family.user.empty() ? client.id : family.user;
  auto access =
      IssueAccess(client, subject, family.role, JoinScope(*scopes), *resources, family.id);
  if (!access) return std::unexpected(access.error());
  return TokenAnswer{std::move(*access), options_.access_token_lifetime.count(), std::move(next),
                     JoinScope(*scopes)};
}

OAuthResult<TokenAnswer> AuthorizationServer::ClientCredentialsGrant(const OAuthClient& client,
                                                                     const OAuthParams& params) {
  auto resources = Audiences(params, Issuer(), client);
  if (!resources) return std::unexpected(resources.error());
  auto scopes = RequestedScopes(params, client.scopes);
  if (!scopes) return std::unexpected(scopes.error());
  // The client acts for itself with its role (CreateClient requires one): no scope that role
  // lacks, since resource servers grant only what both the scopes and the role hold.
  std::vector<std::string> granted = HeldBy(*scopes, client.role);
  if (granted.empty()) return Refuse("invalid_scope", "no scope can be granted");
  const std::string scope = JoinScope(granted);
  auto access = IssueAccess(client, client.id, client.role, scope, *resources, "");
  if (!access) return std::unexpected(access.error());
  return TokenAnswer{std::move(*access), options_.access_token_lifetime.count(), "", scope};
}

OAuthResult<TokenAnswer> AuthorizationServer::DeviceGrant(const OAuthClient& client,
                                                          const OAuthParams& params) {
  auto device_code = Required(params, "device_code");
  if (!device_code) return std::unexpected(device_code.error());
  auto resources = Audiences(params, Issuer(), client);
  if (!resources) return std::unexpected(resources.error());
  const std::string digest = crypto::Sha256Hex(*device_code);
  auto poll = store_->PollDeviceCode(client.id, digest, Now());
  if (!poll) return ServerError(poll.error());
  switch (poll->verdict) {
    case PollVerdict::kPending:
      return Refuse("authorization_pending", "the user has not decided yet");
    case PollVerdict::kSlowDown:
      return Refuse("slow_down", "polling too often; wait " +
                                     std::to_string(poll->authorization.interval) + " s");
    case PollVerdict::kDenied:
      return Refuse("access_denied", "the user denied the request");
    case PollVerdict::kExpired:
      return Refuse("expired_token", "the device code expired");
    case PollVerdict::kInvalid:
      return Refuse("invalid_grant", "the device code is invalid");
    case PollVerdict::kApproved:
      break;
  }
  const DeviceAuthorization& approved = poll->authorization;
  const std::string scope = JoinScope(HeldBy(SplitScope(approved.scope), approved.role));
  if (scope.empty()) return Refuse("access_denied", "the user's role holds none of the scopes");
  return StartFamily(client, approved.user, approved.role, scope, *resources,
                     GrantType::kDeviceCode, digest);
}

OAuthResult<DeviceAuthorizationAnswer> AuthorizationServer::AuthorizeDevice(
    const ClientCredentials& credentials, const OAuthParams& params) {
  auto client = AuthenticateClient(credentials);
  if (!client) return std::unexpected(client.error());
  if (!Allows(*client, GrantType::kDeviceCode)) {
    return Refuse("unauthorized_client", "the client may not use the device grant");
  }
  auto scopes = RequestedScopes(params, client->scopes);
  if (!scopes) return std::unexpected(scopes.error());
  if (scopes->empty()) return Refuse("invalid_scope", "no scope requested");
  DeviceAuthorizationAnswer answer;
  answer.device_code = NewSecret();
  answer.expires_in = options_.device_code_lifetime.count();
  answer.interval = options_.device_poll_interval;
  answer.verification_uri = Issuer() + "/oauth2/device";
  DeviceAuthorization stored;
  stored.device_code_digest = crypto::Sha256Hex(answer.device_code);
  stored.client_id = client->id;
  stored.scope = JoinScope(*scopes);
  stored.created_at = Now();
  stored.expires_at = stored.created_at + answer.expires_in;
  stored.interval = answer.interval;
  // A user code still in use is drawn again; a few tries are plenty with 34 bits.
  for (int attempt = 0;; ++attempt) {
    stored.user_code = NewUserCode();
    Status created = store_->CreateDeviceAuthorization(stored);
    if (created) break;
    if (created.error().code() != ErrorCode::kConflict || attempt == 4) {
      return ServerError(created.error());
    }
  }
  answer.user_code = stored.user_code;
  answer.verification_uri_complete = answer.verification_uri + "?user_code=" + answer.user_code;
  return answer;
}

OAuthResult<std::pair<DeviceAuthorization, OAuthClient>> AuthorizationServer::PendingDevice(
    const std::string& user_code) {
  auto found = store_->FindDeviceAuthorization(user_code);
  if (!found) return ServerError(found.error());
  if (!*found || (*found)->state != DeviceAuthorizationState::kPending ||
      (*found)->expires_at <= Now()) {
    return Refuse("invalid_request", "unknown or expired code");
  }
  auto client = store_->FindClient((*found)->client_id);
  if (!client) return ServerError(client.error());
  if (!*client || (*client)->disabled) return Refuse("invalid_request", "unknown or expired code");
  return std::pair{std::move(**found), std::move(**client)};
}

OAuthResult<void> AuthorizationServer::DecideDevice(const std::string& user_code, bool approve,
                                                    const std::string& user,
                                                    const std::string& role) {
  const std::int64_t now = Now();
  Status decided = approve ? store_->ApproveDeviceAuthorization(user_code, user, role, now)
                           : store_->DenyDeviceAuthorization(user_code, now);
  if (!decided) {
    const ErrorCode code = decided.error().code();
    if (code == ErrorCode::kNotFound || code == ErrorCode::kConflict) {
      return Refuse("invalid_request", "unknown or expired code");
    }
    return ServerError(decided.error());
  }
  return {};
}

OAuthResult<Introspection> AuthorizationServer::Introspect(const ClientCredentials& credentials,
                                                           const std::string& token) {
  auto client = AuthenticateClient(credentials);
  if (!client) return std::unexpected(client.error());
  if (client->type != OAuthClientType::kConfidential) {
    return Refuse("unauthorized_client", "only confidential clients may introspect", 403);
  }
  Introspection out;
  auto keys = LoadKeys();
  if (!keys) return ServerError(keys.error());
  // An access token: any audience of this issuer.
  oauth::AccessTokenPolicy policy;
  policy.issuer = Issuer();
  policy.now = Now();
  policy.any_audience = true;
  if (auto claims = oauth::ValidateAccessToken(token, (*keys)->jwks, policy); claims) {
    auto revoked = store_->IsAccessTokenRevoked(claims->token_id);
    if (!revoked) return ServerError(revoked.error());
    bool family_revoked = false;
    if (!claims->session_id.empty()) {
      auto r = store_->IsFamilyRevoked(claims->session_id);
      if (!r) return ServerError(r.error());
      family_revoked = *r;
    }
    if (*revoked || family_revoked) return out;
    out.active = true;
    out.token_type = "access_token";
    out.client_id = claims->client_id;
    out.subject = claims->subject;
    out.scope = JoinScope(claims->scopes);
    out.role = claims->role;
    out.audiences = claims->audiences;
    out.expires_at = claims->expires_at;
    out.issued_at = claims->issued_at;
    out.token_id = claims->token_id;
    return out;
  }
  // A refresh token: only its own client learns about it.
  auto refresh = store_->FindRefreshToken(crypto::Sha256Hex(token));
  if (!refresh) return ServerError(refresh.error());
  if (!*refresh || (*refresh)->rotated_at || (*refresh)->expires_at <= Now()) return out;
  auto family = store_->FindFamily((*refresh)->family_id);
  if (!family) return ServerError(family.error());
  if (!*family || (*family)->revoked_at || (*family)->client_id != client->id ||
      (*family)->expires_at <= Now()) {
    return out;
  }
  out.active = true;
  out.token_type = "refresh_token";
  out.client_id = (*family)->client_id;
  out.subject = (*family)->user;
  out.scope = (*family)->scope;
  out.role = (*family)->role;
  out.expires_at = (*refresh)->expires_at;
  out.issued_at = (*refresh)->issued_at;
  return out;
}

OAuthResult<void> AuthorizationServer::Revoke(const ClientCredentials& credentials,
                                              const std::string& token) {
  auto client = AuthenticateClient(credentials);
  if (!client) return std::unexpected(client.error());
  const std::int64_t now = Now();
  // A refresh token revokes its family (RFC 7009 2.1: and the access tokens of the grant).
  auto refresh = store_->FindRefreshToken(crypto::Sha256Hex(token));
  if (!refresh) return ServerError(refresh.error());
  if (*refresh) {
    auto family = store_->FindFamily((*refresh)->family_id);
    if (!family) return ServerError(family.error());
    if (*family && (*family)->client_id == client->id) {
      if (Status revoked = store_->RevokeFamily((*family)->id, now); !revoked) {
        return ServerError(revoked.error());
      }
    }
    return {};
  }
  auto keys = LoadKeys();
  if (!keys) return ServerError(keys.error());
  oauth::AccessTokenPolicy policy;
  policy.issuer = Issuer();
  policy.now = now;
  policy.any_audience = true;
  auto claims = oauth::ValidateAccessToken(token, (*keys)->jwks, policy);
  // An invalid token, or one of another client, is answered like a revoked one (RFC 7009 2.2).
  if (!claims || claims->client_id != client->id) return {};
  if (Status revoked = store_->RevokeAccessToken(claims->token_id, claims->expires_at); !revoked) {
    return ServerError(revoked.error());
  }
  return {};
}

Result<oauth::AccessTokenClaims> AuthorizationServer::ValidateForDirector(std::string_view token) {
  const auto keys = FK_TRY(LoadKeys());
  oauth::AccessTokenPolicy policy;
  policy.issuer = Issuer();
  policy.audiences = {Issuer()};
  policy.now = Now();
  oauth::AccessTokenClaims claims = FK_TRY(oauth::ValidateAccessToken(token, keys->jwks, policy));
  if (FK_TRY(store_->IsAccessTokenRevoked(claims.token_id))) {
    return Fail(ErrorCode::kUnauthenticated, "token revoked");
  }
  if (!claims.session_id.empty() && FK_TRY(store_->IsFamilyRevoked(claims.session_id))) {
    return Fail(ErrorCode::kUnauthenticated, "token revoked");
  }
  return claims;
}

}  // namespace fogkeep::director
