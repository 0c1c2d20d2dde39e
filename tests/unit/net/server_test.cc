// The server and client over real sockets: TLS policy (checked with the openssl CLI), mutual
// TLS, the Unix socket and SO_PEERCRED, routing and error mapping on the wire, authentication
// before the body, limits and timeouts, streamed uploads and responses, keep-alive, and
// hostile bytes.
#include "net/server.h"

#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "crypto/hash.h"
#include "net/client.h"
#include "net/http.h"
#include "net/router.h"
#include "support/support.h"
#include "unit/net/net_test_util.h"

namespace fogkeep::net {
namespace {

using namespace std::chrono_literals;
using test::Must;

constexpr std::uint64_t kMiB = 1 << 20;

// A string literal with embedded NULs, all of it.
template <std::size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

std::string ThreadName() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

// Deterministic pseudo-random bytes; hashes what it hands out.
class GeneratedBody : public BodySource {
 public:
  explicit GeneratedBody(std::uint64_t size) : left_(size) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override {
    ++reads_;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, left_));
    for (std::size_t i = 0; i < n; i += sizeof(state_)) {
      // splitmix64: eight bytes per step keeps a 50 MiB body cheap under sanitizers.
      std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      std::memcpy(buf + i, &z, std::min(sizeof(z), n - i));
    }
    digest_.Update(buf, n);
    left_ -= n;
    return n;
  }
  std::string HexDigest() { return digest_.HexFinal(); }
  int reads() const { return reads_; }

 private:
  std::uint64_t left_;
  std::uint64_t state_ = 42;
  crypto::Digest digest_;
  int reads_ = 0;
};

class TestAuthenticator : public Authenticator {
 public:
  Result<Principal> Authenticate(const Request& request) override {
    ++calls;
    {
      std::lock_guard lock(mu);
      thread = ThreadName();
    }
    if (request.peer.credentials && request.peer.credentials->uid == 0) {
      return Principal{"uid:0", "unix", {"admin"}};
    }
    if (request.peer.certificate) {
      return Principal{request.peer.certificate->common_name, "mtls", {"admin"}};
    }
    std::optional<std::string_view> auth = request.headers.Get("authorization");
    if (auth == "Bearer good") return Principal{"alice", "token", {"admin"}};
    if (auth == "Bearer viewer") return Principal{"bob", "token", {"viewer"}};
    return Fail(ErrorCode::kUnauthenticated, "missing or invalid token");
  }
  bool MayBlock(const Request&) const override { return may_block; }

  std::atomic<int> calls{0};
  std::atomic<bool> may_block{true};
  std::mutex mu;
  std::string thread;  // of the last Authenticate; guarded by mu
};

class TestAuthorizer : public Authorizer {
 public:
  Status Authorize(const Principal& principal, std::string_view permission,
                   const Request&) override {
    if (permission == "nobody") return Fail(ErrorCode::kForbidden, "nobody may do this");
    for (const std::string& role : principal.roles) {
      if (role == "admin") return {};
    }
    if (permission.ends_with(".read")) return {};
    return Fail(ErrorCode::kForbidden, principal.id + " lacks " + std::string(permission));
  }
};

// State the test routes share with the tests.
struct Probes {
  std::promise<ErrorCode> upload_failure;
  std::atomic<bool> upload_failure_set{false};
  std::promise<void> follower_cancelled;
  std::atomic<bool> follower_cancelled_set{false};
  std::promise<void> follower_started;
  std::atomic<bool> follower_started_set{false};

  // Deferred responses the /deferred routes handed out, for the tests to complete.
  std::shared_ptr<DeferredResponse> Park() {
    auto deferred = std::make_shared<DeferredResponse>();
    // A plain pointer: the probes outlive the server and every response parked here.
    deferred->OnCancel([this] {
      std::lock_guard lock(deferred_mu);
      ++cancelled;
      deferred_changed.notify_all();
    });
    std::lock_guard lock(deferred_mu);
    parked.push_back(deferred);
    deferred_changed.notify_all();
    return deferred;
  }
  // Whether `n` responses were parked (or cancelled) within `timeout`.
  bool WaitParked(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(deferred_mu);
    return deferred_changed.wait_for(lock, timeout, [&] { return parked.size() >= n; });
  }
  bool WaitCancelled(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(deferred_mu);
    return deferred_changed.wait_for(lock, timeout, [&] { return cancelled >= n; });
  }
  std::shared_ptr<DeferredResponse> Parked(std::size_t i) {
    std::lock_guard lock(deferred_mu);
    return parked.at(i);
  }
  std::size_t Cancelled() {
    std::lock_guard lock(deferred_mu);
    return cancelled;
  }

  std::mutex deferred_mu;
  std::condition_variable deferred_changed;
  std::vector<std::shared_ptr<DeferredResponse>> parked;  // guarded by deferred_mu
  std::size_t cancelled = 0;                              // guarded by deferred_mu
};

// What an AuditSink was told, in order.
class RecordingAuditSink : public AuditSink {
 public:
  struct Entry {
    AuditEvent::Kind kind;
    std::string path;
    int status;
    std::string error;
  };
  Status Ready() override { return {}; }
  Status Record(const AuditEvent& event) override {
    std::lock_guard lock(mu);
    entries.push_back({event.kind, event.request.path, event.status, std::string(event.error)});
    changed.notify_all();
    return {};
  }
  bool WaitEntries(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, timeout, [&] { return entries.size() >= n; });
  }
  std::vector<Entry> Entries() {
    std::lock_guard lock(mu);
    return entries;
  }

  std::mutex mu;
  std::condition_variable changed;
  std::vector<Entry> entries;  // guarded by mu
};

RouteOptions Public(Execution execution = Execution::kWorker) {
  RouteOptions options;
  options.is_public = true;
  options.execution = execution;
  return options;
}

RouteOptions Needs(std::string permission) {
  RouteOptions options;
  options.permission = std::move(permission);
  options.max_body_bytes = 1024;
  return options;
}

std::optional<ErrorCode> CodeNamed(std::string_view name) {
  for (ErrorCode code :
       {ErrorCode::kInvalidInput, ErrorCode::kUnauthenticated, ErrorCode::kForbidden,
        ErrorCode::kNotFound, ErrorCode::kConflict, ErrorCode::kIntegrity, ErrorCode::kLimit,
        ErrorCode::kUnavailable, ErrorCode::kInternal}) {
    if (ErrorCodeName(code) == name) return code;
  }
  return std::nullopt;
}

