// The node HTTP API driven through a real net::Server on 127.0.0.1:0 (and its Unix socket),
// with FakeAppService standing in for the app registry: routing, status codes, JSON shapes,
// token authentication, upload limits, streamed uploads and log following.
#include "node/api.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "access/audit_api.h"
#include "access/auth_token.h"
#include "api/node.h"
#include "audit/log.h"
#include "audit/query.h"
#include "audit/verify.h"
#include "core/fs.h"
#include "crypto/hash.h"
#include "net/client.h"
#include "net/server.h"
#include "support/support.h"
#include "unit/net/net_test_util.h"
#include "unit/node_api/fake_app_service.h"

namespace fogkeep::node {
namespace {

using net::Client;
using net::Headers;
using net::Method;
using net::Response;
using net::test::Must;

constexpr std::uint64_t kUploadLimit = 4 << 20;

// A body of `size` pseudo-random bytes produced in odd-sized pieces, with no length known in
// advance (so the client sends it chunked).
class PatternBody : public net::BodySource {
 public:
  explicit PatternBody(std::size_t size) : remaining_(size) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override {
    std::size_t n = std::min({size, remaining_, std::size_t{7777}});
    for (std::size_t i = 0; i < n; ++i) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      buf[i] = static_cast<char>(state_ >> 56);
    }
    digest_.Update(buf, n);
    remaining_ -= n;
    return n;
  }
  std::string HexDigest() { return digest_.HexFinal(); }

 private:
  std::size_t remaining_;
  std::uint64_t state_ = 42;
  crypto::Digest digest_;
};

class NodeApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new net::test::Issued(net::test::MakeCa("node api test CA"));
    server_cert_ = new net::test::Issued(
        net::test::MakeLeaf(*ca_, "node", crypto::ExtendedKeyUsage::kServerAuth));
  }

  void SetUp() override {
    token_ = Must(access::CreateToken(dir_ / "tokens", "admin"), "token");
    net::Router router;
    ApiOptions options;
    options.max_upload_bytes = kUploadLimit;
    options.log_poll_interval = std::chrono::milliseconds(20);
    Must(RegisterNodeApi(router, apps_, options), "register");
    audit_ =
        Must(audit::AuditLog::Open(dir_ / "audit.log", {.durability = audit::Durability::kNone}),
             "audit log");
    Must(access::RegisterAuditApi(router, audit_), "register audit");
    net::ServerOptions server_options;
    // Three refusals are recorded, then none (no refill), so tests can count them.
    server_options.audit =
        access::MakeAuditSink(audit_, {.refusal_burst = 3, .refusals_per_second = 0});
    server_options.tcp = net::TcpListenerOptions{
        .address = "127.0.0.1", .port = 0, .tls = {.identity = server_cert_->identity()}};
    server_options.unix_socket = net::UnixListenerOptions{.path = dir_ / "api.sock"};
    server_ =
        Must(net::Server::Create(std::move(server_options), std::move(router),
                                 std::make_shared<access::TokenAuthenticator>(dir_ / "tokens"),
                                 std::make_shared<access::RoleAuthorizer>()),
             "server");
    Must(server_->Start(), "start");
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<Client> Https() {
    net::ClientTlsOptions tls;
    tls.trust = net::test::TrustOnly(ca_->cert);
    return Must(Client::Https("127.0.0.1", server_->tcp_port(), std::move(tls)), "client");
  }
  Headers Auth(std::string_view token = "") const {
    Headers h;
    h.Set("Authorization", "Bearer " + std::string(token.empty() ? token_ : token));
    return h;
  }
  Response Call(Method method, std::string_view target, std::string_view body = {}) {
    return Must(Https()->Request(method, target, Auth(), body), "request");
  }
  static boost::json::object JsonObject(const Response& r) {
    auto parsed = api::ParseJson(r.body);
    EXPECT_TRUE(parsed) << r.body;
    if (!parsed || !parsed->is_object()) return {};
    return parsed->as_object();
  }
  static std::string ErrorCodeOf(const Response& r) {
    auto body = api::FromJsonText<api::ErrorBody>(r.body);
    EXPECT_TRUE(body) << r.body;
    return body ? body->code : "";
  }

  // The records of the audit log, oldest first.
  std::vector<audit::Record> AuditRecords() const {
    std::vector<audit::Record> out;
    const std::string text = Must(fs::ReadFile(dir_ / "audit.log"), "read audit log");
    std::size_t pos = 0;
    for (std::size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      out.push_back(Must(audit::ParseLine(std::string_view(text).substr(pos, nl - pos)), "record"));
    }
    return out;
  }
  std::string TokenActor(std::string_view token) const {
    return "token:" + crypto::Sha256Hex(token).substr(0, 12);
  }

  static inline net::test::Issued* ca_ = nullptr;
  static inline net::test::Issued* server_cert_ = nullptr;
  testing::TempDir dir_;
  std::shared_ptr<FakeAppService> apps_ = std::make_shared<FakeAppService>();
  std::shared_ptr<audit::AuditLog> audit_;
  std::unique_ptr<net::Server> server_;
  std::string token_;
};

