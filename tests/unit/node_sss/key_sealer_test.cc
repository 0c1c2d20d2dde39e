// The KeySealer conformance suite: every implementation passes the same tests.
#include "node/sss/key_sealer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "crypto/hash.h"
#include "node/sss/file_key_sealer.h"
#include "node/sss/tpm_key_sealer.h"
#include "sss_test_util.h"
#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using test::Must;

struct SealerBackend {
  std::string name;
  // Why the back-end cannot run here, or "" when it can.
  std::function<std::string()> unavailable;
  std::function<Result<std::shared_ptr<KeySealer>>(const std::string& path)> open;
};

// For gtest's listings: the back-end's name rather than its bytes.
void PrintTo(const SealerBackend& backend, std::ostream* os) { *os << backend.name; }

SealerBackend FileBackend() {
  return {"File", [] { return std::string(); },
          [](const std::string& path) -> Result<std::shared_ptr<KeySealer>> {
            return FK_TRY(FileKeySealer::Open(path));
          }};
}

SealerBackend TpmBackend() {
  return {"Tpm",
          [] { return test::SharedSwtpm::Get() == nullptr ? std::string(test::kNoSwtpm) : ""; },
          [](const std::string& path) -> Result<std::shared_ptr<KeySealer>> {
            return FK_TRY(TpmKeySealer::Open(path));
          }};
}

class KeySealerConformance : public ::testing::TestWithParam<SealerBackend> {
 protected:
  void SetUp() override {
    if (std::string reason = GetParam().unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  }
  Result<std::shared_ptr<KeySealer>> Open() { return GetParam().open(path_); }
  std::shared_ptr<KeySealer> MustOpen() { return Must(Open(), "open sealer"); }

  testing::TempDir dir_;
  const std::string path_ = dir_ / "sealing.key";
};

TEST_P(KeySealerConformance, SealedSecretUnsealsUnderTheSameContext) {
  auto sealer = MustOpen();
  for (std::string secret : {crypto::RandomBytes(32), std::string(), std::string(300, '\0')}) {
    std::string sealed = Must(sealer->Seal(secret, "kek v1"));
    if (!secret.empty()) {
      EXPECT_EQ(sealed.find(secret), std::string::npos);
    }
    auto unsealed = sealer->Unseal(sealed, "kek v1");
    ASSERT_TRUE(unsealed) << unsealed.error().message();
    EXPECT_EQ(*unsealed, secret);
  }
}

TEST_P(KeySealerConformance, SealingIsRandomised) {
  auto sealer = MustOpen();
  std::string secret = crypto::RandomBytes(32);
  EXPECT_NE(Must(sealer->Seal(secret, "c")), Must(sealer->Seal(secret, "c")));
}

TEST_P(KeySealerConformance, WrongContextFails) {
  auto sealer = MustOpen();
  std::string sealed = Must(sealer->Seal(crypto::RandomBytes(32), "store A"));
  for (std::string_view context : {"store B", "", "store A "}) {
    auto unsealed = sealer->Unseal(sealed, context);
    ASSERT_FALSE(unsealed) << "context '" << context << "'";
    EXPECT_EQ(unsealed.error().code(), ErrorCode::kIntegrity) << unsealed.error().message();
  }
}

TEST_P(KeySealerConformance, EveryTamperedByteFails) {
  auto sealer = MustOpen();
  std::string sealed = Must(sealer->Seal(crypto::RandomBytes(32), "ctx"));
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto unsealed = sealer->Unseal(test::FlipBit(sealed, i, static_cast<int>(i % 8)), "ctx");
    ASSERT_FALSE(unsealed) << "byte " << i;
    EXPECT_EQ(unsealed.error().code(), ErrorCode::kIntegrity)
        << "byte " << i << ": " << unsealed.error().message();
  }
  for (std::string bad :
       {std::string(), sealed.substr(0, sealed.size() - 1), sealed + "x", sealed.substr(0, 1)}) {
    auto unsealed = sealer->Unseal(bad, "ctx");
    ASSERT_FALSE(unsealed) << bad.size() << " bytes";
    EXPECT_EQ(unsealed.error().code(), ErrorCode::kIntegrity) << unsealed.error().message();
  }
}

TEST_P(KeySealerConformance, PersistsAcrossReopen) {
  std::string secret = crypto::RandomBytes(32);
  std::string sealed;
  {
    auto sealer = MustOpen();
    sealed = Must(sealer->Seal(secret, "ctx"));
  }
  auto reopened = MustOpen();
  auto unsealed = reopened->Unseal(sealed, "ctx");
  ASSERT_TRUE(unsealed) << unsealed.error().message();
  EXPECT_EQ(*unsealed, secret);
}

TEST_P(KeySealerConformance, ANewKeyCannotUnsealWhatTheOldOneSealed) {
  std::string sealed = Must(MustOpen()->Seal(crypto::RandomBytes(32), "ctx"));
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  auto unsealed = MustOpen()->Unseal(sealed, "ctx");
  ASSERT_FALSE(unsealed);
  EXPECT_EQ(unsealed.error().code(), ErrorCode::kIntegrity) << unsealed.error().message();
}

