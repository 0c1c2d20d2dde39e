#include "sensor/flow_table.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/json_text.h"

namespace fogkeep::sensor {
namespace {

constexpr std::size_t kMinimumFlows = 16;

std::uint64_t Load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

bool SameIp(const IpAddress& a, const IpAddress& b) {
  return Load64(a.bytes.data()) == Load64(b.bytes.data()) &&
         Load64(a.bytes.data() + 8) == Load64(b.bytes.data() + 8);
}

std::uint64_t MixEndpoint(const IpAddress& ip, std::uint16_t port) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = (Load64(ip.bytes.data()) ^ port) * kMul;
  h = (h ^ (h >> 29) ^ Load64(ip.bytes.data() + 8)) * kMul;
  return h ^ (h >> 32);
}

// Multiply-xorshift mixes of each endpoint, added so that both directions of a flow hash
// alike without ordering the endpoints. Not a keyed hash: a capture is adversarial, but
// collisions aimed at one bucket only lengthen probes within the flow bound, and a keyed hash
// would cost more per packet than it saves.
std::uint32_t HashKey(const IpAddress& a, std::uint16_t a_port, const IpAddress& b,
                      std::uint16_t b_port, std::uint8_t protocol, std::uint16_t vlan) {
  std::uint64_t h = MixEndpoint(a, a_port) + MixEndpoint(b, b_port);
  h = (h ^ (std::uint64_t{protocol} << 16) ^ vlan) * 0xff51afd7ed558ccdull;
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

void Count(Flow& flow, int direction, const Packet& packet) {
  ++flow.packets[direction];
  flow.octets[direction] += packet.ip_length;
  flow.tcp_flags[direction] |= packet.tcp_flags;
  flow.last_us = std::max(flow.last_us, packet.timestamp_us);
}

// The TCP state after `packet`, sent by the initiator when `forward`.
TcpState NextTcpState(TcpState state, const Packet& packet, bool forward) {
  const std::uint8_t flags = packet.tcp_flags;
  if (flags & kTcpRst) return TcpState::kClosed;
  if (flags & kTcpFin) {
    return state == TcpState::kClosing ? TcpState::kClosed : TcpState::kClosing;
  }
  switch (state) {
    case TcpState::kSynSent:
      if (!forward && (flags & kTcpSyn) && (flags & kTcpAck)) return TcpState::kSynReceived;
      if (!forward && !packet.payload.empty()) return TcpState::kEstablished;
      return state;
    case TcpState::kSynReceived:
      if (forward && (flags & kTcpAck) && !(flags & kTcpSyn)) return TcpState::kEstablished;
      return state;
    default:
      return state;
  }
}

}  // namespace

bool IsHalfOpen(TcpState state) {
  return state == TcpState::kSynSent || state == TcpState::kSynReceived;
}

std::string_view ApplicationName(Application application) {
  switch (application) {
    case Application::kModbus:
      return "modbus";
    case Application::kDns:
      return "dns";
    case Application::kTls:
      return "tls";
    case Application::kNone:
      break;
  }
  return "";
}

FlowTable::FlowTable(FlowTableOptions options, FlowObserver* observer)
    : options_(options), observer_(observer) {
  const std::size_t flows = std::max(options_.max_flows, kMinimumFlows);
  // Reserved, not constructed: pages are touched as flows first need them, and the pool never
  // moves (pointers and LRU indexes stay valid).
  pool_.reserve(flows);
  free_.reserve(flows);
  const std::size_t slots = std::bit_ceil(flows * 2);
  slots_.resize(slots);
  mask_ = static_cast<std::uint32_t>(slots - 1);
}

std::uint32_t FlowTable::IndexOf(const Flow& flow) const {
  return static_cast<std::uint32_t>(&flow - pool_.data());
}

Flow* FlowTable::Find(const Packet& packet, std::uint32_t hash, bool& forward) {
  for (std::uint32_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
    const Slot& s = slots_[slot];
    if (s.flow == 0) return nullptr;
    if (s.hash != hash) continue;
    Flow& flow = pool_[s.flow - 1];
    if (flow.protocol != packet.protocol || flow.vlan_id != packet.vlan_id) continue;
    if (flow.source_port == packet.source_port &&
        flow.destination_port == packet.destination_port && SameIp(flow.source, packet.source) &&
        SameIp(flow.destination, packet.destination)) {
      forward = true;
      return &flow;
    }
    if (flow.source_port == packet.destination_port &&
        flow.destination_port == packet.source_port && SameIp(flow.source, packet.destination) &&
        SameIp(flow.destination, packet.source)) {
      forward = false;
      return &flow;
    }
  }
}

Flow& FlowTable::Create(const Packet& packet, std::uint32_t hash) {
  if (free_.empty() && pool_.size() < pool_.capacity()) {
    free_.push_back(static_cast<std::uint32_t>(pool_.size()));
    pool_.emplace_back();
  }
  if (free_.empty()) End(pool_[oldest_ - 1], FlowEndReason::kLackOfResources);
  const std::uint32_t index = free_.back();
  free_.pop_back();
  Flow& flow = pool_[index];
  flow = Flow{};
  flow.id = next_id_++;
  flow.source = packet.source;
  flow.destination = packet.destination;
  flow.source_port = packet.source_port;
  flow.destination_port = packet.destination_port;
  flow.protocol = packet.protocol;
  flow.vlan_id = packet.vlan_id;
  flow.start_us = flow.last_us = packet.timestamp_us;
  if (packet.protocol == kProtoTcp && (packet.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
    flow.tcp_state = TcpState::kSynSent;
  }
  flow.hash_ = hash;
  std::uint32_t slot = hash & mask_;
  while (slots_[slot].flow != 0) slot = (slot + 1) & mask_;
  slots_[slot] = Slot{index + 1, hash};
  flow.slot_ = slot;
  ++size_;
  ++counters_.created;
  Touch(flow);
  return flow;
}

FlowUpdate FlowTable::Update(const Packet& packet) {
  if (packet.ip_version == 0) return {};
  const std::uint32_t hash = HashKey(packet.source, packet.source_port, packet.destination,
                                     packet.destination_port, packet.protocol, packet.vlan_id);
  FlowUpdate update;
  Flow* flow = Find(packet, hash, update.from_initiator);
  if (flow == nullptr) {
    flow = &Create(packet, hash);
    update.created = true;
    update.from_initiator = true;
  } else if (packet.timestamp_us >= flow->start_us + options_.active_timeout_us) {
    // A long-lived flow reports what it did so far and goes on as a new record.
    if (observer_ != nullptr) observer_->OnFlowEnd(*flow, FlowEndReason::kActiveTimeout);
    ++counters_.ended[static_cast<int>(FlowEndReason::kActiveTimeout)];
    flow->start_us = packet.timestamp_us;
    std::fill(std::begin(flow->packets), std::end(flow->packets), 0);
    std::fill(std::begin(flow->octets), std::end(flow->octets), 0);
    std::fill(std::begin(flow->tcp_flags), std::end(flow->tcp_flags), 0);
  }
  update.flow = flow;
  update.state_before = flow->tcp_state;
  Count(*flow, update.from_initiator ? 0 : 1, packet);
  if (packet.protocol == kProtoTcp && packet.has_transport) {
    flow->tcp_state = NextTcpState(flow->tcp_state, packet, update.from_initiator);
  }
  Touch(*flow);
  return update;
}

void FlowTable::Touch(Flow& flow) {
  const std::uint32_t id = IndexOf(flow) + 1;
  if (newest_ == id) return;
  Unlink(flow);
  flow.older_ = newest_;
  flow.newer_ = 0;
  if (newest_ != 0) pool_[newest_ - 1].newer_ = id;
  newest_ = id;
  if (oldest_ == 0) oldest_ = id;
}

void FlowTable::Unlink(Flow& flow) {
  const std::uint32_t id = IndexOf(flow) + 1;
  if (flow.older_ != 0) pool_[flow.older_ - 1].newer_ = flow.newer_;
  if (flow.newer_ != 0) pool_[flow.newer_ - 1].older_ = flow.older_;
  if (oldest_ == id) oldest_ = flow.newer_;
  if (newest_ == id) newest_ = flow.older_;
  flow.older_ = flow.newer_ = 0;
}

// Linear probing with backward-shift deletion: entries after the hole move up when the hole
// lies between their home slot and where they are, so no tombstones accumulate.
void FlowTable::EraseSlot(std::uint32_t hole) {
  std::uint32_t next = hole;
  for (;;) {
    next = (next + 1) & mask_;
    if (slots_[next].flow == 0) break;
    const std::uint32_t home = slots_[next].hash & mask_;
    const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (stays) continue;
    slots_[hole] = slots_[next];
    pool_[slots_[hole].flow - 1].slot_ = hole;
    hole = next;
  }
  slots_[hole] = Slot{};
}

void FlowTable::End(Flow& flow, FlowEndReason reason) {
  if (observer_ != nullptr) observer_->OnFlowEnd(flow, reason);
  ++counters_.ended[static_cast<int>(reason)];
  Unlink(flow);
  EraseSlot(flow.slot_);
  free_.push_back(IndexOf(flow));
  --size_;
}

void FlowTable::Expire(std::uint64_t now_us) {
  // Oldest first; a closed flow lingers less than an idle one, so the walk goes on past flows
  // that are not yet idle as long as a closed one could still be due.
  const std::uint64_t shortest = std::min(options_.idle_timeout_us, options_.closed_linger_us);
  std::uint32_t id = oldest_;
  while (id != 0) {
    Flow& flow = pool_[id - 1];
    if (flow.last_us + shortest > now_us) break;
    id = flow.newer_;
    if (flow.last_us + options_.idle_timeout_us <= now_us) {
      End(flow, flow.tcp_state == TcpState::kClosed ? FlowEndReason::kEndOfFlow
                                                    : FlowEndReason::kIdleTimeout);
    } else if (flow.tcp_state == TcpState::kClosed &&
               flow.last_us + options_.closed_linger_us <= now_us) {
      End(flow, FlowEndReason::kEndOfFlow);
    }
  }
}

void FlowTable::Flush() {
  while (oldest_ != 0) {
    Flow& flow = pool_[oldest_ - 1];
    End(flow, flow.tcp_state == TcpState::kClosed ? FlowEndReason::kEndOfFlow
                                                  : FlowEndReason::kForcedEnd);
  }
}

std::string FormatFlowRecord(const Flow& flow, FlowEndReason reason) {
  const bool v4 = flow.source.is_v4();
  std::string out;
  out.reserve(384);
  auto number = [&out](std::string_view name, std::uint64_t value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(value);
  };
  auto text = [&out](std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    json_text::AppendString(out, value);
  };
  out += "{\"flowId\":";
  out += std::to_string(flow.id);
  number("flowStartMilliseconds", flow.start_us / 1000);
  number("flowEndMilliseconds", flow.last_us / 1000);
  text(v4 ? "sourceIPv4Address" : "sourceIPv6Address", FormatIp(flow.source));
  text(v4 ? "destinationIPv4Address" : "destinationIPv6Address", FormatIp(flow.destination));
  number("sourceTransportPort", flow.source_port);
  number("destinationTransportPort", flow.destination_port);
  number("protocolIdentifier", flow.protocol);
  if (flow.vlan_id != 0) number("vlanId", flow.vlan_id);
  number("packetDeltaCount", flow.packets[0]);
  number("octetDeltaCount", flow.octets[0]);
  number("reversePacketDeltaCount", flow.packets[1]);
  number("reverseOctetDeltaCount", flow.octets[1]);
  if (flow.protocol == kProtoTcp) {
    number("tcpControlBits", flow.tcp_flags[0]);
    number("reverseTcpControlBits", flow.tcp_flags[1]);
  }
  number("flowEndReason", static_cast<std::uint64_t>(reason));
  if (flow.application != Application::kNone) {
    text("applicationName", ApplicationName(flow.application));
  }
  if (flow.server_name_length > 0) {
    text("tlsServerName", std::string_view(flow.server_name, flow.server_name_length));
  }
  out += '}';
  return out;
}

}  // namespace fogkeep::sensor
