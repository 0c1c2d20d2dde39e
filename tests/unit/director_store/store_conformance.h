// The FleetStore contract (director/store.h), run against every back-end: a test file per
// back-end includes this header once and instantiates FleetStoreConformance with a Backend
// that makes an empty database for each test.
//
// Decisions the contract leaves open and this suite pins down, the same for every back-end:
// - Text fields must be valid UTF-8 without NUL bytes: anything else is refused with
//   kInvalidInput (PostgreSQL cannot store NUL in text; truncating silently is never
//   acceptable), and nothing is written. Package bytes are a blob and take any byte.
// - Tags and reported apps are sets: duplicates collapse, lists come back sorted.
// - Strings sort byte-wise ("B" < "a" < "b"), whatever the database's collation.
// - DecommissionDevice also revokes the device's current certificate serial.
// - PutPackage refuses an entry whose size is not the size of its bytes.
// - UpdateDeployment adds a target whose device was not yet part of the deployment.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <latch>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "director/sql_db.h"
#include "director/store.h"

namespace fogkeep::director::conformance {

// A database that one test owns, empty when made.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  // A new FleetStore on this database: a reopen after the previous one is closed, or another
  // replica beside it.
  virtual Result<std::unique_ptr<FleetStore>> Open() = 0;
  // Runs SQL on the database behind the store's back (to tamper with it).
  virtual Status Execute(const std::string& sql) = 0;
  // A new connection to the database, for the stores opened on one directly (OpenFleetStore,
  // OpenOAuthStore in oauth_store_conformance.h).
  virtual Result<std::shared_ptr<SqlDb>> Connect() = 0;
};

struct Backend {
  std::string name;
  std::function<Result<std::unique_ptr<TestDatabase>>()> make_database;
};

inline void PrintTo(const Backend& backend, std::ostream* out) { *out << backend.name; }
inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

// --- assertions

template <typename T>
::testing::AssertionResult Ok(const Result<T>& result) {
  if (result) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << ErrorCodeName(result.error().code()) << ": " << result.error().message();
}

template <typename T>
::testing::AssertionResult FailsWith(const Result<T>& result, ErrorCode code) {
  if (result) {
    return ::testing::AssertionFailure() << "succeeded; expected " << ErrorCodeName(code);
  }
  if (result.error().code() != code) {
    return ::testing::AssertionFailure()
           << "failed with " << ErrorCodeName(result.error().code()) << " ("
           << result.error().message() << "); expected " << ErrorCodeName(code);
  }
  return ::testing::AssertionSuccess();
}

// --- values, and every field of them as text so a mismatch shows what differs

inline std::string Joined(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) out += (out.size() > 1 ? "," : "") + item;
  return out + "]";
}

inline std::string Describe(const EnrollmentToken& t) {
  return "id=" + t.id + " hash=" + t.secret_hash + " tags=" + Joined(t.tags) +
         " by=" + t.created_by + " at=" + std::to_string(t.created_at) +
         " expires=" + std::to_string(t.expires_at) + " used_by=" + t.used_by +
         " used_at=" + std::to_string(t.used_at);
}

inline std::string Describe(const Device& d) {
  return "id=" + d.id + " name=" + d.name + " tags=" + Joined(d.tags) +
         " status=" + std::to_string(static_cast<int>(d.status)) + " serial=" + d.cert_serial +
         " fp=" + d.cert_fingerprint + " not_after=" + std::to_string(d.cert_not_after) +
         " enrolled=" + std::to_string(d.enrolled_at) + " node_version=" + d.agent_version +
         " health=" + d.health + " report=" + d.report_json +
         " report_at=" + std::to_string(d.last_report_at) + " seen=" + std::to_string(d.last_seen);
}

inline std::string Describe(const CatalogEntry& e) {
  return "name=" + e.name + " version=" + e.version + " sha=" + e.sha256 +
         " size=" + std::to_string(e.size) + " signer=" + e.signer +
         " descriptor=" + e.descriptor_json + " by=" + e.uploaded_by +
         " at=" + std::to_string(e.uploaded_at);
}

inline std::string Describe(const FleetPolicy& p) {
  return "tag=" + p.tag + " json=" + p.policy_json + " at=" + std::to_string(p.updated_at) +
         " by=" + p.updated_by;
}

inline std::string Describe(const Deployment& d) {
  return "id=" + d.id + " app=" + d.app_name + " version=" + d.version +
         " previous=" + d.previous_version + " spec=" + d.spec_json + " state=" + d.state +
         " wave=" + std::to_string(d.wave) + " next=" + std::to_string(d.next_wave_at) +
         " reason=" + d.reason + " by=" + d.created_by +
         " created=" + std::to_string(d.created_at) + " updated=" + std::to_string(d.updated_at) +
         " revision=" + std::to_string(d.revision);
}

inline std::string Describe(const DeploymentTarget& t) {
  return t.deployment_id + "/" + t.device_id + " wave=" + std::to_string(t.wave) +
         " state=" + t.state + " detail=" + t.detail + " at=" + std::to_string(t.updated_at);
}

template <typename T>
std::vector<std::string> DescribeAll(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const T& item : items) out.push_back(Describe(item));
  return out;
}

template <typename T, typename F>
std::vector<std::string> Field(const std::vector<T>& items, F field) {
  std::vector<std::string> out;
  for (const T& item : items) out.push_back(std::string(std::invoke(field, item)));
  return out;
}

inline EnrollmentToken Token(const std::string& id, std::int64_t created_at = 100) {
  EnrollmentToken t;
  t.id = id;
  t.secret_hash = std::string(64, 'a');
  t.tags = {"site-b", "line-1"};
  t.created_by = "alice";
  t.created_at = created_at;
  t.expires_at = created_at + 3600;
  return t;
}

inline Device MakeDevice(const std::string& id, std::vector<std::string> tags = {}) {
  Device d;
  d.id = id;
  d.name = "gateway " + id;
  d.tags = std::move(tags);
  d.cert_serial = "0a" + std::to_string(id.size());
  d.cert_fingerprint = std::string(64, 'f');
  d.cert_not_after = 2'000'000'000;
  d.enrolled_at = 1'700'000'000;
  return d;
}

inline CatalogEntry Package(const std::string& name, const std::string& version,
                            const std::string& bytes, std::int64_t uploaded_at = 500) {
  CatalogEntry e;
  e.name = name;
  e.version = version;
  e.sha256 = std::string(64, '0');
  e.size = static_cast<std::int64_t>(bytes.size());
  e.signer = "CN=signer";
  e.descriptor_json = R"({"info":{"name":")" + name + R"("}})";
  e.uploaded_by = "bob";
  e.uploaded_at = uploaded_at;
  return e;
}

inline Deployment MakeDeployment(const std::string& id, std::int64_t created_at = 1000) {
  Deployment d;
  d.id = id;
  d.app_name = "thermo";
  d.version = "2.0.0";
  d.previous_version = "1.0.0";
  d.spec_json = R"({"tags":["site-b"]})";
  d.state = "rolling";
  d.created_by = "carol";
  d.created_at = created_at;
  d.updated_at = created_at;
  return d;
}

inline DeploymentTarget Target(const std::string& device, std::int64_t wave,
                               const std::string& state = "pending") {
  return DeploymentTarget{"", device, wave, state, "", 0};
}

// Runs body(0) .. body(n - 1) on n threads released at the same moment.
inline void RunTogether(int n, const std::function<void(int)>& body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

class FleetStoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto database = GetParam().make_database();
    ASSERT_TRUE(Ok(database));
    database_ = std::move(*database);
    auto store = database_->Open();
    ASSERT_TRUE(Ok(store));
    store_ = std::move(*store);
  }

  // Another store on the same database (a second replica).
  std::unique_ptr<FleetStore> Replica() {
    auto store = database_->Open();
    EXPECT_TRUE(Ok(store));
    return store ? std::move(*store) : nullptr;
  }

  // Closes the store and opens the database again.
  void Reopen() {
    store_.reset();
    auto store = database_->Open();
    ASSERT_TRUE(Ok(store));
    store_ = std::move(*store);
  }

  std::int64_t Generation() {
    auto generation = store_->Generation();
    EXPECT_TRUE(Ok(generation));
    return generation.value_or(-1);
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<FleetStore> store_;  // closed before its database goes
};

