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
