// POST /v1/alerts on the apps' own sockets, served as fogkeepd serves them (AppSockets with the
// alert route): the app is whoever the listener belongs to, whatever the body says, and one
// app's socket cannot be used by another app's uids.
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

#include "api/node.h"
#include "net/client.h"
#include "node/alerts/routes.h"
#include "node/sss/app_sockets.h"
#include "node/sss/service.h"
#include "support/support.h"

namespace fogkeep::node::alerts {
namespace {

using fogkeep::testing::Must;
using net::Method;
using net::Response;

constexpr runtime::IdRange kRangeA{.host_base = 300000, .size = 65536};
constexpr runtime::IdRange kRangeB{.host_base = 365536, .size = 65536};

// Names another app as its "source" and its signature: neither may change who posted it.
constexpr std::string_view kForged =
    R"({"timestamp":"2026-11-26T14:03:07Z","event_type":"alert","source":"app-a",)"
    R"("app":"app-a","alert":{"detector":"port-scan","signature":"from b","severity":2}})";

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

class AppAlertRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::shared_ptr<AlertStore>(Must(OpenSqliteAlertStore(":memory:"), "store"));
    intake_ =
        std::make_shared<AlertIntake>(store_, IntakeLimits{.alerts_per_second = 1, .burst = 300});
    auto services = Must(sss::OpenStorage({}, dir_.path()), "storage");
    sockets_ = Must(sss::AppSockets::Start(sss::SocketsRoot(dir_.path()), services, {},
                                           [this](net::Router& router) {
                                             return RegisterAppAlertRoute(
                                                 router, intake_, sss::kAppSocketPermission);
                                           }),
                    "sockets");
  }

  Response Post(const std::string& app, std::string_view body) {
    auto client = Must(net::Client::Unix(sockets_->SocketPath(app)), "client");
    return Must(client->Request(Method::kPost, "/v1/alerts", {}, body), "post");
  }

  fogkeep::testing::TempDir dir_;
  std::shared_ptr<AlertStore> store_;
  std::shared_ptr<AlertIntake> intake_;
  std::unique_ptr<sss::AppSockets> sockets_;
};

TEST_F(AppAlertRouteTest, TheAppIsTheSocketsOwnerNotWhatTheBodySays) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  Must(sockets_->Prepare("app-b", kRangeB), "b");
  const Response posted = Post("app-b", kForged);
  ASSERT_EQ(posted.status, 201) << posted.body;
  const auto accepted = Must(api::FromJsonText<api::AlertsAccepted>(posted.body), "answer");
  EXPECT_EQ(accepted.accepted, 1);
  EXPECT_EQ(accepted.last_seq, 1);
  const auto stored = Must(store_->List({}), "list");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].source, "app-b");
  EXPECT_TRUE(Must(store_->List({.source = "app-a"}), "a's").empty());
}

TEST_F(AppAlertRouteTest, HostileBodiesAreClear4xxAndStoreNothing) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  EXPECT_EQ(Post("app-a", "not json").status, 400);
  EXPECT_EQ(Post("app-a", R"({"alerts":[]})").status, 400);
  const Response bad = Post("app-a", R"({"event_type":"alert"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("timestamp"), std::string::npos) << bad.body;
  // Larger than any batch can be: refused from its Content-Length, before the body is read.
  auto client = Must(net::Client::Unix(sockets_->SocketPath("app-a")), "client");
  Spaces huge(api::kMaxAlertBodyBytes + 1);
  EXPECT_EQ(Must(client->Upload(Method::kPost, "/v1/alerts", {}, huge, api::kMaxAlertBodyBytes + 1),
                 "huge")
                .status,
            413);
  EXPECT_TRUE(Must(store_->List({}), "list").empty());
}

TEST_F(AppAlertRouteTest, AnAppOverItsRateGets429WithRetryAfter) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  std::string batch = R"({"alerts":[)";
  for (int i = 0; i < 200; ++i) batch += (i == 0 ? "" : ",") + std::string(kForged);
  batch += "]}";
  EXPECT_EQ(Post("app-a", batch).status, 201);
  const Response refused = Post("app-a", batch);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_TRUE(refused.headers.Get("Retry-After").has_value());
  const auto drops = Must(intake_->Drops(), "drops");
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].source, "app-a");
  EXPECT_EQ(drops[0].rate_limited, 200);
}

TEST_F(AppAlertRouteTest, AnAppCalledHostCannotPassForTheHostSensor) {
  Must(sockets_->Prepare("host", kRangeA), "host app");
  EXPECT_EQ(Post("host", kForged).status, 403);
  EXPECT_TRUE(Must(store_->List({}), "list").empty());
}

// Posts one alert on `socket` as host uid `uid` from a child process; its HTTP status, or -1
// when none came back (the listener refused the peer).
int PostAsUid(const std::string& socket, uid_t uid) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(3);
    }
    auto client = net::Client::Unix(socket);
    if (!client) ::_exit(2);
    auto response = (*client)->Request(Method::kPost, "/v1/alerts", {}, kForged);
    ::_exit(response && response->status == 201 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 3) << "could not change uid";
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(AppAlertRouteTest, AnotherAppsUidsCannotUseTheSocket) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to take other uids";
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  EXPECT_EQ(PostAsUid(sockets_->SocketPath("app-a"), kRangeA.host_base + 5), 0);
  EXPECT_NE(PostAsUid(sockets_->SocketPath("app-a"), kRangeB.host_base), 0);
  const auto stored = Must(store_->List({}), "list");
  ASSERT_EQ(stored.size(), 1u);  // only the post of A's own uid
  EXPECT_EQ(stored[0].source, "app-a");
}

}  // namespace
}  // namespace fogkeep::node::alerts
