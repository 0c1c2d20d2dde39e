#include "api/node.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <utility>

#include "api/object_reader.h"

namespace fogkeep::api {

bool IsAppId(std::string_view id) {
  const auto lower_or_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (id.empty() || id.size() > 63 || !lower_or_digit(id[0])) return false;
  return std::ranges::all_of(
      id, [&](char c) { return lower_or_digit(c) || c == '_' || c == '.' || c == '-'; });
}
namespace {

namespace json = boost::json;
using detail::ObjectReader;

json::array StringArray(const std::vector<std::string>& values) {
  json::array out;
  out.reserve(values.size());
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

}  // namespace

json::value ToJson(const Health& v) {
  return json::object{{"status", v.status}, {"version", v.version}};
}

json::value ToJson(const AppExit& v) {
  return json::object{{"exit_code", v.exit_code},
                      {"signal", v.signal},
                      {"oom_killed", v.oom_killed},
                      {"finished_at", v.finished_at},
                      {"error", v.error}};
}

json::value ToJson(const App& v) {
  json::object o{{"id", v.id},
                 {"name", v.name},
                 {"version", v.version},
                 {"state", v.state},
                 {"type", v.type},
                 {"signer", v.signer},
                 {"profile", v.profile},
                 {"memory_mb", v.memory_mb},
                 {"cpu_units", v.cpu_units},
                 {"ports", StringArray(v.ports)},
                 {"network", v.network},
                 {"installed_at", v.installed_at},
                 {"updated_at", v.updated_at},
                 {"restarts", v.restarts}};
  o["last_exit"] = v.last_exit ? ToJson(*v.last_exit) : json::value(nullptr);
  return o;
}

json::value ToJson(const AppList& v) {
  json::array apps;
  apps.reserve(v.apps.size());
  for (const auto& app : v.apps) apps.push_back(ToJson(app));
  return json::object{{"apps", std::move(apps)}};
}

json::value ToJson(const AppMetrics& v) {
  return json::object{{"id", v.id},
                      {"state", v.state},
                      {"cpu_seconds", v.cpu_seconds},
                      {"memory_bytes", v.memory_bytes},
                      {"memory_limit_bytes", v.memory_limit_bytes},
                      {"pids", v.pids},
                      {"oom_kills", v.oom_kills},
                      {"restarts", v.restarts}};
}

json::value ToJson(const PlatformPolicy& v) {
  return json::object{{"require_signed", v.require_signed},
                      {"allowed_capabilities", StringArray(v.allowed_capabilities)},
                      {"allow_host_network", v.allow_host_network},
                      {"allow_downgrade", v.allow_downgrade}};
}

json::value ToJson(const TrustMaterial& v) {
  return json::object{{"anchors", StringArray(v.anchors)}, {"crls", StringArray(v.crls)}};
}

json::value ToJson(const ErrorBody& v) {
  return json::object{{"error", json::object{{"code", v.code}, {"message", v.message}}}};
}

Status FromJson(const json::value& j, Health* out) {
  ObjectReader r(j, "health");
  r.String("status", &out->status);
  r.String("version", &out->version);
  return r.status();
}

Status FromJson(const json::value& j, AppExit* out) {
  ObjectReader r(j, "last_exit");
  r.Integer("exit_code", &out->exit_code);
  r.Integer("signal", &out->signal);
  r.Bool("oom_killed", &out->oom_killed);
  r.Integer("finished_at", &out->finished_at);
  r.String("error", &out->error);
  return r.status();
}

Status FromJson(const json::value& j, App* out) {
  ObjectReader r(j, "app");
  r.String("id", &out->id);
  r.String("name", &out->name);
  r.String("version", &out->version);
  r.String("state", &out->state);
  r.String("type", &out->type);
  r.String("signer", &out->signer);
  r.String("profile", &out->profile);
  r.Integer("memory_mb", &out->memory_mb);
  r.Integer("cpu_units", &out->cpu_units);
  r.Strings("ports", &out->ports);
  r.String("network", &out->network);
  r.Integer("installed_at", &out->installed_at);
  r.Integer("updated_at", &out->updated_at);
  r.Integer("restarts", &out->restarts);
  FK_TRY(r.status());
  if (const json::value* exit = r.Member("last_exit")) {
    AppExit e;
    FK_TRY(FromJson(*exit, &e));
    out->last_exit = std::move(e);
  }
  return {};
}

Status FromJson(const json::value& j, AppList* out) {
  const json::object* o = j.if_object();
  const json::value* apps = o != nullptr ? o->if_contains("apps") : nullptr;
  if (apps == nullptr || !apps->is_array()) {
    return Fail(ErrorCode::kInvalidInput, "app list must be an object with an array \"apps\"");
  }
  out->apps.clear();
  for (const json::value& item : apps->get_array()) {
    App app;
    FK_TRY(FromJson(item, &app));
    out->apps.push_back(std::move(app));
  }
  return {};
}

Status FromJson(const json::value& j, AppMetrics* out) {
  ObjectReader r(j, "metrics");
  r.String("id", &out->id);
  r.String("state", &out->state);
  r.Double("cpu_seconds", &out->cpu_seconds);
  r.Integer("memory_bytes", &out->memory_bytes);
  r.Integer("memory_limit_bytes", &out->memory_limit_bytes);
  r.Integer("pids", &out->pids);
  r.Integer("oom_kills", &out->oom_kills);
  r.Integer("restarts", &out->restarts);
  return r.status();
}

Status FromJson(const json::value& j, PlatformPolicy* out) {
  ObjectReader r(j, "policy");
  r.Bool("require_signed", &out->require_signed);
  r.Strings("allowed_capabilities", &out->allowed_capabilities);
  r.Bool("allow_host_network", &out->allow_host_network);
  r.Bool("allow_downgrade", &out->allow_downgrade);
  return r.status();
}

Status FromJson(const json::value& j, TrustMaterial* out) {
  ObjectReader r(j, "trust");
  r.Strings("anchors", &out->anchors);
  r.Strings("crls", &out->crls);
  return r.status();
}

Status FromJson(const json::value& j, ErrorBody* out) {
  const json::object* o = j.if_object();
  const json::value* inner = o != nullptr ? o->if_contains("error") : nullptr;
  if (inner == nullptr) return Fail(ErrorCode::kInvalidInput, "error body lacks \"error\"");
  ObjectReader r(*inner, "error");
  r.String("code", &out->code);
  r.String("message", &out->message);
  return r.status();
}

json::value ToJson(const LoginRequest& v) {
  return json::object{{"user", v.user}, {"password", v.password}};
}

json::value ToJson(const RefreshRequest& v) {
  return json::object{{"refresh_token", v.refresh_token}};
}

json::value ToJson(const SessionInfo& v) {
  return json::object{{"id", v.id},
                      {"user", v.user},
                      {"role", v.role},
                      {"backend", v.backend},
                      {"source", v.source},
                      {"created", v.created},
                      {"last_used", v.last_used},
                      {"expires", v.expires},
                      {"session_expires", v.session_expires}};
}

json::value ToJson(const LoginResult& v) {
  return json::object{{"access_token", v.access_token},
                      {"refresh_token", v.refresh_token},
                      {"token_type", v.token_type},
                      {"expires_in", v.expires_in},
                      {"session", ToJson(v.session)}};
}

json::value ToJson(const SessionList& v) {
  json::array sessions;
  for (const auto& s : v.sessions) sessions.push_back(ToJson(s));
  return json::object{{"sessions", std::move(sessions)}};
}

json::value ToJson(const WhoAmI& v) {
  return json::object{{"id", v.id}, {"mechanism", v.mechanism}, {"roles", StringArray(v.roles)}};
}

Status FromJson(const json::value& j, LoginRequest* out) {
  ObjectReader r(j, "login request");
  r.String("user", &out->user);
  r.String("password", &out->password);
  return r.status();
}

Status FromJson(const json::value& j, RefreshRequest* out) {
  ObjectReader r(j, "refresh request");
  r.String("refresh_token", &out->refresh_token);
  return r.status();
}

Status FromJson(const json::value& j, SessionInfo* out) {
  ObjectReader r(j, "session");
  r.String("id", &out->id);
  r.String("user", &out->user);
  r.String("role", &out->role);
  r.String("backend", &out->backend);
  r.String("source", &out->source);
  r.Integer("created", &out->created);
  r.Integer("last_used", &out->last_used);
  r.Integer("expires", &out->expires);
  r.Integer("session_expires", &out->session_expires);
  return r.status();
}

Status FromJson(const json::value& j, LoginResult* out) {
  ObjectReader r(j, "login result");
  r.String("access_token", &out->access_token);
  r.String("refresh_token", &out->refresh_token);
  r.String("token_type", &out->token_type);
  r.Integer("expires_in", &out->expires_in);
  FK_TRY(r.status());
  if (const json::value* session = r.Member("session")) FK_TRY(FromJson(*session, &out->session));
  return {};
}

Status FromJson(const json::value& j, SessionList* out) {
  const json::object* o = j.if_object();
  const json::value* sessions = o != nullptr ? o->if_contains("sessions") : nullptr;
  if (sessions == nullptr || !sessions->is_array()) {
    return Fail(ErrorCode::kInvalidInput,
                "session list must be an object with an array "
                "\"sessions\"");
  }
  out->sessions.clear();
  for (const json::value& item : sessions->get_array()) {
    SessionInfo session;
    FK_TRY(FromJson(item, &session));
    out->sessions.push_back(std::move(session));
  }
  return {};
}

Status FromJson(const json::value& j, WhoAmI* out) {
  ObjectReader r(j, "whoami");
  r.String("id", &out->id);
  r.String("mechanism", &out->mechanism);
  r.Strings("roles", &out->roles);
  return r.status();
}

Result<json::value> ParseJson(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Fail(ErrorCode::kLimit,
                "JSON document larger than " + std::to_string(max_bytes) + " bytes");
  }
  // Depth is bounded by Boost.JSON's default parse options (32 levels).
  boost::system::error_code ec;
  json::value value;
  try {
    value = json::parse(text, ec);
  } catch (const std::exception& e) {  // allocation failures
    return Fail(ErrorCode::kInvalidInput, std::string("invalid JSON: ") + e.what());
  }
  if (ec) return Fail(ErrorCode::kInvalidInput, "invalid JSON: " + ec.message());
  return value;
}

std::string Serialize(const json::value& json) { return json::serialize(json); }

}  // namespace fogkeep::api
