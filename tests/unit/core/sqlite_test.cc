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
