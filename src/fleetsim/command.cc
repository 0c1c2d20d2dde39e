#include "fleetsim/command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "core/fs.h"
#include "core/log.h"
#include "core/process.h"
#include "crypto/x509.h"
#include "fleetsim/enroll.h"
#include "fleetsim/fleet.h"
#include "fleetsim/https.h"
#include "fleetsim/options.h"
#include "fleetsim/stats.h"

namespace fogkeep::fleetsim {
namespace {

using Clock = std::chrono::steady_clock;

int Failed(const Error& error) { return process::ReportFailure("fogkeep-fleetsim", error); }

std::chrono::milliseconds FromSeconds(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000.0));
}

// Every simulated node holds a socket: raise the soft descriptor limit as far as allowed.
void RaiseDescriptorLimit(std::size_t nodes) {
  const std::size_t limit = process::RaiseDescriptorLimit();
  constexpr std::size_t kSpare = 64;  // enrollment connections, files, standard streams
  if (nodes + kSpare > limit) {
    log::Warn("{} nodes need more descriptors than the limit of {} (ulimit -Hn)", nodes, limit);
  }
}

struct Flags {
  double poll_interval = 30;
  double apply_ms = 1000;
  double report_interval = 60;
  double retry_delay = 5;
  double timeout = 30;
  double duration = -1;
  double warmup = 0;
  double stats_interval = 5;
  std::int64_t long_poll = 0;
  std::string connection = "keep-alive";
  std::vector<std::string> until_running;
};

Result<SimOptions> FromFlags(SimOptions options, const Flags& flags) {
  options.long_poll = std::chrono::seconds(flags.long_poll);
  options.poll_interval = FromSeconds(flags.poll_interval);
  options.apply_time = FromSeconds(flags.apply_ms / 1000.0);
  options.report_interval = FromSeconds(flags.report_interval);
  options.retry_delay = FromSeconds(flags.retry_delay);
  options.timeout = FromSeconds(flags.timeout);
  options.warmup = FromSeconds(flags.warmup);
  options.stats_interval = FromSeconds(flags.stats_interval);
  if (flags.duration >= 0) options.duration = FromSeconds(flags.duration);
  if (flags.connection == "keep-alive") {
    options.connection = ConnectionMode::kKeepAlive;
  } else if (flags.connection == "close") {
    options.connection = ConnectionMode::kClose;
  } else {
    return Fail(ErrorCode::kInvalidInput, "--connection must be keep-alive or close");
  }
  if (!flags.until_running.empty()) {
    options.until_running = AppVersion{flags.until_running[0], flags.until_running[1]};
  }
  FK_TRY(Validate(options));
  return options;
}

int Run(const SimOptions& options) {
  log::Level level = log::Level::kWarn;
  if (!log::ParseLevel(options.log_level, &level)) {
    return Failed(
        Error(ErrorCode::kInvalidInput, "--log-level must be debug, info, warn, error or off"));
  }
  log::SetLevel(level);
  std::signal(SIGPIPE, SIG_IGN);
  RaiseDescriptorLimit(options.nodes);
  // Statistics lines share stdout with the summary unless the summary is JSON.
  std::ostream& lines = options.json ? std::cerr : std::cout;
  auto print = [&lines](const std::string& line) { lines << line << std::endl; };

  Result<std::string> ca_pem = fs::ReadFile(options.ca_file, 1 << 20);
  if (!ca_pem) return Failed(ca_pem.error().With("--ca " + options.ca_file));
  Result<crypto::Certificate> ca = crypto::Certificate::FromPem(*ca_pem);
  if (!ca) return Failed(ca.error().With("--ca " + options.ca_file));
  Result<DirectorEndpoint> where = ParseDirectorUrl(options.director_url);
  if (!where) return Failed(where.error());
  if (Status resolved = Resolve(*where); !resolved) return Failed(resolved.error());
  Result<std::unique_ptr<TlsClient>> tls = TlsClient::Create(*ca);
  if (!tls) return Failed(tls.error());

  asio::io_context io(static_cast<int>(options.threads));
  FleetStats stats;
  FleetStart start;
  std::vector<NodeIdentity> identities;
  const bool load =
      !options.identities_file.empty() && ::access(options.identities_file.c_str(), F_OK) == 0;
  if (load) {
    Result<std::vector<NodeIdentity>> loaded =
        LoadIdentities(options.identities_file, options.nodes);
    if (!loaded) return Failed(loaded.error());
    identities = std::move(*loaded);
    for (std::size_t i = 0; i < identities.size(); ++i) stats.CountEnrolled();
    start.identities_loaded = true;
    print("loaded " + std::to_string(identities.size()) + " identities from " +
          options.identities_file);
  } else {
    if (options.token.empty()) {
      return Failed(Error(ErrorCode::kInvalidInput,
                          "--token (an API token of a network-manager) is required to enroll"));
    }
    const Clock::time_point begun = Clock::now();
    Result<std::vector<NodeIdentity>> enrolled =
        EnrollFleet(io, *where, **tls, *ca, options, stats);
    if (!enrolled) return Failed(enrolled.error().With("enrollment"));
    identities = std::move(*enrolled);
    start.enroll_seconds = std::chrono::duration<double>(Clock::now() - begun).count();
    print(fmt::format(
        "enrolled {} nodes in {:.1f} s ({:.0f}/s)", identities.size(), start.enroll_seconds,
        static_cast<double>(identities.size()) / std::max(start.enroll_seconds, 1e-9)));
    if (!options.identities_file.empty()) {
      if (Status saved = SaveIdentities(options.identities_file, identities); !saved) {
        return Failed(saved.error().With("--identities"));
      }
    }
  }

  Summary summary{.nodes = options.nodes,
                  .enroll_seconds = start.enroll_seconds,
                  .identities_loaded = start.identities_loaded,
                  .totals = stats.Read(),
                  .until_running = options.until_running};
  if (!options.duration || options.duration->count() > 0) {
    summary = RunFleet(io, options, *where, **tls, std::move(identities), stats, start, print);
  }
  std::cout << (options.json ? SummaryJson(summary) + "\n" : SummaryText(summary));
  std::cout.flush();
  if (options.until_running && !summary.until_reached) {
    return Failed(Error(ErrorCode::kUnavailable,
                        "not every node runs " +
                            AppKey(options.until_running->app, options.until_running->version) +
                            " by the end of --duration"));
  }
  return 0;
}

}  // namespace

