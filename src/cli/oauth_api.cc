#include "cli/oauth_api.h"

#include <algorithm>
#include <boost/json.hpp>

#include "api/node.h"  // ParseJson
#include "cli/json_fields.h"
#include "cli/node_client.h"
#include "cli/output.h"
#include "crypto/hash.h"
#include "oauth/pkce.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxClaimsBytes = 64 * 1024;
constexpr std::int64_t kSlowDownSeconds = 5;  // RFC 8628 3.5

Error Invalid(std::string message) { return Error(ErrorCode::kInvalidInput, std::move(message)); }

// access_denied (RFC 6749 4.1.2.1, RFC 8628 3.5): the user said no, or the director found
// nothing of what was asked that the user's role holds; its description tells which.
Error LoginDenied(std::string_view where, std::string_view description) {
  return Error(ErrorCode::kForbidden,
               "login denied " + std::string(where) +
                   (description.empty() ? "" : " (" + Printable(description) + ")"));
}

// The origin ("https://host:port") and the rest ("/path?query") of an https URL.
std::optional<std::pair<std::string_view, std::string_view>> SplitUrl(std::string_view url) {
  if (!url.starts_with("https://")) return std::nullopt;
  const std::size_t slash = url.find('/', std::string_view("https://").size());
  if (slash == std::string_view::npos) return std::pair{url, std::string_view("/")};
  return std::pair{url.substr(0, slash), url.substr(slash)};
}

// The one value of `name` in a query; kIntegrity when it is there twice.
Result<std::optional<std::string>> OnlyValue(
    const std::vector<std::pair<std::string, std::string>>& query, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [key, value] : query) {
    if (key != name) continue;
    if (found) {
      return Fail(ErrorCode::kIntegrity,
                  "the redirect carries " + std::string(name) + " twice; nothing was exchanged");
    }
    found = value;
  }
  return found;
}

