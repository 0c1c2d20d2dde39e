#include "sensor/detectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>

#include "sensor/dns.h"
#include "sensor/modbus.h"

namespace fogkeep::sensor {
namespace {

constexpr std::uint8_t kIcmpEchoRequest = 8;
constexpr std::uint8_t kIcmpv6EchoRequest = 128;
constexpr std::uint8_t kRcodeNxdomain = 3;
// Modbus ADUs looked at per TCP segment; more are counted in the flow but not examined.
constexpr std::size_t kModbusFramesPerSegment = 16;

std::size_t DetectorIndex(std::string_view id) {
  return static_cast<std::size_t>(std::find(kDetectorIds.begin(), kDetectorIds.end(), id) -
                                  kDetectorIds.begin());
}

std::uint64_t Mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::uint64_t HashIp(const IpAddress& address) {
  std::uint64_t low;
  std::uint64_t high;
  std::memcpy(&low, address.bytes.data(), 8);
  std::memcpy(&high, address.bytes.data() + 8, 8);
  return Mix(low ^ Mix(high));
}

bool IsEchoRequest(const Packet& packet) {
  return (packet.protocol == kProtoIcmp && packet.icmp_type == kIcmpEchoRequest) ||
         (packet.protocol == kProtoIcmpv6 && packet.icmp_type == kIcmpv6EchoRequest);
}

Alert FlowAlert(const Packet& packet, const Flow& flow, std::string_view detector,
                std::string_view category, Severity severity) {
  Alert alert;
  alert.timestamp_us = packet.timestamp_us;
  alert.detector = detector;
  alert.category = category;
  alert.severity = severity;
  alert.has_source = alert.has_destination = true;
  alert.source = packet.source;
  alert.source_port = packet.source_port;
  alert.destination = packet.destination;
  alert.destination_port = packet.destination_port;
  alert.protocol = packet.protocol;
  alert.vlan_id = packet.vlan_id;
  alert.flow_id = flow.id;
  return alert;
}

std::string MacText(const MacAddress& mac) { return FormatMac(mac); }

}  // namespace

bool Cidr::Contains(const IpAddress& address) const {
  const int whole = prefix_length / 8;
  if (std::memcmp(address.bytes.data(), network.bytes.data(), whole) != 0) return false;
  const int rest = prefix_length % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address.bytes[whole] & mask) == (network.bytes[whole] & mask);
}

std::size_t IpAddressHash::operator()(const IpAddress& address) const {
  return static_cast<std::size_t>(HashIp(address));
}

std::size_t Detectors::PairKeyHash::operator()(const PairKey& key) const {
  return static_cast<std::size_t>(Mix(HashIp(key.a) ^ (HashIp(key.b) * 31) ^ key.extra));
}

double ShannonEntropy(std::string_view text) {
  if (text.empty()) return 0;
  std::array<std::uint32_t, 256> counts{};
  for (unsigned char c : text) ++counts[c];
  double bits = 0;
  for (std::uint32_t count : counts) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / static_cast<double>(text.size());
    bits -= p * std::log2(p);
  }
  return bits;
}

Detectors::Detectors(DetectorConfig config, AlertSink& sink)
    : config_(std::move(config)), sink_(sink) {}

bool Detectors::HasRoom(std::size_t size) {
  if (size < config_.max_tracked) return true;
  ++counters_.untracked;
  return false;
}

void Detectors::Raise(std::size_t detector, Alert alert, const IpAddress& a, const IpAddress& b) {
  const PairKey key{a, b, static_cast<std::uint32_t>(detector)};
  auto it = last_alert_.find(key);
  if (it != last_alert_.end() && alert.timestamp_us < it->second + config_.cooldown_us) {
    ++counters_.suppressed[detector];
    return;
  }
  if (it != last_alert_.end()) {
    it->second = alert.timestamp_us;
  } else {
    if (last_alert_.size() >= config_.max_tracked) {
      const std::uint64_t now = alert.timestamp_us;
      std::erase_if(last_alert_,
                    [&](const auto& entry) { return entry.second + config_.cooldown_us <= now; });
    }
    // A full table still lets the alert out: losing an alert is worse than repeating one.
    if (last_alert_.size() < config_.max_tracked) last_alert_.emplace(key, alert.timestamp_us);
  }
  ++counters_.alerts[detector];
  sink_.OnAlert(alert);
}

