// The FleetStore and OAuthStore conformance suites on SQLite: a database file in a fresh
// directory per test.
#include <dlfcn.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "core/sqlite.h"
#include "oauth_store_conformance.h"
#include "store_conformance.h"
#include "support/support.h"

namespace fogkeep::director::conformance {
namespace {

class SqliteTestDatabase final : public TestDatabase {
 public:
  Result<std::unique_ptr<FleetStore>> Open() override { return OpenSqliteStore(path_); }

  Status Execute(const std::string& sql) override {
    auto db = FK_TRY(sql::Database::Open(path_));
    return db.Exec(sql);
  }

  Result<std::shared_ptr<SqlDb>> Connect() override {
    return std::shared_ptr<SqlDb>(FK_TRY(OpenSqliteDb(path_)));
  }

 private:
  fogkeep::testing::TempDir dir_;
  const std::string path_ = dir_ / "director.db";
};

const Backend kSqliteFile{"SqliteFile", []() -> Result<std::unique_ptr<TestDatabase>> {
                            return std::make_unique<SqliteTestDatabase>();
                          }};

INSTANTIATE_TEST_SUITE_P(Sqlite, FleetStoreConformance, ::testing::Values(kSqliteFile),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Sqlite, OAuthStoreConformance, ::testing::Values(kSqliteFile),
                         BackendName);

TEST(SqliteFleetStoreTest, InMemoryDatabaseWorks) {
  auto store = OpenSqliteStore(":memory:");
  ASSERT_TRUE(Ok(store));
  ASSERT_TRUE(Ok((*store)->InsertDevice(MakeDevice("dev-1"))));
  EXPECT_EQ(*(*store)->Generation(), 1);
}

// ":memory:" is a database per connection: what the stores wrote is found again only because
// they share the one SqlDb.
TEST(SqliteFleetStoreTest, InMemoryDatabaseIsSharedByBothStores) {
  auto db = OpenSqliteDb(":memory:");
  ASSERT_TRUE(Ok(db));
  ExpectStoresShare(std::move(*db));
}

TEST(SqliteFleetStoreTest, UnopenablePathIsUnavailable) {
  fogkeep::testing::TempDir dir;
  auto store = OpenSqliteStore(dir.path() + "/missing/director.db");
  ASSERT_TRUE(FailsWith(store, ErrorCode::kUnavailable));
  EXPECT_NE(store.error().message().find("missing"), std::string::npos) << store.error().message();
}

// A director on the embedded store never loads libpq and what it brings along
// (director/libpq.h); opening a PostgreSQL store loads it, even when the server is unreachable.
TEST(SqliteFleetStoreTest, LibpqIsLoadedOnlyWhenAPostgresStoreIsOpened) {
  const auto loaded = [] {
    void* handle = ::dlopen("libpq.so.5", RTLD_LAZY | RTLD_NOLOAD);
    if (handle != nullptr) ::dlclose(handle);
    return handle != nullptr;
  };
  auto store = OpenSqliteStore(":memory:");
  ASSERT_TRUE(Ok(store));
  ASSERT_TRUE(Ok((*store)->InsertDevice(MakeDevice("dev-1"))));
  EXPECT_FALSE(loaded());

  fogkeep::testing::TempDir dir;
  auto postgres = OpenPostgresStore("host=" + dir.path() + " port=1 connect_timeout=2", 1);
  ASSERT_TRUE(FailsWith(postgres, ErrorCode::kUnavailable));
  EXPECT_NE(postgres.error().message().find("connect to PostgreSQL"), std::string::npos)
      << postgres.error().message();
  EXPECT_TRUE(loaded());
}

}  // namespace
}  // namespace fogkeep::director::conformance
