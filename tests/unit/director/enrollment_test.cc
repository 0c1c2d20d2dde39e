// Enrollment over a real SQLite store and a real fleet CA, with a clock the tests move: a
// token enrolls one device once; reused, expired, unknown and forged tokens are refused alike;
// a request whose signature fails spends no token; renewal replaces the device's certificate;
// a decommissioned device can neither renew nor enroll again with its old identity.
#include "director/enrollment.h"

#include <gtest/gtest.h>

#include <thread>

#include "crypto/keys.h"
#include "support/support.h"

namespace fogkeep::director {
namespace {

class EnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(dir_ / "fleet.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    auto ca = FleetCa::Create(dir_ / "ca", "test fleet");
    ASSERT_TRUE(ca) << ca.error().message();
    ca_ = std::make_shared<FleetCa>(std::move(*ca));
    enrollment_ =
        std::make_unique<Enrollment>(store_, ca_, EnrollmentOptions{}, [this] { return now_; });
  }

  std::string NewToken(std::int64_t ttl = 600, std::vector<std::string> tags = {"plant-a"}) {
    auto token = enrollment_->CreateToken({.tags = std::move(tags), .ttl_seconds = ttl}, "nina");
    EXPECT_TRUE(token) << token.error().message();
    return token->token;
  }

  crypto::CertificateRequest Csr(const std::string& name = "press-7") {
    key_ = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    return *crypto::CertificateRequest::Create(key_, name);
  }

  fogkeep::testing::TempDir dir_;
  std::int64_t now_ = 1'800'000'000;
  std::shared_ptr<FleetStore> store_;
  std::shared_ptr<FleetCa> ca_;
  std::unique_ptr<Enrollment> enrollment_;
  crypto::PrivateKey key_ = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
};

TEST_F(EnrollmentTest, ATokenEnrollsOneDeviceWithTheTokensTags) {
  const std::string token = NewToken(600, {"line-2", "plant-a"});
  auto issued = enrollment_->Enroll(token, Csr());
  ASSERT_TRUE(issued) << issued.error().message();
  const crypto::Certificate& cert = issued->chain.front();
  EXPECT_EQ(cert.CommonName(), issued->device_id);
  EXPECT_TRUE(cert.HasExtendedKeyUsage(crypto::ExtendedKeyUsage::kClientAuth));
  EXPECT_EQ(*cert.Key().ToPem(), *key_.Public().ToPem());
  const auto device = **store_->FindDevice(issued->device_id);
  EXPECT_EQ(device.name, "press-7");  // the CSR's name is a display name only
  EXPECT_EQ(device.tags, (std::vector<std::string>{"line-2", "plant-a"}));
  EXPECT_EQ(device.cert_fingerprint, cert.Fingerprint());
  const auto tokens = *store_->ListEnrollmentTokens();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].used_by, issued->device_id);
  EXPECT_EQ(tokens[0].secret_hash.size(), 64u);
  EXPECT_EQ(token.find(tokens[0].secret_hash), std::string::npos);
}

TEST_F(EnrollmentTest, ReusedExpiredUnknownAndForgedTokensAreRefusedAlike) {
  const std::string token = NewToken(600);
  ASSERT_TRUE(enrollment_->Enroll(token, Csr()));
  auto reused = enrollment_->Enroll(token, Csr());
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code(), ErrorCode::kUnauthenticated);

  const std::string expiring = NewToken(60);
  now_ += 60;
  auto expired = enrollment_->Enroll(expiring, Csr());
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code(), ErrorCode::kUnauthenticated);

  const std::string fresh = NewToken(600);
  const std::string forged = fresh.substr(0, fresh.find('.') + 1) + "AAAAAAAA";
  for (const std::string& bad : {forged, std::string("0011223344556677.secret"),
                                 std::string("no-dot"), std::string("."), std::string("")}) {
    auto refused = enrollment_->Enroll(bad, Csr());
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated) << bad;
    EXPECT_EQ(refused.error().message(), expired.error().message()) << bad;
  }
  // None of those spent the fresh token.
  EXPECT_TRUE(enrollment_->Enroll(fresh, Csr()));
  EXPECT_EQ(store_->ListDevices({})->size(), 2u);
}

TEST_F(EnrollmentTest, ConcurrentEnrollmentsWithOneTokenEnrollOneDevice) {
  const std::string token = NewToken();
  std::vector<crypto::CertificateRequest> csrs;
  for (int i = 0; i < 8; ++i) csrs.push_back(Csr("n" + std::to_string(i)));
  std::atomic<int> enrolled{0};
  std::vector<std::thread> threads;
  for (const auto& csr : csrs) {
    threads.emplace_back([&, csr] {
      if (enrollment_->Enroll(token, csr)) ++enrolled;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(enrolled.load(), 1);
  EXPECT_EQ(store_->ListDevices({})->size(), 1u);
}

TEST_F(EnrollmentTest, TokenLifetimesAndTagsAreChecked) {
  EXPECT_FALSE(enrollment_->CreateToken({.ttl_seconds = 59}, "nina"));
  EXPECT_FALSE(enrollment_->CreateToken({.ttl_seconds = 31 * 24 * 3600}, "nina"));
  for (const char* tag : {"", "Plant", "-a", "a b", "a/b"}) {
    EXPECT_FALSE(enrollment_->CreateToken({.tags = {tag}}, "nina")) << tag;
  }
  EXPECT_TRUE(store_->ListEnrollmentTokens()->empty());
}

TEST_F(EnrollmentTest, RenewalReplacesTheCertificateAndDecommissioningEndsIt) {
  auto issued = enrollment_->Enroll(NewToken(), Csr());
  ASSERT_TRUE(issued);
  auto renewed = enrollment_->Reenroll(issued->device_id, Csr());
  ASSERT_TRUE(renewed) << renewed.error().message();
  EXPECT_NE(renewed->chain.front().SerialHex(), issued->chain.front().SerialHex());
  const auto device = **store_->FindDevice(issued->device_id);
  EXPECT_EQ(device.cert_fingerprint, renewed->chain.front().Fingerprint());

  ASSERT_TRUE(enrollment_->Decommission(issued->device_id));
  EXPECT_TRUE(*store_->IsRevoked(renewed->chain.front().SerialHex()));
  auto after = enrollment_->Reenroll(issued->device_id, Csr());
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), ErrorCode::kForbidden);
  EXPECT_EQ(enrollment_->Decommission("d-nope").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace fogkeep::director
