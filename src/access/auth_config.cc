#include "access/auth_config.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>
#include <map>

#include "auth/password_hash.h"
#include "auth/roles.h"

namespace fogkeep::access {
namespace {

using KeyHandler = std::function<Status(const yaml::Node& value, const std::string& where)>;

// Walks the mapping `node` (called `name` in messages) and hands each key to its handler;
// unknown keys and non-mappings are kInvalidInput naming the line.
Status ForEachKey(const yaml::Node& node, const std::string& name,
                  const std::map<std::string, KeyHandler, std::less<>>& handlers) {
  if (node.IsNull()) return {};
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidInput,
                name + " (line " + std::to_string(node.line()) + ") must be a mapping");
  }
  for (const auto& [key, value] : node.entries()) {
    const std::string where = name + "." + key + " (line " + std::to_string(value.line()) + ")";
    auto it = handlers.find(key);
    if (it == handlers.end()) return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    FK_TRY(it->second(value, where));
  }
  return {};
}

Result<std::string> Scalar(const yaml::Node& value, const std::string& where) {
  if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
  return value.scalar();
}

Result<std::uint64_t> Unsigned(const yaml::Node& value, const std::string& where,
                               std::uint64_t max = std::numeric_limits<std::uint32_t>::max()) {
  const std::string text = FK_TRY(Scalar(value, where));
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n > max) {
    return Fail(ErrorCode::kInvalidInput,
                where + " must be an integer from 0 to " + std::to_string(max));
  }
  return n;
}

Result<bool> Boolean(const yaml::Node& value, const std::string& where) {
  const std::string text = FK_TRY(Scalar(value, where));
  if (text == "true") return true;
  if (text == "false") return false;
  return Fail(ErrorCode::kInvalidInput, where + " must be true or false");
}

Result<std::string> Role(const yaml::Node& value, const std::string& where) {
  std::string role = FK_TRY(Scalar(value, where));
  if (!auth::IsKnownRole(role)) {
    return Fail(
        ErrorCode::kInvalidInput,
        where + ": unknown role \"" + role + "\" (admin, app-manager, network-manager or auditor)");
  }
  return role;
}

template <class Duration>
KeyHandler SetDuration(Duration* out) {
  return [out](const yaml::Node& v, const std::string& where) -> Status {
    *out = Duration(FK_TRY(Unsigned(v, where)));
    return {};
  };
}

KeyHandler SetInt(int* out) {
  return [out](const yaml::Node& v, const std::string& where) -> Status {
    *out = static_cast<int>(FK_TRY(Unsigned(v, where, std::numeric_limits<int>::max())));
    return {};
  };
}

Status ParsePolicy(const yaml::Node& node, const std::string& name, auth::ThrottlePolicy* p) {
  return ForEachKey(node, name,
                    {{"free-failures", SetInt(&p->free_failures)},
                     {"base-delay-ms", SetDuration(&p->base_delay)},
                     {"max-delay-ms", SetDuration(&p->max_delay)},
                     {"lockout-failures", SetInt(&p->lockout_failures)},
                     {"lockout-seconds", SetDuration(&p->lockout_duration)},
                     {"window-seconds", SetDuration(&p->window)}});
}

Status ParseLocal(const yaml::Node& node, AuthSettings* s) {
  auto& argon2 = s->local.argon2;
  auto set_u32 = [](std::uint32_t* out) -> KeyHandler {
    return [out](const yaml::Node& v, const std::string& where) -> Status {
      *out = static_cast<std::uint32_t>(FK_TRY(Unsigned(v, where)));
      return {};
    };
  };
  return ForEachKey(node, "auth.local",
                    {{"users-file",
                      [s](const yaml::Node& v, const std::string& where) -> Status {
                        s->users_file = FK_TRY(Scalar(v, where));
                        return {};
                      }},
                     {"min-password-chars",
                      [s](const yaml::Node& v, const std::string& where) -> Status {
                        s->local.min_password_chars = FK_TRY(Unsigned(v, where, 1024));
                        return {};
                      }},
                     {"argon2", [&](const yaml::Node& v, const std::string&) -> Status {
                        FK_TRY(ForEachKey(v, "auth.local.argon2",
                                          {{"memory-kib", set_u32(&argon2.memory_kib)},
                                           {"iterations", set_u32(&argon2.passes)},
                                           {"parallelism", set_u32(&argon2.lanes)}}));
                        return auth::ValidateParams(argon2);
                      }}});
}

