// LocalUserStore: the users file (format, mode, atomic rewrites, reloads), user management,
// the AuthBackend contract, and equal cost for unknown users and wrong passwords.
#include "auth/local_users.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "backend_contract.h"
#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::auth {
namespace {

using Clock = std::chrono::steady_clock;

// Cheap parameters everywhere except where the cost is the point.
const Argon2Params kCheap{.memory_kib = 64, .passes = 1, .lanes = 1};

class LocalUsersTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalUserStore> Open(LocalUserOptions options = {.argon2 = kCheap}) {
    auto store = LocalUserStore::Open(path_, options);
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }
  std::string ReadUsersFile() {
    auto text = fs::ReadFile(path_);
    EXPECT_TRUE(text) << text.error().message();
    return text ? *text : "";
  }

  testing::TempDir dir_;
  const std::string path_ = dir_ / "users";
};

TEST_F(LocalUsersTest, MissingFileMeansNoUsers) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto users = store->List();
  ASSERT_TRUE(users);
  EXPECT_TRUE(users->empty());
  auto outcome = store->Authenticate("alice", "whatever-password", "192.0.2.1");
  ASSERT_TRUE(outcome);
  EXPECT_FALSE(outcome->accepted);
  EXPECT_TRUE(outcome->user_unknown);
}

TEST_F(LocalUsersTest, BackendContract) {
  auto store = Open();
  ASSERT_TRUE(store->Add("alice", "app-manager", "alice password 1"));
  test::ExpectBackendContract(*store, {.name = "alice",
                                       .password = "alice password 1",
                                       .role = "app-manager",
                                       .unknown = "mallory"});
}

TEST_F(LocalUsersTest, UnknownUserAndWrongPasswordAreRefusedAlike) {
  auto store = Open();
  ASSERT_TRUE(store->Add("alice", "admin", "alice password 1"));
  auto wrong = store->Authenticate("alice", "alice password 2", "192.0.2.1");
  auto unknown = store->Authenticate("bob", "alice password 1", "192.0.2.1");
  auto invalid = store->Authenticate("Bob!", "alice password 1", "192.0.2.1");
  ASSERT_TRUE(wrong && unknown && invalid);
  for (const AuthOutcome* o : {&*wrong, &*unknown, &*invalid}) {
    EXPECT_FALSE(o->accepted);
    EXPECT_TRUE(o->role.empty());
  }
  EXPECT_FALSE(wrong->user_unknown);
  EXPECT_TRUE(unknown->user_unknown);
  EXPECT_TRUE(invalid->user_unknown);
}

TEST_F(LocalUsersTest, FileIsPrivateAndReadable) {
  auto store = Open({.argon2 = {.memory_kib = 128, .passes = 2, .lanes = 1}});
  ASSERT_TRUE(store->Add("alice", "auditor", "alice password 1"));
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const std::string text = ReadUsersFile();
  EXPECT_TRUE(
      text.starts_with("# fogkeep local users v1\nalice auditor $argon2id$v=19$m=128,t=2,p=1$"))
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(text.find("alice password"), std::string::npos);
}

TEST_F(LocalUsersTest, RewritesAreAtomic) {
  auto store = Open();
  ASSERT_TRUE(store->Add("alice", "admin", "alice password 1"));
  const std::string before = ReadUsersFile();
  struct stat st1 {};
  ASSERT_EQ(::stat(path_.c_str(), &st1), 0);
  // A reader that opened the file before a change keeps reading the complete old content:
  // the change renames a new file into place rather than writing into this one.
  fs::UniqueFd reader(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader.valid());
  ASSERT_TRUE(store->SetPassword("alice", "alice password 2"));
  ASSERT_TRUE(store->Add("bob", "auditor", "bob password 12"));
  struct stat st2 {};
  ASSERT_EQ(::stat(path_.c_str(), &st2), 0);
  EXPECT_NE(st1.st_ino, st2.st_ino);
  std::string old_view(before.size() + 16, '\0');
  ssize_t n = ::pread(reader.get(), old_view.data(), old_view.size(), 0);
  ASSERT_GE(n, 0);
  old_view.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(old_view, before);
  // No temporary files are left beside it; the lock file is the only other entry.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"users", "users.lock"}));
}

