// RadiusClient against a fake responder on loopback that answers correctly or forges one
// part of the answer: only the correct answer may log anyone in, forged answers must not end
// the wait, and silence and dead servers must lead to the next server or a timeout.
#include "auth/radius_client.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "auth/radius_packet.h"
#include "core/fs.h"
#include "radius_test_util.h"
#include "support/support.h"

namespace fogkeep::auth {
namespace {

using radius::Code;
using radius::test::BuildResponse;
using radius::test::ClosedUdpPort;
using radius::test::FakeRadiusServer;
using radius::test::MessageAuthenticator;
using radius::test::Must;
using radius::test::ReceivedRequest;
using radius::test::ResponseSpec;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kSecret = "unit-test-shared-secret";

// A responder that answers every request with the responses `specs` describe, in order.
FakeRadiusServer::Responder Answer(std::vector<ResponseSpec> specs) {
  return [specs = std::move(specs)](const ReceivedRequest& request) {
    std::vector<std::string> out;
    for (const ResponseSpec& spec : specs) {
      out.push_back(BuildResponse(spec, request.identifier, request.authenticator, kSecret));
    }
    return out;
  };
}

ResponseSpec Accept(std::vector<std::pair<std::uint8_t, std::string>> attributes = {}) {
  return ResponseSpec{.code = Code::kAccessAccept, .attributes = std::move(attributes)};
}

class RadiusClientTest : public ::testing::Test {
 protected:
  std::string SecretFile(const std::string& secret = kSecret + "\n", mode_t mode = 0600) {
    std::string path = dir_ / ("secret" + std::to_string(++files_));
    auto written = fs::WriteFileAtomic(path, secret, mode);
    EXPECT_TRUE(written) << written.error().message();
    ::chmod(path.c_str(), mode);
    return path;
  }

  RadiusServerConfig Server(std::uint16_t port) {
    return RadiusServerConfig{.host = "127.0.0.1", .port = port, .secret_file = SecretFile()};
  }

  RadiusClientConfig Config(std::vector<std::uint16_t> ports) {
    RadiusClientConfig config;
    for (std::uint16_t port : ports) config.servers.push_back(Server(port));
    config.timeout = 300ms;
    config.retries = 0;
    config.nas_identifier = "fog-node-1";
    config.roles = {{RoleAttribute::kClass, "fogkeep-admin", "admin"},
                    {RoleAttribute::kFilterId, "fk-apps", "app-manager"},
                    {RoleAttribute::kClass, "fogkeep-audit", "auditor"}};
    return config;
  }

  RadiusClient Client(std::vector<std::uint16_t> ports) {
    return Must(RadiusClient::Create(Config(std::move(ports))), "client");
  }

  // Authenticates alice against one fake server answering with `specs`, and expects an error.
  void ExpectRefused(std::vector<ResponseSpec> specs, ErrorCode code, std::string_view text) {
    FakeRadiusServer server(kSecret, Answer(std::move(specs)));
    auto verdict = Client({server.port()}).Authenticate("alice", "pw");
    ASSERT_FALSE(verdict) << "accepted a forged or malformed answer";
    EXPECT_EQ(verdict.error().code(), code) << verdict.error().message();
    EXPECT_THAT(verdict.error().message(), HasSubstr(std::string(text)));
  }

  testing::TempDir dir_;
  int files_ = 0;
};

TEST_F(RadiusClientTest, AcceptMapsClassToRole) {
  FakeRadiusServer server(kSecret, Answer({Accept({{radius::kClass, "fogkeep-admin"},
                                                   {radius::kReplyMessage, "hello alice"}})}));
  auto verdict = Client({server.port()}).Authenticate("alice", "wonderland");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->role, "admin");
  EXPECT_EQ(verdict->reply_message, "hello alice");

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].user_name, "alice");
  EXPECT_EQ(requests[0].password, "wonderland");
  EXPECT_EQ(requests[0].nas_identifier, "fog-node-1");
  EXPECT_TRUE(requests[0].message_authenticator_first);
  EXPECT_TRUE(requests[0].message_authenticator_valid);
}

TEST_F(RadiusClientTest, RoleMappingsApplyInConfigOrder) {
  // Both the Filter-Id mapping and the later Class mapping match: the earlier one wins,
  // whatever the attribute order in the packet.
  FakeRadiusServer server(
      kSecret,
      Answer({Accept({{radius::kClass, "fogkeep-audit"}, {radius::kFilterId, "fk-apps"}})}));
  auto verdict = Client({server.port()}).Authenticate("bob", "pw");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_EQ(verdict->role, "app-manager");
}