// --- enrollment tokens

TEST_P(FleetStoreConformance, TokenIsConsumedOnce) {
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(Token("t1"))));
  auto consumed = store_->ConsumeEnrollmentToken("t1", std::string(64, 'a'), "dev-1", 200);
  ASSERT_TRUE(Ok(consumed));
  EXPECT_EQ(consumed->id, "t1");
  EXPECT_EQ(consumed->used_by, "dev-1");
  EXPECT_EQ(consumed->used_at, 200);
  EXPECT_EQ(consumed->tags, (std::vector<std::string>{"line-1", "site-b"}));
  EXPECT_EQ(consumed->created_by, "alice");
  EXPECT_EQ(consumed->expires_at, 3700);

  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken("t1", std::string(64, 'a'), "dev-2", 201),
                        ErrorCode::kUnauthenticated));
  auto listed = store_->ListEnrollmentTokens();
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(Describe((*listed)[0]), Describe(*consumed));
}

TEST_P(FleetStoreConformance, TokenRefusalsAllLookTheSame) {
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(Token("t1"))));  // expires at 3700
  const std::string hash(64, 'a');
  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken("t1", std::string(64, 'b'), "d", 200),
                        ErrorCode::kUnauthenticated));
  EXPECT_TRUE(
      FailsWith(store_->ConsumeEnrollmentToken("t2", hash, "d", 200), ErrorCode::kUnauthenticated));
  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken("t1", hash, "d", 3700),
                        ErrorCode::kUnauthenticated));  // expiry is exclusive
  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken("t1", hash, "d", 9999),
                        ErrorCode::kUnauthenticated));
  EXPECT_TRUE(
      FailsWith(store_->ConsumeEnrollmentToken("t1", "", "d", 200), ErrorCode::kUnauthenticated));
  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken(std::string("t1\0x", 4), hash, "d", 200),
                        ErrorCode::kUnauthenticated));
  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken("t1' OR '1'='1", hash, "d", 200),
                        ErrorCode::kUnauthenticated));
  // An empty device id would leave the token looking unused.
  EXPECT_TRUE(
      FailsWith(store_->ConsumeEnrollmentToken("t1", hash, "", 200), ErrorCode::kInvalidInput));
  // None of the refusals used it up.
  EXPECT_TRUE(Ok(store_->ConsumeEnrollmentToken("t1", hash, "d", 3699)));
}

TEST_P(FleetStoreConformance, ConcurrentConsumersOfOneTokenHaveOneWinner) {
  auto replica = Replica();
  ASSERT_TRUE(replica);
  FleetStore* stores[] = {store_.get(), replica.get()};
  for (int round = 0; round < 5; ++round) {
    const std::string id = "t" + std::to_string(round);
    ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(Token(id))));
    std::atomic<int> winners{0};
    std::atomic<int> refused{0};
    std::vector<std::string> unexpected(8);
    RunTogether(8, [&](int i) {
      auto r = stores[i % 2]->ConsumeEnrollmentToken(id, std::string(64, 'a'),
                                                     "dev-" + std::to_string(i), 200);
      if (r) {
        ++winners;
      } else if (r.error().code() == ErrorCode::kUnauthenticated) {
        ++refused;
      } else {
        unexpected[i] = r.error().message();
      }
    });
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(refused.load(), 7) << "round " << round;
    for (const std::string& message : unexpected) EXPECT_EQ(message, "");
  }
}

TEST_P(FleetStoreConformance, TokensListInCreationOrderAndDelete) {
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(Token("b", 300))));
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(Token("c", 100))));
  auto untagged = Token("a", 300);
  untagged.tags = {};
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(untagged)));
  EXPECT_TRUE(FailsWith(store_->CreateEnrollmentToken(Token("a", 1)), ErrorCode::kConflict));
  auto listed = store_->ListEnrollmentTokens();
  ASSERT_TRUE(Ok(listed));
  EXPECT_EQ(Field(*listed, &EnrollmentToken::id), (std::vector<std::string>{"c", "a", "b"}));
  EXPECT_TRUE((*listed)[1].tags.empty());
  EXPECT_EQ((*listed)[0].tags, (std::vector<std::string>{"line-1", "site-b"}));
  EXPECT_EQ((*listed)[1].created_at, 300);  // the refused duplicate changed nothing

  ASSERT_TRUE(Ok(store_->DeleteEnrollmentToken("a")));
  EXPECT_TRUE(Ok(store_->DeleteEnrollmentToken("a")));  // missing is fine
  EXPECT_TRUE(FailsWith(store_->ConsumeEnrollmentToken("a", std::string(64, 'a'), "d", 200),
                        ErrorCode::kUnauthenticated));
  listed = store_->ListEnrollmentTokens();
  ASSERT_TRUE(Ok(listed));
  EXPECT_EQ(Field(*listed, &EnrollmentToken::id), (std::vector<std::string>{"c", "b"}));
  // A token made again under a deleted id starts without the old tags.
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(untagged)));
  auto consumed = store_->ConsumeEnrollmentToken("a", std::string(64, 'a'), "d", 301);
  ASSERT_TRUE(Ok(consumed));
  EXPECT_TRUE(consumed->tags.empty());
}

// --- devices

TEST_P(FleetStoreConformance, DevicesRoundTrip) {
  Device d = MakeDevice("dev-1", {"site-b", "line-1", "site-b"});
  d.agent_version = "0.1.0";
  d.health = "ok";
  d.report_json = R"({"apps":[{"name":"thermo","state":"RUNNING"}]})";
  d.last_report_at = 1'700'000'100;
  d.last_seen = 1'700'000'200;
  ASSERT_TRUE(Ok(store_->InsertDevice(d)));
  auto found = store_->FindDevice("dev-1");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->has_value());
  d.tags = {"line-1", "site-b"};  // sorted, unique
  EXPECT_EQ(Describe(**found), Describe(d));

  auto missing = store_->FindDevice("dev-2");
  ASSERT_TRUE(Ok(missing));
  EXPECT_FALSE(missing->has_value());
  Device again = MakeDevice("dev-1");
  again.name = "another";
  EXPECT_TRUE(FailsWith(store_->InsertDevice(again), ErrorCode::kConflict));
  EXPECT_EQ((*store_->FindDevice("dev-1"))->name, d.name);
}

