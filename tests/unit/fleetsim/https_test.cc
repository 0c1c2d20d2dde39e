#include "fleetsim/https.h"

#include <gtest/gtest.h>

namespace fogkeep::fleetsim {
namespace {

TEST(ParseDirectorUrlTest, ReadsHostAndPort) {
  Result<DirectorEndpoint> where = ParseDirectorUrl("https://127.0.0.1:9555");
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->host, "127.0.0.1");
  EXPECT_EQ(where->port, 9555);
  where = ParseDirectorUrl("https://director.example/");
  ASSERT_TRUE(where);
  EXPECT_EQ(where->host, "director.example");
  EXPECT_EQ(where->port, 9443);
  where = ParseDirectorUrl("https://[::1]:8000");
  ASSERT_TRUE(where);
  EXPECT_EQ(where->host, "::1");
  EXPECT_EQ(where->port, 8000);
  where = ParseDirectorUrl("https://[fe80::1]");
  ASSERT_TRUE(where);
  EXPECT_EQ(where->port, 9443);
}

TEST(ParseDirectorUrlTest, RefusesWhatIsNotADirectorAddress) {
  for (const char* bad : {"http://127.0.0.1:9443", "127.0.0.1:9443", "https://", "https://:9443",
                          "https://host:0", "https://host:65536", "https://host:x", "https://host:",
                          "https://host/api", "https://user@host", "https://::1:9443",
                          "https://[::1", "https://[::1]x", "https://host?x=1"}) {
    Result<DirectorEndpoint> where = ParseDirectorUrl(bad);
    ASSERT_FALSE(where) << bad;
    EXPECT_EQ(where.error().code(), ErrorCode::kInvalidInput);
    EXPECT_NE(where.error().message().find("--director"), std::string::npos) << bad;
  }
}

TEST(AnswerMessageTest, PrefersTheDirectorsMessage) {
  EXPECT_EQ(AnswerMessage(HttpAnswer{
                .status = 401,
                .body = R"({"error":{"code":"unauthenticated","message":"invalid token"}})"}),
            "HTTP 401: invalid token");
  EXPECT_EQ(AnswerMessage(HttpAnswer{.status = 502, .body = "<html>bad gateway</html>"}),
            "HTTP 502");
  EXPECT_EQ(AnswerMessage(HttpAnswer{.status = 500, .body = R"({"error":"flat"})"}), "HTTP 500");
}

TEST(HttpsConnectionTest, KindIsTheFailedStep) {
  EXPECT_EQ(HttpsConnection::Kind(Error(ErrorCode::kUnavailable, "connect: 1.2.3.4:5: refused")),
            "connect");
  EXPECT_EQ(HttpsConnection::Kind(Error(ErrorCode::kUnavailable, "no colon")), "no colon");
}

}  // namespace
}  // namespace fogkeep::fleetsim
