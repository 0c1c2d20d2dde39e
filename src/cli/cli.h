// The `fogkeep` command line: one file per subcommand group, each thin over the libraries.
#pragma once

namespace CLI {
class App;
}

namespace fogkeep::cli {

// Parses argv and runs the chosen command. Returns the process exit code: 0 success,
// 1 the operation failed (the reason is on stderr), 2 usage error.
int Run(int argc, char** argv);

// Registration of each subcommand group (pki.cc, package.cc, app.cc, node.cc, audit.cc,
// storage.cc, login.cc, fleet.cc, alerts.cc).
void AddPkiCommands(CLI::App& app);
void AddPackageCommands(CLI::App& app);
void AddAppCommands(CLI::App& app);
void AddNodeCommands(CLI::App& app);
void AddAuditCommands(CLI::App& app);
void AddStorageCommands(CLI::App& app);
void AddLoginCommands(CLI::App& app);  // login, logout
void AddFleetCommands(CLI::App& app);  // fleet: the director
void AddAlertCommands(CLI::App& app);  // alerts.cc: alerts (and fleet alerts, from fleet.cc)

}  // namespace fogkeep::cli
