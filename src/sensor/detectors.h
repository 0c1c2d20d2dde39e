// Detectors: the sensor's threat detection, fed one decoded packet at a time together with
// what it did to its flow. Every detector keeps bounded state (at most `max_tracked` entries
// each; when full, expired entries are dropped first, then new keys are ignored and counted)
// and says in each alert what the evidence was and which threshold it crossed. An alert for
// the same detector and endpoints is repeated at most once per `cooldown` (the rest are
// counted as suppressed), so an ongoing attack does not flood the node.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sensor/alert.h"
#include "sensor/flow_table.h"
#include "sensor/packet.h"

namespace fogkeep::sensor {

// An address block: 10.0.0.0/8, 2001:db8::/32, or one address.
struct Cidr {
  IpAddress network;
  int prefix_length = 128;  // over the 128-bit form (an IPv4 /24 is 96 + 24)
  bool Contains(const IpAddress& address) const;
};

struct DetectorConfig {
  std::uint64_t cooldown_us = 60'000'000;
  std::size_t max_tracked = 65'536;
  // Distinct destination ports one source tries (new TCP flows opened by a SYN, new UDP
  // flows) within the window.
  struct {
    bool enabled = true;
    std::size_t ports = 64;
    std::uint64_t window_us = 60'000'000;
  } port_scan;
  // Distinct destination hosts one source tries (TCP SYN, ICMP echo) within the window.
  struct {
    bool enabled = true;
    std::size_t hosts = 64;
    std::uint64_t window_us = 60'000'000;
  } host_sweep;
  // Half-open TCP connections (SYN or SYN-ACK seen, handshake not completed) to one
  // destination at once.
  struct {
    bool enabled = true;
    std::size_t half_open = 256;
  } syn_flood;
  // After the learning period (from the first packet), a new flow between a source and a
  // destination never seen talking is a new talker; a known pair on a destination port (and
  // protocol) never seen between them is a new service.
  struct {
    bool enabled = true;
    std::uint64_t learning_us = 600'000'000;
  } baseline;
  // Modbus writes (function codes 5, 6, 15, 16, 22, 23) from a host not on the allow-list.
  // An empty list allows no writer.
  struct {
    bool enabled = true;
    std::vector<Cidr> allowed_writers;
  } modbus_write;
  // Modbus exception responses from one server within the window.
  struct {
    bool enabled = true;
    std::size_t count = 10;
    std::uint64_t window_us = 10'000'000;
  } modbus_exceptions;
  // DNS queries whose labels look like carried data: a label longer than max_label, or a
  // subdomain part (the name without its last two labels) of at least entropy_min_length
  // characters whose Shannon entropy reaches `entropy` bits per character. Separately,
  // NXDOMAIN answers to one client within the window.
  struct {
    bool enabled = true;
    std::size_t max_label = 52;
    double entropy = 4.0;
    std::size_t entropy_min_length = 24;
    std::size_t nxdomain = 20;
    std::uint64_t window_us = 60'000'000;
  } dns;
  // An IPv4 address whose MAC (ARP sender) changes.
  struct {
    bool enabled = true;
  } arp_spoof;
};

// Detector ids, as alerts carry them.
inline constexpr std::string_view kPortScan = "port-scan";
inline constexpr std::string_view kHostSweep = "host-sweep";
inline constexpr std::string_view kSynFlood = "syn-flood";
inline constexpr std::string_view kNewTalker = "new-talker";
inline constexpr std::string_view kNewService = "new-service";
inline constexpr std::string_view kModbusWrite = "modbus-write";
inline constexpr std::string_view kModbusExceptions = "modbus-exceptions";
inline constexpr std::string_view kDnsTunnel = "dns-tunnel";
inline constexpr std::string_view kDnsNxdomain = "dns-nxdomain";
inline constexpr std::string_view kArpSpoof = "arp-spoof";
inline constexpr std::array<std::string_view, 10> kDetectorIds = {
    kPortScan,    kHostSweep,        kSynFlood,  kNewTalker,   kNewService,
    kModbusWrite, kModbusExceptions, kDnsTunnel, kDnsNxdomain, kArpSpoof};

struct DetectorCounters {
  std::array<std::uint64_t, kDetectorIds.size()> alerts{};      // by kDetectorIds index
  std::array<std::uint64_t, kDetectorIds.size()> suppressed{};  // within a cooldown
  std::uint64_t untracked = 0;  // keys ignored because a table was full
  std::uint64_t modbus_frames = 0;
  std::array<std::uint64_t, 128> modbus_functions{};  // frames by function code, both ways
  std::uint64_t modbus_exceptions = 0;
  std::uint64_t modbus_malformed = 0;  // segments on port 502 that did not parse to the end
  std::uint64_t dns_messages = 0;
  std::uint64_t dns_malformed = 0;
};

struct IpAddressHash {
  std::size_t operator()(const IpAddress& address) const;
};

class Detectors {
 public:
  // `sink` must outlive the detectors.
  Detectors(DetectorConfig config, AlertSink& sink);

