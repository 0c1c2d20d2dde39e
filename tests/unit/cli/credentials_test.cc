#include "cli/credentials.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"
#include "unit/cli/cli_test_support.h"

namespace fogkeep::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

Clock::time_point At(std::int64_t unix_seconds) {
  return Clock::time_point(std::chrono::seconds(unix_seconds));
}

Credential Login(std::string node, std::string user = "alice") {
  Credential c;
  c.node = std::move(node);
  c.user = std::move(user);
  c.role = "auditor";
  c.access_token = "fka_" + std::string(43, 'a');
  c.refresh_token = "fkr_" + std::string(43, 'r');
  c.access_expires = At(1'900'000'900);
  c.session_expires = At(1'900'043'200);
  c.ca = "/etc/fogkeep/node.pem";
  return c;
}

class CredentialCacheTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_ / "config/fogkeep/credentials.json"; }
  CredentialCache Cache() const { return CredentialCache(Path()); }

  // Writes `text` as the cache file (mode 0600), as if someone had edited it.
  void WriteRaw(std::string_view text, mode_t mode = 0600) {
    ASSERT_TRUE(fs::MakeDirs(dir_ / "config/fogkeep", 0700));
    ASSERT_TRUE(fs::WriteFileAtomic(Path(), text, mode));
  }

  static mode_t ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  testing::TempDir dir_;
};

TEST_F(CredentialCacheTest, MissingFileHoldsNoLogins) {
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_FALSE(found->has_value());
  auto all = Cache().List();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_F(CredentialCacheTest, RoundTrip) {
  const Credential login = Login("https://gw1:8443");
  ASSERT_TRUE(Cache().Store(login));
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, login);

  // A login without a remembered --ca survives too.
  Credential bare = Login("https://gw2:8443");
  bare.ca.clear();
  ASSERT_TRUE(Cache().Store(bare));
  EXPECT_EQ(**Cache().Find("https://gw2:8443"), bare);
}