bool Detectors::CountInWindow(std::unordered_map<IpAddress, Window, IpAddressHash>& windows,
                              const IpAddress& key, std::uint64_t now_us, std::uint64_t window_us,
                              std::size_t threshold) {
  auto it = windows.find(key);
  if (it == windows.end()) {
    if (windows.size() >= config_.max_tracked) {
      std::erase_if(windows,
                    [&](const auto& entry) { return entry.second.start_us + window_us <= now_us; });
    }
    if (!HasRoom(windows.size())) return false;
    it = windows.emplace(key, Window{now_us, 0}).first;
  } else if (it->second.start_us + window_us <= now_us) {
    it->second = Window{now_us, 0};
  }
  return ++it->second.count == threshold;
}

void Detectors::OnPacket(const Packet& packet, const FlowUpdate& update) {
  if (first_packet_us_ == 0) first_packet_us_ = std::max<std::uint64_t>(packet.timestamp_us, 1);
  if (packet.is_arp) {
    if (config_.arp_spoof.enabled) Arp(packet);
    return;
  }
  if (update.flow == nullptr) return;
  Flow& flow = *update.flow;
  if (update.created) {
    ScanAndSweep(packet, flow);
    if (config_.baseline.enabled) Baseline(packet, flow);
  }
  if (config_.syn_flood.enabled) SynFlood(packet, update);
  if (packet.payload.empty()) return;
  if (packet.protocol == kProtoTcp &&
      (packet.destination_port == kModbusPort || packet.source_port == kModbusPort)) {
    Modbus(packet, flow, update.from_initiator);
  } else if (packet.protocol == kProtoUdp &&
             (packet.destination_port == kDnsPort || packet.source_port == kDnsPort)) {
    Dns(packet, flow);
  }
}

void Detectors::OnFlowEnd(const Flow& flow) {
  if (IsHalfOpen(flow.tcp_state)) ReleaseHalfOpen(flow.destination);
}

void Detectors::ReleaseHalfOpen(const IpAddress& destination) {
  auto it = half_open_.find(destination);
  if (it != half_open_.end() && --it->second == 0) half_open_.erase(it);
}

void Detectors::ScanAndSweep(const Packet& packet, const Flow& flow) {
  const bool tcp_attempt = flow.tcp_state == TcpState::kSynSent;
  const bool port_attempt = tcp_attempt || packet.protocol == kProtoUdp;
  const bool host_attempt = tcp_attempt || IsEchoRequest(packet);
  const bool ports_on = config_.port_scan.enabled && port_attempt;
  const bool hosts_on = config_.host_sweep.enabled && host_attempt;
  if (!ports_on && !hosts_on) return;

  const std::uint64_t now = packet.timestamp_us;
  auto it = sources_.find(packet.source);
  if (it == sources_.end()) {
    if (sources_.size() >= config_.max_tracked) {
      const std::uint64_t span =
          std::max(config_.port_scan.window_us, config_.host_sweep.window_us);
      std::erase_if(sources_, [&](const auto& entry) {
        return std::max(entry.second.ports.start_us, entry.second.hosts.start_us) + span <= now;
      });
    }
    if (!HasRoom(sources_.size())) return;
    it = sources_.emplace(packet.source, SourceActivity{}).first;
  }
  SourceActivity& activity = it->second;
  // A scan's alert names its source; the destinations are in the evidence.
  auto scan_alert = [&](std::string_view detector, std::string_view signature) {
    Alert alert = FlowAlert(packet, flow, detector, "scan", Severity::kMedium);
    alert.signature = signature;
    alert.has_destination = false;
    alert.source_port = 0;
    alert.protocol = 0;
    alert.flow_id = 0;
    return alert;
  };
  if (ports_on && activity.ports.Add(packet.destination_port, now, config_.port_scan.window_us,
                                     config_.port_scan.ports)) {
    Alert alert = scan_alert(kPortScan, "Port scan: one source tried many destination ports");
    alert.details = {{"distinct_ports", config_.port_scan.ports},
                     {"window_seconds", config_.port_scan.window_us / 1'000'000},
                     {"last_destination", FormatIp(packet.destination)},
                     {"last_port", packet.destination_port}};
    Raise(DetectorIndex(kPortScan), std::move(alert), packet.source, IpAddress{});
  }
  if (hosts_on && activity.hosts.Add(packet.destination, now, config_.host_sweep.window_us,
                                     config_.host_sweep.hosts)) {
    Alert alert = scan_alert(kHostSweep, "Host sweep: one source tried many destination hosts");
    alert.details = {{"distinct_hosts", config_.host_sweep.hosts},
                     {"window_seconds", config_.host_sweep.window_us / 1'000'000},
                     {"last_destination", FormatIp(packet.destination)}};
    Raise(DetectorIndex(kHostSweep), std::move(alert), packet.source, IpAddress{});
  }
}

