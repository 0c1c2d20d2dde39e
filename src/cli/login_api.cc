#include "cli/login_api.h"

#include "net/http.h"

namespace fogkeep::cli {
namespace {

// Unix seconds within what a time_point holds (up to the year 5138).
// Year 2255: within what a nanosecond system_clock holds (to 2262), so no conversion overflows.
constexpr std::int64_t kMaxUnixSeconds = 9'000'000'000;

bool Plausible(std::int64_t t) { return t > 0 && t <= kMaxUnixSeconds; }

}  // namespace

Result<api::LoginResult> ParseLoginResult(std::string_view body) {
  const api::LoginResult result = FK_TRY(api::FromJsonText<api::LoginResult>(body));
  auto invalid = [](std::string message) { return Fail(ErrorCode::kInvalidInput, message); };
  if (!net::EqualsIgnoreCase(result.token_type, "Bearer")) {
    return invalid("login result.token_type is \"" + result.token_type + "\", not \"Bearer\"");
  }
  if (!IsBearerToken(result.access_token) || !IsBearerToken(result.refresh_token)) {
    return invalid(
        "the login result's tokens are missing or not 1 to 1024 visible ASCII "
        "characters");
  }
  if (result.expires_in <= 0 || result.expires_in > kMaxUnixSeconds) {
    return invalid("login result.expires_in must be a positive number of seconds");
  }
  const api::SessionInfo& s = result.session;
  if (s.user.empty()) return invalid("login result.session.user is missing");
  if (!Plausible(s.expires) || !Plausible(s.session_expires)) {
    return invalid("login result.session.expires and .session_expires must be Unix seconds");
  }
  for (const std::string* text : {&s.id, &s.user, &s.role, &s.backend, &s.source}) {
    if (!IsDisplaySafe(*text)) return invalid("login result.session holds control characters");
  }
  return result;
}

std::string LoginRequestBody(std::string_view user, std::string_view password) {
  return api::ToJsonText(api::LoginRequest{std::string(user), std::string(password)});
}

std::string RefreshRequestBody(std::string_view refresh_token) {
  return api::ToJsonText(api::RefreshRequest{std::string(refresh_token)});
}

Credential CredentialFromLoginResult(std::string node, const api::LoginResult& result,
                                     std::string ca, std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  // The node issued the access token at (its clock) expires - expires_in; `now` is about the
  // same moment here.
  const auto node_now =
      std::chrono::system_clock::time_point(seconds(result.session.expires - result.expires_in));
  const auto offset = std::chrono::duration_cast<seconds>(now - node_now);
  Credential c;
  c.node = std::move(node);
  c.user = result.session.user;
  c.role = result.session.role;
  c.access_token = result.access_token;
  c.refresh_token = result.refresh_token;
  c.access_expires = now + seconds(result.expires_in);
  c.session_expires =
      std::chrono::system_clock::time_point(seconds(result.session.session_expires)) + offset;
  c.ca = std::move(ca);
  return c;
}

}  // namespace fogkeep::cli