TEST_F(RadiusClientTest, AcceptWithoutMappedRole) {
  FakeRadiusServer server(kSecret, Answer({Accept({{radius::kClass, "somebody-else"}})}));
  auto verdict = Client({server.port()}).Authenticate("carol", "pw");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->role, "");

  // As a back-end, an accepted user without a role does not log in.
  RadiusBackend backend(Client({server.port()}));
  auto outcome = backend.Authenticate("carol", "pw", "192.0.2.7");
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_FALSE(outcome->accepted);
  EXPECT_THAT(outcome->reason, HasSubstr("maps to a role"));
}

TEST_F(RadiusClientTest, RejectIsAVerdictNotAnError) {
  // A Class in a reject gives no role.
  FakeRadiusServer server(kSecret,
                          Answer({ResponseSpec{.code = Code::kAccessReject,
                                               .attributes = {{radius::kClass, "fogkeep-admin"},
                                                              {radius::kReplyMessage, "no"}}}}));
  auto verdict = Client({server.port()}).Authenticate("alice", "wrong");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_FALSE(verdict->accepted);
  EXPECT_EQ(verdict->role, "");
  EXPECT_EQ(verdict->reply_message, "no");

  RadiusBackend backend(Client({server.port()}));
  auto outcome = backend.Authenticate("alice", "wrong", "192.0.2.7");
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_FALSE(outcome->accepted);
  EXPECT_EQ(outcome->reason, "RADIUS Access-Reject: no");
}

TEST_F(RadiusClientTest, ChallengeIsRefused) {
  FakeRadiusServer server(kSecret, Answer({ResponseSpec{.code = Code::kAccessChallenge,
                                                        .attributes = {{radius::kState, "s"}}}}));
  auto verdict = Client({server.port()}).Authenticate("alice", "pw");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_FALSE(verdict->accepted);
  EXPECT_TRUE(verdict->challenged);
}

TEST_F(RadiusClientTest, BackendAcceptsMappedUser) {
  FakeRadiusServer server(kSecret, Answer({Accept({{radius::kFilterId, "fk-apps"}})}));
  RadiusBackend backend(Client({server.port()}));
  AuthBackend& generic = backend;
  auto outcome = generic.Authenticate("dave", "pw", "192.0.2.7");
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_TRUE(outcome->accepted);
  EXPECT_EQ(outcome->role, "app-manager");
}

TEST_F(RadiusClientTest, RefusesResponseWithoutMessageAuthenticator) {
  ExpectRefused({ResponseSpec{.attributes = {{radius::kClass, "fogkeep-admin"}},
                              .message_authenticator = MessageAuthenticator::kNone}},
                ErrorCode::kIntegrity, "no Message-Authenticator");
}

TEST_F(RadiusClientTest, RefusesForgedMessageAuthenticator) {
  ExpectRefused({ResponseSpec{.attributes = {{radius::kClass, "fogkeep-admin"}},
                              .message_authenticator = MessageAuthenticator::kForged}},
                ErrorCode::kIntegrity, "Message-Authenticator does not verify");
}

TEST_F(RadiusClientTest, RefusesForgedResponseAuthenticator) {
  ExpectRefused({ResponseSpec{.attributes = {{radius::kClass, "fogkeep-admin"}},
                              .forge_response_authenticator = true}},
                ErrorCode::kIntegrity, "Response Authenticator does not verify");
}

TEST_F(RadiusClientTest, RefusesWrongIdentifier) {
  ExpectRefused({ResponseSpec{.identifier_delta = 7}}, ErrorCode::kInvalidInput,
                "does not match the request's");
}

TEST_F(RadiusClientTest, RefusesGarbage) {
  FakeRadiusServer server(kSecret, [](const ReceivedRequest&) {
    return std::vector<std::string>{"", "garbage", std::string(5000, '\x02'),
                                    std::string(20, '\x02')};
  });
  auto verdict = Client({server.port()}).Authenticate("alice", "pw");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kInvalidInput) << verdict.error().message();
  EXPECT_THAT(verdict.error().message(), HasSubstr("dropped a response"));
}

