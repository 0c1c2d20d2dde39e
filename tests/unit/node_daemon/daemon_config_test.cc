// fogkeepd's configuration (file keys, precedence of validation) and its first-start TLS
// identity.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "crypto/x509.h"
#include "node/daemon.h"
#include "support/support.h"

namespace fogkeep::node {
namespace {

Result<DaemonConfig> FromFile(const testing::TempDir& dir, const std::string& yaml) {
  const std::string path = dir / "fogkeepd.yaml";
  EXPECT_TRUE(fs::WriteFileAtomic(path, yaml));
  return ApplyConfigFile(path, DaemonConfig{});
}

TEST(DaemonConfigTest, FileKeysOverlayTheDefaults) {
  testing::TempDir dir;
  auto config = FromFile(dir,
                         "data-dir: /srv/fog\n"
                         "listen: 127.0.0.1:9443\n"
                         "socket: none\n"
                         "runtime: crun\n"
                         "max-upload-mb: 64\n"
                         "log-level: debug\n"
                         "cgroup-parent: /edge/apps\n"
                         "first-slot: 12\n"
                         "network:\n"
                         "  mode: none\n");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->data_dir, "/srv/fog");
  EXPECT_EQ(config->listen, "127.0.0.1:9443");
  EXPECT_EQ(config->socket, "none");
  EXPECT_EQ(config->runtime, "crun");
  EXPECT_EQ(config->max_upload_mb, 64u);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->cgroup_parent, "/edge/apps");
  EXPECT_EQ(config->first_slot, 12u);
  EXPECT_EQ(config->network.mode, "none");
  // Untouched keys keep their defaults.
  EXPECT_EQ(config->shim, "");
}

TEST(DaemonConfigTest, AnEmptyFileChangesNothing) {
  testing::TempDir dir;
  auto config = FromFile(dir, "");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->listen, DaemonConfig{}.listen);
  EXPECT_EQ(config->cgroup_parent, "/fogkeep");
}

TEST(DaemonConfigTest, TyposAndBadValuesAreRefusedWithTheirLine) {
  testing::TempDir dir;
  struct Case {
    std::string yaml;
    std::string says;
  };
  const Case cases[] = {
      {"data-dir: /a\nlisten-on: 1.2.3.4:1\n", ":2: listen-on: unknown key"},
      {"max-upload-mb: lots\n", "max-upload-mb must be a non-negative integer"},
      {"first-slot: 70000\n", "first-slot must be at most"},
      {"first-slot: -1\n", "first-slot must be a non-negative integer"},
      {"listen: [a, b]\n", "listen must be a scalar"},
      {"- just\n- a list\n", "must be a mapping"},
      {"network:\n  mode: sideways\n", "mode"},
  };
  for (const auto& c : cases) {
    auto config = FromFile(dir, c.yaml);
    ASSERT_FALSE(config) << c.yaml;
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidInput) << c.yaml;
    EXPECT_NE(config.error().message().find(c.says), std::string::npos)
        << c.yaml << " gave: " << config.error().message();
  }
}

TEST(DaemonConfigTest, NetworkMonitorNamesTheInterfaceAndTheApps) {
  testing::TempDir dir;
  auto none = FromFile(dir, "log-level: info\n");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_EQ(none->network_monitor.interface, "");  // by default no app gets it
  EXPECT_TRUE(none->network_monitor.apps.empty());

  auto any = FromFile(dir, "network-monitor:\n  interface: span0\n");
  ASSERT_TRUE(any) << any.error().message();
  EXPECT_EQ(any->network_monitor.interface, "span0");
  EXPECT_TRUE(any->network_monitor.apps.empty());

  auto some = FromFile(dir, "network-monitor:\n  interface: eno2\n  apps: [sensor, ids-1]\n");
  ASSERT_TRUE(some) << some.error().message();
  EXPECT_EQ(some->network_monitor.interface, "eno2");
  EXPECT_EQ(some->network_monitor.apps, (std::vector<std::string>{"sensor", "ids-1"}));

  struct Case {
    std::string yaml;
    std::string says;
  };
  const Case cases[] = {
      {"network-monitor: span0\n", "network-monitor must be a mapping"},
      {"network-monitor:\n  interface: lo\n", "not lo"},
      {"network-monitor:\n  interface: a-very-long-interface\n", "1-15 characters"},
      {"network-monitor:\n  interface: \"sp an\"\n", "1-15 characters"},
      {"network-monitor:\n  interface: [a]\n",
       "network-monitor.interface (line 2) must be a scalar"},
      {"network-monitor:\n  apps: [sensor]\n", "apps needs network-monitor.interface"},
      {"network-monitor:\n  interface: span0\n  apps: sensor\n", "must be a list of app ids"},
      {"network-monitor:\n  interface: span0\n  apps: [Sensor]\n", "'Sensor' is not an app id"},
      {"network-monitor:\n  interfaces: span0\n",
       "network-monitor.interfaces (line 2): unknown key"},
  };
  for (const auto& c : cases) {
    auto config = FromFile(dir, c.yaml);
    ASSERT_FALSE(config) << c.yaml;
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidInput) << c.yaml;
    EXPECT_NE(config.error().message().find(c.says), std::string::npos)
        << c.yaml << " gave: " << config.error().message();
  }
}

