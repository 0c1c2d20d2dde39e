// The node's alert routes through the node's full router over TLS (TestNode): a host sensor's
// POST, the GET filters and cursor, the answer's shape, the permissions and the rate limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>

#include "access/auth_token.h"
#include "api/alert.h"
#include "api/node.h"
#include "support/support.h"
#include "unit/node_api/test_node.h"

namespace fogkeep::node {
namespace {

namespace json = boost::json;
using net::Method;
using net::Response;
using net::test::Must;

std::string AlertText(const std::string& detector, int severity, const std::string& signature) {
  return R"({"timestamp":"2026-11-26T14:03:07.250113+0000","event_type":"alert",)"
         R"("src_ip":"10.9.0.7","src_port":51515,"dest_ip":"10.9.0.2","dest_port":502,)"
         R"("alert":{"detector":")" +
         detector + R"(","signature":")" + signature + R"(","severity":)" +
         std::to_string(severity) + R"(},"details":{"unit_id":1}})";
}

// `size` spaces, declared up front: the client waits for 100-continue, so a 413 is read
// before any of it is sent.
class Spaces : public net::BodySource {
 public:
  explicit Spaces(std::size_t size) : left_(size) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override {
    const std::size_t n = std::min(size, left_);
    std::fill_n(buf, n, ' ');
    left_ -= n;
    return n;
  }

 private:
  std::size_t left_;
};

class AlertsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<test::TestNode>(
        dir_.path(), test::TestNodeOptions{.alert_limits = {.alerts_per_second = 1, .burst = 10}});
    client_ = node_->Https();
    sensor_ = Must(access::CreateToken(node_->TokensFile(), "network-manager"), "sensor token");
    reader_ = Must(access::CreateToken(node_->TokensFile(), "auditor"), "auditor token");
  }

  Response Send(Method method, const std::string& target, const std::string& token,
                const std::string& body = "") {
    net::Headers headers;
    headers.Set("Authorization", "Bearer " + token);
    if (!body.empty()) headers.Set("Content-Type", "application/json");
    return Must(client_->Request(method, target, headers, body), target);
  }

  api::AlertList List(const std::string& query) {
    const Response r = Send(Method::kGet, "/api/v1/alerts" + query, reader_);
    EXPECT_EQ(r.status, 200) << r.body;
    return Must(api::FromJsonText<api::AlertList>(r.body), r.body);
  }

  static std::vector<std::int64_t> Seqs(const api::AlertList& list) {
    std::vector<std::int64_t> out;
    for (const auto& a : list.alerts) out.push_back(a.seq);
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<test::TestNode> node_;
  std::unique_ptr<net::Client> client_;
  std::string sensor_;
  std::string reader_;
};