TEST_F(CredentialCacheTest, OAuthLoginRoundTrip) {
  Credential login = Login("https://dir:9443");
  login.server = ServerKind::kDirector;
  login.access_token = "eyJh.eyJz.c2ln";
  login.refresh_token = "Zm9na2VlcC1yZWZyZXNo";
  login.session_expires = {};  // unknown to this machine
  login.oauth = OAuthGrant{.client_id = "fogkeep-cli",
                           .token_endpoint = "https://dir:9443/oauth2/token",
                           .revocation_endpoint = "https://dir:9443/oauth2/revoke"};
  ASSERT_TRUE(Cache().Store(login));
  EXPECT_EQ(**Cache().Find("https://dir:9443"), login);
  const std::string text = *fs::ReadFile(Path());
  EXPECT_NE(text.find(R"("oauth":{"client_id":"fogkeep-cli",)"
                      R"("token_endpoint":"https://dir:9443/oauth2/token",)"
                      R"("revocation_endpoint":"https://dir:9443/oauth2/revoke"})"),
            std::string::npos)
      << text;
  // Only the director decides when an OAuth login ends.
  EXPECT_TRUE(SessionAlive(login, At(2'000'000'000)));

  // Without a revocation endpoint, and next to a password login of another server.
  login.oauth->revocation_endpoint.clear();
  ASSERT_TRUE(Cache().Store(login));
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  EXPECT_EQ(**Cache().Find("https://dir:9443"), login);
  EXPECT_FALSE((*Cache().Find("https://gw1:8443"))->oauth);

  // What the file could not hold is never written.
  Credential node = Login("https://gw2:8443");
  node.oauth = login.oauth;
  EXPECT_FALSE(Cache().Store(node));
  Credential plain_http = login;
  plain_http.oauth->token_endpoint = "http://dir:9443/oauth2/token";
  EXPECT_FALSE(Cache().Store(plain_http));
}

TEST_F(CredentialCacheTest, RefusesMalformedOAuthParts) {
  const std::string entry =
      R"("node":"https://dir:9443","server":"director","user":"alice","access_token":"a.b.c",)"
      R"("refresh_token":"r","access_expires":1900000900,"session_expires":0)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("oauth":7)", "logins[0].oauth must be an object"},
      {R"("oauth":{"token_endpoint":"https://dir:9443/t"})", "oauth.client_id is missing"},
      {R"("oauth":{"client_id":"c"})", "oauth.token_endpoint is missing"},
      {R"("oauth":{"client_id":"c","token_endpoint":"http://dir/t"})", "https:// URLs"},
      {R"("oauth":{"client_id":"c","token_endpoint":"https://dir/t","revocation_endpoint":5})",
       "oauth.revocation_endpoint must be a string"},
  };
  for (const auto& [oauth, expected] : cases) {
    const std::string text = R"({"version":1,"logins":[{)" + entry + "," + oauth + "}]}";
    WriteRaw(text);
    auto found = Cache().Find("https://dir:9443");
    ASSERT_FALSE(found) << text;
    EXPECT_NE(found.error().message().find(expected), std::string::npos)
        << text << " -> " << found.error().message();
  }
  // On a node's login, an OAuth part is refused.
  WriteRaw(R"({"version":1,"logins":[{"node":"https://gw1:8443","user":"alice",)"
           R"("access_token":"a","refresh_token":"r","access_expires":1,"session_expires":2,)"
           R"("oauth":{"client_id":"c","token_endpoint":"https://gw1:8443/t"}}]})");
  auto node = Cache().Find("https://gw1:8443");
  ASSERT_FALSE(node);
  EXPECT_NE(node.error().message().find("must be to a director"), std::string::npos);
}

TEST_F(CredentialCacheTest, FileIsPrivateOnDisk) {
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  EXPECT_EQ(ModeOf(Path()), 0600u);
  EXPECT_EQ(ModeOf(dir_ / "config/fogkeep"), 0700u);
  // Replacing the file keeps it private, whatever the umask.
  const mode_t old_umask = ::umask(0);
  Credential changed = Login("https://gw1:8443");
  changed.access_token = "fka_changed";
  const Status stored = Cache().Store(changed);
  ::umask(old_umask);
  ASSERT_TRUE(stored);
  EXPECT_EQ(ModeOf(Path()), 0600u);
}

TEST_F(CredentialCacheTest, RefusesAFileOthersCanRead) {
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  ASSERT_EQ(::chmod(Path().c_str(), 0644), 0);
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(found.error().message().find("mode 0644"), std::string::npos);
  EXPECT_NE(found.error().message().find("chmod 600 " + Path()), std::string::npos);
  // Nothing is written over it either.
  EXPECT_EQ(Cache().Store(Login("https://gw2:8443")).error().code(), ErrorCode::kIntegrity);
  EXPECT_EQ(Cache().Remove("https://gw1:8443").error().code(), ErrorCode::kIntegrity);

  for (mode_t mode : {0640, 0604, 0620, 0602}) {
    ASSERT_EQ(::chmod(Path().c_str(), mode), 0);
    auto refused = Cache().Find("https://gw1:8443");
    ASSERT_FALSE(refused) << std::oct << mode;
    EXPECT_EQ(refused.error().code(), ErrorCode::kIntegrity);
  }
  ASSERT_EQ(::chmod(Path().c_str(), 0600), 0);
  EXPECT_TRUE(Cache().Find("https://gw1:8443"));
}

TEST_F(CredentialCacheTest, RefusesASymlink) {
  WriteRaw(R"({"version":1,"logins":[]})");
  const std::string real = dir_ / "elsewhere.json";
  ASSERT_EQ(::rename(Path().c_str(), real.c_str()), 0);
  ASSERT_EQ(::symlink(real.c_str(), Path().c_str()), 0);
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(found.error().message().find("symbolic link"), std::string::npos);
}

TEST_F(CredentialCacheTest, RefusesAFileOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  ASSERT_EQ(::chown(Path().c_str(), 65534, 65534), 0);
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(found.error().message().find("uid 65534"), std::string::npos);
}

TEST_F(CredentialCacheTest, RefusesMalformedContent) {
  const std::string good_entry =
      R"("node":"https://gw1:8443","user":"alice","role":"auditor","access_token":"fka_x",)"
      R"("refresh_token":"fkr_y","access_expires":1900000900,"session_expires":1900043200)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "JSON"},
      {"not json", "JSON"},
      {"[]", "not a JSON object"},
      {R"({"logins":[]})", "version"},
      {R"({"version":"1","logins":[]})", "version"},
      {R"({"version":2,"logins":[]})", "version 2"},
      {R"({"version":1})", "logins"},
      {R"({"version":1,"logins":{}})", "logins"},
      {R"({"version":1,"logins":[7]})", "logins[0] must be an object"},
      {R"({"version":1,"logins":[{}]})", "logins[0].node is missing"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"user":5}]})", "logins[0].user"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"access_token":null}]})",
       "access_token is missing"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"access_token":"fka x"}]})",
       "access_token is not a token"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"refresh_token":"a\r\nX-Evil: 1"}]})",
       "refresh_token is not a token"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"user":"\u001b[2J"}]})",
       "control characters"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"access_expires":"soon"}]})",
       "access_expires must be an integer"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"session_expires":1e300}]})",
       "session_expires must be an integer"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"session_expires":-1}]})",
       "session_expires must be an integer"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"session_expires":99999999999999999999}]})",
       "session_expires must be an integer"},
      {R"({"version":1,"logins":[{)" + good_entry + R"(,"node":"http://gw1"}]})", "https://"},
      {R"({"version":1,"logins":[{)" + good_entry + "},{" + good_entry + "}]}",
       "two logins for https://gw1:8443"},
  };
  for (const auto& [text, expected] : cases) {
    WriteRaw(text);
    auto found = Cache().Find("https://gw1:8443");
    ASSERT_FALSE(found) << text;
    EXPECT_EQ(found.error().code(), ErrorCode::kInvalidInput) << text;
    EXPECT_NE(found.error().message().find(expected), std::string::npos)
        << text << " -> " << found.error().message();
    EXPECT_NE(found.error().message().find(Path()), std::string::npos);
    // A change refuses to overwrite what it cannot read (it would lose the other logins).
    EXPECT_FALSE(Cache().Store(Login("https://gw2:8443")));
    EXPECT_EQ(*fs::ReadFile(Path()), text);
  }
  // The well-formed entry itself is accepted, unknown fields ignored.
  WriteRaw(R"({"version":1,"future":true,"logins":[{)" + good_entry + R"(,"extra":[1]}]})");
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->access_token, "fka_x");
  EXPECT_EQ((*found)->session_expires, At(1'900'043'200));
}

TEST_F(CredentialCacheTest, RefusesAnOversizedFile) {
  WriteRaw(std::string(2 << 20, ' '));
  auto found = Cache().Find("https://gw1:8443");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), ErrorCode::kLimit);
}

