#include "node/sss/certificates.h"

#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "crypto/keys.h"
#include "crypto/x509.h"
#include "node/sss/file_key_sealer.h"
#include "sss_test_util.h"
#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using test::Must;

class CertificateServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Must(SecureStore::Open(dir_ / "sss.db", Must(FileKeySealer::Open(dir_ / "k"))));
    certs_ = std::make_unique<CertificateService>(*store_);
  }

  static crypto::Certificate SelfSigned(std::string_view cn, bool expired = false) {
    auto key = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
    crypto::IssueOptions options;
    options.common_name = std::string(cn);
    if (expired) {
      auto now = std::chrono::system_clock::now();
      options.not_before = now - std::chrono::hours(48);
      options.not_after = now - std::chrono::hours(24);
    }
    return Must(crypto::IssueCertificate(key.Public(), options, nullptr, key));
  }

  testing::TempDir dir_;
  std::unique_ptr<SecureStore> store_;
  std::unique_ptr<CertificateService> certs_;
};

TEST_F(CertificateServiceTest, StoresOneCertificateAndDescribesIt) {
  crypto::Certificate cert = SelfSigned("device-ca");
  // Text around the block (as `openssl x509 -text` prints) is not kept.
  CertificateInfo put = Must(certs_->Put("app1", "ca", "Subject: whatever\n" + cert.ToPem()));
  EXPECT_EQ(put.pem, cert.ToPem());
  EXPECT_EQ(put.subject, cert.Subject());
  EXPECT_EQ(put.fingerprint, cert.Fingerprint());
  EXPECT_TRUE(put.valid_now);

  CertificateInfo got = Must(certs_->Get("app1", "ca"));
  EXPECT_EQ(got.pem, cert.ToPem());
  EXPECT_EQ(got.serial_hex, cert.SerialHex());
  auto list = Must(certs_->List("app1"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "ca");
  EXPECT_EQ(list[0].kind, RecordKind::kCertificate);

  ASSERT_TRUE(certs_->Delete("app1", "ca"));
  EXPECT_EQ(certs_->Get("app1", "ca").error().code(), ErrorCode::kNotFound);
}

TEST_F(CertificateServiceTest, ExpiredCertificatesAreStoredAndFlagged) {
  CertificateInfo info = Must(certs_->Put("app1", "old", SelfSigned("old", true).ToPem()));
  EXPECT_FALSE(info.valid_now);
  EXPECT_FALSE(Must(certs_->Get("app1", "old")).valid_now);
}

TEST_F(CertificateServiceTest, RefusesAnythingButOneCertificate) {
  std::string one = SelfSigned("a").ToPem();
  std::string key_pem = Must(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEd25519)).ToPem());
  struct Case {
    std::string pem;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "no PEM certificate"},
           {"not pem", "no PEM certificate"},
           {one + SelfSigned("b").ToPem(), "expected one certificate, found 2"},
           {one + key_pem, "also holds a private key"},
           {one.substr(0, one.size() / 2) + "\n-----END CERTIFICATE-----\n", "malformed PEM"},
       }) {
    auto put = certs_->Put("app1", "c", c.pem);
    ASSERT_FALSE(put) << c.pem;
    EXPECT_EQ(put.error().code(), ErrorCode::kInvalidInput);
    EXPECT_NE(put.error().message().find(c.says), std::string::npos) << put.error().message();
  }
  EXPECT_TRUE(Must(certs_->List("app1")).empty());
}

}  // namespace
}  // namespace fogkeep::node::sss