TEST(DaemonConfigTest, TheAuthSectionSetsBackEndsLockoutAndSessions) {
  testing::TempDir dir;
  auto config = FromFile(dir,
                         "auth:\n"
                         "  order: [radius, local, pam]\n"
                         "  stop-on-reject: true\n"
                         "  local:\n"
                         "    users-file: /etc/fogkeep/users\n"
                         "    argon2: {memory-kib: 65536, iterations: 3, parallelism: 2}\n"
                         "  radius:\n"
                         "    servers:\n"
                         "      - {address: \"192.0.2.10:1645\", secret-file: /etc/r1}\n"
                         "      - {address: \"[2001:db8::1]\", secret-file: /etc/r2}\n"
                         "    timeout-ms: 1500\n"
                         "    retries: 1\n"
                         "    roles:\n"
                         "      - {class: fogkeep-admin, role: admin}\n"
                         "      - {filter-id: apps, role: app-manager}\n"
                         "  pam:\n"
                         "    service: fogkeep-login\n"
                         "    groups: {ops: network-manager, audit: auditor}\n"
                         "  lockout:\n"
                         "    user: {free-failures: 5, lockout-failures: 20, lockout-seconds: 60}\n"
                         "  sessions: {access-ttl-seconds: 300, idle-timeout-seconds: 600}\n");
  ASSERT_TRUE(config) << config.error().message();
  const access::AuthSettings& auth = config->auth;
  EXPECT_EQ(auth.order, (std::vector<std::string>{"radius", "local", "pam"}));
  EXPECT_TRUE(auth.stop_on_reject);
  EXPECT_EQ(auth.users_file, "/etc/fogkeep/users");
  EXPECT_EQ(auth.local.argon2.memory_kib, 65536u);
  EXPECT_EQ(auth.local.argon2.passes, 3u);
  EXPECT_EQ(auth.local.argon2.lanes, 2u);
  ASSERT_TRUE(auth.radius);
  ASSERT_EQ(auth.radius->servers.size(), 2u);
  EXPECT_EQ(auth.radius->servers[0].host, "192.0.2.10");
  EXPECT_EQ(auth.radius->servers[0].port, 1645);
  EXPECT_EQ(auth.radius->servers[1].host, "2001:db8::1");
  EXPECT_EQ(auth.radius->servers[1].port, 1812);
  EXPECT_EQ(auth.radius->servers[1].secret_file, "/etc/r2");
  EXPECT_EQ(auth.radius->timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(auth.radius->retries, 1);
  ASSERT_EQ(auth.radius->roles.size(), 2u);
  EXPECT_EQ(auth.radius->roles[1].attribute, auth::RoleAttribute::kFilterId);
  EXPECT_EQ(auth.radius->roles[1].value, "apps");
  EXPECT_EQ(auth.radius->roles[1].role, "app-manager");
  ASSERT_TRUE(auth.pam);
  EXPECT_EQ(auth.pam->service, "fogkeep-login");
  ASSERT_EQ(auth.pam->group_roles.size(), 2u);
  EXPECT_EQ(auth.pam->group_roles[0].group, "ops");
  EXPECT_EQ(auth.pam->group_roles[0].role, "network-manager");
  EXPECT_EQ(auth.throttle.per_user.free_failures, 5);
  EXPECT_EQ(auth.throttle.per_user.lockout_failures, 20);
  EXPECT_EQ(auth.throttle.per_user.lockout_duration, std::chrono::seconds(60));
  EXPECT_EQ(auth.sessions.access_ttl, std::chrono::seconds(300));
  EXPECT_EQ(auth.sessions.idle_timeout, std::chrono::seconds(600));
  // Without the section: local users only.
  auto plain = FromFile(dir, "log-level: info\n");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->auth.order, std::vector<std::string>{"local"});
}

