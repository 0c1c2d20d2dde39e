// TpmKey::SigningKey: a P-256 key inside a TPM (swtpm here) as a PrivateKey that signs
// messages and certificate requests and authenticates a mutual-TLS client, the private key
// never leaving the TPM.
#include "crypto/tpm.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/csr.h"
#include "crypto/tls.h"
#include "crypto/x509.h"
#include "crypto_test_util.h"
#include "support/support.h"
#include "support/swtpm.h"

namespace fogkeep::crypto {
namespace {

using test::Issued;
using test::MakeIssued;
using test::MakeRoot;
using testing::Must;

// Whether OpenSSL can load the tpm2 provider against the TPM TPM2OPENSSL_TCTI names.
bool Tpm2ProviderLoads() {
  std::unique_ptr<OSSL_LIB_CTX, void (*)(OSSL_LIB_CTX*)> libctx(OSSL_LIB_CTX_new(),
                                                                OSSL_LIB_CTX_free);
  OSSL_PROVIDER* provider = OSSL_PROVIDER_load(libctx.get(), "tpm2");
  if (provider == nullptr) return false;
  OSSL_PROVIDER_unload(provider);
  return true;
}

// A key made in `tpm` instead of the suite's shared TPM, so that a test may stop that TPM.
Result<TpmKey> GenerateIn(const testing::Swtpm& tpm) {
  const std::string shared_tcti = ::getenv("TPM2OPENSSL_TCTI");
  ::setenv("TPM2OPENSSL_TCTI", tpm.tcti().c_str(), 1);
  Result<TpmKey> key = TpmKey::Generate();
  ::setenv("TPM2OPENSSL_TCTI", shared_tcti.c_str(), 1);
  return key;
}

// One swtpm for the suite, named by TPM2OPENSSL_TCTI while the suite runs.
class TpmSigningKeyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::Swtpm::FindBinary().empty()) {
      skip_reason_ = new std::string("swtpm is not installed");
      return;
    }
    state_ = new testing::TempDir();
    tpm_ = Must(testing::Swtpm::Start(state_->path()), "start swtpm").release();
    ::setenv("TPM2OPENSSL_TCTI", tpm_->tcti().c_str(), 1);
    if (!Tpm2ProviderLoads()) {
      skip_reason_ = new std::string("the tpm2 OpenSSL provider (tpm2-openssl) is not available");
    }
  }
  static void TearDownTestSuite() {
    ::unsetenv("TPM2OPENSSL_TCTI");
    delete tpm_;
    delete state_;
    delete skip_reason_;
    tpm_ = nullptr;
    state_ = nullptr;
    skip_reason_ = nullptr;
  }
  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
  }

  static inline testing::TempDir* state_ = nullptr;
  static inline testing::Swtpm* tpm_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
};

TEST_F(TpmSigningKeyTest, SignsWhatItsPublicKeyVerifies) {
  const TpmKey tpm = Must(TpmKey::Generate(), "generate in the TPM");
  const PrivateKey key = Must(tpm.SigningKey(), "signing key");
  EXPECT_EQ(key.type(), KeyType::kEcdsaP256);

  const std::string signature = Must(key.Sign("the message"), "sign");
  EXPECT_TRUE(key.Public().Verify("the message", signature));
  EXPECT_FALSE(key.Public().Verify("another message", signature));
  // Signed by this key, not by some other one: a software key's public half refuses it.
  EXPECT_FALSE(test::CachedKey(KeyType::kEcdsaP256).Public().Verify("the message", signature));
}

TEST_F(TpmSigningKeyTest, TheSameKeySignsAfterALoadFromItsPem) {
  std::string pem;
  std::string fingerprint;
  {
    const TpmKey made = Must(TpmKey::Generate(), "generate in the TPM");
    pem = made.pem();
    fingerprint = Must(made.SigningKey(), "signing key").Public().Fingerprint();
  }
  const PrivateKey loaded = Must(Must(TpmKey::Load(pem), "load").SigningKey(), "signing key");
  EXPECT_EQ(loaded.Public().Fingerprint(), fingerprint);
  EXPECT_TRUE(loaded.Public().Verify("m", Must(loaded.Sign("m"), "sign")));
}

