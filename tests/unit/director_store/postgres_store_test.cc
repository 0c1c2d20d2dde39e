// The FleetStore and OAuthStore conformance suites on a real PostgreSQL server that this binary
// starts (support/postgres_server.h), a fresh database per test; then what only PostgreSQL has:
// connections that break, connection strings.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "oauth_store_conformance.h"
#include "store_conformance.h"
#include "support/postgres_server.h"

namespace fogkeep::director::conformance {
namespace {

using fogkeep::testing::PostgresServer;

class PostgresTestDatabase final : public TestDatabase {
 public:
  PostgresTestDatabase(PostgresServer* server, std::string name)
      : server_(server), name_(std::move(name)) {}
  ~PostgresTestDatabase() override { (void)server_->DropDatabase(name_); }

  Result<std::unique_ptr<FleetStore>> Open() override {
    return OpenPostgresStore(conninfo(), /*connections=*/4);
  }
  Status Execute(const std::string& sql) override { return server_->Execute(name_, sql); }
  Result<std::shared_ptr<SqlDb>> Connect() override {
    return std::shared_ptr<SqlDb>(FK_TRY(OpenPostgresDb(conninfo(), /*connections=*/4)));
  }

  const std::string& name() const { return name_; }
  std::string conninfo() const { return server_->ConnInfo(name_); }

 private:
  PostgresServer* server_;
  const std::string name_;
};

// A new database on the server this binary shares; fails (never skips) when no server can be
// started, with what is missing.
Result<std::unique_ptr<PostgresTestDatabase>> MakeDatabase() {
  PostgresServer* server = FK_TRY(PostgresServer::Shared());
  std::string name = FK_TRY(server->CreateDatabase());
  return std::make_unique<PostgresTestDatabase>(server, std::move(name));
}

const Backend kPostgres{"Postgres", []() -> Result<std::unique_ptr<TestDatabase>> {
                          return std::unique_ptr<TestDatabase>(FK_TRY(MakeDatabase()));
                        }};

INSTANTIATE_TEST_SUITE_P(Postgres, FleetStoreConformance, ::testing::Values(kPostgres),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Postgres, OAuthStoreConformance, ::testing::Values(kPostgres),
                         BackendName);

TEST(PostgresFleetStoreTest, ReconnectsAfterTheServerEndsItsConnections) {
  auto database = MakeDatabase();
  ASSERT_TRUE(Ok(database));
  auto store = OpenPostgresStore((*database)->conninfo(), 2);
  ASSERT_TRUE(Ok(store));
  // Two transactions at once, so that the pool holds two connections.
  RunTogether(2, [&](int i) {
    EXPECT_TRUE(Ok((*store)->InsertDevice(MakeDevice("dev-" + std::to_string(i)))));
  });
  for (int round = 0; round < 2; ++round) {
    PostgresServer* server = *PostgresServer::Shared();
    ASSERT_TRUE(Ok(server->Execute(
        "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                        (*database)->name() + "'")));
    // The idle connections died unseen; the next calls notice and connect again.
    auto found = (*store)->FindDevice("dev-1");
    ASSERT_TRUE(Ok(found)) << "round " << round;
    EXPECT_TRUE(found->has_value());
    EXPECT_TRUE(Ok((*store)->SetDeviceName("dev-0", "after " + std::to_string(round))));
  }
  EXPECT_EQ((*(*store)->FindDevice("dev-0"))->name, "after 1");
}

TEST(PostgresFleetStoreTest, UnreachableServerIsUnavailableAndKeepsThePasswordSecret) {
  auto store = OpenPostgresStore(
      "host=127.0.0.1 port=1 dbname=fleet user=fogkeep password=hunter2 connect_timeout=5");
  ASSERT_TRUE(FailsWith(store, ErrorCode::kUnavailable));
  EXPECT_EQ(store.error().message().find("hunter2"), std::string::npos) << store.error().message();
}

TEST(PostgresFleetStoreTest, MalformedSettingsAreInvalidInput) {
  EXPECT_TRUE(
      FailsWith(OpenPostgresStore("host=127.0.0.1 no-equals-sign"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(OpenPostgresStore("host=127.0.0.1 colour=blue"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(OpenPostgresStore("host=127.0.0.1", 0), ErrorCode::kInvalidInput));
}

TEST(PostgresFleetStoreTest, ManyReplicasStartingTogetherShareOneSchema) {
  auto database = MakeDatabase();
  ASSERT_TRUE(Ok(database));
  constexpr int kReplicas = 8;
  std::vector<std::unique_ptr<FleetStore>> stores(kReplicas);
  std::vector<std::string> errors(kReplicas);
  RunTogether(kReplicas, [&](int i) {
    auto store = OpenPostgresStore((*database)->conninfo(), 1);
    if (store) {
      stores[i] = std::move(*store);
    } else {
      errors[i] = store.error().message();
    }
  });
  for (int i = 0; i < kReplicas; ++i) ASSERT_TRUE(stores[i]) << errors[i];
  // Every replica writes; all of them see every write and one counter.
  RunTogether(kReplicas, [&](int i) {
    EXPECT_TRUE(Ok(stores[i]->InsertDevice(MakeDevice("dev-" + std::to_string(i)))));
  });
  for (auto& store : stores) {
    EXPECT_EQ(store->ListDevices({})->size(), static_cast<std::size_t>(kReplicas));
    EXPECT_EQ(*store->Generation(), kReplicas);
  }
}

}  // namespace
}  // namespace fogkeep::director::conformance
