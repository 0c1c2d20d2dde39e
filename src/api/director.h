// Wire types of the director API (fogkeep-director's /api/v1) and of the node↔director
// protocol, with their JSON mapping: the one contract the director, fogkeepd and the `fogkeep
// fleet` CLI share. Same rules as api/node.h: strict about types, lenient about unknown fields.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/alert.h"
#include "core/error.h"

namespace fogkeep::api {

// POST /api/v1/enrollment-tokens
struct EnrollmentTokenRequest {
  std::vector<std::string> tags;         // applied to the device that enrolls with the token
  std::int64_t ttl_seconds = 24 * 3600;  // 60 s to 30 days
};

// One enrollment token: the answer of its creation (the only time `token` is set) and an item
// of GET /api/v1/enrollment-tokens.
struct EnrollmentTokenInfo {
  std::string id;
  std::string token;  // "<id>.<secret>": what `fogkeepd enroll --token` takes
  std::vector<std::string> tags;
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::string used_by;  // the device it enrolled; "" while unused
  std::int64_t used_at = 0;
};

struct EnrollmentTokenList {
  std::vector<EnrollmentTokenInfo> tokens;
};

// An app on a device, as the device reports it.
struct DeviceApp {
  std::string id;
  std::string name;
  std::string version;
  std::string state;  // DEPLOYED | ACTIVATED | RUNNING | STOPPED | FAILED
  std::string error;  // why an operation on it failed, "" when none
};

// POST /api/v1/node/report (the node, over mutual TLS)
struct NodeReport {
  std::string agent_version;
  std::string health = "ok";  // ok | degraded
  std::vector<DeviceApp> apps;
  // Alerts the director has not acknowledged yet (a 2xx answer to a report acknowledges the
  // ones it carried), oldest first, at most kMaxReportAlerts; the director keeps each
  // (device, seq) once, so a report sent again after a crash adds nothing twice.
  std::vector<AlertRecord> alerts;
};

// GET /api/v1/devices/{id}, and the items of GET /api/v1/devices.
struct DeviceInfo {
  std::string id;
  std::string name;
  std::vector<std::string> tags;
  std::string status;  // enrolled | decommissioned
  std::string cert_serial;
  std::int64_t cert_not_after = 0;
  std::int64_t enrolled_at = 0;
  std::string agent_version;
  std::string health;
  std::int64_t last_seen = 0;
  std::int64_t last_report_at = 0;
  std::vector<DeviceApp> apps;
};

struct DeviceList {
  std::vector<DeviceInfo> devices;
};

// PUT /api/v1/devices/{id}/tags, PATCH /api/v1/devices/{id}
struct DeviceUpdate {
  std::vector<std::string> tags;
  std::string name;
};

// A package in the director's catalog: the answer of POST /api/v1/catalog (the package file
// as the body) and the items of GET /api/v1/catalog.
struct CatalogPackage {
  std::string name;
  std::string version;
  std::string sha256;
  std::int64_t size = 0;
  std::string signer;  // certificate subject, "" when unsigned
  std::string uploaded_by;
  std::int64_t uploaded_at = 0;
};

struct CatalogList {
  std::vector<CatalogPackage> packages;
};

// A fleet policy: PUT /api/v1/policies/{tag} ("*": every device), items of GET
// /api/v1/policies, and inside a node's desired state (the policies of its tags merged: the
// strictest of each setting). Defaults are the secure ones.
struct FleetPolicyDoc {
  std::string tag;
  bool require_signed = true;
  std::vector<std::string> trust_anchors;  // PEM certificates that sign packages
  std::vector<std::string> crls;           // PEM CRLs of those anchors
  std::vector<std::string> allowed_capabilities;
  std::vector<std::string> allowed_profiles;  // empty: any IOx profile
  std::int64_t updated_at = 0;
  std::string updated_by;
};

struct FleetPolicyList {
  std::vector<FleetPolicyDoc> policies;
};

// How a deployment rolls out: `wave_size` devices per wave ("10") or a share of the targets
// ("25%"); `pause_seconds` between a wave's success and the next wave; the rollout halts when
// more than `failure_threshold_percent` of the devices assigned so far failed, and then rolls
// back to the previous version when `auto_rollback`.
struct RolloutSpec {
  std::string wave_size = "100%";
  std::int64_t pause_seconds = 0;
  std::int64_t failure_threshold_percent = 0;
  bool auto_rollback = true;
};

// POST /api/v1/deployments
struct DeploymentRequest {
  std::string app;
  std::string version;
  std::vector<std::string> tags;     // devices carrying any of these tags
  std::vector<std::string> devices;  // and these devices
  std::string config_ini;            // "" keeps the package's own
  RolloutSpec rollout;
};

// One device in a deployment.
struct DeploymentTargetInfo {
  std::string device;
  std::int64_t wave = 0;
  std::string state;  // pending | assigned | running | failed | rolled-back | removed
  std::string detail;
  std::int64_t updated_at = 0;
};

// GET /api/v1/deployments/{id} (with targets), items of GET /api/v1/deployments (without),
// and the answer of every action (POST /api/v1/deployments/{id}/{pause|resume|cancel|
// rollback|undeploy}).
struct DeploymentInfo {
  std::string id;
  std::string app;
  std::string version;
  std::string previous_version;
  // rolling | paused | completed | halted | rolling-back | rolled-back | cancelled |
  // undeploying | undeployed
  std::string state;
  std::string reason;
  std::int64_t wave = 0;
  std::int64_t waves = 0;
  DeploymentRequest spec;
  std::int64_t pending = 0, assigned = 0, running = 0, failed = 0;
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::vector<DeploymentTargetInfo> targets;
};

struct DeploymentList {
  std::vector<DeploymentInfo> deployments;
};

// GET /api/v1/node/desired (the node, over mutual TLS): what the director wants the node to
// run. `generation` is also the ETag; a node that sends If-None-Match with it waits (long
// poll) until something changes or its wait ends (304).
struct DesiredApp {
  std::string name;
  std::string version;
  std::string sha256;  // of the package the node downloads from `package_url`
  std::string package_url;
  std::string state = "RUNNING";
  std::string config_ini;  // "" keeps the package's own
  std::string deployment;
};

// What a node needs to accept the director's OAuth access tokens offline: the issuer they
// must name and the JWK Set (oauth/jwk.h) whose keys sign them, current and previous.
struct OAuthTrust {
  std::string issuer;
  std::string jwks;  // the JWK Set document, JSON text; a JSON object on the wire
};

// An OAuth client of the director (/api/v1/oauth/clients): what an admin registers and what
// the director answers.
struct OAuthClientInfo {
  std::string client_id;
  std::string name;
  std::string type = "confidential";  // or "public"
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;  // RFC 6749 / RFC 8628 grant_type values
  std::vector<std::string> scopes;
  std::vector<std::string> resources;  // the audiences its tokens may name; empty: any
  std::string role;  // a confidential client acting for itself holds this role's permissions
  bool disabled = false;
  std::string created_by;
  std::int64_t created_at = 0;
  // A confidential client's secret: only in the answer to its creation; left out when empty.
  std::string client_secret;
};

struct OAuthClientList {
  std::vector<OAuthClientInfo> clients;
};

// An app's own OAuth client (IOx's `access-control: oauth2`). The node asks its director for
// one (PUT /api/v1/node/apps/{app}/oauth-client with AppOAuthClientRequest) and keeps the
// answer in the app's secure storage as the object kAppOAuthClientObject, where the app reads
// it (GET /v1/objects/fogkeep.oauth-client on its socket). Deleting the object makes the node
// ask for a new client, whose secret replaces the old one.
inline constexpr std::string_view kAppOAuthClientObject = "fogkeep.oauth-client";

struct AppOAuthClientRequest {
  std::vector<std::string> scopes;  // empty: the default ones (auth::DefaultAppOAuthScopes)
};

struct AppOAuthClient {
  std::string client_id;
  std::string client_secret;
  std::string issuer;                  // the director, as its access tokens name it
  std::string token_endpoint;          // POST grant_type=client_credentials, client_secret_basic
  std::string node_audience;           // the `resource` that makes a token the app's node accepts
  std::vector<std::string> resources;  // every audience its tokens may name
  std::vector<std::string> scopes;     // the most its tokens may carry
};

struct DesiredState {
  std::string device_id;
  std::int64_t generation = 0;
  std::vector<std::string> tags;
  std::vector<DesiredApp> apps;
  FleetPolicyDoc policy;            // the merged policy of the device's tags (tag "")
  std::optional<OAuthTrust> oauth;  // absent from a director without OAuth
};

boost::json::value ToJson(const CatalogPackage& v);
boost::json::value ToJson(const CatalogList& v);
boost::json::value ToJson(const FleetPolicyDoc& v);
boost::json::value ToJson(const FleetPolicyList& v);
boost::json::value ToJson(const RolloutSpec& v);
boost::json::value ToJson(const DeploymentRequest& v);
boost::json::value ToJson(const DeploymentTargetInfo& v);
boost::json::value ToJson(const DeploymentInfo& v);
boost::json::value ToJson(const DeploymentList& v);
Status FromJson(const boost::json::value& json, CatalogPackage* out);
Status FromJson(const boost::json::value& json, CatalogList* out);
Status FromJson(const boost::json::value& json, FleetPolicyDoc* out);
Status FromJson(const boost::json::value& json, FleetPolicyList* out);
Status FromJson(const boost::json::value& json, RolloutSpec* out);
Status FromJson(const boost::json::value& json, DeploymentRequest* out);
Status FromJson(const boost::json::value& json, DeploymentTargetInfo* out);
Status FromJson(const boost::json::value& json, DeploymentInfo* out);
Status FromJson(const boost::json::value& json, DeploymentList* out);

boost::json::value ToJson(const EnrollmentTokenRequest& v);
boost::json::value ToJson(const EnrollmentTokenInfo& v);
boost::json::value ToJson(const EnrollmentTokenList& v);
boost::json::value ToJson(const DeviceApp& v);
boost::json::value ToJson(const NodeReport& v);
boost::json::value ToJson(const DeviceInfo& v);
boost::json::value ToJson(const DeviceList& v);
boost::json::value ToJson(const DeviceUpdate& v);
boost::json::value ToJson(const DesiredApp& v);
boost::json::value ToJson(const DesiredState& v);
boost::json::value ToJson(const OAuthClientInfo& v);
boost::json::value ToJson(const OAuthClientList& v);
boost::json::value ToJson(const AppOAuthClientRequest& v);
boost::json::value ToJson(const AppOAuthClient& v);

Status FromJson(const boost::json::value& json, EnrollmentTokenRequest* out);
Status FromJson(const boost::json::value& json, EnrollmentTokenInfo* out);
Status FromJson(const boost::json::value& json, EnrollmentTokenList* out);
Status FromJson(const boost::json::value& json, DeviceApp* out);
Status FromJson(const boost::json::value& json, NodeReport* out);
Status FromJson(const boost::json::value& json, DeviceInfo* out);
Status FromJson(const boost::json::value& json, DeviceList* out);
Status FromJson(const boost::json::value& json, DeviceUpdate* out);
Status FromJson(const boost::json::value& json, DesiredApp* out);
Status FromJson(const boost::json::value& json, DesiredState* out);
Status FromJson(const boost::json::value& json, OAuthClientInfo* out);
Status FromJson(const boost::json::value& json, OAuthClientList* out);
Status FromJson(const boost::json::value& json, AppOAuthClientRequest* out);
Status FromJson(const boost::json::value& json, AppOAuthClient* out);

}  // namespace fogkeep::api
