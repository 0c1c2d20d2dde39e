#include "api/director.h"

#include <boost/json.hpp>

#include "api/object_reader.h"

namespace fogkeep::api {
namespace {

namespace json = boost::json;
using detail::ObjectReader;
using detail::Objects;

json::array Strings(const std::vector<std::string>& values) {
  json::array out;
  out.reserve(values.size());
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

}  // namespace

json::value ToJson(const CatalogPackage& v) {
  return json::object{{"name", v.name},
                      {"version", v.version},
                      {"sha256", v.sha256},
                      {"size", v.size},
                      {"signer", v.signer},
                      {"uploaded_by", v.uploaded_by},
                      {"uploaded_at", v.uploaded_at}};
}

json::value ToJson(const CatalogList& v) { return json::object{{"packages", Objects(v.packages)}}; }

json::value ToJson(const FleetPolicyDoc& v) {
  return json::object{{"tag", v.tag},
                      {"require_signed", v.require_signed},
                      {"trust_anchors", Strings(v.trust_anchors)},
                      {"crls", Strings(v.crls)},
                      {"allowed_capabilities", Strings(v.allowed_capabilities)},
                      {"allowed_profiles", Strings(v.allowed_profiles)},
                      {"updated_at", v.updated_at},
                      {"updated_by", v.updated_by}};
}

json::value ToJson(const FleetPolicyList& v) {
  return json::object{{"policies", Objects(v.policies)}};
}

json::value ToJson(const RolloutSpec& v) {
  return json::object{{"wave_size", v.wave_size},
                      {"pause_seconds", v.pause_seconds},
                      {"failure_threshold_percent", v.failure_threshold_percent},
                      {"auto_rollback", v.auto_rollback}};
}

json::value ToJson(const DeploymentRequest& v) {
  return json::object{{"app", v.app},
                      {"version", v.version},
                      {"tags", Strings(v.tags)},
                      {"devices", Strings(v.devices)},
                      {"config_ini", v.config_ini},
                      {"rollout", ToJson(v.rollout)}};
}

json::value ToJson(const DeploymentTargetInfo& v) {
  return json::object{{"device", v.device},
                      {"wave", v.wave},
                      {"state", v.state},
                      {"detail", v.detail},
                      {"updated_at", v.updated_at}};
}

json::value ToJson(const DeploymentInfo& v) {
  return json::object{{"id", v.id},
                      {"app", v.app},
                      {"version", v.version},
                      {"previous_version", v.previous_version},
                      {"state", v.state},
                      {"reason", v.reason},
                      {"wave", v.wave},
                      {"waves", v.waves},
                      {"spec", ToJson(v.spec)},
                      {"pending", v.pending},
                      {"assigned", v.assigned},
                      {"running", v.running},
                      {"failed", v.failed},
                      {"created_by", v.created_by},
                      {"created_at", v.created_at},
                      {"updated_at", v.updated_at},
                      {"targets", Objects(v.targets)}};
}

json::value ToJson(const DeploymentList& v) {
  return json::object{{"deployments", Objects(v.deployments)}};
}

Status FromJson(const json::value& j, CatalogPackage* out) {
  ObjectReader r(j, "package");
  r.String("name", &out->name);
  r.String("version", &out->version);
  r.String("sha256", &out->sha256);
  r.Integer("size", &out->size);
  r.String("signer", &out->signer);
  r.String("uploaded_by", &out->uploaded_by);
  r.Integer("uploaded_at", &out->uploaded_at);
  return r.status();
}

Status FromJson(const json::value& j, CatalogList* out) {
  ObjectReader r(j, "catalog");
  r.Objects("packages", &out->packages);
  return r.status();
}

Status FromJson(const json::value& j, FleetPolicyDoc* out) {
  ObjectReader r(j, "policy");
  r.String("tag", &out->tag);
  r.Bool("require_signed", &out->require_signed);
  r.Strings("trust_anchors", &out->trust_anchors);
  r.Strings("crls", &out->crls);
  r.Strings("allowed_capabilities", &out->allowed_capabilities);
  r.Strings("allowed_profiles", &out->allowed_profiles);
  r.Integer("updated_at", &out->updated_at);
  r.String("updated_by", &out->updated_by);
  return r.status();
}

Status FromJson(const json::value& j, FleetPolicyList* out) {
  ObjectReader r(j, "policy list");
  r.Objects("policies", &out->policies);
  return r.status();
}

Status FromJson(const json::value& j, RolloutSpec* out) {
  ObjectReader r(j, "rollout");
  r.String("wave_size", &out->wave_size);
  r.Integer("pause_seconds", &out->pause_seconds);
  r.Integer("failure_threshold_percent", &out->failure_threshold_percent);
  r.Bool("auto_rollback", &out->auto_rollback);
  return r.status();
}

Status FromJson(const json::value& j, DeploymentRequest* out) {
  ObjectReader r(j, "deployment");
  r.String("app", &out->app);
  r.String("version", &out->version);
  r.Strings("tags", &out->tags);
  r.Strings("devices", &out->devices);
  r.String("config_ini", &out->config_ini);
  FK_TRY(r.status());
  if (const json::value* rollout = r.Member("rollout")) FK_TRY(FromJson(*rollout, &out->rollout));
  return {};
}

Status FromJson(const json::value& j, DeploymentTargetInfo* out) {
  ObjectReader r(j, "deployment target");
  r.String("device", &out->device);
  r.Integer("wave", &out->wave);
  r.String("state", &out->state);
  r.String("detail", &out->detail);
  r.Integer("updated_at", &out->updated_at);
  return r.status();
}

Status FromJson(const json::value& j, DeploymentInfo* out) {
  ObjectReader r(j, "deployment");
  r.String("id", &out->id);
  r.String("app", &out->app);
  r.String("version", &out->version);
  r.String("previous_version", &out->previous_version);
  r.String("state", &out->state);
  r.String("reason", &out->reason);
  r.Integer("wave", &out->wave);
  r.Integer("waves", &out->waves);
  r.Integer("pending", &out->pending);
  r.Integer("assigned", &out->assigned);
  r.Integer("running", &out->running);
  r.Integer("failed", &out->failed);
  r.String("created_by", &out->created_by);
  r.Integer("created_at", &out->created_at);
  r.Integer("updated_at", &out->updated_at);
  r.Objects("targets", &out->targets);
  FK_TRY(r.status());
  if (const json::value* spec = r.Member("spec")) FK_TRY(FromJson(*spec, &out->spec));
  return {};
}

Status FromJson(const json::value& j, DeploymentList* out) {
  ObjectReader r(j, "deployment list");
  r.Objects("deployments", &out->deployments);
  return r.status();
}

json::value ToJson(const EnrollmentTokenRequest& v) {
  return json::object{{"tags", Strings(v.tags)}, {"ttl_seconds", v.ttl_seconds}};
}

json::value ToJson(const EnrollmentTokenInfo& v) {
  json::object o{{"id", v.id},
                 {"tags", Strings(v.tags)},
                 {"created_by", v.created_by},
                 {"created_at", v.created_at},
                 {"expires_at", v.expires_at},
                 {"used_by", v.used_by},
                 {"used_at", v.used_at}};
  if (!v.token.empty()) o["token"] = v.token;
  return o;
}

json::value ToJson(const EnrollmentTokenList& v) {
  return json::object{{"tokens", Objects(v.tokens)}};
}

json::value ToJson(const DeviceApp& v) {
  return json::object{{"id", v.id},
                      {"name", v.name},
                      {"version", v.version},
                      {"state", v.state},
                      {"error", v.error}};
}

json::value ToJson(const NodeReport& v) {
  json::object o{
      {"agent_version", v.agent_version}, {"health", v.health}, {"apps", Objects(v.apps)}};
  if (!v.alerts.empty()) o["alerts"] = Objects(v.alerts);
  return o;
}

json::value ToJson(const DeviceInfo& v) {
  return json::object{{"id", v.id},
                      {"name", v.name},
                      {"tags", Strings(v.tags)},
                      {"status", v.status},
                      {"cert_serial", v.cert_serial},
                      {"cert_not_after", v.cert_not_after},
                      {"enrolled_at", v.enrolled_at},
                      {"agent_version", v.agent_version},
                      {"health", v.health},
                      {"last_seen", v.last_seen},
                      {"last_report_at", v.last_report_at},
                      {"apps", Objects(v.apps)}};
}

json::value ToJson(const DeviceList& v) { return json::object{{"devices", Objects(v.devices)}}; }

json::value ToJson(const DeviceUpdate& v) {
  json::object o{{"tags", Strings(v.tags)}};
  if (!v.name.empty()) o["name"] = v.name;
  return o;
}

json::value ToJson(const DesiredApp& v) {
  return json::object{{"name", v.name},
                      {"version", v.version},
                      {"sha256", v.sha256},
                      {"package_url", v.package_url},
                      {"state", v.state},
                      {"config_ini", v.config_ini},
                      {"deployment", v.deployment}};
}

json::value ToJson(const DesiredState& v) {
  json::object out{{"device_id", v.device_id},
                   {"generation", v.generation},
                   {"tags", Strings(v.tags)},
                   {"apps", Objects(v.apps)},
                   {"policy", ToJson(v.policy)}};
  if (v.oauth) {
    boost::system::error_code ec;
    json::value jwks = json::parse(v.oauth->jwks, ec);
    // The director serializes its own key set; text that is not JSON is left out.
    if (!ec) out["oauth"] = json::object{{"issuer", v.oauth->issuer}, {"jwks", std::move(jwks)}};
  }
  return out;
}

Status FromJson(const json::value& j, EnrollmentTokenRequest* out) {
  ObjectReader r(j, "enrollment token request");
  r.Strings("tags", &out->tags);
  r.Integer("ttl_seconds", &out->ttl_seconds);
  return r.status();
}

Status FromJson(const json::value& j, EnrollmentTokenInfo* out) {
  ObjectReader r(j, "enrollment token");
  r.String("id", &out->id);
  r.String("token", &out->token);
  r.Strings("tags", &out->tags);
  r.String("created_by", &out->created_by);
  r.Integer("created_at", &out->created_at);
  r.Integer("expires_at", &out->expires_at);
  r.String("used_by", &out->used_by);
  r.Integer("used_at", &out->used_at);
  return r.status();
}

Status FromJson(const json::value& j, EnrollmentTokenList* out) {
  ObjectReader r(j, "enrollment token list");
  r.Objects("tokens", &out->tokens);
  return r.status();
}

Status FromJson(const json::value& j, DeviceApp* out) {
  ObjectReader r(j, "app");
  r.String("id", &out->id);
  r.String("name", &out->name);
  r.String("version", &out->version);
  r.String("state", &out->state);
  r.String("error", &out->error);
  return r.status();
}

Status FromJson(const json::value& j, NodeReport* out) {
  ObjectReader r(j, "report");
  r.String("agent_version", &out->agent_version);
  r.String("health", &out->health);
  r.Objects("apps", &out->apps);
  r.Objects("alerts", &out->alerts);
  return r.status();
}

Status FromJson(const json::value& j, DeviceInfo* out) {
  ObjectReader r(j, "device");
  r.String("id", &out->id);
  r.String("name", &out->name);
  r.Strings("tags", &out->tags);
  r.String("status", &out->status);
  r.String("cert_serial", &out->cert_serial);
  r.Integer("cert_not_after", &out->cert_not_after);
  r.Integer("enrolled_at", &out->enrolled_at);
  r.String("agent_version", &out->agent_version);
  r.String("health", &out->health);
  r.Integer("last_seen", &out->last_seen);
  r.Integer("last_report_at", &out->last_report_at);
  r.Objects("apps", &out->apps);
  return r.status();
}

Status FromJson(const json::value& j, DeviceList* out) {
  ObjectReader r(j, "device list");
  r.Objects("devices", &out->devices);
  return r.status();
}

Status FromJson(const json::value& j, DeviceUpdate* out) {
  ObjectReader r(j, "device update");
  r.Strings("tags", &out->tags);
  r.String("name", &out->name);
  return r.status();
}

Status FromJson(const json::value& j, DesiredApp* out) {
  ObjectReader r(j, "desired app");
  r.String("name", &out->name);
  r.String("version", &out->version);
  r.String("sha256", &out->sha256);
  r.String("package_url", &out->package_url);
  r.String("state", &out->state);
  r.String("config_ini", &out->config_ini);
  r.String("deployment", &out->deployment);
  return r.status();
}

Status FromJson(const json::value& j, DesiredState* out) {
  ObjectReader r(j, "desired state");
  r.String("device_id", &out->device_id);
  r.Integer("generation", &out->generation);
  r.Strings("tags", &out->tags);
  r.Objects("apps", &out->apps);
  FK_TRY(r.status());
  if (const json::value* policy = r.Member("policy")) FK_TRY(FromJson(*policy, &out->policy));
  if (const json::value* oauth = r.Member("oauth")) {
    ObjectReader o(*oauth, "desired state oauth");
    OAuthTrust trust;
    o.String("issuer", &trust.issuer);
    FK_TRY(o.status());
    const json::value* jwks = o.Member("jwks");
    if (jwks == nullptr || !jwks->is_object()) {
      return Fail(ErrorCode::kInvalidInput, "desired state oauth.jwks must be a JSON object");
    }
    trust.jwks = json::serialize(*jwks);
    out->oauth = std::move(trust);
  }
  return {};
}

json::value ToJson(const OAuthClientInfo& v) {
  json::object out{{"client_id", v.client_id},
                   {"name", v.name},
                   {"type", v.type},
                   {"redirect_uris", Strings(v.redirect_uris)},
                   {"grant_types", Strings(v.grant_types)},
                   {"scopes", Strings(v.scopes)},
                   {"resources", Strings(v.resources)},
                   {"role", v.role},
                   {"disabled", v.disabled},
                   {"created_by", v.created_by},
                   {"created_at", v.created_at}};
  if (!v.client_secret.empty()) out["client_secret"] = v.client_secret;
  return out;
}

json::value ToJson(const OAuthClientList& v) {
  return json::object{{"clients", Objects(v.clients)}};
}

Status FromJson(const json::value& j, OAuthClientInfo* out) {
  ObjectReader r(j, "OAuth client");
  r.String("client_id", &out->client_id);
  r.String("name", &out->name);
  r.String("type", &out->type);
  r.Strings("redirect_uris", &out->redirect_uris);
  r.Strings("grant_types", &out->grant_types);
  r.Strings("scopes", &out->scopes);
  r.Strings("resources", &out->resources);
  r.String("role", &out->role);
  r.Bool("disabled", &out->disabled);
  r.String("created_by", &out->created_by);
  r.Integer("created_at", &out->created_at);
  r.String("client_secret", &out->client_secret);
  return r.status();
}

Status FromJson(const json::value& j, OAuthClientList* out) {
  ObjectReader r(j, "OAuth client list");
  r.Objects("clients", &out->clients);
  return r.status();
}

json::value ToJson(const AppOAuthClientRequest& v) {
  return json::object{{"scopes", Strings(v.scopes)}};
}

json::value ToJson(const AppOAuthClient& v) {
  return json::object{{"client_id", v.client_id},
                      {"client_secret", v.client_secret},
                      {"issuer", v.issuer},
                      {"token_endpoint", v.token_endpoint},
                      {"node_audience", v.node_audience},
                      {"resources", Strings(v.resources)},
                      {"scopes", Strings(v.scopes)}};
}

Status FromJson(const json::value& j, AppOAuthClientRequest* out) {
  ObjectReader r(j, "app OAuth client request");
  r.Strings("scopes", &out->scopes);
  return r.status();
}

Status FromJson(const json::value& j, AppOAuthClient* out) {
  ObjectReader r(j, "app OAuth client");
  r.String("client_id", &out->client_id);
  r.String("client_secret", &out->client_secret);
  r.String("issuer", &out->issuer);
  r.String("token_endpoint", &out->token_endpoint);
  r.String("node_audience", &out->node_audience);
  r.Strings("resources", &out->resources);
  r.Strings("scopes", &out->scopes);
  return r.status();
}

}  // namespace fogkeep::api
