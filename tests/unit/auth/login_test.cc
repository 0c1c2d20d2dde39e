// LoginService end to end over real parts: a local user store, the throttle with a fake
// clock, and an in-memory session store.
#include "auth/login.h"

#include <gtest/gtest.h>

#include <chrono>

#include "auth/local_users.h"
#include "support/support.h"

namespace fogkeep::auth {
namespace {

using namespace std::chrono_literals;

class LoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto users = LocalUserStore::Open(dir_ / "users",
                                      {.argon2 = {.memory_kib = 64, .passes = 1, .lanes = 1}});
    ASSERT_TRUE(users) << users.error().message();
    users_ = std::move(*users);
    ASSERT_TRUE(users_->Add("alice", "app-manager", "alice password 1"));
    auto chain = AuthChain::Create({{"local", users_}});
    ASSERT_TRUE(chain);
    LoginThrottleConfig config;
    config.per_user.free_failures = 2;
    config.per_user.lockout_failures = 4;
    auto throttle = LoginThrottle::Create(config, [this] { return now_; });
    ASSERT_TRUE(throttle);
    throttle_ = std::move(*throttle);
    auto sessions = SessionStore::Open(":memory:");
    ASSERT_TRUE(sessions);
    service_ = std::make_unique<LoginService>(std::move(*chain), throttle_, std::move(*sessions));
  }

  testing::TempDir dir_;
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
  std::shared_ptr<LocalUserStore> users_;
  std::shared_ptr<LoginThrottle> throttle_;
  std::unique_ptr<LoginService> service_;
};

// Accepts every password, but the user's sessions are revoked while it decides, as when an
// administrator changes the password during a slow RADIUS round trip.
class RevokedWhileCheckingBackend : public AuthBackend {
 public:
  Result<AuthOutcome> Authenticate(std::string_view user, std::string_view,
                                   std::string_view) override {
    FK_TRY(sessions->RevokeUser(user));
    return AuthOutcome{.accepted = true, .role = "admin"};
  }
  SessionStore* sessions = nullptr;
};

TEST(LoginRaceTest, AUserRevokedDuringTheCheckGetsNoSession) {
  auto backend = std::make_shared<RevokedWhileCheckingBackend>();
  auto chain = AuthChain::Create({{"slow", backend}});
  auto throttle = LoginThrottle::Create();
  auto sessions = SessionStore::Open(":memory:");
  ASSERT_TRUE(chain && throttle && sessions);
  LoginService service(std::move(*chain), std::move(*throttle), std::move(*sessions));
  backend->sessions = &service.sessions();
  auto tokens = service.Login("alice", "old password", "192.0.2.1");
  ASSERT_FALSE(tokens);
  EXPECT_EQ(tokens.error().message(), "invalid credentials");
  EXPECT_TRUE(service.sessions().List("alice")->empty());
}

TEST_F(LoginTest, SuccessStartsASession) {
  LoginReport report;
  auto tokens = service_->Login("alice", "alice password 1", "192.0.2.1", &report);
  ASSERT_TRUE(tokens) << tokens.error().message();
  EXPECT_EQ(tokens->session.user, "alice");
  EXPECT_EQ(tokens->session.role, "app-manager");
  EXPECT_EQ(tokens->session.backend, "local");
  EXPECT_EQ(tokens->session.source, "192.0.2.1");
  auto session = service_->sessions().Authenticate(tokens->access_token);
  ASSERT_TRUE(session);
  EXPECT_EQ(session->role, "app-manager");
  EXPECT_EQ(report.trace.Summary(), "local: accepted (local password)");
}

TEST_F(LoginTest, UnknownUserAndWrongPasswordGetOneAnswer) {
  auto wrong = service_->Login("alice", "not the password", "192.0.2.1");
  auto unknown = service_->Login("mallory", "not the password", "192.0.2.2");
  ASSERT_FALSE(wrong);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(wrong.error().code(), unknown.error().code());
  EXPECT_EQ(wrong.error().message(), unknown.error().message());
  EXPECT_EQ(wrong.error().message(), "invalid credentials");
}

TEST_F(LoginTest, FailuresLeadToBackoffThenLockoutForKnownAndUnknownAlike) {
  for (std::string_view user : {"alice", "mallory"}) {
    SCOPED_TRACE(user);
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(service_->Login(user, "guess", "192.0.2.1"));
    EXPECT_FALSE(service_->Login(user, "guess", "192.0.2.1"));  // third failure: 1 s backoff
    LoginReport report;
    auto throttled = service_->Login(user, "alice password 1", "192.0.2.1", &report);
    ASSERT_FALSE(throttled);
    EXPECT_EQ(throttled.error().code(), ErrorCode::kLimit);
    EXPECT_EQ(throttled.error().message(), "too many failed login attempts; try again in 1 s");
    EXPECT_EQ(report.retry_after, 1000ms);
    EXPECT_TRUE(report.trace.steps.empty()) << "the password was not even checked";
  }
  // The fourth failure locks alice for the default 15 minutes, even with the right password.
  now_ += 1s;
  EXPECT_FALSE(service_->Login("alice", "guess", "192.0.2.1"));
  now_ += 14min;
  auto locked = service_->Login("alice", "alice password 1", "198.51.100.9");
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code(), ErrorCode::kLimit);
  now_ += 1min;
  EXPECT_TRUE(service_->Login("alice", "alice password 1", "198.51.100.9"));
  // Success cleared alice's record.
  EXPECT_EQ(throttle_->tracked_users(), 1u);  // mallory's remains
}

}  // namespace
}  // namespace fogkeep::auth