TEST_F(RadiusClientTest, RefusesResponseSignedWithAnotherSecret) {
  FakeRadiusServer server(kSecret, [](const ReceivedRequest& request) {
    return std::vector<std::string>{
        BuildResponse(Accept(), request.identifier, request.authenticator, "guessed")};
  });
  auto verdict = Client({server.port()}).Authenticate("alice", "pw");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kIntegrity) << verdict.error().message();
}

TEST_F(RadiusClientTest, ForgeriesDoNotEndTheWait) {
  // Every kind of bad answer arrives before the real one, which still logs the user in.
  FakeRadiusServer server(
      kSecret,
      Answer({ResponseSpec{.message_authenticator = MessageAuthenticator::kNone},
              ResponseSpec{.message_authenticator = MessageAuthenticator::kForged},
              ResponseSpec{.forge_response_authenticator = true},
              ResponseSpec{.identifier_delta = 1}, Accept({{radius::kClass, "fogkeep-admin"}})}));
  auto verdict = Client({server.port()}).Authenticate("alice", "pw");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->role, "admin");
}

TEST_F(RadiusClientTest, IgnoresAnswersFromAnotherPort) {
  // A correct answer sent from another source port (as an off-path sender would) never
  // reaches the connected socket.
  FakeRadiusServer server(kSecret, Answer({Accept({{radius::kClass, "fogkeep-admin"}})}),
                          /*from_other_port=*/true);
  auto verdict = Client({server.port()}).Authenticate("alice", "pw");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kUnavailable) << verdict.error().message();
}

TEST_F(RadiusClientTest, SilenceTimesOutAfterEveryRetry) {
  FakeRadiusServer server(kSecret,
                          [](const ReceivedRequest&) { return std::vector<std::string>{}; });
  RadiusClientConfig config = Config({server.port()});
  config.timeout = 150ms;
  config.retries = 2;
  auto client = Must(RadiusClient::Create(config));
  auto start = std::chrono::steady_clock::now();
  auto verdict = client.Authenticate("alice", "pw");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(verdict.error().message(), HasSubstr("3 tries of 150 ms"));
  EXPECT_GE(elapsed, 450ms);
  EXPECT_LT(elapsed, 3s);
  // Retransmissions repeat the request byte for byte (RFC 5080 §2.2.1).
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].packet, requests[0].packet);
  EXPECT_EQ(requests[2].packet, requests[0].packet);
}

TEST_F(RadiusClientTest, AnswerToRetransmissionIsAccepted) {
  int seen = 0;
  FakeRadiusServer server(kSecret, [&seen](const ReceivedRequest& request) {
    if (++seen == 1) return std::vector<std::string>{};  // the first transmission is lost
    return std::vector<std::string>{
        BuildResponse(Accept(), request.identifier, request.authenticator, kSecret)};
  });
  RadiusClientConfig config = Config({server.port()});
  config.timeout = 150ms;
  config.retries = 1;
  auto verdict = Must(RadiusClient::Create(config)).Authenticate("alice", "pw");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
}

TEST_F(RadiusClientTest, FailsOverFromDeadServer) {
  FakeRadiusServer server(kSecret, Answer({Accept({{radius::kClass, "fogkeep-admin"}})}));
  RadiusClientConfig config = Config({ClosedUdpPort(), server.port()});
  config.timeout = 2s;  // the refusal, not the timeout, ends the dead server's tries
  config.retries = 1;
  auto client = Must(RadiusClient::Create(config));
  auto start = std::chrono::steady_clock::now();
  auto verdict = client.Authenticate("alice", "pw");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_EQ(verdict->role, "admin");
  EXPECT_LT(elapsed, 1s);
}

TEST_F(RadiusClientTest, FailsOverFromSilentServer) {
  FakeRadiusServer silent(kSecret,
                          [](const ReceivedRequest&) { return std::vector<std::string>{}; });
  FakeRadiusServer server(kSecret, Answer({Accept({{radius::kClass, "fogkeep-admin"}})}));
  auto verdict = Client({silent.port(), server.port()}).Authenticate("alice", "pw");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_EQ(verdict->role, "admin");
  EXPECT_EQ(silent.requests().size(), 1u);
  // Each server gets a request of its own: a fresh Request Authenticator.
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_NE(server.requests()[0].authenticator, silent.requests()[0].authenticator);
}

