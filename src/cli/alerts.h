// `fogkeep alerts` (a node's security alerts) and `fogkeep fleet alerts` (the fleet's, through
// the director): the query each sends and the table each prints, over GET /api/v1/alerts of
// node/alerts/routes.h and director/routes.h (wire types in api/alert.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/alert.h"

namespace CLI {
class App;
}

namespace fogkeep::cli {

// The filters both commands take; empty or unset ones do not filter. `device` and `tag` only
// reach the director, `app` only a node.
struct AlertQueryArgs {
  std::optional<std::int64_t> since;
  std::int64_t limit = 50;
  std::string detector;
  int min_severity = 0;  // 0: every severity
  std::string app;
  std::string device;
  std::string tag;
};

// The request target: "/api/v1/alerts?limit=50&detector=modbus-write", values percent-encoded.
std::string NodeAlertsTarget(const AlertQueryArgs& args);
std::string FleetAlertsTarget(const AlertQueryArgs& args);

// "10.9.0.7:51515 → 10.9.0.2:502"; "-" when the alert names neither end.
std::string AlertFlow(const api::Alert& alert);

// The table `fogkeep alerts` prints: a header, then one row per alert with TIME (the sensor's
// timestamp to the second), SOURCE, SEVERITY, DETECTOR, FLOW and SIGNATURE; `fleet` adds
// DEVICE before SOURCE. Text from outside is made printable; an alert that does not parse shows
// "-" cells and says so.
std::vector<std::vector<std::string>> AlertTableRows(const api::AlertList& list, bool fleet);

// `fogkeep alerts` on the root command, and `fogkeep fleet alerts` on the fleet group.
void AddAlertCommands(CLI::App& app);
void AddFleetAlertCommand(CLI::App& fleet);

}  // namespace fogkeep::cli
