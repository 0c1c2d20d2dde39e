// The apps' secure-storage sockets end to end: a real HTTP server per node, a listener per app,
// requests over the socket as an app sends them, the app's identity taken from the listener.
#include "node/sss/app_sockets.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "api/node.h"
#include "api/sss.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "net/client.h"
#include "node/sss/file_key_sealer.h"
#include "node/sss/service.h"
#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using fogkeep::testing::Must;
using net::Method;
using net::Response;

constexpr runtime::IdRange kRangeA{.host_base = 300000, .size = 65536};
constexpr runtime::IdRange kRangeB{.host_base = 365536, .size = 65536};

class AppSocketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services_ = Must(OpenStorage({}, dir_.path()), "storage");
    sockets_ = Must(AppSockets::Start(SocketsRoot(dir_.path()), services_), "sockets");
  }

  // A client on app `id`'s socket, as the app inside its container would reach it.
  std::unique_ptr<net::Client> ClientFor(const std::string& id) {
    return Must(net::Client::Unix(sockets_->SocketPath(id)), "client");
  }

  Response Call(net::Client& client, Method method, const std::string& target,
                std::string body = "") {
    return Must(client.Request(method, target, {}, body), target);
  }

  template <typename T>
  T Parse(const Response& response) {
    return Must(api::FromJsonText<T>(response.body), response.body);
  }

  fogkeep::testing::TempDir dir_;
  std::shared_ptr<StorageServices> services_;
  std::unique_ptr<AppSockets> sockets_;
};

