#include "cli/fleet_client.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <optional>

#include "api/node.h"
#include "cli/json_fields.h"
#include "cli/output.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using net::Method;

constexpr std::string_view kDevicesPath = "/api/v1/devices";
constexpr std::string_view kTokensPath = "/api/v1/enrollment-tokens";
constexpr std::string_view kCatalogPath = "/api/v1/catalog";
constexpr std::string_view kPoliciesPath = "/api/v1/policies";
constexpr std::string_view kDeploymentsPath = "/api/v1/deployments";
constexpr std::string_view kOAuthClientsPath = "/api/v1/oauth/clients";
constexpr std::array<std::string_view, 4> kGrantTypes = {
    "authorization_code", "refresh_token", "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code"};

constexpr std::size_t kMaxTagBytes = 64;
constexpr char kTagRule[] = "1 to 64 characters of a-z 0-9 . _ : - starting with a letter or digit";
// The whole of `text` as a number without sign; nullopt for anything else (empty, "+1", "1.5",
// " 1", overflow).
std::optional<std::int64_t> WholeNumber(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// `text` for a message: quoted, control characters escaped, cut at 40 characters.
std::string Quoted(std::string_view text) {
  return "\"" + Printable(text.substr(0, 40)) + (text.size() > 40 ? "...\"" : "\"");
}

bool IsTagChar(char c, bool first) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '.' || c == '_' || c == ':' || c == '-'));
}

std::string DevicePath(std::string_view id) {
  return std::string(kDevicesPath) + "/" + EncodeComponent(id);
}
std::string DeploymentPath(std::string_view id) {
  return std::string(kDeploymentsPath) + "/" + EncodeComponent(id);
}
std::string OAuthClientPath(std::string_view id) {
  return std::string(kOAuthClientsPath) + "/" + EncodeComponent(id);
}

Result<std::string> SecretOf(std::string_view body) {
  JsonFields fields(body, "the director's answer:");
  std::string secret = fields.Required("client_secret");
  FK_TRY(fields.status());
  return secret;
}

}  // namespace

Result<std::string> ParseGrantType(std::string_view text) {
  if (text == "device_code") return std::string(kGrantTypes.back());
  if (std::ranges::find(kGrantTypes, text) != kGrantTypes.end()) return std::string(text);
  return Fail(ErrorCode::kInvalidInput,
              "grant " + Quoted(text) +
                  " is not one of authorization_code, refresh_token, client_credentials, "
                  "device_code (urn:ietf:params:oauth:grant-type:device_code)");
}

