// fogkeep-director's config file: keys overlay the defaults, durations are checked, and
// unknown keys are refused.
#include <gtest/gtest.h>

#include <chrono>

#include "core/fs.h"
#include "director/daemon.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

using namespace std::chrono_literals;

class DirectorConfigTest : public ::testing::Test {
 protected:
  Result<DirectorConfig> Apply(const std::string& yaml) {
    const std::string path = dir_ / "director.yaml";
    if (!fs::WriteFileAtomic(path, yaml, 0600)) return Fail(ErrorCode::kInternal, "write");
    return ApplyConfigFile(path, DirectorConfig{});
  }
  testing::TempDir dir_;
};

TEST_F(DirectorConfigTest, KeysOverlayTheDefaults) {
  EXPECT_EQ(DirectorConfig{}.node_certificate_lifetime, std::chrono::hours(24 * 7));
  auto config = Apply(
      "store: postgres\npostgres: host=127.0.0.1\nnode-certificate-lifetime: 90s\n"
      "dns-names: [director.plant-a]\nmax-poll-seconds: 45\n");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->store, "postgres");
  EXPECT_EQ(config->postgres, "host=127.0.0.1");
  EXPECT_EQ(config->node_certificate_lifetime, 90s);
  EXPECT_EQ(config->dns_names, std::vector<std::string>{"director.plant-a"});
  EXPECT_EQ(config->max_poll_seconds, 45);
  EXPECT_EQ(config->listen, DirectorConfig{}.listen);
  EXPECT_EQ(Apply("node-certificate-lifetime: 12h\n")->node_certificate_lifetime, 12h);
}

TEST_F(DirectorConfigTest, BadValuesAndUnknownKeysAreRefusedWithTheirLine) {
  for (const char* yaml :
       {"node-certificate-lifetime: 90\n", "node-certificate-lifetime: 1h30m\n",
        "node-certificate-hours: 24\n", "max-poll-seconds: -1\n", "\nlisten: [a, b]\n"}) {
    auto config = Apply(yaml);
    ASSERT_FALSE(config) << yaml;
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidInput) << yaml;
    EXPECT_NE(config.error().message().find("director.yaml:"), std::string::npos)
        << config.error().message();
  }
}

}  // namespace
}  // namespace fogkeep::director
