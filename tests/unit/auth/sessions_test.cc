// SessionStore with a fake clock: token shape, expiry, idle timeout, rotation and reuse
// detection, logout and revocation, persistence across reopening, and tampered tokens.
#include "auth/sessions.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "core/fs.h"
#include "core/sqlite.h"
#include "support/support.h"

namespace fogkeep::auth {
namespace {

using namespace std::chrono_literals;

class SessionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<SessionStore> Open(SessionOptions options = Options()) {
    auto store = SessionStore::Open(path_, options, [this] { return now_; });
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }
  static SessionOptions Options() {
    return {.access_ttl = 5min,
            .idle_timeout = 20min,
            .max_lifetime = 2h,
            .touch_interval = 0s,
            .max_sessions_per_user = 4};
  }
  IssuedTokens Login(SessionStore& store, std::string_view user = "alice",
                     std::string_view role = "app-manager") {
    auto issued = store.Create(user, role, "local", "192.0.2.7");
    EXPECT_TRUE(issued) << issued.error().message();
    return issued ? *issued : IssuedTokens{};
  }
  static void ExpectRefused(const Result<Session>& r) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_EQ(r.error().message(), "invalid or expired token");
  }

  testing::TempDir dir_;
  const std::string path_ = dir_ / "sessions.db";
  std::chrono::system_clock::time_point now_{std::chrono::seconds(1'700'000'000)};
};

TEST_F(SessionsTest, LoginGivesTokensBoundToUserAndRole) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  EXPECT_TRUE(t.access_token.starts_with("fka_"));
  EXPECT_TRUE(t.refresh_token.starts_with("fkr_"));
  EXPECT_EQ(t.access_token.size(), 47u);
  EXPECT_EQ(t.refresh_token.size(), 47u);
  EXPECT_TRUE(LooksLikeAccessToken(t.access_token));
  EXPECT_FALSE(LooksLikeAccessToken(t.refresh_token));
  EXPECT_EQ(t.session.id.size(), 32u);
  EXPECT_EQ(t.session.expires, now_ + 5min);
  EXPECT_EQ(t.session.session_expires, now_ + 2h);

  auto s = store->Authenticate(t.access_token);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->user, "alice");
  EXPECT_EQ(s->role, "app-manager");
  EXPECT_EQ(s->backend, "local");
  EXPECT_EQ(s->source, "192.0.2.7");
  EXPECT_EQ(s->id, t.session.id);
  EXPECT_EQ(s->expires, now_ + 5min);
  // A refresh token is not a bearer token.
  ExpectRefused(store->Authenticate(t.refresh_token));
}

TEST_F(SessionsTest, ALoginCheckedBeforeTheUserWasRevokedMakesNoSession) {
  auto store = Open();
  const auto checked = now_;
  now_ += 10ms;
  ASSERT_TRUE(store->RevokeUser("alice"));  // e.g. `fogkeepd user passwd alice`
  now_ += 10ms;
  auto late = store->Create("alice", "app-manager", "local", "192.0.2.7", checked);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(store->List("alice")->empty());
  // A login checked after the revocation, and other users, are not affected.
  EXPECT_TRUE(store->Create("alice", "app-manager", "local", "192.0.2.7", now_));
  EXPECT_TRUE(store->Create("bob", "auditor", "local", "192.0.2.7", checked));
  // The revocation is remembered by other processes (a reopened store) too.
  auto reopened = Open();
  EXPECT_FALSE(reopened->Create("alice", "app-manager", "local", "192.0.2.7", checked));
}

TEST_F(SessionsTest, TokensAreRandomAndStoredOnlyAsDigests) {
  auto store = Open();
  std::set<std::string> seen;
  std::vector<IssuedTokens> all;
  for (int i = 0; i < 4; ++i) {
    all.push_back(Login(*store, "user" + std::to_string(i)));
    EXPECT_TRUE(seen.insert(all.back().access_token).second);
    EXPECT_TRUE(seen.insert(all.back().refresh_token).second);
  }
  store.reset();
  // Nothing in the file (or its WAL) contains a token.
  for (std::string suffix : {"", "-wal"}) {
    auto bytes = fs::ReadFile(path_ + suffix);
    if (!bytes) continue;
    for (const IssuedTokens& t : all) {
      EXPECT_EQ(bytes->find(t.access_token.substr(4)), std::string::npos);
      EXPECT_EQ(bytes->find(t.refresh_token.substr(4)), std::string::npos);
    }
  }
}

