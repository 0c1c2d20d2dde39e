#include "director/ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "crypto/tls.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

using crypto::Certificate;
using crypto::CertificateRequest;
using crypto::ExtendedKeyUsage;
using crypto::KeyType;
using crypto::PrivateKey;
using fogkeep::testing::Must;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;

const PrivateKey& NodeKey(KeyType type = KeyType::kEcdsaP256) {
  static auto* keys = new std::map<KeyType, PrivateKey>();
  auto it = keys->find(type);
  if (it == keys->end()) it = keys->emplace(type, Must(PrivateKey::Generate(type))).first;
  return it->second;
}

::testing::AssertionResult Near(system_clock::time_point t, system_clock::time_point expected,
                                seconds tolerance = seconds(60)) {
  auto diff = t > expected ? t - expected : expected - t;
  if (diff <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "off by " << std::chrono::duration_cast<seconds>(diff).count() << " s";
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) std::abort();
  return st.st_mode & 07777;
}

class FleetCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_.emplace(Must(FleetCa::Create(dir_ / "ca", "acme plant 4")));
    trust_.AddAnchor(ca_->certificate());
  }

  testing::TempDir dir_;
  std::optional<FleetCa> ca_;
  crypto::TrustStore trust_;
};

TEST_F(FleetCaTest, CreateMakesAnEcRootAndPrivateFiles) {
  const Certificate& root = ca_->certificate();
  EXPECT_EQ(root.Subject(), "CN=acme plant 4,O=fogkeep");
  EXPECT_EQ(root.Issuer(), root.Subject());
  EXPECT_TRUE(root.IsCa());
  EXPECT_EQ(root.Key().type(), KeyType::kEcdsaP256);
  const auto now = system_clock::now();
  EXPECT_TRUE(Near(root.NotBefore(), now - FleetCa::kBackdate));
  EXPECT_TRUE(Near(root.NotAfter(), now + hours(24 * 3650)));

  EXPECT_EQ(ModeOf(dir_ / "ca/ca.key"), 0600u);
  EXPECT_EQ(ModeOf(dir_ / "ca"), 0700u);
  auto on_disk = Certificate::FromPem(Must(fs::ReadFile(dir_ / "ca/ca.crt")));
  ASSERT_TRUE(on_disk);
  EXPECT_EQ(on_disk->Fingerprint(), root.Fingerprint());
  auto key = PrivateKey::Load(dir_ / "ca/ca.key");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->Public().Fingerprint(), root.Key().Fingerprint());
}

TEST_F(FleetCaTest, CreateNeverReplacesACa) {
  auto again = FleetCa::Create(dir_ / "ca", "other");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_NE(again.error().message().find("ca.key already exists"), std::string::npos)
      << again.error().message();
  // Only the certificate left behind is enough to refuse.
  ASSERT_EQ(::mkdir((dir_ / "half").c_str(), 0700), 0);
  Must(fs::WriteFileAtomic(dir_ / "half/ca.crt", ca_->certificate().ToPem()));
  auto half = FleetCa::Create(dir_ / "half", "other");
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().code(), ErrorCode::kConflict);
  // The loaded CA is unchanged.
  auto loaded = FleetCa::Load(dir_ / "ca");
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->certificate().Fingerprint(), ca_->certificate().Fingerprint());
}

