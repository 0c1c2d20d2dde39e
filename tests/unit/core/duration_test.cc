// Durations as the command line and config files write them.
#include "core/duration.h"

#include <gtest/gtest.h>

namespace fogkeep {
namespace {

using namespace std::chrono_literals;

TEST(ParseDurationTest, TakesOneWholeNumberAndOneUnit) {
  EXPECT_EQ(*ParseDuration("3600s"), 3600s);
  EXPECT_EQ(*ParseDuration("30m"), 30min);
  EXPECT_EQ(*ParseDuration("24h"), 24h);
  EXPECT_EQ(*ParseDuration("7d"), 7 * 24h);
  EXPECT_EQ(*ParseDuration("0s"), 0s);
  EXPECT_EQ(*ParseDuration("090s"), 90s);
}

TEST(ParseDurationTest, RefusesEverythingElse) {
  for (const char* text : {"", "s", "10", "1.5h", "-5m", "+5m", " 5m", "5m ", "5 m", "5M", "1h30m",
                           "5ms", "5sec", "m5", "0x10s", "99999999999999999999s", "36501d"}) {
    const auto parsed = ParseDuration(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_NE(ParseDuration("10").error().message().find("\"24h\""), std::string::npos);
  EXPECT_NE(ParseDuration("36501d").error().message().find("100 years"), std::string::npos);
  // A hostile value cannot reach a terminal raw through the message.
  const std::string message = ParseDuration("\x1b[2J5m").error().message();
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  EXPECT_NE(message.find("\\x1b[2J5m"), std::string::npos) << message;
}

TEST(FormatDurationTest, ShortestExactUnit) {
  EXPECT_EQ(FormatDuration(0s), "0s");
  EXPECT_EQ(FormatDuration(90s), "90s");
  EXPECT_EQ(FormatDuration(1800s), "30m");
  EXPECT_EQ(FormatDuration(3600s), "1h");
  EXPECT_EQ(FormatDuration(86400s), "1d");
  EXPECT_EQ(FormatDuration(90000s), "25h");
}

}  // namespace
}  // namespace fogkeep
