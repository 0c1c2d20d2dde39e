// FlowTable: bidirectional flows keyed by 5-tuple (and VLAN), with idle and active timeouts
// and a hard bound on the number of flows.
//
// Both directions of a conversation find one entry: the key orders its two endpoints. The
// side that sent the first packet seen is the flow's source (its initiator). Memory is taken
// once, at construction: a pool of `max_flows` flows and an open-addressing index twice that
// size; a packet costs one hash and a probe, no allocation. When the table is full, the flow
// seen least recently is ended (IPFIX reason "lack of resources") to make room.
//
// Time is the packets' own (capture timestamps), so a capture file replays the same way
// however fast it is read; Expire() is called with the current time (the newest packet's, or
// the wall clock when a live capture is quiet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/packet.h"

namespace fogkeep::sensor {

// IPFIX flowEndReason (RFC 7011 / IANA registry), the values flow records carry.
enum class FlowEndReason : std::uint8_t {
  kIdleTimeout = 1,
  kActiveTimeout = 2,
  kEndOfFlow = 3,  // TCP FIN from both sides or RST, then a short linger
  kForcedEnd = 4,  // the capture ended
  kLackOfResources = 5,
};

enum class TcpState : std::uint8_t {
  kNone,         // not TCP, or the first packet seen was not a bare SYN
  kSynSent,      // half-open: SYN seen
  kSynReceived,  // half-open: SYN-ACK seen
  kEstablished,
  kClosing,  // FIN from one side
  kClosed,   // FIN from both sides, or RST
};
bool IsHalfOpen(TcpState state);

enum class Application : std::uint8_t { kNone, kModbus, kDns, kTls };
std::string_view ApplicationName(Application application);

struct Flow {
  std::uint64_t id = 0;  // unique per table, increasing
  IpAddress source;      // the initiator
  IpAddress destination;
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  std::uint8_t protocol = 0;
  std::uint16_t vlan_id = 0;
  std::uint64_t start_us = 0;  // of this record (an active timeout starts a new one)
  std::uint64_t last_us = 0;
  // [0]: initiator to responder; [1]: the reverse.
  std::uint64_t packets[2] = {0, 0};
  std::uint64_t octets[2] = {0, 0};  // IP octets, headers included (IPFIX octetDeltaCount)
  std::uint8_t tcp_flags[2] = {0, 0};
  TcpState tcp_state = TcpState::kNone;
  Application application = Application::kNone;
  std::uint8_t server_name_length = 0;
  char server_name[63] = {};  // TLS SNI, cut at 63 bytes

 private:
  friend class FlowTable;
  std::uint32_t slot_ = 0;
  std::uint32_t older_ = 0;  // LRU neighbours: pool index + 1, 0 for none
  std::uint32_t newer_ = 0;
  std::uint32_t hash_ = 0;
};

// Hears of every flow that ends, before the table forgets it.
class FlowObserver {
 public:
  virtual ~FlowObserver() = default;
  virtual void OnFlowEnd(const Flow& flow, FlowEndReason reason) = 0;
};

struct FlowTableOptions {
  std::size_t max_flows = 65'536;
  std::uint64_t idle_timeout_us = 60'000'000;
  std::uint64_t active_timeout_us = 300'000'000;
  // How long a closed TCP flow lingers for its last ACKs and retransmissions.
  std::uint64_t closed_linger_us = 5'000'000;
};

struct FlowTableCounters {
  std::uint64_t created = 0;
  std::uint64_t ended[6] = {0, 0, 0, 0, 0, 0};  // by FlowEndReason
};

// What one packet did to its flow.
struct FlowUpdate {
  Flow* flow = nullptr;  // null for packets that belong to no flow (no IP)
  bool created = false;
  bool from_initiator = true;
  TcpState state_before = TcpState::kNone;
};

class FlowTable {
 public:
  // `observer` (may be null) must outlive the table.
  FlowTable(FlowTableOptions options, FlowObserver* observer);
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Accounts `packet` (an IP packet; a non-first fragment counts with ports 0) to its flow.
  FlowUpdate Update(const Packet& packet);
  // Ends the flows whose idle timeout or linger passed at `now_us`.
  void Expire(std::uint64_t now_us);
  // Ends every flow (the capture is over): closed TCP flows as ended, the rest as forced.
  void Flush();

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return pool_.capacity(); }
  const FlowTableCounters& counters() const { return counters_; }

 private:
  struct Slot {
    std::uint32_t flow = 0;  // pool index + 1; 0 when empty
    std::uint32_t hash = 0;
  };

  Flow* Find(const Packet& packet, std::uint32_t hash, bool& forward);
  Flow& Create(const Packet& packet, std::uint32_t hash);
  void End(Flow& flow, FlowEndReason reason);
  void Touch(Flow& flow);
  void Unlink(Flow& flow);
  void EraseSlot(std::uint32_t slot);
  std::uint32_t IndexOf(const Flow& flow) const;

  const FlowTableOptions options_;
  FlowObserver* const observer_;
  std::vector<Flow> pool_;
  std::vector<std::uint32_t> free_;  // pool indexes not in use
  std::vector<Slot> slots_;
  std::uint32_t mask_ = 0;
  std::uint32_t oldest_ = 0;  // LRU ends: pool index + 1
  std::uint32_t newest_ = 0;
  std::size_t size_ = 0;
  std::uint64_t next_id_ = 1;
  FlowTableCounters counters_;
};

// One flow record as a JSON line (no newline) with IPFIX information element names
// (RFC 7012, reverse elements per RFC 5103): flowId, flowStartMilliseconds,
// flowEndMilliseconds, source/destinationIPv4Address (or IPv6), source/destinationTransportPort,
// protocolIdentifier, vlanId, packetDeltaCount, octetDeltaCount, reversePacketDeltaCount,
// reverseOctetDeltaCount, tcpControlBits, reverseTcpControlBits, flowEndReason, and
// applicationName / tlsServerName when known.
std::string FormatFlowRecord(const Flow& flow, FlowEndReason reason);

}  // namespace fogkeep::sensor
