// `fogkeep fleet`: the checks of command-line values (wave sizes, percentages, tags),
// the client's requests against a small fake director over real TLS, and the login cache's
// telling of directors from nodes.
#include "cli/fleet_client.h"
#include "cli/output.h"

#include <boost/json.hpp>
#include <cstdlib>
#include <mutex>

#include <gtest/gtest.h>

#include "api/node.h"
#include "cli/credentials.h"
#include "cli/node_client.h"
#include "core/fs.h"
#include "net/server.h"
#include "support/support.h"
#include "unit/cli/cli_test_support.h"
#include "unit/net/net_test_util.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using net::Method;
using net::test::Must;

TEST(ParseWaveSizeTest, CountOrShare) {
  EXPECT_EQ(*ParseWaveSize("10"), "10");
  EXPECT_EQ(*ParseWaveSize("1"), "1");
  EXPECT_EQ(*ParseWaveSize("25%"), "25%");
  EXPECT_EQ(*ParseWaveSize("100%"), "100%");
  EXPECT_EQ(*ParseWaveSize("007"), "7");
  for (const char* text : {"", "0", "0%", "101%", "%", "-1", "2.5%", "10 %", "ten", "%10", "1e3"}) {
    const auto parsed = ParseWaveSize(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidInput);
  }
}

TEST(ParsePercentTest, ZeroToHundred) {
  EXPECT_EQ(*ParsePercent("0"), 0);
  EXPECT_EQ(*ParsePercent("20"), 20);
  EXPECT_EQ(*ParsePercent("20%"), 20);
  EXPECT_EQ(*ParsePercent("100"), 100);
  for (const char* text : {"", "%", "101", "-1", "x", "2.5", "20%%"}) {
    EXPECT_FALSE(ParsePercent(text)) << text;
  }
}

TEST(CheckTagTest, TheDirectorsRule) {
  for (const std::string& tag : std::vector<std::string>{"plant-a", "a", "0x", "a.b_c:d-e",
                                                         "line-2", std::string(64, 'z')}) {
    EXPECT_TRUE(CheckTag(tag)) << tag;
  }
  for (const std::string& tag : std::vector<std::string>{
           "", std::string(65, 'z'), "-a", ".a", "A", "Plant", "a b", "caf\xc3\xa9", "*", "a/b"}) {
    const Status checked = CheckTag(tag);
    ASSERT_FALSE(checked) << tag;
    EXPECT_NE(checked.error().message().find("1 to 64 characters"), std::string::npos);
  }
  // Names a hostile tag without passing control characters on.
  EXPECT_EQ(CheckTag("\x1b[2J").error().message().find('\x1b'), std::string::npos);
  EXPECT_TRUE(CheckPolicyTag("*"));
  EXPECT_TRUE(CheckPolicyTag("plant-a"));
  EXPECT_FALSE(CheckPolicyTag("**"));
  EXPECT_FALSE(CheckPolicyTag(""));
}

TEST(ChangeTagsTest, SetAddRemoveKeepTheDirectorsForm) {
  const std::vector<std::string> current = {"line-2", "plant-a"};
  EXPECT_EQ(ChangeTags(current, TagChange::kSet, {"b", "a", "b"}),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ChangeTags(current, TagChange::kAdd, {"canary", "plant-a"}),
            (std::vector<std::string>{"canary", "line-2", "plant-a"}));
  EXPECT_EQ(ChangeTags(current, TagChange::kRemove, {"plant-a", "absent"}),
            (std::vector<std::string>{"line-2"}));
  EXPECT_EQ(ChangeTags(current, TagChange::kRemove, {"line-2", "plant-a"}),
            std::vector<std::string>{});
  EXPECT_EQ(ChangeTags({}, TagChange::kAdd, {"x"}), std::vector<std::string>{"x"});
}

TEST(DeploymentStateTest, FinalStates) {
  for (const char* state : {"completed", "halted", "rolled-back", "cancelled", "undeployed"}) {
    EXPECT_TRUE(IsFinalDeploymentState(state)) << state;
  }
  for (const char* state : {"rolling", "paused", "rolling-back", "undeploying", "", "Completed"}) {
    EXPECT_FALSE(IsFinalDeploymentState(state)) << state;
  }
}