TEST_F(TpmSigningKeyTest, OutlivesTheTpmKeyItCameFrom) {
  std::optional<PrivateKey> key;
  {
    const TpmKey tpm = Must(TpmKey::Generate(), "generate in the TPM");
    key = Must(tpm.SigningKey(), "signing key");
  }
  auto signature = key->Sign("still here");
  ASSERT_TRUE(signature) << signature.error().message();
  EXPECT_TRUE(key->Public().Verify("still here", *signature));
}

TEST_F(TpmSigningKeyTest, ThePrivateKeyCannotBeWrittenOut) {
  const PrivateKey key = Must(Must(TpmKey::Generate(), "generate").SigningKey(), "signing key");
  EXPECT_FALSE(key.ToPem());
  testing::TempDir dir;
  const std::string path = dir / "node.key";
  EXPECT_FALSE(key.Save(path));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(TpmSigningKeyTest, MakesAVerifiableCertificateRequest) {
  const PrivateKey key = Must(Must(TpmKey::Generate(), "generate").SigningKey(), "signing key");
  auto csr = CertificateRequest::Create(key, "tpm node");
  ASSERT_TRUE(csr) << csr.error().message();
  auto parsed = CertificateRequest::FromDer(csr->ToDer());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_TRUE(parsed->VerifySignature());
  EXPECT_EQ(parsed->Key().Fingerprint(), key.Public().Fingerprint());
}

TEST_F(TpmSigningKeyTest, CopiesSignFromSeveralThreads) {
  const PrivateKey key = Must(Must(TpmKey::Generate(), "generate").SigningKey(), "signing key");
  constexpr int kThreads = 3;
  constexpr int kEach = 4;
  std::vector<std::vector<std::string>> signatures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t, copy = key] {
      for (int i = 0; i < kEach; ++i) {
        auto signature = copy.Sign("message " + std::to_string(t));
        signatures[t].push_back(signature ? *signature : "failed: " + signature.error().message());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(signatures[t].size(), static_cast<std::size_t>(kEach));
    for (const std::string& signature : signatures[t]) {
      EXPECT_TRUE(key.Public().Verify("message " + std::to_string(t), signature)) << signature;
    }
  }
}

TEST_F(TpmSigningKeyTest, SigningNeedsTheTpm) {
  testing::TempDir state;
  auto own_tpm = Must(testing::Swtpm::Start(state.path()), "start a second swtpm");
  auto tpm = GenerateIn(*own_tpm);
  ASSERT_TRUE(tpm) << tpm.error().message();
  const PrivateKey key = Must(tpm->SigningKey(), "signing key");
  ASSERT_TRUE(key.Sign("while the TPM runs"));

  own_tpm.reset();  // the TPM goes away; the software half of the key cannot sign alone
  auto signature = key.Sign("after the TPM stopped");
  EXPECT_FALSE(signature);
}

// ---- mutual TLS ----------------------------------------------------------------------------

using SslCtxPtr = std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)>;
using SslPtr = std::unique_ptr<SSL, void (*)(SSL*)>;

struct HandshakeResult {
  bool completed = false;
  std::string protocol;
  std::optional<Certificate> client_seen_by_server;
};

// Runs a client and a server handshake against each other over an in-memory BIO pair.
HandshakeResult Handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  SslPtr server(SSL_new(server_ctx), SSL_free);
  SslPtr client(SSL_new(client_ctx), SSL_free);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  if (!server || !client || BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) return {};
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  auto blocked = [](SSL* ssl, int rc) {
    const int error = SSL_get_error(ssl, rc);
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
  };
  HandshakeResult result;
  for (int step = 0; step < 50; ++step) {
    const int c = SSL_do_handshake(client.get());
    if (c != 1 && !blocked(client.get(), c)) return result;
    const int s = SSL_do_handshake(server.get());
    if (s != 1 && !blocked(server.get(), s)) return result;
    if (c == 1 && s == 1) {
      result.completed = true;
      result.protocol = NegotiatedProtocol(client.get());
      result.client_seen_by_server = PeerCertificate(server.get());
      return result;
    }
  }
  return result;
}

