// AuthChain over scripted back-ends: order, fall-through on errors and refusals,
// stop_on_reject, role checks, and one uniform answer.
#include "auth/chain.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>

namespace fogkeep::auth {
namespace {

// A back-end that answers from a script and counts its calls.
class ScriptedBackend : public AuthBackend {
 public:
  using Script = std::function<Result<AuthOutcome>(std::string_view user, std::string_view pw)>;
  explicit ScriptedBackend(Script script) : script_(std::move(script)) {}
  Result<AuthOutcome> Authenticate(std::string_view user, std::string_view password,
                                   std::string_view) override {
    ++calls;
    return script_(user, password);
  }
  std::atomic<int> calls{0};

 private:
  Script script_;
};

// Knows one user with one password and role; refuses others as unknown.
std::shared_ptr<ScriptedBackend> Knows(std::string user, std::string password, std::string role) {
  return std::make_shared<ScriptedBackend>(
      [=](std::string_view u, std::string_view p) -> Result<AuthOutcome> {
        if (u != user) return AuthOutcome{.reason = "unknown user", .user_unknown = true};
        if (p != password) return AuthOutcome{.reason = "wrong password"};
        return AuthOutcome{.accepted = true, .role = role, .reason = "ok"};
      });
}
// Refuses everyone without saying whether it knows them (as RADIUS does).
std::shared_ptr<ScriptedBackend> RejectsAll() {
  return std::make_shared<ScriptedBackend>(
      [](std::string_view, std::string_view) -> Result<AuthOutcome> {
        return AuthOutcome{.reason = "Access-Reject"};
      });
}
std::shared_ptr<ScriptedBackend> Down() {
  return std::make_shared<ScriptedBackend>(
      [](std::string_view, std::string_view) -> Result<AuthOutcome> {
        return Fail(ErrorCode::kUnavailable, "no answer from 192.0.2.1:1812");
      });
}

std::unique_ptr<AuthChain> Chain(std::vector<ChainLink> links, ChainOptions options = {}) {
  auto chain = AuthChain::Create(std::move(links), options);
  EXPECT_TRUE(chain) << chain.error().message();
  return std::move(*chain);
}

void ExpectInvalidCredentials(const Result<Identity>& r) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.error().message(), "invalid credentials");
}

TEST(ChainTest, FirstAcceptanceWinsInOrder) {
  auto local = Knows("alice", "pw-local", "admin");
  auto radius = Knows("alice", "pw-radius", "auditor");
  auto chain = Chain({{"local", local}, {"radius", radius}});
  auto a = chain->Authenticate("alice", "pw-local", "192.0.2.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->role, "admin");
  EXPECT_EQ(a->backend, "local");
  EXPECT_EQ(radius->calls, 0);
  // Refused by local (wrong password), accepted by radius: by default the chain goes on.
  ChainTrace trace;
  auto b = chain->Authenticate("alice", "pw-radius", "192.0.2.1", &trace);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->role, "auditor");
  EXPECT_EQ(b->backend, "radius");
  ASSERT_EQ(trace.steps.size(), 2u);
  EXPECT_EQ(trace.steps[0].verdict, ChainTrace::Verdict::kRefused);
  EXPECT_EQ(trace.steps[1].verdict, ChainTrace::Verdict::kAccepted);
}

TEST(ChainTest, OrderIsTheConfiguredOne) {
  auto local = Knows("alice", "pw", "admin");
  auto radius = Knows("alice", "pw", "auditor");
  auto chain = Chain({{"radius", radius}, {"local", local}});
  auto a = chain->Authenticate("alice", "pw", "");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->backend, "radius");
  EXPECT_EQ(a->role, "auditor");
  EXPECT_EQ(local->calls, 0);
}

TEST(ChainTest, UnavailableBackendFallsThrough) {
  auto radius = Down();
  auto local = Knows("alice", "pw", "network-manager");
  auto chain = Chain({{"radius", radius}, {"local", local}}, {.stop_on_reject = true});
  ChainTrace trace;
  auto a = chain->Authenticate("alice", "pw", "", &trace);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->backend, "local");
  EXPECT_EQ(trace.steps[0].verdict, ChainTrace::Verdict::kError);
  EXPECT_NE(trace.Summary().find("radius: error (no answer from 192.0.2.1:1812)"),
            std::string::npos)
      << trace.Summary();
}