TEST(AgoTest, Rounded) {
  EXPECT_EQ(Ago(0, 1000), "never");
  EXPECT_EQ(Ago(1000, 1000), "0s ago");
  EXPECT_EQ(Ago(1001, 1000), "just now");
  EXPECT_EQ(Ago(1000, 1059), "59s ago");
  EXPECT_EQ(Ago(1000, 1000 + 3599), "59m ago");
  EXPECT_EQ(Ago(1000, 1000 + 5 * 3600), "5h ago");
  EXPECT_EQ(Ago(1000, 1000 + 3 * 86400), "3d ago");
}

TEST(ServerKindTest, EachKindHasItsPortAndOption) {
  EXPECT_EQ(*CanonicalServerUrl("https://Fleet.Example", ServerKind::kDirector),
            "https://fleet.example:9443");
  EXPECT_EQ(*CanonicalServerUrl("https://fleet.example:443/", ServerKind::kDirector),
            "https://fleet.example:443");
  EXPECT_EQ(*CanonicalServerUrl("https://gw1", ServerKind::kNode), "https://gw1:8443");
  const auto bad = CanonicalServerUrl("http://fleet", ServerKind::kDirector);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("--director"), std::string::npos);
  EXPECT_EQ(TraitsOf(ServerKind::kDirector).url_option, "--director");
  EXPECT_EQ(TraitsOf(ServerKind::kNode).url_option, "--node");
}

// The login cache, with logins to nodes and to directors side by side.
class ServerLoginsTest : public ::testing::Test {
 protected:
  CredentialCache Cache() const { return CredentialCache(dir_ / "credentials.json"); }
  static Credential Login(std::string url, ServerKind server) {
    const auto later = std::chrono::system_clock::now() + 1h;
    return Credential{.node = std::move(url),
                      .user = "alice",
                      .role = "admin",
                      .access_token = "fka_a",
                      .refresh_token = "fkr_r",
                      .access_expires = std::chrono::time_point_cast<std::chrono::seconds>(later),
                      .session_expires = std::chrono::time_point_cast<std::chrono::seconds>(later),
                      .ca = "",
                      .server = server};
  }
  testing::TempDir dir_;
};