TEST_F(NodeApiTest, HealthIsPublic) {
  Response r = Must(Https()->Request(Method::kGet, "/healthz"), "healthz");
  EXPECT_EQ(r.status, 200);
  auto health = api::FromJsonText<api::Health>(r.body);
  ASSERT_TRUE(health) << r.body;
  EXPECT_EQ(health->status, "ok");
}

TEST_F(NodeApiTest, TokenAuthentication) {
  auto client = Https();
  Response none = Must(client->Request(Method::kGet, "/api/v1/apps"), "no token");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(ErrorCodeOf(none), "unauthenticated");
  Response wrong =
      Must(client->Request(Method::kGet, "/api/v1/apps", Auth("not-the-token")), "wrong token");
  EXPECT_EQ(wrong.status, 401);
  Headers basic;
  basic.Set("Authorization", "Basic " + token_);
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/apps", basic), "basic").status, 401);
  Response good = Must(client->Request(Method::kGet, "/api/v1/apps", Auth()), "good token");
  EXPECT_EQ(good.status, 200);
  // Metrics need a token too.
  EXPECT_EQ(Must(client->Request(Method::kGet, "/metrics"), "metrics").status, 401);
  // A token created while the server runs works at once.
  std::string later = Must(access::CreateToken(dir_ / "tokens", "auditor"), "second token");
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/apps", Auth(later)), "later").status, 200);
}

TEST_F(NodeApiTest, TokensFileHoldsOnlyHashesAndIsPrivate) {
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "tokens").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::string text = Must(fs::ReadFile(dir_ / "tokens"), "read");
  EXPECT_EQ(text.find(token_), std::string::npos);
  EXPECT_NE(text.find(crypto::Sha256Hex(token_)), std::string::npos);
  EXPECT_EQ(token_.size(), 43u);  // 32 bytes, base64url without padding
  EXPECT_EQ(token_.find_first_of("+/="), std::string::npos);
  EXPECT_FALSE(access::CreateToken(dir_ / "tokens", "superuser"));
}

TEST_F(NodeApiTest, RootOnTheUnixSocketIsAdminWithoutToken) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (SO_PEERCRED uid 0)";
  auto client = Must(Client::Unix(dir_ / "api.sock"), "unix client");
  Response r = Must(client->Request(Method::kGet, "/api/v1/apps"), "list");
  EXPECT_EQ(r.status, 200);
}

TEST_F(NodeApiTest, ListAndGetShapes) {
  apps_->AddApp("alpha", AppState::kRunning);
  Response list = Call(Method::kGet, "/api/v1/apps");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.headers.Get("Content-Type"), "application/json");
  auto apps = api::FromJsonText<api::AppList>(list.body);
  ASSERT_TRUE(apps) << list.body;
  ASSERT_EQ(apps->apps.size(), 1u);
  EXPECT_EQ(apps->apps[0].id, "alpha");
  EXPECT_EQ(apps->apps[0].state, "RUNNING");
  boost::json::object raw = JsonObject(list);
  ASSERT_TRUE(raw.contains("apps"));
  const auto& first = raw["apps"].as_array().at(0).as_object();
  for (const char* key :
       {"id", "name", "version", "state", "type", "signer", "profile", "memory_mb", "cpu_units",
        "ports", "network", "installed_at", "updated_at", "restarts", "last_exit"}) {
    EXPECT_TRUE(first.contains(key)) << key;
  }

  Response one = Call(Method::kGet, "/api/v1/apps/alpha");
  EXPECT_EQ(one.status, 200);
  Response missing = Call(Method::kGet, "/api/v1/apps/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ErrorCodeOf(missing), "not_found");
  EXPECT_EQ(Call(Method::kGet, "/api/v1/nothing-here").status, 404);
  EXPECT_EQ(Call(Method::kPatch, "/api/v1/apps").status, 405);
}