TEST_F(AppSocketsTest, PrepareGivesTheAppItsSocketDirectoryAndVariable) {
  EndpointMounts mounts = Must(sockets_->Prepare("app-a", kRangeA), "prepare");
  ASSERT_EQ(mounts.mounts.size(), 1u);
  EXPECT_EQ(mounts.mounts[0].source, SocketsRoot(dir_.path()) + "/app-a");
  EXPECT_EQ(mounts.mounts[0].destination, "/run/fogkeep");
  EXPECT_TRUE(mounts.mounts[0].readonly);
  EXPECT_EQ(mounts.env, std::vector<std::string>{"FOGKEEP_SSS_SOCKET=/run/fogkeep/sss.sock"});
  struct stat st {};
  ASSERT_EQ(::stat(sockets_->SocketPath("app-a").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(::stat(mounts.mounts[0].source.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  // Again (a restart, an upgrade): the same answer, the same listener.
  EXPECT_EQ(Must(sockets_->Prepare("app-a", kRangeA), "again").env, mounts.env);
  EXPECT_FALSE(sockets_->Prepare("../escape", kRangeA));
}

TEST_F(AppSocketsTest, ObjectsRoundTripAsRawBytes) {
  Must(sockets_->Prepare("app-a", kRangeA), "prepare");
  auto client = ClientFor("app-a");
  const std::string bytes("\x00\x01\xff binary\r\n", 12);
  Response put = Call(*client, Method::kPut, "/v1/objects/blob", bytes);
  ASSERT_EQ(put.status, 200) << put.body;
  auto record = Parse<api::SssRecord>(put);
  EXPECT_EQ(record.name, "blob");
  EXPECT_EQ(record.size, bytes.size());
  EXPECT_GT(record.version, 0);

  Response got = Call(*client, Method::kGet, "/v1/objects/blob");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, bytes);
  EXPECT_EQ(got.headers.Get("Content-Type").value_or(""), "application/octet-stream");

  api::SssRecordList list{.kind = "object", .records = {}};
  Must(api::FromJson(Must(api::ParseJson(Call(*client, Method::kGet, "/v1/objects").body), "j"),
                     &list),
       "list");
  ASSERT_EQ(list.records.size(), 1u);
  EXPECT_EQ(list.records[0].name, "blob");

  EXPECT_EQ(Call(*client, Method::kDelete, "/v1/objects/blob").status, 204);
  EXPECT_EQ(Call(*client, Method::kGet, "/v1/objects/blob").status, 404);
  EXPECT_EQ(Call(*client, Method::kDelete, "/v1/objects/blob").status, 404);
}

TEST_F(AppSocketsTest, EachAppSeesOnlyItsOwnStore) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  Must(sockets_->Prepare("app-b", kRangeB), "b");
  auto a = ClientFor("app-a");
  auto b = ClientFor("app-b");
  ASSERT_EQ(Call(*a, Method::kPut, "/v1/objects/secret", "a's").status, 200);
  // Same name through B's socket: B's own (empty) store, never A's record.
  EXPECT_EQ(Call(*b, Method::kGet, "/v1/objects/secret").status, 404);
  EXPECT_EQ(Call(*b, Method::kGet, "/v1/objects").body, R"({"objects":[]})");
  ASSERT_EQ(Call(*b, Method::kPut, "/v1/objects/secret", "b's").status, 200);
  EXPECT_EQ(Call(*a, Method::kGet, "/v1/objects/secret").body, "a's");
  // No route takes an app id: there is nothing in a request to name another app with.
  EXPECT_EQ(Call(*b, Method::kGet, "/v1/apps/app-a/objects/secret").status, 404);
  EXPECT_EQ(Call(*b, Method::kGet, "/api/v1/apps/app-a/sss/objects/secret").status, 404);
}

// Connects to `socket` as host uid `uid` in a child process and sends one request; true when
// an HTTP answer came back.
bool AnsweredForUid(const std::string& socket, uid_t uid) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(3);
    }
    auto client = net::Client::Unix(socket);
    if (!client) ::_exit(2);
    auto response = (*client)->Request(Method::kGet, "/v1/objects");
    ::_exit(response && response->status == 200 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 3) << "could not change uid";
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(AppSocketsTest, OnlyTheAppsOwnUidsAreServed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to take other uids";
  // As fogkeepd keeps its data dir: app uids may pass through, not list.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  // Any uid of A's range (its root, an app user), never B's root or a host user.
  EXPECT_TRUE(AnsweredForUid(sockets_->SocketPath("app-a"), kRangeA.host_base));
  EXPECT_TRUE(AnsweredForUid(sockets_->SocketPath("app-a"), kRangeA.host_base + 1000));
  EXPECT_FALSE(AnsweredForUid(sockets_->SocketPath("app-a"), kRangeB.host_base));
  EXPECT_FALSE(AnsweredForUid(sockets_->SocketPath("app-a"), 1000));
}

TEST_F(AppSocketsTest, KeysSignAndVerifyButNeverLeave) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  auto client = ClientFor("app-a");
  Response made = Call(*client, Method::kPut, "/v1/keys/signer", R"({"algorithm":"ecdsa-p256"})");
  ASSERT_EQ(made.status, 201) << made.body;
  auto key = Parse<api::SssKey>(made);
  EXPECT_EQ(key.algorithm, "ecdsa-p256");
  EXPECT_NE(key.public_key_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(Call(*client, Method::kPut, "/v1/keys/signer", R"({"algorithm":"ed25519"})").status,
            409);

  const std::string message = "meter 17: 42.0 kWh";
  Response signed_ = Call(*client, Method::kPost, "/v1/keys/signer/sign",
                          api::ToJsonText(api::SssSignRequest{crypto::Base64Encode(message)}));
  ASSERT_EQ(signed_.status, 200) << signed_.body;
  const std::string signature =
      Must(crypto::Base64Decode(Parse<api::SssSignature>(signed_).signature), "b64");
  // Anyone with the public key can check it, without the service.
  auto public_key = Must(crypto::PublicKey::FromPem(key.public_key_pem), "public key");
  EXPECT_TRUE(public_key.Verify(message, signature));
  EXPECT_FALSE(public_key.Verify(message + "!", signature));

  auto verify = [&](const std::string& data) {
    Response r = Call(*client, Method::kPost, "/v1/keys/signer/verify",
                      api::ToJsonText(api::SssVerifyRequest{crypto::Base64Encode(data),
                                                            crypto::Base64Encode(signature)}));
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse<api::SssVerification>(r).valid;
  };
  EXPECT_TRUE(verify(message));
  EXPECT_FALSE(verify(message + "!"));

  // Every answer about the key: public material only.
  for (const char* target : {"/v1/keys", "/v1/keys/signer"}) {
    Response r = Call(*client, Method::kGet, target);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("PRIVATE"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Call(*client, Method::kGet, "/v1/keys/signer/private").status, 404);
  // The store refuses key records to the object routes, whatever the name.
  EXPECT_EQ(Call(*client, Method::kGet, "/v1/objects/signer").status, 404);
}

TEST_F(AppSocketsTest, ImportedKeysAndAesEncryptionWithAssociatedData) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  auto client = ClientFor("app-a");
  const std::string pem =
      Must(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEd25519), "key").ToPem(), "pem");
  Response imported =
      Call(*client, Method::kPut, "/v1/keys/imported",
           api::ToJsonText(api::SssKeyRequest{.algorithm = "", .private_key_pem = pem}));
  ASSERT_EQ(imported.status, 201) << imported.body;
  EXPECT_EQ(Parse<api::SssKey>(imported).algorithm, "ed25519");

  ASSERT_EQ(Call(*client, Method::kPut, "/v1/keys/aes", R"({"algorithm":"aes-256"})").status, 201);
  const std::string aad = crypto::Base64Encode("record 7");
  Response sealed =
      Call(*client, Method::kPost, "/v1/keys/aes/encrypt",
           api::ToJsonText(api::SssEncryptRequest{crypto::Base64Encode("s3cret"), aad}));
  ASSERT_EQ(sealed.status, 200) << sealed.body;
  const std::string ciphertext = Parse<api::SssCiphertext>(sealed).ciphertext;
  Response opened = Call(*client, Method::kPost, "/v1/keys/aes/decrypt",
                         api::ToJsonText(api::SssDecryptRequest{ciphertext, aad}));
  ASSERT_EQ(opened.status, 200) << opened.body;
  EXPECT_EQ(Must(crypto::Base64Decode(Parse<api::SssPlaintext>(opened).plaintext), "b64"),
            "s3cret");
  Response wrong_aad =
      Call(*client, Method::kPost, "/v1/keys/aes/decrypt",
           api::ToJsonText(api::SssDecryptRequest{ciphertext, crypto::Base64Encode("record 8")}));
  EXPECT_EQ(wrong_aad.status, 422) << wrong_aad.body;
  // Signing needs a signing key; encrypting needs an AES key.
  EXPECT_EQ(Call(*client, Method::kPost, "/v1/keys/aes/sign", R"({"data":""})").status, 400);
  EXPECT_EQ(Call(*client, Method::kPost, "/v1/keys/imported/encrypt", R"({"plaintext":""})").status,
            400);
}