TEST_P(KeySealerConformance, CreatesThePrivateFileWithMode0600) {
  MustOpen();
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST_P(KeySealerConformance, RefusesAFileOthersCanReadOrWrite) {
  MustOpen();
  for (mode_t mode : {0640, 0604, 0602, 0620, 0644, 0666}) {
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
    auto sealer = Open();
    ASSERT_FALSE(sealer) << std::oct << mode;
    EXPECT_EQ(sealer.error().code(), ErrorCode::kIntegrity);
    EXPECT_NE(sealer.error().message().find("must be 0600"), std::string::npos)
        << sealer.error().message();
  }
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  EXPECT_TRUE(Open());
}

TEST_P(KeySealerConformance, RefusesASymlink) {
  MustOpen();
  std::string link = dir_ / "link.key";
  ASSERT_EQ(::symlink(path_.c_str(), link.c_str()), 0);
  auto sealer = GetParam().open(link);
  ASSERT_FALSE(sealer);
  EXPECT_EQ(sealer.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(sealer.error().message().find("symbolic link"), std::string::npos)
      << sealer.error().message();
}

TEST_P(KeySealerConformance, RefusesSomethingOtherThanARegularFile) {
  ASSERT_EQ(::mkdir(path_.c_str(), 0700), 0);
  auto dir = Open();
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(dir.error().message().find("not a regular file"), std::string::npos)
      << dir.error().message();
  ASSERT_EQ(::rmdir(path_.c_str()), 0);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  auto fifo = Open();
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code(), ErrorCode::kIntegrity) << fifo.error().message();
}

TEST_P(KeySealerConformance, RefusesAFileOfAnotherOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  MustOpen();
  ASSERT_EQ(::chown(path_.c_str(), 4321, 4321), 0);
  auto sealer = Open();
  ASSERT_FALSE(sealer);
  EXPECT_EQ(sealer.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(sealer.error().message().find("owned by uid 4321"), std::string::npos)
      << sealer.error().message();
}

TEST_P(KeySealerConformance, RefusesAFileThatHoldsNoKey) {
  for (std::string content : {std::string("not a key"), std::string(), std::string(64, 'k')}) {
    ASSERT_TRUE(fs::WriteFileAtomic(path_, content, 0600));
    auto sealer = Open();
    ASSERT_FALSE(sealer) << content.size() << " bytes";
    EXPECT_EQ(sealer.error().code(), ErrorCode::kIntegrity) << sealer.error().message();
  }
}

INSTANTIATE_TEST_SUITE_P(AllSealers, KeySealerConformance,
                         ::testing::Values(FileBackend(), TpmBackend()),
                         [](const auto& info) { return info.param.name; });

// Only the TPM that made a key can load it: the PEM file alone is worth nothing elsewhere.
TEST(TpmKeySealerTest, AnotherTpmCannotLoadTheKey) {
  if (test::SharedSwtpm::Get() == nullptr) GTEST_SKIP() << test::kNoSwtpm;
  testing::TempDir dir;
  std::string path = dir / "tpm.key";
  std::string sealed = Must(Must(TpmKeySealer::Open(path))->Seal("secret", "ctx"));

  testing::TempDir other_state;
  auto other = Must(testing::Swtpm::Start(other_state.path()), "start a second swtpm");
  std::string tcti = ::getenv("TPM2OPENSSL_TCTI");
  ::setenv("TPM2OPENSSL_TCTI", other->tcti().c_str(), 1);
  auto elsewhere = TpmKeySealer::Open(path);
  ::setenv("TPM2OPENSSL_TCTI", tcti.c_str(), 1);
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code(), ErrorCode::kIntegrity) << elsewhere.error().message();

  auto home = TpmKeySealer::Open(path);
  ASSERT_TRUE(home) << home.error().message();
  EXPECT_EQ(Must((*home)->Unseal(sealed, "ctx")), "secret");
}

TEST(TpmKeySealerTest, NoReachableTpmIsUnavailable) {
  if (test::SharedSwtpm::Get() == nullptr) GTEST_SKIP() << test::kNoSwtpm;
  testing::TempDir dir;
  std::string tcti = ::getenv("TPM2OPENSSL_TCTI");
  // A swtpm that has stopped: nothing listens on its ports any more.
  std::string stopped_tcti;
  {
    testing::TempDir state;
    stopped_tcti = Must(testing::Swtpm::Start(state.path()), "start swtpm")->tcti();
  }
  ::setenv("TPM2OPENSSL_TCTI", stopped_tcti.c_str(), 1);
  auto sealer = TpmKeySealer::Open(dir / "tpm.key");
  ::setenv("TPM2OPENSSL_TCTI", tcti.c_str(), 1);
  ASSERT_FALSE(sealer);
  EXPECT_EQ(sealer.error().code(), ErrorCode::kUnavailable) << sealer.error().message();
  EXPECT_FALSE(fs::ReadFile(dir / "tpm.key")) << "no key file without a key";
}

}  // namespace
}  // namespace fogkeep::node::sss