TEST(ChainTest, StopOnRejectEndsAtARefusalByABackendThatKnowsTheUser) {
  auto radius = RejectsAll();
  auto local = Knows("alice", "stale", "admin");
  auto stopping = Chain({{"radius", radius}, {"local", local}}, {.stop_on_reject = true});
  ChainTrace trace;
  ExpectInvalidCredentials(stopping->Authenticate("alice", "stale", "", &trace));
  EXPECT_EQ(local->calls, 0) << "a RADIUS reject must not be overridden by a local password";
  EXPECT_TRUE(trace.decided());
  // A back-end that says it does not know the user lets the chain go on even then.
  auto local_first =
      Chain({{"local", Knows("bob", "x", "admin")}, {"pam", Knows("alice", "pw", "auditor")}},
            {.stop_on_reject = true});
  auto a = local_first->Authenticate("alice", "pw", "");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->backend, "pam");
  // Without stop_on_reject the reject falls through.
  auto going_on = Chain({{"radius", RejectsAll()}, {"local", local}});
  auto b = going_on->Authenticate("alice", "stale", "");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->backend, "local");
}

TEST(ChainTest, AcceptanceWithoutAKnownRoleIsARefusal) {
  auto no_role = std::make_shared<ScriptedBackend>(
      [](std::string_view, std::string_view) -> Result<AuthOutcome> {
        return AuthOutcome{.accepted = true, .role = "", .reason = "Access-Accept"};
      });
  auto odd_role = std::make_shared<ScriptedBackend>(
      [](std::string_view, std::string_view) -> Result<AuthOutcome> {
        return AuthOutcome{.accepted = true, .role = "root", .reason = "mapped"};
      });
  ChainTrace trace;
  ExpectInvalidCredentials(
      Chain({{"radius", no_role}, {"pam", odd_role}})->Authenticate("alice", "pw", "", &trace));
  ASSERT_EQ(trace.steps.size(), 2u);
  EXPECT_EQ(trace.steps[0].detail, "accepted without a role");
  EXPECT_EQ(trace.steps[1].detail, "accepted with unknown role root");
  // Such a refusal is the user's back-end speaking: with stop_on_reject it ends the chain.
  auto local = Knows("alice", "pw", "admin");
  ExpectInvalidCredentials(Chain({{"radius", no_role}, {"local", local}}, {.stop_on_reject = true})
                               ->Authenticate("alice", "pw", ""));
  EXPECT_EQ(local->calls, 0);
}

TEST(ChainTest, EveryFailureLooksTheSame) {
  auto chain = Chain({{"local", Knows("alice", "pw", "admin")}, {"radius", Down()}});
  ChainTrace unknown_trace;
  ChainTrace wrong_trace;
  auto unknown = chain->Authenticate("mallory", "pw", "", &unknown_trace);
  auto wrong = chain->Authenticate("alice", "nope", "", &wrong_trace);
  ExpectInvalidCredentials(unknown);
  ExpectInvalidCredentials(wrong);
  // Only the trace tells them apart.
  EXPECT_TRUE(unknown_trace.steps[0].user_unknown);
  EXPECT_FALSE(wrong_trace.steps[0].user_unknown);
  // Every back-end down: the same answer, and nothing decided (not a guess for lockout).
  ChainTrace down_trace;
  ExpectInvalidCredentials(
      Chain({{"radius", Down()}})->Authenticate("alice", "pw", "", &down_trace));
  EXPECT_FALSE(down_trace.decided());
}

TEST(ChainTest, RejectsBadLinks) {
  EXPECT_FALSE(AuthChain::Create({}));
  EXPECT_FALSE(AuthChain::Create({{"local", nullptr}}));
  EXPECT_FALSE(AuthChain::Create({{"", Down()}}));
  EXPECT_FALSE(AuthChain::Create({{"local", Down()}, {"local", Down()}}));
}

}  // namespace
}  // namespace fogkeep::auth
