// Security alerts: what a traffic sensor or an app reports to its node, what the node keeps and
// forwards to its director, and what the node's and the director's APIs answer. The one
// contract fogkeepd, fogkeep-director, fogkeep-sensor and the `fogkeep` CLI share.
//
// An alert is an EVE-style JSON object (as Suricata's eve.json writes one per line):
//   {"timestamp": "2026-11-26T14:03:07.250113+0000", "event_type": "alert",
//    "src_ip": "10.9.0.7", "src_port": 51515, "dest_ip": "10.9.0.2", "dest_port": 502,
//    "proto": "TCP", "vlan": [10],
//    "alert": {"detector": "modbus-write", "signature": "...", "category": "ics",
//              "severity": 1},
//    "details": {...}}
// Required: event_type "alert"; timestamp; alert.detector ([a-z0-9-], 1 to 64); alert.severity
// (integer 1 high, 2 medium, 3 low); alert.signature (1 to 256 bytes). Optional, checked when
// present: src_ip/dest_ip (IPv4 or IPv6 text), src_port/dest_port (0 to 65535), proto, vlan (up
// to 3 ids 0 to 4095), alert.category, details (any JSON object). Other members are kept as they
// are. An alert is at most kMaxAlertBytes once serialized. Every alert comes from outside and is
// hostile until ParseAlert accepts it; what it accepts is safe to store in any text column
// (valid UTF-8, no NUL) and to index by detector and severity.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::api {

inline constexpr std::size_t kMaxAlertBytes = 8 << 10;
// Alerts in one POST, and in one node report.
inline constexpr std::size_t kMaxAlertBatch = 256;
inline constexpr std::size_t kMaxReportAlerts = 500;
// The body of a POST of alerts: a full batch of the largest alerts, and room for the wrapper.
inline constexpr std::size_t kMaxAlertBodyBytes = kMaxAlertBatch * kMaxAlertBytes + (16 << 10);
// The source of alerts a host sensor posts through the node API (apps are named by their id).
inline constexpr std::string_view kHostAlertSource = "host";

// A validated alert: the members the node and the director index, and the object itself.
struct Alert {
  std::string timestamp;
  std::string detector;
  int severity = 0;  // 1 high, 2 medium, 3 low
  std::string signature;
  std::string category;  // "" when absent
  std::string src_ip;    // "" when absent
  std::string dest_ip;
  int src_port = -1;  // -1 when absent
  int dest_port = -1;
  std::string proto;
  std::string json;  // the object, serialized: what is stored and forwarded
};

// Checks one alert object as the header says; kInvalidInput naming the first offending member
// ("alert.severity must be an integer from 1 (high) to 3 (low)"), kLimit when it is too large.
Result<Alert> ParseAlert(const boost::json::value& value);
// The same for its text.
Result<Alert> ParseAlertText(std::string_view text);

// The body of POST /v1/alerts (an app's socket) and POST /api/v1/alerts (the node API): one alert
// object, or {"alerts": [alert, ...]} with 1 to kMaxAlertBatch of them. All or nothing: one bad
// alert refuses the batch, its index named ("alerts[3].alert.detector must be ...").
Result<std::vector<Alert>> ParseAlertBatch(std::string_view body);

// "host", or an app id (1 to 63 of [a-z0-9_.-], starting with a letter or digit).
Status CheckAlertSource(std::string_view source);
// The detector rule: 1 to 64 of [a-z0-9-].
Status CheckDetector(std::string_view detector);

// A number in a query of the alert routes (since=, limit=, min_severity=): decimal digits
// only, from `low` to `high`; kInvalidInput naming `name` otherwise.
Result<std::int64_t> ParseAlertQueryNumber(std::string_view name, std::string_view text,
                                           std::int64_t low, std::int64_t high);

// "high", "medium", "low"; "?" for anything else.
std::string_view SeverityName(int severity);

// One stored alert, as the node's GET /api/v1/alerts, the node's report and the director's
// alert routes carry it: {"seq", "received_at", "source", "alert": {...}}, and on the director
// also "id" and "device".
struct AlertRecord {
  std::int64_t id = 0;           // the director's fleet-wide cursor; 0 (absent) on a node
  std::string device;            // the director's: the device that reported it; "" on a node
  std::int64_t seq = 0;          // assigned by the node, increasing
  std::int64_t received_at = 0;  // Unix seconds, when the node accepted it
  std::string source;            // an app id, or "host"
  std::string alert_json;        // the validated alert object
};

// Alerts lost on a node before anyone read them, per source: refused by its rate limit, or
// pruned by the store's bounds before being forwarded.
struct AlertDrops {
  std::string source;
  std::int64_t rate_limited = 0;
  std::int64_t pruned = 0;
};

// The answer of GET /api/v1/alerts (node and director) and GET /api/v1/devices/{id}/alerts:
// oldest first; `next` is the cursor to pass as since= for what comes after (the node's seq,
// or the director's id). `dropped` only from a node, only sources that lost some.
struct AlertList {
  std::vector<AlertRecord> alerts;
  std::int64_t next = 0;
  std::vector<AlertDrops> dropped;
};

// The answer of a POST of alerts: how many were stored and the seq of the last.
struct AlertsAccepted {
  std::int64_t accepted = 0;
  std::int64_t last_seq = 0;
};

boost::json::value ToJson(const AlertRecord& v);
boost::json::value ToJson(const AlertDrops& v);
boost::json::value ToJson(const AlertList& v);
boost::json::value ToJson(const AlertsAccepted& v);
// FromJson of an AlertRecord keeps its "alert" member serialized; it does not validate it
// (callers that take alerts from outside run ParseAlertText).
Status FromJson(const boost::json::value& json, AlertRecord* out);
Status FromJson(const boost::json::value& json, AlertDrops* out);
Status FromJson(const boost::json::value& json, AlertList* out);
Status FromJson(const boost::json::value& json, AlertsAccepted* out);

}  // namespace fogkeep::api
