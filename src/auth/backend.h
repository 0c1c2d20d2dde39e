// AuthBackend: one way of checking a login (local password store, RADIUS, PAM). The HTTP layer
// and the CLI talk to back-ends only through this interface, so a new one plugs in without
// touching its callers.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::auth {

// The answer to one login attempt that the back-end could decide.
struct AuthOutcome {
  bool accepted = false;
  // fogkeep role of an accepted user ("admin", "app-manager", ...); empty when not accepted.
  std::string role;
  // Why the attempt was refused (or a note on an accepted one), for the audit log and the
  // operator's logs; never shown to the person logging in, who must get identical answers
  // for unknown users and wrong passwords.
  std::string reason;
  // Set on a refusal when the back-end knows that `user` does not exist in it (a local user
  // store, PAM_USER_UNKNOWN). A chain configured to stop at a refusal still goes on to the
  // next back-end after such a one (auth/chain.h). Back-ends that cannot tell (RADIUS answers
  // Access-Reject alike for both) leave it false: their refusal counts as the user's.
  bool user_unknown = false;
};

class AuthBackend {
 public:
  virtual ~AuthBackend() = default;

  // Checks `password` for `user`, who connects from `source_address` (for the back-end's
  // logs and policies; lockout is the caller's job). A refused login is a value with
  // accepted == false, not an error; an error means the back-end could not decide (server
  // unreachable, forged or malformed answers, bad configuration) and the login must fail.
  // Safe to call from several threads at once.
  virtual Result<AuthOutcome> Authenticate(std::string_view user, std::string_view password,
                                           std::string_view source_address) = 0;
};

}  // namespace fogkeep::auth