TEST_F(NodeApiTest, LifecycleActionsAndIllegalTransitions) {
  apps_->AddApp("alpha", AppState::kDeployed);
  Response activated = Call(Method::kPost, "/api/v1/apps/alpha/activate");
  ASSERT_EQ(activated.status, 200) << activated.body;
  EXPECT_EQ(api::FromJsonText<api::App>(activated.body)->state, "ACTIVATED");
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/start").status, 200);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/restart").status, 200);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/stop").status, 200);
  Response illegal = Call(Method::kPost, "/api/v1/apps/alpha/stop");
  EXPECT_EQ(illegal.status, 409);
  EXPECT_EQ(ErrorCodeOf(illegal), "conflict");
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/deactivate").status, 200);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/explode").status, 404);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/uninstall").status, 404);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/ghost/start").status, 404);
  EXPECT_EQ(apps_->actions(),
            (std::vector<std::string>{"activate alpha", "start alpha", "restart alpha",
                                      "stop alpha", "deactivate alpha"}));
  EXPECT_EQ(Call(Method::kDelete, "/api/v1/apps/alpha").status, 204);
  EXPECT_EQ(Call(Method::kDelete, "/api/v1/apps/alpha").status, 404);
}

TEST_F(NodeApiTest, StreamedUploadReachesInstallByteExact) {
  PatternBody body(3 * 1024 * 1024 + 123);
  auto client = Https();
  Response r =
      Must(client->Upload(Method::kPost, "/api/v1/apps?id=streamed", Auth(), body, std::nullopt),
           "upload");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers.Get("Location"), "/api/v1/apps/streamed");
  EXPECT_EQ(api::FromJsonText<api::App>(r.body)->id, "streamed");
  EXPECT_EQ(apps_->last_upload_bytes(), 3u * 1024 * 1024 + 123);
  EXPECT_EQ(apps_->last_upload_sha256(), body.HexDigest());

  // The same through UploadFile (Content-Length known).
  std::string file = dir_ / "pkg.tar";
  std::string data(1 << 20, 'x');
  data += "tail";
  Must(fs::WriteFileAtomic(file, data), "write");
  Response again = Must(client->UploadFile(Method::kPost, "/api/v1/apps", Auth(), file), "file");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(apps_->last_upload_sha256(), crypto::Sha256Hex(data));
  // A second install under the same id conflicts.
  Response dup = Must(client->UploadFile(Method::kPost, "/api/v1/apps", Auth(), file), "dup");
  EXPECT_EQ(dup.status, 409);

  Response upgraded = Must(
      client->UploadFile(Method::kPost, "/api/v1/apps/hello/upgrade", Auth(), file), "upgrade");
  EXPECT_EQ(upgraded.status, 200) << upgraded.body;
  EXPECT_EQ(api::FromJsonText<api::App>(upgraded.body)->version, "2.0");
}

TEST_F(NodeApiTest, OversizedUploadIs413) {
  auto client = Https();
  PatternBody declared(kUploadLimit + 1);
  Response r =
      Must(client->Upload(Method::kPost, "/api/v1/apps", Auth(), declared, kUploadLimit + 1),
           "declared");
  EXPECT_EQ(r.status, 413);
  PatternBody chunked(kUploadLimit + 100000);
  Result<Response> c =
      Https()->Upload(Method::kPost, "/api/v1/apps", Auth(), chunked, std::nullopt);
  // The server answers 413 as soon as the chunked body passes the limit; a client still
  // sending may instead see the connection close.
  if (c) {
    EXPECT_EQ(c->status, 413) << c->body;
  }
  EXPECT_TRUE(apps_->List()->empty());
}