TEST_F(SessionsTest, DatabaseIsPrivate) {
  ASSERT_TRUE(fs::WriteFileAtomic(path_, "", 0644));
  auto store = Open();
  Login(*store);
  for (std::string suffix : {"", "-wal", "-shm"}) {
    struct stat st {};
    if (::stat((path_ + suffix).c_str(), &st) != 0) continue;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << suffix;
  }
}

TEST_F(SessionsTest, AccessTokenExpires) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  now_ += 5min - 1s;
  EXPECT_TRUE(store->Authenticate(t.access_token));
  now_ += 1s;
  ExpectRefused(store->Authenticate(t.access_token));
  // The session lives on: the refresh token gets a new access token.
  auto refreshed = store->Refresh(t.refresh_token);
  ASSERT_TRUE(refreshed) << refreshed.error().message();
  EXPECT_TRUE(store->Authenticate(refreshed->access_token));
  EXPECT_EQ(refreshed->session.id, t.session.id);
}

TEST_F(SessionsTest, IdleTimeoutEndsTheSession) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  // Used every four minutes, refreshed when needed: the session stays alive past 20 minutes.
  std::string access = t.access_token;
  std::string refresh = t.refresh_token;
  for (int i = 0; i < 10; ++i) {
    now_ += 4min;
    if (!store->Authenticate(access)) {
      auto r = store->Refresh(refresh);
      ASSERT_TRUE(r) << "step " << i << ": " << r.error().message();
      access = r->access_token;
      refresh = r->refresh_token;
    }
  }
  // Then left alone for the idle timeout: both tokens are dead.
  now_ += 20min;
  ExpectRefused(store->Authenticate(access));
  EXPECT_FALSE(store->Refresh(refresh));
  EXPECT_TRUE(store->List()->empty());
}

TEST_F(SessionsTest, TouchIntervalLimitsWritesButKeepsIdleAccurate) {
  SessionOptions options = Options();
  options.access_ttl = 2h;
  options.touch_interval = 1min;
  auto store = Open(options);
  IssuedTokens t = Login(*store);
  now_ += 30s;
  auto s = store->Authenticate(t.access_token);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->last_used, now_ - 30s);  // not written: within the touch interval
  now_ += 45s;
  s = store->Authenticate(t.access_token);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->last_used, now_);
  now_ += 19min;
  EXPECT_TRUE(store->Authenticate(t.access_token));
}

TEST_F(SessionsTest, MaxLifetimeEndsTheSessionWhateverHappens) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  std::string refresh = t.refresh_token;
  for (int i = 0; i < 23; ++i) {
    now_ += 5min;
    auto r = store->Refresh(refresh);
    ASSERT_TRUE(r) << i;
    refresh = r->refresh_token;
    EXPECT_LE(r->session.expires, t.session.session_expires);
  }
  now_ += 5min;  // 2 h after login
  EXPECT_FALSE(store->Refresh(refresh));
}

TEST_F(SessionsTest, RefreshRotatesAndTheOldRefreshTokenDies) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  now_ += 1min;
  auto r1 = store->Refresh(t.refresh_token);
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_NE(r1->refresh_token, t.refresh_token);
  EXPECT_NE(r1->access_token, t.access_token);
  EXPECT_EQ(r1->session.expires, now_ + 5min);
  // The old access token is replaced too.
  ExpectRefused(store->Authenticate(t.access_token));
  EXPECT_TRUE(store->Authenticate(r1->access_token));
  auto r2 = store->Refresh(r1->refresh_token);
  ASSERT_TRUE(r2);
  EXPECT_TRUE(store->Authenticate(r2->access_token));
}

TEST_F(SessionsTest, ReusingARotatedRefreshTokenRevokesTheSession) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  IssuedTokens other = Login(*store, "bob", "auditor");
  auto rotated = store->Refresh(t.refresh_token);
  ASSERT_TRUE(rotated);
  // Someone replays the old refresh token: refused, and the legitimate holder's new tokens
  // die with the session, since nobody can tell which of the two is the thief.
  auto replay = store->Refresh(t.refresh_token);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code(), ErrorCode::kUnauthenticated);
  ExpectRefused(store->Authenticate(rotated->access_token));
  EXPECT_FALSE(store->Refresh(rotated->refresh_token));
  // Other sessions are untouched.
  EXPECT_TRUE(store->Authenticate(other.access_token));
}

TEST_F(SessionsTest, LogoutEndsTheSession) {
  auto store = Open();
  IssuedTokens a = Login(*store);
  IssuedTokens b = Login(*store);
  ASSERT_TRUE(store->Logout(a.access_token));
  ExpectRefused(store->Authenticate(a.access_token));
  EXPECT_FALSE(store->Refresh(a.refresh_token));
  EXPECT_FALSE(store->Logout(a.access_token));
  // Logging out with the refresh token works as well; the other session of the user is kept
  // until then.
  EXPECT_TRUE(store->Authenticate(b.access_token));
  ASSERT_TRUE(store->Logout(b.refresh_token));
  ExpectRefused(store->Authenticate(b.access_token));
  EXPECT_FALSE(store->Logout("fka_nonsense"));
}

