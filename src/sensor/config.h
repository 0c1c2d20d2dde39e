// The sensor's configuration file (YAML). Every key is optional; an unknown key, a wrong type
// or a value out of range is refused with its path ("detectors.port-scan.ports: ..."), so a
// typo never silently leaves a detector at its default.
//
//   flows:      {max-flows: 65536, idle-timeout: 60s, active-timeout: 5m, closed-linger: 5s}
//   reassembly: {max-datagrams: 64, timeout: 30s}
//   alerts:     {cooldown: 60s, max-tracked: 65536}
//   detectors:
//     port-scan:         {enabled: true, ports: 64, window: 60s}
//     host-sweep:        {enabled: true, hosts: 64, window: 60s}
//     syn-flood:         {enabled: true, half-open: 256}
//     baseline:          {enabled: true, learning: 10m}   # new-talker and new-service
//     modbus-write:      {enabled: true, allowed-writers: [10.0.0.5, 10.0.1.0/24]}
//     modbus-exceptions: {enabled: true, count: 10, window: 10s}
//     dns:               {enabled: true, max-label: 52, entropy: 4.0, entropy-min-length: 24,
//                         nxdomain: 20, window: 60s}     # dns-tunnel and dns-nxdomain
//     arp-spoof:         {enabled: true}
#pragma once

#include <string_view>

#include "core/error.h"
#include "sensor/detectors.h"
#include "sensor/sensor.h"

namespace fogkeep::sensor {

Result<SensorOptions> ParseSensorConfig(std::string_view yaml_text);
// "10.0.0.0/8", "2001:db8::/32", or one address (a /32 or /128).
Result<Cidr> ParseCidr(std::string_view text);

}  // namespace fogkeep::sensor