TEST_F(AppSocketsTest, CertificatesAreParsedOnTheWayIn) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  auto client = ClientFor("app-a");
  auto key = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "key");
  crypto::IssueOptions options;
  options.common_name = "meter-17";
  auto cert = Must(crypto::IssueCertificate(key.Public(), options, nullptr, key), "cert");
  Response put = Call(*client, Method::kPut, "/v1/certificates/device", cert.ToPem());
  ASSERT_EQ(put.status, 200) << put.body;
  auto info = Parse<api::SssCertificate>(put);
  EXPECT_NE(info.subject.find("meter-17"), std::string::npos);
  EXPECT_EQ(info.fingerprint_sha256, cert.Fingerprint());
  EXPECT_TRUE(info.valid_now);
  EXPECT_EQ(Parse<api::SssCertificate>(Call(*client, Method::kGet, "/v1/certificates/device")).pem,
            cert.ToPem());
  // Not a certificate; a certificate with its private key beside it.
  EXPECT_EQ(Call(*client, Method::kPut, "/v1/certificates/bad", "hello").status, 400);
  EXPECT_EQ(
      Call(*client, Method::kPut, "/v1/certificates/bad", cert.ToPem() + Must(key.ToPem(), "pem"))
          .status,
      400);
  EXPECT_EQ(Call(*client, Method::kDelete, "/v1/certificates/device").status, 204);
}

