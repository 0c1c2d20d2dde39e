// RadiusClient against a real FreeRADIUS: each test starts its own server on 127.0.0.1 with a
// configuration generated from tests/integration/auth/freeradius/ (free port, random secret,
// Message-Authenticator required from clients and added to every response), and stops it and
// removes its directory afterwards. Skipped only when FreeRADIUS is not installed.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/radius_client.h"
#include "core/fs.h"
#include "core/process.h"
#include "crypto/hash.h"
#include "support/support.h"
#include "unit/auth/radius_test_util.h"

namespace fogkeep::auth {
namespace {

using radius::test::BindLoopbackUdp;
using radius::test::ClosedUdpPort;
using radius::test::Must;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr char kFreeRadius[] = "/usr/sbin/freeradius";
const std::string kAlicePassword = "alice-password";
const std::string kDavePassword =
    "dave-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-"
    "0123456789-0123456";

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

// One FreeRADIUS process in a directory of its own; stopped (SIGTERM, then SIGKILL) on
// destruction. The directory belongs to the caller.
class FreeRadius {
 public:
  static Result<std::unique_ptr<FreeRadius>> Start(const std::string& dir,
                                                   const std::string& secret) {
    std::string conf_template = FK_TRY(
        fs::ReadFile(testing::SourcePath("tests/integration/auth/freeradius/radiusd.conf.in")));
    std::string users =
        FK_TRY(fs::ReadFile(testing::SourcePath("tests/integration/auth/freeradius/users")));
    FK_TRY(fs::WriteFileAtomic(dir + "/users", users, 0600));
    // The port is free when chosen but not reserved: another process may take it before the
    // server binds it, so a failed bind is retried on another port.
    std::string last_log;
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::uint16_t port = ClosedUdpPort();
      std::string conf = Replace(conf_template, "@DIR@", dir);
      conf = Replace(conf, "@PORT@", std::to_string(port));
      conf = Replace(conf, "@SECRET@", secret);
      FK_TRY(fs::WriteFileAtomic(dir + "/radiusd.conf", conf, 0600));
      std::string log_path = dir + "/radiusd.log";
      fs::UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!log.valid()) return FailErrno("open " + log_path, errno);
      process::SpawnOptions options;
      options.argv = {kFreeRadius, "-f", "-d", dir, "-l", "stdout"};
      options.env = process::MinimalEnvironment();
      options.stdout_fd = log.get();
      options.stderr_fd = log.get();
      pid_t pid = FK_TRY(process::Spawn(options));
      auto server = std::unique_ptr<FreeRadius>(new FreeRadius(pid, port));
      for (auto deadline = std::chrono::steady_clock::now() + 20s;
           std::chrono::steady_clock::now() < deadline;) {
        last_log = FK_TRY(fs::ReadFile(log_path));
        if (last_log.find("Ready to process requests") != std::string::npos) return server;
        auto ended = FK_TRY(process::TryWait(pid));
        if (ended) {
          server->pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      if (last_log.find("Address already in use") == std::string::npos) break;
    }
    return Fail(ErrorCode::kUnavailable, "FreeRADIUS did not start:\n" + last_log);
  }

  ~FreeRadius() { Stop(); }
  FreeRadius(const FreeRadius&) = delete;
  FreeRadius& operator=(const FreeRadius&) = delete;

  std::uint16_t port() const { return port_; }

  void Stop() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 250; ++i) {
      auto ended = process::TryWait(pid_);
      if (!ended || *ended) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    (void)process::Wait(pid_);
    pid_ = -1;
  }

 private:
  FreeRadius(pid_t pid, std::uint16_t port) : pid_(pid), port_(port) {}

  pid_t pid_;
  std::uint16_t port_;
};

class RadiusIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kFreeRadius, X_OK) != 0) {
      GTEST_SKIP() << kFreeRadius << " is missing: apt-get install freeradius";
    }
    secret_ = crypto::ToHex(crypto::RandomBytes(16));
    server_ = Must(FreeRadius::Start(dir_.path(), secret_), "start FreeRADIUS");
  }

  std::string SecretFile(const std::string& secret) {
    std::string path = dir_ / ("client-secret-" + std::to_string(++files_));
    auto written = fs::WriteFileAtomic(path, secret + "\n", 0600);
    EXPECT_TRUE(written) << written.error().message();
    return path;
  }

  RadiusServerConfig Server(std::uint16_t port, const std::string& secret) {
    return RadiusServerConfig{.host = "127.0.0.1", .port = port, .secret_file = SecretFile(secret)};
  }

  RadiusClientConfig Config(std::vector<RadiusServerConfig> servers) {
    RadiusClientConfig config;
    config.servers = std::move(servers);
    config.timeout = 500ms;
    config.retries = 1;
    config.nas_identifier = "fogkeep-integration";
    config.roles = {{RoleAttribute::kClass, "fogkeep-admin", "admin"},
                    {RoleAttribute::kClass, "fogkeep-audit", "auditor"},
                    {RoleAttribute::kFilterId, "fk-apps", "app-manager"}};
    return config;
  }

  RadiusClient Client() {
    return Must(RadiusClient::Create(Config({Server(server_->port(), secret_)})), "client");
  }

  testing::TempDir dir_;
  std::string secret_;
  std::unique_ptr<FreeRadius> server_;
  int files_ = 0;
};