TEST_P(FleetStoreConformance, DeviceUpdates) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1", {"a"}))));
  ASSERT_TRUE(Ok(store_->UpdateDeviceCertificate("dev-1", "0b", std::string(64, 'e'), 42)));
  ASSERT_TRUE(Ok(store_->SetDeviceName("dev-1", "press 7")));
  ASSERT_TRUE(Ok(store_->SetDeviceTags("dev-1", {"z", "b", "z"})));
  DeviceReport report{"0.2.0", "degraded", R"({"alerts":1})", {"thermo", "logger"}, 777};
  ASSERT_TRUE(Ok(store_->RecordReport("dev-1", report)));
  auto found = store_->FindDevice("dev-1");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->has_value());
  const Device& d = **found;
  EXPECT_EQ(d.cert_serial, "0b");
  EXPECT_EQ(d.cert_fingerprint, std::string(64, 'e'));
  EXPECT_EQ(d.cert_not_after, 42);
  EXPECT_EQ(d.name, "press 7");
  EXPECT_EQ(d.tags, (std::vector<std::string>{"b", "z"}));
  EXPECT_EQ(d.agent_version, "0.2.0");
  EXPECT_EQ(d.health, "degraded");
  EXPECT_EQ(d.report_json, R"({"alerts":1})");
  EXPECT_EQ(d.last_report_at, 777);
  EXPECT_EQ(d.enrolled_at, 1'700'000'000);
  ASSERT_TRUE(Ok(store_->SetDeviceTags("dev-1", {})));
  EXPECT_TRUE((*store_->FindDevice("dev-1"))->tags.empty());

  EXPECT_TRUE(
      FailsWith(store_->UpdateDeviceCertificate("ghost", "0c", "", 1), ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store_->SetDeviceName("ghost", "x"), ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store_->SetDeviceTags("ghost", {"a"}), ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store_->RecordReport("ghost", report), ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store_->DecommissionDevice("ghost", {"01"}, 5), ErrorCode::kNotFound));
  auto revoked = store_->IsRevoked("01");
  ASSERT_TRUE(Ok(revoked));
  EXPECT_FALSE(*revoked);
}

// The credential is what FindDevice says of status, certificate and last_seen, after every
// change to them.
TEST_P(FleetStoreConformance, DeviceCredentialFollowsTheDevice) {
  const auto credential = [&](const std::string& id) {
    auto found = store_->FindDeviceCredential(id);
    EXPECT_TRUE(Ok(found));
    return found ? *found : std::nullopt;
  };
  EXPECT_FALSE(credential("dev-1").has_value());
  Device d = MakeDevice("dev-1");
  d.last_seen = 1'700'000'200;
  ASSERT_TRUE(Ok(store_->InsertDevice(d)));
  std::optional<DeviceCredential> c = credential("dev-1");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, DeviceStatus::kEnrolled);
  EXPECT_EQ(c->cert_fingerprint, d.cert_fingerprint);
  EXPECT_EQ(c->last_seen, 1'700'000'200);

  ASSERT_TRUE(Ok(store_->UpdateDeviceCertificate("dev-1", "0b", std::string(64, 'e'), 42)));
  ASSERT_TRUE(Ok(store_->TouchDevices({{"dev-1", 1'700'000'300}})));
  c = credential("dev-1");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->cert_fingerprint, std::string(64, 'e'));
  EXPECT_EQ(c->last_seen, 1'700'000'300);

  ASSERT_TRUE(Ok(store_->DecommissionDevice("dev-1", {"0b"}, 5)));
  c = credential("dev-1");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, DeviceStatus::kDecommissioned);
  EXPECT_FALSE(credential("dev-2").has_value());
  // Text parameters are checked as in a transaction.
  EXPECT_TRUE(
      FailsWith(store_->FindDeviceCredential(std::string("a\0b", 3)), ErrorCode::kInvalidInput));
}

TEST_P(FleetStoreConformance, ListDevicesFilters) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("b", {"site-b", "line-1"}))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("a", {"site-a"}))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("B", {"site-b"}))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("c"))));
  ASSERT_TRUE(Ok(store_->RecordReport("b", DeviceReport{"", "ok", "{}", {"thermo"}, 1})));
  ASSERT_TRUE(Ok(store_->RecordReport("a", DeviceReport{"", "ok", "{}", {"thermo", "log"}, 1})));
  ASSERT_TRUE(Ok(store_->RecordReport("c", DeviceReport{"", "ok", "{}", {"log"}, 1})));
  ASSERT_TRUE(Ok(store_->DecommissionDevice("a", {}, 9)));

  const auto ids = [&](const DeviceFilter& filter) {
    auto listed = store_->ListDevices(filter);
    EXPECT_TRUE(Ok(listed));
    return listed ? Field(*listed, &Device::id) : std::vector<std::string>{"error"};
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids({}), (Ids{"B", "a", "b", "c"}));  // byte order
  EXPECT_EQ(ids({.tag = "site-b"}), (Ids{"B", "b"}));
  EXPECT_EQ(ids({.tag = "site"}), Ids{});  // whole tags only
  EXPECT_EQ(ids({.status = DeviceStatus::kDecommissioned}), (Ids{"a"}));
  EXPECT_EQ(ids({.status = DeviceStatus::kEnrolled}), (Ids{"B", "b", "c"}));
  EXPECT_EQ(ids({.app = "thermo"}), (Ids{"a", "b"}));
  EXPECT_EQ(ids({.tag = "site-b", .app = "thermo"}), (Ids{"b"}));
  EXPECT_EQ(ids({.tag = "site-a", .status = DeviceStatus::kEnrolled}), Ids{});
  EXPECT_EQ(ids({.tag = "site-a", .status = DeviceStatus::kDecommissioned, .app = "log"}),
            (Ids{"a"}));

  // The listed devices carry all their tags, not only the one filtered on.
  auto listed = store_->ListDevices({.tag = "line-1"});
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].tags, (Ids{"line-1", "site-b"}));
  EXPECT_EQ((*listed)[0].status, DeviceStatus::kEnrolled);

  // A new report replaces the apps the device is found by.
  ASSERT_TRUE(Ok(store_->RecordReport("b", DeviceReport{"", "ok", "{}", {"log"}, 2})));
  EXPECT_EQ(ids({.app = "thermo"}), (Ids{"a"}));
  EXPECT_EQ(ids({.app = "log"}), (Ids{"a", "b", "c"}));
}

TEST_P(FleetStoreConformance, TouchDevicesNeverLowersLastSeen) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("a"))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("b"))));
  ASSERT_TRUE(Ok(store_->TouchDevices({{"a", 100}, {"b", 50}, {"ghost", 70}})));
  ASSERT_TRUE(Ok(store_->TouchDevices({{"a", 90}, {"b", 60}, {"b", 55}})));
  ASSERT_TRUE(Ok(store_->TouchDevices({})));
  EXPECT_EQ((*store_->FindDevice("a"))->last_seen, 100);
  EXPECT_EQ((*store_->FindDevice("b"))->last_seen, 60);
  auto ghost = store_->FindDevice("ghost");
  ASSERT_TRUE(Ok(ghost));
  EXPECT_FALSE(ghost->has_value());
}

TEST_P(FleetStoreConformance, DecommissionRevokesEveryCertificate) {
  Device d = MakeDevice("dev-1");
  d.cert_serial = "0c";
  ASSERT_TRUE(Ok(store_->InsertDevice(d)));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-2"))));
  ASSERT_TRUE(Ok(store_->DecommissionDevice("dev-1", {"0b", "0a"}, 500)));
  EXPECT_EQ((*store_->FindDevice("dev-1"))->status, DeviceStatus::kDecommissioned);
  EXPECT_EQ((*store_->FindDevice("dev-2"))->status, DeviceStatus::kEnrolled);
  for (const char* serial : {"0a", "0b", "0c"}) {
    auto revoked = store_->IsRevoked(serial);
    ASSERT_TRUE(Ok(revoked));
    EXPECT_TRUE(*revoked) << serial;
  }
  auto kept = store_->IsRevoked("0d");
  ASSERT_TRUE(Ok(kept));
  EXPECT_FALSE(*kept);

  // A serial revoked again keeps its first time; the list is ordered by time, then serial.
  Device other = MakeDevice("dev-3");
  other.cert_serial = "01";
  ASSERT_TRUE(Ok(store_->InsertDevice(other)));
  ASSERT_TRUE(Ok(store_->DecommissionDevice("dev-3", {"0a", "ff"}, 400)));
  auto listed = store_->ListRevoked();
  ASSERT_TRUE(Ok(listed));
  using Revoked = std::vector<std::pair<std::string, std::int64_t>>;
  EXPECT_EQ(*listed, (Revoked{{"01", 400}, {"ff", 400}, {"0a", 500}, {"0b", 500}, {"0c", 500}}));
  // Decommissioning twice is harmless.
  EXPECT_TRUE(Ok(store_->DecommissionDevice("dev-1", {}, 600)));
  EXPECT_EQ(store_->ListRevoked()->size(), 5u);
}

