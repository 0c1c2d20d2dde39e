// Alert: what a detector found, and how it leaves the sensor (EVE-style JSON lines, the shape
// Suricata's eve.json made common, so SIEM pipelines that read one read the other).
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "sensor/packet.h"

namespace fogkeep::sensor {

// Suricata's scale: 1 is the most severe.
enum class Severity : std::uint8_t { kHigh = 1, kMedium = 2, kLow = 3 };

struct Alert {
  std::uint64_t timestamp_us = 0;  // of the packet that completed the evidence
  std::string_view detector;       // "port-scan", "modbus-write" ...: [a-z0-9-]
  std::string signature;           // one sentence a person reads
  std::string_view category;       // "scan", "dos", "ics", "dns", "arp", "baseline"
  Severity severity = Severity::kMedium;
  // The endpoints involved, when the evidence has them (a scan has a source and no port).
  bool has_source = false;
  IpAddress source;
  std::uint16_t source_port = 0;
  bool has_destination = false;
  IpAddress destination;
  std::uint16_t destination_port = 0;
  std::uint8_t protocol = 0;  // 0 when not one flow's
  std::uint16_t vlan_id = 0;
  std::uint64_t flow_id = 0;    // 0 when not one flow's
  boost::json::object details;  // the evidence: counts, thresholds, addresses
};

// Where alerts go: the EVE writer, the node reporter, a test's vector.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void OnAlert(const Alert& alert) = 0;
};

// "2026-11-26T14:03:07.250113+0000", Suricata's timestamp form, in UTC.
std::string FormatEveTimestamp(std::uint64_t timestamp_us);
// One EVE alert line (without the newline): timestamp, flow_id, event_type "alert", src_ip,
// src_port, dest_ip, dest_port, proto, vlan, alert {detector, signature, category, severity},
// details.
std::string FormatEveAlert(const Alert& alert);
std::string_view ProtocolName(
    std::uint8_t protocol);  // "TCP", "UDP", "ICMP", "IPv6-ICMP" or the number

}  // namespace fogkeep::sensor