Router TestRouter(std::shared_ptr<Probes> probes) {
  Router router;
  Must(router.Add(Method::kGet, "/hello", Public(Execution::kInline), [](Request&) {
    Response r = Response::Text("hello");
    r.headers.Set("X-Thread", ThreadName());
    return Result<Response>(std::move(r));
  }));
  Must(router.Add(Method::kGet, "/whoami", Needs("self.read"), [](Request& req) {
    std::string out = "principal=" + req.principal->id + " mechanism=" + req.principal->mechanism;
    out += " tls=" + std::to_string(req.peer.tls) + " port=" + std::to_string(req.peer.port);
    if (req.peer.certificate) out += " subject=" + req.peer.certificate->subject;
    if (req.peer.credentials) {
      out += " uid=" + std::to_string(req.peer.credentials->uid) +
             " pid=" + std::to_string(req.peer.credentials->pid);
    }
    out += " thread=" + ThreadName();
    return Result<Response>(Response::Text(out));
  }));
  RouteOptions inline_protected = Needs("self.read");
  inline_protected.execution = Execution::kInline;
  Must(router.Add(Method::kGet, "/inline-whoami", inline_protected, [](Request& req) {
    return Result<Response>(Response::Text(req.principal->id + " thread=" + ThreadName()));
  }));
  RouteOptions echo = Public();
  echo.max_body_bytes = 1024;
  Must(router.Add(Method::kPost, "/echo", echo,
                  [](Request& req) { return Result<Response>(Response::Text(req.body)); }));
  Must(router.Add(Method::kGet, "/identity", Public(), [](Request& req) {
    return Result<Response>(Response::Text("identity=" + req.peer.listener_identity));
  }));
  Must(router.Add(Method::kGet, "/apps/{id}", Public(), [](Request& req) {
    return Result<Response>(Response::Text("app " + std::string(req.Param("id"))));
  }));
  Must(router.Add(Method::kDelete, "/apps/{id}", Public(),
                  [](Request&) { return Result<Response>(Response::Text("deleted")); }));
  Must(router.Add(Method::kGet, "/fail/{code}", Public(), [](Request& req) -> Result<Response> {
    std::optional<ErrorCode> code = CodeNamed(req.Param("code"));
    if (!code) return Response::Text("unknown code", 200);
    return Fail(*code, "because " + std::string(req.Param("code")));
  }));
  Must(router.Add(Method::kGet, "/throw", Public(), [](Request&) -> Result<Response> {
    throw std::runtime_error("secret internal detail");
  }));
  Must(router.Add(Method::kPost, "/protected", Needs("apps.write"),
                  [](Request& req) { return Result<Response>(Response::Text("ok " + req.body)); }));
  Must(router.Add(Method::kGet, "/denied", Needs("nobody"),
                  [](Request&) { return Result<Response>(Response::Text("unreachable")); }));

  RouteOptions upload;
  upload.permission = "packages.write";
  upload.body = BodyMode::kStreamed;
  upload.max_body_bytes = 64 * kMiB;
  Must(router.Add(Method::kPut, "/upload", upload, [](Request& req) -> Result<Response> {
    crypto::Digest digest;
    std::uint64_t total = 0;
    std::string buf(32 * 1024, '\0');
    for (;;) {
      std::size_t n = FK_TRY(req.body_stream->Read(buf.data(), buf.size()));
      if (n == 0) break;
      digest.Update(buf.data(), n);
      total += n;
    }
    return Response::Text(digest.HexFinal() + " " + std::to_string(total) + " " + ThreadName());
  }));
  RouteOptions probe = upload;
  probe.is_public = true;
  Must(router.Add(Method::kPut, "/upload-probe", probe, [probes](Request& req) -> Result<Response> {
    std::string buf(16 * 1024, '\0');
    for (;;) {
      Result<std::size_t> n = req.body_stream->Read(buf.data(), buf.size());
      if (!n) {
        if (!probes->upload_failure_set.exchange(true)) {
          probes->upload_failure.set_value(n.error().code());
        }
        return Fail(n.error());
      }
      if (*n == 0) return Response::Text("complete");
    }
  }));

  // Answered later by the test, through probes->parked. "?now=1" completes before returning.
  auto park = [probes](Request& req) -> Result<Response> {
    std::shared_ptr<DeferredResponse> deferred = probes->Park();
    if (req.Query("now") == "1") deferred->Complete(Response::Text("at once"));
    return Response::Deferred(std::move(deferred));
  };
  Must(router.Add(Method::kGet, "/deferred", Public(), park));
  Must(router.Add(Method::kPost, "/deferred", Public(), park));
  Must(router.Add(Method::kGet, "/deferred-inline", Public(Execution::kInline), park));

  Must(router.Add(Method::kGet, "/logs", Public(), [probes](Request& req) -> Result<Response> {
    const bool follow = req.Query("follow") == "1";
    int lines = 0;
    if (std::optional<std::string_view> n = req.Query("lines"))
      lines = std::atoi(std::string(*n).c_str());
    return Response::Stream("text/plain", [probes, follow, lines](BodySink& sink) -> Status {
      for (int i = 0; i < lines; ++i) FK_TRY(sink.Write("line " + std::to_string(i) + "\n"));
      if (!follow) return {};
      if (!probes->follower_started_set.exchange(true)) probes->follower_started.set_value();
      for (int i = 0;; ++i) {
        if (sink.Cancelled() || !sink.Write("tick " + std::to_string(i) + "\n")) {
          if (!probes->follower_cancelled_set.exchange(true)) {
            probes->follower_cancelled.set_value();
          }
          return Fail(ErrorCode::kUnavailable, "client gone");
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }));
  return router;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new test::Issued(test::MakeCa("fogkeep test CA"));
    other_ca_ = new test::Issued(test::MakeCa("someone else's CA"));
    server_ =
        new test::Issued(test::MakeLeaf(*ca_, "node-1", crypto::ExtendedKeyUsage::kServerAuth));
    client_ =
        new test::Issued(test::MakeLeaf(*ca_, "operator-1", crypto::ExtendedKeyUsage::kClientAuth));
    stranger_ = new test::Issued(
        test::MakeLeaf(*other_ca_, "stranger", crypto::ExtendedKeyUsage::kClientAuth));
  }

  ServerOptions Options() {
    ServerOptions options;
    options.tcp = TcpListenerOptions{
        .address = "127.0.0.1", .port = 0, .tls = {.identity = server_->identity()}};
    UnixListenerOptions unix_socket;
    unix_socket.path = dir_ / "fogkeepd.sock";
    options.unix_socket = std::move(unix_socket);
    return options;
  }

  void Start(ServerOptions options) {
    auto created = Server::Create(std::move(options), TestRouter(probes_), authenticator_,
                                  std::make_shared<TestAuthorizer>());
    ASSERT_TRUE(created) << created.error().message();
    server_instance_ = std::move(*created);
    Status started = server_instance_->Start();
    ASSERT_TRUE(started) << started.error().message();
    port_ = server_instance_->tcp_port();
    ASSERT_NE(port_, 0);
  }

  std::unique_ptr<Client> TlsClient(ClientTlsOptions tls = {}) {
    if (!tls.trust && !tls.pinned_fingerprint && !tls.insecure) {
      tls.trust = test::TrustOnly(ca_->cert);
    }
    return Must(Client::Https("127.0.0.1", port_, std::move(tls)), "client");
  }
  std::unique_ptr<Client> UnixClient() { return Must(Client::Unix(socket_path()), "client"); }
  std::string socket_path() const { return dir_ / "fogkeepd.sock"; }

  static Headers Token(std::string_view token) {
    Headers h;
    h.Set("Authorization", "Bearer " + std::string(token));
    return h;
  }

  static inline test::Issued* ca_ = nullptr;
  static inline test::Issued* other_ca_ = nullptr;
  static inline test::Issued* server_ = nullptr;
  static inline test::Issued* client_ = nullptr;
  static inline test::Issued* stranger_ = nullptr;

  testing::TempDir dir_;
  std::shared_ptr<Probes> probes_ = std::make_shared<Probes>();
  std::shared_ptr<TestAuthenticator> authenticator_ = std::make_shared<TestAuthenticator>();
  std::unique_ptr<Server> server_instance_;
  std::uint16_t port_ = 0;
};

TEST_F(ServerTest, TlsRoundTripOnAnEphemeralPort) {
  Start(Options());
  auto client = TlsClient();
  Result<Response> r = client->Request(Method::kGet, "/hello");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->headers.Get("x-content-type-options"), "nosniff");
  EXPECT_EQ(r->headers.Get("X-Thread"), "fk-io");  // inline routes run on the I/O thread
  ASSERT_TRUE(client->server_certificate());
  EXPECT_EQ(client->server_certificate()->CommonName(), "node-1");

  r = client->Request(Method::kGet, "/whoami", Token("good"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(r->body.find("principal=alice mechanism=token tls=1"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("thread=fk-worker"), std::string::npos) << r->body;
}

TEST_F(ServerTest, InlineRoutesAuthenticateOnAWorkerWhenTheAuthenticatorMayBlock) {
  Start(Options());
  auto client = TlsClient();
  const std::string io_thread = std::string(
      Must(client->Request(Method::kGet, "/hello"), "hello").headers.Get("X-Thread").value_or("?"));
  auto last_auth_thread = [&] {
    std::lock_guard lock(authenticator_->mu);
    return authenticator_->thread;
  };
  authenticator_->may_block = false;
  Response fast = Must(client->Request(Method::kGet, "/inline-whoami", Token("good")), "inline");
  EXPECT_EQ(fast.body, "alice thread=" + io_thread);
  EXPECT_EQ(last_auth_thread(), io_thread);
  authenticator_->may_block = true;
  Response slow = Must(client->Request(Method::kGet, "/inline-whoami", Token("good")), "worker");
  EXPECT_TRUE(slow.body.starts_with("alice thread=fk-worker")) << slow.body;
  EXPECT_TRUE(last_auth_thread().starts_with("fk-worker")) << last_auth_thread();
  EXPECT_NE(io_thread.rfind("fk-worker", 0), 0u) << io_thread;
}

TEST_F(ServerTest, TlsRefusesOldProtocolsAndNonAeadSuites) {
  // An RSA certificate, so that the RSA-key-exchange and ECDHE-RSA suites could be negotiated
  // if the server allowed them.
  test::Issued rsa_server = test::MakeLeaf(*ca_, "rsa-node", crypto::ExtendedKeyUsage::kServerAuth,
                                           crypto::KeyType::kRsa);
  ServerOptions options = Options();
  options.tcp->tls.identity = rsa_server.identity();
  Start(std::move(options));
  const std::string connect =
      "timeout 30 openssl s_client -connect 127.0.0.1:" + std::to_string(port_) + " ";

  // The controls: TLS 1.2 with ECDHE + AES-GCM, and TLS 1.3, are accepted.
  test::CommandResult ok12 =
      test::RunCommand(connect + "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(ok12.exit_code, 0) << ok12.output;
  EXPECT_NE(ok12.output.find("Cipher is ECDHE-RSA-AES128-GCM-SHA256"), std::string::npos)
      << ok12.output;
  test::CommandResult chacha =
      test::RunCommand(connect + "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305");
  EXPECT_EQ(chacha.exit_code, 0) << chacha.output;
  test::CommandResult ok13 = test::RunCommand(connect + "-tls1_3");
  EXPECT_EQ(ok13.exit_code, 0) << ok13.output;
  EXPECT_NE(ok13.output.find("TLSv1.3"), std::string::npos) << ok13.output;

  // TLS 1.1 (the client's security level lowered so that it really offers it).
  test::CommandResult tls11 = test::RunCommand(connect + "-tls1_1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_NE(tls11.exit_code, 0) << tls11.output;
  EXPECT_NE(tls11.output.find("Cipher is (NONE)"), std::string::npos) << tls11.output;
  EXPECT_NE(tls11.output.find("alert protocol version"), std::string::npos) << tls11.output;
  test::CommandResult tls10 = test::RunCommand(connect + "-tls1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_NE(tls10.exit_code, 0) << tls10.output;

  // Non-AEAD suites over TLS 1.2: static RSA with CBC, and ECDHE with CBC.
  for (const char* suite : {"AES128-SHA", "AES256-SHA256", "ECDHE-RSA-AES128-SHA",
                            "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256"}) {
    test::CommandResult refused =
        test::RunCommand(connect + "-tls1_2 -cipher " + suite + "@SECLEVEL=0");
    EXPECT_NE(refused.exit_code, 0) << suite << "\n" << refused.output;
    EXPECT_NE(refused.output.find("Cipher is (NONE)"), std::string::npos) << suite;
    EXPECT_NE(refused.output.find("handshake failure"), std::string::npos) << refused.output;
  }
}

TEST_F(ServerTest, MutualTlsRequiredRefusesClientsWithoutAValidCertificate) {
  ServerOptions options = Options();
  options.tcp->tls.client_trust = test::TrustOnly(ca_->cert);
  options.tcp->tls.require_client_certificate = true;
  Start(std::move(options));

  Result<Response> anonymous = TlsClient()->Request(Method::kGet, "/hello");
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code(), ErrorCode::kUnavailable) << anonymous.error().message();

  ClientTlsOptions stranger;
  stranger.identity = stranger_->identity();
  Result<Response> refused = TlsClient(stranger)->Request(Method::kGet, "/hello");
  EXPECT_FALSE(refused);

  // A certificate from the right CA but for servers, not clients.
  ClientTlsOptions wrong_usage;
  wrong_usage.identity = server_->identity();
  EXPECT_FALSE(TlsClient(wrong_usage)->Request(Method::kGet, "/hello"));

  ClientTlsOptions operator_cert;
  operator_cert.identity = client_->identity();
  Result<Response> r = TlsClient(operator_cert)->Request(Method::kGet, "/whoami");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("principal=operator-1 mechanism=mtls"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("subject=CN=operator-1,O=fogkeep"), std::string::npos) << r->body;
}

TEST_F(ServerTest, MutualTlsOptionalAcceptsBothAndShowsTheCertificate) {
  ServerOptions options = Options();
  options.tcp->tls.client_trust = test::TrustOnly(ca_->cert);
  Start(std::move(options));

  Result<Response> anonymous = TlsClient()->Request(Method::kGet, "/whoami", Token("good"));
  ASSERT_TRUE(anonymous) << anonymous.error().message();
  EXPECT_EQ(anonymous->body.find("subject="), std::string::npos);

  ClientTlsOptions operator_cert;
  operator_cert.identity = client_->identity();
  Result<Response> r = TlsClient(operator_cert)->Request(Method::kGet, "/whoami");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(r->body.find("subject=CN=operator-1,O=fogkeep"), std::string::npos) << r->body;

  // A presented certificate must verify even when certificates are optional.
  ClientTlsOptions stranger;
  stranger.identity = stranger_->identity();
  EXPECT_FALSE(TlsClient(stranger)->Request(Method::kGet, "/hello"));
}

TEST_F(ServerTest, ClientVerifiesTheServer) {
  Start(Options());

  ClientTlsOptions pinned;
  pinned.pinned_fingerprint = server_->cert.Fingerprint();
  Result<Response> ok = TlsClient(pinned)->Request(Method::kGet, "/hello");
  ASSERT_TRUE(ok) << ok.error().message();

  ClientTlsOptions wrong_pin;
  wrong_pin.pinned_fingerprint = client_->cert.Fingerprint();
  Result<Response> r = TlsClient(wrong_pin)->Request(Method::kGet, "/hello");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity) << r.error().message();

  ClientTlsOptions other_trust;
  other_trust.trust = test::TrustOnly(other_ca_->cert);
  r = TlsClient(other_trust)->Request(Method::kGet, "/hello");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity) << r.error().message();
  EXPECT_NE(r.error().message().find("refused"), std::string::npos) << r.error().message();

  ClientTlsOptions wrong_name;
  wrong_name.trust = test::TrustOnly(ca_->cert);
  wrong_name.server_name = "director.example";
  r = TlsClient(wrong_name)->Request(Method::kGet, "/hello");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity) << r.error().message();

  ClientTlsOptions by_name;
  by_name.trust = test::TrustOnly(ca_->cert);
  by_name.server_name = "localhost";
  EXPECT_TRUE(TlsClient(by_name)->Request(Method::kGet, "/hello"));

  ClientTlsOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE(TlsClient(insecure)->Request(Method::kGet, "/hello"));

  Result<std::unique_ptr<Client>> unverified =
      Client::Https("127.0.0.1", port_, ClientTlsOptions{});
  ASSERT_FALSE(unverified);
  EXPECT_EQ(unverified.error().code(), ErrorCode::kInvalidInput);
}

TEST_F(ServerTest, UnixSocketIsRootOnlyAndShowsPeerCredentials) {
  Start(Options());
  struct stat st {};
  ASSERT_EQ(lstat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());

  Result<Response> r = UnixClient()->Request(Method::kGet, "/whoami");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("principal=uid:0 mechanism=unix tls=0"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("uid=0 pid=" + std::to_string(getpid())), std::string::npos) << r->body;
}

// In a forked child: become `uid`, send a request to the Unix socket and exit 0 when the server
// answered, 1 when it closed without a word, 2 on setup failure. Only system calls: the parent
// has threads.
int ChildRequestAs(const char* path, uid_t uid) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(2);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(2);
    const char request[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    char buf[64];
    ssize_t n = poll(&p, 1, 10000) == 1 ? recv(fd, buf, sizeof(buf), 0) : 0;
    _exit(n > 0 && std::strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(ServerTest, UnixSocketRefusesNonRootPeersUnlessAllowed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  Start(Options());
  // Open the directory and the file mode so that only the SO_PEERCRED check stands in the way.
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  ASSERT_EQ(chmod(socket_path().c_str(), 0666), 0);
  EXPECT_EQ(ChildRequestAs(socket_path().c_str(), 65534), 1);
  server_instance_->Stop();

  ServerOptions options = Options();
  options.unix_socket->allowed_uids = {65534};
  Start(std::move(options));
  ASSERT_EQ(chmod(socket_path().c_str(), 0666), 0);
  EXPECT_EQ(ChildRequestAs(socket_path().c_str(), 65534), 0);
}

// The body of GET /identity through the Unix socket at `path`, or the error.
std::string IdentityThrough(const std::string& path) {
  Result<std::unique_ptr<Client>> client = Client::Unix(path);
  if (!client) return "<" + client.error().message() + ">";
  Result<Response> r = (*client)->Request(Method::kGet, "/identity");
  if (!r) return "<" + r.error().message() + ">";
  return r->body;
}

std::uint32_t ModeOf(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return 0xffffffffu;
  return st.st_mode & 07777;
}

TEST_F(ServerTest, UnixListenersAddedWhileRunningServeWithTheirOwnIdentity) {
  Start(Options());
  const std::string a = dir_ / "app-a.sock";
  const std::string b = dir_ / "app-b.sock";
  Status added = server_instance_->AddUnixListener({.path = a, .identity = "app-a"});
  ASSERT_TRUE(added) << added.error().message();
  added = server_instance_->AddUnixListener({.path = b, .identity = "app-b", .mode = 0666});
  ASSERT_TRUE(added) << added.error().message();

  EXPECT_EQ(IdentityThrough(a), "identity=app-a");
  EXPECT_EQ(IdentityThrough(b), "identity=app-b");
  EXPECT_EQ(IdentityThrough(socket_path()), "identity=");  // unix_socket has none

  // Interleaved on kept-alive connections: each request carries its own listener's identity.
  auto client_a = Must(Client::Unix(a), "client");
  auto client_b = Must(Client::Unix(b), "client");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Must(client_a->Request(Method::kGet, "/identity"), "a").body, "identity=app-a");
    EXPECT_EQ(Must(client_b->Request(Method::kGet, "/identity"), "b").body, "identity=app-b");
  }

  // The file mode asked for, and the default.
  EXPECT_EQ(ModeOf(a), 0600u);
  EXPECT_EQ(ModeOf(b), 0666u);

  // The peer credentials are there as on the first listener.
  Result<Response> r = client_b->Request(Method::kGet, "/whoami");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(r->body.find("principal=uid:0 mechanism=unix"), std::string::npos) << r->body;

  // Stop removes every socket file.
  client_a.reset();
  client_b.reset();
  server_instance_->Stop();
  struct stat st {};
  EXPECT_NE(lstat(a.c_str(), &st), 0);
  EXPECT_NE(lstat(b.c_str(), &st), 0);
  EXPECT_NE(lstat(socket_path().c_str(), &st), 0);
  added = server_instance_->AddUnixListener({.path = a});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kUnavailable);
}

TEST_F(ServerTest, UnixListenersAddedBeforeStartAreBoundByStart) {
  auto created = Server::Create(Options(), TestRouter(probes_), authenticator_, nullptr);
  ASSERT_TRUE(created) << created.error().message();
  Server& server = **created;
  const std::string a = dir_ / "early.sock";
  ASSERT_TRUE(server.AddUnixListener({.path = a, .identity = "early", .mode = 0640}));
  struct stat st {};
  EXPECT_NE(lstat(a.c_str(), &st), 0);  // recorded only
  Status started = server.Start();
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_EQ(ModeOf(a), 0640u);
  EXPECT_EQ(IdentityThrough(a), "identity=early");
  EXPECT_EQ(IdentityThrough(socket_path()), "identity=");
}

TEST_F(ServerTest, StartBindsNoUnixListenerWhenOneFails) {
  auto created = Server::Create(Options(), TestRouter(probes_), authenticator_, nullptr);
  ASSERT_TRUE(created) << created.error().message();
  // Listeners bind in path order: "a.sock" binds, then "b.sock" (a regular file) fails.
  const std::string a = dir_ / "a.sock";
  const std::string b = dir_ / "b.sock";
  std::FILE* f = std::fopen(b.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ASSERT_TRUE((*created)->AddUnixListener({.path = a}));
  ASSERT_TRUE((*created)->AddUnixListener({.path = b}));
  Status started = (*created)->Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code(), ErrorCode::kConflict);
  struct stat st {};
  EXPECT_NE(lstat(a.c_str(), &st), 0);
  EXPECT_NE(lstat(socket_path().c_str(), &st), 0);
  ASSERT_EQ(lstat(b.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ServerTest, RemovedUnixListenerClosesItsSocketAndItsConnections) {
  Start(Options());
  const std::string a = dir_ / "app-a.sock";
  const std::string b = dir_ / "app-b.sock";
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = a, .identity = "app-a"}));
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = b, .identity = "app-b"}));

  // A kept-alive connection through `a`, answered once.
  int kept = test::ConnectUnix(a);
  ASSERT_GE(kept, 0);
  ASSERT_TRUE(test::SendAll(kept, "GET /identity HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string first = test::ReadHead(kept, 5s);
  EXPECT_EQ(test::StatusOf(first), 200) << first;
  // A streamed response in progress through `a`.
  std::future<Result<Response>> follower = std::async(std::launch::async, [a] {
    return Must(Client::Unix(a), "client")
        ->Download(Method::kGet, "/logs?follow=1", {},
                   [](std::string_view) -> Status { return {}; });
  });
  ASSERT_EQ(probes_->follower_started.get_future().wait_for(10s), std::future_status::ready);
  auto client_b = Must(Client::Unix(b), "client");
  ASSERT_TRUE(client_b->Request(Method::kGet, "/identity"));

  Status removed = server_instance_->RemoveUnixListener(a);
  ASSERT_TRUE(removed) << removed.error().message();

  struct stat st {};
  EXPECT_NE(lstat(a.c_str(), &st), 0);
  EXPECT_EQ(test::ConnectUnix(a), -1);
  // The kept connection is closed and answers nothing more.
  test::SendAll(kept, "GET /identity HTTP/1.1\r\nHost: x\r\n\r\n");
  test::ReadOutcome after = test::ReadUntilClosed(kept, 5s);
  close(kept);
  EXPECT_TRUE(after.closed);
  EXPECT_EQ(after.data.find("HTTP/1.1"), std::string::npos) << after.data;
  // The follower's body ends without its last chunk and its producer is told.
  ASSERT_EQ(follower.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(follower.get());
  EXPECT_EQ(probes_->follower_cancelled.get_future().wait_for(10s), std::future_status::ready);

  // Everything else is untouched, including the kept-alive connection through `b`.
  Result<Response> r = client_b->Request(Method::kGet, "/identity");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "identity=app-b");
  EXPECT_EQ(IdentityThrough(b), "identity=app-b");
  EXPECT_EQ(IdentityThrough(socket_path()), "identity=");

  removed = server_instance_->RemoveUnixListener(a);
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code(), ErrorCode::kNotFound);

  // The path can be listened on again, with another identity.
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = a, .identity = "app-a2"}));
  EXPECT_EQ(IdentityThrough(a), "identity=app-a2");
}