TEST_F(AlertsApiTest, AHostSensorPostsAndEveryReaderSeesTheAlertAsHost) {
  const Response posted =
      Send(Method::kPost, "/api/v1/alerts", sensor_, AlertText("modbus-write", 1, "Modbus write"));
  ASSERT_EQ(posted.status, 201) << posted.body;
  EXPECT_EQ(json::parse(posted.body), json::parse(R"({"accepted":1,"last_seq":1})"));

  const Response got = Send(Method::kGet, "/api/v1/alerts", reader_);
  ASSERT_EQ(got.status, 200) << got.body;
  const json::object answer = json::parse(got.body).as_object();
  ASSERT_EQ(answer.at("alerts").as_array().size(), 1u);
  const json::object& record = answer.at("alerts").as_array()[0].as_object();
  EXPECT_EQ(record.at("seq").as_int64(), 1);
  EXPECT_EQ(record.at("source").as_string(), "host");
  EXPECT_GT(record.at("received_at").as_int64(), 1'700'000'000);
  EXPECT_EQ(record.at("alert"), json::parse(AlertText("modbus-write", 1, "Modbus write")));
  EXPECT_EQ(answer.at("next").as_int64(), 1);
  EXPECT_FALSE(answer.contains("dropped"));
}

TEST_F(AlertsApiTest, FiltersAndTheCursor) {
  const std::string batch =
      R"({"alerts":[)" + AlertText("modbus-write", 1, "a") + "," + AlertText("port-scan", 3, "b") +
      "," + AlertText("modbus-write", 2, "c") + "," + AlertText("port-scan", 1, "d") + "]}";
  ASSERT_EQ(Send(Method::kPost, "/api/v1/alerts", sensor_, batch).status, 201);
  EXPECT_EQ(Seqs(List("?detector=modbus-write")), (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(Seqs(List("?min_severity=1")), (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(Seqs(List("?app=host&min_severity=2")), (std::vector<std::int64_t>{1, 3, 4}));
  EXPECT_TRUE(List("?app=thermo").alerts.empty());
  // The newest `limit`, oldest first; then page forward from a cursor.
  const api::AlertList newest = List("?limit=2");
  EXPECT_EQ(Seqs(newest), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(newest.next, 4);
  const api::AlertList page = List("?since=1&limit=2");
  EXPECT_EQ(Seqs(page), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(page.next, 3);
  const api::AlertList end = List("?since=4");
  EXPECT_TRUE(end.alerts.empty());
  EXPECT_EQ(end.next, 4);  // nothing new: the cursor stays
}

TEST_F(AlertsApiTest, BadQueriesAreRefusedWith400) {
  for (const std::string query : {"?since=-1", "?since=x", "?limit=0", "?limit=1001",
                                  "?min_severity=4", "?detector=Bad_Name", "?app=../x", "?app="}) {
    const Response r = Send(Method::kGet, "/api/v1/alerts" + query, reader_);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
  }
}

TEST_F(AlertsApiTest, HostileBodiesAre4xxAndStoreNothing) {
  EXPECT_EQ(Send(Method::kPost, "/api/v1/alerts", sensor_, "{").status, 400);
  EXPECT_EQ(Send(Method::kPost, "/api/v1/alerts", sensor_, "[]").status, 400);
  const Response missing = Send(Method::kPost, "/api/v1/alerts", sensor_,
                                R"({"event_type":"alert","timestamp":"2026-11-26T14:03:07"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("alert must be an object"), std::string::npos) << missing.body;
  net::Headers headers;
  headers.Set("Authorization", "Bearer " + sensor_);
  Spaces huge(api::kMaxAlertBodyBytes + 10);
  EXPECT_EQ(Must(client_->Upload(Method::kPost, "/api/v1/alerts", headers, huge,
                                 api::kMaxAlertBodyBytes + 10),
                 "huge")
                .status,
            413);
  EXPECT_TRUE(List("").alerts.empty());
}

TEST_F(AlertsApiTest, OnlyAlertsWriteMayPostAndAReaderMayNot) {
  const std::string body = AlertText("port-scan", 2, "x");
  for (const char* role : {"auditor", "app-manager"}) {
    const std::string token = Must(access::CreateToken(node_->TokensFile(), role), role);
    EXPECT_EQ(Send(Method::kPost, "/api/v1/alerts", token, body).status, 403) << role;
  }
  EXPECT_EQ(Must(client_->Request(Method::kGet, "/api/v1/alerts"), "anonymous").status, 401);
  EXPECT_TRUE(List("").alerts.empty());
}

TEST_F(AlertsApiTest, TheRateLimitAnswers429AndTheDropIsReported) {
  std::string batch = R"({"alerts":[)";
  for (int i = 0; i < 8; ++i) batch += (i == 0 ? "" : ",") + AlertText("port-scan", 2, "x");
  batch += "]}";
  ASSERT_EQ(Send(Method::kPost, "/api/v1/alerts", sensor_, batch).status, 201);
  const Response refused = Send(Method::kPost, "/api/v1/alerts", sensor_, batch);
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_TRUE(refused.headers.Get("Retry-After").has_value());
  const api::AlertList list = List("");
  EXPECT_EQ(list.alerts.size(), 8u);
  ASSERT_EQ(list.dropped.size(), 1u);
  EXPECT_EQ(list.dropped[0].source, "host");
  EXPECT_EQ(list.dropped[0].rate_limited, 8);
}

}  // namespace
}  // namespace fogkeep::node