TEST_F(SessionsTest, AdminRevokesSessions) {
  auto store = Open();
  IssuedTokens a1 = Login(*store, "alice");
  IssuedTokens a2 = Login(*store, "alice");
  IssuedTokens b = Login(*store, "bob", "auditor");
  auto listed = store->List();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 3u);
  EXPECT_EQ(store->List("alice")->size(), 2u);

  ASSERT_TRUE(store->Revoke(a1.session.id));
  ExpectRefused(store->Authenticate(a1.access_token));
  EXPECT_TRUE(store->Authenticate(a2.access_token));
  EXPECT_EQ(store->Revoke(a1.session.id).error().code(), ErrorCode::kNotFound);

  auto revoked = store->RevokeUser("alice");
  ASSERT_TRUE(revoked);
  EXPECT_EQ(*revoked, 1);
  ExpectRefused(store->Authenticate(a2.access_token));
  EXPECT_TRUE(store->Authenticate(b.access_token));
  EXPECT_EQ(*store->RevokeUser("nobody"), 0);
}

TEST_F(SessionsTest, SessionsSurviveReopening) {
  IssuedTokens t;
  {
    auto store = Open();
    t = Login(*store);
  }
  now_ += 1min;
  auto store = Open();
  auto s = store->Authenticate(t.access_token);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->user, "alice");
  EXPECT_EQ(s->role, "app-manager");
  auto r = store->Refresh(t.refresh_token);
  ASSERT_TRUE(r);
  store.reset();
  // A revocation by another process (the CLI) is seen at once by the daemon's store.
  auto daemon = Open();
  auto cli = Open();
  ASSERT_TRUE(cli->RevokeUser("alice"));
  ExpectRefused(daemon->Authenticate(r->access_token));
}

TEST_F(SessionsTest, TamperedTokensAreRefused) {
  auto store = Open();
  IssuedTokens t = Login(*store);
  std::string flipped = t.access_token;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  ExpectRefused(store->Authenticate(flipped));
  ExpectRefused(store->Authenticate(t.access_token.substr(0, 46)));
  ExpectRefused(store->Authenticate(t.access_token + "A"));
  ExpectRefused(store->Authenticate("fkr_" + t.access_token.substr(4)));
  ExpectRefused(store->Authenticate(""));
  ExpectRefused(store->Authenticate(std::string(47, '\0')));
  ExpectRefused(store->Authenticate("fka_" + std::string(43, '=')));
  ExpectRefused(store->Authenticate("fka_' OR 1=1 --" + std::string(28, 'a')));
  EXPECT_FALSE(store->Refresh(t.refresh_token.substr(0, 46) + "x"));
  // The real one still works.
  EXPECT_TRUE(store->Authenticate(t.access_token));
}

TEST_F(SessionsTest, SessionsPerUserAreBounded) {
  auto store = Open();
  std::vector<IssuedTokens> logins;
  for (int i = 0; i < 6; ++i) {
    logins.push_back(Login(*store));
    now_ += 1s;
  }
  EXPECT_EQ(store->List("alice")->size(), 4u);
  // The two least recently used are gone.
  ExpectRefused(store->Authenticate(logins[0].access_token));
  ExpectRefused(store->Authenticate(logins[1].access_token));
  EXPECT_TRUE(store->Authenticate(logins[5].access_token));
}

TEST_F(SessionsTest, PurgeDeletesEndedSessions) {
  auto store = Open();
  Login(*store);
  Login(*store, "bob", "auditor");
  now_ += 21min;
  auto purged = store->PurgeEnded();
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 2);
}

TEST_F(SessionsTest, RejectsBadInput) {
  auto store = Open();
  EXPECT_EQ(store->Create("", "admin", "local", "").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(store->Create("alice", "root", "local", "").error().code(), ErrorCode::kInvalidInput);
  SessionOptions bad = Options();
  bad.access_ttl = 3h;  // longer than the session
  EXPECT_FALSE(SessionStore::Open(path_, bad));
  bad = Options();
  bad.touch_interval = bad.idle_timeout;
  EXPECT_FALSE(SessionStore::Open(path_, bad));
  EXPECT_TRUE(SessionStore::Open(":memory:"));
}

}  // namespace
}  // namespace fogkeep::auth