TEST_F(RadiusIntegrationTest, AcceptMapsClassToRole) {
  auto verdict = Client().Authenticate("alice", kAlicePassword);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->role, "admin");
  EXPECT_EQ(verdict->reply_message, "welcome alice");
}

TEST_F(RadiusIntegrationTest, FilterIdMapsToRole) {
  RadiusBackend backend(Client());
  auto outcome = backend.Authenticate("carol", "carol-password", "127.0.0.1");
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_TRUE(outcome->accepted);
  EXPECT_EQ(outcome->role, "app-manager");
}

TEST_F(RadiusIntegrationTest, LongPasswordSurvivesHiding) {
  auto verdict = Client().Authenticate("dave", kDavePassword);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->role, "auditor");
  auto wrong = Client().Authenticate("dave", kDavePassword.substr(0, 99) + "7");
  ASSERT_TRUE(wrong) << wrong.error().message();
  EXPECT_FALSE(wrong->accepted);
}

TEST_F(RadiusIntegrationTest, AcceptWithoutClassGivesNoRole) {
  auto verdict = Client().Authenticate("bob", "bob-password");
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->role, "");
  RadiusBackend backend(Client());
  auto outcome = backend.Authenticate("bob", "bob-password", "127.0.0.1");
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_FALSE(outcome->accepted);
}

TEST_F(RadiusIntegrationTest, RejectsWrongPassword) {
  // FreeRADIUS copies the users file's reply items (Class too) into this Access-Reject; a
  // reject never gives a role.
  auto verdict = Client().Authenticate("alice", "not-" + kAlicePassword);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_FALSE(verdict->accepted);
  EXPECT_EQ(verdict->role, "");
}

TEST_F(RadiusIntegrationTest, RejectsUnknownUser) {
  auto verdict = Client().Authenticate("mallory", kAlicePassword);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_FALSE(verdict->accepted);
}

TEST_F(RadiusIntegrationTest, FailsOverFromDeadServer) {
  auto client = Must(RadiusClient::Create(
      Config({Server(ClosedUdpPort(), secret_), Server(server_->port(), secret_)})));
  auto verdict = client.Authenticate("alice", kAlicePassword);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_EQ(verdict->role, "admin");
}

TEST_F(RadiusIntegrationTest, WrongSecretTimesOutThenFailsOver) {
  // FreeRADIUS silently drops a request whose Message-Authenticator does not verify, so a
  // client with the wrong secret hears nothing until its tries time out.
  RadiusClientConfig config = Config({Server(server_->port(), "not-" + secret_)});
  config.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto verdict = Must(RadiusClient::Create(config)).Authenticate("alice", kAlicePassword);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kUnavailable) << verdict.error().message();
  EXPECT_THAT(verdict.error().message(), HasSubstr("2 tries of 200 ms"));
  EXPECT_GE(elapsed, 400ms);

  config.servers.push_back(Server(server_->port(), secret_));
  auto next = Must(RadiusClient::Create(config)).Authenticate("alice", kAlicePassword);
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_TRUE(next->accepted);
}

TEST_F(RadiusIntegrationTest, SilentServerTimesOut) {
  std::uint16_t port = 0;
  fs::UniqueFd blackhole(BindLoopbackUdp(&port));
  RadiusClientConfig config = Config({Server(port, secret_), Server(server_->port(), secret_)});
  config.timeout = 200ms;
  config.retries = 0;
  auto verdict = Must(RadiusClient::Create(config)).Authenticate("alice", kAlicePassword);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_EQ(verdict->role, "admin");
}

TEST_F(RadiusIntegrationTest, StoppedServerIsUnavailable) {
  RadiusClient client = Client();
  ASSERT_TRUE(client.Authenticate("alice", kAlicePassword));
  server_->Stop();
  auto verdict = client.Authenticate("alice", kAlicePassword);
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code(), ErrorCode::kUnavailable) << verdict.error().message();
}

TEST_F(RadiusIntegrationTest, ConcurrentLogins) {
  RadiusClient client = Client();
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto verdict = client.Authenticate("alice", kAlicePassword);
        if (verdict && verdict->accepted && verdict->role == "admin") ++accepted;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 100);
}

}  // namespace
}  // namespace fogkeep::auth