TEST_F(ServerLoginsTest, TheCacheKeepsWhichKindOfServerALoginIsTo) {
  ASSERT_TRUE(Cache().Store(Login("https://gw1:8443", ServerKind::kNode)));
  ASSERT_TRUE(Cache().Store(Login("https://fleet:9443", ServerKind::kDirector)));
  const auto director = Must(Cache().Find("https://fleet:9443"));
  ASSERT_TRUE(director);
  EXPECT_EQ(director->server, ServerKind::kDirector);
  const auto node = Must(Cache().Find("https://gw1:8443"));
  ASSERT_TRUE(node);
  EXPECT_EQ(node->server, ServerKind::kNode);
  // A node's entry is written as before directors existed.
  const std::string text = Must(fs::ReadFile(dir_ / "credentials.json"));
  EXPECT_NE(text.find(R"("node":"https://fleet:9443","user":"alice")"), std::string::npos);
  EXPECT_NE(text.find(R"("server":"director")"), std::string::npos);
  EXPECT_EQ(text.find(R"("server":"node")"), std::string::npos);

  EXPECT_EQ(Must(OnlyLoggedInServer(Cache(), ServerKind::kDirector)), "https://fleet:9443");
  EXPECT_EQ(Must(OnlyLoggedInServer(Cache(), ServerKind::kNode)), "https://gw1:8443");
  ASSERT_TRUE(Cache().Store(Login("https://fleet2:9443", ServerKind::kDirector)));
  const auto several = OnlyLoggedInServer(Cache(), ServerKind::kDirector);
  ASSERT_FALSE(several);
  EXPECT_EQ(several.error().message(),
            "logged in to several directors (https://fleet:9443, https://fleet2:9443); choose one "
            "with --director");
  ASSERT_TRUE(Cache().Remove("https://gw1:8443"));
  EXPECT_EQ(Must(OnlyLoggedInServer(Cache(), ServerKind::kNode)), "");
}

TEST_F(ServerLoginsTest, AnUnknownServerKindIsRefused) {
  ASSERT_TRUE(fs::WriteFileAtomic(
      dir_ / "credentials.json",
      R"({"version":1,"logins":[{"node":"https://x:9443","server":"toaster","user":"a",)"
      R"("access_token":"fka_x","refresh_token":"fkr_y","access_expires":1900000900,)"
      R"("session_expires":1900043200}]})",
      0600));
  const auto found = Cache().Find("https://x:9443");
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message().find("logins[0].server"), std::string::npos);
}

// Requests as a fake director saw them.
struct Seen {
  std::string method;
  std::string target;
  std::string content_type;
  std::string authorization;
  std::string body;
};

// The director routes FleetClient calls, each answering with a fixed wire object.
class FakeDirector {
 public:
  std::mutex mu;
  std::vector<Seen> seen;  // guarded by mu

  net::Router Routes() {
    net::Router router;
    net::RouteOptions open{.is_public = true, .max_body_bytes = 8 << 20};
    auto record = [this](const net::Request& req) {
      std::lock_guard lock(mu);
      seen.push_back(Seen{std::string(net::MethodName(req.method)), req.target,
                          std::string(req.headers.Get("Content-Type").value_or("")),
                          std::string(req.headers.Get("Authorization").value_or("")), req.body});
    };
    auto add = [&](Method method, std::string_view pattern, std::function<json::value()> answer,
                   int status = 200) {
      Must(router.Add(method, pattern, open, [record, answer, status](net::Request& req) {
        record(req);
        if (status == 204) {
          net::Response r;
          r.status = 204;
          return Result<net::Response>(r);
        }
        return Result<net::Response>(net::Response::Json(json::serialize(answer()), status));
      }));
    };
    const api::DeviceInfo device{.id = "d-1", .name = "press-7", .tags = {"a", "b"}};
    add(Method::kGet, "/api/v1/devices", [=] { return api::ToJson(api::DeviceList{{device}}); });
    add(Method::kGet, "/api/v1/devices/{id}", [=] { return api::ToJson(device); });
    add(Method::kPatch, "/api/v1/devices/{id}", [=] { return api::ToJson(device); });
    add(
        Method::kPost, "/api/v1/catalog",
        [] {
          return api::ToJson(api::CatalogPackage{.name = "hello", .version = "1.0.0", .size = 5});
        },
        201);
    add(Method::kDelete, "/api/v1/catalog/{name}/{version}", nullptr, 204);
    add(Method::kPut, "/api/v1/policies/{tag}",
        [] { return api::ToJson(api::FleetPolicyDoc{.tag = "*"}); });
    add(
        Method::kPost, "/api/v1/deployments",
        [] { return api::ToJson(api::DeploymentInfo{.id = "dep-1", .state = "rolling"}); }, 201);
    add(Method::kPost, "/api/v1/deployments/{id}/{action}",
        [] { return api::ToJson(api::DeploymentInfo{.id = "dep-1", .state = "paused"}); });
    Must(router.Add(Method::kPost, "/api/v1/enrollment-tokens", open, [](net::Request&) {
      return Result<net::Response>(
          Fail(ErrorCode::kForbidden, "role app-manager lacks permission enroll"));
    }));
    const json::object oauth_client{{"client_id", "inventory"},
                                    {"name", "Inventory"},
                                    {"type", "confidential"},
                                    {"redirect_uris", json::array{}},
                                    {"grant_types", json::array{"client_credentials"}},
                                    {"scopes", json::array{"devices.read"}},
                                    {"role", "auditor"},
                                    {"disabled", false},
                                    {"created_by", "root"},
                                    {"created_at", 1900000000}};
    add(Method::kGet, "/api/v1/oauth/clients", [=] {
      return json::object{{"clients", json::array{oauth_client}}};
    });
    add(
        Method::kPost, "/api/v1/oauth/clients",
        [=] {
          json::object created = oauth_client;
          created["client_secret"] = "s3cret";
          return created;
        },
        201);
    add(Method::kGet, "/api/v1/oauth/clients/{id}", [] {
      return json::object{{"client_id", "evil"}, {"name", "\x1b]0;owned\x07"}};
    });
    add(Method::kPost, "/api/v1/oauth/clients/{id}/secret", [] {
      return json::object{{"client_id", "inventory"}, {"client_secret", "n3w"}};
    });
    add(Method::kDelete, "/api/v1/oauth/clients/{id}", nullptr, 204);
    Must(router.Add(Method::kGet, "/api/v1/deployments", open, [](net::Request&) {
      return Result<net::Response>(net::Response::Json(R"({"deployments":[{"id":7}]})"));
    }));
    return router;
  }
};

class FleetClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::WriteFileAtomic(ca_path(), test::TestCa().cert.ToPem(), 0644));
    server_ = Must(test::StartTlsServer(fake_.Routes()));
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  std::string ca_path() const { return dir_ / "ca.crt"; }
  NodeTarget Target() const {
    return NodeTarget{.node = "https://127.0.0.1:" + std::to_string(server_->tcp_port()),
                      .token = "fkt_operator",
                      .ca = ca_path(),
                      .server = ServerKind::kDirector};
  }
  Seen Last() {
    std::lock_guard lock(fake_.mu);
    return fake_.seen.empty() ? Seen{} : fake_.seen.back();
  }

  testing::TempDir dir_;
  FakeDirector fake_;
  std::unique_ptr<net::Server> server_;
};