TEST(DaemonConfigTest, SettingsWeakerThanTheDefaultsAreNamed) {
  EXPECT_TRUE(access::WeakerThanDefaults(access::AuthSettings{}).empty());
  testing::TempDir dir;
  auto config = FromFile(dir,
                         "auth:\n"
                         "  local:\n"
                         "    min-password-chars: 4\n"
                         "    argon2: {memory-kib: 1024, iterations: 1}\n"
                         "  lockout:\n"
                         "    user: {lockout-failures: 0}\n"
                         "    source: {free-failures: 100, lockout-failures: 200}\n"
                         "  sessions: {max-lifetime-seconds: 604800}\n");
  ASSERT_TRUE(config) << config.error().message();
  const std::vector<std::string> weaker = access::WeakerThanDefaults(config->auth);
  const std::string all = [&] {
    std::string text;
    for (const auto& line : weaker) text += line + "\n";
    return text;
  }();
  EXPECT_EQ(weaker.size(), 6u) << all;
  for (const char* expected :
       {"auth.local.argon2", "min-password-chars 4", "auth.lockout.user.lockout-failures 0",
        "auth.lockout.source.free-failures 100", "auth.lockout.source.lockout-failures 200",
        "max-lifetime-seconds 604800"}) {
    EXPECT_NE(all.find(expected), std::string::npos) << expected << " in:\n" << all;
  }
  // Stronger settings are not reported.
  auto stronger = FromFile(dir,
                           "auth:\n"
                           "  local: {min-password-chars: 16}\n"
                           "  sessions: {access-ttl-seconds: 60}\n");
  ASSERT_TRUE(stronger);
  EXPECT_TRUE(access::WeakerThanDefaults(stronger->auth).empty());
}

TEST(DaemonConfigTest, BadAuthSettingsAreRefusedWithWhereTheyAre) {
  testing::TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"auth:\n  order: [local, ldap]\n", "unknown back-end \"ldap\""},
      {"auth:\n  order: [local, local]\n", "listed twice"},
      {"auth:\n  order: [local, radius]\n", "auth.radius is missing"},
      {"auth:\n  lokout: {}\n", "auth.lokout (line 2): unknown key"},
      {"auth:\n  pam:\n    groups: {ops: root}\n", "unknown role \"root\""},
      {"auth:\n  radius:\n    roles: [{class: x}]\n", "needs one of class or filter-id"},
      {"auth:\n  radius:\n    servers: [{address: h}]\n", "needs an address and a secret-file"},
      {"auth:\n  sessions: {access-ttl-seconds: 0}\n", "auth.sessions"},
      {"auth:\n  local:\n    argon2: {memory-kib: -1}\n", "memory-kib"},
      {"auth:\n  stop-on-reject: yes please\n", "true or false"},
  };
  for (const auto& [yaml, expected] : cases) {
    auto config = FromFile(dir, yaml);
    ASSERT_FALSE(config) << yaml;
    EXPECT_NE(config.error().message().find(expected), std::string::npos)
        << yaml << " -> " << config.error().message();
  }
}

TEST(DaemonConfigTest, TheDirectorKeyIsAFileUnlessTheTpmIsAskedFor) {
  testing::TempDir dir;
  EXPECT_EQ(DaemonConfig{}.director.key, "file");
  auto tpm = FromFile(dir, "director:\n  key: tpm\n");
  ASSERT_TRUE(tpm) << tpm.error().message();
  EXPECT_EQ(tpm->director.key, "tpm");
  auto file = FromFile(dir, "director:\n  key: file\n");
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->director.key, "file");

  const std::vector<std::pair<std::string, std::string>> refused = {
      {"director:\n  key: hsm\n", "director.key (line 2) must be file or tpm, not hsm"},
      {"director:\n  keys: tpm\n", "director.keys (line 2): unknown key"},
      {"director:\n  key: [tpm]\n", "director.key (line 2) must be a scalar"},
      {"director: tpm\n", "director must be a mapping"},
  };
  for (const auto& [yaml, expected] : refused) {
    auto config = FromFile(dir, yaml);
    ASSERT_FALSE(config) << yaml;
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidInput) << yaml;
    EXPECT_NE(config.error().message().find(expected), std::string::npos)
        << yaml << " -> " << config.error().message();
  }
}

TEST(DaemonConfigTest, ListenAddressesParseWithTheirPort) {
  auto v4 = ParseListenAddress("0.0.0.0:8443");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 8443);
  auto v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  for (const char* bad : {"8443", ":8443", "host:", "host:65536", "host:12x", "host:-1"}) {
    EXPECT_FALSE(ParseListenAddress(bad)) << bad;
  }
}

TEST(DaemonConfigTest, TheNodeIdentityIsMadeOnceWithAPrivateKey) {
  testing::TempDir dir;
  auto first = EnsureNodeIdentity(dir.path());
  ASSERT_TRUE(first) << first.error().message();
  struct stat st {};
  ASSERT_EQ(::stat((dir / "tls/node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_FALSE(first->chain.empty());
  auto second = EnsureNodeIdentity(dir.path());
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->chain.front().Fingerprint(), first->chain.front().Fingerprint());
}

}  // namespace
}  // namespace fogkeep::node