// --- catalog

TEST_P(FleetStoreConformance, CatalogKeepsEveryByte) {
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  every_byte += std::string("\0\0\xff\xff\0", 5);
  std::string large(5 << 20, '\0');
  std::mt19937 random(7);
  for (char& c : large) c = static_cast<char>(random());
  const std::string empty;

  ASSERT_TRUE(Ok(store_->PutPackage(Package("bytes", "1.0.0", every_byte), every_byte)));
  ASSERT_TRUE(Ok(store_->PutPackage(Package("large", "1.0.0", large), large)));
  ASSERT_TRUE(Ok(store_->PutPackage(Package("empty", "1.0.0", empty), empty)));
  auto read = store_->ReadPackage("bytes", "1.0.0");
  ASSERT_TRUE(Ok(read));
  EXPECT_TRUE(*read == every_byte);
  read = store_->ReadPackage("large", "1.0.0");
  ASSERT_TRUE(Ok(read));
  EXPECT_EQ(read->size(), large.size());
  EXPECT_TRUE(*read == large);
  read = store_->ReadPackage("empty", "1.0.0");
  ASSERT_TRUE(Ok(read));
  EXPECT_TRUE(read->empty());

  auto found = store_->FindPackage("large", "1.0.0");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(Describe(**found), Describe(Package("large", "1.0.0", large)));
  EXPECT_FALSE(store_->FindPackage("large", "2.0.0")->has_value());
  EXPECT_TRUE(FailsWith(store_->ReadPackage("large", "2.0.0"), ErrorCode::kNotFound));
}

TEST_P(FleetStoreConformance, CatalogPutListDelete) {
  ASSERT_TRUE(Ok(store_->PutPackage(Package("thermo", "2.0.0", "v2", 700), "v2")));
  ASSERT_TRUE(Ok(store_->PutPackage(Package("thermo", "1.0.0", "v1", 600), "v1")));
  ASSERT_TRUE(Ok(store_->PutPackage(Package("logger", "9.0.0", "l9", 900), "l9")));
  EXPECT_TRUE(FailsWith(store_->PutPackage(Package("thermo", "1.0.0", "xx", 1), "xx"),
                        ErrorCode::kConflict));
  EXPECT_EQ(*store_->ReadPackage("thermo", "1.0.0"), "v1");
  EXPECT_TRUE(FailsWith(store_->PutPackage(Package("sized", "1.0.0", "abc"), "abcd"),
                        ErrorCode::kInvalidInput));
  EXPECT_FALSE(store_->FindPackage("sized", "1.0.0")->has_value());

  auto listed = store_->ListPackages();
  ASSERT_TRUE(Ok(listed));
  EXPECT_EQ(DescribeAll(*listed),
            (std::vector<std::string>{Describe(Package("logger", "9.0.0", "l9", 900)),
                                      Describe(Package("thermo", "1.0.0", "v1", 600)),
                                      Describe(Package("thermo", "2.0.0", "v2", 700))}));

  ASSERT_TRUE(Ok(store_->DeletePackage("thermo", "1.0.0")));
  EXPECT_TRUE(FailsWith(store_->DeletePackage("thermo", "1.0.0"), ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store_->ReadPackage("thermo", "1.0.0"), ErrorCode::kNotFound));
  EXPECT_EQ(store_->ListPackages()->size(), 2u);
  // A deleted version may be uploaded again.
  EXPECT_TRUE(Ok(store_->PutPackage(Package("thermo", "1.0.0", "v1b", 800), "v1b")));
  EXPECT_EQ(*store_->ReadPackage("thermo", "1.0.0"), "v1b");
}

// --- policies

TEST_P(FleetStoreConformance, PoliciesUpsertListDelete) {
  ASSERT_TRUE(Ok(store_->PutPolicy({"site-b", R"({"require_signed":true})", 10, "alice"})));
  ASSERT_TRUE(Ok(store_->PutPolicy({"*", R"({"allow_downgrade":false})", 11, "alice"})));
  ASSERT_TRUE(Ok(store_->PutPolicy({"site-b", R"({"require_signed":false})", 12, "bob"})));
  auto listed = store_->ListPolicies();
  ASSERT_TRUE(Ok(listed));
  EXPECT_EQ(DescribeAll(*listed),
            (std::vector<std::string>{
                Describe(FleetPolicy{"*", R"({"allow_downgrade":false})", 11, "alice"}),
                Describe(FleetPolicy{"site-b", R"({"require_signed":false})", 12, "bob"})}));
  ASSERT_TRUE(Ok(store_->DeletePolicy("*")));
  EXPECT_TRUE(FailsWith(store_->DeletePolicy("*"), ErrorCode::kNotFound));
  EXPECT_EQ(Field(*store_->ListPolicies(), &FleetPolicy::tag),
            (std::vector<std::string>{"site-b"}));
}

// --- deployments

TEST_P(FleetStoreConformance, DeploymentsCreateFindList) {
  Deployment second = MakeDeployment("dep-b", 2000);
  second.revision = 17;  // ignored: a new deployment starts at revision 1
  ASSERT_TRUE(Ok(store_->CreateDeployment(
      second, {Target("dev-2", 1), Target("dev-1", 1), Target("dev-3", 0)})));
  ASSERT_TRUE(Ok(store_->CreateDeployment(MakeDeployment("dep-a", 3000), {Target("dev-1", 0)})));
  ASSERT_TRUE(Ok(store_->CreateDeployment(MakeDeployment("dep-c", 1000), {Target("dev-1", 2)})));
  EXPECT_TRUE(
      FailsWith(store_->CreateDeployment(MakeDeployment("dep-a", 1), {}), ErrorCode::kConflict));
  EXPECT_TRUE(FailsWith(
      store_->CreateDeployment(MakeDeployment("dep-d"), {Target("dev-1", 0), Target("dev-1", 1)}),
      ErrorCode::kInvalidInput));
  EXPECT_FALSE(store_->FindDeployment("dep-d")->has_value());

  auto found = store_->FindDeployment("dep-b");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->has_value());
  second.revision = 1;
  EXPECT_EQ(Describe(**found), Describe(second));
  EXPECT_FALSE(store_->FindDeployment("dep-z")->has_value());

  auto listed = store_->ListDeployments();
  ASSERT_TRUE(Ok(listed));
  EXPECT_EQ(Field(*listed, &Deployment::id), (std::vector<std::string>{"dep-c", "dep-b", "dep-a"}));

  auto targets = store_->ListTargets("dep-b");
  ASSERT_TRUE(Ok(targets));
  EXPECT_EQ(DescribeAll(*targets),
            (std::vector<std::string>{"dep-b/dev-3 wave=0 state=pending detail= at=0",
                                      "dep-b/dev-1 wave=1 state=pending detail= at=0",
                                      "dep-b/dev-2 wave=1 state=pending detail= at=0"}));
  EXPECT_TRUE(store_->ListTargets("dep-z")->empty());

  auto of_device = store_->TargetsOfDevice("dev-1");
  ASSERT_TRUE(Ok(of_device));
  EXPECT_EQ(Field(*of_device, &DeploymentTarget::deployment_id),
            (std::vector<std::string>{"dep-c", "dep-b", "dep-a"}));
  EXPECT_TRUE(store_->TargetsOfDevice("dev-9")->empty());
}

