#include "fleetsim/options.h"

#include <gtest/gtest.h>

namespace fogkeep::fleetsim {
namespace {

SimOptions Good() {
  SimOptions options;
  options.director_url = "https://127.0.0.1:9443";
  options.ca_file = "ca.crt";
  options.nodes = 10;
  return options;
}

void ExpectRefused(const SimOptions& options, std::string_view flag) {
  Status checked = Validate(options);
  ASSERT_FALSE(checked) << flag;
  EXPECT_EQ(checked.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(checked.error().message().find(flag), std::string::npos) << checked.error().message();
}

TEST(ValidateTest, AcceptsTheDefaults) { EXPECT_TRUE(Validate(Good())); }

TEST(ValidateTest, NamesTheFlagAtFault) {
  SimOptions o = Good();
  o.nodes = 0;
  ExpectRefused(o, "--nodes");
  o = Good();
  o.fail_percent = 101;
  ExpectRefused(o, "--fail-percent");
  o = Good();
  o.threads = 0;
  ExpectRefused(o, "--threads");
  o = Good();
  o.enroll_concurrency = 0;
  ExpectRefused(o, "--enroll-concurrency");
  o = Good();
  o.poll_interval = std::chrono::milliseconds(-1);
  ExpectRefused(o, "--poll-interval");
  o = Good();
  o.name_prefix = "has space";
  ExpectRefused(o, "--name-prefix");
  o = Good();
  o.until_running = AppVersion{"nginx", ""};
  ExpectRefused(o, "--until-running");
  o = Good();
  o.poll_interval = std::chrono::milliseconds(0);
  o.retry_delay = std::chrono::milliseconds(0);
  ExpectRefused(o, "--retry-delay");
  o = Good();
  o.director_url.clear();
  ExpectRefused(o, "--director");
}

}  // namespace
}  // namespace fogkeep::fleetsim