  // After the flow table accounted `packet` (`update` says how; its flow may be null for ARP).
  void OnPacket(const Packet& packet, const FlowUpdate& update);
  // A flow ended (its half-open connection, if any, no longer counts).
  void OnFlowEnd(const Flow& flow);

  const DetectorCounters& counters() const { return counters_; }

 private:
  struct Window {
    std::uint64_t start_us = 0;
    std::uint32_t count = 0;
  };
  // The distinct values (ports, hosts) one source tried within a tumbling window.
  template <typename T>
  struct DistinctInWindow {
    std::uint64_t start_us = 0;
    std::vector<T> seen;
    bool reported = false;  // this window already alerted
    // Counts `value`; true when it makes `threshold` distinct values, once per window.
    bool Add(const T& value, std::uint64_t now_us, std::uint64_t window_us, std::size_t threshold);
  };
  struct SourceActivity {
    DistinctInWindow<std::uint16_t> ports;
    DistinctInWindow<IpAddress> hosts;
  };
  struct PairKey {
    IpAddress a;
    IpAddress b;
    std::uint32_t extra = 0;  // detector index, or port and protocol
    bool operator==(const PairKey&) const = default;
  };
  struct PairKeyHash {
    std::size_t operator()(const PairKey& key) const;
  };

  void ScanAndSweep(const Packet& packet, const Flow& flow);
  void Baseline(const Packet& packet, const Flow& flow);
  void SynFlood(const Packet& packet, const FlowUpdate& update);
  void Modbus(const Packet& packet, Flow& flow, bool from_initiator);
  void Dns(const Packet& packet, Flow& flow);
  void Arp(const Packet& packet);
  void ReleaseHalfOpen(const IpAddress& destination);
  // Counts one event for `key` in a tumbling window; true when it reaches `threshold`.
  bool CountInWindow(std::unordered_map<IpAddress, Window, IpAddressHash>& windows,
                     const IpAddress& key, std::uint64_t now_us, std::uint64_t window_us,
                     std::size_t threshold);
  // Emits `alert` unless the same detector alerted for the same endpoints within the cooldown.
  void Raise(std::size_t detector, Alert alert, const IpAddress& a, const IpAddress& b);
  bool HasRoom(std::size_t size);

  const DetectorConfig config_;
  AlertSink& sink_;
  DetectorCounters counters_;
  std::uint64_t first_packet_us_ = 0;
  std::unordered_map<IpAddress, SourceActivity, IpAddressHash> sources_;
  std::unordered_map<IpAddress, std::uint32_t, IpAddressHash> half_open_;
  std::unordered_set<PairKey, PairKeyHash> known_talkers_;
  std::unordered_set<PairKey, PairKeyHash> known_services_;
  std::unordered_map<IpAddress, Window, IpAddressHash> modbus_exceptions_;
  std::unordered_map<IpAddress, Window, IpAddressHash> nxdomains_;
  std::unordered_map<IpAddress, MacAddress, IpAddressHash> arp_table_;
  std::unordered_map<PairKey, std::uint64_t, PairKeyHash> last_alert_;
};

// Shannon entropy of `text` in bits per character.
double ShannonEntropy(std::string_view text);

}  // namespace fogkeep::sensor