template <typename T>
bool Detectors::DistinctInWindow<T>::Add(const T& value, std::uint64_t now_us,
                                         std::uint64_t window_us, std::size_t threshold) {
  if (seen.empty() && !reported) start_us = now_us;
  if (start_us + window_us <= now_us) {
    seen.clear();
    reported = false;
    start_us = now_us;
  }
  if (reported || std::find(seen.begin(), seen.end(), value) != seen.end()) return false;
  seen.push_back(value);
  if (seen.size() < threshold) return false;
  reported = true;
  seen.clear();
  seen.shrink_to_fit();
  return true;
}

void Detectors::Baseline(const Packet& packet, const Flow& flow) {
  const PairKey talker{flow.source, flow.destination, 0};
  const PairKey service{flow.source, flow.destination,
                        (std::uint32_t{flow.destination_port} << 8) | flow.protocol};
  const bool learning = packet.timestamp_us < first_packet_us_ + config_.baseline.learning_us;
  const bool new_talker = !known_talkers_.contains(talker);
  const bool new_service = !known_services_.contains(service);
  if (!new_talker && !new_service) return;
  // After learning, what was reported joins the baseline too, so it is reported once.
  if (new_talker && HasRoom(known_talkers_.size())) known_talkers_.insert(talker);
  if (new_service && HasRoom(known_services_.size())) known_services_.insert(service);
  if (learning) return;
  const std::string_view detector = new_talker ? kNewTalker : kNewService;
  Alert alert = FlowAlert(packet, flow, detector, "baseline", Severity::kLow);
  alert.signature = new_talker ? "New talker: a source and destination never seen before"
                               : "New service: a destination port never used between these hosts";
  alert.source_port = 0;
  alert.details = {{"learning_seconds", config_.baseline.learning_us / 1'000'000}};
  Raise(DetectorIndex(detector), std::move(alert), flow.source, flow.destination);
}

void Detectors::SynFlood(const Packet& packet, const FlowUpdate& update) {
  const Flow& flow = *update.flow;
  const bool was = !update.created && IsHalfOpen(update.state_before);
  const bool is = IsHalfOpen(flow.tcp_state);
  if (was == is) return;
  if (!is) {
    ReleaseHalfOpen(flow.destination);
    return;
  }
  auto it = half_open_.find(flow.destination);
  if (it == half_open_.end()) {
    if (!HasRoom(half_open_.size())) return;
    it = half_open_.emplace(flow.destination, 0).first;
  }
  if (++it->second < config_.syn_flood.half_open) return;
  Alert alert = FlowAlert(packet, flow, kSynFlood, "dos", Severity::kHigh);
  alert.signature = "SYN flood: many half-open TCP connections to one destination";
  alert.has_source = false;
  alert.source_port = 0;
  alert.flow_id = 0;
  alert.destination = flow.destination;
  alert.destination_port = flow.destination_port;
  alert.details = {{"half_open", it->second},
                   {"threshold", config_.syn_flood.half_open},
                   {"last_source", FormatIp(flow.source)}};
  Raise(DetectorIndex(kSynFlood), std::move(alert), IpAddress{}, flow.destination);
}

void Detectors::Modbus(const Packet& packet, Flow& flow, bool /*from_initiator*/) {
  const bool request = packet.destination_port == kModbusPort;
  std::array<ModbusFrame, kModbusFramesPerSegment> frames;
  const ModbusParse parsed = ParseModbus(packet.payload, request, frames);
  counters_.modbus_frames += parsed.frames;
  if (parsed.error != ModbusError::kNone) ++counters_.modbus_malformed;
  if (parsed.frames > 0) flow.application = Application::kModbus;
  for (std::size_t i = 0; i < parsed.frames; ++i) {
    const ModbusFrame& frame = frames[i];
    ++counters_.modbus_functions[frame.function_code & 0x7f];
    if (frame.is_exception) ++counters_.modbus_exceptions;
    if (request && frame.is_write && config_.modbus_write.enabled) {
      const auto& allowed = config_.modbus_write.allowed_writers;
      const bool permitted = std::any_of(allowed.begin(), allowed.end(), [&](const Cidr& cidr) {
        return cidr.Contains(packet.source);
      });
      if (!permitted) {
        Alert alert = FlowAlert(packet, flow, kModbusWrite, "ics", Severity::kHigh);
        alert.signature = "Modbus write from a host not on the allow-list";
        alert.details = {{"unit_id", frame.unit_id},
                         {"function_code", frame.function_code},
                         {"transaction_id", frame.transaction_id}};
        if (frame.has_range) {
          alert.details["start_address"] = frame.start_address;
          alert.details["quantity"] = frame.quantity;
        }
        Raise(DetectorIndex(kModbusWrite), std::move(alert), packet.source, packet.destination);
      }
    }
    if (!request && frame.is_exception && config_.modbus_exceptions.enabled &&
        CountInWindow(modbus_exceptions_, packet.source, packet.timestamp_us,
                      config_.modbus_exceptions.window_us, config_.modbus_exceptions.count)) {
      Alert alert = FlowAlert(packet, flow, kModbusExceptions, "ics", Severity::kMedium);
      alert.signature = "Burst of Modbus exception responses from one server";
      alert.details = {{"exceptions", config_.modbus_exceptions.count},
                       {"window_seconds", config_.modbus_exceptions.window_us / 1'000'000},
                       {"last_function_code", frame.function_code},
                       {"last_exception_code", frame.exception_code}};
      Raise(DetectorIndex(kModbusExceptions), std::move(alert), packet.source, IpAddress{});
    }
  }
}

