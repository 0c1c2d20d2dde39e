// Attacks on the store's database file: every change made behind the store's back reads as
// kIntegrity, never as wrong data. The tests change the SQLite file through a connection of
// their own, as someone with access to the node's disk could.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "node/sss/file_key_sealer.h"
#include "node/sss/secure_store.h"
#include "sss_test_util.h"
#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using test::Must;

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenStore();
    Must(store->Put("app1", RecordKind::kObject, "alpha", "alpha v1"));
    Must(store->Put("app1", RecordKind::kObject, "beta", "beta v1"));
    Must(store->Put("app2", RecordKind::kObject, "alpha", "app2 alpha"));
  }

  Result<std::unique_ptr<SecureStore>> TryOpen() {
    return SecureStore::Open(db_path_, Must(FileKeySealer::Open(key_path_)));
  }
  std::unique_ptr<SecureStore> OpenStore() { return Must(TryOpen(), "open store"); }

  // Runs `sql` with `params` on a connection of the test's own.
  void Tamper(std::string_view sql, const std::vector<sql::Value>& params = {}) {
    auto raw = test::OpenRaw(db_path_);
    Must(raw.Run(sql, params), sql);
  }
  std::string Column(std::string_view sql, const std::vector<sql::Value>& params = {}) {
    auto raw = test::OpenRaw(db_path_);
    auto stmt = Must(raw.Prepare(sql));
    Must(stmt.Bind(params));
    if (!Must(stmt.Step())) std::abort();
    return stmt.Bytes(0);
  }

  // Either the store refuses to open, or reading app1's "alpha" fails; both with kIntegrity.
  void ExpectAlphaIsRefused(std::string_view what) {
    auto store = TryOpen();
    if (!store) {
      EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity)
          << what << ": " << store.error().message();
      return;
    }
    auto alpha = (*store)->Get("app1", RecordKind::kObject, "alpha");
    ASSERT_FALSE(alpha) << what << ": read '" << *alpha << "'";
    EXPECT_EQ(alpha.error().code(), ErrorCode::kIntegrity)
        << what << ": " << alpha.error().message();
  }

  testing::TempDir dir_;
  const std::string db_path_ = dir_ / "sss.db";
  const std::string key_path_ = dir_ / "sealing.key";
};

constexpr std::string_view kAlpha = "app = 'app1' AND kind = 1 AND name = 'alpha'";

// SQL for `column` with bit `bit` flipped (SQLite has no XOR operator).
std::string FlipSql(std::string_view column, int bit) {
  std::string c(column);
  std::string mask = std::to_string(std::int64_t{1} << bit);
  return "(" + c + " | " + mask + ") - (" + c + " & " + mask + ")";
}

TEST_F(TamperTest, BitFlipInEveryColumnOfARecordRow) {
  struct Case {
    std::string column;
    std::size_t offset;  // byte of a text or blob value to flip
  };
  std::string sealed = Column("SELECT sealed FROM records WHERE " + std::string(kAlpha));
  std::vector<Case> cases = {{"app", 0}, {"app", 3}, {"name", 0}, {"name", 4}};
  for (std::size_t offset : {std::size_t{0}, std::size_t{11}, std::size_t{12}, sealed.size() - 17,
                             sealed.size() - 16, sealed.size() - 1}) {
    cases.push_back({"sealed", offset});
  }
  std::string pristine = Must(fs::ReadFile(db_path_));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.column + " byte " + std::to_string(c.offset));
    std::string value = Column("SELECT " + c.column + " FROM records WHERE " + std::string(kAlpha));
    std::string flipped = test::FlipBit(value, c.offset);
    sql::Value bound = c.column == "sealed" ? sql::Value(sql::Blob{flipped}) : sql::Value(flipped);
    Tamper("UPDATE records SET " + c.column + " = ? WHERE " + std::string(kAlpha), {bound});
    ExpectAlphaIsRefused(c.column);
    Tamper("UPDATE records SET " + c.column + " = ? WHERE " + c.column + " = ?",
           {c.column == "sealed" ? sql::Value(sql::Blob{value}) : sql::Value(value), bound});
  }
  for (std::string_view column : {"kind", "version"}) {
    SCOPED_TRACE(column);
    for (int bit : {0, 1, 40}) {
      std::string change = "UPDATE records SET " + std::string(column) + " = " +
                           FlipSql(column, bit) + " WHERE app = 'app1' AND name = 'alpha'";
      Tamper(change);
      ExpectAlphaIsRefused(column);
      Tamper(change);
    }
  }
  // Every change was undone, and the store reads again: the failures above were detections.
  auto store = OpenStore();
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "alpha")), "alpha v1");
}