int FleetSimMain(int argc, char** argv) {
  CLI::App app{
      "fogkeep-fleetsim: simulates N fog nodes in one process against a fogkeep-director.\n"
      "Each node enrolls through the director's EST endpoint with its own key and one-time\n"
      "token, then polls its desired state over mutual TLS, applies changes after --apply-ms\n"
      "and reports its apps (with injected failures), as fogkeepd would.\n",
      "fogkeep-fleetsim"};
  SimOptions options;
  Flags flags;
  app.add_option("--director", options.director_url, "Director URL, https://host:port")->required();
  app.add_option("--ca", options.ca_file, "PEM file of the fleet CA (the director's ca.crt)")
      ->required();
  app.add_option("--nodes", options.nodes, "Number of simulated nodes")->required();
  app.add_option("--token", options.token,
                 "API token of a network-manager (fogkeep-director token create --role "
                 "network-manager); creates one enrollment token per node");
  app.add_option("--tag", options.tags, "Tag given to every node's enrollment token (repeat)");
  app.add_option("--name-prefix", options.name_prefix, "Node i asks to be named PREFIX-i")
      ->capture_default_str();
  app.add_option("--agent-version", options.agent_version, "agent_version the nodes report")
      ->capture_default_str();
  app.add_option("--identities", options.identities_file,
                 "Keep enrolled identities in FILE (0600) and reuse them when it exists");
  app.add_option("--long-poll", flags.long_poll,
                 "Seconds each poll waits for a change (?wait=); 0: plain polling")
      ->capture_default_str();
  app.add_option("--poll-interval", flags.poll_interval,
                 "Seconds between plain polls (±10 % jitter); 0: as fast as answered")
      ->capture_default_str();
  app.add_option("--apply-ms", flags.apply_ms,
                 "Milliseconds from a new desired state to its report")
      ->capture_default_str();
  app.add_option("--report-interval", flags.report_interval,
                 "Seconds between a node's routine reports; 0: only at start and after changes")
      ->capture_default_str();
  app.add_option("--retry-delay", flags.retry_delay, "Seconds after a failed exchange (±50 %)")
      ->capture_default_str();
  app.add_option("--timeout", flags.timeout, "Seconds an exchange may take (plus --long-poll)")
      ->capture_default_str();
  app.add_option("--fail-percent", options.fail_percent,
                 "Percentage of nodes that fail to run --fail-version (chosen by --seed)")
      ->capture_default_str();
  app.add_option("--fail-version", options.fail_version,
                 "The version failing nodes fail; every version when not given");
  app.add_option("--seed", options.seed, "Seed of the failure choice and the jitter")
      ->capture_default_str();
  app.add_option("--connection", flags.connection,
                 "keep-alive (one reused connection per node) or close (a new connection "
                 "per round, as fogkeepd does)")
      ->capture_default_str();
  app.add_option("--enroll-concurrency", options.enroll_concurrency,
                 "Enrollments in flight at once")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "I/O threads")->capture_default_str();
  app.add_option("--duration", flags.duration,
                 "Seconds to run after enrollment; 0: enroll and exit (default: until "
                 "SIGINT, or --until-running)");
  app.add_option("--warmup", flags.warmup,
                 "Seconds of polling left out of the summary's measured window")
      ->capture_default_str();
  app.add_option("--until-running", flags.until_running,
                 "APP VERSION: end when every node reports it RUNNING")
      ->expected(2);
  app.add_option("--stats-interval", flags.stats_interval,
                 "Seconds between statistics lines; 0: none")
      ->capture_default_str();
  app.add_flag("--json", options.json, "Print the summary as JSON (statistics go to stderr)");
  app.add_option("--log-level", options.log_level, "debug, info, warn, error or off")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  Result<SimOptions> checked = FromFlags(std::move(options), flags);
  if (!checked) return Failed(checked.error());
  return Run(*checked);
}

}  // namespace fogkeep::fleetsim