void Detectors::Dns(const Packet& packet, Flow& flow) {
  DnsMessage message;
  if (!ParseDns(packet.payload, message)) {
    ++counters_.dns_malformed;
    return;
  }
  ++counters_.dns_messages;
  flow.application = Application::kDns;
  if (!config_.dns.enabled) return;
  if (!message.is_response) {
    const std::string_view name(message.qname.data(), message.qname_length);
    // The registered domain (the last two labels) is the tunnel's own; data rides in front.
    std::string_view subdomain = name;
    for (int dots = 0; dots < 2; ++dots) {
      const std::size_t dot = subdomain.rfind('.');
      subdomain = dot == std::string_view::npos ? std::string_view() : subdomain.substr(0, dot);
    }
    const double entropy = ShannonEntropy(subdomain);
    const bool long_label = message.longest_label > config_.dns.max_label;
    const bool random =
        subdomain.size() >= config_.dns.entropy_min_length && entropy >= config_.dns.entropy;
    if (long_label || random) {
      Alert alert = FlowAlert(packet, flow, kDnsTunnel, "dns", Severity::kMedium);
      alert.signature = long_label ? "DNS query with an over-long label (possible tunnel)"
                                   : "DNS query with a high-entropy name (possible tunnel)";
      alert.details = {{"query", name},
                       {"longest_label", message.longest_label},
                       {"entropy", std::round(entropy * 100) / 100},
                       {"max_label", config_.dns.max_label},
                       {"entropy_threshold", config_.dns.entropy}};
      Raise(DetectorIndex(kDnsTunnel), std::move(alert), packet.source, packet.destination);
    }
    return;
  }
  if (message.rcode == kRcodeNxdomain &&
      CountInWindow(nxdomains_, packet.destination, packet.timestamp_us, config_.dns.window_us,
                    config_.dns.nxdomain)) {
    Alert alert = FlowAlert(packet, flow, kDnsNxdomain, "dns", Severity::kLow);
    alert.signature = "Many NXDOMAIN answers to one client (possible tunnel or DGA)";
    // The client is the one the answers go to: it leads the alert.
    std::swap(alert.source, alert.destination);
    std::swap(alert.source_port, alert.destination_port);
    alert.details = {{"nxdomain", config_.dns.nxdomain},
                     {"window_seconds", config_.dns.window_us / 1'000'000},
                     {"last_query", std::string_view(message.qname.data(), message.qname_length)}};
    Raise(DetectorIndex(kDnsNxdomain), std::move(alert), packet.destination, IpAddress{});
  }
}

void Detectors::Arp(const Packet& packet) {
  const IpAddress& ip = packet.arp.sender_ip;
  if (ip == IpAddress::V4(0u)) return;  // a probe (RFC 5227) claims no address
  auto it = arp_table_.find(ip);
  if (it == arp_table_.end()) {
    if (HasRoom(arp_table_.size())) arp_table_.emplace(ip, packet.arp.sender_mac);
    return;
  }
  if (it->second == packet.arp.sender_mac) return;
  Alert alert;
  alert.timestamp_us = packet.timestamp_us;
  alert.detector = kArpSpoof;
  alert.category = "arp";
  alert.severity = Severity::kHigh;
  alert.signature = "ARP spoofing: an IP address moved to another MAC";
  alert.has_source = true;
  alert.source = ip;
  alert.vlan_id = packet.vlan_id;
  alert.details = {{"ip", FormatIp(ip)},
                   {"previous_mac", MacText(it->second)},
                   {"new_mac", MacText(packet.arp.sender_mac)},
                   {"arp_operation", packet.arp.operation}};
  it->second = packet.arp.sender_mac;
  Raise(DetectorIndex(kArpSpoof), std::move(alert), ip, IpAddress{});
}

}  // namespace fogkeep::sensor