TEST_F(NodeApiTest, LogsTailAndFollow) {
  apps_->AddApp("alpha", AppState::kRunning);
  apps_->AppendLog("alpha", "one\ntwo\nthree\n");
  Response all = Call(Method::kGet, "/api/v1/apps/alpha/logs?tail=2");
  EXPECT_EQ(all.status, 200);
  EXPECT_EQ(all.body, "one\ntwo\nthree\n");  // the fake ignores tail; the service applies it
  EXPECT_EQ(Call(Method::kGet, "/api/v1/apps/alpha/logs?tail=x").status, 400);
  EXPECT_EQ(Call(Method::kGet, "/api/v1/apps/ghost/logs?follow=1").status, 404);

  std::string received;
  std::atomic<bool> appended = false;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    apps_->AppendLog("alpha", "four\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    apps_->AppendLog("alpha", "five\n");
    appended = true;
  });
  auto client = Https();
  Result<Response> r = client->Download(
      Method::kGet, "/api/v1/apps/alpha/logs?tail=2&follow=1", Auth(),
      [&](std::string_view chunk) -> Status {
        received += chunk;
        if (received.find("five\n") != std::string::npos) {
          return Fail(ErrorCode::kUnavailable, "seen enough");  // the client goes away
        }
        return {};
      },
      std::chrono::milliseconds(5000));
  writer.join();
  ASSERT_FALSE(r);  // ended by the callback
  EXPECT_EQ(r.error().message(), "seen enough");
  EXPECT_TRUE(appended);
  EXPECT_EQ(received, "two\nthree\nfour\nfive\n");
  // The server noticed the client leaving; it still serves others.
  EXPECT_EQ(Call(Method::kGet, "/healthz").status, 200);
}

TEST_F(NodeApiTest, MetricsAndPrometheus) {
  apps_->AddApp("alpha", AppState::kRunning);
  Response m = Call(Method::kGet, "/api/v1/apps/alpha/metrics");
  ASSERT_EQ(m.status, 200);
  auto metrics = api::FromJsonText<api::AppMetrics>(m.body);
  ASSERT_TRUE(metrics) << m.body;
  EXPECT_EQ(metrics->pids, 3u);
  EXPECT_EQ(metrics->state, "RUNNING");
  EXPECT_DOUBLE_EQ(metrics->cpu_seconds, 1.5);

  Response p = Call(Method::kGet, "/metrics");
  ASSERT_EQ(p.status, 200);
  EXPECT_NE(p.headers.Get("Content-Type")->find("version=0.0.4"), std::string::npos);
  for (const char* line :
       {"fogkeep_app_state{app=\"alpha\",state=\"RUNNING\"} 1",
        "fogkeep_app_state{app=\"alpha\",state=\"STOPPED\"} 0",
        "fogkeep_app_cpu_seconds_total{app=\"alpha\"} 1.5",
        "fogkeep_app_memory_bytes{app=\"alpha\"} 1048576", "fogkeep_app_pids{app=\"alpha\"} 3",
        "fogkeep_app_restarts{app=\"alpha\"} 2", "# TYPE fogkeepd_resident_memory_bytes gauge",
        "fogkeepd_uptime_seconds "}) {
    EXPECT_NE(p.body.find(line), std::string::npos) << line << "\n" << p.body;
  }
}

TEST_F(NodeApiTest, ConfigRoundTrip) {
  apps_->AddApp("alpha", AppState::kDeployed);
  const std::string ini = "[app]\ngreeting = hi\n";
  Response put = Call(Method::kPut, "/api/v1/apps/alpha/config", ini);
  EXPECT_EQ(put.status, 200);
  Response get = Call(Method::kGet, "/api/v1/apps/alpha/config");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, ini);
  EXPECT_EQ(Call(Method::kPut, "/api/v1/apps/alpha/config", std::string(100 << 10, 'x')).status,
            413);
}

