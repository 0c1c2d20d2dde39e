// DeviceAuthenticator over an in-memory SQLite store: a node is accepted with its current
// certificate only, while enrolled; requests without a certificate go to the people's
// authenticator; and accepted node requests raise last_seen in batches.
#include "director/device_auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "support/support.h"

namespace fogkeep::director {
namespace {

using fogkeep::testing::Must;

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Stands for sessions and API tokens: accepts everyone as "person".
class People : public net::Authenticator {
 public:
  Result<net::Principal> Authenticate(const net::Request& /*request*/) override {
    ++calls;
    return net::Principal{.id = "person", .mechanism = "token", .roles = {"admin"}};
  }
  int calls = 0;
};

class DeviceAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Must(OpenSqliteStore(":memory:"), "open store");
    people_ = std::make_shared<People>();
    auth_ = std::make_unique<DeviceAuthenticator>(store_, people_, [this] { return now_.load(); });
    for (const char* id : {"d-1", "d-2"}) {
      Must(store_->InsertDevice(Device{.id = id,
                                       .cert_serial = "01",
                                       .cert_fingerprint = std::string("fp-") + id,
                                       .enrolled_at = Now() - 600,
                                       .last_seen = Now() - 600}),
           "insert device");
    }
  }

  static net::Request FromNode(const std::string& cn, const std::string& fingerprint) {
    net::Request request;
    request.peer.tls = true;
    request.peer.certificate = net::ClientCertificate{
        .subject = "CN=" + cn + ",O=fogkeep", .common_name = cn, .fingerprint = fingerprint};
    return request;
  }

  std::int64_t LastSeen(const std::string& id) {
    return Must(store_->FindDevice(id), "find")->last_seen;
  }

  std::atomic<std::int64_t> now_{Now()};
  std::shared_ptr<FleetStore> store_;
  std::shared_ptr<People> people_;
  std::unique_ptr<DeviceAuthenticator> auth_;
};

TEST_F(DeviceAuthTest, OnlyTheCurrentCertificateOfAnEnrolledDevicePasses) {
  auto node = auth_->Authenticate(FromNode("d-1", "fp-d-1"));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(node->id, "d-1");
  EXPECT_EQ(node->mechanism, kMechanismMtls);
  EXPECT_TRUE(node->roles.empty());

  for (const auto& [cn, fp] : std::vector<std::pair<std::string, std::string>>{
           {"d-1", "fp-d-2"}, {"d-1", "fp-old"}, {"d-9", "fp-d-9"}, {"", ""}}) {
    auto refused = auth_->Authenticate(FromNode(cn, fp));
    ASSERT_FALSE(refused) << cn << " " << fp;
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
  }
  Must(store_->DecommissionDevice("d-2", {"01"}, Now()), "decommission");
  auto decommissioned = auth_->Authenticate(FromNode("d-2", "fp-d-2"));
  ASSERT_FALSE(decommissioned);
  EXPECT_EQ(decommissioned.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(people_->calls, 0);

  auto person = auth_->Authenticate(net::Request{});
  ASSERT_TRUE(person);
  EXPECT_EQ(person->id, "person");
  EXPECT_EQ(people_->calls, 1);
}

TEST_F(DeviceAuthTest, NodeRequestsRaiseLastSeenInBatches) {
  const std::int64_t before = now_;
  // The first check-in since start is written at once.
  ASSERT_TRUE(auth_->Authenticate(FromNode("d-1", "fp-d-1")));
  EXPECT_GE(LastSeen("d-1"), before);
  // The next, within kLastSeenFlushEvery, waits in memory for a later request.
  ASSERT_TRUE(auth_->Authenticate(FromNode("d-2", "fp-d-2")));
  EXPECT_LT(LastSeen("d-2"), before);
  // A refused request is no check-in.
  ASSERT_FALSE(auth_->Authenticate(FromNode("d-2", "fp-wrong")));
  now_ += DeviceAuthenticator::kLastSeenFlushEvery.count();
  ASSERT_TRUE(auth_->Authenticate(FromNode("d-1", "fp-d-1")));
  EXPECT_EQ(LastSeen("d-2"), before);
  // d-1 was seen kLastSeenFlushEvery ago: not written again before kLastSeenStep.
  EXPECT_EQ(LastSeen("d-1"), before);
}

}  // namespace
}  // namespace fogkeep::director
