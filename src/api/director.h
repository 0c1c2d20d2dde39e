// Wire types of the director API (fogkeep-director's /api/v1) and of the node↔director
// protocol, with their JSON mapping: the one contract the director, fogkeepd and the `fogkeep
// fleet` CLI share. Same rules as api/node.h: strict about types, lenient about unknown fields.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <vector>

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

struct DesiredState {
  std::string device_id;
  std::int64_t generation = 0;
  std::vector<std::string> tags;
  std::vector<DesiredApp> apps;
};

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

}  // namespace fogkeep::api
