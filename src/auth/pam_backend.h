// PamBackend: logins through the host's PAM stack (libpam), as an AuthBackend.
//
// Each login runs one PAM transaction on the configured service: pam_start with the user,
// PAM_RHOST set to the source address, pam_authenticate (PAM_SILENT |
// PAM_DISALLOW_NULL_AUTHTOK), then pam_acct_mgmt unless disabled (expired or locked accounts).
// The conversation answers exactly one password prompt (PAM_PROMPT_ECHO_OFF) with the
// password and nothing else: a second secret prompt or any echoed prompt (an OTP, a new
// password) fails the conversation, and the login with it. The copies of the password that
// fogkeep makes are zeroed before they are freed. PAM's own failure delay is switched off
// (PAM_FAIL_DELAY): LoginThrottle does backoff, without parking a server thread.
//
// Role: the user name PAM ends up with (PAM_USER) is looked up in the group database; the
// first `group_roles` entry, in order, whose group the user belongs to (primary group,
// supplementary groups, or the group's member list for users without a passwd entry) gives
// the role. A user in none of them gets `default_role`, or is refused when that is empty.
//
// The service file must exist in `pam_config_dir`: libpam would otherwise quietly use the
// "other" service, which on Debian authenticates against the system's own accounts.
//
// PAM modules are not all thread-safe (some use crypt() or non-reentrant NSS calls), so
// transactions run one at a time.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "auth/backend.h"
#include "core/error.h"

namespace fogkeep::auth {

struct PamGroupRole {
  std::string group;
  std::string role;
};

struct PamOptions {
  std::string service = "fogkeep";  // the file /etc/pam.d/<service>
  std::vector<PamGroupRole> group_roles;
  std::string default_role;  // for authenticated users in no mapped group; empty: refuse them
  bool check_account = true;
  std::string pam_config_dir = "/etc/pam.d";
};

class PamBackend : public AuthBackend {
 public:
  // kInvalidInput for a service name that is not [A-Za-z0-9._-]+, a mapping with an empty
  // group or an unknown role, or an unknown default role; kNotFound when the service file is
  // missing.
  static Result<std::unique_ptr<PamBackend>> Create(PamOptions options);

  // Refusals: PAM refused the password or the account, the user is unknown to PAM
  // (user_unknown), the name or password cannot be given to PAM (empty name, NUL, control
  // characters, over-long), or no role applies. Errors: PAM could not decide
  // (PAM_AUTHINFO_UNAVAIL, a conversation PAM wanted beyond one password, a broken stack).
  Result<AuthOutcome> Authenticate(std::string_view user, std::string_view password,
                                   std::string_view source_address) override;

 private:
  explicit PamBackend(PamOptions options) : options_(std::move(options)) {}
  // The role of `user` by group membership; empty when none applies.
  std::string RoleOf(const std::string& user) const;

  // Constant after construction.
  const PamOptions options_;

  std::mutex mu_;  // held for the whole PAM transaction
};

}  // namespace fogkeep::auth
