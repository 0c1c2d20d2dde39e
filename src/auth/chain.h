// AuthChain: the login back-ends in their configured order ("local, radius, pam").
//
// Semantics, as enterprise AAA method lists work:
//   - Back-ends are asked in order. The first that accepts the password with a known fogkeep
//     role wins; the session records which one it was.
//   - A back-end that cannot decide (an error: server unreachable, forged answers, a store it
//     cannot read) is skipped: the next one is asked.
//   - A refusal goes on to the next back-end by default. With stop_on_reject, a refusal from a
//     back-end that does not say it lacks the user (AuthOutcome::user_unknown) ends the chain:
//     a RADIUS reject then cannot be overridden by a stale local password, as with Cisco's
//     "aaa authentication login" lists. Note the cost: with stop_on_reject, a name known to
//     an early back-end is refused sooner than an unknown one, so timing can tell them apart
//     when later back-ends are slower.
//   - An acceptance without a role, or with a role fogkeep does not know, is a refusal by the
//     user's back-end (the mapping is the administrator's to fix).
// Callers get Identity or kUnauthenticated "invalid credentials", whatever happened; what each
// back-end said goes only to the ChainTrace, for the audit log and the operator's logs.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/backend.h"
#include "core/error.h"

namespace fogkeep::auth {

struct ChainLink {
  std::string name;  // "local", "radius", "pam": shown in traces and recorded in sessions
  std::shared_ptr<AuthBackend> backend;
};

struct ChainOptions {
  bool stop_on_reject = false;
};

// Who logged in, and through which back-end.
struct Identity {
  std::string user;
  std::string role;
  std::string backend;
};

// What each back-end asked said, in order. Never shown to the person logging in.
struct ChainTrace {
  enum class Verdict { kAccepted, kRefused, kError };
  struct Step {
    std::string backend;
    Verdict verdict = Verdict::kRefused;
    bool user_unknown = false;
    std::string detail;  // the back-end's reason, or the error message
  };
  std::vector<Step> steps;

  // Whether some back-end gave a verdict (not only errors): a login where none did is not a
  // guess and should not count towards lockout.
  bool decided() const;
  // One line for logs: "local: refused (unknown user); radius: error (timeout)".
  std::string Summary() const;
};

class AuthChain {
 public:
  // kInvalidInput for no links, a link without a back-end or name, or two links of one name.
  static Result<std::unique_ptr<AuthChain>> Create(std::vector<ChainLink> links,
                                                   ChainOptions options = {});

  // Asks the back-ends as described above. `trace`, when given, receives every step.
  // Thread-safe as far as the back-ends are (AuthBackend requires it).
  Result<Identity> Authenticate(std::string_view user, std::string_view password,
                                std::string_view source_address, ChainTrace* trace = nullptr) const;

 private:
  AuthChain(std::vector<ChainLink> links, ChainOptions options)
      : links_(std::move(links)), options_(options) {}

  // Constant after construction.
  const std::vector<ChainLink> links_;
  const ChainOptions options_;
};

}  // namespace fogkeep::auth
