#include "auth/chain.h"

#include "auth/roles.h"

namespace fogkeep::auth {

bool ChainTrace::decided() const {
  for (const Step& step : steps) {
    if (step.verdict != Verdict::kError) return true;
  }
  return false;
}

std::string ChainTrace::Summary() const {
  std::string out;
  for (const Step& step : steps) {
    if (!out.empty()) out += "; ";
    out += step.backend + ": ";
    switch (step.verdict) {
      case Verdict::kAccepted:
        out += "accepted";
        break;
      case Verdict::kRefused:
        out += "refused";
        break;
      case Verdict::kError:
        out += "error";
        break;
    }
    if (!step.detail.empty()) out += " (" + step.detail + ")";
  }
  return out.empty() ? "no back-end asked" : out;
}

Result<std::unique_ptr<AuthChain>> AuthChain::Create(std::vector<ChainLink> links,
                                                     ChainOptions options) {
  if (links.empty()) return Fail(ErrorCode::kInvalidInput, "login chain: no back-ends");
  for (std::size_t i = 0; i < links.size(); ++i) {
    if (links[i].name.empty() || links[i].backend == nullptr) {
      return Fail(ErrorCode::kInvalidInput, "login chain: a back-end without a name or object");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (links[j].name == links[i].name) {
        return Fail(ErrorCode::kInvalidInput,
                    "login chain: back-end " + links[i].name + " listed twice");
      }
    }
  }
  return std::unique_ptr<AuthChain>(new AuthChain(std::move(links), options));
}

Result<Identity> AuthChain::Authenticate(std::string_view user, std::string_view password,
                                         std::string_view source_address, ChainTrace* trace) const {
  ChainTrace local;
  ChainTrace& steps = trace != nullptr ? *trace : local;
  steps.steps.clear();
  for (const ChainLink& link : links_) {
    ChainTrace::Step step{.backend = link.name};
    Result<AuthOutcome> outcome = link.backend->Authenticate(user, password, source_address);
    if (!outcome) {
      step.verdict = ChainTrace::Verdict::kError;
      step.detail = outcome.error().message();
      steps.steps.push_back(std::move(step));
      continue;
    }
    step.user_unknown = outcome->user_unknown;
    step.detail = outcome->reason;
    if (outcome->accepted && IsKnownRole(outcome->role)) {
      step.verdict = ChainTrace::Verdict::kAccepted;
      steps.steps.push_back(std::move(step));
      return Identity{std::string(user), outcome->role, link.name};
    }
    step.verdict = ChainTrace::Verdict::kRefused;
    if (outcome->accepted) {
      step.user_unknown = false;
      step.detail = outcome->role.empty() ? "accepted without a role"
                                          : "accepted with unknown role " + outcome->role;
    }
    const bool stop = options_.stop_on_reject && !step.user_unknown;
    steps.steps.push_back(std::move(step));
    if (stop) break;
  }
  return Fail(ErrorCode::kUnauthenticated, "invalid credentials");
}

}  // namespace fogkeep::auth