TEST_F(FleetCaTest, CreateRefusesBadFleetNames) {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("a\nb"), std::string_view("x\0y", 3)}) {
    auto r = FleetCa::Create(dir_ / "bad", bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  }
  auto r = FleetCa::Create(dir_ / "bad", std::string(65, 'f'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(FleetCa::Create(dir_ / "long", std::string(64, 'f')));
}

TEST_F(FleetCaTest, LoadReadsTheSameCa) {
  auto loaded = FleetCa::Load(dir_ / "ca");
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->certificate().Fingerprint(), ca_->certificate().Fingerprint());
  // What it issues chains to the created CA.
  auto csr = CertificateRequest::Create(NodeKey(), "hint");
  auto cert = loaded->IssueNodeCertificate(*csr, "dev-1", hours(1));
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_TRUE(trust_.Verify(*cert, {}, ExtendedKeyUsage::kClientAuth));

  auto missing = FleetCa::Load(dir_ / "nowhere");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(FleetCaTest, LoadRefusesAnExposedKeyFile) {
  const std::string key = dir_ / "ca/ca.key";
  for (mode_t mode : {0640, 0604, 0660, 0644, 0700}) {
    ASSERT_EQ(::chmod(key.c_str(), mode), 0);
    auto r = FleetCa::Load(dir_ / "ca");
    if (mode == 0700) {
      // Execute for the owner only: nobody else can read it.
      EXPECT_TRUE(r) << r.error().message();
      continue;
    }
    ASSERT_FALSE(r) << std::oct << mode;
    EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
    EXPECT_NE(r.error().message().find("group or others"), std::string::npos)
        << r.error().message();
  }
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  EXPECT_TRUE(FleetCa::Load(dir_ / "ca"));
}

TEST_F(FleetCaTest, LoadRefusesASymlinkedKey) {
  ASSERT_EQ(::mkdir((dir_ / "linked").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((dir_ / "ca/ca.key").c_str(), (dir_ / "linked/ca.key").c_str()), 0);
  Must(fs::WriteFileAtomic(dir_ / "linked/ca.crt", ca_->certificate().ToPem()));
  auto r = FleetCa::Load(dir_ / "linked");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message().find("symbolic link"), std::string::npos) << r.error().message();

  // Not a regular file either.
  ASSERT_EQ(::mkdir((dir_ / "fifo").c_str(), 0700), 0);
  ASSERT_EQ(::mkfifo((dir_ / "fifo/ca.key").c_str(), 0600), 0);
  Must(fs::WriteFileAtomic(dir_ / "fifo/ca.crt", ca_->certificate().ToPem()));
  r = FleetCa::Load(dir_ / "fifo");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
}

TEST_F(FleetCaTest, LoadRefusesAKeyThatDoesNotMatch) {
  auto other = Must(FleetCa::Create(dir_ / "other", "other fleet"));
  // This CA's key beside the other CA's certificate.
  Must(fs::WriteFileAtomic(dir_ / "other/ca.crt", ca_->certificate().ToPem()));
  auto r = FleetCa::Load(dir_ / "other");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos) << r.error().message();

  // A leaf certificate in place of the CA's.
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  Certificate leaf = Must(other.IssueNodeCertificate(*csr, "dev", hours(1)));
  Must(fs::WriteFileAtomic(dir_ / "other/ca.crt", leaf.ToPem()));
  r = FleetCa::Load(dir_ / "other");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message().find("not a CA"), std::string::npos) << r.error().message();
}

TEST_F(FleetCaTest, NodeCertificateNamesTheDeviceAndIsForClientsOnly) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kRsa, KeyType::kEd25519}) {
    const PrivateKey& key = NodeKey(type);
    // The request's name is a hint the CA does not use.
    auto csr = CertificateRequest::Create(key, "CN=admin, O=evil");
    ASSERT_TRUE(csr) << csr.error().message();
    const auto now = system_clock::now();
    auto cert = ca_->IssueNodeCertificate(*csr, "dev-7f3a", hours(24));
    ASSERT_TRUE(cert) << cert.error().message();
    EXPECT_EQ(cert->CommonName(), "dev-7f3a");
    EXPECT_EQ(cert->Subject(), "CN=dev-7f3a");  // compact: the device id alone
    EXPECT_EQ(cert->Issuer(), ca_->certificate().Subject());
    EXPECT_FALSE(cert->IsCa());
    EXPECT_TRUE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kClientAuth));
    EXPECT_FALSE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kServerAuth));
    EXPECT_FALSE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kCodeSigning));
    EXPECT_EQ(cert->Key().Fingerprint(), key.Public().Fingerprint());
    EXPECT_TRUE(Near(cert->NotBefore(), now - FleetCa::kBackdate));
    EXPECT_LT(cert->NotBefore(), now - minutes(1));
    EXPECT_TRUE(Near(cert->NotAfter(), now + hours(24)));

    auto verified = trust_.Verify(*cert, {}, ExtendedKeyUsage::kClientAuth);
    EXPECT_TRUE(verified) << verified.error().message();
    auto as_server = trust_.Verify(*cert, {}, ExtendedKeyUsage::kServerAuth);
    ASSERT_FALSE(as_server);
    EXPECT_EQ(as_server.error().code(), ErrorCode::kIntegrity);
    EXPECT_FALSE(crypto::CheckCertificateHost(*cert, "dev-7f3a"));
  }
}

