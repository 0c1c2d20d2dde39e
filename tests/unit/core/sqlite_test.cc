#include "core/sqlite.h"

#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::sql {
namespace {

TEST(SqliteTest, PersistsCommittedAndDropsRolledBack) {
  testing::TempDir dir;
  std::string path = dir / "state.db";
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db) << db.error().message();
    ASSERT_TRUE(db->Exec("CREATE TABLE apps (id TEXT PRIMARY KEY, version INTEGER)"));
    {
      auto tx = Transaction::Begin(*db);
      ASSERT_TRUE(tx);
      ASSERT_TRUE(db->Run("INSERT INTO apps VALUES (?, ?)", {std::string("a"), std::int64_t{1}}));
      ASSERT_TRUE(tx->Commit());
    }
    {
      auto tx = Transaction::Begin(*db);
      ASSERT_TRUE(db->Run("INSERT INTO apps VALUES (?, ?)", {std::string("b"), std::int64_t{2}}));
      // destroyed without Commit: rolled back
    }
    auto dup = db->Run("INSERT INTO apps VALUES (?, ?)", {std::string("a"), std::int64_t{3}});
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code(), ErrorCode::kConflict);
  }
  auto db = Database::Open(path);
  ASSERT_TRUE(db);
  auto stmt = db->Prepare("SELECT id, version FROM apps ORDER BY id");
  ASSERT_TRUE(stmt);
  std::vector<std::string> ids;
  while (*stmt->Step()) ids.push_back(stmt->Text(0) + "=" + std::to_string(stmt->Int(1)));
  EXPECT_EQ(ids, std::vector<std::string>{"a=1"});
}

// Statements are kept by their text and come back reset, unbound and usable however the
// last user left them.
TEST(SqliteTest, KeptStatementsComeBackResetAndSurviveSchemaChanges) {
  auto db = Database::Open(":memory:", /*kept_statements=*/8);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"));
  for (std::int64_t k = 1; k <= 3; ++k) {
    ASSERT_TRUE(db->Run("INSERT INTO t VALUES (?, ?)", {k, "v" + std::to_string(k)}));
  }
  const std::string select = "SELECT v FROM t WHERE k >= ? ORDER BY k";
  auto first_value = [&](std::int64_t from) -> std::string {
    auto stmt = db->Prepare(select);
    if (!stmt || !stmt->Bind({from}) || !*stmt->Step()) return "none";
    return stmt->Text(0);
  };
  EXPECT_EQ(first_value(2), "v2");
  {
    // Left in the middle of its rows: the next user starts from the first.
    auto stmt = db->Prepare(select);
    ASSERT_TRUE(stmt && stmt->Bind({std::int64_t{1}}));
    ASSERT_TRUE(*stmt->Step());
    ASSERT_TRUE(*stmt->Step());
    EXPECT_EQ(stmt->Text(0), "v2");
  }
  EXPECT_EQ(first_value(1), "v1");
  {
    // The same text twice at once: two statements, each with its own rows.
    auto outer = db->Prepare(select);
    auto inner = db->Prepare(select);
    ASSERT_TRUE(outer && inner);
    ASSERT_TRUE(outer->Bind({std::int64_t{3}}) && inner->Bind({std::int64_t{1}}));
    ASSERT_TRUE(*outer->Step() && *inner->Step());
    EXPECT_EQ(outer->Text(0), "v3");
    EXPECT_EQ(inner->Text(0), "v1");
  }
  // Bindings do not carry over: an unbound parameter is NULL, which matches no row.
  {
    auto stmt = db->Prepare(select);
    ASSERT_TRUE(stmt);
    EXPECT_FALSE(*stmt->Step());
  }
  ASSERT_TRUE(
      db->Exec("DROP TABLE t; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, w TEXT);"
               "INSERT INTO t VALUES (7, 'after', 'x');"));
  EXPECT_EQ(first_value(1), "after");
  EXPECT_FALSE(db->Prepare("  -- nothing "));
}

TEST(SqliteTest, BlobsKeepEveryByte) {
  auto db = Database::Open(":memory:");
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL)"));
  std::string bytes("\0\xff\x01 \0tail", 9);
  ASSERT_TRUE(db->Run("INSERT INTO t VALUES (?, ?)", {std::string("a"), Blob{bytes}}));
  ASSERT_TRUE(db->Run("INSERT INTO t VALUES (?, ?)", {std::string("empty"), Blob{}}));
  auto stmt = db->Prepare("SELECT v, typeof(v), length(v) FROM t ORDER BY k");
  ASSERT_TRUE(stmt);
  ASSERT_TRUE(*stmt->Step());
  EXPECT_EQ(stmt->Bytes(0), bytes);
  EXPECT_EQ(stmt->Text(1), "blob");
  EXPECT_EQ(stmt->Int(2), 9);
  ASSERT_TRUE(*stmt->Step());
  EXPECT_EQ(stmt->Bytes(0), "");
  EXPECT_EQ(stmt->Text(1), "blob");  // an empty blob, not NULL
}

TEST(SqliteTest, CorruptFileIsAnIntegrityOrUnavailableError) {
  testing::TempDir dir;
  std::string path = dir / "bad.db";
  ASSERT_TRUE(fs::WriteFileAtomic(path, std::string(4096, 'x')));
  auto db = Database::Open(path);
  EXPECT_FALSE(db && db->Exec("SELECT * FROM sqlite_master"));
}

}  // namespace
}  // namespace fogkeep::sql
