#include "sensor/command.h"

#include <pcap/pcap.h>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "core/fs.h"
#include "core/process.h"
#include "sensor/capture.h"
#include "sensor/config.h"
#include "sensor/node_reporter.h"
#include "sensor/scenarios.h"
#include "sensor/sensor.h"
#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

constexpr char kProgram[] = "fogkeep-sensor";
// Set by fogkeepd for an app granted the network-monitor capability.
constexpr char kMonitorInterfaceEnv[] = "FOGKEEP_MONITOR_INTERFACE";
// Set by fogkeepd in every app: the app's own node socket, which takes its alerts.
constexpr char kAppSocketEnv[] = "FOGKEEP_SSS_SOCKET";
constexpr char kAppAlertsRoute[] = "/v1/alerts";
constexpr char kNodeAlertsRoute[] = "/api/v1/alerts";

int Failed(const Error& error) { return process::ReportFailure(kProgram, error); }

// Lines to a file or stdout. Alerts are flushed one by one (they are rare, and a reader
// tailing the file must see them at once); flow records are flushed when the capture is quiet
// and at the end.
class LineFile {
 public:
  static Result<std::unique_ptr<LineFile>> Open(const std::string& path) {
    if (path == "-") return std::unique_ptr<LineFile>(new LineFile(stdout, false));
    std::FILE* file = std::fopen(path.c_str(), "ae");
    if (file == nullptr) return FailErrno("open " + path, errno);
    return std::unique_ptr<LineFile>(new LineFile(file, true));
  }
  ~LineFile() {
    Flush();
    if (owned_) std::fclose(file_);
  }
  void Write(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
  }
  void Flush() { std::fflush(file_); }

 private:
  LineFile(std::FILE* file, bool owned) : file_(file), owned_(owned) {}
  std::FILE* file_;
  bool owned_;
};

// Alerts to the EVE file (when there is one) and to the node (when reporting).
class AlertOutputs final : public AlertSink {
 public:
  AlertOutputs(LineFile* file, NodeReporter* node) : file_(file), node_(node) {}
  void OnAlert(const Alert& alert) override {
    if (file_ != nullptr) {
      file_->Write(FormatEveAlert(alert));
      file_->Flush();
    }
    if (node_ != nullptr) node_->OnAlert(alert);
  }

 private:
  LineFile* file_;
  NodeReporter* node_;
};

// Where alerts go besides --alerts: "--report-to unix:PATH" (fogkeepd's admin socket), the
// app's node socket inside a fog app, or nowhere ("none", or standalone without the flag).
Result<std::optional<NodeTarget>> ReportTarget(const std::string& flag) {
  if (flag == "none") return std::nullopt;
  if (flag.empty()) {
    const char* app_socket = std::getenv(kAppSocketEnv);
    if (app_socket == nullptr || *app_socket == '\0') return std::nullopt;
    return NodeTarget{app_socket, kAppAlertsRoute};
  }
  constexpr std::string_view kUnix = "unix:";
  if (!flag.starts_with(kUnix) || flag.size() == kUnix.size()) {
    return Fail(ErrorCode::kInvalidInput,
                "--report-to takes unix:SOCKET (fogkeepd's socket) or none, not \"" + flag + "\"");
  }
  return NodeTarget{flag.substr(kUnix.size()), kNodeAlertsRoute};
}

class FlowRecords final : public FlowObserver {
 public:
  explicit FlowRecords(LineFile& out) : out_(out) {}
  void OnFlowEnd(const Flow& flow, FlowEndReason reason) override {
    out_.Write(FormatFlowRecord(flow, reason));
  }

 private:
  LineFile& out_;
};

std::atomic<Capture*> running_capture{nullptr};

extern "C" void OnStopSignal(int) {
  if (Capture* capture = running_capture.load()) capture->Stop();
}

struct Flags {
  std::string read;
  std::string interface;
  std::string filter;
  std::string config;
  std::string alerts = "-";
  std::string flows;
  std::string report_to;
  bool json = false;
};

