// The AuthBackend contract (auth/backend.h), checked the same way for every back-end: the
// local store here, PAM in tests/integration/auth, each with a user it set up.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "auth/backend.h"

namespace fogkeep::auth::test {

struct BackendFixtureUser {
  std::string name;
  std::string password;
  std::string role;     // the role the back-end must give
  std::string unknown;  // a name the back-end does not know
};

inline void ExpectBackendContract(AuthBackend& backend, const BackendFixtureUser& u) {
  SCOPED_TRACE("backend contract for " + u.name);
  auto right = backend.Authenticate(u.name, u.password, "192.0.2.10");
  ASSERT_TRUE(right) << right.error().message();
  EXPECT_TRUE(right->accepted) << right->reason;
  EXPECT_EQ(right->role, u.role);

  auto wrong = backend.Authenticate(u.name, u.password + "x", "192.0.2.10");
  ASSERT_TRUE(wrong) << wrong.error().message();
  EXPECT_FALSE(wrong->accepted);
  EXPECT_TRUE(wrong->role.empty());
  EXPECT_FALSE(wrong->user_unknown);
  EXPECT_FALSE(wrong->reason.empty());

  auto unknown = backend.Authenticate(u.unknown, u.password, "192.0.2.10");
  ASSERT_TRUE(unknown) << unknown.error().message();
  EXPECT_FALSE(unknown->accepted);
  EXPECT_TRUE(unknown->role.empty());

  // Hostile or empty input is a refusal, never an error or a crash.
  for (const std::string& name :
       {std::string(), std::string("a\0b", 3), std::string(300, 'a'), std::string("x\ny")}) {
    auto odd = backend.Authenticate(name, u.password, "192.0.2.10");
    ASSERT_TRUE(odd) << odd.error().message();
    EXPECT_FALSE(odd->accepted);
  }
  auto empty = backend.Authenticate(u.name, "", "192.0.2.10");
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_FALSE(empty->accepted);

  // Safe from several threads at once.
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2; ++i) {
        auto r = backend.Authenticate(u.name, u.password, "192.0.2.11");
        if (r && r->accepted && r->role == u.role) ++accepted;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 8);
}

}  // namespace fogkeep::auth::test