TEST_F(FleetCaTest, NodeLifetimeIsCapped) {
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  const auto now = system_clock::now();
  auto cert = ca_->IssueNodeCertificate(*csr, "dev-1", hours(24 * 365));
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_TRUE(Near(cert->NotAfter(), now + FleetCa::kMaxNodeLifetime));
  cert = ca_->IssueNodeCertificate(*csr, "dev-1", seconds::max());
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_TRUE(Near(cert->NotAfter(), now + FleetCa::kMaxNodeLifetime));
  for (seconds bad : {seconds(0), seconds(-5)}) {
    auto r = ca_->IssueNodeCertificate(*csr, "dev-1", bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  }
}

// A short-lived certificate is backdated by a quarter of its lifetime at most, so that a third
// of its notBefore..notAfter is still ahead when it is issued (nodes renew at that point).
TEST_F(FleetCaTest, ShortLifetimesAreBackdatedLess) {
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  const auto now = system_clock::now();
  auto two_minutes = ca_->IssueNodeCertificate(*csr, "dev-1", seconds(120));
  ASSERT_TRUE(two_minutes) << two_minutes.error().message();
  EXPECT_TRUE(Near(two_minutes->NotBefore(), now - seconds(30), seconds(5)));
  EXPECT_TRUE(Near(two_minutes->NotAfter(), now + seconds(120), seconds(5)));
  auto twenty_minutes = ca_->IssueNodeCertificate(*csr, "dev-1", minutes(20));
  ASSERT_TRUE(twenty_minutes) << twenty_minutes.error().message();
  EXPECT_TRUE(Near(twenty_minutes->NotBefore(), now - FleetCa::kBackdate));
}

TEST_F(FleetCaTest, SerialsDiffer) {
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  auto a = ca_->IssueNodeCertificate(*csr, "dev-1", hours(1));
  auto b = ca_->IssueNodeCertificate(*csr, "dev-1", hours(1));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->SerialHex(), b->SerialHex());
}