void PrintSummary(const boost::json::object& stats, double seconds, bool json) {
  if (json) {
    std::fprintf(stderr, "%s\n", boost::json::serialize(stats).c_str());
    return;
  }
  const auto number = [&](std::string_view key) {
    return stats.at(key).to_number<std::uint64_t>();
  };
  const boost::json::object& flows = stats.at("flows").as_object();
  std::uint64_t alerts = 0;
  for (const auto& [_, count] : stats.at("alerts").as_object())
    alerts += count.to_number<std::uint64_t>();
  std::uint64_t malformed = 0;
  for (const auto& [_, count] : stats.at("malformed").as_object())
    malformed += count.to_number<std::uint64_t>();
  const std::uint64_t packets = number("packets");
  std::fprintf(stderr,
               "%s: %llu packets (%llu malformed) in %.2f s (%.0f packets/s), %llu flows, %llu "
               "alerts\n",
               kProgram, static_cast<unsigned long long>(packets),
               static_cast<unsigned long long>(malformed), seconds,
               seconds > 0 ? static_cast<double>(packets) / seconds : 0.0,
               static_cast<unsigned long long>(flows.at("created").to_number<std::uint64_t>()),
               static_cast<unsigned long long>(alerts));
}

Status Run(const Flags& flags) {
  SensorOptions options;
  if (!flags.config.empty()) {
    const std::string text = FK_TRY(fs::ReadFile(flags.config));
    options = FK_TRY_CTX(ParseSensorConfig(text), flags.config);
  }
  std::unique_ptr<LineFile> alert_file;
  if (flags.alerts != "none") alert_file = FK_TRY(LineFile::Open(flags.alerts));
  std::unique_ptr<LineFile> flow_file;
  if (!flags.flows.empty()) flow_file = FK_TRY(LineFile::Open(flags.flows));
  const std::optional<NodeTarget> target = FK_TRY(ReportTarget(flags.report_to));
  std::unique_ptr<NodeReporter> reporter;
  if (target) reporter = std::make_unique<NodeReporter>(*target);
  AlertOutputs alerts(alert_file.get(), reporter.get());
  std::unique_ptr<FlowRecords> records;
  if (flow_file) records = std::make_unique<FlowRecords>(*flow_file);

  std::unique_ptr<Capture> capture;
  if (!flags.read.empty()) {
    capture = FK_TRY(Capture::OpenFile(flags.read, flags.filter));
  } else {
    capture = FK_TRY(
        Capture::OpenLive(LiveOptions{.interface = flags.interface, .filter = flags.filter}));
  }
  Sensor sensor(std::move(options), alerts, records.get());
  const LinkType link = capture->link();

  running_capture.store(capture.get());
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  const auto started = std::chrono::steady_clock::now();
  const Status ran = capture->Run(
      [&](std::span<const std::uint8_t> frame, std::uint64_t timestamp_us,
          std::uint32_t wire_length) { sensor.OnFrame(frame, link, timestamp_us, wire_length); },
      [&](std::uint64_t now_us) {
        sensor.Tick(now_us);
        if (flow_file) flow_file->Flush();
      });
  running_capture.store(nullptr);
  // What was read is analysed to the end (its flows reported) even when the capture failed;
  // the failure is then the one line on stderr.
  sensor.Finish();
  if (!ran) return ran;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  boost::json::object stats = sensor.Stats();
  const CaptureStats captured = capture->stats();
  stats["capture"] = {{"received", captured.received},
                      {"dropped", captured.dropped},
                      {"interface_dropped", captured.interface_dropped}};
  if (reporter) {
    reporter->Drain(std::chrono::seconds(5));
    const NodeReporterCounters node = reporter->counters();
    stats["node"] = {{"sent", node.sent},
                     {"pending", node.pending},
                     {"dropped", node.dropped},
                     {"refused", node.refused},
                     {"failures", node.failures}};
  }
  PrintSummary(stats, seconds, flags.json);
  return {};
}

struct SynthFlags {
  std::string scenario;
  std::string write;
  std::uint64_t packets = 1'000'000;
  std::size_t flows = 10'000;
};

