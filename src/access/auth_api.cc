#include "access/auth_api.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <utility>

#include "access/audit_api.h"
#include "access/auth_token.h"
#include "api/node.h"
#include "auth/roles.h"

namespace fogkeep::access {
namespace {

using net::Method;
using net::Request;
using net::Response;
using net::RouteOptions;

// A user name longer than any back-end accepts is still answered "invalid credentials"; only
// this much of it goes into the audit trail.
constexpr std::size_t kMaxRecordedUserBytes = 128;

api::SessionInfo ToWire(const auth::Session& s) {
  return api::SessionInfo{.id = s.id,
                          .user = s.user,
                          .role = s.role,
                          .backend = s.backend,
                          .source = s.source,
                          .created = api::UnixSeconds(s.created),
                          .last_used = api::UnixSeconds(s.last_used),
                          .expires = api::UnixSeconds(s.expires),
                          .session_expires = api::UnixSeconds(s.session_expires)};
}

Response TokensResponse(const auth::IssuedTokens& issued) {
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(
      issued.session.expires - std::chrono::system_clock::now());
  api::LoginResult result{.access_token = issued.access_token,
                          .refresh_token = issued.refresh_token,
                          .expires_in = std::max<std::int64_t>(left.count(), 0),
                          .session = ToWire(issued.session)};
  Response response = net::JsonResponse(result);
  // Tokens must not be kept by caches on the way (RFC 6749, 5.1).
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

Response NoContent() {
  Response response;
  response.status = 204;
  return response;
}

// Names differing only in surrounding spaces or control characters could reach a back-end
// that ignores them (RADIUS servers, directories) while each gets a lockout record of its own.
Status CheckUserName(std::string_view user) {
  const bool padded = !user.empty() && (user.front() == ' ' || user.back() == ' ');
  const bool control = std::ranges::any_of(
      user, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (padded || control) {
    return Fail(ErrorCode::kInvalidInput,
                "a user name holds no control characters and no surrounding spaces");
  }
  return {};
}

// 503 with Retry-After: 1 (RFC 9110, 15.6.4).
Response Busy() {
  Response response = net::ErrorResponse(
      Error(ErrorCode::kUnavailable, "too many logins are being checked; try again shortly"));
  response.headers.Set("Retry-After", "1");
  return response;
}

class AuthApi {
 public:
  AuthApi(std::shared_ptr<auth::LoginService> login, AuthApiOptions options)
      : login_(std::move(login)), options_(options) {}

  Result<Response> Login(Request& request) {
    const auto body = FK_TRY(api::FromJsonText<api::LoginRequest>(request.body));
    FK_TRY(CheckUserName(body.user));
    // A slot among the logins in flight, or 503 now.
    if (in_flight_.fetch_add(1) >= options_.max_logins_in_flight) {
      in_flight_.fetch_sub(1);
      return Busy();
    }
    struct Release {
      std::atomic<int>& count;
      ~Release() { count.fetch_sub(1); }
    } release{in_flight_};
    request.principal = net::Principal{
        .id = body.user.substr(0, kMaxRecordedUserBytes), .mechanism = "password", .roles = {}};
    auth::LoginReport report;
    Result<auth::IssuedTokens> issued =
        login_->Login(body.user, body.password, SourceOf(request.peer), &report);
    if (!issued) {
      if (issued.error().code() == ErrorCode::kLimit) {
        return Throttled(request, report, issued.error());
      }
      request.audit_note = report.trace.Summary();
      return Fail(std::move(issued).error());
    }
    request.principal->roles = {issued->session.role};
    request.audit_note = "backend " + issued->session.backend + ", session " + issued->session.id;
    return TokensResponse(*issued);
  }

  Result<Response> Refresh(Request& request) {
    const auto body = FK_TRY(api::FromJsonText<api::RefreshRequest>(request.body));
    auto issued = FK_TRY(login_->sessions().Refresh(body.refresh_token));
    request.principal = net::Principal{
        .id = issued.session.user, .mechanism = "refresh", .roles = {issued.session.role}};
    request.audit_note = "session " + issued.session.id;
    return TokensResponse(issued);
  }

  Result<Response> Logout(Request& request) {
    const std::string_view token = FK_TRY(BearerToken(request));
    if (!auth::LooksLikeAccessToken(token)) {
      return Fail(ErrorCode::kInvalidInput,
                  "only a login session can log out; this request used an API token");
    }
    FK_TRY(login_->sessions().Logout(token));
    return NoContent();
  }

  Result<Response> WhoAmI(Request& request) {
    const net::Principal& p = *request.principal;
    return net::JsonResponse(api::WhoAmI{.id = p.id, .mechanism = p.mechanism, .roles = p.roles});
  }

  Result<Response> Sessions(Request& request) {
    std::optional<std::string_view> user = request.Query("user");
    if (user && user->empty()) user.reset();
    api::SessionList list;
    for (const auth::Session& s : FK_TRY(login_->sessions().List(user))) {
      list.sessions.push_back(ToWire(s));
    }
    return net::JsonResponse(list);
  }

  Result<Response> Revoke(Request& request) {
    FK_TRY(login_->sessions().Revoke(request.Param("id")));
    return NoContent();
  }

 private:
  // 429 with Retry-After in whole seconds, rounded up (RFC 9110, 10.2.3).
  // `refusal` is the login service's answer, which names the wait in the same whole seconds.
  static Result<Response> Throttled(Request& request, const auth::LoginReport& report,
                                    const Error& refusal) {
    const std::int64_t seconds = report.RetryAfterSeconds();
    request.audit_note = std::string(report.admission.locked ? "locked out" : "backing off") +
                         " (" + std::string(report.admission.limited_by) + "), retry in " +
                         std::to_string(seconds) + " s";
    Response response = net::ErrorResponse(refusal);
    response.status = 429;
    response.headers.Set("Retry-After", std::to_string(seconds));
    return response;
  }

  const std::shared_ptr<auth::LoginService> login_;
  const AuthApiOptions options_;
  std::atomic<int> in_flight_{0};
};

}  // namespace

Status RegisterAuthApi(net::Router& router, std::shared_ptr<auth::LoginService> login,
                       AuthApiOptions options) {
  auto api = std::make_shared<AuthApi>(std::move(login), options);
  auto bind = [api](Result<Response> (AuthApi::*method)(Request&)) {
    return [api, method](Request& request) { return (api.get()->*method)(request); };
  };
  // Credentials are small; a larger body is a mistake or an attack.
  const RouteOptions credentials{.is_public = true, .max_body_bytes = 8 * 1024};
  const RouteOptions self{.permission = std::string(auth::kPermissionSessionSelf)};
  const RouteOptions manage{.permission = std::string(auth::kPermissionSessionsManage)};
  auto audited = [](RouteOptions options, std::string_view action) {
    options.audit_action = std::string(action);
    return options;
  };
  FK_TRY(router.Add(Method::kPost, "/api/v1/auth/login", audited(credentials, "auth.login"),
                    bind(&AuthApi::Login)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/auth/refresh", audited(credentials, "auth.refresh"),
                    bind(&AuthApi::Refresh)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/auth/logout", audited(self, "auth.logout"),
                    bind(&AuthApi::Logout)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/auth/whoami", self, bind(&AuthApi::WhoAmI)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/auth/sessions", manage, bind(&AuthApi::Sessions)));
  FK_TRY(router.Add(Method::kDelete, "/api/v1/auth/sessions/{id}", audited(manage, "auth.revoke"),
                    bind(&AuthApi::Revoke)));
  return {};
}

bool SessionAuthenticator::MayBlock(const net::Request& request) const {
  Result<std::string_view> token = BearerToken(request);
  return (token && auth::LooksLikeAccessToken(*token)) || fallback_->MayBlock(request);
}

Result<net::Principal> SessionAuthenticator::Authenticate(const net::Request& request) {
  if (Result<std::string_view> token = BearerToken(request);
      token && auth::LooksLikeAccessToken(*token)) {
    const auth::Session session = FK_TRY(sessions_->Authenticate(*token));
    return net::Principal{.id = session.user, .mechanism = "session", .roles = {session.role}};
  }
  return fallback_->Authenticate(request);
}

}  // namespace fogkeep::access