TEST_F(CredentialCacheTest, TwoNodesKeptApart) {
  const Credential one = Login("https://gw1:8443", "alice");
  Credential two = Login("https://gw2:8443", "bob");
  two.access_token = "fka_two";
  two.refresh_token = "fkr_two";
  ASSERT_TRUE(Cache().Store(one));
  ASSERT_TRUE(Cache().Store(two));
  EXPECT_EQ(**Cache().Find("https://gw1:8443"), one);
  EXPECT_EQ(**Cache().Find("https://gw2:8443"), two);
  EXPECT_FALSE(Cache().Find("https://gw3:8443")->has_value());

  Credential rotated = one;
  rotated.access_token = "fka_rotated";
  ASSERT_TRUE(Cache().Store(rotated));
  EXPECT_EQ(**Cache().Find("https://gw1:8443"), rotated);
  EXPECT_EQ(**Cache().Find("https://gw2:8443"), two);
  EXPECT_EQ(Cache().List()->size(), 2u);
}

TEST_F(CredentialCacheTest, Removal) {
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  ASSERT_TRUE(Cache().Store(Login("https://gw2:8443")));
  auto removed = Cache().Remove("https://gw1:8443");
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(Cache().Find("https://gw1:8443")->has_value());
  EXPECT_TRUE(Cache().Find("https://gw2:8443")->has_value());
  removed = Cache().Remove("https://gw1:8443");
  ASSERT_TRUE(removed);
  EXPECT_FALSE(*removed);
  ASSERT_TRUE(*Cache().Remove("https://gw2:8443"));
  EXPECT_TRUE(Cache().List()->empty());
  EXPECT_EQ(ModeOf(Path()), 0600u);
}