class TpmMutualTlsTest : public TpmSigningKeyTest,
                         public ::testing::WithParamInterface<int /* TLS version */> {
 protected:
  void SetUp() override {
    TpmSigningKeyTest::SetUp();
    if (IsSkipped()) return;
    ca_ = MakeRoot(test::CaOptions("fleet CA"), test::CachedKey(KeyType::kEcdsaP256, 0));
    IssueOptions server_options;
    server_options.common_name = "director";
    server_options.extended_key_usages = {ExtendedKeyUsage::kServerAuth};
    server_options.dns_names = {"localhost"};
    server_ = MakeIssued(*ca_, server_options, test::CachedKey(KeyType::kEcdsaP256, 1));
  }

  // A server that requires a client certificate of the fleet CA.
  SslCtxPtr Server() {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    ServerTlsSettings settings{.identity = {server_->key, {server_->cert}}};
    settings.client_trust.emplace();
    settings.client_trust->AddAnchor(ca_->cert);
    settings.require_client_certificate = true;
    Status configured = ConfigureServerTls(ctx.get(), settings);
    EXPECT_TRUE(configured) << configured.error().message();
    return ctx;
  }

  // A client presenting `identity`, limited to the protocol version under test.
  SslCtxPtr Client(const TlsIdentity& identity) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    ClientTlsSettings settings;
    settings.server_trust.emplace();
    settings.server_trust->AddAnchor(ca_->cert);
    settings.identity = identity;
    Status configured = ConfigureClientTls(ctx.get(), settings);
    EXPECT_TRUE(configured) << configured.error().message();
    SSL_CTX_set_min_proto_version(ctx.get(), GetParam());
    SSL_CTX_set_max_proto_version(ctx.get(), GetParam());
    return ctx;
  }

  Certificate ClientCertificate(const PublicKey& key) {
    IssueOptions options;
    options.common_name = "tpm node";
    options.extended_key_usages = {ExtendedKeyUsage::kClientAuth};
    return Must(IssueCertificate(key, options, &ca_->cert, ca_->key), "issue client cert");
  }

  std::optional<Issued> ca_;
  std::optional<Issued> server_;
};

TEST_P(TpmMutualTlsTest, TheTpmKeyAuthenticatesTheClient) {
  const PrivateKey key = Must(Must(TpmKey::Generate(), "generate").SigningKey(), "signing key");
  const Certificate cert = ClientCertificate(key.Public());
  SslCtxPtr server = Server();
  SslCtxPtr client = Client(TlsIdentity{key, {cert}});
  const HandshakeResult result = Handshake(server.get(), client.get());
  ASSERT_TRUE(result.completed);
  EXPECT_EQ(result.protocol, GetParam() == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
  ASSERT_TRUE(result.client_seen_by_server);
  EXPECT_EQ(result.client_seen_by_server->Fingerprint(), cert.Fingerprint());
}

TEST_P(TpmMutualTlsTest, ACertificateOfAnotherKeyIsRefused) {
  const PrivateKey key = Must(Must(TpmKey::Generate(), "generate").SigningKey(), "signing key");
  const Certificate other = ClientCertificate(test::CachedKey(KeyType::kEcdsaP256, 2).Public());
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  ClientTlsSettings settings;
  settings.identity = TlsIdentity{key, {other}};
  Status configured = ConfigureClientTls(ctx.get(), settings);
  ASSERT_FALSE(configured);
  EXPECT_EQ(configured.error().code(), ErrorCode::kInvalidInput) << configured.error().message();
}

TEST_P(TpmMutualTlsTest, TheHandshakeFailsWithoutTheTpm) {
  testing::TempDir state;
  auto own_tpm = Must(testing::Swtpm::Start(state.path()), "start a second swtpm");
  auto tpm = GenerateIn(*own_tpm);
  ASSERT_TRUE(tpm) << tpm.error().message();
  const PrivateKey key = Must(tpm->SigningKey(), "signing key");
  SslCtxPtr server = Server();
  SslCtxPtr client = Client(TlsIdentity{key, {ClientCertificate(key.Public())}});
  ASSERT_TRUE(Handshake(server.get(), client.get()).completed);

  own_tpm.reset();
  EXPECT_FALSE(Handshake(server.get(), client.get()).completed);
}

INSTANTIATE_TEST_SUITE_P(Versions, TpmMutualTlsTest,
                         ::testing::Values(TLS1_3_VERSION, TLS1_2_VERSION),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == TLS1_3_VERSION ? "Tls13" : "Tls12");
                         });

}  // namespace
}  // namespace fogkeep::crypto
