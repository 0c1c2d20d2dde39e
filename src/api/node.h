// Wire types of the node API (fogkeepd's /api/v1) and their JSON mapping.
//
// Servers fill these from their own state and serialise them; clients parse them back. Both
// sides go through the functions below, so a field is named in exactly one place. Parsing is
// strict about types (a string where a number belongs is kInvalidInput) and lenient about
// unknown fields (ignored, so an older CLI can talk to a newer node). Boost.JSON's exceptions
// never escape: every parse reports kInvalidInput instead.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::api {

// An app id as nodes name apps (in paths, container names and alert sources): 1 to 63 of
// [a-z0-9_.-], starting with a letter or a digit.
bool IsAppId(std::string_view id);

// Times on the wire are Unix seconds.
inline std::int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// GET /healthz
struct Health {
  std::string status = "ok";
  std::string version;
};

struct AppExit {
  int exit_code = -1;  // -1 when the app did not exit normally
  int signal = 0;
  bool oom_killed = false;
  std::int64_t finished_at = 0;  // Unix seconds
  std::string error;
};

// One app: GET /api/v1/apps/{id}, and the answer of every operation on an app.
struct App {
  std::string id;
  std::string name;
  std::string version;
  std::string state;  // DEPLOYED | ACTIVATED | RUNNING | STOPPED
  std::string type;
  std::string signer;  // certificate subject, "" when installed unsigned
  std::string profile;
  int memory_mb = 0;
  int cpu_units = 0;
  std::vector<std::string> ports;
  std::string network;
  std::int64_t installed_at = 0;
  std::int64_t updated_at = 0;
  int restarts = 0;
  std::optional<AppExit> last_exit;
};

// GET /api/v1/apps
struct AppList {
  std::vector<App> apps;
};

// GET /api/v1/apps/{id}/metrics
struct AppMetrics {
  std::string id;
  std::string state;
  double cpu_seconds = 0;
  std::uint64_t memory_bytes = 0;
  std::uint64_t memory_limit_bytes = 0;
  std::uint64_t pids = 0;
  std::uint64_t oom_kills = 0;
  int restarts = 0;
};

// GET|PUT /api/v1/platform/policy. Defaults are the secure ones.
struct PlatformPolicy {
  bool require_signed = true;
  std::vector<std::string> allowed_capabilities;
  bool allow_host_network = false;
  bool allow_downgrade = false;
};

// GET|PUT /api/v1/platform/trust: PEM texts.
struct TrustMaterial {
  std::vector<std::string> anchors;
  std::vector<std::string> crls;
};

// POST /api/v1/auth/login
struct LoginRequest {
  std::string user;
  std::string password;
};

// POST /api/v1/auth/refresh
struct RefreshRequest {
  std::string refresh_token;
};

// A login session: in the answers of login and refresh, and GET /api/v1/auth/sessions.
// Times are Unix seconds.
struct SessionInfo {
  std::string id;
  std::string user;
  std::string role;
  std::string backend;  // local | radius | pam
  std::string source;
  std::int64_t created = 0;
  std::int64_t last_used = 0;
  std::int64_t expires = 0;          // of the current access token
  std::int64_t session_expires = 0;  // of the session, whatever happens
};

// The answer of login and refresh: the only place the tokens ever appear.
struct LoginResult {
  std::string access_token;
  std::string refresh_token;
  std::string token_type = "Bearer";
  std::int64_t expires_in = 0;  // seconds until access_token expires
  SessionInfo session;
};

// GET /api/v1/auth/sessions
struct SessionList {
  std::vector<SessionInfo> sessions;
};

// GET /api/v1/auth/whoami
struct WhoAmI {
  std::string id;         // user name, "token:<hash prefix>" or "uid:0"
  std::string mechanism;  // session | token | unix
  std::vector<std::string> roles;
};

// The error body of every non-2xx answer: {"error": {"code": "...", "message": "..."}}.
struct ErrorBody {
  std::string code;
  std::string message;
};

boost::json::value ToJson(const Health& v);
boost::json::value ToJson(const AppExit& v);
boost::json::value ToJson(const App& v);
boost::json::value ToJson(const AppList& v);
boost::json::value ToJson(const AppMetrics& v);
boost::json::value ToJson(const PlatformPolicy& v);
boost::json::value ToJson(const TrustMaterial& v);
boost::json::value ToJson(const ErrorBody& v);
boost::json::value ToJson(const LoginRequest& v);
boost::json::value ToJson(const RefreshRequest& v);
boost::json::value ToJson(const SessionInfo& v);
boost::json::value ToJson(const LoginResult& v);
boost::json::value ToJson(const SessionList& v);
boost::json::value ToJson(const WhoAmI& v);

// Each fills `out` from `json`, or fails with kInvalidInput naming the offending field.
Status FromJson(const boost::json::value& json, Health* out);
Status FromJson(const boost::json::value& json, AppExit* out);
Status FromJson(const boost::json::value& json, App* out);
Status FromJson(const boost::json::value& json, AppList* out);
Status FromJson(const boost::json::value& json, AppMetrics* out);
Status FromJson(const boost::json::value& json, PlatformPolicy* out);
Status FromJson(const boost::json::value& json, TrustMaterial* out);
Status FromJson(const boost::json::value& json, ErrorBody* out);
Status FromJson(const boost::json::value& json, LoginRequest* out);
Status FromJson(const boost::json::value& json, RefreshRequest* out);
Status FromJson(const boost::json::value& json, SessionInfo* out);
Status FromJson(const boost::json::value& json, LoginResult* out);
Status FromJson(const boost::json::value& json, SessionList* out);
Status FromJson(const boost::json::value& json, WhoAmI* out);

// Parses a JSON document of at most `max_bytes`; kInvalidInput when it is not one.
Result<boost::json::value> ParseJson(std::string_view text, std::size_t max_bytes = 8 << 20);
std::string Serialize(const boost::json::value& json);

template <typename T>
std::string ToJsonText(const T& v) {
  return Serialize(ToJson(v));
}
template <typename T>
Result<T> FromJsonText(std::string_view text) {
  boost::json::value json = FK_TRY(ParseJson(text));
  T out;
  FK_TRY(FromJson(json, &out));
  return out;
}

}  // namespace fogkeep::api