TEST_F(CredentialCacheTest, UpdateSeesTheCurrentLoginAndAnErrorChangesNothing) {
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  const std::string before = *fs::ReadFile(Path());
  std::optional<Credential> seen;
  const Status failed =
      Cache().Update("https://gw1:8443",
                     [&](std::optional<Credential> current) -> Result<std::optional<Credential>> {
                       seen = current;
                       return Fail(ErrorCode::kUnavailable, "node unreachable");
                     });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "node unreachable");
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->user, "alice");
  EXPECT_EQ(*fs::ReadFile(Path()), before);

  // A login filed under another node's name is a bug of the caller, not a silent mix-up.
  const Status mixed = Cache().Update(
      "https://gw1:8443", [&](std::optional<Credential>) -> Result<std::optional<Credential>> {
        return Login("https://gw9:8443");
      });
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code(), ErrorCode::kInternal);
  // And nothing unreadable is ever written.
  Credential bad = Login("https://gw1:8443");
  bad.access_token = "two words";
  EXPECT_FALSE(Cache().Store(bad));
  EXPECT_EQ(*fs::ReadFile(Path()), before);
}

TEST_F(CredentialCacheTest, UpdateWaitsForTheLock) {
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443")));
  auto held = fs::LockExclusive(Path() + ".lock");
  ASSERT_TRUE(held);
  Credential rotated = Login("https://gw1:8443");
  rotated.access_token = "fka_rotated";
  std::thread writer([&] { EXPECT_TRUE(Cache().Store(rotated)); });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ((*Cache().Find("https://gw1:8443"))->access_token, Login("x").access_token);
  held->Reset();
  writer.join();
  EXPECT_EQ((*Cache().Find("https://gw1:8443"))->access_token, "fka_rotated");
}

TEST_F(CredentialCacheTest, ExpiryChecksKeepAMargin) {
  const Credential c = Login("https://gw1:8443");
  EXPECT_TRUE(AccessTokenCurrent(c, c.access_expires - 60s));
  EXPECT_FALSE(AccessTokenCurrent(c, c.access_expires - 5s));
  EXPECT_FALSE(AccessTokenCurrent(c, c.access_expires + 1s));
  EXPECT_TRUE(SessionAlive(c, c.session_expires - 60s));
  EXPECT_FALSE(SessionAlive(c, c.session_expires));
}

TEST(DefaultCredentialsPathTest, FollowsXdgThenHome) {
  const test::EnvGuard xdg("XDG_CONFIG_HOME");
  const test::EnvGuard home("HOME");
  ::setenv("HOME", "/home/alice", 1);
  ::setenv("XDG_CONFIG_HOME", "/cfg", 1);
  EXPECT_EQ(*DefaultCredentialsPath(), "/cfg/fogkeep/credentials.json");
  // The spec says to ignore a relative XDG_CONFIG_HOME.
  ::setenv("XDG_CONFIG_HOME", "relative", 1);
  EXPECT_EQ(*DefaultCredentialsPath(), "/home/alice/.config/fogkeep/credentials.json");
  ::unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(*DefaultCredentialsPath(), "/home/alice/.config/fogkeep/credentials.json");
  ::unsetenv("HOME");
  auto none = DefaultCredentialsPath();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kInvalidInput);
}

TEST(CredentialTextTest, TokensAndDisplayedNames) {
  EXPECT_TRUE(IsBearerToken("fka_abc-DEF_123"));
  EXPECT_FALSE(IsBearerToken(""));
  EXPECT_FALSE(IsBearerToken("a b"));
  EXPECT_FALSE(IsBearerToken("a\r\nb"));
  EXPECT_FALSE(IsBearerToken("caf\xc3\xa9"));
  EXPECT_FALSE(IsBearerToken(std::string(1025, 'a')));
  EXPECT_TRUE(IsDisplaySafe("Zoë Müller"));
  EXPECT_FALSE(IsDisplaySafe("\x1b[31mred"));
  EXPECT_FALSE(IsDisplaySafe("a\nb"));
}

}  // namespace
}  // namespace fogkeep::cli