TEST_F(LocalUsersTest, AddPasswdRoleRemoveList) {
  auto store = Open();
  ASSERT_TRUE(store->Add("carol", "network-manager", "carol password 1"));
  ASSERT_TRUE(store->Add("alice", "admin", "alice password 1"));
  auto dup = store->Add("alice", "auditor", "another password");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ErrorCode::kConflict);

  ASSERT_TRUE(store->SetPassword("alice", "alice password 2"));
  EXPECT_FALSE(store->Authenticate("alice", "alice password 1", "")->accepted);
  EXPECT_TRUE(store->Authenticate("alice", "alice password 2", "")->accepted);

  ASSERT_TRUE(store->SetRole("alice", "auditor"));
  EXPECT_EQ(store->Authenticate("alice", "alice password 2", "")->role, "auditor");
  EXPECT_EQ(store->SetRole("alice", "superuser").error().code(), ErrorCode::kInvalidInput);

  auto users = store->List();
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");
  EXPECT_EQ((*users)[0].role, "auditor");
  EXPECT_EQ((*users)[1].name, "carol");
  EXPECT_EQ((*users)[1].argon2, kCheap);

  ASSERT_TRUE(store->Remove("alice"));
  auto gone = store->Authenticate("alice", "alice password 2", "");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->accepted);
  EXPECT_TRUE(gone->user_unknown);
  EXPECT_EQ(store->Remove("alice").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->SetPassword("alice", "alice password 3").error().code(), ErrorCode::kNotFound);
}

TEST_F(LocalUsersTest, NamesAndPasswordsAreValidated) {
  auto store = Open();
  for (std::string_view bad :
       {"", "Alice", "-alice", ".alice", "al ice", "al:ice", "alice\n", "ålice"}) {
    EXPECT_FALSE(ValidateUserName(bad)) << bad;
    EXPECT_EQ(store->Add(bad, "admin", "long enough password").error().code(),
              ErrorCode::kInvalidInput);
  }
  EXPECT_FALSE(ValidateUserName(std::string(65, 'a')));
  for (std::string_view good : {"a", "alice", "_svc", "ops.team-1", "9lives"}) {
    EXPECT_TRUE(ValidateUserName(good)) << good;
  }
  EXPECT_TRUE(ValidateUserName(std::string(64, 'a')));

  EXPECT_EQ(store->Add("alice", "admin", "short").error().code(), ErrorCode::kInvalidInput);
  // Twelve characters, counted as characters and not bytes.
  EXPECT_TRUE(store->Add("bob", "admin", "ééééééééééé1"));
  EXPECT_FALSE(store->Add("carol", "admin", "éééééééééé1"));
  EXPECT_FALSE(store->Add("carol", "admin", std::string("with a NUL\0 inside", 18)));
  EXPECT_FALSE(store->Add("carol", "admin", std::string(1025, 'p')));
  EXPECT_TRUE(store->Add("carol", "admin", std::string(1024, 'p')));
  EXPECT_FALSE(store->Add("dave", "root", "long enough password"));
  // Over-long passwords are refused at login without hashing them.
  auto outcome = store->Authenticate("carol", std::string(4096, 'p'), "");
  ASSERT_TRUE(outcome);
  EXPECT_FALSE(outcome->accepted);
}

TEST_F(LocalUsersTest, StoredParametersAreHonouredAfterTheCostChanges) {
  const Argon2Params old_cost{.memory_kib = 64, .passes = 1, .lanes = 1};
  const Argon2Params new_cost{.memory_kib = 256, .passes = 2, .lanes = 1, .salt_bytes = 32};
  auto old_store = Open({.argon2 = old_cost});
  ASSERT_TRUE(old_store->Add("alice", "admin", "alice password 1"));
  old_store.reset();

  auto store = Open({.argon2 = new_cost});
  EXPECT_TRUE(store->Authenticate("alice", "alice password 1", "")->accepted);
  ASSERT_TRUE(store->Add("bob", "admin", "bob password 123"));
  auto users = store->List();
  ASSERT_TRUE(users);
  EXPECT_EQ((*users)[0].argon2, old_cost);
  EXPECT_EQ((*users)[1].argon2, new_cost);
  // passwd rehashes with the current cost.
  ASSERT_TRUE(store->SetPassword("alice", "alice password 2"));
  EXPECT_EQ((*store->List())[0].argon2, new_cost);
}

TEST_F(LocalUsersTest, ChangesByAnotherProcessAreSeen) {
  auto daemon = Open();
  auto cli = Open();
  EXPECT_FALSE(daemon->Authenticate("alice", "alice password 1", "")->accepted);
  ASSERT_TRUE(cli->Add("alice", "admin", "alice password 1"));
  EXPECT_TRUE(daemon->Authenticate("alice", "alice password 1", "")->accepted);
  ASSERT_TRUE(cli->Remove("alice"));
  EXPECT_FALSE(daemon->Authenticate("alice", "alice password 1", "")->accepted);
}

TEST_F(LocalUsersTest, RefusesAFileOthersMayRead) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Add("alice", "admin", "alice password 1"));
  }
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  auto store = LocalUserStore::Open(path_, {.argon2 = kCheap});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(store.error().message().find("chmod 600"), std::string::npos);
}