Result<auth::RadiusServerConfig> ParseRadiusServer(const yaml::Node& node,
                                                   const std::string& name) {
  auth::RadiusServerConfig server;
  bool has_address = false;
  FK_TRY(ForEachKey(node, name,
                    {{"address",
                      [&](const yaml::Node& v, const std::string& where) -> Status {
                        const std::string text = FK_TRY(Scalar(v, where));
                        // host, host:port, [v6] or [v6]:port
                        std::string host = text;
                        std::string port;
                        if (!text.empty() && text.front() == '[') {
                          const std::size_t close = text.find(']');
                          if (close == std::string::npos)
                            return Fail(ErrorCode::kInvalidInput, where + ": no ]");
                          host = text.substr(1, close - 1);
                          if (close + 1 < text.size()) {
                            if (text[close + 1] != ':')
                              return Fail(ErrorCode::kInvalidInput, where + ": bad");
                            port = text.substr(close + 2);
                          }
                        } else if (std::count(text.begin(), text.end(), ':') == 1) {
                          host = text.substr(0, text.find(':'));
                          port = text.substr(text.find(':') + 1);
                        }
                        server.host = host;
                        if (!port.empty()) {
                          server.port = static_cast<std::uint16_t>(FK_TRY(Unsigned(
                              yaml::Node::Scalar(port, v.line()), where + " port", 65535)));
                        }
                        has_address = !host.empty();
                        return {};
                      }},
                     {"secret-file", [&](const yaml::Node& v, const std::string& where) -> Status {
                        server.secret_file = FK_TRY(Scalar(v, where));
                        return {};
                      }}}));
  if (!has_address || server.secret_file.empty()) {
    return Fail(ErrorCode::kInvalidInput, name + " needs an address and a secret-file");
  }
  return server;
}

Status ParseRadius(const yaml::Node& node, AuthSettings* s) {
  auth::RadiusClientConfig config = s->radius.value_or(auth::RadiusClientConfig{});
  FK_TRY(ForEachKey(
      node, "auth.radius",
      {{"servers",
        [&](const yaml::Node& v, const std::string& where) -> Status {
          if (!v.IsSequence()) return Fail(ErrorCode::kInvalidInput, where + " must be a list");
          config.servers.clear();
          for (std::size_t i = 0; i < v.items().size(); ++i) {
            config.servers.push_back(
                FK_TRY(ParseRadiusServer(v.items()[i], where + "[" + std::to_string(i) + "]")));
          }
          return {};
        }},
       {"timeout-ms", SetDuration(&config.timeout)},
       {"retries", SetInt(&config.retries)},
       {"nas-identifier",
        [&](const yaml::Node& v, const std::string& where) -> Status {
          config.nas_identifier = FK_TRY(Scalar(v, where));
          return {};
        }},
       {"roles", [&](const yaml::Node& v, const std::string& where) -> Status {
          if (!v.IsSequence()) return Fail(ErrorCode::kInvalidInput, where + " must be a list");
          config.roles.clear();
          for (std::size_t i = 0; i < v.items().size(); ++i) {
            const std::string item = where + "[" + std::to_string(i) + "]";
            auth::RoleMapping mapping;
            int attributes = 0;
            auto attribute = [&](auth::RoleAttribute kind) -> KeyHandler {
              return [&, kind](const yaml::Node& a, const std::string& w) -> Status {
                mapping.attribute = kind;
                mapping.value = FK_TRY(Scalar(a, w));
                ++attributes;
                return {};
              };
            };
            FK_TRY(ForEachKey(v.items()[i], item,
                              {{"class", attribute(auth::RoleAttribute::kClass)},
                               {"filter-id", attribute(auth::RoleAttribute::kFilterId)},
                               {"role", [&](const yaml::Node& r, const std::string& w) -> Status {
                                  mapping.role = FK_TRY(Role(r, w));
                                  return {};
                                }}}));
            if (attributes != 1 || mapping.role.empty()) {
              return Fail(ErrorCode::kInvalidInput,
                          item + " needs one of class or filter-id, and a role");
            }
            config.roles.push_back(std::move(mapping));
          }
          return {};
        }}}));
  s->radius = std::move(config);
  return {};
}