// The claims of a JWT, unverified: the director verifies its tokens; this machine only reads
// whom one was issued for. nullopt when `token` is not a JWT with a JSON object as claims.
std::optional<json::object> UnverifiedClaims(std::string_view token) {
  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  Result<std::string> payload =
      crypto::Base64UrlDecode(token.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  Result<json::value> claims = api::ParseJson(*payload, kMaxClaimsBytes);
  if (!claims || !claims->is_object()) return std::nullopt;
  return std::move(claims->get_object());
}

std::string ClaimText(const json::object& claims, std::string_view key) {
  const json::value* v = claims.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Sets the user and role of `c` from its access token's claims.
Status ReadTokenOwner(Credential& c) {
  const std::optional<json::object> claims = UnverifiedClaims(c.access_token);
  if (!claims) return Fail(Invalid("the director's access token is not a JWT"));
  c.user = ClaimText(*claims, "sub");
  c.role = ClaimText(*claims, "role");
  if (c.user.empty() || !IsDisplaySafe(c.user) || !IsDisplaySafe(c.role)) {
    return Fail(Invalid("the director's access token names no usable user (sub)"));
  }
  return {};
}

}  // namespace

Result<std::string> EndpointTarget(std::string_view endpoint, std::string_view director) {
  const auto fail = [&](std::string why) {
    return Fail(Invalid("endpoint " + Printable(endpoint) + " " + why));
  };
  const auto parts = SplitUrl(endpoint);
  if (!parts) return fail("is not an https:// URL");
  Result<std::string> origin = CanonicalServerUrl(parts->first, ServerKind::kDirector);
  if (!origin || *origin != director)
    return fail("is not on the director " + std::string(director));
  const std::string_view rest = parts->second;
  const bool visible =
      std::ranges::all_of(rest, [](char c) { return c > 0x20 && c < 0x7f && c != '#'; });
  if (!visible) return fail("holds characters a request line cannot carry");
  return std::string(rest);
}

Result<ServerMetadata> ParseServerMetadata(std::string_view body, std::string_view director) {
  JsonFields r(body, "the director's OAuth metadata:");
  ServerMetadata m;
  m.issuer = r.Required("issuer");
  m.authorization_endpoint = r.Text("authorization_endpoint");
  m.token_endpoint = r.Required("token_endpoint");
  m.device_authorization_endpoint = r.Text("device_authorization_endpoint");
  m.revocation_endpoint = r.Text("revocation_endpoint");
  m.iss_parameter = r.Flag("authorization_response_iss_parameter_supported");
  FK_TRY(r.status());
  // RFC 8414 3.3: the issuer is the URL the metadata was fetched under. A director behind
  // another name issues tokens for that name: say which one to use.
  Result<std::string> issuer = CanonicalServerUrl(m.issuer, ServerKind::kDirector);
  if (!issuer || *issuer != director || m.issuer.ends_with('/')) {
    return Fail(ErrorCode::kIntegrity,
                "the director at " + std::string(director) + " names itself " +
                    Printable(m.issuer) + " (its OAuth issuer): log in with --director " +
                    Printable(m.issuer) + ", the URL its tokens are issued for");
  }
  for (const std::string* endpoint : {&m.authorization_endpoint, &m.token_endpoint,
                                      &m.device_authorization_endpoint, &m.revocation_endpoint}) {
    if (!endpoint->empty()) FK_TRY_CTX(EndpointTarget(*endpoint, director), "the OAuth metadata");
  }
  return m;
}

std::string FormBody(const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
  std::string body;
  for (const auto& [key, value] : fields) {
    if (!body.empty()) body += '&';
    body += EncodeComponent(key) + "=" + EncodeComponent(value);
  }
  return body;
}

Result<TokenAnswer> ParseTokenAnswer(std::string_view body) {
  JsonFields r(body, "the director's token answer:");
  TokenAnswer answer;
  const std::string type = r.Required("token_type");
  answer.access_token = r.Required("access_token");
  answer.refresh_token = r.Text("refresh_token");
  answer.expires_in = r.Seconds("expires_in", 0);
  answer.scope = r.Text("scope");
  FK_TRY(r.status());
  if (!net::EqualsIgnoreCase(type, "Bearer")) {
    return Fail(Invalid("the director's token answer: token_type is \"" + Printable(type) +
                        "\", not \"Bearer\""));
  }
  if (!IsBearerToken(answer.access_token) ||
      (!answer.refresh_token.empty() && !IsBearerToken(answer.refresh_token))) {
    return Fail(
        Invalid("the director's token answer: the tokens are not 1 to 1024 visible ASCII "
                "characters"));
  }
  if (answer.expires_in <= 0) {
    return Fail(Invalid("the director's token answer: expires_in is missing"));
  }
  return answer;
}

std::optional<OAuthErrorAnswer> ParseOAuthError(std::string_view body) {
  JsonFields r(body, "error");
  OAuthErrorAnswer answer;
  answer.error = r.Text("error");
  answer.description = r.Text("error_description");
  if (!r.status() || answer.error.empty()) return std::nullopt;
  return answer;
}

Error OAuthFailure(const net::Response& response, std::string_view what) {
  const std::optional<OAuthErrorAnswer> answer = ParseOAuthError(response.body);
  if (!answer) return net::ResponseError(response).With(what);
  const ErrorCode code = response.status == 401   ? ErrorCode::kUnauthenticated
                         : response.status >= 500 ? ErrorCode::kUnavailable
                                                  : ErrorCode::kInvalidInput;
  return Error(code, std::string(what) + ": " + answer->error +
                         (answer->description.empty() ? "" : ": " + answer->description));
}

Result<DeviceAuthorization> ParseDeviceAuthorization(std::string_view body) {
  JsonFields r(body, "the director's device authorization:");
  DeviceAuthorization d;
  d.device_code = r.Required("device_code");
  d.user_code = r.Required("user_code");
  d.verification_uri = r.Required("verification_uri");
  d.verification_uri_complete = r.Text("verification_uri_complete");
  d.expires_in = r.Seconds("expires_in", 0);
  d.interval = r.Seconds("interval", d.interval);
  FK_TRY(r.status());
  if (!IsBearerToken(d.device_code)) {
    return Fail(Invalid("the director's device authorization: device_code is not a token"));
  }
  if (d.expires_in <= 0) {
    return Fail(Invalid("the director's device authorization: expires_in is missing"));
  }
  for (const std::string* uri : {&d.verification_uri, &d.verification_uri_complete}) {
    if (!uri->empty() && !uri->starts_with("https://")) {
      return Fail(Invalid("the director's device authorization: the verification URI " +
                          Printable(*uri) + " is not https://"));
    }
  }
  return d;
}

Result<std::optional<TokenAnswer>> ReadDevicePoll(const net::Response& response,
                                                  std::chrono::seconds* interval) {
  if (response.status >= 200 && response.status < 300) {
    return std::optional<TokenAnswer>(FK_TRY(ParseTokenAnswer(response.body)));
  }
  const std::optional<OAuthErrorAnswer> answer = ParseOAuthError(response.body);
  const std::string error = answer ? answer->error : "";
  if (error == "authorization_pending") return std::optional<TokenAnswer>();
  if (error == "slow_down") {
    *interval += std::chrono::seconds(kSlowDownSeconds);
    return std::optional<TokenAnswer>();
  }
  if (error == "access_denied") {
    return Fail(LoginDenied("on the director's verification page", answer->description));
  }
  if (error == "expired_token") return Fail(DeviceCodeExpired());
  return Fail(OAuthFailure(response, "login refused by the director"));
}

Error DeviceCodeExpired() {
  return Error(ErrorCode::kUnauthenticated,
               "login expired: nobody approved the code in time; run the login again for a new "
               "code");
}

Pkce NewPkce() {
  Pkce pkce;
  pkce.verifier = crypto::Base64UrlEncode(crypto::RandomBytes(32));
  // A verifier of 43 base64url characters is always well-formed.
  pkce.challenge = oauth::S256CodeChallenge(pkce.verifier).value_or("");
  return pkce;
}

std::string NewState() { return crypto::Base64UrlEncode(crypto::RandomBytes(32)); }

std::string AuthorizationUrl(std::string_view endpoint, const AuthorizationRequest& request) {
  std::vector<std::pair<std::string_view, std::string_view>> fields = {
      {"response_type", "code"},
      {"client_id", request.client_id},
      {"redirect_uri", request.redirect_uri}};
  if (!request.scope.empty()) fields.emplace_back("scope", request.scope);
  fields.insert(fields.end(), {{"state", request.state},
                               {"code_challenge", request.code_challenge},
                               {"code_challenge_method", "S256"}});
  const char separator = endpoint.find('?') == std::string_view::npos ? '?' : '&';
  return std::string(endpoint) + separator + FormBody(fields);
}

Result<std::string> ParseCallback(std::string_view target, std::string_view state,
                                  std::string_view issuer, bool iss_required) {
  Result<net::Target> parsed = net::ParseTarget(target);
  if (!parsed || parsed->path != kCallbackPath) {
    return Fail(ErrorCode::kNotFound, "not the login's redirect");
  }
  const auto& query = parsed->query;
  const std::optional<std::string> iss = FK_TRY(OnlyValue(query, "iss"));
  if (iss ? *iss != issuer : iss_required) {
    return Fail(ErrorCode::kIntegrity,
                "the redirect names the issuer " + (iss ? Printable(*iss) : "(none)") +
                    ", not the director " + std::string(issuer) +
                    ": it answers another server's request (RFC 9207); nothing was exchanged");
  }
  const std::optional<std::string> got_state = FK_TRY(OnlyValue(query, "state"));
  if (!got_state || !crypto::ConstantTimeEquals(*got_state, state)) {
    return Fail(ErrorCode::kIntegrity,
                "the redirect's state does not match this login: it answers a request this "
                "fogkeep did not make (forged, or from an earlier attempt); nothing was "
                "exchanged");
  }
  const std::optional<std::string> error = FK_TRY(OnlyValue(query, "error"));
  if (error) {
    const std::optional<std::string> description = FK_TRY(OnlyValue(query, "error_description"));
    if (*error == "access_denied") {
      return Fail(LoginDenied("in the browser", description.value_or("")));
    }
    return Fail(ErrorCode::kUnauthenticated,
                "the director refused the authorization: " + Printable(*error) +
                    (description ? ": " + Printable(*description) : ""));
  }
  const std::optional<std::string> code = FK_TRY(OnlyValue(query, "code"));
  if (!code || code->empty()) {
    return Fail(Invalid("the redirect carries no authorization code"));
  }
  return *code;
}

Result<Credential> CredentialFromTokenAnswer(std::string director, const TokenAnswer& answer,
                                             std::string ca, OAuthGrant grant,
                                             std::chrono::system_clock::time_point now) {
  if (answer.refresh_token.empty()) {
    return Fail(Invalid("the director issued no refresh token, so the login could not last"));
  }
  Credential c;
  c.node = std::move(director);
  c.server = ServerKind::kDirector;
  c.access_token = answer.access_token;
  c.refresh_token = answer.refresh_token;
  c.access_expires = now + std::chrono::seconds(answer.expires_in);
  c.ca = std::move(ca);
  c.oauth = std::move(grant);
  FK_TRY(ReadTokenOwner(c));
  return c;
}

Result<Credential> RefreshedCredential(const Credential& login, const TokenAnswer& answer,
                                       std::chrono::system_clock::time_point now) {
  Credential c = login;
  c.access_token = answer.access_token;
  if (!answer.refresh_token.empty()) c.refresh_token = answer.refresh_token;
  c.access_expires = now + std::chrono::seconds(answer.expires_in);
  FK_TRY(ReadTokenOwner(c));
  return c;
}

}  // namespace fogkeep::cli
