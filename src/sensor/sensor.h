// Sensor: the pipeline from captured frames to flow records and alerts.
//
// decode (decode.h) → IPv4 reassembly (reassembly.h) → flow table (flow_table.h) → TLS
// server name → detectors (detectors.h). One thread drives it; nothing in it blocks or
// allocates per packet in the steady state except what a detector adds to its bounded state.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <span>

#include "sensor/decode.h"
#include "sensor/detectors.h"
#include "sensor/flow_table.h"
#include "sensor/reassembly.h"

namespace fogkeep::sensor {

struct SensorOptions {
  FlowTableOptions flows;
  ReassemblyLimits reassembly;
  DetectorConfig detectors;
};

class Sensor final : private FlowObserver {
 public:
  // `alerts` and `flow_records` (may be null: no flow records) must outlive the sensor.
  Sensor(SensorOptions options, AlertSink& alerts, FlowObserver* flow_records);

  // One captured frame: `frame` holds the captured bytes, `wire_length` what the wire carried.
  void OnFrame(std::span<const std::uint8_t> frame, LinkType link, std::uint64_t timestamp_us,
               std::uint32_t wire_length);
  // Time passes without packets (a quiet live capture): ends flows that timed out.
  void Tick(std::uint64_t now_us);
  // The capture is over: every flow ends and is reported.
  void Finish();

  const DecodeCounters& decode_counters() const { return decode_counters_; }
  const FlowTable& flows() const { return flows_; }
  const Detectors& detectors() const { return detectors_; }
  const ReassemblyCounters& reassembly_counters() const { return reassembler_.counters(); }
  // Every counter, for the summary line and `--json`.
  boost::json::object Stats() const;

 private:
  void OnFlowEnd(const Flow& flow, FlowEndReason reason) override;
  void Analyse(Packet& packet);

  FlowObserver* const flow_records_;
  DecodeCounters decode_counters_;
  Ipv4Reassembler reassembler_;
  Detectors detectors_;
  FlowTable flows_;
  Packet packet_;
  std::uint64_t now_us_ = 0;
  std::uint64_t next_expiry_us_ = 0;
};

}  // namespace fogkeep::sensor