Status ParsePam(const yaml::Node& node, AuthSettings* s) {
  auth::PamOptions options = s->pam.value_or(auth::PamOptions{});
  FK_TRY(ForEachKey(
      node, "auth.pam",
      {{"service",
        [&](const yaml::Node& v, const std::string& where) -> Status {
          options.service = FK_TRY(Scalar(v, where));
          return {};
        }},
       {"groups",
        [&](const yaml::Node& v, const std::string& where) -> Status {
          if (!v.IsMap()) return Fail(ErrorCode::kInvalidInput, where + " must be a mapping");
          options.group_roles.clear();
          for (const auto& [group, role] : v.entries()) {
            options.group_roles.push_back({group, FK_TRY(Role(role, where + "." + group))});
          }
          return {};
        }},
       {"default-role", [&](const yaml::Node& v, const std::string& where) -> Status {
          std::string role = FK_TRY(Scalar(v, where));
          if (!role.empty()) role = FK_TRY(Role(v, where));
          options.default_role = role;
          return {};
        }}}));
  s->pam = std::move(options);
  return {};
}

}  // namespace

Result<AuthSettings> ParseAuthSettings(const yaml::Node& node, AuthSettings s) {
  FK_TRY(ForEachKey(
      node, "auth",
      {{"order",
        [&](const yaml::Node& v, const std::string& where) -> Status {
          if (!v.IsSequence() || v.items().empty()) {
            return Fail(ErrorCode::kInvalidInput, where + " must be a non-empty list");
          }
          s.order.clear();
          for (const yaml::Node& item : v.items()) {
            std::string name = FK_TRY(Scalar(item, where));
            if (name != "local" && name != "radius" && name != "pam") {
              return Fail(ErrorCode::kInvalidInput,
                          where + ": unknown back-end \"" + name + "\" (local, radius or pam)");
            }
            if (std::ranges::find(s.order, name) != s.order.end()) {
              return Fail(ErrorCode::kInvalidInput, where + ": " + name + " is listed twice");
            }
            s.order.push_back(std::move(name));
          }
          return {};
        }},
       {"stop-on-reject",
        [&](const yaml::Node& v, const std::string& where) -> Status {
          s.stop_on_reject = FK_TRY(Boolean(v, where));
          return {};
        }},
       {"local", [&](const yaml::Node& v, const std::string&) { return ParseLocal(v, &s); }},
       {"radius", [&](const yaml::Node& v, const std::string&) { return ParseRadius(v, &s); }},
       {"pam", [&](const yaml::Node& v, const std::string&) { return ParsePam(v, &s); }},
       {"lockout",
        [&](const yaml::Node& v, const std::string&) {
          return ForEachKey(v, "auth.lockout",
                            {{"user",
                              [&](const yaml::Node& p, const std::string&) {
                                return ParsePolicy(p, "auth.lockout.user", &s.throttle.per_user);
                              }},
                             {"source", [&](const yaml::Node& p, const std::string&) {
                                return ParsePolicy(p, "auth.lockout.source",
                                                   &s.throttle.per_source);
                              }}});
        }},
       {"sessions", [&](const yaml::Node& v, const std::string&) {
          return ForEachKey(
              v, "auth.sessions",
              {{"access-ttl-seconds", SetDuration(&s.sessions.access_ttl)},
               {"idle-timeout-seconds", SetDuration(&s.sessions.idle_timeout)},
               {"max-lifetime-seconds", SetDuration(&s.sessions.max_lifetime)},
               {"max-per-user", [&](const yaml::Node& m, const std::string& where) -> Status {
                  s.sessions.max_sessions_per_user = FK_TRY(Unsigned(m, where, 1 << 20));
                  return {};
                }}});
        }}}));
  FK_TRY_CTX(auth::ValidateThrottleConfig(s.throttle), "auth.lockout");
  FK_TRY_CTX(auth::ValidateSessionOptions(s.sessions), "auth.sessions");
  if (std::ranges::find(s.order, "radius") != s.order.end() && !s.radius) {
    return Fail(ErrorCode::kInvalidInput, "auth.order names radius but auth.radius is missing");
  }
  return s;
}