TEST_P(FleetStoreConformance, UpdateDeploymentChecksTheRevision) {
  Deployment d = MakeDeployment("dep");
  ASSERT_TRUE(Ok(store_->CreateDeployment(d, {Target("dev-1", 0), Target("dev-2", 1)})));
  Deployment read = **store_->FindDeployment("dep");
  ASSERT_EQ(read.revision, 1);

  Deployment next = read;
  next.state = "halted";
  next.wave = 1;
  next.next_wave_at = 5000;
  next.reason = "dev-1 failed";
  next.updated_at = 4000;
  next.spec_json = R"({"tags":["site-c"]})";
  next.created_by = "mallory";  // created_* are never rewritten
  next.created_at = 1;
  ASSERT_TRUE(Ok(store_->UpdateDeployment(
      next, {DeploymentTarget{"dep", "dev-1", 0, "failed", "exit 3", 3999}, Target("dev-3", 1)})));
  Deployment stored = **store_->FindDeployment("dep");
  next.revision = 2;
  next.created_by = read.created_by;
  next.created_at = read.created_at;
  EXPECT_EQ(Describe(stored), Describe(next));
  EXPECT_EQ(DescribeAll(*store_->ListTargets("dep")),
            (std::vector<std::string>{"dep/dev-1 wave=0 state=failed detail=exit 3 at=3999",
                                      "dep/dev-2 wave=1 state=pending detail= at=0",
                                      "dep/dev-3 wave=1 state=pending detail= at=0"}));

  // A writer holding revision 1 lost the race: nothing of its write lands.
  Deployment stale = read;
  stale.state = "cancelled";
  EXPECT_TRUE(FailsWith(store_->UpdateDeployment(stale, {Target("dev-2", 0, "removed")}),
                        ErrorCode::kConflict));
  EXPECT_EQ((*store_->FindDeployment("dep"))->state, "halted");
  EXPECT_EQ((*store_->ListTargets("dep"))[1].state, "pending");

  Deployment ghost = MakeDeployment("ghost");
  ghost.revision = 1;
  EXPECT_TRUE(FailsWith(store_->UpdateDeployment(ghost, {}), ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(
      store_->UpdateDeployment(stored, {DeploymentTarget{"other", "dev-1", 0, "pending", "", 0}}),
      ErrorCode::kInvalidInput));
}

TEST_P(FleetStoreConformance, ConcurrentUpdatersOneWinsPerRevision) {
  ASSERT_TRUE(Ok(store_->CreateDeployment(MakeDeployment("dep"), {Target("dev-1", 0)})));
  auto replica = Replica();
  ASSERT_TRUE(replica);
  FleetStore* stores[] = {store_.get(), replica.get()};
  constexpr int kRounds = 5;
  for (int round = 1; round <= kRounds; ++round) {
    std::atomic<int> winners{0};
    std::atomic<int> conflicts{0};
    std::vector<std::string> unexpected(8);
    RunTogether(8, [&](int i) {
      Deployment d = MakeDeployment("dep");
      d.revision = round;  // what every writer read
      d.state = "writer-" + std::to_string(i);
      auto r = stores[i % 2]->UpdateDeployment(
          d, {DeploymentTarget{"", "dev-1", 0, d.state, "", round}});
      if (r) {
        ++winners;
      } else if (r.error().code() == ErrorCode::kConflict) {
        ++conflicts;
      } else {
        unexpected[i] = r.error().message();
      }
    });
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), 7) << "round " << round;
    for (const std::string& message : unexpected) EXPECT_EQ(message, "");
    // The winner's deployment row and its target were written together.
    auto stored = store_->FindDeployment("dep");
    ASSERT_TRUE(Ok(stored));
    EXPECT_EQ((*stored)->revision, round + 1);
    EXPECT_EQ((*store_->ListTargets("dep"))[0].state, (*stored)->state);
  }
}

TEST_P(FleetStoreConformance, SetTargetState) {
  ASSERT_TRUE(Ok(store_->CreateDeployment(MakeDeployment("dep"), {Target("dev-1", 0)})));
  ASSERT_TRUE(Ok(store_->SetTargetState("dep", "dev-1", "running", "started", 50)));
  EXPECT_EQ(Describe((*store_->ListTargets("dep"))[0]),
            "dep/dev-1 wave=0 state=running detail=started at=50");
  const std::int64_t generation = Generation();
  // Already in that state: nothing changes, not even the detail.
  ASSERT_TRUE(Ok(store_->SetTargetState("dep", "dev-1", "running", "still", 60)));
  EXPECT_EQ(Describe((*store_->ListTargets("dep"))[0]),
            "dep/dev-1 wave=0 state=running detail=started at=50");
  EXPECT_EQ(Generation(), generation);
  EXPECT_TRUE(
      FailsWith(store_->SetTargetState("dep", "dev-2", "running", "", 1), ErrorCode::kNotFound));
  EXPECT_TRUE(
      FailsWith(store_->SetTargetState("ghost", "dev-1", "running", "", 1), ErrorCode::kNotFound));
}

// --- leases

TEST_P(FleetStoreConformance, LeasesAreTakenRenewedAndExpire) {
  const auto acquire = [&](const std::string& holder, std::int64_t now, std::int64_t ttl = 30) {
    auto held = store_->AcquireLease("rollout", holder, now, ttl);
    EXPECT_TRUE(Ok(held));
    return held.value_or(false);
  };
  EXPECT_TRUE(acquire("r1", 100));   // free: held until 130
  EXPECT_FALSE(acquire("r2", 110));  // held by r1
  EXPECT_TRUE(acquire("r1", 120));   // renewed until 150
  EXPECT_FALSE(acquire("r2", 149));  // the renewal counts
  EXPECT_TRUE(acquire("r2", 150));   // expired at 150
  EXPECT_FALSE(acquire("r1", 151));
  auto other = store_->AcquireLease("cleanup", "r1", 151, 30);  // leases are independent
  ASSERT_TRUE(Ok(other));
  EXPECT_TRUE(*other);
  EXPECT_TRUE(FailsWith(store_->AcquireLease("rollout", "r1", 200, 0), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->AcquireLease("rollout", "", 200, 5), ErrorCode::kInvalidInput));
}

TEST_P(FleetStoreConformance, ConcurrentLeaseTakersHaveOneWinner) {
  auto replica = Replica();
  ASSERT_TRUE(replica);
  FleetStore* stores[] = {store_.get(), replica.get()};
  for (int round = 0; round < 5; ++round) {
    const std::string name = "lease-" + std::to_string(round);
    std::atomic<int> holders{0};
    std::vector<std::string> errors(8);
    RunTogether(8, [&](int i) {
      auto held = stores[i % 2]->AcquireLease(name, "replica-" + std::to_string(i), 100, 30);
      if (!held) {
        errors[i] = held.error().message();
      } else if (*held) {
        ++holders;
      }
    });
    EXPECT_EQ(holders.load(), 1) << "round " << round;
    for (const std::string& message : errors) EXPECT_EQ(message, "");
  }
}

// --- generation