TEST_F(ServerTest, RemovingAUnixListenerLeavesAFileThatReplacedItsSocket) {
  Start(Options());
  const std::string a = dir_ / "app.sock";
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = a}));
  ASSERT_EQ(unlink(a.c_str()), 0);
  std::FILE* f = std::fopen(a.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ASSERT_TRUE(server_instance_->RemoveUnixListener(a));
  struct stat st {};
  ASSERT_EQ(lstat(a.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ServerTest, AddUnixListenerRefusesConflictsAndBadOptions) {
  Start(Options());
  const std::string a = dir_ / "app.sock";
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = a, .identity = "one"}));

  // Already listened on by this server: the first listener is untouched.
  Status added = server_instance_->AddUnixListener({.path = a, .identity = "two"});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(IdentityThrough(a), "identity=one");
  added = server_instance_->AddUnixListener({.path = socket_path()});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(IdentityThrough(socket_path()), "identity=");

  // A file that is not a socket is left as it is.
  const std::string regular = dir_ / "regular";
  std::FILE* f = std::fopen(regular.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("keep me", f);
  std::fclose(f);
  added = server_instance_->AddUnixListener({.path = regular});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kConflict);
  f = std::fopen(regular.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char content[16] = {};
  EXPECT_EQ(std::fread(content, 1, sizeof(content), f), 7u);
  std::fclose(f);
  EXPECT_STREQ(content, "keep me");

  // A stale socket (nobody listening) is replaced.
  const std::string stale = dir_ / "stale.sock";
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    stale.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
  }
  added = server_instance_->AddUnixListener({.path = stale, .identity = "fresh"});
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_EQ(IdentityThrough(stale), "identity=fresh");

  // Bad options.
  added = server_instance_->AddUnixListener({.path = ""});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kInvalidInput);
  added = server_instance_->AddUnixListener({.path = "/" + std::string(200, 'x')});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kInvalidInput);
  added = server_instance_->AddUnixListener({.path = dir_ / "sticky.sock", .mode = 01777});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kInvalidInput);
  // A directory that does not exist.
  added = server_instance_->AddUnixListener({.path = dir_ / "missing/app.sock"});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kUnavailable);

  Status removed = server_instance_->RemoveUnixListener(dir_ / "never.sock");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code(), ErrorCode::kNotFound);
}