TEST_F(NodeApiTest, PlatformPolicyAndTrust) {
  Response get = Call(Method::kGet, "/api/v1/platform/policy");
  ASSERT_EQ(get.status, 200);
  auto policy = api::FromJsonText<api::PlatformPolicy>(get.body);
  ASSERT_TRUE(policy);
  EXPECT_TRUE(policy->require_signed);
  EXPECT_FALSE(policy->allow_downgrade);

  Response put = Call(Method::kPut, "/api/v1/platform/policy",
                      R"({"require_signed":false,"allowed_capabilities":["NET_BIND_SERVICE"],)"
                      R"("allow_host_network":false,"allow_downgrade":true})");
  ASSERT_EQ(put.status, 200) << put.body;
  auto stored = apps_->GetPolicy();
  EXPECT_FALSE(stored->require_signed);
  EXPECT_TRUE(stored->allow_downgrade);
  EXPECT_EQ(stored->allowed_capabilities, std::vector<std::string>{"NET_BIND_SERVICE"});
  EXPECT_EQ(Call(Method::kPut, "/api/v1/platform/policy", "{not json").status, 400);
  EXPECT_EQ(Call(Method::kPut, "/api/v1/platform/policy", R"({"require_signed":"no"})").status,
            400);

  const std::string pem = ca_->cert.ToPem();
  api::TrustMaterial trust{.anchors = {pem}, .crls = {}};
  Response set = Call(Method::kPut, "/api/v1/platform/trust", api::ToJsonText(trust));
  ASSERT_EQ(set.status, 200) << set.body;
  Response got = Call(Method::kGet, "/api/v1/platform/trust");
  auto back = api::FromJsonText<api::TrustMaterial>(got.body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->anchors, std::vector<std::string>{pem});
  EXPECT_EQ(Call(Method::kPut, "/api/v1/platform/trust", R"({"anchors":["junk"]})").status, 400);
}

TEST_F(NodeApiTest, AuditReadIsForAuditorsAndAdminsOnly) {
  auto client = Https();
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/audit", Auth()), "admin").status, 200);
  const std::string auditor = Must(access::CreateToken(dir_ / "tokens", "auditor"), "auditor");
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/audit", Auth(auditor)), "a").status, 200);
  for (const char* role : {"app-manager", "network-manager"}) {
    const std::string token = Must(access::CreateToken(dir_ / "tokens", role), role);
    Response r = Must(client->Request(Method::kGet, "/api/v1/audit", Auth(token)), role);
    EXPECT_EQ(r.status, 403) << role;
    EXPECT_EQ(ErrorCodeOf(r), "forbidden") << role;
  }
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/audit"), "none").status, 401);

  // The same matrix governs the other routes: an auditor reads apps but cannot change them.
  apps_->AddApp("alpha", AppState::kActivated);
  const std::string manager = Must(access::CreateToken(dir_ / "tokens", "app-manager"), "manager");
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/apps", Auth(auditor)), "a").status, 200);
  EXPECT_EQ(
      Must(client->Request(Method::kPost, "/api/v1/apps/alpha/start", Auth(auditor)), "a").status,
      403);
  EXPECT_EQ(
      Must(client->Request(Method::kPost, "/api/v1/apps/alpha/start", Auth(manager)), "m").status,
      200);
  EXPECT_EQ(Must(client->Request(Method::kPut, "/api/v1/platform/policy", Auth(manager), "{}"), "m")
                .status,
            403);
  EXPECT_TRUE(auth::RoleHolds("admin", "anything.added.later"));
  EXPECT_FALSE(auth::RoleHolds("auditor", "anything.added.later"));
}

