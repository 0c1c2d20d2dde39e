// fogkeep-sensor: traffic analytics for OT networks, standalone or packaged as a fog app.
//
// Reads a capture file or an interface, keeps flows, decodes Modbus/TCP, DNS and TLS server
// names, runs the detectors, and writes EVE JSON alert lines (stdout by default) and,
// optionally, flow records. A summary of every counter goes to stderr at the end (text, or
// one JSON object with --json). Exit status 0, or 1 with one line on stderr.
#pragma once

namespace fogkeep::sensor {

int SensorMain(int argc, char** argv);

}  // namespace fogkeep::sensor