TEST_P(FleetStoreConformance, GenerationCountsDesiredStateWrites) {
  std::int64_t expected = Generation();
  // Raise it.
  const std::vector<std::pair<std::string, std::function<Status()>>> raising = {
      {"InsertDevice", [&] { return store_->InsertDevice(MakeDevice("dev-1", {"a"})); }},
      {"SetDeviceTags", [&] { return store_->SetDeviceTags("dev-1", {"b"}); }},
      {"DecommissionDevice", [&] { return store_->DecommissionDevice("dev-1", {"07"}, 5); }},
      {"PutPolicy (new)",
       [&] {
         return store_->PutPolicy({"*", "{}", 1, "a"});
       }},
      {"PutPolicy (replace)",
       [&] {
         return store_->PutPolicy({"*", "{\"x\":1}", 2, "a"});
       }},
      {"DeletePolicy", [&] { return store_->DeletePolicy("*"); }},
      {"DeletePackage", [&] { return store_->DeletePackage("thermo", "1.0.0"); }},
      {"CreateDeployment",
       [&] { return store_->CreateDeployment(MakeDeployment("dep"), {Target("dev-2", 0)}); }},
      {"UpdateDeployment",
       [&] {
         Deployment d = MakeDeployment("dep");
         d.revision = 1;
         return store_->UpdateDeployment(d, {});
       }},
  };
  // Leave it alone: other writes, refused writes, and reads.
  const std::vector<std::pair<std::string, std::function<Status()>>> neutral = {
      {"CreateEnrollmentToken", [&] { return store_->CreateEnrollmentToken(Token("t")); }},
      {"ConsumeEnrollmentToken",
       [&]() -> Status {
         FK_TRY(store_->ConsumeEnrollmentToken("t", std::string(64, 'a'), "dev-9", 200));
         return {};
       }},
      {"DeleteEnrollmentToken", [&] { return store_->DeleteEnrollmentToken("t"); }},
      {"UpdateDeviceCertificate",
       [&] { return store_->UpdateDeviceCertificate("dev-1", "08", "", 9); }},
      {"SetDeviceName", [&] { return store_->SetDeviceName("dev-1", "renamed"); }},
      {"RecordReport",
       [&] {
         return store_->RecordReport("dev-1", DeviceReport{"", "ok", "{}", {"x"}, 3});
       }},
      {"TouchDevices",
       [&] {
         return store_->TouchDevices({{"dev-1", 99}});
       }},
      {"PutPackage", [&] { return store_->PutPackage(Package("thermo", "1.0.0", "p"), "p"); }},
      {"AcquireLease",
       [&]() -> Status {
         FK_TRY(store_->AcquireLease("l", "r1", 1, 10));
         return {};
       }},
      {"SetTargetState", [&] { return store_->SetTargetState("dep", "dev-2", "running", "", 9); }},
      {"SetTargetState (same state)",
       [&] { return store_->SetTargetState("dep", "dev-2", "running", "", 10); }},
      {"reads",
       [&]() -> Status {
         FK_TRY(store_->ListDevices({}));
         FK_TRY(store_->FindDevice("dev-1"));
         FK_TRY(store_->ListPolicies());
         FK_TRY(store_->ListPackages());
         FK_TRY(store_->ListDeployments());
         FK_TRY(store_->ListTargets("dep"));
         FK_TRY(store_->TargetsOfDevice("dev-2"));
         FK_TRY(store_->ListRevoked());
         FK_TRY(store_->ListEnrollmentTokens());
         return {};
       }},
  };
  const std::vector<std::pair<std::string, std::function<Status()>>> refused = {
      {"InsertDevice (duplicate)", [&] { return store_->InsertDevice(MakeDevice("dev-1")); }},
      {"SetDeviceTags (missing)", [&] { return store_->SetDeviceTags("ghost", {"a"}); }},
      {"DecommissionDevice (missing)", [&] { return store_->DecommissionDevice("ghost", {}, 1); }},
      {"DeletePolicy (missing)", [&] { return store_->DeletePolicy("nope"); }},
      {"DeletePackage (missing)", [&] { return store_->DeletePackage("nope", "1"); }},
      {"CreateDeployment (duplicate)",
       [&] { return store_->CreateDeployment(MakeDeployment("dep"), {}); }},
      {"UpdateDeployment (stale)",
       [&] {
         Deployment d = MakeDeployment("dep");
         d.revision = 1;
         return store_->UpdateDeployment(d, {});
       }},
      {"SetTargetState (missing)",
       [&] { return store_->SetTargetState("dep", "ghost", "running", "", 1); }},
      {"PutPolicy (NUL)",
       [&] {
         return store_->PutPolicy({"t", std::string("{\0}", 3), 1, "a"});
       }},
  };
  // DeletePackage needs a package; put it first (PutPackage itself is neutral).
  ASSERT_TRUE(Ok(store_->PutPackage(Package("thermo", "1.0.0", "p"), "p")));
  EXPECT_EQ(Generation(), expected);
  for (const auto& [name, write] : raising) {
    ASSERT_TRUE(Ok(write())) << name;
    EXPECT_EQ(Generation(), ++expected) << name;
  }
  for (const auto& [name, write] : neutral) {
    ASSERT_TRUE(Ok(write())) << name;
    EXPECT_EQ(Generation(), expected) << name;
  }
  for (const auto& [name, write] : refused) {
    EXPECT_FALSE(write()) << name;
    EXPECT_EQ(Generation(), expected) << name;
  }
  // Another replica sees the same counter.
  auto replica = Replica();
  ASSERT_TRUE(replica);
  EXPECT_EQ(*replica->Generation(), expected);
}

// --- alerts

inline FleetAlert MakeAlert(std::int64_t seq, const std::string& detector = "port-scan",
                            std::int64_t severity = 2, const std::string& source = "host") {
  FleetAlert a;
  a.seq = seq;
  a.received_at = 1'764'000'000 + seq;
  a.source = source;
  a.detector = detector;
  a.severity = severity;
  a.alert_json = R"({"event_type":"alert","alert":{"detector":")" + detector + R"("}})";
  return a;
}

inline std::vector<std::int64_t> AlertSeqs(const std::vector<FleetAlert>& alerts) {
  std::vector<std::int64_t> out;
  for (const FleetAlert& a : alerts) out.push_back(a.seq);
  return out;
}

TEST_P(FleetStoreConformance, AlertsAreKeptOncePerDeviceAndSeqInCommitOrder) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-2"))));
  const std::int64_t generation = Generation();
  auto added = store_->RecordAlerts("dev-1", {MakeAlert(1), MakeAlert(2), MakeAlert(3)}, 100);
  ASSERT_TRUE(Ok(added));
  EXPECT_EQ(*added, 3);
  // Sent again with one more (a node's retry after a crash): only the new one is kept.
  added = store_->RecordAlerts("dev-1", {MakeAlert(2), MakeAlert(3), MakeAlert(4)}, 100);
  ASSERT_TRUE(Ok(added));
  EXPECT_EQ(*added, 1);
  // Another device's seq 1 is its own.
  EXPECT_EQ(*store_->RecordAlerts("dev-2", {MakeAlert(1), MakeAlert(1)}, 100), 1);
  EXPECT_EQ(Generation(), generation);  // alerts change no desired state

  auto all = store_->ListAlerts({});
  ASSERT_TRUE(Ok(all));
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(AlertSeqs(*all), (std::vector<std::int64_t>{1, 2, 3, 4, 1}));
  for (std::size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].id, (*all)[i].id);
  const FleetAlert& first = (*all)[0];
  EXPECT_EQ(first.device_id, "dev-1");
  EXPECT_EQ(first.received_at, 1'764'000'001);
  EXPECT_EQ(first.source, "host");
  EXPECT_EQ(first.detector, "port-scan");
  EXPECT_EQ(first.severity, 2);
  EXPECT_EQ(first.alert_json, MakeAlert(1).alert_json);
}