std::vector<std::string> WeakerThanDefaults(const AuthSettings& s) {
  const AuthSettings d;
  std::vector<std::string> out;
  auto argon2 = [](const auth::Argon2Params& p) {
    return std::to_string(p.memory_kib) + " KiB, " + std::to_string(p.passes) + " pass(es), " +
           std::to_string(p.lanes) + " lane(s)";
  };
  if (auth::IsWeakerThanDefault(s.local.argon2)) {
    out.push_back("auth.local.argon2: new password hashes cost " + argon2(s.local.argon2) +
                  ", below the default " + argon2(d.local.argon2));
  }
  if (s.local.min_password_chars < d.local.min_password_chars) {
    out.push_back("auth.local.min-password-chars " + std::to_string(s.local.min_password_chars) +
                  " is below the default " + std::to_string(d.local.min_password_chars));
  }
  auto policy = [&](const auth::ThrottlePolicy& p, const auth::ThrottlePolicy& base,
                    const std::string& name) {
    if (p.lockout_failures == 0) {
      out.push_back(name + ".lockout-failures 0: guessing is slowed down but never locked out");
    } else if (p.lockout_failures > base.lockout_failures) {
      out.push_back(name + ".lockout-failures " + std::to_string(p.lockout_failures) +
                    " is above the default " + std::to_string(base.lockout_failures));
    }
    if (p.free_failures > base.free_failures) {
      out.push_back(name + ".free-failures " + std::to_string(p.free_failures) +
                    " is above the default " + std::to_string(base.free_failures));
    }
    if (p.lockout_failures != 0 && p.lockout_duration < base.lockout_duration) {
      out.push_back(name + ".lockout-seconds " + std::to_string(p.lockout_duration.count()) +
                    " is below the default " + std::to_string(base.lockout_duration.count()));
    }
  };
  policy(s.throttle.per_user, d.throttle.per_user, "auth.lockout.user");
  policy(s.throttle.per_source, d.throttle.per_source, "auth.lockout.source");
  auto longer = [&](std::chrono::seconds v, std::chrono::seconds base, const std::string& name) {
    if (v > base) {
      out.push_back(name + " " + std::to_string(v.count()) + " is above the default " +
                    std::to_string(base.count()));
    }
  };
  longer(s.sessions.access_ttl, d.sessions.access_ttl, "auth.sessions.access-ttl-seconds");
  longer(s.sessions.idle_timeout, d.sessions.idle_timeout, "auth.sessions.idle-timeout-seconds");
  longer(s.sessions.max_lifetime, d.sessions.max_lifetime, "auth.sessions.max-lifetime-seconds");
  return out;
}

std::string UsersFile(const AuthSettings& settings, const std::string& data_dir) {
  return settings.users_file.empty() ? data_dir + "/users" : settings.users_file;
}

std::string SessionsFile(const std::string& data_dir) { return data_dir + "/sessions.db"; }

Result<std::unique_ptr<auth::LocalUserStore>> OpenLocalUsers(const AuthSettings& settings,
                                                             const std::string& data_dir) {
  return auth::LocalUserStore::Open(UsersFile(settings, data_dir), settings.local);
}

Result<std::unique_ptr<auth::AuthChain>> BuildAuthChain(const AuthSettings& settings,
                                                        const std::string& data_dir) {
  std::vector<auth::ChainLink> links;
  for (const std::string& name : settings.order) {
    std::shared_ptr<auth::AuthBackend> backend;
    if (name == "local") {
      backend = FK_TRY_CTX(OpenLocalUsers(settings, data_dir), "auth.local");
    } else if (name == "radius") {
      backend = std::make_shared<auth::RadiusBackend>(
          FK_TRY_CTX(auth::RadiusClient::Create(*settings.radius), "auth.radius"));
    } else {
      backend = FK_TRY_CTX(auth::PamBackend::Create(settings.pam.value_or(auth::PamOptions{})),
                           "auth.pam");
    }
    links.push_back({name, std::move(backend)});
  }
  return auth::AuthChain::Create(std::move(links),
                                 auth::ChainOptions{.stop_on_reject = settings.stop_on_reject});
}

}  // namespace fogkeep::access
