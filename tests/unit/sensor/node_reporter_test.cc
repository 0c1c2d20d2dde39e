// NodeReporter against a real fogkeep HTTP server on a Unix socket: what it posts is a batch
// the node's own parser (api::ParseAlertBatch) accepts, refused batches are not sent again,
// and a node that is down or answers 503 gets the alerts later, in order.
#include "sensor/node_reporter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "api/alert.h"
#include "net/server.h"
#include "support/support.h"

namespace fogkeep::sensor {
namespace {

using namespace std::chrono_literals;

class FakeNode {
 public:
  explicit FakeNode(std::string socket) : socket_(std::move(socket)) {}
  ~FakeNode() { Stop(); }

  void Start() {
    net::Router router;
    net::RouteOptions options;
    options.is_public = true;
    options.max_body_bytes = api::kMaxAlertBodyBytes;
    ASSERT_TRUE(router.Add(net::Method::kPost, "/api/v1/alerts", options,
                           [this](net::Request& request) -> Result<net::Response> {
                             const int status = status_.load();
                             if (status != 200) return net::Response::Json("{}", status);
                             auto batch = api::ParseAlertBatch(request.body);
                             if (!batch) return Fail(batch.error());
                             std::lock_guard lock(mu_);
                             for (const api::Alert& alert : *batch) received_.push_back(alert);
                             return net::Response::Json("{}", 200);
                           }));
    net::ServerOptions server_options;
    server_options.unix_socket = net::UnixListenerOptions{.path = socket_};
    auto server =
        net::Server::Create(std::move(server_options), std::move(router), nullptr, nullptr);
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->Start());
  }
  void Stop() {
    if (server_) server_->Stop();
    server_.reset();
  }
  void AnswerWith(int status) { status_ = status; }
  std::vector<api::Alert> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  std::string socket_;
  std::unique_ptr<net::Server> server_;
  std::atomic<int> status_{200};
  std::mutex mu_;
  std::vector<api::Alert> received_;
};

Alert Sample(int n) {
  Alert alert;
  alert.timestamp_us = 1'780'000'000'000'000 + n;
  alert.detector = "port-scan";
  alert.signature = "Port scan: one source tried many destination ports";
  alert.category = "scan";
  alert.has_source = true;
  alert.source = IpAddress::V4(0x0a0a0042);
  alert.details = {{"n", n}};
  return alert;
}

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(25ms);
  }
  return done();
}

TEST(NodeReporter, PostsBatchesTheNodeAccepts) {
  fogkeep::testing::TempDir dir;
  FakeNode node(dir / "node.sock");
  node.Start();
  NodeReporter reporter(NodeTarget{dir / "node.sock", "/api/v1/alerts"});
  for (int i = 0; i < 300; ++i) reporter.OnAlert(Sample(i));  // more than one batch
  ASSERT_TRUE(reporter.Drain(10s));
  const std::vector<api::Alert> got = node.received();
  ASSERT_EQ(got.size(), 300u);
  EXPECT_EQ(got[0].detector, "port-scan");
  EXPECT_EQ(got[0].severity, 2);
  EXPECT_EQ(got[0].src_ip, "10.10.0.66");
  EXPECT_NE(got[299].json.find("\"n\":299"), std::string::npos);  // in order
  EXPECT_EQ(reporter.counters().sent, 300u);
}

TEST(NodeReporter, ANodeThatIsDownOrBusyGetsTheAlertsLaterInOrder) {
  fogkeep::testing::TempDir dir;
  FakeNode node(dir / "node.sock");
  NodeReporter reporter(NodeTarget{dir / "node.sock", "/api/v1/alerts"});
  reporter.OnAlert(Sample(1));
  ASSERT_TRUE(WaitFor([&] { return reporter.counters().failures >= 1; }));  // no socket yet
  node.AnswerWith(503);
  node.Start();
  reporter.OnAlert(Sample(2));
  ASSERT_TRUE(WaitFor([&] { return reporter.counters().failures >= 2; }));
  node.AnswerWith(200);
  ASSERT_TRUE(reporter.Drain(15s));
  const std::vector<api::Alert> got = node.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].json.find("\"n\":1"), std::string::npos);
  EXPECT_NE(got[1].json.find("\"n\":2"), std::string::npos);
}

TEST(NodeReporter, ARefusedBatchIsCountedAndNotSentAgain) {
  fogkeep::testing::TempDir dir;
  FakeNode node(dir / "node.sock");
  node.AnswerWith(400);
  node.Start();
  NodeReporter reporter(NodeTarget{dir / "node.sock", "/api/v1/alerts"});
  reporter.OnAlert(Sample(1));
  ASSERT_TRUE(reporter.Drain(10s));
  EXPECT_EQ(reporter.counters().refused, 1u);
  EXPECT_EQ(reporter.counters().sent, 0u);
  EXPECT_TRUE(node.received().empty());
}

TEST(NodeReporter, AFloodIsBoundedAndCounted) {
  fogkeep::testing::TempDir dir;  // no node at all: everything stays queued
  NodeReporter reporter(NodeTarget{dir / "absent.sock", "/api/v1/alerts"});
  for (std::size_t i = 0; i < NodeReporter::kMaxQueued + 100; ++i) reporter.OnAlert(Sample(1));
  const NodeReporterCounters counters = reporter.counters();
  EXPECT_LE(counters.pending, NodeReporter::kMaxQueued);
  EXPECT_GE(counters.dropped, 100u);
}

}  // namespace
}  // namespace fogkeep::sensor