TEST_F(FleetClientTest, DevicesAndTags) {
  FleetClient client = Must(FleetClient::Connect(Target()));
  EXPECT_EQ(client.ca(), ca_path());
  EXPECT_EQ(client.url(), "https://127.0.0.1:" + std::to_string(server_->tcp_port()));

  const api::DeviceList list =
      Must(client.ListDevices(DeviceQuery{.tag = "plant-a", .status = "", .app = "my app"}));
  ASSERT_EQ(list.devices.size(), 1u);
  EXPECT_EQ(Last().target, "/api/v1/devices?tag=plant-a&app=my%20app");
  EXPECT_EQ(Last().authorization, "Bearer fkt_operator");

  Must(client.SetTags("d-1", {"a", "c"}));
  EXPECT_EQ(Last().method, "PATCH");
  EXPECT_EQ(Last().target, "/api/v1/devices/d-1");
  EXPECT_EQ(Last().content_type, "application/json");
  // Only the field that changes: the director takes every field present as a change.
  EXPECT_EQ(Last().body, R"({"tags":["a","c"]})");
  Must(client.Rename("d-1", "press \"8\""));
  EXPECT_EQ(Last().body, R"({"name":"press \"8\""})");
}

TEST_F(FleetClientTest, CatalogUploadStreamsTheFileAsOctetStream) {
  const std::string package = dir_ / "hello.tar";
  ASSERT_TRUE(fs::WriteFileAtomic(package, "hello", 0644));
  FleetClient client = Must(FleetClient::Connect(Target()));
  const api::CatalogPackage uploaded = Must(client.UploadPackage(package));
  EXPECT_EQ(uploaded.name, "hello");
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().target, "/api/v1/catalog");
  EXPECT_EQ(Last().content_type, "application/octet-stream");
  EXPECT_EQ(Last().body, "hello");

  ASSERT_TRUE(client.DeletePackage("hello", "1.0.0+build.7"));
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(Last().target, "/api/v1/catalog/hello/1.0.0%2Bbuild.7");
}

TEST_F(FleetClientTest, PolicyAndDeploymentBodiesAreTheWireTypes) {
  FleetClient client = Must(FleetClient::Connect(Target()));
  Must(client.SetPolicy(api::FleetPolicyDoc{.tag = "*", .require_signed = false}));
  EXPECT_EQ(Last().method, "PUT");
  EXPECT_EQ(Last().target, "/api/v1/policies/%2A");
  api::FleetPolicyDoc sent;
  ASSERT_TRUE(api::FromJson(Must(api::ParseJson(Last().body)), &sent));
  EXPECT_EQ(sent.tag, "*");
  EXPECT_FALSE(sent.require_signed);

  api::DeploymentRequest request{.app = "hello", .version = "1.0.0", .tags = {"plant-a"}};
  request.rollout.wave_size = "25%";
  request.rollout.pause_seconds = 30;
  const api::DeploymentInfo created = Must(client.Deploy(request));
  EXPECT_EQ(created.id, "dep-1");
  api::DeploymentRequest received;
  ASSERT_TRUE(api::FromJson(Must(api::ParseJson(Last().body)), &received));
  EXPECT_EQ(received.rollout.wave_size, "25%");
  EXPECT_EQ(received.rollout.pause_seconds, 30);
  EXPECT_TRUE(received.rollout.auto_rollback);

  EXPECT_EQ(Must(client.ActOnDeployment("dep-1", "pause")).state, "paused");
  EXPECT_EQ(Last().target, "/api/v1/deployments/dep-1/pause");
}