Status Synthesise(const SynthFlags& flags) {
  PcapWriter writer = FK_TRY(PcapWriter::Create(flags.write));
  const ScenarioOptions options{.packets = flags.packets, .flows = flags.flows};
  FK_TRY(
      GenerateScenario(flags.scenario, options,
                       [&writer](std::uint64_t timestamp_us, std::span<const std::uint8_t> frame) {
                         return writer.Write(timestamp_us, frame);
                       }));
  return writer.Close();
}

std::string ScenarioHelp() {
  std::string help = "Scenarios:\n";
  for (std::string_view name : ScenarioNames()) {
    help += "  " + std::string(name) + ": " + std::string(ScenarioSummary(name)) + "\n";
  }
  return help;
}

}  // namespace

int SensorMain(int argc, char** argv) {
  CLI::App app{
      "Traffic analytics for OT networks: flows, Modbus/TCP, DNS and TLS server names, and\n"
      "detectors for port scans, host sweeps, SYN floods, new talkers and services, Modbus\n"
      "writes and exception bursts, DNS tunnelling and ARP spoofing.\n\n"
      "Examples:\n"
      "  fogkeep-sensor -r plant.pcapng --flows flows.jsonl      # alerts on stdout\n"
      "  fogkeep-sensor -i span0 -f 'not port 22' -c sensor.yaml --alerts /var/log/alerts.json\n",
      kProgram};
  app.set_version_flag("--version", "fogkeep-sensor 0.1.0");
  Flags flags;
  auto* read = app.add_option("-r,--read", flags.read, "Read a pcap or pcapng capture file");
  app.add_option("-i,--interface", flags.interface,
                 "Capture live on this interface (needs CAP_NET_RAW; a mirror/SPAN port is "
                 "captured promiscuously). Default in a fog app: $FOGKEEP_MONITOR_INTERFACE")
      ->excludes(read);
  app.add_option("-f,--filter", flags.filter, "BPF filter, as tcpdump takes it");
  app.add_option("-c,--config", flags.config,
                 "Detector thresholds and table sizes (YAML; see the sensor's README)");
  app.add_option("--alerts", flags.alerts,
                 "Where EVE JSON alert lines go: - (stdout), a file (appended), or none")
      ->capture_default_str();
  app.add_option("--flows", flags.flows,
                 "Write flow records (JSON lines, IPFIX names) to this file, or - for stdout");
  app.add_option("--report-to", flags.report_to,
                 "Also send alerts to fogkeepd: unix:SOCKET (its admin socket, e.g. "
                 "unix:/run/fogkeep/fogkeepd.sock), or none. Default: in a fog app, the app's "
                 "node socket ($FOGKEEP_SSS_SOCKET); standalone, none");
  app.add_flag("--json", flags.json, "Print the end-of-run summary as one JSON object (stderr)");

  SynthFlags synth_flags;
  CLI::App* synth = app.add_subcommand(
      "synth",
      "Write a synthetic capture with known ground truth (classic pcap), to drill the alert "
      "path or to benchmark");
  synth->add_option("scenario", synth_flags.scenario, "What the capture holds (see below)")
      ->required();
  synth->add_option("-w,--write", synth_flags.write, "The pcap file to write")->required();
  synth->add_option("--packets", synth_flags.packets, "mixed: about this many packets")
      ->capture_default_str();
  synth->add_option("--flows", synth_flags.flows, "mixed: this many flows")->capture_default_str();
  synth->footer(ScenarioHelp());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (synth->parsed()) {
    if (Status written = Synthesise(synth_flags); !written) return Failed(written.error());
    return 0;
  }
  if (flags.read.empty() && flags.interface.empty()) {
    if (const char* monitored = std::getenv(kMonitorInterfaceEnv); monitored && *monitored) {
      flags.interface = monitored;
    } else {
      return Failed(Error(ErrorCode::kInvalidInput,
                          "say what to read: --read FILE or --interface IF (see --help)"));
    }
  }
  if (Status ran = Run(flags); !ran) return Failed(ran.error());
  return 0;
}

}  // namespace fogkeep::sensor