TEST_F(RadiusClientTest, AllServersDown) {
  auto verdict = Client({ClosedUdpPort(), ClosedUdpPort()}).Authenticate("alice", "pw");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(verdict.error().message(), HasSubstr("refused"));
}

TEST_F(RadiusClientTest, ForgeryOnFirstServerIsReportedAfterFailover) {
  FakeRadiusServer forger(
      kSecret, Answer({ResponseSpec{.message_authenticator = MessageAuthenticator::kNone}}));
  auto verdict = Client({forger.port(), ClosedUdpPort()}).Authenticate("alice", "pw");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kIntegrity);
  EXPECT_THAT(verdict.error().message(), HasSubstr("no Message-Authenticator"));
}

TEST_F(RadiusClientTest, FreshAuthenticatorPerLogin) {
  FakeRadiusServer server(kSecret, Answer({Accept()}));
  RadiusClient client = Client({server.port()});
  ASSERT_TRUE(client.Authenticate("alice", "pw"));
  ASSERT_TRUE(client.Authenticate("alice", "pw"));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0].authenticator, requests[1].authenticator);
  EXPECT_NE(requests[0].packet, requests[1].packet);
}

TEST_F(RadiusClientTest, RefusesUnencodableCredentialsWithoutSending) {
  FakeRadiusServer server(kSecret, Answer({Accept()}));
  RadiusClient client = Client({server.port()});
  for (auto [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"", "pw"}, {"alice", ""}, {"alice", std::string(129, 'p')}}) {
    auto verdict = client.Authenticate(user, password);
    ASSERT_FALSE(verdict);
    EXPECT_EQ(verdict.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(RadiusClientTest, SecretFileRules) {
  EXPECT_EQ(Must(ReadSecretFile(SecretFile("plain"))), "plain");
  EXPECT_EQ(Must(ReadSecretFile(SecretFile("with newline\n"))), "with newline");
  EXPECT_EQ(Must(ReadSecretFile(SecretFile("crlf\r\n"))), "crlf");
  EXPECT_EQ(Must(ReadSecretFile(SecretFile("group may read\n", 0640))), "group may read");

  auto world = ReadSecretFile(SecretFile("s\n", 0644));
  ASSERT_FALSE(world);
  EXPECT_EQ(world.error().code(), ErrorCode::kInvalidInput);
  EXPECT_THAT(world.error().message(), HasSubstr("mode 0644"));
  EXPECT_THAT(world.error().message(), HasSubstr("chmod 600"));
  EXPECT_FALSE(ReadSecretFile(SecretFile("s\n", 0604)));

  for (std::string empty : {"", "\n", "\r\n"}) {
    auto result = ReadSecretFile(SecretFile(empty));
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr("holds no secret"));
  }
  auto lines = ReadSecretFile(SecretFile("one\ntwo\n"));
  ASSERT_FALSE(lines);
  EXPECT_THAT(lines.error().message(), HasSubstr("more than one line"));
  auto big = ReadSecretFile(SecretFile(std::string(5000, 's')));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), ErrorCode::kLimit);

  auto missing = ReadSecretFile(dir_ / "missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto directory = ReadSecretFile(dir_.path());
  ASSERT_FALSE(directory);
  EXPECT_THAT(directory.error().message(), HasSubstr("not a regular file"));
}

TEST_F(RadiusClientTest, CreateValidatesConfig) {
  auto expect_invalid = [](RadiusClientConfig config, std::string_view text) {
    auto client = RadiusClient::Create(std::move(config));
    ASSERT_FALSE(client);
    EXPECT_THAT(client.error().message(), HasSubstr(std::string(text)));
  };
  expect_invalid(RadiusClientConfig{}, "no server");
  RadiusClientConfig config = Config({1812});
  config.timeout = 0ms;
  expect_invalid(config, "timeout");
  config = Config({1812});
  config.retries = -1;
  expect_invalid(config, "retries");
  config = Config({1812});
  config.nas_identifier = "";
  expect_invalid(config, "NAS-Identifier");
  config = Config({1812});
  config.roles.push_back({RoleAttribute::kClass, "", "admin"});
  expect_invalid(config, "role mapping");
  expect_invalid(Config({0}), "non-zero port");
  config = Config({1812});
  config.servers[0].secret_file = SecretFile("s\n", 0644);
  expect_invalid(config, "127.0.0.1:1812: RADIUS secret file");
}

}  // namespace
}  // namespace fogkeep::auth
