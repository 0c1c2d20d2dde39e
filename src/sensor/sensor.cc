#include "sensor/sensor.h"

#include <algorithm>

#include "sensor/tls_sni.h"

namespace fogkeep::sensor {
namespace {

// How often (in packet time) timed-out flows are looked for.
constexpr std::uint64_t kExpiryStepUs = 1'000'000;
constexpr std::uint8_t kTlsHandshakeRecord = 22;

void NoteServerName(const Packet& packet, Flow& flow) {
  if (flow.server_name_length != 0 || flow.application != Application::kNone) return;
  if (packet.payload.size() < 6 || packet.payload[0] != kTlsHandshakeRecord) return;
  std::array<char, 256> name;
  std::size_t length = 0;
  if (!ParseClientHelloSni(packet.payload, name, length)) return;
  flow.application = Application::kTls;
  flow.server_name_length = static_cast<std::uint8_t>(std::min(length, sizeof flow.server_name));
  std::copy_n(name.data(), flow.server_name_length, flow.server_name);
}

}  // namespace

Sensor::Sensor(SensorOptions options, AlertSink& alerts, FlowObserver* flow_records)
    : flow_records_(flow_records),
      reassembler_(options.reassembly),
      detectors_(std::move(options.detectors), alerts),
      flows_(options.flows, this) {}

void Sensor::OnFrame(std::span<const std::uint8_t> frame, LinkType link, std::uint64_t timestamp_us,
                     std::uint32_t wire_length) {
  Decode(frame, link, timestamp_us, wire_length, packet_);
  decode_counters_.Count(packet_);
  if (packet_.malformed != Malformed::kNone) return;
  now_us_ = std::max(now_us_, timestamp_us);
  if (now_us_ >= next_expiry_us_) {
    flows_.Expire(now_us_);
    reassembler_.Expire(now_us_);
    next_expiry_us_ = now_us_ + kExpiryStepUs;
  }
  if (packet_.ip_version == 4 && packet_.is_fragment) {
    // The flow sees the reassembled datagram once, with its transport header; fragments that
    // complete nothing count in the reassembler only.
    const std::span<const std::uint8_t> datagram = reassembler_.Add(packet_);
    if (datagram.empty()) return;
    packet_.is_fragment = false;
    if (!DecodeTransport(datagram, packet_)) {
      ++decode_counters_.malformed[static_cast<std::size_t>(packet_.malformed)];
      return;
    }
  }
  Analyse(packet_);
}

void Sensor::Analyse(Packet& packet) {
  const FlowUpdate update = flows_.Update(packet);
  if (update.flow != nullptr && packet.protocol == kProtoTcp && !packet.payload.empty()) {
    NoteServerName(packet, *update.flow);
  }
  detectors_.OnPacket(packet, update);
}

void Sensor::Tick(std::uint64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  flows_.Expire(now_us_);
  reassembler_.Expire(now_us_);
}

void Sensor::Finish() { flows_.Flush(); }

void Sensor::OnFlowEnd(const Flow& flow, FlowEndReason reason) {
  if (reason != FlowEndReason::kActiveTimeout) detectors_.OnFlowEnd(flow);
  if (flow_records_ != nullptr) flow_records_->OnFlowEnd(flow, reason);
}

boost::json::object Sensor::Stats() const {
  const DecodeCounters& d = decode_counters_;
  boost::json::object malformed;
  for (std::size_t i = 1; i < d.malformed.size(); ++i) {
    if (d.malformed[i] != 0) malformed[MalformedName(static_cast<Malformed>(i))] = d.malformed[i];
  }
  const ReassemblyCounters& r = reassembler_.counters();
  const FlowTableCounters& f = flows_.counters();
  const DetectorCounters& a = detectors_.counters();
  boost::json::object alerts;
  boost::json::object suppressed;
  for (std::size_t i = 0; i < kDetectorIds.size(); ++i) {
    if (a.alerts[i] != 0) alerts[kDetectorIds[i]] = a.alerts[i];
    if (a.suppressed[i] != 0) suppressed[kDetectorIds[i]] = a.suppressed[i];
  }
  boost::json::object functions;
  for (std::size_t code = 0; code < a.modbus_functions.size(); ++code) {
    if (a.modbus_functions[code] != 0) functions[std::to_string(code)] = a.modbus_functions[code];
  }
  return {
      {"packets", d.packets},
      {"bytes", d.bytes},
      {"non_ip", d.non_ip},
      {"malformed", std::move(malformed)},
      {"fragments",
       {{"ipv4", d.ipv4_fragments},
        {"ipv6", d.ipv6_fragments},
        {"reassembled", r.reassembled},
        {"timed_out", r.timed_out},
        {"evicted", r.evicted},
        {"overlaps", r.overlaps},
        {"too_large", r.too_large},
        {"inconsistent", r.inconsistent}}},
      {"flows",
       {{"created", f.created},
        {"active", flows_.size()},
        {"idle_timeout", f.ended[1]},
        {"active_timeout", f.ended[2]},
        {"end_of_flow", f.ended[3]},
        {"forced_end", f.ended[4]},
        {"evicted", f.ended[5]}}},
      {"modbus",
       {{"frames", a.modbus_frames},
        {"functions", std::move(functions)},
        {"exceptions", a.modbus_exceptions},
        {"malformed_segments", a.modbus_malformed}}},
      {"dns", {{"messages", a.dns_messages}, {"malformed", a.dns_malformed}}},
      {"alerts", std::move(alerts)},
      {"suppressed_alerts", std::move(suppressed)},
      {"untracked", a.untracked},
  };
}

}  // namespace fogkeep::sensor
