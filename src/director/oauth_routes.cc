#include "director/oauth_routes.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "access/audit_api.h"
#include "api/director.h"
#include "api/node.h"
#include "auth/roles.h"
#include "core/json_text.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "director/device_auth.h"

namespace fogkeep::director {
namespace {

namespace json = boost::json;
using net::Method;
using net::Request;
using net::Response;
using net::RouteOptions;

constexpr std::string_view kCsrfCookie = "__Host-fogkeep-oauth";
constexpr std::string_view kCsrfField = "fk_csrf";
constexpr std::string_view kStepField = "fk_step";
constexpr std::string_view kTicketField = "fk_ticket";
constexpr std::string_view kDecisionField = "fk_decision";
constexpr std::string_view kUserField = "fk_user";
constexpr std::string_view kPasswordField = "fk_password";
constexpr std::string_view kUserCodeField = "user_code";
constexpr std::int64_t kTicketSeconds = 300;
constexpr std::size_t kMaxRecordedUserBytes = 128;

// --- HTML

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Hidden(std::string_view name, std::string_view value) {
  return "<input type=\"hidden\" name=\"" + Escape(name) + "\" value=\"" + Escape(value) + "\">";
}

// The headers every page of the authorization server carries: nothing loads, nothing frames
// it, nothing caches it, and it leaks no referrer to where it links.
void PageHeaders(Response& response) {
  response.headers.Set("Content-Type", "text/html; charset=utf-8");
  response.headers.Set("Content-Security-Policy",
                       "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                       "base-uri 'none'");
  response.headers.Set("X-Frame-Options", "DENY");
  response.headers.Set("Cache-Control", "no-store");
  response.headers.Set("Referrer-Policy", "no-referrer");
  response.headers.Set("X-Content-Type-Options", "nosniff");
}

Response Page(int status, std::string_view title, std::string_view body) {
  Response response;
  response.status = status;
  response.body =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\"><title>" +
      Escape(title) +
      " — fogkeep</title><style>body{font-family:sans-serif;max-width:32em;margin:3em auto;"
      "padding:0 1em}label{display:block;margin:.6em 0}input[type=text],input[type=password]"
      "{width:100%}.error{color:#a00}li{margin:.2em 0}</style></head><body><h1>" +
      Escape(title) + "</h1>" + std::string(body) + "</body></html>\n";
  PageHeaders(response);
  return response;
}

Response ErrorPage(int status, std::string_view message) {
  return Page(status, "Cannot continue", "<p class=\"error\">" + Escape(message) + "</p>");
}

std::string ScopeList(const std::vector<std::string>& scopes) {
  std::string out = "<ul>";
  for (const std::string& scope : scopes) {
    std::string description;
    for (const auto& permission : auth::AllPermissions()) {
      if (permission.name == scope) description = permission.description;
    }
    out += "<li><code>" + Escape(scope) + "</code>: " + Escape(description) + "</li>";
  }
  return out + "</ul>";
}

std::string SignInFields(std::string_view user) {
  return "<label>User <input type=\"text\" name=\"" + std::string(kUserField) + "\" value=\"" +
         Escape(user) +
         "\" autocomplete=\"username\" required></label><label>Password <input "
         "type=\"password\" name=\"" +
         std::string(kPasswordField) + "\" autocomplete=\"current-password\" required></label>";
}

// --- CSRF cookie and consent tickets

std::optional<std::string> Cookie(const Request& request, std::string_view name) {
  for (const auto& [field, value] : request.headers.fields()) {
    if (!net::EqualsIgnoreCase(field, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? "" : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.starts_with(name) && pair.size() > name.size() && pair[name.size()] == '=') {
        return std::string(pair.substr(name.size() + 1));
      }
    }
  }
  return std::nullopt;
}

// A fresh CSRF token, set as the cookie the form must echo.
std::string NewCsrf(Response& response) {
  std::string token = crypto::Base64UrlEncode(crypto::RandomBytes(32));
  response.headers.Add("Set-Cookie", std::string(kCsrfCookie) + "=" + token +
                                         "; Path=/; Secure; HttpOnly; SameSite=Strict");
  return token;
}

std::optional<std::string> Field(const OAuthParams& form, std::string_view name) {
  for (const auto& [key, value] : form) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// The form's CSRF field equals the cookie; the cookie's value, when it does.
std::optional<std::string> CheckCsrf(const Request& request, const OAuthParams& form) {
  std::optional<std::string> cookie = Cookie(request, kCsrfCookie);
  std::optional<std::string> field = Field(form, kCsrfField);
  if (!cookie || !field || cookie->empty() || !crypto::ConstantTimeEquals(*cookie, *field)) {
    return std::nullopt;
  }
  return cookie;
}

// What a consent ticket binds: who signed in, to what, in which browser, until when.
struct Ticket {
  std::string user;
  std::string role;
  std::string subject;  // the authorization request's digest, or the device's user code
  std::string csrf_digest;
  std::int64_t expires_at = 0;
};

std::string SealTicket(const std::string& key, const Ticket& t) {
  json::object payload{
      {"u", t.user}, {"r", t.role}, {"s", t.subject}, {"c", t.csrf_digest}, {"x", t.expires_at}};
  const std::string text = crypto::Base64UrlEncode(json::serialize(payload));
  return text + "." + crypto::Base64UrlEncode(crypto::HmacSha256(key, text));
}

std::optional<Ticket> OpenTicket(const std::string& key, std::string_view sealed,
                                 std::int64_t now) {
  const std::size_t dot = sealed.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view text = sealed.substr(0, dot);
  auto mac = crypto::Base64UrlDecode(sealed.substr(dot + 1));
  if (!mac || !crypto::ConstantTimeEquals(*mac, crypto::HmacSha256(key, text))) return std::nullopt;
  auto decoded = crypto::Base64UrlDecode(text);
  if (!decoded) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*decoded, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return std::nullopt;
  Ticket t;
  const auto str = [&](std::string_view k, std::string* out) {
    const json::value* f = o->if_contains(k);
    if (f == nullptr || !f->is_string()) return false;
    *out = std::string(f->get_string());
    return true;
  };
  const json::value* x = o->if_contains("x");
  if (!str("u", &t.user) || !str("r", &t.role) || !str("s", &t.subject) ||
      !str("c", &t.csrf_digest) || x == nullptr || !x->is_int64()) {
    return std::nullopt;
  }
  t.expires_at = x->get_int64();
  if (t.expires_at <= now) return std::nullopt;
  return t;
}

// The parts of an authorization request a consent answers for.
std::string RequestDigest(const AuthorizationRequest& r) {
  std::string text;
  for (const std::string& part : {r.client.id, r.redirect_uri, r.state, r.code_challenge}) {
    json_text::AppendString(text, part);
  }
  for (const std::string& scope : r.scopes) json_text::AppendString(text, scope);
  return crypto::Sha256Hex(text);
}

// --- OAuth answers

Response OAuthJson(std::string body, int status = 200) {
  Response response = Response::Json(std::move(body), status);
  response.headers.Set("Cache-Control", "no-store");
  response.headers.Set("Pragma", "no-cache");
  return response;
}

Response OAuthErrorResponse(const OAuthError& error) {
  json::object body{{"error", error.error}};
  if (!error.description.empty()) body["error_description"] = error.description;
  Response response = OAuthJson(json::serialize(body), error.status);
  if (error.status == 401) {
    response.headers.Set("WWW-Authenticate", "Basic realm=\"fogkeep-director\"");
  }
  return response;
}

// 303 to `redirect_uri` with `params` added to its query (RFC 6749 4.1.2), and iss (RFC 9207).
Response RedirectTo(const std::string& redirect_uri,
                    const std::vector<std::pair<std::string, std::string>>& params) {
  auto parsed = boost::urls::parse_uri(redirect_uri);
  if (parsed.has_error()) return ErrorPage(400, "the redirect URI is malformed");
  boost::urls::url url(*parsed);
  for (const auto& [key, value] : params) url.params().append({key, value});
  Response response;
  response.status = 303;
  response.headers.Set("Location", std::string(url.buffer()));
  response.headers.Set("Cache-Control", "no-store");
  response.headers.Set("Referrer-Policy", "no-referrer");
  return response;
}

bool IsForm(const Request& request) {
  auto type = request.headers.Get("Content-Type");
  if (!type) return false;
  std::string_view t = *type;
  t = t.substr(0, t.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return net::EqualsIgnoreCase(t, "application/x-www-form-urlencoded");
}

// RFC 6749 2.3.1: client_secret_basic, whose id and secret are form-encoded before base64.
std::optional<std::string> FormDecode(std::string_view text) {
  auto fields = net::ParseForm("x=" + std::string(text));
  if (!fields || fields->size() != 1) return std::nullopt;
  return fields->front().second;
}

OAuthResult<ClientCredentials> ReadClient(const Request& request, const OAuthParams& form) {
  const auto invalid = [](std::string description) {
    return std::unexpected(OAuthError{"invalid_client", std::move(description), 401});
  };
  ClientCredentials credentials;
  const std::optional<std::string> body_id = Field(form, "client_id");
  if (Field(form, "client_secret")) {
    return invalid("client_secret_post is not supported; use HTTP Basic");
  }
  if (auto header = request.headers.Get("Authorization"); header) {
    std::string_view value = *header;
    if (value.size() < 6 || !net::EqualsIgnoreCase(value.substr(0, 6), "Basic ")) {
      return invalid("client authentication must be HTTP Basic");
    }
    auto decoded = crypto::Base64Decode(value.substr(6));
    const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return invalid("malformed HTTP Basic credentials");
    auto id = FormDecode(decoded->substr(0, colon));
    auto secret = FormDecode(decoded->substr(colon + 1));
    if (!id || !secret) return invalid("malformed HTTP Basic credentials");
    if (body_id && *body_id != *id) return invalid("client_id differs from the credentials");
    credentials.client_id = std::move(*id);
    credentials.secret = std::move(*secret);
    return credentials;
  }
  if (!body_id || body_id->empty()) return invalid("client authentication is required");
  credentials.client_id = *body_id;
  return credentials;
}

// --- client management wire format

json::array Strings(const std::vector<std::string>& values) {
  json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

// A client as the API shows it (never its secret digest).
api::OAuthClientInfo ToWire(const OAuthClient& c) {
  api::OAuthClientInfo out{
      .client_id = c.id,
      .name = c.name,
      .type = c.type == OAuthClientType::kConfidential ? "confidential" : "public",
      .redirect_uris = c.redirect_uris,
      .scopes = c.scopes,
      .resources = c.resources,
      .role = c.role,
      .disabled = c.disabled,
      .created_by = c.created_by,
      .created_at = c.created_at};
  for (GrantType g : c.grant_types) out.grant_types.emplace_back(GrantTypeName(g));
  return out;
}

std::vector<std::string> SortedUnique(std::vector<std::string> values) {
  std::ranges::sort(values);
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// A client an admin registers, its lists as the store keeps them (sorted, unique); the
// authorization server checks the rest (CreateClient).
Result<OAuthClient> ClientFromJson(std::string_view text) {
  auto wire = FK_TRY(api::FromJsonText<api::OAuthClientInfo>(text));
  OAuthClient c{.id = std::move(wire.client_id),
                .name = std::move(wire.name),
                .redirect_uris = SortedUnique(std::move(wire.redirect_uris)),
                .scopes = SortedUnique(std::move(wire.scopes)),
                .resources = SortedUnique(std::move(wire.resources)),
                .role = std::move(wire.role)};
  if (wire.type == "public") {
    c.type = OAuthClientType::kPublic;
  } else if (wire.type != "confidential") {
    return Fail(ErrorCode::kInvalidInput, "type must be confidential or public");
  }
  for (const std::string& name : wire.grant_types) {
    std::optional<GrantType> grant = ParseGrantType(name);
    if (!grant) return Fail(ErrorCode::kInvalidInput, "unknown grant type " + name);
    c.grant_types.push_back(*grant);
  }
  std::ranges::sort(c.grant_types);
  c.grant_types.erase(std::unique(c.grant_types.begin(), c.grant_types.end()), c.grant_types.end());
  if (c.grant_types.empty()) return Fail(ErrorCode::kInvalidInput, "grant_types must not be empty");
  return c;
}

class OAuthRoutes {
 public:
  OAuthRoutes(std::shared_ptr<AuthorizationServer> server,
              std::shared_ptr<auth::LoginService> login)
      : server_(std::move(server)), login_(std::move(login)) {}

  Result<Response> Metadata(Request&) {
    Response response = Response::Json(server_->MetadataJson());
    response.headers.Set("Cache-Control", "max-age=300");
    return response;
  }

  Result<Response> Jwks(Request&) {
    Response response = Response::Json(FK_TRY(server_->Keys()).ToJson());
    response.headers.Set("Cache-Control", "max-age=60");
    return response;
  }

  // GET: the request's checks, then the sign-in page.
  Result<Response> Authorize(Request& request) {
    auto validated = server_->ValidateAuthorizeRequest(request.query);
    if (!validated) return Refused(validated.error());
    return SignInPage(*validated, request.query, "", 200, "");
  }

  Result<Response> AuthorizeForm(Request& request) {
    if (!IsForm(request)) return ErrorPage(415, "the form must be sent as a form");
    const OAuthParams form = FK_TRY(net::ParseForm(request.body));
    OAuthParams params;  // the authorization request's own parameters, carried by the form
    for (const auto& field : form) {
      if (!field.first.starts_with("fk_")) params.push_back(field);
    }
    auto validated = server_->ValidateAuthorizeRequest(params);
    if (!validated) return Refused(validated.error());
    const std::optional<std::string> csrf = CheckCsrf(request, form);
    if (!csrf) return ErrorPage(403, "This form has expired. Start again from the application.");
    const std::optional<std::string> step = Field(form, kStepField);
    if (step == "login") {
      auto identity = SignIn(request, form);
      if (!identity) {
        return WithRetryAfter(SignInPage(*validated, params, Field(form, kUserField).value_or(""),
                                         identity.error().status, identity.error().message),
                              identity.error());
      }
      const std::string key = FK_TRY(server_->FormKey());
      const std::string ticket =
          SealTicket(key, Ticket{identity->user, identity->role, RequestDigest(*validated),
                                 crypto::Sha256Hex(*csrf), Now() + kTicketSeconds});
      return ConsentPage(*validated, params, *identity, ticket, *csrf);
    }
    if (step != "consent") return ErrorPage(400, "unknown form step");
    const std::string key = FK_TRY(server_->FormKey());
    std::optional<Ticket> ticket = OpenTicket(key, Field(form, kTicketField).value_or(""), Now());
    if (!ticket || ticket->subject != RequestDigest(*validated) ||
        ticket->csrf_digest != crypto::Sha256Hex(*csrf)) {
      return ErrorPage(403, "This form has expired. Start again from the application.");
    }
    request.principal =
        net::Principal{.id = ticket->user, .mechanism = "password", .roles = {ticket->role}};
    const AuthorizationRequest& r = *validated;
    if (Field(form, kDecisionField) != "approve") {
      request.audit_note = "denied client " + r.client.id;
      return RedirectTo(r.redirect_uri,
                        WithState(r.state, {{"error", "access_denied"},
                                            {"error_description", "the user denied"}}));
    }
    auto code = server_->IssueCode(r, ticket->user, ticket->role);
    if (!code) {
      return RedirectTo(r.redirect_uri,
                        WithState(r.state, {{"error", code.error().error},
                                            {"error_description", code.error().description}}));
    }
    request.audit_note = "approved client " + r.client.id + " for " + JoinScope(r.scopes);
    return RedirectTo(r.redirect_uri, WithState(r.state, {{"code", *code}}));
  }

  Result<Response> Token(Request& request) {
    auto call = ClientCall(request);
    if (!call) return OAuthErrorResponse(call.error());
    const auto& [form, client] = *call;
    auto answer = server_->Token(client, form);
    if (!answer) {
      request.audit_note = answer.error().error + ": " + answer.error().description;
      return OAuthErrorResponse(answer.error());
    }
    json::object body{{"access_token", answer->access_token},
                      {"token_type", "Bearer"},
                      {"expires_in", answer->expires_in},
                      {"scope", answer->scope}};
    if (!answer->refresh_token.empty()) body["refresh_token"] = answer->refresh_token;
    request.audit_note =
        "grant " + Field(form, "grant_type").value_or("") + ", scope " + answer->scope;
    return OAuthJson(json::serialize(body));
  }

  Result<Response> DeviceAuthorization(Request& request) {
    auto call = ClientCall(request);
    if (!call) return OAuthErrorResponse(call.error());
    const auto& [form, client] = *call;
    auto answer = server_->AuthorizeDevice(client, form);
    if (!answer) return OAuthErrorResponse(answer.error());
    json::object body{{"device_code", answer->device_code},
                      {"user_code", answer->user_code},
                      {"verification_uri", answer->verification_uri},
                      {"verification_uri_complete", answer->verification_uri_complete},
                      {"expires_in", answer->expires_in},
                      {"interval", answer->interval}};
    return OAuthJson(json::serialize(body));
  }

  Result<Response> DevicePage(Request& request) {
    Response response;
    const std::string csrf = NewCsrf(response);
    return DeviceSignIn(std::string(request.Query(kUserCodeField).value_or("")), "", csrf, 200, "",
                        std::move(response));
  }

  Result<Response> DeviceForm(Request& request) {
    if (!IsForm(request)) return ErrorPage(415, "the form must be sent as a form");
    const OAuthParams form = FK_TRY(net::ParseForm(request.body));
    const std::optional<std::string> csrf = CheckCsrf(request, form);
    if (!csrf) return ErrorPage(403, "This form has expired. Open the verification page again.");
    const std::string user_code = NormalizeUserCode(Field(form, kUserCodeField).value_or(""));
    const std::optional<std::string> step = Field(form, kStepField);
    if (step == "login") {
      auto identity = SignIn(request, form);
      if (!identity) {
        return WithRetryAfter(
            DeviceSignIn(user_code, Field(form, kUserField).value_or(""), *csrf,
                         identity.error().status, identity.error().message, Response{}),
            identity.error());
      }
      auto pending = server_->PendingDevice(user_code);
      if (!pending) {
        return DeviceSignIn(user_code, identity->user, *csrf, 400,
                            "That code is unknown or has expired.", Response{});
      }
      const auto& [authorization, client] = *pending;
      const std::string key = FK_TRY(server_->FormKey());
      const std::string ticket =
          SealTicket(key, Ticket{identity->user, identity->role, user_code,
                                 crypto::Sha256Hex(*csrf), Now() + kTicketSeconds});
      std::vector<std::string> scopes;
      for (const auto& s : SplitScope(authorization.scope)) {
        if (auth::RoleHolds(identity->role, s)) scopes.push_back(s);
      }
      const std::string body = "<p>Signed in as <b>" + Escape(identity->user) + "</b> (" +
                               Escape(identity->role) + ").</p><p><b>" + Escape(client.name) +
                               "</b> asks to act for you with:</p>" + ScopeList(scopes) +
                               "<p>Only approve if your device shows the code <b>" +
                               Escape(authorization.user_code) + "</b>.</p><form method=\"post\">" +
                               Hidden(kStepField, "consent") + Hidden(kCsrfField, *csrf) +
                               Hidden(kTicketField, ticket) + Hidden(kUserCodeField, user_code) +
                               "<button name=\"fk_decision\" value=\"approve\">Approve</button> "
                               "<button name=\"fk_decision\" value=\"deny\">Deny</button></form>";
      return Page(200, "Authorize a device", body);
    }
    if (step != "consent") return ErrorPage(400, "unknown form step");
    const std::string key = FK_TRY(server_->FormKey());
    std::optional<Ticket> ticket = OpenTicket(key, Field(form, kTicketField).value_or(""), Now());
    if (!ticket || ticket->subject != user_code ||
        ticket->csrf_digest != crypto::Sha256Hex(*csrf)) {
      return ErrorPage(403, "This form has expired. Open the verification page again.");
    }
    request.principal =
        net::Principal{.id = ticket->user, .mechanism = "password", .roles = {ticket->role}};
    const bool approve = Field(form, kDecisionField) == "approve";
    auto decided = server_->DecideDevice(user_code, approve, ticket->user, ticket->role);
    if (!decided) return ErrorPage(400, "That code is unknown or has expired.");
    request.audit_note = std::string(approve ? "approved" : "denied") + " device code";
    return Page(200, approve ? "Device authorized" : "Request denied",
                approve ? "<p>You may return to your device.</p>"
                        : "<p>The device was not given access.</p>");
  }

  Result<Response> Introspect(Request& request) {
    auto call = ClientCall(request);
    if (!call) return OAuthErrorResponse(call.error());
    const auto& [form, client] = *call;
    const std::optional<std::string> token = Field(form, "token");
    if (!token) return OAuthErrorResponse({"invalid_request", "missing parameter token", 400});
    auto answer = server_->Introspect(client, *token);
    if (!answer) return OAuthErrorResponse(answer.error());
    json::object body{{"active", answer->active}};
    if (answer->active) {
      body["token_type"] = answer->token_type;
      body["client_id"] = answer->client_id;
      body["sub"] = answer->subject;
      body["username"] = answer->subject;
      body["scope"] = answer->scope;
      if (!answer->role.empty()) body["role"] = answer->role;
      if (!answer->audiences.empty()) body["aud"] = Strings(answer->audiences);
      body["iss"] = server_->options().issuer;
      body["exp"] = answer->expires_at;
      body["iat"] = answer->issued_at;
      if (!answer->token_id.empty()) body["jti"] = answer->token_id;
    }
    return OAuthJson(json::serialize(body));
  }

  Result<Response> Revoke(Request& request) {
    auto call = ClientCall(request);
    if (!call) return OAuthErrorResponse(call.error());
    const auto& [form, client] = *call;
    const std::optional<std::string> token = Field(form, "token");
    if (!token) return OAuthErrorResponse({"invalid_request", "missing parameter token", 400});
    auto revoked = server_->Revoke(client, *token);
    if (!revoked) return OAuthErrorResponse(revoked.error());
    return OAuthJson("{}");
  }

  // --- client management

  Result<Response> ListClients(Request&) {
    api::OAuthClientList list;
    for (const OAuthClient& c : FK_TRY(server_->store().ListClients())) {
      list.clients.push_back(ToWire(c));
    }
    return Response::Json(api::ToJsonText(list));
  }

  Result<Response> GetClient(Request& request) {
    auto found = FK_TRY(server_->store().FindClient(std::string(request.Param("id"))));
    if (!found)
      return Fail(ErrorCode::kNotFound, "no OAuth client " + std::string(request.Param("id")));
    return Response::Json(api::ToJsonText(ToWire(*found)));
  }

  Result<Response> CreateClient(Request& request) {
    OAuthClient client = FK_TRY(ClientFromJson(request.body));
    client.created_by = request.principal ? request.principal->id : "";
    CreatedClient created = FK_TRY(server_->CreateClient(std::move(client)));
    api::OAuthClientInfo body = ToWire(created.client);
    body.client_secret = std::move(created.secret);
    request.audit_note = "client " + created.client.id;
    return OAuthJson(api::ToJsonText(body), 201);
  }

  Result<Response> DeleteClient(Request& request) {
    FK_TRY(server_->store().DeleteClient(std::string(request.Param("id")), Now()));
    Response response;
    response.status = 204;
    return response;
  }

  // PUT /api/v1/node/apps/{app}/oauth-client, by a node over mutual TLS: a new client for one
  // of its apps (AuthorizationServer::IssueAppClient).
  Result<Response> IssueAppClient(Request& request) {
    const std::string device = request.principal->id;
    const std::string app(request.Param("app"));
    auto asked = FK_TRY(api::FromJsonText<api::AppOAuthClientRequest>(request.body));
    CreatedClient created = FK_TRY(server_->IssueAppClient(device, app, std::move(asked.scopes)));
    const std::string issuer = server_->options().issuer;
    api::AppOAuthClient answer{.client_id = created.client.id,
                               .client_secret = std::move(created.secret),
                               .issuer = issuer,
                               .token_endpoint = issuer + "/oauth2/token",
                               .node_audience = NodeAudience(device),
                               .resources = created.client.resources,
                               .scopes = created.client.scopes};
    request.audit_note = "client " + answer.client_id;
    return Response::Json(api::ToJsonText(answer), 201);
  }

  // DELETE /api/v1/node/apps/{app}/oauth-client: the app is gone; 204 whether or not it had one.
  Result<Response> DeleteAppClient(Request& request) {
    FK_TRY(server_->DeleteAppClient(request.principal->id, std::string(request.Param("app"))));
    Response response;
    response.status = 204;
    return response;
  }

  Result<Response> RotateSecret(Request& request) {
    const std::string secret =
        FK_TRY(server_->RotateClientSecret(std::string(request.Param("id"))));
    return OAuthJson(json::serialize(
        json::object{{"client_id", std::string(request.Param("id"))}, {"client_secret", secret}}));
  }

 private:
  std::int64_t Now() const { return server_->Now(); }

  // An authorization response's parameters with the request's `state` (when it had one) and
  // `iss` (RFC 9207), which every answer through the redirect URI carries.
  std::vector<std::pair<std::string, std::string>> WithState(
      std::string_view state, std::vector<std::pair<std::string, std::string>> params) {
    if (!state.empty()) params.emplace_back("state", std::string(state));
    params.emplace_back("iss", server_->options().issuer);
    return params;
  }

  Response Refused(const AuthorizeRefusal& refusal) {
    if (!refusal.redirect) {
      return ErrorPage(refusal.error.status == 400 ? 400 : refusal.error.status,
                       refusal.error.error + ": " + refusal.error.description);
    }
    return RedirectTo(refusal.redirect_uri,
                      WithState(refusal.state, {{"error", refusal.error.error},
                                                {"error_description", refusal.error.description}}));
  }

  Response SignInPage(const AuthorizationRequest& r, const OAuthParams& params,
                      std::string_view user, int status, std::string_view error) {
    Response response;
    const std::string csrf = NewCsrf(response);
    std::string hidden;
    for (const auto& [key, value] : params) hidden += Hidden(key, value);
    std::string body = "<p><b>" + Escape(r.client.name) +
                       "</b> asks to act for you on this fleet with:</p>" + ScopeList(r.scopes);
    if (!error.empty()) body += "<p class=\"error\">" + Escape(error) + "</p>";
    body += "<form method=\"post\" action=\"/oauth2/authorize\">" + hidden +
            Hidden(kStepField, "login") + Hidden(kCsrfField, csrf) + SignInFields(user) +
            "<button>Sign in</button></form><p>You will confirm on the next page. The "
            "application never sees your password.</p>";
    Response page = Page(status, "Sign in to fogkeep", body);
    for (const auto& [name, value] : response.headers.fields()) page.headers.Add(name, value);
    return page;
  }

  Response ConsentPage(const AuthorizationRequest& r, const OAuthParams& params,
                       const auth::Identity& identity, const std::string& ticket,
                       const std::string& csrf) {
    std::vector<std::string> granted;
    for (const auto& s : r.scopes) {
      if (auth::RoleHolds(identity.role, s)) granted.push_back(s);
    }
    std::string hidden;
    for (const auto& [key, value] : params) hidden += Hidden(key, value);
    std::string body = "<p>Signed in as <b>" + Escape(identity.user) + "</b> (" +
                       Escape(identity.role) + ").</p><p>Allow <b>" + Escape(r.client.name) +
                       "</b> to:</p>" + ScopeList(granted);
    const std::size_t dropped = r.scopes.size() - granted.size();
    if (dropped > 0) {
      body += "<p>" + std::to_string(dropped) +
              " requested permission(s) are beyond your role and will not be granted.</p>";
    }
    auto host = boost::urls::parse_uri(r.redirect_uri);
    body += "<p>You will be sent back to <code>" +
            Escape(host.has_error() ? r.redirect_uri : std::string(host->encoded_host_and_port())) +
            "</code>.</p><form method=\"post\" action=\"/oauth2/authorize\">" + hidden +
            Hidden(kStepField, "consent") + Hidden(kCsrfField, csrf) +
            Hidden(kTicketField, ticket) +
            "<button name=\"fk_decision\" value=\"approve\">Allow</button> "
            "<button name=\"fk_decision\" value=\"deny\">Deny</button></form>";
    return Page(200, "Authorize " + r.client.name, body);
  }

  Response DeviceSignIn(const std::string& user_code, std::string_view user,
                        const std::string& csrf, int status, std::string_view error,
                        Response cookies) {
    std::string body = "<p>Enter the code your device shows, and sign in to approve it.</p>";
    if (!error.empty()) body += "<p class=\"error\">" + Escape(error) + "</p>";
    body += "<form method=\"post\" action=\"/oauth2/device\">" + Hidden(kStepField, "login") +
            Hidden(kCsrfField, csrf) +
            "<label>Code <input type=\"text\" name=\"user_code\" value=\"" + Escape(user_code) +
            "\" autocomplete=\"off\" required></label>" + SignInFields(user) +
            "<button>Continue</button></form>";
    Response page = Page(status, "Connect a device", body);
    for (const auto& [name, value] : cookies.headers.fields()) page.headers.Add(name, value);
    return page;
  }

  // Why SignIn refused: the page's status and message, and with 429 how long to wait.
  struct SignInRefusal {
    int status = 401;
    std::string message;
    std::int64_t retry_after_seconds = 0;  // 0: no Retry-After
  };

  // `page` with the refusal's Retry-After, if it has one.
  static Response WithRetryAfter(Response page, const SignInRefusal& refusal) {
    if (refusal.retry_after_seconds > 0) {
      page.headers.Set("Retry-After", std::to_string(refusal.retry_after_seconds));
    }
    return page;
  }

  // Checks the form's user and password with the director's login back-ends and lockout.
  std::expected<auth::Identity, SignInRefusal> SignIn(Request& request, const OAuthParams& form) {
    const std::string user = Field(form, kUserField).value_or("");
    const std::string password = Field(form, kPasswordField).value_or("");
    request.principal = net::Principal{
        .id = user.substr(0, kMaxRecordedUserBytes), .mechanism = "password", .roles = {}};
    auth::LoginReport report;
    Result<auth::Identity> identity =
        login_->Verify(user, password, access::SourceOf(request.peer), &report);
    if (!identity) {
      if (identity.error().code() == ErrorCode::kLimit) {
        request.audit_note = "throttled";
        return std::unexpected(
            SignInRefusal{429, identity.error().message(), report.RetryAfterSeconds()});
      }
      request.audit_note = report.trace.Summary();
      return std::unexpected(SignInRefusal{401, "Wrong user or password.", 0});
    }
    request.principal->roles = {identity->role};
    request.audit_note = "signed in through " + identity->backend;
    return std::move(*identity);
  }

  // The form of a request to a client endpoint and the client's credentials; the request's
  // principal becomes the client, for the audit trail.
  static OAuthResult<std::pair<OAuthParams, ClientCredentials>> ClientCall(Request& request) {
    auto form = OAuthForm(request);
    if (!form) return std::unexpected(form.error());
    auto client = ReadClient(request, *form);
    if (!client) return std::unexpected(client.error());
    request.principal =
        net::Principal{.id = client->client_id, .mechanism = "oauth-client", .roles = {}};
    return std::pair{std::move(*form), std::move(*client)};
  }

  static OAuthResult<OAuthParams> OAuthForm(const Request& request) {
    if (!IsForm(request)) {
      return std::unexpected(
          OAuthError{"invalid_request", "the body must be application/x-www-form-urlencoded", 400});
    }
    auto form = net::ParseForm(request.body);
    if (!form) return std::unexpected(OAuthError{"invalid_request", "malformed form body", 400});
    return std::move(*form);
  }

  const std::shared_ptr<AuthorizationServer> server_;
  const std::shared_ptr<auth::LoginService> login_;
};

}  // namespace

Status RegisterOAuthRoutes(net::Router& router, std::shared_ptr<AuthorizationServer> server,
                           std::shared_ptr<auth::LoginService> login) {
  auto routes = std::make_shared<OAuthRoutes>(std::move(server), std::move(login));
  auto bind = [routes](Result<Response> (OAuthRoutes::*method)(Request&)) {
    return [routes, method](Request& request) { return (routes.get()->*method)(request); };
  };
  const RouteOptions open{.is_public = true, .max_body_bytes = 16 * 1024};
  const RouteOptions manage{.permission = std::string(auth::kPermissionOAuthClientsManage),
                            .max_body_bytes = 64 * 1024};
  auto audited = [](RouteOptions options, std::string_view action) {
    options.audit_action = std::string(action);
    return options;
  };
  auto quiet = [](RouteOptions options) {
    options.audit_changes = false;  // answers only; the grants they lead to are recorded
    return options;
  };
  FK_TRY(router.Add(Method::kGet, "/.well-known/oauth-authorization-server", open,
                    bind(&OAuthRoutes::Metadata)));
  FK_TRY(router.Add(Method::kGet, "/oauth2/jwks", open, bind(&OAuthRoutes::Jwks)));
  FK_TRY(router.Add(Method::kGet, "/oauth2/authorize", open, bind(&OAuthRoutes::Authorize)));
  FK_TRY(router.Add(Method::kPost, "/oauth2/authorize", audited(open, "oauth.authorize"),
                    bind(&OAuthRoutes::AuthorizeForm)));
  FK_TRY(router.Add(Method::kPost, "/oauth2/token", audited(open, "oauth.token"),
                    bind(&OAuthRoutes::Token)));
  FK_TRY(router.Add(Method::kPost, "/oauth2/device_authorization", quiet(open),
                    bind(&OAuthRoutes::DeviceAuthorization)));
  FK_TRY(router.Add(Method::kGet, "/oauth2/device", open, bind(&OAuthRoutes::DevicePage)));
  FK_TRY(router.Add(Method::kPost, "/oauth2/device", audited(open, "oauth.device"),
                    bind(&OAuthRoutes::DeviceForm)));
  FK_TRY(
      router.Add(Method::kPost, "/oauth2/introspect", quiet(open), bind(&OAuthRoutes::Introspect)));
  FK_TRY(router.Add(Method::kPost, "/oauth2/revoke", audited(open, "oauth.revoke"),
                    bind(&OAuthRoutes::Revoke)));
  FK_TRY(
      router.Add(Method::kGet, "/api/v1/oauth/clients", manage, bind(&OAuthRoutes::ListClients)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/oauth/clients", audited(manage, "oauth.clients.create"),
                    bind(&OAuthRoutes::CreateClient)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/oauth/clients/{id}", manage,
                    bind(&OAuthRoutes::GetClient)));
  FK_TRY(router.Add(Method::kDelete, "/api/v1/oauth/clients/{id}",
                    audited(manage, "oauth.clients.delete"), bind(&OAuthRoutes::DeleteClient)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/oauth/clients/{id}/secret",
                    audited(manage, "oauth.clients.secret"), bind(&OAuthRoutes::RotateSecret)));
  const RouteOptions node{.permission = std::string(kPermissionNodeSelf),
                          .max_body_bytes = 4 * 1024};
  FK_TRY(router.Add(Method::kPut, "/api/v1/node/apps/{app}/oauth-client",
                    audited(node, "oauth.app-client.issue"), bind(&OAuthRoutes::IssueAppClient)));
  FK_TRY(router.Add(Method::kDelete, "/api/v1/node/apps/{app}/oauth-client",
                    audited(node, "oauth.app-client.delete"), bind(&OAuthRoutes::DeleteAppClient)));
  return {};
}

}  // namespace fogkeep::director
