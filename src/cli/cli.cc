#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include "cli/output.h"

namespace fogkeep::cli {

int Run(int argc, char** argv) {
  CLI::App app{
      "fogkeep: build, sign and verify fog applications, and manage fog nodes.\n\n"
      "Typical flow:\n"
      "  fogkeep pki init --dir pki                        # development CA + code signer\n"
      "  fogkeep package build examples/hello -o hello.tar\n"
      "  fogkeep package sign hello.tar --key pki/signer.key --cert pki/signer.pem -o "
      "hello-signed.tar\n"
      "  fogkeep package verify hello-signed.tar --trust pki/ca.pem\n"
      "  fogkeep node trust set pki/ca.pem                 # on the node, as root\n"
      "  fogkeep app run hello-signed.tar                  # install + activate + start\n\n"
      "A fleet of nodes is managed through fogkeep-director: see `fogkeep fleet --help`.\n",
      "fogkeep"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fogkeep 0.1.0");
  AddPkiCommands(app);
  AddPackageCommands(app);
  AddAppCommands(app);
  AddNodeCommands(app);
  AddAuditCommands(app);
  AddStorageCommands(app);
  AddLoginCommands(app);
  AddFleetCommands(app);
  AddAlertCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return ExitCode();
}

}  // namespace fogkeep::cli