TEST_F(TamperTest, BitFlipInEveryColumnOfAnAppRow) {
  for (std::string_view column : {"app", "wrapped_dek", "manifest_mac"}) {
    SCOPED_TRACE(column);
    std::string value = Column("SELECT " + std::string(column) + " FROM apps WHERE app = 'app1'");
    for (std::size_t offset : {std::size_t{0}, value.size() - 1}) {
      std::string flipped = test::FlipBit(value, offset, 2);
      bool blob = column != "app";
      Tamper(
          "UPDATE apps SET " + std::string(column) + " = ? WHERE " + std::string(column) + " = ?",
          {blob ? sql::Value(sql::Blob{flipped}) : sql::Value(flipped),
           blob ? sql::Value(sql::Blob{value}) : sql::Value(value)});
      ExpectAlphaIsRefused(column);
      Tamper(
          "UPDATE apps SET " + std::string(column) + " = ? WHERE " + std::string(column) + " = ?",
          {blob ? sql::Value(sql::Blob{value}) : sql::Value(value),
           blob ? sql::Value(sql::Blob{flipped}) : sql::Value(flipped)});
    }
  }
  for (int bit : {0, 5, 62}) {
    std::string change =
        "UPDATE apps SET generation = " + FlipSql("generation", bit) + " WHERE app = 'app1'";
    Tamper(change);
    ExpectAlphaIsRefused("generation");
    Tamper(change);
  }
  auto store = OpenStore();
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "alpha")), "alpha v1");
}

TEST_F(TamperTest, BitFlipInTheStoreMetadata) {
  for (std::string_view name : {"kek", "apps_mac"}) {
    SCOPED_TRACE(name);
    std::string value = Column("SELECT value FROM meta WHERE name = ?", {std::string(name)});
    for (std::size_t offset : {std::size_t{0}, value.size() / 2, value.size() - 1}) {
      Tamper("UPDATE meta SET value = ? WHERE name = ?",
             {sql::Blob{test::FlipBit(value, offset)}, std::string(name)});
      auto store = TryOpen();
      ASSERT_FALSE(store);
      EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity) << store.error().message();
    }
    Tamper("UPDATE meta SET value = ? WHERE name = ?", {sql::Blob{value}, std::string(name)});
  }
  EXPECT_TRUE(TryOpen());
}

TEST_F(TamperTest, RecordSwappedBetweenApps) {
  // app2's "alpha" row (its version and ciphertext) copied over app1's, and the reverse.
  std::string a1 = Column("SELECT sealed FROM records WHERE app = 'app1' AND name = 'alpha'");
  std::string a2 = Column("SELECT sealed FROM records WHERE app = 'app2' AND name = 'alpha'");
  Tamper("UPDATE records SET sealed = ? WHERE app = 'app1' AND name = 'alpha'", {sql::Blob{a2}});
  Tamper("UPDATE records SET sealed = ? WHERE app = 'app2' AND name = 'alpha'", {sql::Blob{a1}});
  auto store = OpenStore();
  for (std::string_view app : {"app1", "app2"}) {
    auto got = store->Get(app, RecordKind::kObject, "alpha");
    ASSERT_FALSE(got) << app;
    EXPECT_EQ(got.error().code(), ErrorCode::kIntegrity) << got.error().message();
  }
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "beta")), "beta v1");
}

TEST_F(TamperTest, RecordMovedToAnotherApp) {
  Tamper("UPDATE records SET app = 'app2', name = 'moved' WHERE app = 'app1' AND name = 'beta'");
  auto store = OpenStore();
  EXPECT_EQ(store->List("app1", RecordKind::kObject).error().code(), ErrorCode::kIntegrity);
  EXPECT_EQ(store->Get("app2", RecordKind::kObject, "moved").error().code(), ErrorCode::kIntegrity);
}

TEST_F(TamperTest, RecordSwappedBetweenNames) {
  // Ciphertexts swapped, versions kept: the associated data no longer matches.
  std::string alpha = Column("SELECT sealed FROM records WHERE " + std::string(kAlpha));
  std::string beta = Column("SELECT sealed FROM records WHERE app = 'app1' AND name = 'beta'");
  Tamper("UPDATE records SET sealed = ? WHERE " + std::string(kAlpha), {sql::Blob{beta}});
  Tamper("UPDATE records SET sealed = ? WHERE app = 'app1' AND name = 'beta'", {sql::Blob{alpha}});
  {
    auto store = OpenStore();
    EXPECT_EQ(store->Get("app1", RecordKind::kObject, "alpha").error().code(),
              ErrorCode::kIntegrity);
    EXPECT_EQ(store->Get("app1", RecordKind::kObject, "beta").error().code(),
              ErrorCode::kIntegrity);
  }
  // Whole rows renamed into each other (versions travel along): the manifest disagrees.
  Tamper("UPDATE records SET sealed = ? WHERE " + std::string(kAlpha), {sql::Blob{alpha}});
  Tamper("UPDATE records SET sealed = ? WHERE app = 'app1' AND name = 'beta'", {sql::Blob{beta}});
  Tamper("UPDATE records SET name = 'tmp' WHERE " + std::string(kAlpha));
  Tamper("UPDATE records SET name = 'alpha' WHERE app = 'app1' AND name = 'beta'");
  Tamper("UPDATE records SET name = 'beta' WHERE app = 'app1' AND name = 'tmp'");
  ExpectAlphaIsRefused("rows renamed");
}

