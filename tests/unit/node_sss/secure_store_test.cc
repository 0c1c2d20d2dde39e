#include "node/sss/secure_store.h"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "node/sss/file_key_sealer.h"
#include "node/sss/tpm_key_sealer.h"
#include "sss_test_util.h"
#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using test::Must;

class SecureStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SecureStore> OpenStore(Quotas quotas = {}) {
    auto sealer = Must(FileKeySealer::Open(key_path_), "open sealer");
    return Must(SecureStore::Open(db_path_, sealer, quotas), "open store");
  }

  testing::TempDir dir_;
  const std::string db_path_ = dir_ / "sss.db";
  const std::string key_path_ = dir_ / "sealing.key";
};

TEST_F(SecureStoreTest, PutGetRoundTripsEveryKindAndBinaryData) {
  auto store = OpenStore();
  std::string binary("\0\x01\xff secret \0", 12);
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "blob", binary));
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "empty", ""));
  ASSERT_TRUE(store->Put("app1", RecordKind::kCertificate, "blob", "cert bytes"));
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "blob")), binary);
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "empty")), "");
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kCertificate, "blob")), "cert bytes");
}

TEST_F(SecureStoreTest, ReplacingARecordRaisesItsVersion) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "b", "first"));
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "x"));
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "b", "second!"));
  auto list = Must(store->List("app1", RecordKind::kObject));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(list[0].version, 2);
  EXPECT_EQ(list[0].size, 1u);
  EXPECT_EQ(list[1].name, "b");
  EXPECT_EQ(list[1].version, 3);
  EXPECT_EQ(list[1].size, 7u);
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "b")), "second!");
  EXPECT_TRUE(Must(store->List("app1", RecordKind::kCertificate)).empty());
}

TEST_F(SecureStoreTest, CreateOnlyRefusesAnExistingRecord) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "1", WriteMode::kCreateOnly));
  auto again = store->Put("app1", RecordKind::kObject, "a", "2", WriteMode::kCreateOnly);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "a")), "1");
}

TEST_F(SecureStoreTest, PersistsAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "alpha"));
    ASSERT_TRUE(store->Put("app2", RecordKind::kObject, "a", "other app"));
    ASSERT_TRUE(store->Delete("app2", RecordKind::kObject, "a"));
    ASSERT_TRUE(store->Put("app2", RecordKind::kObject, "b", "beta"));
  }
  auto store = OpenStore();
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "a")), "alpha");
  EXPECT_EQ(Must(store->Get("app2", RecordKind::kObject, "b")), "beta");
  EXPECT_EQ(store->Get("app2", RecordKind::kObject, "a").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "again"));
  EXPECT_EQ(Must(store->List("app1", RecordKind::kObject))[0].version, 2);
}

TEST_F(SecureStoreTest, AnotherSealerCannotOpenTheStore) {
  { OpenStore(); }
  auto other = Must(FileKeySealer::Open(dir_ / "other.key"));
  auto store = SecureStore::Open(db_path_, other);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(store.error().message().find("does not unseal"), std::string::npos)
      << store.error().message();
}

TEST_F(SecureStoreTest, OneProcessOwnsTheStore) {
  auto store = OpenStore();
  auto second = SecureStore::Open(db_path_, Must(FileKeySealer::Open(key_path_)));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
}

TEST_F(SecureStoreTest, DatabaseFileIsPrivate) {
  OpenStore();
  struct stat st {};
  ASSERT_EQ(::stat(db_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(SecureStoreTest, NothingIsStoredInClear) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "plaintext-marker-4711"));
  }
  EXPECT_FALSE(test::FileContains(db_path_, "plaintext-marker-4711"));
  EXPECT_FALSE(test::FileContains(db_path_ + "-wal", "plaintext-marker-4711"));
}

TEST_F(SecureStoreTest, KeyRecordsAreNotReachableThroughPutAndGet) {
  auto store = OpenStore();
  auto put = store->Put("app1", RecordKind::kKey, "k", "material");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kForbidden);
  auto get = store->Get("app1", RecordKind::kKey, "k");
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().code(), ErrorCode::kForbidden);
}

TEST_F(SecureStoreTest, AppsAreSeparate) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "one"));
  ASSERT_TRUE(store->Put("app2", RecordKind::kObject, "a", "two"));
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "a")), "one");
  EXPECT_EQ(Must(store->Get("app2", RecordKind::kObject, "a")), "two");
  EXPECT_EQ(store->Get("app3", RecordKind::kObject, "a").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Must(store->List("app3", RecordKind::kObject)).empty());
}

TEST_F(SecureStoreTest, DeleteRemovesOneRecord) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "1"));
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "b", "2"));
  ASSERT_TRUE(store->Delete("app1", RecordKind::kObject, "a"));
  EXPECT_EQ(store->Get("app1", RecordKind::kObject, "a").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->Delete("app1", RecordKind::kObject, "a").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->Delete("app1", RecordKind::kCertificate, "b").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "b")), "2");
}