TEST_P(FleetStoreConformance, AlertFiltersAndPages) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1", {"plant-a"}))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-2", {"plant-b"}))));
  ASSERT_TRUE(Ok(store_->RecordAlerts(
      "dev-1", {MakeAlert(1, "modbus-write", 1), MakeAlert(2, "port-scan", 3)}, 100)));
  ASSERT_TRUE(Ok(store_->RecordAlerts(
      "dev-2", {MakeAlert(1, "modbus-write", 2), MakeAlert(2, "port-scan", 1)}, 100)));
  auto ids = [&](const AlertFilter& filter) {
    std::vector<std::string> out;
    auto listed = store_->ListAlerts(filter);
    EXPECT_TRUE(Ok(listed));
    for (const FleetAlert& a : listed.value_or(std::vector<FleetAlert>{})) {
      out.push_back(a.device_id + "/" + std::to_string(a.seq));
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({.device_id = "dev-2"}), (V{"dev-2/1", "dev-2/2"}));
  EXPECT_EQ(ids({.tag = "plant-a"}), (V{"dev-1/1", "dev-1/2"}));
  EXPECT_EQ(ids({.tag = "nowhere"}), V{});
  EXPECT_EQ(ids({.detector = "modbus-write"}), (V{"dev-1/1", "dev-2/1"}));
  EXPECT_EQ(ids({.min_severity = 1}), (V{"dev-1/1", "dev-2/2"}));
  EXPECT_EQ(ids({.min_severity = 2}), (V{"dev-1/1", "dev-2/1", "dev-2/2"}));
  EXPECT_EQ(ids({.tag = "plant-b", .detector = "port-scan", .min_severity = 1}), V{"dev-2/2"});
  // Without a cursor, the newest `limit`; with one, the next after it.
  EXPECT_EQ(ids({.limit = 2}), (V{"dev-2/1", "dev-2/2"}));
  const std::int64_t first_id = store_->ListAlerts({})->front().id;
  EXPECT_EQ(ids({.since = first_id, .limit = 2}), (V{"dev-1/2", "dev-2/1"}));
  EXPECT_EQ(ids({.since = first_id + 100}), V{});
}

TEST_P(FleetStoreConformance, AlertsArePrunedPerDeviceToTheNewest) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-2"))));
  ASSERT_TRUE(Ok(store_->RecordAlerts("dev-2", {MakeAlert(1)}, 3)));
  for (std::int64_t seq = 1; seq <= 5; ++seq) {
    ASSERT_TRUE(Ok(store_->RecordAlerts("dev-1", {MakeAlert(seq)}, 3)));
  }
  EXPECT_EQ(AlertSeqs(*store_->ListAlerts({.device_id = "dev-1"})),
            (std::vector<std::int64_t>{3, 4, 5}));
  EXPECT_EQ(AlertSeqs(*store_->ListAlerts({.device_id = "dev-2"})), std::vector<std::int64_t>{1});
  // A batch larger than the bound keeps its newest.
  ASSERT_TRUE(Ok(store_->RecordAlerts(
      "dev-2", {MakeAlert(2), MakeAlert(3), MakeAlert(4), MakeAlert(5), MakeAlert(6)}, 3)));
  EXPECT_EQ(AlertSeqs(*store_->ListAlerts({.device_id = "dev-2"})),
            (std::vector<std::int64_t>{4, 5, 6}));
}

TEST_P(FleetStoreConformance, AlertsOfAnUnknownDeviceOrWithBadBoundsAreRefused) {
  EXPECT_TRUE(FailsWith(store_->RecordAlerts("dev-x", {MakeAlert(1)}, 10), ErrorCode::kNotFound));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  EXPECT_TRUE(
      FailsWith(store_->RecordAlerts("dev-1", {MakeAlert(1)}, 0), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->RecordAlerts("dev-1", {MakeAlert(1, std::string(2000, 'd'))}, 10),
                        ErrorCode::kLimit));
  FleetAlert nul = MakeAlert(1);
  nul.alert_json = std::string("{\"a\":\"\0\"}", 9);
  EXPECT_TRUE(FailsWith(store_->RecordAlerts("dev-1", {nul}, 10), ErrorCode::kInvalidInput));
  EXPECT_TRUE(store_->ListAlerts({})->empty());
  EXPECT_EQ(*store_->RecordAlerts("dev-1", {}, 10), 0);
}

TEST_P(FleetStoreConformance, AlertsSurviveReopeningAndReplicasShareTheirIds) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  ASSERT_TRUE(Ok(store_->RecordAlerts("dev-1", {MakeAlert(1), MakeAlert(2)}, 10)));
  Reopen();
  EXPECT_EQ(AlertSeqs(*store_->ListAlerts({})), (std::vector<std::int64_t>{1, 2}));
  auto replica = Replica();
  ASSERT_TRUE(replica);
  ASSERT_TRUE(Ok(replica->RecordAlerts("dev-1", {MakeAlert(3)}, 10)));
  ASSERT_TRUE(Ok(store_->RecordAlerts("dev-1", {MakeAlert(3), MakeAlert(4)}, 10)));
  const auto all = *store_->ListAlerts({});
  EXPECT_EQ(AlertSeqs(all), (std::vector<std::int64_t>{1, 2, 3, 4}));
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].id, all[i].id);
}

TEST_P(FleetStoreConformance, AVersionOneDatabaseIsMigratedInPlace) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  store_.reset();
  ASSERT_TRUE(
      Ok(database_->Execute("DROP TABLE device_alerts; DROP TABLE alert_counter; "
                            "UPDATE schema_version SET version = 1 WHERE id = 1")));
  Reopen();
  EXPECT_TRUE(store_->FindDevice("dev-1")->has_value());
  auto added = store_->RecordAlerts("dev-1", {MakeAlert(1)}, 10);
  ASSERT_TRUE(Ok(added));
  EXPECT_EQ(*added, 1);
}

TEST_P(FleetStoreConformance, ConcurrentRecordersOfTheSameAlertsKeepEachOnce) {
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  constexpr int kWriters = 4;
  std::vector<std::unique_ptr<FleetStore>> stores;
  for (int i = 0; i < kWriters; ++i) stores.push_back(Replica());
  std::vector<FleetAlert> alerts;
  for (std::int64_t seq = 1; seq <= 20; ++seq) alerts.push_back(MakeAlert(seq));
  std::atomic<std::int64_t> added{0};
  RunTogether(kWriters, [&](int i) {
    // A writer that lost a race on the same rows may be refused; a node retries its report.
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto result = stores[i]->RecordAlerts("dev-1", alerts, 100);
      if (result) {
        added += *result;
        return;
      }
    }
  });
  EXPECT_EQ(added.load(), 20);
  const auto all = *store_->ListAlerts({});
  ASSERT_EQ(all.size(), 20u);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].id, all[i].id);
}

// --- durability and replicas

TEST_P(FleetStoreConformance, EverythingSurvivesReopening) {
  std::string bytes("\0\xff\x01package", 10);
  ASSERT_TRUE(Ok(store_->CreateEnrollmentToken(Token("t1"))));
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1", {"site-b"}))));
  ASSERT_TRUE(Ok(store_->RecordReport("dev-1", DeviceReport{"1", "ok", "{}", {"thermo"}, 5})));
  ASSERT_TRUE(Ok(store_->DecommissionDevice("dev-1", {"0f"}, 7)));
  ASSERT_TRUE(Ok(store_->PutPackage(Package("thermo", "1.0.0", bytes), bytes)));
  ASSERT_TRUE(Ok(store_->PutPolicy({"site-b", "{}", 3, "alice"})));
  ASSERT_TRUE(Ok(store_->CreateDeployment(MakeDeployment("dep"), {Target("dev-1", 0)})));
  ASSERT_TRUE(Ok(store_->AcquireLease("rollout", "r1", 100, 30)));
  const std::int64_t generation = Generation();

  Reopen();
  EXPECT_EQ(store_->ListEnrollmentTokens()->size(), 1u);
  auto device = store_->FindDevice("dev-1");
  ASSERT_TRUE(Ok(device));
  ASSERT_TRUE(device->has_value());
  EXPECT_EQ((*device)->tags, std::vector<std::string>{"site-b"});
  EXPECT_EQ((*device)->status, DeviceStatus::kDecommissioned);
  EXPECT_EQ(store_->ListDevices({.app = "thermo"})->size(), 1u);
  EXPECT_TRUE(*store_->IsRevoked("0f"));
  EXPECT_TRUE(*store_->ReadPackage("thermo", "1.0.0") == bytes);
  EXPECT_EQ(store_->ListPolicies()->size(), 1u);
  EXPECT_EQ((*store_->FindDeployment("dep"))->revision, 1);
  EXPECT_EQ(store_->ListTargets("dep")->size(), 1u);
  EXPECT_FALSE(*store_->AcquireLease("rollout", "r2", 110, 30));  // still r1's
  EXPECT_EQ(Generation(), generation);
}