TEST_F(ServerTest, UnixListenerUidPolicy) {
  Start(Options());
  const std::string no_root = dir_ / "no-root.sock";
  const std::string root_range = dir_ / "root-range.sock";
  const std::string root_listed = dir_ / "root-listed.sock";
  const std::string other_range = dir_ / "other-range.sock";
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = no_root, .allow_root = false}));
  ASSERT_TRUE(server_instance_->AddUnixListener(
      {.path = root_range, .allow_root = false, .allowed_uid_ranges = {{.first = 0, .count = 1}}}));
  ASSERT_TRUE(server_instance_->AddUnixListener(
      {.path = root_listed, .allow_root = false, .allowed_uids = {0}}));
  ASSERT_TRUE(server_instance_->AddUnixListener(
      {.path = other_range,
       .allow_root = false,
       .allowed_uid_ranges = {{.first = 100000, .count = 65536}}}));
  const std::string hello = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (geteuid() == 0) {
    // Closed without a word.
    EXPECT_EQ(test::RawUnix(no_root, hello), "");
    EXPECT_EQ(test::RawUnix(other_range, hello), "");
    EXPECT_EQ(test::StatusOf(test::RawUnix(root_range, hello)), 200);
    EXPECT_EQ(test::StatusOf(test::RawUnix(root_listed, hello)), 200);
  }

  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  // Ranges for other users; the directory and the mode let them reach the sockets.
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  const std::string inside = dir_ / "inside.sock";
  const std::string edge = dir_ / "edge.sock";
  const std::string outside = dir_ / "outside.sock";
  ASSERT_TRUE(server_instance_->AddUnixListener(
      {.path = inside, .mode = 0666, .allowed_uid_ranges = {{.first = 65530, .count = 10}}}));
  // The last uid of a range is inside it; one past is not.
  ASSERT_TRUE(server_instance_->AddUnixListener(
      {.path = edge, .mode = 0666, .allowed_uid_ranges = {{.first = 65525, .count = 10}}}));
  ASSERT_TRUE(server_instance_->AddUnixListener(
      {.path = outside, .mode = 0666, .allowed_uid_ranges = {{.first = 65524, .count = 10}}}));
  EXPECT_EQ(ChildRequestAs(inside.c_str(), 65534), 0);
  EXPECT_EQ(ChildRequestAs(edge.c_str(), 65534), 0);
  EXPECT_EQ(ChildRequestAs(outside.c_str(), 65534), 1);
  // Root is still let in on these by default.
  EXPECT_EQ(test::StatusOf(test::RawUnix(outside, hello)), 200);
}

