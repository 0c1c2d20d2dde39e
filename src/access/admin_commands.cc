#include "access/admin_commands.h"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "access/auth_token.h"
#include "auth/roles.h"
#include "core/fs.h"
#include "core/secret_input.h"

namespace fogkeep::access {

void AdminCommands::Register(CLI::App& app, std::string_view server) {
  server_ = std::string(server);
  auto* user = app.add_subcommand(
      "user",
      "Manage local users (the `local` login back-end; the file auth.local.users-file,\n"
      "default DATA-DIR/users). Passwords are prompted for twice without echo, or read\n"
      "from the first line of stdin when it is not a terminal or with --password-stdin.");
  user->require_subcommand(1);
  const std::string roles = "admin, app-manager, network-manager or auditor";
  add_ = user->add_subcommand("add", "Add a user");
  add_->add_option("name", name_, "User name ([a-z0-9._-], at most 64)")->required();
  add_->add_option("--role", role_, roles)->required();
  passwd_ = user->add_subcommand(
      "passwd", "Set a user's password; ends the user's sessions (and a director's OAuth grants)");
  passwd_->add_option("name", name_, "User name")->required();
  set_role_ = user->add_subcommand(
      "set-role", "Change a user's role; ends the user's sessions (and a director's OAuth grants)");
  set_role_->add_option("name", name_, "User name")->required();
  set_role_->add_option("--role", role_, roles)->required();
  for (CLI::App* command : {add_, passwd_}) {
    command->add_flag("--password-stdin", password_stdin_,
                      "Ask once (for scripts that pipe the password in)");
  }
  del_ = user->add_subcommand(
      "del", "Remove a user; ends the user's sessions (and a director's OAuth grants)");
  del_->add_option("name", name_, "User name")->required();
  list_ = user->add_subcommand("list", "List users, their roles and hash costs");
  list_->add_flag("--json", json_, "JSON output");

  auto* token = app.add_subcommand("token", "Manage API bearer tokens")->require_subcommand(1);
  token_create_ = token->add_subcommand("create", "Create a token; prints it once");
  token_create_->add_option("--role", role_, roles)->required();
}

bool AdminCommands::parsed() const {
  for (const CLI::App* command : {add_, passwd_, set_role_, del_, list_, token_create_}) {
    if (command != nullptr && command->parsed()) return true;
  }
  return false;
}

Status AdminCommands::Run(const std::string& data_dir, const AuthSettings& auth,
                          const GrantRevoker& revoke_grants) {
  FK_TRY(fs::MakeDirs(data_dir, 0711));
  if (token_create_->parsed()) return CreateApiToken(data_dir);
  return RunUsers(data_dir, auth, revoke_grants);
}

Status AdminCommands::CreateApiToken(const std::string& data_dir) {
  const std::string token = FK_TRY(CreateToken(TokensFile(data_dir), role_));
  std::cout << token << "\n";
  std::cerr << server_ << ": token for role " << role_
            << " created; it is shown only now (only its SHA-256 is stored)\n";
  return {};
}

Status AdminCommands::RunUsers(const std::string& data_dir, const AuthSettings& auth,
                               const GrantRevoker& revoke_grants) {
  auto users = FK_TRY(OpenLocalUsers(auth, data_dir));
  if (list_->parsed()) {
    const auto all = FK_TRY(users->List());
    if (json_) {
      boost::json::array out;
      for (const auto& u : all) {
        out.push_back(
            boost::json::object{{"name", u.name},
                                {"role", u.role},
                                {"argon2", boost::json::object{{"memory_kib", u.argon2.memory_kib},
                                                               {"iterations", u.argon2.passes},
                                                               {"parallelism", u.argon2.lanes}}}});
      }
      std::cout << boost::json::serialize(out) << "\n";
      return {};
    }
    std::printf("%-24s %-16s %s\n", "NAME", "ROLE", "ARGON2ID (m KiB, t, p)");
    for (const auto& u : all) {
      std::printf("%-24s %-16s %u, %u, %u\n", u.name.c_str(), u.role.c_str(), u.argon2.memory_kib,
                  u.argon2.passes, u.argon2.lanes);
    }
    return {};
  }
  if (add_->parsed()) {
    FK_TRY(auth::ValidateUserName(name_));
    if (!auth::IsKnownRole(role_)) return Fail(ErrorCode::kInvalidInput, "unknown role " + role_);
    const std::string password = FK_TRY(Password());
    FK_TRY(users->Add(name_, role_, password));
    std::cout << "added user " << name_ << " (" << role_ << ")\n";
    return {};
  }
  if (passwd_->parsed()) {
    const std::string password = FK_TRY(Password());
    FK_TRY(users->SetPassword(name_, password));
    return EndCredentials(data_dir, auth, revoke_grants, "password of " + name_ + " changed");
  }
  if (set_role_->parsed()) {
    FK_TRY(users->SetRole(name_, role_));
    return EndCredentials(data_dir, auth, revoke_grants, name_ + " is now " + role_);
  }
  FK_TRY(users->Remove(name_));
  return EndCredentials(data_dir, auth, revoke_grants, "removed user " + name_);
}

// From the terminal without echo, twice; or stdin's first line (core/secret_input.h).
Result<std::string> AdminCommands::Password() const {
  return ReadSecret("Password for " + name_ + ": ", /*confirm=*/!password_stdin_);
}

Status AdminCommands::EndCredentials(const std::string& data_dir, const AuthSettings& auth,
                                     const GrantRevoker& revoke_grants,
                                     const std::string& done) const {
  auto sessions = FK_TRY(auth::SessionStore::Open(SessionsFile(data_dir), auth.sessions));
  const int ended = FK_TRY(sessions->RevokeUser(name_));
  std::string report = done + "; " + std::to_string(ended) + " session(s) ended";
  if (revoke_grants) {
    // The change is made and the sessions are gone: an error says so, since running the
    // command again may not be possible (a removed user is not found any more).
    const std::int64_t revoked =
        FK_TRY_CTX(revoke_grants(name_), report + "; revoking the grants of " + name_);
    report += ", " + std::to_string(revoked) + " grant(s) revoked";
  }
  std::cout << report << "\n";
  return {};
}

}  // namespace fogkeep::access
