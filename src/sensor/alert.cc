#include "sensor/alert.h"

#include <fmt/format.h>
#include <boost/json/serialize.hpp>

#include <ctime>

namespace fogkeep::sensor {

std::string FormatEveTimestamp(std::uint64_t timestamp_us) {
  const std::time_t seconds = static_cast<std::time_t>(timestamp_us / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     timestamp_us % 1'000'000);
}

std::string_view ProtocolName(std::uint8_t protocol) {
  switch (protocol) {
    case kProtoTcp:
      return "TCP";
    case kProtoUdp:
      return "UDP";
    case kProtoIcmp:
      return "ICMP";
    case kProtoIcmpv6:
      return "IPv6-ICMP";
    default:
      return "";
  }
}

std::string FormatEveAlert(const Alert& alert) {
  boost::json::object eve;
  eve["timestamp"] = FormatEveTimestamp(alert.timestamp_us);
  if (alert.flow_id != 0) eve["flow_id"] = alert.flow_id;
  eve["event_type"] = "alert";
  if (alert.has_source) {
    eve["src_ip"] = FormatIp(alert.source);
    if (alert.source_port != 0) eve["src_port"] = alert.source_port;
  }
  if (alert.has_destination) {
    eve["dest_ip"] = FormatIp(alert.destination);
    if (alert.destination_port != 0) eve["dest_port"] = alert.destination_port;
  }
  if (alert.protocol != 0) {
    const std::string_view name = ProtocolName(alert.protocol);
    if (name.empty()) {
      eve["proto"] = std::to_string(alert.protocol);
    } else {
      eve["proto"] = name;
    }
  }
  if (alert.vlan_id != 0) eve["vlan"] = boost::json::array{alert.vlan_id};
  eve["alert"] = boost::json::object{{"detector", alert.detector},
                                     {"signature", alert.signature},
                                     {"category", alert.category},
                                     {"severity", static_cast<int>(alert.severity)}};
  eve["details"] = alert.details;
  return boost::json::serialize(eve);
}

}  // namespace fogkeep::sensor