TEST_F(LocalUsersTest, RefusesAMalformedFile) {
  const std::string phc = *HashPassword("x", kCheap);
  for (const std::string& text : std::vector<std::string>{
           "alice admin\n",
           "alice superuser " + phc + "\n",
           "Alice admin " + phc + "\n",
           "alice admin $argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n",
           "alice admin " + phc + "\nalice auditor " + phc + "\n",
           "alice admin " + phc + " extra\n",
       }) {
    ASSERT_TRUE(fs::WriteFileAtomic(path_, text, 0600));
    auto store = LocalUserStore::Open(path_, {.argon2 = kCheap});
    ASSERT_FALSE(store) << text;
    EXPECT_EQ(store.error().code(), ErrorCode::kIntegrity) << store.error().message();
  }
  // The same breakage appearing while the daemon runs makes the back-end undecided (an
  // error), not a refusal, and mutations refuse to overwrite what they cannot parse.
  ASSERT_TRUE(fs::WriteFileAtomic(path_, "", 0600));
  auto store = Open();
  ASSERT_TRUE(fs::WriteFileAtomic(path_, "garbage line here\n", 0600));
  EXPECT_FALSE(store->Authenticate("alice", "alice password 1", ""));
  EXPECT_FALSE(store->Add("alice", "admin", "alice password 1"));
  EXPECT_EQ(ReadUsersFile(), "garbage line here\n");
}

TEST_F(LocalUsersTest, RejectsBadOptions) {
  EXPECT_FALSE(LocalUserStore::Open(path_, {.argon2 = {.memory_kib = 1, .passes = 1}}));
  EXPECT_FALSE(LocalUserStore::Open(path_, {.argon2 = kCheap, .max_concurrent_hashes = 0}));
  EXPECT_FALSE(LocalUserStore::Open(
      path_, {.argon2 = kCheap, .min_password_chars = 20, .max_password_bytes = 10}));
}

// Median of `samples` in microseconds.
double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// An attacker who times the answers must not learn which names exist: an unknown name costs
// one argon2id computation, like a wrong password. Measured as medians of interleaved tries,
// which a busy two-core machine shifts alike for both; a store that skipped the hash for
// unknown names would answer them orders of magnitude faster and fail every round.
TEST_F(LocalUsersTest, UnknownUserCostsTheSameAsAWrongPassword) {
  // Milliseconds of work per login (about 20 ms here): far above scheduling noise.
  auto store =
      Open({.argon2 = {.memory_kib = 4096, .passes = 1, .lanes = 1}, .max_concurrent_hashes = 1});
  ASSERT_TRUE(store->Add("alice", "admin", "alice password 1"));
  constexpr int kTries = 31;
  constexpr double kTolerance = 0.25;  // medians within 25% of each other
  double unknown_us = 0;
  double wrong_us = 0;
  bool close = false;
  for (int round = 0; round < 3 && !close; ++round) {
    std::vector<double> unknown;
    std::vector<double> wrong;
    for (int i = 0; i < kTries; ++i) {
      for (int kind = 0; kind < 2; ++kind) {
        // Alternate which goes first, so a drift in machine load hits both.
        const bool ask_unknown = (kind == 0) == (i % 2 == 0);
        auto start = Clock::now();
        auto outcome = ask_unknown ? store->Authenticate("mallory", "guess password", "")
                                   : store->Authenticate("alice", "guess password", "");
        auto us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
        ASSERT_TRUE(outcome);
        ASSERT_FALSE(outcome->accepted);
        (ask_unknown ? unknown : wrong).push_back(us);
      }
    }
    unknown_us = Median(unknown);
    wrong_us = Median(wrong);
    close = std::abs(unknown_us - wrong_us) <= kTolerance * std::max(unknown_us, wrong_us);
  }
  // The measurement can see a skipped hash: one hash is well above a millisecond.
  EXPECT_GT(wrong_us, 1000.0);
  EXPECT_TRUE(close) << "median unknown user " << unknown_us << " us, wrong password " << wrong_us
                     << " us";
}

// The default cost, once: what a login costs on this machine with OWASP's parameters.
TEST_F(LocalUsersTest, DefaultCostWorks) {
  auto store = Open(LocalUserOptions{});
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Add("alice", "admin", "alice password 1"));
  auto users = store->List();
  ASSERT_TRUE(users);
  EXPECT_EQ((*users)[0].argon2, Argon2Params{});
  EXPECT_TRUE(store->Authenticate("alice", "alice password 1", "")->accepted);
}

}  // namespace
}  // namespace fogkeep::auth