TEST_F(NodeApiTest, StateChangingCallsAreAuditedWithWhoWhatWhereAndResult) {
  apps_->AddApp("alpha", AppState::kDeployed);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/activate").status, 200);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/ghost/start").status, 404);
  EXPECT_EQ(Call(Method::kGet, "/api/v1/apps").status, 200);  // reads are not recorded
  const std::string file = dir_ / "pkg.tar";
  Must(fs::WriteFileAtomic(file, std::string(1000, 'p')), "write");
  EXPECT_EQ(Must(Https()->UploadFile(Method::kPost, "/api/v1/apps", Auth(), file), "up").status,
            201);
  EXPECT_EQ(Call(Method::kPut, "/api/v1/platform/policy", "{not json").status, 400);
  EXPECT_EQ(Call(Method::kDelete, "/api/v1/apps/alpha").status, 204);

  const auto records = AuditRecords();
  ASSERT_EQ(records.size(), 5u);
  const std::vector<std::tuple<std::string, std::string, std::string>> expected = {
      {"apps.activate", "alpha", "200"},
      {"apps.start", "ghost", "404"},
      {"apps.install", "hello", "201"},
      {"platform.policy", "/api/v1/platform/policy", "400"},
      {"apps.uninstall", "alpha", "204"}};
  for (std::size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(records[i].seq, i + 1);
    EXPECT_EQ(records[i].action, std::get<0>(expected[i]));
    EXPECT_EQ(records[i].target, std::get<1>(expected[i]));
    EXPECT_EQ(records[i].result, std::get<2>(expected[i]));
    EXPECT_EQ(records[i].actor, TokenActor(token_));
    EXPECT_EQ(records[i].role, "admin");
    EXPECT_EQ(records[i].source, "127.0.0.1");
  }
  EXPECT_EQ(records[0].detail, "");
  EXPECT_NE(records[1].detail.find("no app ghost"), std::string::npos) << records[1].detail;
  EXPECT_FALSE(records[3].detail.empty());

  audit::VerifyReport report = audit::VerifyText(Must(fs::ReadFile(dir_ / "audit.log"), "read"),
                                                 {.anchors = {*audit_->head()}});
  EXPECT_TRUE(report.ok());

  // Read back through the API, filtered.
  Response listed = Call(Method::kGet, "/api/v1/audit?action=apps.*&result=2xx&limit=2");
  ASSERT_EQ(listed.status, 200) << listed.body;
  boost::json::object body = JsonObject(listed);
  EXPECT_EQ(body["matched"].as_int64(), 3);
  ASSERT_EQ(body["records"].as_array().size(), 2u);
  auto last = audit::RecordFromJson(body["records"].as_array().at(1));
  ASSERT_TRUE(last) << last.error().message();
  EXPECT_EQ(last->action, "apps.uninstall");
  EXPECT_EQ(last->hash, records[4].hash);
  EXPECT_EQ(Call(Method::kGet, "/api/v1/audit?since=yesterday").status, 400);
  EXPECT_EQ(Call(Method::kGet, "/api/v1/audit?limit=0").status, 400);
  EXPECT_EQ(Call(Method::kGet, "/api/v1/audit?format=xml").status, 400);
}

TEST_F(NodeApiTest, RefusedRequestsAreAuditedAndRateLimited) {
  auto client = Https();
  EXPECT_EQ(
      Must(client->Request(Method::kGet, "/api/v1/apps", Auth("not-the-token")), "bad").status,
      401);
  const std::string manager = Must(access::CreateToken(dir_ / "tokens", "app-manager"), "manager");
  EXPECT_EQ(Must(client->Request(Method::kGet, "/api/v1/audit", Auth(manager)), "m").status, 403);
  auto records = AuditRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].action, "auth.failed");
  EXPECT_EQ(records[0].actor, "-");
  EXPECT_EQ(records[0].role, "");
  EXPECT_EQ(records[0].source, "127.0.0.1");
  EXPECT_EQ(records[0].target, "GET /api/v1/apps");
  EXPECT_EQ(records[0].result, "401");
  EXPECT_EQ(records[0].detail, "invalid token");
  EXPECT_EQ(records[1].action, "auth.denied");
  EXPECT_EQ(records[1].actor, TokenActor(manager));
  EXPECT_EQ(records[1].role, "app-manager");
  EXPECT_EQ(records[1].target, "GET /api/v1/audit");
  EXPECT_EQ(records[1].result, "403");
  EXPECT_NE(records[1].detail.find("audit.read"), std::string::npos);
  // A flood is bounded: the fixture allows three refusal records and no refill.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Must(client->Request(Method::kPost, "/api/v1/apps/x/start"), "none").status, 401);
  }
  records = AuditRecords();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].target, "POST /api/v1/apps/x/start");
}