TEST_F(SecureStoreTest, RefusesInvalidIdentifiers) {
  auto store = OpenStore();
  for (std::string_view app : {"", "App", "-app", "a/b", "a b", "app\n"}) {
    auto put = store->Put(app, RecordKind::kObject, "a", "x");
    ASSERT_FALSE(put) << app;
    EXPECT_EQ(put.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_FALSE(store->Put(std::string(64, 'a'), RecordKind::kObject, "a", "x"));
  for (std::string_view name : {"", "a/b", "../x", "a b", "ä"}) {
    auto put = store->Put("app1", RecordKind::kObject, name, "x");
    ASSERT_FALSE(put) << name;
    EXPECT_EQ(put.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_FALSE(store->Put("app1", RecordKind::kObject, std::string(129, 'n'), "x"));
  EXPECT_TRUE(store->Put("app1", RecordKind::kObject, std::string(128, 'n'), "x"));
}

TEST_F(SecureStoreTest, QuotasAreEnforced) {
  Quotas quotas;
  quotas.max_records = 3;
  quotas.max_total_bytes = 100;
  quotas.max_record_bytes = 60;
  auto store = OpenStore(quotas);

  auto big = store->Put("app1", RecordKind::kObject, "big", std::string(61, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), ErrorCode::kLimit);

  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", std::string(60, 'a')));
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "b", std::string(40, 'b')));
  auto over = store->Put("app1", RecordKind::kObject, "c", "1");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), ErrorCode::kLimit) << over.error().message();
  // Replacing within the budget is fine: the old size is given back first.
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "b", std::string(30, 'b')));
  ASSERT_TRUE(store->Put("app1", RecordKind::kCertificate, "c", std::string(10, 'c')));
  auto fourth = store->Put("app1", RecordKind::kCertificate, "d", "");
  ASSERT_FALSE(fourth);
  EXPECT_EQ(fourth.error().code(), ErrorCode::kLimit) << fourth.error().message();
  // Another app has its own budget, and a refused write changed nothing.
  EXPECT_TRUE(store->Put("app2", RecordKind::kObject, "a", std::string(60, 'a')));
  EXPECT_EQ(Must(store->List("app1", RecordKind::kObject)).size(), 2u);
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "b")), std::string(30, 'b'));
}

TEST_F(SecureStoreTest, DestroyAppShredsItsKeyAndRecords) {
  std::string wrapped_dek;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "alpha"));
    ASSERT_TRUE(store->Put("app1", RecordKind::kCertificate, "c", "cert"));
    ASSERT_TRUE(store->Put("app2", RecordKind::kObject, "a", "kept"));
    {
      auto raw = test::OpenRaw(db_path_);
      auto stmt = Must(raw.Prepare("SELECT wrapped_dek FROM apps WHERE app = 'app1'"));
      ASSERT_TRUE(Must(stmt.Step()));
      wrapped_dek = stmt.Bytes(0);
    }
    ASSERT_TRUE(store->DestroyApp("app1"));
    EXPECT_EQ(store->Get("app1", RecordKind::kObject, "a").error().code(), ErrorCode::kNotFound);
    EXPECT_TRUE(Must(store->List("app1", RecordKind::kObject)).empty());
    EXPECT_EQ(Must(store->Get("app2", RecordKind::kObject, "a")), "kept");
    EXPECT_TRUE(store->DestroyApp("never-stored"));
  }
  {
    auto raw = test::OpenRaw(db_path_);
    auto apps = Must(raw.Prepare("SELECT COUNT(*) FROM apps WHERE app = 'app1'"));
    ASSERT_TRUE(Must(apps.Step()));
    EXPECT_EQ(apps.Int(0), 0);
    auto records = Must(raw.Prepare("SELECT COUNT(*) FROM records WHERE app = 'app1'"));
    ASSERT_TRUE(Must(records.Step()));
    EXPECT_EQ(records.Int(0), 0);
  }
  // The wrapped key is gone from the files themselves, not only from the tables.
  ASSERT_EQ(wrapped_dek.size(), 32u + 28u);
  EXPECT_FALSE(test::FileContains(db_path_, wrapped_dek));
  EXPECT_FALSE(test::FileContains(db_path_ + "-wal", wrapped_dek));

  // The app starts over with a new key; nothing of the old one comes back.
  auto store = OpenStore();
  EXPECT_EQ(store->Get("app1", RecordKind::kObject, "a").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "new life"));
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "a")), "new life");
  EXPECT_EQ(Must(store->Get("app2", RecordKind::kObject, "a")), "kept");
}

// The store over the TPM sealer: its KEK unseals only through that TPM.
TEST(SecureStoreTpmTest, KeepsItsKeyEncryptionKeyInTheTpm) {
  if (test::SharedSwtpm::Get() == nullptr) GTEST_SKIP() << test::kNoSwtpm;
  testing::TempDir dir;
  std::string db = dir / "sss.db";
  {
    auto store = Must(SecureStore::Open(db, Must(TpmKeySealer::Open(dir / "tpm.key"))));
    ASSERT_TRUE(store->Put("app1", RecordKind::kObject, "a", "sealed by the tpm"));
  }
  auto store = Must(SecureStore::Open(db, Must(TpmKeySealer::Open(dir / "tpm.key"))));
  EXPECT_EQ(Must(store->Get("app1", RecordKind::kObject, "a")), "sealed by the tpm");
  store.reset();

  auto with_file = SecureStore::Open(db, Must(FileKeySealer::Open(dir / "file.key")));
  ASSERT_FALSE(with_file);
  EXPECT_EQ(with_file.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(with_file.error().message().find("created with the tpm sealer"), std::string::npos)
      << with_file.error().message();
}

}  // namespace
}  // namespace fogkeep::node::sss