TEST_P(FleetStoreConformance, ReplicasSeeEachOthersWritesAtOnce) {
  auto replica = Replica();
  ASSERT_TRUE(replica);
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  auto seen = replica->FindDevice("dev-1");
  ASSERT_TRUE(Ok(seen));
  EXPECT_TRUE(seen->has_value());
  ASSERT_TRUE(Ok(replica->SetDeviceTags("dev-1", {"moved"})));
  EXPECT_EQ((*store_->FindDevice("dev-1"))->tags, std::vector<std::string>{"moved"});
  EXPECT_EQ(*replica->Generation(), Generation());
  ASSERT_TRUE(Ok(replica->PutPolicy({"moved", "{}", 1, "a"})));
  EXPECT_EQ(store_->ListPolicies()->size(), 1u);
  EXPECT_TRUE(*replica->AcquireLease("rollout", "replica", 100, 30));
  EXPECT_FALSE(*store_->AcquireLease("rollout", "primary", 101, 30));
}

TEST_P(FleetStoreConformance, ConcurrentFirstOpensAllSucceed) {
  auto fresh = GetParam().make_database();
  ASSERT_TRUE(Ok(fresh));
  constexpr int kReplicas = 4;
  std::vector<std::unique_ptr<FleetStore>> stores(kReplicas);
  std::vector<std::string> errors(kReplicas);
  RunTogether(kReplicas, [&](int i) {
    auto store = (*fresh)->Open();
    if (store) {
      stores[i] = std::move(*store);
    } else {
      errors[i] = store.error().message();
    }
  });
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_TRUE(stores[i]) << errors[i];
  }
  ASSERT_TRUE(Ok(stores[0]->InsertDevice(MakeDevice("dev-1"))));
  for (auto& store : stores) {
    EXPECT_TRUE(store->FindDevice("dev-1")->has_value());
    EXPECT_EQ(*store->Generation(), 1);  // one schema, one generation row
  }
}

TEST_P(FleetStoreConformance, NewerSchemaIsRefused) {
  store_.reset();
  ASSERT_TRUE(Ok(database_->Execute("UPDATE schema_version SET version = 99 WHERE id = 1")));
  auto opened = database_->Open();
  ASSERT_TRUE(FailsWith(opened, ErrorCode::kConflict));
  EXPECT_NE(opened.error().message().find("99"), std::string::npos) << opened.error().message();
}

// --- hostile text

TEST_P(FleetStoreConformance, HostileStringsRoundTrip) {
  const std::vector<std::string> hostile = {
      "'; DROP TABLE devices; --",
      "\"quoted\" and 'single' and `back`",
      "? $1 ?? %s {} \\x00 \\",
      "Robert'); DELETE FROM fleet_generation; --",
      "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93 \xf0\x9f\x8c\xa1",  // grüß ✓ 🌡
      std::string(1000, 'x'),
  };
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    const std::string& text = hostile[i];
    Device d = MakeDevice(text + std::to_string(i), {text, "plain"});
    d.name = text;
    d.report_json = text;
    ASSERT_TRUE(Ok(store_->InsertDevice(d))) << i;
    auto found = store_->FindDevice(d.id);
    ASSERT_TRUE(Ok(found));
    ASSERT_TRUE(found->has_value()) << i;
    std::sort(d.tags.begin(), d.tags.end());
    EXPECT_TRUE(Describe(**found) == Describe(d)) << i;
    auto tagged = store_->ListDevices({.tag = text});
    ASSERT_TRUE(Ok(tagged));
    ASSERT_EQ(tagged->size(), 1u) << i;
    EXPECT_TRUE((*tagged)[0].id == d.id) << i;

    // Long text where no index holds it.
    ASSERT_TRUE(Ok(store_->SetDeviceName(d.id, text + std::string(100000, '\''))));
    EXPECT_TRUE((*store_->FindDevice(d.id))->name == text + std::string(100000, '\''));
    ASSERT_TRUE(Ok(store_->PutPolicy({text, text, 1, text}))) << i;
    ASSERT_TRUE(Ok(store_->PutPackage(Package(text, text, text), text))) << i;
    EXPECT_TRUE(*store_->ReadPackage(text, text) == text) << i;
  }
  EXPECT_EQ(store_->ListDevices({})->size(), hostile.size());
  EXPECT_EQ(store_->ListPolicies()->size(), hostile.size());
  EXPECT_EQ(Generation(), static_cast<std::int64_t>(2 * hostile.size()));
}

TEST_P(FleetStoreConformance, OverlongKeysAreRefusedAlike) {
  const std::string longest(1024, 'k');
  const std::string overlong(1025, 'k');
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice(longest, {longest}))));
  EXPECT_TRUE(FailsWith(store_->InsertDevice(MakeDevice(overlong)), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->InsertDevice(MakeDevice("dev", {overlong})), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->SetDeviceTags(longest, {overlong}), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->RecordReport(longest, DeviceReport{"", "", "", {overlong}, 1}),
                        ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->DecommissionDevice(longest, {overlong}, 1), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->CreateEnrollmentToken(Token(overlong)), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->PutPackage(Package(overlong, "1", "b"), "b"), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->PutPolicy({overlong, "{}", 1, "a"}), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->CreateDeployment(MakeDeployment(overlong), {}), ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->CreateDeployment(MakeDeployment("dep"), {Target(overlong, 0)}),
                        ErrorCode::kLimit));
  EXPECT_TRUE(FailsWith(store_->AcquireLease(overlong, "r1", 1, 10), ErrorCode::kLimit));
  // Lookups with any length are fine.
  auto found = store_->FindDevice(std::string(100000, 'k'));
  ASSERT_TRUE(Ok(found));
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(store_->ListDevices({})->size(), 1u);
}

TEST_P(FleetStoreConformance, TextWithNulOrInvalidUtf8IsRefusedNotTruncated) {
  const std::vector<std::string> refused = {
      std::string("dev\0ice", 7),
      std::string("\0", 1),
      "\xff\xfe",
      "half \xe2\x9c",  // a sequence cut short
      "\xc0\xaf",       // an overlong '/'
      "\xed\xa0\x80",   // a UTF-16 surrogate
  };
  ASSERT_TRUE(Ok(store_->InsertDevice(MakeDevice("dev-1"))));
  for (std::size_t i = 0; i < refused.size(); ++i) {
    const std::string& text = refused[i];
    EXPECT_TRUE(FailsWith(store_->InsertDevice(MakeDevice(text)), ErrorCode::kInvalidInput)) << i;
    Device named = MakeDevice("dev-2");
    named.name = text;
    EXPECT_TRUE(FailsWith(store_->InsertDevice(named), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->InsertDevice(MakeDevice("dev-3", {"ok", text})),
                          ErrorCode::kInvalidInput))
        << i;
    EXPECT_TRUE(FailsWith(store_->SetDeviceName("dev-1", text), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->SetDeviceTags("dev-1", {"kept", text}), ErrorCode::kInvalidInput))
        << i;
    EXPECT_TRUE(FailsWith(store_->PutPolicy({"t", text, 1, "a"}), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->FindDevice(text), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->RecordReport("dev-1", DeviceReport{"", "ok", text, {}, 1}),
                          ErrorCode::kInvalidInput))
        << i;
  }
  // Nothing of a refused write landed, not even its first statements.
  auto listed = store_->ListDevices({});
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, MakeDevice("dev-1").name);
  EXPECT_TRUE((*listed)[0].tags.empty());
  EXPECT_EQ((*listed)[0].report_json, "");
  EXPECT_TRUE(store_->ListPolicies()->empty());
  EXPECT_EQ(Generation(), 1);
}

}  // namespace fogkeep::director::conformance