TEST_F(FleetCaTest, RequestWithoutProofOfPossessionIsRefused) {
  const std::string der = CertificateRequest::Create(NodeKey(), "node-A")->ToDer();
  std::string forged = der;
  forged.back() = static_cast<char>(forged.back() ^ 0x01);
  auto csr = CertificateRequest::FromDer(forged);
  ASSERT_TRUE(csr) << csr.error().message();
  auto r = ca_->IssueNodeCertificate(*csr, "dev-1", hours(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message().find("not signed by its key"), std::string::npos)
      << r.error().message();
}

TEST_F(FleetCaTest, DeviceIdsAreChecked) {
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  EXPECT_TRUE(ca_->IssueNodeCertificate(*csr, std::string(64, 'd'), hours(1)));
  for (const std::string& bad : {std::string(""), std::string("dev 1"), std::string("dev\n1"),
                                 std::string("d\0", 2), std::string(65, 'd')}) {
    auto r = ca_->IssueNodeCertificate(*csr, bad, hours(1));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << bad;
  }
}

TEST_F(FleetCaTest, ServerCertificateVerifiesForItsNames) {
  const PrivateKey& key = NodeKey(KeyType::kEcdsaP256);
  const auto now = system_clock::now();
  auto cert = ca_->IssueServerCertificate(key.Public(), {"director.example", "localhost"},
                                          {"127.0.0.1", "::1"}, hours(24 * 1000));
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_EQ(cert->CommonName(), "director.example");
  EXPECT_TRUE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kServerAuth));
  EXPECT_FALSE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kClientAuth));
  EXPECT_TRUE(Near(cert->NotAfter(), now + FleetCa::kMaxServerLifetime));
  auto verified = trust_.Verify(*cert, {}, ExtendedKeyUsage::kServerAuth);
  EXPECT_TRUE(verified) << verified.error().message();
  EXPECT_FALSE(trust_.Verify(*cert, {}, ExtendedKeyUsage::kClientAuth));
  for (const char* host : {"director.example", "localhost", "127.0.0.1", "::1"}) {
    auto ok = crypto::CheckCertificateHost(*cert, host);
    EXPECT_TRUE(ok) << host << ": " << ok.error().message();
  }
  for (const char* host : {"other.example", "127.0.0.2", "example"}) {
    EXPECT_FALSE(crypto::CheckCertificateHost(*cert, host)) << host;
  }

  auto ip_only = ca_->IssueServerCertificate(key.Public(), {}, {"10.0.0.5"}, hours(1));
  ASSERT_TRUE(ip_only) << ip_only.error().message();
  EXPECT_EQ(ip_only->CommonName(), "10.0.0.5");
  EXPECT_TRUE(crypto::CheckCertificateHost(*ip_only, "10.0.0.5"));

  for (auto r : {ca_->IssueServerCertificate(key.Public(), {}, {}, hours(1)),
                 ca_->IssueServerCertificate(key.Public(), {"bad name"}, {}, hours(1)),
                 ca_->IssueServerCertificate(key.Public(), {}, {"300.1.1.1"}, hours(1)),
                 ca_->IssueServerCertificate(key.Public(), {"ok.example"}, {}, seconds(0))}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << r.error().message();
  }
}

TEST_F(FleetCaTest, RevocationListRevokesNodeCertificates) {
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  Certificate revoked = Must(ca_->IssueNodeCertificate(*csr, "dev-gone", hours(1)));
  Certificate kept = Must(ca_->IssueNodeCertificate(*csr, "dev-kept", hours(1)));
  auto crl = ca_->IssueRevocationList({revoked.SerialHex()});
  ASSERT_TRUE(crl) << crl.error().message();
  EXPECT_EQ(crl->Issuer(), ca_->certificate().Subject());
  EXPECT_TRUE(crl->Lists(revoked));
  EXPECT_FALSE(crl->Lists(kept));

  trust_.AddCrl(*crl);
  auto r = trust_.Verify(revoked, {}, ExtendedKeyUsage::kClientAuth);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("revoked"), std::string::npos) << r.error().message();
  EXPECT_TRUE(trust_.Verify(kept, {}, ExtendedKeyUsage::kClientAuth));

  auto bad = ca_->IssueRevocationList({"not-hex"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(ca_->IssueRevocationList({}));
}

TEST_F(FleetCaTest, OpensslVerifiesIssuedCertificates) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  auto csr = CertificateRequest::Create(NodeKey(), "n");
  Certificate node = Must(ca_->IssueNodeCertificate(*csr, "dev-1", hours(1)));
  Must(fs::WriteFileAtomic(dir_ / "node.pem", node.ToPem()));
  const std::string command = "openssl verify -x509_strict -purpose sslclient -CAfile '" +
                              (dir_ / "ca/ca.crt") + "' '" + (dir_ / "node.pem") + "' > '" +
                              (dir_ / "out") + "' 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << Must(fs::ReadFile(dir_ / "out"));
}

}  // namespace
}  // namespace fogkeep::director