// Listeners come and go on one thread while clients connect through them on others, with two
// I/O threads: every answer names the listener it came through, and nothing hangs or leaks.
TEST_F(ServerTest, UnixListenersComeAndGoUnderLoad) {
  ServerOptions options = Options();
  options.io_threads = 2;
  Start(std::move(options));
  constexpr int kPaths = 3;
  auto path_of = [this](int i) { return dir_ / ("churn-" + std::to_string(i) + ".sock"); };
  std::atomic<bool> done{false};
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      for (int n = 0; !done; ++n) {
        const int i = (n + c) % kPaths;
        const std::string response = test::RawUnix(
            path_of(i), "GET /identity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5s);
        if (test::StatusOf(response) != 200) continue;  // removed meanwhile
        ++answered;
        // Generations reuse a path, so only the path part of the identity is certain.
        if (response.find("identity=churn-" + std::to_string(i) + "/") == std::string::npos) {
          ++wrong;
        }
      }
    });
  }
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < kPaths; ++i) {
      Status added = server_instance_->AddUnixListener(
          {.path = path_of(i),
           .identity = "churn-" + std::to_string(i) + "/" + std::to_string(round)});
      ASSERT_TRUE(added) << added.error().message();
    }
    std::this_thread::sleep_for(2ms);
    for (int i = 0; i < kPaths; ++i) {
      Status removed = server_instance_->RemoveUnixListener(path_of(i));
      ASSERT_TRUE(removed) << removed.error().message();
    }
  }
  done = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(answered, 0);
  EXPECT_EQ(IdentityThrough(socket_path()), "identity=");
}

TEST_F(ServerTest, AllowNoListenerStartsAServerForLaterListeners) {
  // Without the flag a server without any listener is refused, by Create or by Start.
  ServerOptions bare;
  auto created = Server::Create(bare, TestRouter(probes_), authenticator_, nullptr);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kInvalidInput);
  ServerOptions only_unix;
  only_unix.unix_socket = UnixListenerOptions{.path = socket_path()};
  created = Server::Create(only_unix, TestRouter(probes_), authenticator_, nullptr);
  ASSERT_TRUE(created) << created.error().message();
  ASSERT_TRUE((*created)->RemoveUnixListener(socket_path()));
  Status started = (*created)->Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code(), ErrorCode::kInvalidInput);

  bare.allow_no_listener = true;
  created = Server::Create(bare, TestRouter(probes_), authenticator_, nullptr);
  ASSERT_TRUE(created) << created.error().message();
  started = (*created)->Start();
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_EQ((*created)->tcp_port(), 0);
  const std::string a = dir_ / "app.sock";
  ASSERT_TRUE((*created)->AddUnixListener({.path = a, .identity = "app"}));
  EXPECT_EQ(IdentityThrough(a), "identity=app");
  ASSERT_TRUE((*created)->RemoveUnixListener(a));
  EXPECT_EQ(test::ConnectUnix(a), -1);
  (*created)->Stop();
}

TEST_F(ServerTest, RoutesAnswer404And405WithJsonAndKeepTheConnection) {
  Start(Options());
  auto client = UnixClient();
  Result<Response> r = client->Request(Method::kGet, "/nope");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(ResponseError(*r).code(), ErrorCode::kNotFound);

  r = client->Request(Method::kPut, "/apps/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers.Get("Allow"), "GET, DELETE");

  r = client->Request(Method::kGet, "/apps/nginx%2Dlite");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "app nginx-lite");
}

TEST_F(ServerTest, HandlerErrorsMapToStatusesAndJsonBodies) {
  Start(Options());
  auto client = UnixClient();
  const std::vector<std::pair<std::string, int>> expected = {
      {"invalid_input", 400}, {"unauthenticated", 401}, {"forbidden", 403},
      {"not_found", 404},     {"conflict", 409},        {"integrity", 422},
      {"limit", 413},         {"unavailable", 503},     {"internal", 500}};
  for (const auto& [name, status] : expected) {
    Result<Response> r = client->Request(Method::kGet, "/fail/" + name);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, status) << name;
    EXPECT_EQ(r->headers.Get("Content-Type"), "application/json");
    EXPECT_NE(r->body.find("{\"error\":{\"code\":\"" + name + "\""), std::string::npos) << r->body;
  }
  Result<Response> thrown = client->Request(Method::kGet, "/throw");
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(thrown->body.find("secret"), std::string::npos) << thrown->body;
  EXPECT_NE(thrown->body.find("internal error"), std::string::npos);
}

