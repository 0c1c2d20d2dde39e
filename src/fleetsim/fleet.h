// The simulated fleet once enrolled: every node a coroutine that polls its desired state over
// mutual TLS, "applies" a changed one after --apply-ms and reports its apps, with the injected
// failures; and a controller that prints statistics and ends the run.
//
// Each node, in a loop:
//   1. report (POST /api/v1/node/report) at its start and whenever --report-interval passed;
//   2. GET /api/v1/node/desired with If-None-Match: <its ETag> (and ?wait=S with --long-poll);
//   3. on 200 with apps that differ from the last ones: wait --apply-ms, then report each app
//      RUNNING at the desired version (FAILED for an injected failure);
//   4. plain polling: sleep --poll-interval ±10 %.
// After a failed exchange a node sleeps --retry-delay ±50 % and starts over. Starts are spread
// over one poll interval (plain polling) or up to 10 s, so the director sees a steady load
// rather than a stampede.
//
// The run ends at --duration, when every node reports --until-running's version RUNNING, or on
// SIGINT/SIGTERM; nodes are then cancelled where they are (a long poll in flight is cut).
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "fleetsim/enroll.h"
#include "fleetsim/https.h"
#include "fleetsim/options.h"
#include "fleetsim/stats.h"

namespace fogkeep::fleetsim {

struct FleetStart {
  double enroll_seconds = 0;
  bool identities_loaded = false;
};

// Runs `identities` as nodes on `io` (options.threads threads) until the run ends; `print`
// receives each periodic statistics line. Returns the summary.
Summary RunFleet(asio::io_context& io, const SimOptions& options, const DirectorEndpoint& where,
                 TlsClient& tls, std::vector<NodeIdentity> identities, FleetStats& stats,
                 FleetStart start, const std::function<void(const std::string&)>& print);

}  // namespace fogkeep::fleetsim