TEST_F(AppSocketsTest, MalformedAndOversizedRequestsGetClearErrors) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  auto client = ClientFor("app-a");
  ASSERT_EQ(Call(*client, Method::kPut, "/v1/keys/k", R"({"algorithm":"ecdsa-p256"})").status, 201);
  struct Case {
    Method method;
    std::string target;
    std::string body;
    int status;
  };
  const std::vector<Case> cases = {
      {Method::kPut, "/v1/keys/x", "not json", 400},
      {Method::kPut, "/v1/keys/x", "[]", 400},
      {Method::kPut, "/v1/keys/x", R"({"algorithm":7})", 400},
      {Method::kPut, "/v1/keys/x", R"({"algorithm":"dsa"})", 400},
      {Method::kPut, "/v1/keys/x", "{}", 400},
      {Method::kPut, "/v1/keys/x", R"({"algorithm":"ed25519","private_key_pem":"x"})", 400},
      {Method::kPut, "/v1/keys/x", R"({"private_key_pem":"-----BEGIN PRIVATE KEY-----"})", 400},
      {Method::kPost, "/v1/keys/k/sign", R"({"data":"***"})", 400},
      {Method::kPost, "/v1/keys/k/verify", R"({"data":"","signature":"%%"})", 400},
      {Method::kPost, "/v1/keys/missing/sign", R"({"data":""})", 404},
      {Method::kPut, "/v1/objects/bad%20name", "x", 400},
      {Method::kPut, "/v1/objects/" + std::string(129, 'n'), "x", 400},
      {Method::kPut, "/v1/objects/big", std::string((1 << 20) + 1, 'x'), 413},
      {Method::kPost, "/v1/objects/x", "", 405},
      {Method::kGet, "/v1/nothing", "", 404},
  };
  for (const Case& c : cases) {
    Response r = Call(*client, c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << net::MethodName(c.method) << " " << c.target.substr(0, 60)
                                  << ": " << r.body;
    if (r.status != 405 && r.status != 413) {
      EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
    }
  }
  // Still serving after all that.
  EXPECT_EQ(Call(*client, Method::kGet, "/v1/keys/k").status, 200);
}

TEST_F(AppSocketsTest, AnOldSocketOfAReinstalledAppReachesNothing) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  auto old_client = ClientFor("app-a");
  ASSERT_EQ(Call(*old_client, Method::kPut, "/v1/objects/x", "first life").status, 200);
  Must(sockets_->Remove("app-a"), "uninstall");
  Must(sockets_->Prepare("app-a", kRangeA), "reinstall");
  // A request of the first app's opening that got through late would be refused by the gate;
  // the new opening is served and starts empty.
  auto stale = services_->gate.Enter("app-a", 1, 0);
  EXPECT_FALSE(stale);
  EXPECT_EQ(Call(*ClientFor("app-a"), Method::kGet, "/v1/objects/x").status, 404);
}