TEST_F(ServerTest, AuthenticationAndAuthorizationComeBeforeTheBody) {
  Start(Options());
  auto client = TlsClient();
  Result<Response> r = client->Request(Method::kPost, "/protected", {}, "data");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(ResponseError(*r).code(), ErrorCode::kUnauthenticated);

  r = client->Request(Method::kPost, "/protected", Token("viewer"), "data");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  r = client->Request(Method::kGet, "/denied", Token("good"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  r = client->Request(Method::kPost, "/protected", Token("good"), "data");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok data");

  // An unauthenticated upload is refused before a single body byte leaves the client.
  GeneratedBody body(10 * kMiB);
  r = client->Upload(Method::kPut, "/upload", {}, body, 10 * kMiB);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(body.reads(), 0);
}

TEST_F(ServerTest, OversizedContentLengthIs413BeforeTheBodyIsRead) {
  Start(Options());
  // Nothing of the promised gigabyte is ever sent: an answer can only come from the header.
  int fd = test::ConnectUnix(socket_path());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(test::SendAll(fd,
                            "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                            "Content-Length: 1073741824\r\n\r\n"));
  const auto start = std::chrono::steady_clock::now();
  std::string head = test::ReadHead(fd, 5s);
  close(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(test::StatusOf(head), 413) << head;  // and no "100 Continue" before it

  // Streamed routes too, through the client: the source is never read.
  GeneratedBody body(100 * kMiB);
  Result<Response> r =
      TlsClient()->Upload(Method::kPut, "/upload", Token("good"), body, 100 * kMiB);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(body.reads(), 0);
}

TEST_F(ServerTest, ChunkedBodyPastTheLimitIs413) {
  Start(Options());
  std::string chunk(2000, 'a');
  std::string response = test::RawUnix(
      socket_path(), "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
                         chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(test::StatusOf(response), 413) << response;
}

TEST_F(ServerTest, SlowClientsAreCutOff) {
  ServerOptions options = Options();
  options.limits.header_timeout = 400ms;
  options.limits.handshake_timeout = 400ms;
  Start(std::move(options));

  // A header trickled one byte at a time never completes within the deadline.
  int fd = test::ConnectUnix(socket_path());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(test::SendAll(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n"));
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!test::SendAll(fd, "X")) closed = true;
    test::ReadOutcome out = test::ReadUntilClosed(fd, 100ms);
    closed = closed || out.closed;
  }
  close(fd);
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);

  // A TCP client that never starts its TLS handshake.
  fd = test::ConnectTcp(port_);
  ASSERT_GE(fd, 0);
  test::ReadOutcome idle = test::ReadUntilClosed(fd, 3s);
  close(fd);
  EXPECT_TRUE(idle.closed);

  // An idle kept-alive connection is closed too, after answering what it asked.
  fd = test::ConnectUnix(socket_path());
  ASSERT_TRUE(test::SendAll(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  test::ReadOutcome kept = test::ReadUntilClosed(fd, 3s);
  close(fd);
  EXPECT_EQ(test::StatusOf(kept.data), 200);
  EXPECT_TRUE(kept.closed);
}

TEST_F(ServerTest, KeptAliveTlsConnectionsIdleUntilTheIdleTimeout) {
  ServerOptions options = Options();
  options.limits.header_timeout = 300ms;
  options.limits.idle_timeout = 1500ms;
  Start(std::move(options));
  auto client = TlsClient();
  // /whoami names the client's port: the same port is the same connection.
  auto connection = [&] {
    const std::string body =
        Must(client->Request(Method::kGet, "/whoami", Token("good")), "whoami").body;
    const std::size_t at = body.find(" port=");
    return at == std::string::npos ? body : body.substr(at);
  };
  const std::string first = connection();
  std::this_thread::sleep_for(800ms);  // past the header timeout, within the idle timeout
  EXPECT_EQ(connection(), first);
  std::this_thread::sleep_for(2500ms);  // past the idle timeout: the client connects anew
  EXPECT_NE(connection(), first);
}

TEST_F(ServerTest, StreamedUploadOf50MiBIsHashedOnAWorkerThread) {
  Start(Options());
  GeneratedBody over_tls(50 * kMiB);
  Result<Response> r =
      TlsClient()->Upload(Method::kPut, "/upload", Token("good"), over_tls, 50 * kMiB);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, over_tls.HexDigest() + " 52428800 fk-worker");

  // Chunked (length unknown) over the Unix socket.
  GeneratedBody chunked(50 * kMiB);
  r = UnixClient()->Upload(Method::kPut, "/upload", {}, chunked, std::nullopt);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, chunked.HexDigest() + " 52428800 fk-worker");
}

TEST_F(ServerTest, UploadFileSendsTheFile) {
  Start(Options());
  std::string content(3 * kMiB + 17, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  const std::string path = dir_ / "package.tar";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
  Result<Response> r = TlsClient()->UploadFile(Method::kPut, "/upload", Token("good"), path);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body,
            crypto::Sha256Hex(content) + " " + std::to_string(content.size()) + " fk-worker");
}

TEST_F(ServerTest, ClientDisconnectDuringUploadFailsTheHandlersRead) {
  Start(Options());
  int fd = test::ConnectUnix(socket_path());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(test::SendAll(fd,
                            "PUT /upload-probe HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 10485760\r\n\r\n"));
  ASSERT_TRUE(test::SendAll(fd, std::string(100 * 1024, 'x')));
  close(fd);
  std::future<ErrorCode> failure = probes_->upload_failure.get_future();
  ASSERT_EQ(failure.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(failure.get(), ErrorCode::kUnavailable);
}

TEST_F(ServerTest, StreamedResponseArrivesInChunks) {
  Start(Options());
  std::string received;
  int chunks = 0;
  Result<Response> r = TlsClient()->Download(Method::kGet, "/logs?lines=500", {},
                                             [&](std::string_view data) -> Status {
                                               received.append(data);
                                               ++chunks;
                                               return {};
                                             });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.Get("Transfer-Encoding"), "chunked");
  std::string expected;
  for (int i = 0; i < 500; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(received, expected);
  EXPECT_GE(chunks, 1);
}

TEST_F(ServerTest, FollowingStopsTheProducerWhenTheClientLeaves) {
  Start(Options());
  int chunks = 0;
  Result<Response> r =
      UnixClient()->Download(Method::kGet, "/logs?follow=1", {}, [&](std::string_view) -> Status {
        if (++chunks >= 3) return Fail(ErrorCode::kUnavailable, "enough");
        return {};
      });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "enough");
  std::future<void> cancelled = probes_->follower_cancelled.get_future();
  EXPECT_EQ(cancelled.wait_for(10s), std::future_status::ready);
}

TEST_F(ServerTest, StopEndsFollowersAndReturns) {
  Start(Options());
  std::future<Result<Response>> follower = std::async(std::launch::async, [this] {
    return UnixClient()->Download(Method::kGet, "/logs?follow=1", {},
                                  [](std::string_view) -> Status { return {}; });
  });
  ASSERT_EQ(probes_->follower_started.get_future().wait_for(10s), std::future_status::ready);
  const auto start = std::chrono::steady_clock::now();
  server_instance_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_EQ(follower.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(follower.get());  // the body ended without its last chunk
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Start(Options());
  auto client = TlsClient();
  std::string first;
  for (int i = 0; i < 300; ++i) {
    Result<Response> r = client->Request(Method::kGet, "/whoami", Token("good"));
    ASSERT_TRUE(r) << i << ": " << r.error().message();
    ASSERT_EQ(r->status, 200);
    // The client's source port names the connection.
    if (i == 0) first = r->body;
    ASSERT_EQ(r->body, first) << i;
  }
  auto unix_client = UnixClient();
  for (int i = 0; i < 300; ++i) {
    Result<Response> r = unix_client->Request(Method::kPost, "/echo", {}, std::to_string(i));
    ASSERT_TRUE(r) << i << ": " << r.error().message();
    ASSERT_EQ(r->body, std::to_string(i));
  }
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start(Options());
  std::string two =
      "GET /apps/a HTTP/1.1\r\nHost: x\r\n\r\nGET /apps/b HTTP/1.1\r\nHost: x\r\n"
      "Connection: close\r\n\r\n";
  std::string response = test::RawUnix(socket_path(), two);
  const std::size_t a = response.find("app a");
  const std::size_t b = response.find("app b");
  ASSERT_NE(a, std::string::npos) << response;
  ASSERT_NE(b, std::string::npos) << response;
  EXPECT_LT(a, b);
}

TEST_F(ServerTest, MalformedRequestsGet400AndNeverCrash) {
  Start(Options());
  const std::vector<std::string> hostile = {
      "GARBAGE\r\n\r\n",
      Bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
      "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n",
      "GET /hello HTTP/1.1\r\nHost: x\r\n" + std::string(2000, 'Y') + ": 1\r\n" +
          [] {
            std::string many;
            for (int i = 0; i < 2000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
            return many;
          }() +
          "\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "GET http://evil.example/hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /apps/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /apps/%2e%2e%2fetc HTTP/1.1\r\nHost: x\r\n\r\n",
      "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "GET /hello HTTP/1.1\nHost: x\n\n",
      Bytes("GET /hello HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n"),
      "GET /hello HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /hello HTTP/1.1\r\n Folded: header\r\n\r\n",
      "GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const std::string& request : hostile) {
    std::string response = test::RawUnix(socket_path(), request);
    EXPECT_EQ(test::StatusOf(response), 400)
        << "request: " << request.substr(0, 80) << "\nresponse: " << response.substr(0, 200);
  }

  // Random bytes after a plausible start: a 400 or a closed connection, never a crash.
  std::minstd_rand rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string request = (i % 2 == 0) ? "GET /" : "POST /echo HTTP/1.1\r\n";
    const int length = static_cast<int>(rng() % 300);
    for (int j = 0; j < length; ++j) request += static_cast<char>(rng() % 256);
    request += "\r\n\r\n";
    std::string response = test::RawUnix(socket_path(), request, 3s);
    const int status = test::StatusOf(response);
    EXPECT_TRUE(response.empty() || status == 200 || status == 400 || status == 404 ||
                status == 405 || status == 413)
        << response.substr(0, 100);
  }

  Result<Response> r = UnixClient()->Request(Method::kGet, "/hello");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, ConnectionsPastTheLimitAreClosed) {
  ServerOptions options = Options();
  options.limits.max_connections = 2;
  Start(std::move(options));
  int a = test::ConnectUnix(socket_path());
  int b = test::ConnectUnix(socket_path());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  // Make sure both were accepted and registered before the third arrives.
  ASSERT_TRUE(test::SendAll(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(test::SendAll(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(test::StatusOf(test::ReadHead(a, 5s)), 200);
  EXPECT_EQ(test::StatusOf(test::ReadHead(b, 5s)), 200);

  int c = test::ConnectUnix(socket_path());
  ASSERT_GE(c, 0);
  test::SendAll(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  test::ReadOutcome refused = test::ReadUntilClosed(c, 5s);
  close(c);
  EXPECT_TRUE(refused.closed);
  EXPECT_TRUE(refused.data.empty()) << refused.data;

  close(a);
  close(b);
  // Once they are gone there is room again.
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = test::StatusOf(test::RawUnix(socket_path(),
                                          "GET /hello HTTP/1.1\r\nHost: x\r\n"
                                          "Connection: close\r\n\r\n",
                                          2s)) == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(ServerTest, AUnixListenerHoldsAtMostItsShareOfConnections) {
  Start(Options());
  const std::string greedy = dir_ / "greedy.sock";
  ASSERT_TRUE(server_instance_->AddUnixListener({.path = greedy, .max_connections = 2}));
  const std::string request = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  int a = test::ConnectUnix(greedy);
  int b = test::ConnectUnix(greedy);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(test::SendAll(a, request));
  ASSERT_TRUE(test::SendAll(b, request));
  EXPECT_EQ(test::StatusOf(test::ReadHead(a, 5s)), 200);
  EXPECT_EQ(test::StatusOf(test::ReadHead(b, 5s)), 200);
  // A third through the same listener is closed unanswered; other listeners are unaffected.
  int c = test::ConnectUnix(greedy);
  ASSERT_GE(c, 0);
  test::SendAll(c, request);
  test::ReadOutcome refused = test::ReadUntilClosed(c, 5s);
  close(c);
  EXPECT_TRUE(refused.closed);
  EXPECT_TRUE(refused.data.empty()) << refused.data;
  EXPECT_EQ(test::StatusOf(test::RawUnix(socket_path(),
                                         "GET /hello HTTP/1.1\r\nHost: x\r\n"
                                         "Connection: close\r\n\r\n",
                                         2s)),
            200);
  close(a);
  close(b);
}

// A request sent on a new Unix connection that stays open; the socket, or -1.
int SendOnUnix(const std::string& path, std::string_view request) {
  int fd = test::ConnectUnix(path);
  if (fd >= 0 && !test::SendAll(fd, request)) {
    close(fd);
    return -1;
  }
  return fd;
}

constexpr std::string_view kDeferredGet = "GET /deferred HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_F(ServerTest, DeferredResponseCompletedFromAnotherThreadIsDeliveredAndKeepsTheConnection) {
  Start(Options());
  auto client = TlsClient();
  const std::string who = Must(client->Request(Method::kGet, "/whoami", Token("good")), "who").body;

  std::future<Result<Response>> pending =
      std::async(std::launch::async, [&] { return client->Request(Method::kGet, "/deferred"); });
  ASSERT_TRUE(probes_->WaitParked(1, 10s));
  EXPECT_EQ(pending.wait_for(200ms), std::future_status::timeout);  // nothing answered yet
  std::thread completer([deferred = probes_->Parked(0)] {
    Response later = Response::Text("later");
    later.headers.Set("X-Later", "yes");
    EXPECT_TRUE(deferred->Complete(std::move(later)));
    EXPECT_FALSE(deferred->Complete(Response::Text("second")));  // the first call wins
  });
  completer.join();
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  Result<Response> r = pending.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "later");
  EXPECT_EQ(r->headers.Get("X-Later"), "yes");
  EXPECT_EQ(r->headers.Get("X-Content-Type-Options"), "nosniff");
  EXPECT_FALSE(probes_->Parked(0)->Cancelled());
  // Kept alive: the same connection (its source port is in the answer) serves on.
  EXPECT_EQ(Must(client->Request(Method::kGet, "/whoami", Token("good")), "who").body, who);

  // Completed before the handler returned, from a worker and from the I/O thread.
  r = client->Request(Method::kGet, "/deferred?now=1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "at once");
  r = client->Request(Method::kGet, "/deferred-inline?now=1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "at once");

  // An error becomes the usual JSON error answer; a nested deferral is a 500.
  pending =
      std::async(std::launch::async, [&] { return client->Request(Method::kGet, "/deferred"); });
  ASSERT_TRUE(probes_->WaitParked(4, 10s));
  EXPECT_TRUE(probes_->Parked(3)->Complete(Fail(ErrorCode::kNotFound, "nothing here")));
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  r = pending.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(ResponseError(*r).message(), "nothing here");

  pending =
      std::async(std::launch::async, [&] { return client->Request(Method::kGet, "/deferred"); });
  ASSERT_TRUE(probes_->WaitParked(5, 10s));
  auto nested = std::make_shared<DeferredResponse>();
  EXPECT_TRUE(probes_->Parked(4)->Complete(Response::Deferred(nested)));
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  r = pending.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(nested->Cancelled());
  EXPECT_EQ(Must(client->Request(Method::kGet, "/whoami", Token("good")), "who").body, who);
}

TEST_F(ServerTest, DeferredResponseOnUnixKeepsPipelinedRequestsInOrder) {
  Start(Options());
  // The second request arrives while the first waits; it is answered after it, in order.
  int fd = SendOnUnix(socket_path(),
                      std::string(kDeferredGet) + "GET /apps/a HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(probes_->WaitParked(1, 10s));
  EXPECT_TRUE(probes_->Parked(0)->Complete(Response::Text("first")));
  std::string both = test::ReadUntilFound(fd, "app a", 10s);
  const std::size_t first = both.find("first");
  const std::size_t second = both.find("app a");
  ASSERT_NE(first, std::string::npos) << both;
  ASSERT_NE(second, std::string::npos) << both;
  EXPECT_LT(first, second);
  // And the connection goes on.
  ASSERT_TRUE(test::SendAll(fd, kDeferredGet));
  ASSERT_TRUE(probes_->WaitParked(2, 10s));
  EXPECT_TRUE(probes_->Parked(1)->Complete(Response::Text("third")));
  EXPECT_NE(test::ReadUntilFound(fd, "third", 10s).find("third"), std::string::npos);
  close(fd);
  EXPECT_EQ(probes_->Cancelled(), 0u);
}

TEST_F(ServerTest, ClientLeavingWhileADeferredResponseWaitsCancelsIt) {
  Start(Options());
  int fd = SendOnUnix(socket_path(), kDeferredGet);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(probes_->WaitParked(1, 10s));
  std::shared_ptr<DeferredResponse> deferred = probes_->Parked(0);
  EXPECT_FALSE(deferred->Cancelled());
  close(fd);
  ASSERT_TRUE(probes_->WaitCancelled(1, 10s));
  EXPECT_TRUE(deferred->Cancelled());
  // Completing it now is harmless and reported.
  EXPECT_FALSE(deferred->Complete(Response::Text("too late")));
  // A callback registered after the fact runs at once.
  bool told = false;
  deferred->OnCancel([&] { told = true; });
  EXPECT_TRUE(told);

  // Over TLS: a client that gives up waiting.
  ClientTlsOptions tls;
  tls.trust = test::TrustOnly(ca_->cert);
  auto impatient = Must(
      Client::Https("127.0.0.1", port_, std::move(tls), ClientOptions{.timeout = 300ms}), "client");
  EXPECT_FALSE(impatient->Request(Method::kGet, "/deferred"));
  impatient.reset();
  ASSERT_TRUE(probes_->WaitCancelled(2, 10s));
  EXPECT_FALSE(probes_->Parked(1)->Complete(Response::Text("too late")));

  EXPECT_EQ(Must(UnixClient()->Request(Method::kGet, "/hello"), "hello").status, 200);
}

TEST_F(ServerTest, CompletionRacingTheClientLeavingIsHarmless) {
  Start(Options());
  for (std::size_t i = 0; i < 40; ++i) {
    int fd = SendOnUnix(socket_path(), kDeferredGet);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(probes_->WaitParked(i + 1, 10s));
    std::thread completer(
        [deferred = probes_->Parked(i)] { (void)deferred->Complete(Response::Text("raced")); });
    close(fd);
    completer.join();
  }
  EXPECT_EQ(Must(UnixClient()->Request(Method::kGet, "/hello"), "hello").status, 200);
}

TEST_F(ServerTest, StopCancelsPendingDeferredResponsesPromptly) {
  Start(Options());
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    const int fd = SendOnUnix(socket_path(), kDeferredGet);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(probes_->WaitParked(100, 30s));
  const auto start = std::chrono::steady_clock::now();
  server_instance_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // Stop returns once every connection has ended, each cancelling its response on the way.
  EXPECT_EQ(probes_->Cancelled(), 100u);
  for (int fd : fds) {
    test::ReadOutcome ended = test::ReadUntilClosed(fd, 5s);
    EXPECT_TRUE(ended.closed);
    EXPECT_TRUE(ended.data.empty()) << ended.data;
    close(fd);
  }
  // Completing after Stop, and after the server is gone, is harmless.
  EXPECT_FALSE(probes_->Parked(0)->Complete(Response::Text("late")));
  server_instance_.reset();
  EXPECT_FALSE(probes_->Parked(1)->Complete(Response::Text("later still")));
}

TEST_F(ServerTest, DeferredResponsesPastTheLimitAre503) {
  ServerOptions options = Options();
  options.limits.max_deferred_responses = 2;
  Start(std::move(options));
  int a = SendOnUnix(socket_path(), kDeferredGet);
  int b = SendOnUnix(socket_path(), kDeferredGet);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(probes_->WaitParked(2, 10s));
  // The third is refused and cancelled, and its connection kept.
  int c = SendOnUnix(socket_path(), kDeferredGet);
  ASSERT_GE(c, 0);
  EXPECT_EQ(test::StatusOf(test::ReadUntilFound(c, "}", 10s)), 503);
  ASSERT_TRUE(probes_->WaitCancelled(1, 10s));
  EXPECT_TRUE(probes_->Parked(2)->Cancelled());
  // Once one is answered there is room again.
  EXPECT_TRUE(probes_->Parked(0)->Complete(Response::Text("one")));
  EXPECT_EQ(test::StatusOf(test::ReadUntilFound(a, "one", 10s)), 200);
  ASSERT_TRUE(test::SendAll(c, kDeferredGet));
  ASSERT_TRUE(probes_->WaitParked(4, 10s));
  EXPECT_TRUE(probes_->Parked(3)->Complete(Response::Text("four")));
  EXPECT_EQ(test::StatusOf(test::ReadUntilFound(c, "four", 10s)), 200);
  EXPECT_EQ(probes_->Cancelled(), 1u);
  close(a);
  close(b);
  close(c);
}

TEST_F(ServerTest, DeferredAnswersAreAuditedWhenComplete) {
  ServerOptions options = Options();
  auto sink = std::make_shared<RecordingAuditSink>();
  options.audit = sink;
  Start(std::move(options));
  const std::string post = "POST /deferred HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  int fd = SendOnUnix(socket_path(), post);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(probes_->WaitParked(1, 10s));
  EXPECT_TRUE(sink->Entries().empty());  // the handler has returned, but nothing is answered
  EXPECT_TRUE(probes_->Parked(0)->Complete(Response::Text("made", 201)));
  EXPECT_EQ(test::StatusOf(test::ReadUntilFound(fd, "made", 10s)), 201);
  ASSERT_TRUE(sink->WaitEntries(1, 10s));
  EXPECT_EQ(sink->Entries()[0].kind, AuditEvent::Kind::kStateChange);
  EXPECT_EQ(sink->Entries()[0].status, 201);
  close(fd);

  // A request whose client left is recorded too, as unanswered.
  fd = SendOnUnix(socket_path(), post);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(probes_->WaitParked(2, 10s));
  close(fd);
  ASSERT_TRUE(sink->WaitEntries(2, 10s));
  EXPECT_EQ(sink->Entries()[1].status, 503);
  EXPECT_NE(sink->Entries()[1].error.find("before the deferred response"), std::string::npos);
}

TEST_F(ServerTest, AThousandDeferredResponsesHoldNoThread) {
  constexpr std::size_t kRequests = 1000;
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur < 2 * kRequests + 200 && files.rlim_max >= 2 * kRequests + 200) {
    files.rlim_cur = 2 * kRequests + 200;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  if (files.rlim_cur < 2 * kRequests + 200) GTEST_SKIP() << "too few file descriptors";
  ServerOptions options = Options();
  options.limits.worker_threads = 2;
  options.limits.max_connections = kRequests + 10;
  Start(std::move(options));

  std::vector<int> fds;
  for (std::size_t i = 0; i < kRequests; ++i) {
    const int fd =
        SendOnUnix(socket_path(), "GET /deferred HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_GE(fd, 0) << i;
    fds.push_back(fd);
  }
  // Two workers ran every handler: none of them waits for its answer.
  ASSERT_TRUE(probes_->WaitParked(kRequests, 120s));
  EXPECT_EQ(Must(UnixClient()->Request(Method::kPost, "/echo", {}, "free"), "echo").body, "free");

  std::thread completer([&] {
    for (std::size_t i = 0; i < kRequests; ++i) {
      EXPECT_TRUE(probes_->Parked(i)->Complete(Response::Text("done")));
    }
  });
  std::size_t answered = 0;
  for (int fd : fds) {
    test::ReadOutcome out = test::ReadUntilClosed(fd, 30s);
    if (test::StatusOf(out.data) == 200 && out.data.ends_with("done")) ++answered;
    close(fd);
  }
  completer.join();
  EXPECT_EQ(answered, kRequests);
  EXPECT_EQ(probes_->Cancelled(), 0u);
}

TEST_F(ServerTest, CreateRefusesUnsafeSetups) {
  Router router;
  RouteOptions guarded;
  guarded.permission = "apps.read";
  ASSERT_TRUE(router.Add(Method::kGet, "/x", guarded,
                         [](Request&) { return Result<Response>(Response::Text("x")); }));
  // A guarded route with nobody to authenticate.
  auto created = Server::Create(Options(), std::move(router), nullptr, nullptr);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kInvalidInput);

  // Requiring client certificates without a trust store to check them against.
  ServerOptions options = Options();
  options.tcp->tls.require_client_certificate = true;
  created = Server::Create(std::move(options), Router(), nullptr, nullptr);
  ASSERT_FALSE(created);

  // A key that does not match the certificate.
  options = Options();
  options.tcp->tls.identity.key = client_->key;
  created = Server::Create(std::move(options), Router(), nullptr, nullptr);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kInvalidInput);

  // A regular file where the socket should go is not replaced.
  options = Options();
  std::FILE* f = std::fopen(socket_path().c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  created = Server::Create(std::move(options), Router(), nullptr, nullptr);
  ASSERT_TRUE(created);
  Status started = (*created)->Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code(), ErrorCode::kConflict);
}

}  // namespace
}  // namespace fogkeep::net
