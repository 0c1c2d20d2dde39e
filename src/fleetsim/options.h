// What fogkeep-fleetsim is asked to simulate: its command line, parsed and checked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace fogkeep::fleetsim {

// How a node holds its connection to the director between exchanges.
enum class ConnectionMode {
  kKeepAlive,  // one connection per node, reused; reopened when the director closed it
  kClose,      // a new connection for every round (report and poll), as fogkeepd's link does
};

struct AppVersion {
  std::string app;
  std::string version;
};

struct SimOptions {
  std::string director_url;  // https://host[:port]
  std::string ca_file;       // PEM of the fleet CA; the director's certificate must chain to it
  std::size_t nodes = 0;
  std::string token;  // API token of a network-manager: creates the enrollment tokens
  std::vector<std::string> tags;
  std::string name_prefix = "fleetsim";  // node i asks to be named "<prefix>-<i>"
  std::string agent_version = "fleetsim/0.1.0";
  // Where enrolled identities are kept between runs (keys: mode 0600). When the file exists its
  // first `nodes` identities are used and nothing is enrolled; otherwise the nodes enroll and
  // the file is written. "" enrolls every run and keeps nothing.
  std::string identities_file;

  std::chrono::seconds long_poll{0};                // ?wait= of every poll; 0: plain polling
  std::chrono::milliseconds poll_interval{30'000};  // between plain polls, ±10 % jitter
  std::chrono::milliseconds apply_time{1'000};      // from a new desired state to its report
  std::chrono::milliseconds report_interval{60'000};
  std::chrono::milliseconds retry_delay{5'000};  // after a failed exchange, ±50 % jitter
  std::chrono::milliseconds timeout{30'000};     // per exchange, on top of the long poll

  double fail_percent = 0;   // share of nodes that fail
  std::string fail_version;  // the version they fail; "" every version
  std::uint64_t seed = 1;

  ConnectionMode connection = ConnectionMode::kKeepAlive;
  std::size_t enroll_concurrency = 64;
  std::size_t threads = 1;

  std::optional<std::chrono::milliseconds> duration;  // of the polling phase; none: until stopped
  std::chrono::milliseconds warmup{0};  // polling time excluded from the summary's rates
  std::optional<AppVersion> until_running;
  std::chrono::milliseconds stats_interval{5'000};  // 0: no periodic lines
  bool json = false;
  std::string log_level = "warn";
};

// Checks the values against each other; kInvalidInput names the flag at fault.
Status Validate(const SimOptions& options);

}  // namespace fogkeep::fleetsim
