// The host-side administration commands every fogkeep server has, run by root on its machine
// against the server's data directory (whether the server runs or not):
//   <server> user add|passwd|set-role|del|list   the local user store (the `local` back-end),
//                                                ending the sessions and revoking the grants of
//                                                a user who is removed or whose password or
//                                                role changes
//   <server> token create --role R               an API token, printed once
// fogkeepd and fogkeep-director register the same commands, so they read and behave the same.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "access/auth_config.h"
#include "core/error.h"

namespace CLI {
class App;
}

namespace fogkeep::access {

// Revokes every grant `user` holds on the server besides its sessions (the director: the
// user's OAuth refresh-token families, and with them their access tokens), returning how many
// it revoked now. Must work whether the server runs or not.
using GrantRevoker = std::function<Result<std::int64_t>(const std::string& user)>;

class AdminCommands {
 public:
  // Adds `user` and `token` subcommands to `app`; `server` names the program in messages.
  void Register(CLI::App& app, std::string_view server);
  // Whether one of them was given on the command line (after parsing).
  bool parsed() const;
  // Runs the one that was given, on the server's resolved data directory and `auth:` settings.
  // `revoke_grants`, when the server issues grants besides sessions, runs after the sessions
  // of a removed user, or of one whose password or role changed, are ended.
  Status Run(const std::string& data_dir, const AuthSettings& auth,
             const GrantRevoker& revoke_grants = nullptr);

 private:
  Status RunUsers(const std::string& data_dir, const AuthSettings& auth,
                  const GrantRevoker& revoke_grants);
  Status CreateApiToken(const std::string& data_dir);
  Result<std::string> Password() const;
  // Ends the sessions of name_, then revokes its grants with `revoke_grants` when given, and
  // reports how many of each after `done` ("removed user alice").
  Status EndCredentials(const std::string& data_dir, const AuthSettings& auth,
                        const GrantRevoker& revoke_grants, const std::string& done) const;

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
