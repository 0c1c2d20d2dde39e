// `fogkeep fleet`'s side of fogkeep-director's API (the routes in director/routes.h, the wire
// types in api/director.h): FleetClient, one method per route over the same NodeClient that
// reaches nodes, and the checks of command-line values that the director would otherwise
// refuse, so that a typo is a usage error before any request is sent.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/director.h"
#include "cli/node_client.h"
#include "core/duration.h"  // ParseDuration, FormatDuration for the commands
#include "core/error.h"

namespace fogkeep::cli {

// A rollout's wave size: devices per wave ("10", at least 1) or a share of the targets ("25%",
// 1 to 100). Returned in its plain spelling (no leading zeros); kInvalidInput otherwise.
Result<std::string> ParseWaveSize(std::string_view text);
// A whole percentage from 0 to 100, written "20" or "20%".
Result<std::int64_t> ParsePercent(std::string_view text);

// A device tag as the director takes it: 1 to 64 characters of a-z 0-9 . _ : -, starting with a
// letter or a digit. kInvalidInput naming the tag otherwise.
Status CheckTag(std::string_view tag);
// A fleet policy's tag: a device tag, or "*" for every device.
Status CheckPolicyTag(std::string_view tag);

enum class TagChange { kSet, kAdd, kRemove };
// The tags a device carries after `change` with `tags` applied to `current`: sorted, without
// duplicates (the director's own form). Removing a tag the device lacks is not an error.
std::vector<std::string> ChangeTags(std::vector<std::string> current, TagChange change,
                                    const std::vector<std::string>& tags);

// Whether a deployment in `state` has stopped for good: completed, halted, rolled-back,
// cancelled or undeployed. Every other state (rolling, paused, rolling-back, undeploying, or
// one this fogkeep does not know) may still change.
bool IsFinalDeploymentState(std::string_view state);

// How long ago Unix time `then` was at `now`, for tables: "12s ago", "5m ago", "3h ago",
// "2d ago"; "never" when `then` is 0; "just now" when `then` is ahead of `now`.
std::string Ago(std::int64_t then, std::int64_t now);

// An OAuth client of the director's authorization server, as /api/v1/oauth/clients shows it,
// and the body that creates one: the wire type (api/director.h).
using api::OAuthClientInfo;

// A --grant value as the director names it: authorization_code, refresh_token,
// client_credentials, or the device grant (urn:ietf:params:oauth:grant-type:device_code, also
// written device_code). kInvalidInput naming the four otherwise.
Result<std::string> ParseGrantType(std::string_view text);
// --scope values, each one scope or several separated by spaces: sorted, without duplicates.
std::vector<std::string> SplitScopes(const std::vector<std::string>& values);

// GET /api/v1/devices filters; an empty field does not filter.
struct DeviceQuery {
  std::string tag;
  std::string status;  // enrolled | decommissioned
  std::string app;
};

// The director's API, typed. Every call fails with the director's own error (its category and
// message; a 403 names the missing permission) with the action prepended ("decommission device
// d-1: ..."), and refuses an answer that does not parse as the route's wire type.
class FleetClient {
 public:
  // The director `target` names (target.server is kDirector), as NodeClient::Connect.
  static Result<FleetClient> Connect(const NodeTarget& target);

  // The director's canonical URL, and the fleet CA file it was checked against ("" when
  // verification was skipped).
  const std::string& url() const { return client_.url(); }
  const std::string& ca() const { return client_.ca(); }

  Result<api::DeviceList> ListDevices(const DeviceQuery& query);
  Result<api::DeviceInfo> GetDevice(std::string_view id);
  // PATCH /api/v1/devices/{id} with only the field that changes.
  Result<api::DeviceInfo> SetTags(std::string_view id, const std::vector<std::string>& tags);
  Result<api::DeviceInfo> Rename(std::string_view id, std::string_view name);
  Result<api::DeviceInfo> Decommission(std::string_view id);

  Result<api::EnrollmentTokenInfo> CreateToken(const api::EnrollmentTokenRequest& request);
  Result<api::EnrollmentTokenList> ListTokens();
  Status DeleteToken(std::string_view id);

  // Streams the package file at `path` as the body (application/octet-stream).
  Result<api::CatalogPackage> UploadPackage(const std::string& path);
  Result<api::CatalogList> ListCatalog();
  Status DeletePackage(std::string_view name, std::string_view version);

  // PUT /api/v1/policies/{policy.tag}: replaces the tag's policy.
  Result<api::FleetPolicyDoc> SetPolicy(const api::FleetPolicyDoc& policy);
  Result<api::FleetPolicyList> ListPolicies();
  Status DeletePolicy(std::string_view tag);

  Result<api::DeploymentInfo> Deploy(const api::DeploymentRequest& request);
  Result<api::DeploymentList> ListDeployments();
  Result<api::DeploymentInfo> GetDeployment(std::string_view id);
  // POST /api/v1/deployments/{id}/{action}: pause, resume, cancel, rollback or undeploy.
  Result<api::DeploymentInfo> ActOnDeployment(std::string_view id, std::string_view action);

  // The authorization server's clients (admins: oauth-clients.manage). A creation answers with
  // the new client and, for a confidential one, its secret; a rotation with the new secret.
  Result<std::vector<OAuthClientInfo>> ListOAuthClients();
  Result<OAuthClientInfo> GetOAuthClient(std::string_view id);
  Result<OAuthClientInfo> CreateOAuthClient(const OAuthClientInfo& client);
  Status DeleteOAuthClient(std::string_view id);
  Result<std::string> RotateOAuthClientSecret(std::string_view id);

 private:
  explicit FleetClient(NodeClient client) : client_(std::move(client)) {}

  // A call whose answer is the wire type T.
  template <typename T>
  Result<T> CallFor(net::Method method, const std::string& path, std::string_view body = {});
  Status CallNoAnswer(net::Method method, const std::string& path, std::string_view what);

  NodeClient client_;
};

}  // namespace fogkeep::cli
