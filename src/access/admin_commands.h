// The host-side administration commands every fogkeep server has, run by root on its machine
// against the server's data directory (whether the server runs or not):
//   <server> user add|passwd|set-role|del|list   the local user store (the `local` back-end),
//                                                ending the sessions of a user who is removed
//                                                or whose password or role changes
//   <server> token create --role R               an API token, printed once
// fogkeepd and fogkeep-director register the same commands, so they read and behave the same.
#pragma once

#include <string>
#include <string_view>

#include "access/auth_config.h"
#include "core/error.h"

namespace CLI {
class App;
}

namespace fogkeep::access {

class AdminCommands {
 public:
  // Adds `user` and `token` subcommands to `app`; `server` names the program in messages.
  void Register(CLI::App& app, std::string_view server);
  // Whether one of them was given on the command line (after parsing).
  bool parsed() const;
  // Runs the one that was given, on the server's resolved data directory and `auth:` settings.
  Status Run(const std::string& data_dir, const AuthSettings& auth);

 private:
  Status RunUsers(const std::string& data_dir, const AuthSettings& auth);
  Status CreateApiToken(const std::string& data_dir);
  Result<std::string> Password() const;
  Status EndSessions(const std::string& data_dir, const AuthSettings& auth,
                     const std::string& done) const;

  std::string server_;
  CLI::App* add_ = nullptr;
  CLI::App* passwd_ = nullptr;
  CLI::App* set_role_ = nullptr;
  CLI::App* del_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* token_create_ = nullptr;
  std::string name_;
  std::string role_;
  bool password_stdin_ = false;
  bool json_ = false;
};

}  // namespace fogkeep::access