TEST_F(TamperTest, RecordRolledBackToAnOlderCiphertext) {
  std::string old_sealed = Column("SELECT sealed FROM records WHERE " + std::string(kAlpha));
  std::string old_version = Column("SELECT version FROM records WHERE " + std::string(kAlpha));
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "alpha", "alpha v2"));
    std::string new_version = Column("SELECT version FROM records WHERE " + std::string(kAlpha));
    // Rolled back while the store is open...
    Tamper("UPDATE records SET sealed = ?, version = ? WHERE " + std::string(kAlpha),
           {sql::Blob{old_sealed}, std::stoll(old_version)});
    auto got = store->Get("app1", RecordKind::kObject, "alpha");
    ASSERT_FALSE(got) << "read '" << *got << "'";
    EXPECT_EQ(got.error().code(), ErrorCode::kIntegrity) << got.error().message();
    // ...and only the ciphertext, keeping the new version number.
    Tamper("UPDATE records SET version = ? WHERE " + std::string(kAlpha),
           {std::stoll(new_version)});
    got = store->Get("app1", RecordKind::kObject, "alpha");
    ASSERT_FALSE(got) << "read '" << *got << "'";
    EXPECT_EQ(got.error().code(), ErrorCode::kIntegrity) << got.error().message();
    Tamper("UPDATE records SET version = ? WHERE " + std::string(kAlpha),
           {std::stoll(old_version)});
  }
  // ...and found again after a restart.
  ExpectAlphaIsRefused("rolled back");
}

TEST_F(TamperTest, AppRolledBackTogetherWithItsManifest) {
  // A copy of everything app1 has in the database, restored after further writes.
  std::string dek = Column("SELECT wrapped_dek FROM apps WHERE app = 'app1'");
  std::string mac = Column("SELECT manifest_mac FROM apps WHERE app = 'app1'");
  std::string generation = Column("SELECT generation FROM apps WHERE app = 'app1'");
  std::string sealed = Column("SELECT sealed FROM records WHERE " + std::string(kAlpha));
  std::string version = Column("SELECT version FROM records WHERE " + std::string(kAlpha));
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "alpha", "alpha v2"));
  }
  Tamper("UPDATE apps SET wrapped_dek = ?, manifest_mac = ?, generation = ? WHERE app = 'app1'",
         {sql::Blob{dek}, sql::Blob{mac}, std::stoll(generation)});
  Tamper("UPDATE records SET sealed = ?, version = ? WHERE " + std::string(kAlpha),
         {sql::Blob{sealed}, std::stoll(version)});
  auto store = TryOpen();
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity) << store.error().message();
}

TEST_F(TamperTest, RecordDeletedBehindTheStoresBack) {
  {
    auto store = OpenStore();
    ASSERT_EQ(Must(store->List("app1", RecordKind::kObject)).size(), 2u);
    Tamper("DELETE FROM records WHERE " + std::string(kAlpha));
    EXPECT_EQ(store->List("app1", RecordKind::kObject).error().code(), ErrorCode::kIntegrity);
    EXPECT_EQ(store->Get("app1", RecordKind::kObject, "alpha").error().code(),
              ErrorCode::kIntegrity);
  }
  auto store = OpenStore();
  EXPECT_EQ(store->List("app1", RecordKind::kObject).error().code(), ErrorCode::kIntegrity);
  EXPECT_EQ(store->Get("app1", RecordKind::kObject, "alpha").error().code(), ErrorCode::kIntegrity);
  // A tampered app taints nothing else, and can still be cleared.
  EXPECT_EQ(Must(store->Get("app2", RecordKind::kObject, "alpha")), "app2 alpha");
  ASSERT_TRUE(store->DestroyApp("app1"));
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "alpha", "fresh"));
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "alpha")), "fresh");
}

TEST_F(TamperTest, RecordAddedBehindTheStoresBack) {
  auto store = OpenStore();
  ASSERT_EQ(Must(store->List("app1", RecordKind::kObject)).size(), 2u);  // app1 now verified
  Tamper(
      "INSERT INTO records (app, kind, name, version, sealed) "
      "SELECT app, kind, 'gamma', version, sealed FROM records WHERE " +
      std::string(kAlpha));
  EXPECT_EQ(store->List("app1", RecordKind::kObject).error().code(), ErrorCode::kIntegrity);
  // The manifest knows no "gamma": the planted row is never served.
  EXPECT_EQ(store->Get("app1", RecordKind::kObject, "gamma").error().code(), ErrorCode::kNotFound);
  store.reset();
  ExpectAlphaIsRefused("row added");
}

TEST_F(TamperTest, AppDeletedBehindTheStoresBack) {
  Tamper("DELETE FROM records WHERE app = 'app2'");
  Tamper("DELETE FROM apps WHERE app = 'app2'");
  auto store = TryOpen();
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity) << store.error().message();
}

}  // namespace
}  // namespace fogkeep::node::sss