std::vector<std::string> SplitScopes(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (std::string_view value : values) {
    while (!value.empty()) {
      const std::size_t space = value.find(' ');
      if (space != 0) out.emplace_back(value.substr(0, space));
      if (space == std::string_view::npos) break;
      value.remove_prefix(space + 1);
    }
  }
  std::ranges::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::string> ParseWaveSize(std::string_view text) {
  const bool share = text.ends_with('%');
  const std::optional<std::int64_t> n = WholeNumber(share ? text.substr(0, text.size() - 1) : text);
  if (!n || *n < 1 || (share && *n > 100)) {
    return Fail(ErrorCode::kInvalidInput,
                "wave size " + Quoted(text) +
                    " must be a number of devices (\"10\", at least 1) or a share of the targets "
                    "(\"25%\", 1% to 100%)");
  }
  return std::to_string(*n) + (share ? "%" : "");
}

Result<std::int64_t> ParsePercent(std::string_view text) {
  const std::optional<std::int64_t> n =
      WholeNumber(text.ends_with('%') ? text.substr(0, text.size() - 1) : text);
  if (!n || *n > 100) {
    return Fail(ErrorCode::kInvalidInput,
                "percentage " + Quoted(text) + " must be a whole number from 0 to 100");
  }
  return *n;
}

Status CheckTag(std::string_view tag) {
  bool ok = !tag.empty() && tag.size() <= kMaxTagBytes;
  for (std::size_t i = 0; ok && i < tag.size(); ++i) ok = IsTagChar(tag[i], i == 0);
  if (!ok) {
    return Fail(ErrorCode::kInvalidInput, "tag " + Quoted(tag) + ": a tag is " + kTagRule);
  }
  return {};
}

Status CheckPolicyTag(std::string_view tag) {
  if (tag == "*" || CheckTag(tag)) return {};
  return Fail(ErrorCode::kInvalidInput, "tag " + Quoted(tag) +
                                            ": a policy's tag is \"*\" (every device) or a "
                                            "device tag, " +
                                            kTagRule);
}

std::vector<std::string> ChangeTags(std::vector<std::string> current, TagChange change,
                                    const std::vector<std::string>& tags) {
  switch (change) {
    case TagChange::kSet:
      current = tags;
      break;
    case TagChange::kAdd:
      current.insert(current.end(), tags.begin(), tags.end());
      break;
    case TagChange::kRemove:
      std::erase_if(current, [&](const std::string& t) { return std::ranges::count(tags, t) > 0; });
      break;
  }
  std::ranges::sort(current);
  current.erase(std::unique(current.begin(), current.end()), current.end());
  return current;
}

bool IsFinalDeploymentState(std::string_view state) {
  static constexpr std::array<std::string_view, 5> kFinal = {"completed", "halted", "rolled-back",
                                                             "cancelled", "undeployed"};
  return std::ranges::find(kFinal, state) != kFinal.end();
}

std::string Ago(std::int64_t then, std::int64_t now) {
  if (then == 0) return "never";
  if (then > now) return "just now";
  const std::int64_t d = now - then;
  if (d < 60) return std::to_string(d) + "s ago";
  if (d < 3600) return std::to_string(d / 60) + "m ago";
  if (d < 48 * 3600) return std::to_string(d / 3600) + "h ago";
  return std::to_string(d / (24 * 3600)) + "d ago";
}

Result<FleetClient> FleetClient::Connect(const NodeTarget& target) {
  return FleetClient(FK_TRY(NodeClient::Connect(target)));
}

template <typename T>
Result<T> FleetClient::CallFor(net::Method method, const std::string& path, std::string_view body) {
  const net::Response response = FK_TRY(
      client_.Call(method, path, body, body.empty() ? std::string_view() : "application/json"));
  return FK_TRY_CTX(api::FromJsonText<T>(response.body), "the director's answer");
}

Status FleetClient::CallNoAnswer(net::Method method, const std::string& path,
                                 std::string_view what) {
  FK_TRY_CTX(client_.Call(method, path), what);
  return {};
}

Result<api::DeviceList> FleetClient::ListDevices(const DeviceQuery& query) {
  std::string path(kDevicesPath);
  char separator = '?';
  for (const auto& [key, value] :
       {std::pair{"tag", &query.tag}, {"status", &query.status}, {"app", &query.app}}) {
    if (value->empty()) continue;
    path += separator + std::string(key) + "=" + EncodeComponent(*value);
    separator = '&';
  }
  return FK_TRY_CTX(CallFor<api::DeviceList>(Method::kGet, path), "list devices");
}

Result<api::DeviceInfo> FleetClient::GetDevice(std::string_view id) {
  return FK_TRY_CTX(CallFor<api::DeviceInfo>(Method::kGet, DevicePath(id)),
                    "device " + std::string(id));
}

Result<api::DeviceInfo> FleetClient::SetTags(std::string_view id,
                                             const std::vector<std::string>& tags) {
  // Not api::DeviceUpdate: its empty name would be sent, and the director takes every field
  // present as a change.
  json::array list;
  for (const std::string& tag : tags) list.emplace_back(tag);
  const std::string body = json::serialize(json::object{{"tags", std::move(list)}});
  return FK_TRY_CTX(CallFor<api::DeviceInfo>(Method::kPatch, DevicePath(id), body),
                    "set the tags of device " + std::string(id));
}

Result<api::DeviceInfo> FleetClient::Rename(std::string_view id, std::string_view name) {
  const std::string body = json::serialize(json::object{{"name", name}});
  return FK_TRY_CTX(CallFor<api::DeviceInfo>(Method::kPatch, DevicePath(id), body),
                    "rename device " + std::string(id));
}

Result<api::DeviceInfo> FleetClient::Decommission(std::string_view id) {
  return FK_TRY_CTX(CallFor<api::DeviceInfo>(Method::kPost, DevicePath(id) + "/decommission"),
                    "decommission device " + std::string(id));
}

Result<api::EnrollmentTokenInfo> FleetClient::CreateToken(
    const api::EnrollmentTokenRequest& request) {
  return FK_TRY_CTX(CallFor<api::EnrollmentTokenInfo>(Method::kPost, std::string(kTokensPath),
                                                      api::ToJsonText(request)),
                    "create an enrollment token");
}

Result<api::EnrollmentTokenList> FleetClient::ListTokens() {
  return FK_TRY_CTX(CallFor<api::EnrollmentTokenList>(Method::kGet, std::string(kTokensPath)),
                    "list enrollment tokens");
}

Status FleetClient::DeleteToken(std::string_view id) {
  return CallNoAnswer(Method::kDelete, std::string(kTokensPath) + "/" + EncodeComponent(id),
                      "delete enrollment token " + std::string(id));
}

Result<api::CatalogPackage> FleetClient::UploadPackage(const std::string& path) {
  const net::Response response =
      FK_TRY_CTX(client_.UploadFile(Method::kPost, kCatalogPath, path, "application/octet-stream"),
                 "upload to the catalog");
  return FK_TRY_CTX(api::FromJsonText<api::CatalogPackage>(response.body),
                    "upload to the catalog: the director's answer");
}

Result<api::CatalogList> FleetClient::ListCatalog() {
  return FK_TRY_CTX(CallFor<api::CatalogList>(Method::kGet, std::string(kCatalogPath)),
                    "list the catalog");
}

Status FleetClient::DeletePackage(std::string_view name, std::string_view version) {
  const std::string path =
      std::string(kCatalogPath) + "/" + EncodeComponent(name) + "/" + EncodeComponent(version);
  return CallNoAnswer(
      Method::kDelete, path,
      "delete " + std::string(name) + " " + std::string(version) + " from the catalog");
}

Result<api::FleetPolicyDoc> FleetClient::SetPolicy(const api::FleetPolicyDoc& policy) {
  const std::string path = std::string(kPoliciesPath) + "/" + EncodeComponent(policy.tag);
  return FK_TRY_CTX(CallFor<api::FleetPolicyDoc>(Method::kPut, path, api::ToJsonText(policy)),
                    "set the policy of tag " + policy.tag);
}

Result<api::FleetPolicyList> FleetClient::ListPolicies() {
  return FK_TRY_CTX(CallFor<api::FleetPolicyList>(Method::kGet, std::string(kPoliciesPath)),
                    "list policies");
}

Status FleetClient::DeletePolicy(std::string_view tag) {
  return CallNoAnswer(Method::kDelete, std::string(kPoliciesPath) + "/" + EncodeComponent(tag),
                      "delete the policy of tag " + std::string(tag));
}

Result<api::DeploymentInfo> FleetClient::Deploy(const api::DeploymentRequest& request) {
  return FK_TRY_CTX(CallFor<api::DeploymentInfo>(Method::kPost, std::string(kDeploymentsPath),
                                                 api::ToJsonText(request)),
                    "deploy " + request.app + " " + request.version);
}

Result<api::DeploymentList> FleetClient::ListDeployments() {
  return FK_TRY_CTX(CallFor<api::DeploymentList>(Method::kGet, std::string(kDeploymentsPath)),
                    "list deployments");
}

Result<api::DeploymentInfo> FleetClient::GetDeployment(std::string_view id) {
  return FK_TRY_CTX(CallFor<api::DeploymentInfo>(Method::kGet, DeploymentPath(id)),
                    "deployment " + std::string(id));
}

Result<api::DeploymentInfo> FleetClient::ActOnDeployment(std::string_view id,
                                                         std::string_view action) {
  return FK_TRY_CTX(
      CallFor<api::DeploymentInfo>(Method::kPost, DeploymentPath(id) + "/" + std::string(action)),
      std::string(action) + " deployment " + std::string(id));
}

Result<std::vector<OAuthClientInfo>> FleetClient::ListOAuthClients() {
  api::OAuthClientList list =
      FK_TRY_CTX(CallFor<api::OAuthClientList>(Method::kGet, std::string(kOAuthClientsPath)),
                 "list OAuth clients");
  return std::move(list.clients);
}

Result<OAuthClientInfo> FleetClient::GetOAuthClient(std::string_view id) {
  return FK_TRY_CTX(CallFor<OAuthClientInfo>(Method::kGet, OAuthClientPath(id)),
                    "OAuth client " + std::string(id));
}

Result<OAuthClientInfo> FleetClient::CreateOAuthClient(const OAuthClientInfo& c) {
  // What an admin registers, no more: not the fields the director keeps itself.
  const auto strings = [](const std::vector<std::string>& values) {
    return json::array(values.begin(), values.end());
  };
  const std::string body = json::serialize(json::object{{"client_id", c.client_id},
                                                        {"name", c.name},
                                                        {"type", c.type},
                                                        {"redirect_uris", strings(c.redirect_uris)},
                                                        {"grant_types", strings(c.grant_types)},
                                                        {"scopes", strings(c.scopes)},
                                                        {"role", c.role}});
  return FK_TRY_CTX(CallFor<OAuthClientInfo>(Method::kPost, std::string(kOAuthClientsPath), body),
                    "create OAuth client " + c.client_id);
}

Status FleetClient::DeleteOAuthClient(std::string_view id) {
  return CallNoAnswer(Method::kDelete, OAuthClientPath(id),
                      "delete OAuth client " + std::string(id));
}

Result<std::string> FleetClient::RotateOAuthClientSecret(std::string_view id) {
  const std::string what = "rotate the secret of OAuth client " + std::string(id);
  const net::Response response =
      FK_TRY_CTX(client_.Call(Method::kPost, OAuthClientPath(id) + "/secret"), what);
  return FK_TRY_CTX(SecretOf(response.body), what);
}

}  // namespace fogkeep::cli