TEST_F(NodeApiTest, UnixSocketCallsAreAuditedWithTheUid) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (SO_PEERCRED uid 0)";
  apps_->AddApp("alpha", AppState::kDeployed);
  auto client = Must(Client::Unix(dir_ / "api.sock"), "unix client");
  EXPECT_EQ(Must(client->Request(Method::kPost, "/api/v1/apps/alpha/activate"), "act").status, 200);
  const auto records = AuditRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].actor, "uid:0");
  EXPECT_EQ(records[0].source, "unix:uid=0");
}

TEST_F(NodeApiTest, RawAuditLogVerifiesAgainstItsHead) {
  Response empty = Call(Method::kGet, "/api/v1/audit?format=raw");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");
  EXPECT_FALSE(empty.headers.Has(audit::kHeadHeader));
  apps_->AddApp("alpha", AppState::kDeployed);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/activate").status, 200);
  EXPECT_EQ(Call(Method::kPost, "/api/v1/apps/alpha/deactivate").status, 200);
  Response raw = Call(Method::kGet, "/api/v1/audit?format=raw");
  ASSERT_EQ(raw.status, 200);
  EXPECT_EQ(raw.headers.Get("Content-Type"), "application/x-ndjson");
  ASSERT_TRUE(raw.headers.Has(audit::kHeadHeader));
  EXPECT_EQ(*raw.headers.Get(audit::kHeadHeader), audit::FormatAnchor(*audit_->head()));
  auto anchor = audit::ParseAnchor(*raw.headers.Get(audit::kHeadHeader));
  ASSERT_TRUE(anchor);
  audit::VerifyReport report = audit::VerifyText(raw.body, {.anchors = {*anchor}});
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.records, 2u);
  EXPECT_EQ(raw.body, Must(fs::ReadFile(dir_ / "audit.log"), "read"));
}

// A trail that cannot take records: state-changing calls are refused before they act.
class FullTrail : public net::AuditSink {
 public:
  Status Ready() override { return Fail(ErrorCode::kUnavailable, "audit log full"); }
  Status Record(const net::AuditEvent&) override {
    ++recorded;
    return {};
  }
  std::atomic<int> recorded = 0;
};

TEST_F(NodeApiTest, ChangesAreRefusedWhenTheTrailCannotRecordThem) {
  server_->Stop();
  net::Router router;
  Must(RegisterNodeApi(router, apps_, {}), "register");
  auto trail = std::make_shared<FullTrail>();
  net::ServerOptions options;
  options.tcp = net::TcpListenerOptions{
      .address = "127.0.0.1", .port = 0, .tls = {.identity = server_cert_->identity()}};
  options.audit = trail;
  server_ = Must(net::Server::Create(std::move(options), std::move(router),
                                     std::make_shared<access::TokenAuthenticator>(dir_ / "tokens"),
                                     std::make_shared<access::RoleAuthorizer>()),
                 "server");
  Must(server_->Start(), "start");
  apps_->AddApp("alpha", AppState::kDeployed);
  Response refused = Call(Method::kPost, "/api/v1/apps/alpha/activate");
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("audit log full"), std::string::npos) << refused.body;
  EXPECT_TRUE(apps_->actions().empty());
  EXPECT_EQ(trail->recorded, 0);
  EXPECT_EQ(Call(Method::kGet, "/api/v1/apps").status, 200);  // reads go on
}

TEST(ApiWireTest, AppRoundTripsThroughJson) {
  api::App app{.id = "a", .name = "n", .version = "1", .state = "RUNNING", .memory_mb = 64};
  app.last_exit = api::AppExit{.exit_code = 3, .signal = 0, .finished_at = 77};
  auto back = api::FromJsonText<api::App>(api::ToJsonText(app));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "a");
  EXPECT_EQ(back->memory_mb, 64);
  ASSERT_TRUE(back->last_exit);
  EXPECT_EQ(back->last_exit->exit_code, 3);
  EXPECT_EQ(back->last_exit->finished_at, 77);
  EXPECT_FALSE(api::FromJsonText<api::App>(R"({"memory_mb":"lots"})"));
  EXPECT_FALSE(api::FromJsonText<api::App>(R"({"memory_mb":99999999999})"));
  EXPECT_FALSE(api::FromJsonText<api::App>("[1,2]"));
  EXPECT_FALSE(api::FromJsonText<api::AppList>(R"({"apps":{}})"));
}

}  // namespace
}  // namespace fogkeep::node