TEST_F(FleetClientTest, OAuthClients) {
  FleetClient client = Must(FleetClient::Connect(Target()));
  const std::vector<OAuthClientInfo> list = Must(client.ListOAuthClients());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].client_id, "inventory");
  EXPECT_EQ(list[0].grant_types, std::vector<std::string>{"client_credentials"});
  EXPECT_EQ(list[0].created_at, 1900000000);
  EXPECT_TRUE(list[0].client_secret.empty());

  const OAuthClientInfo created =
      Must(client.CreateOAuthClient(OAuthClientInfo{.client_id = "inventory",
                                                    .name = "Inventory",
                                                    .type = "confidential",
                                                    .redirect_uris = {},
                                                    .grant_types = {"client_credentials"},
                                                    .scopes = {"catalog.read", "devices.read"},
                                                    .role = "auditor"}));
  EXPECT_EQ(created.client_secret, "s3cret");
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().content_type, "application/json");
  // The director's body, no more: no secret, no server-kept fields.
  EXPECT_EQ(Last().body, R"({"client_id":"inventory","name":"Inventory","type":"confidential",)"
                         R"("redirect_uris":[],"grant_types":["client_credentials"],)"
                         R"("scopes":["catalog.read","devices.read"],"role":"auditor"})");
  EXPECT_EQ(api::ToJson(created).at("client_secret"), "s3cret");
  EXPECT_FALSE(api::ToJson(list[0]).as_object().contains("client_secret"));

  EXPECT_EQ(Must(client.RotateOAuthClientSecret("in ventory")), "n3w");
  EXPECT_EQ(Last().target, "/api/v1/oauth/clients/in%20ventory/secret");
  ASSERT_TRUE(client.DeleteOAuthClient("inventory"));
  EXPECT_EQ(Last().method, "DELETE");

  // An answer holding control characters is read as data, and never reaches the terminal as
  // such: every field is printed through Printable, as for every other director answer.
  const OAuthClientInfo hostile = Must(client.GetOAuthClient("evil"));
  EXPECT_EQ(hostile.name, "\x1b]0;owned\x07");
  EXPECT_EQ(Printable(hostile.name).find_first_of("\x1b\x07"), std::string::npos)
      << Printable(hostile.name);
}

TEST(OAuthClientArgsTest, GrantsAndScopes) {
  EXPECT_EQ(Must(ParseGrantType("client_credentials")), "client_credentials");
  EXPECT_EQ(Must(ParseGrantType("device_code")), "urn:ietf:params:oauth:grant-type:device_code");
  EXPECT_EQ(Must(ParseGrantType("urn:ietf:params:oauth:grant-type:device_code")),
            "urn:ietf:params:oauth:grant-type:device_code");
  for (std::string_view bad : {"password", "implicit", "", "Client_Credentials"}) {
    EXPECT_FALSE(ParseGrantType(bad)) << bad;
  }
  EXPECT_EQ(SplitScopes({"devices.read catalog.read", "  apps.read", "devices.read", ""}),
            (std::vector<std::string>{"apps.read", "catalog.read", "devices.read"}));
}

TEST_F(FleetClientTest, ErrorsSayWhatFailedAndWhy) {
  FleetClient client = Must(FleetClient::Connect(Target()));
  const auto refused = client.CreateToken(api::EnrollmentTokenRequest{});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_EQ(refused.error().message(),
            "create an enrollment token: role app-manager lacks permission enroll");
  // An answer that is not the wire type is refused, not half-read.
  const auto malformed = client.ListDeployments();
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(malformed.error().message().find("list deployments: the director's answer"),
            std::string::npos)
      << malformed.error().message();
}

TEST_F(FleetClientTest, WithoutCaOrTokenTheErrorsNameTheDirectorsOptions) {
  NodeTarget unchecked = Target();
  unchecked.ca.clear();
  const auto no_ca = FleetClient::Connect(unchecked);
  ASSERT_FALSE(no_ca);
  EXPECT_EQ(no_ca.error().message(),
            "--director needs --ca with the fleet CA (the director's data-dir/ca/ca.crt), or "
            "--insecure-skip-verify");

  const test::EnvGuard config_home("XDG_CONFIG_HOME", dir_ / "config");
  NodeTarget no_token = Target();
  no_token.token.clear();
  const auto not_logged_in = FleetClient::Connect(no_token);
  NodeTarget nowhere{.server = ServerKind::kDirector};
  const auto no_director = FleetClient::Connect(nowhere);
  ASSERT_FALSE(not_logged_in);
  EXPECT_EQ(not_logged_in.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(not_logged_in.error().message().find("run `fogkeep fleet login --director https://"),
            std::string::npos)
      << not_logged_in.error().message();
  EXPECT_NE(not_logged_in.error().message().find("fogkeep-director token create"),
            std::string::npos);
  ASSERT_FALSE(no_director);
  EXPECT_NE(no_director.error().message().find("--director (or FOGKEEP_DIRECTOR) is required"),
            std::string::npos)
      << no_director.error().message();
}

}  // namespace
}  // namespace fogkeep::cli