TEST_F(AppSocketsTest, RemoveClosesTheSocketAndShredsTheStore) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  Must(sockets_->Prepare("app-b", kRangeB), "b");
  auto a = ClientFor("app-a");
  ASSERT_EQ(Call(*a, Method::kPut, "/v1/objects/x", "a").status, 200);
  auto b = ClientFor("app-b");
  ASSERT_EQ(Call(*b, Method::kPut, "/v1/objects/x", "b").status, 200);

  Must(sockets_->Remove("app-a"), "remove");
  struct stat st {};
  EXPECT_NE(::stat(sockets_->SocketPath("app-a").c_str(), &st), 0);
  EXPECT_EQ(services_->store->Apps(), std::vector<std::string>{"app-b"});
  // The connection A had open was closed with its listener.
  Result<Response> after = a->Request(Method::kGet, "/v1/objects/x");
  EXPECT_TRUE(!after || after->status != 200);
  Must(sockets_->Remove("app-a"), "again: idempotent");
  // A new app of the same name starts empty.
  Must(sockets_->Prepare("app-a", kRangeA), "a again");
  EXPECT_EQ(Call(*ClientFor("app-a"), Method::kGet, "/v1/objects/x").status, 404);
  EXPECT_EQ(Call(*b, Method::kGet, "/v1/objects/x").body, "b");
}

TEST_F(AppSocketsTest, RetainRemovesStaleSocketsButNeverRecords) {
  Must(sockets_->Prepare("kept", kRangeA), "kept");
  Must(sockets_->Prepare("gone", kRangeB), "gone");
  ASSERT_EQ(Call(*ClientFor("kept"), Method::kPut, "/v1/objects/x", "1").status, 200);
  ASSERT_EQ(Call(*ClientFor("gone"), Method::kPut, "/v1/objects/x", "2").status, 200);
  // fogkeepd restarts and finds "gone" no longer installed (its app database was restored
  // from an older copy, say): its socket directory goes, its keys and records stay.
  sockets_.reset();
  sockets_ = Must(AppSockets::Start(SocketsRoot(dir_.path()), services_), "sockets again");
  Must(sockets_->Retain({"kept"}), "retain");
  struct stat st {};
  EXPECT_NE(::stat((SocketsRoot(dir_.path()) + "/gone").c_str(), &st), 0);
  EXPECT_EQ(services_->store->Apps(), (std::vector<std::string>{"gone", "kept"}));
  Must(sockets_->Prepare("kept", kRangeA), "kept again");
  EXPECT_EQ(Call(*ClientFor("kept"), Method::kGet, "/v1/objects/x").body, "1");
}

TEST_F(AppSocketsTest, RecordsOutliveTheServiceAndTheSocket) {
  Must(sockets_->Prepare("app-a", kRangeA), "a");
  ASSERT_EQ(Call(*ClientFor("app-a"), Method::kPut, "/v1/objects/x", "kept").status, 200);
  // fogkeepd restarts: the store and the sockets are opened again.
  sockets_.reset();
  services_.reset();
  services_ = Must(OpenStorage({}, dir_.path()), "storage again");
  sockets_ = Must(AppSockets::Start(SocketsRoot(dir_.path()), services_), "sockets again");
  Must(sockets_->Prepare("app-a", kRangeA), "a again");
  EXPECT_EQ(Call(*ClientFor("app-a"), Method::kGet, "/v1/objects/x").body, "kept");
}

TEST(StorageSettingsTest, ParsesTheSssSection) {
  auto parse = [](const std::string& text) {
    return ParseStorageSettings(Must(yaml::Parse(text), "yaml"), {});
  };
  auto settings = Must(parse("sealer: tpm\nmax-records: 10\nmax-bytes: 4096\n"), "parse");
  EXPECT_EQ(settings.sealer, "tpm");
  EXPECT_EQ(settings.quotas.max_records, 10u);
  EXPECT_EQ(settings.quotas.max_total_bytes, 4096u);
  EXPECT_FALSE(Must(parse("enabled: false\n"), "off").enabled);
  for (const char* bad :
       {"sealer: hsm\n", "max-records: 0\n", "max-bytes: -1\n", "quota: 1\n", "enabled: yes\n",
        "sealer: [file]\n", "- 1\n", "max-record-bytes: 7340032\n"}) {
    EXPECT_FALSE(parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace fogkeep::node::sss
