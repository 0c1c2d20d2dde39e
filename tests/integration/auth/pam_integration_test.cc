// PamBackend against the real PAM stack: each test process writes its own service file
// /etc/pam.d/fogkeep-test-<pid> that authenticates with pam_pwdfile against a password file
// in a temporary directory (SHA-512 crypt hashes made with crypt(3)), and creates a system
// group and user to map roles from. All of it is removed when the suite ends. Skipped unless
// run as root with pam_pwdfile installed (Debian package libpam-pwdfile).
#include "auth/pam_backend.h"

#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "auth/chain.h"
#include "auth/local_users.h"
#include "core/fs.h"
#include "support/support.h"
#include "unit/auth/backend_contract.h"

namespace fogkeep::auth {
namespace {

bool HavePamPwdfile() {
  for (const char* dir : {"/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security",
                          "/lib/aarch64-linux-gnu/security", "/usr/lib/aarch64-linux-gnu/security",
                          "/lib/security", "/usr/lib/security"}) {
    if (::access((std::string(dir) + "/pam_pwdfile.so").c_str(), R_OK) == 0) return true;
  }
  return false;
}

// Runs a command of fixed, test-made words (no shell), retrying while another process holds
// the passwd/group lock. Returns its exit status.
int RunCommand(std::vector<std::string> argv) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) {
        ::dup2(null, 1);
        ::dup2(null, 2);
      }
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    // useradd/groupadd exit 10 when they cannot lock /etc/passwd or /etc/group.
    if (code != 10) return code;
    ::usleep(100 * 1000);
  }
  return -1;
}

std::string Sha512Crypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (::crypt_gensalt_rn("$6$", 0, nullptr, 0, salt, sizeof salt) == nullptr) std::abort();
  crypt_data data{};
  const char* hash = ::crypt_r(password.c_str(), salt, &data);
  if (hash == nullptr || hash[0] == '*') std::abort();
  return hash;
}

class PamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_ = "needs root (writes /etc/pam.d and adds a system user)";
      return;
    }
    if (!HavePamPwdfile()) {
      skip_ = "pam_pwdfile.so is not installed (libpam-pwdfile)";
      return;
    }
    const std::string id = std::to_string(::getpid());
    service_ = "fogkeep-test-" + id;
    account_service_ = "fogkeep-test-acct-" + id;
    ops_group_ = "fkt" + id + "ops";
    admin_group_ = "fkt" + id + "adm";
    system_user_ = "fkt" + id + "u";
    file_user_ = "fkt" + id + "f";
    dir_ = new testing::TempDir();
    ::chmod(dir_->path().c_str(), 0700);
    pwdfile_ = *dir_ / "pwdfile";
    std::string lines = system_user_ + ":" + Sha512Crypt(kSystemPassword) + "\n" + file_user_ +
                        ":" + Sha512Crypt(kFilePassword) + "\n";
    ASSERT_TRUE(fs::WriteFileAtomic(pwdfile_, lines, 0600));
    const std::string auth_line = "auth required pam_pwdfile.so pwdfile=" + pwdfile_ + "\n";
    ASSERT_TRUE(fs::WriteFileAtomic("/etc/pam.d/" + service_,
                                    auth_line + "account required pam_permit.so\n", 0644));
    ASSERT_TRUE(fs::WriteFileAtomic("/etc/pam.d/" + account_service_,
                                    auth_line + "account required pam_deny.so\n", 0644));
    ASSERT_EQ(RunCommand({"groupadd", "--system", ops_group_}), 0);
    ASSERT_EQ(RunCommand({"groupadd", "--system", admin_group_}), 0);
    ASSERT_EQ(RunCommand({"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                          "--groups", ops_group_ + "," + admin_group_, system_user_}),
              0);
  }

  static void TearDownTestSuite() {
    if (!service_.empty()) {
      ::unlink(("/etc/pam.d/" + service_).c_str());
      ::unlink(("/etc/pam.d/" + account_service_).c_str());
      RunCommand({"userdel", system_user_});
      RunCommand({"groupdel", ops_group_});
      RunCommand({"groupdel", admin_group_});
    }
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static std::unique_ptr<PamBackend> Make(PamOptions options) {
    auto backend = PamBackend::Create(std::move(options));
    EXPECT_TRUE(backend) << backend.error().message();
    return backend ? std::move(*backend) : nullptr;
  }

  static constexpr const char* kSystemPassword = "system user password 1";
  static constexpr const char* kFilePassword = "file-only user password 1";
  static inline std::string skip_;
  static inline std::string service_, account_service_, ops_group_, admin_group_;
  static inline std::string system_user_, file_user_, pwdfile_;
  static inline testing::TempDir* dir_ = nullptr;
};

TEST_F(PamTest, BackendContract) {
  auto pam = Make({.service = service_, .group_roles = {{ops_group_, "network-manager"}}});
  ASSERT_TRUE(pam);
  test::ExpectBackendContract(*pam, {.name = system_user_,
                                     .password = kSystemPassword,
                                     .role = "network-manager",
                                     .unknown = "fkt-nobody-" + std::to_string(::getpid())});
}

TEST_F(PamTest, WrongPasswordAndUnknownUserAreRefused) {
  auto pam = Make({.service = service_, .default_role = "auditor"});
  auto wrong = pam->Authenticate(system_user_, "not the password", "192.0.2.1");
  ASSERT_TRUE(wrong) << wrong.error().message();
  EXPECT_FALSE(wrong->accepted);
  EXPECT_FALSE(wrong->user_unknown);
  auto unknown = pam->Authenticate("fkt-nobody", kSystemPassword, "192.0.2.1");
  ASSERT_TRUE(unknown) << unknown.error().message();
  EXPECT_FALSE(unknown->accepted);
  EXPECT_TRUE(unknown->user_unknown) << "pam_pwdfile answers PAM_USER_UNKNOWN";
  // A password right for another user does not help.
  auto swapped = pam->Authenticate(file_user_, kSystemPassword, "192.0.2.1");
  ASSERT_TRUE(swapped);
  EXPECT_FALSE(swapped->accepted);
}

TEST_F(PamTest, FirstMappedGroupInConfiguredOrderGivesTheRole) {
  auto admin_first = Make({.service = service_,
                           .group_roles = {{"fkt-no-such-group", "auditor"},
                                           {admin_group_, "admin"},
                                           {ops_group_, "network-manager"}}});
  auto a = admin_first->Authenticate(system_user_, kSystemPassword, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->accepted) << a->reason;
  EXPECT_EQ(a->role, "admin");
  auto ops_first =
      Make({.service = service_,
            .group_roles = {{ops_group_, "network-manager"}, {admin_group_, "admin"}}});
  auto b = ops_first->Authenticate(system_user_, kSystemPassword, "");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->role, "network-manager");
}

TEST_F(PamTest, UserInNoMappedGroupGetsTheDefaultRoleOrNothing) {
  // file_user_ exists only in the password file: no passwd entry, no groups.
  auto with_default = Make({.service = service_,
                            .group_roles = {{ops_group_, "network-manager"}},
                            .default_role = "auditor"});
  auto a = with_default->Authenticate(file_user_, kFilePassword, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->accepted) << a->reason;
  EXPECT_EQ(a->role, "auditor");
  // The mapped group still wins over the default for a member.
  EXPECT_EQ(with_default->Authenticate(system_user_, kSystemPassword, "")->role, "network-manager");

  auto without_default =
      Make({.service = service_, .group_roles = {{ops_group_, "network-manager"}}});
  auto b = without_default->Authenticate(file_user_, kFilePassword, "");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_FALSE(b->accepted);
  EXPECT_NE(b->reason.find("no group gives a role"), std::string::npos) << b->reason;
}

TEST_F(PamTest, AccountManagementIsConsulted) {
  auto checked = Make({.service = account_service_, .default_role = "auditor"});
  auto a = checked->Authenticate(file_user_, kFilePassword, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE(a->accepted) << "pam_deny in the account stack must refuse";
  auto unchecked =
      Make({.service = account_service_, .default_role = "auditor", .check_account = false});
  auto b = unchecked->Authenticate(file_user_, kFilePassword, "");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->accepted);
}

TEST_F(PamTest, ConfigurationIsChecked) {
  // A missing service file would make libpam use "other" (the system's own accounts).
  auto missing =
      PamBackend::Create({.service = "fogkeep-test-missing-" + std::to_string(::getpid())});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(PamBackend::Create({.service = "../passwd"}));
  EXPECT_FALSE(PamBackend::Create({.service = ""}));
  EXPECT_FALSE(PamBackend::Create({.service = service_, .group_roles = {{ops_group_, "root"}}}));
  EXPECT_FALSE(PamBackend::Create({.service = service_, .group_roles = {{"", "admin"}}}));
  EXPECT_FALSE(PamBackend::Create({.service = service_, .default_role = "superuser"}));
}

// The chain over two real back-ends: a local user and a PAM user each log in through the
// back-end that knows them, in the configured order.
TEST_F(PamTest, ChainOfLocalAndPam) {
  auto local = LocalUserStore::Open(*dir_ / "users",
                                    {.argon2 = {.memory_kib = 64, .passes = 1, .lanes = 1}});
  ASSERT_TRUE(local);
  std::shared_ptr<LocalUserStore> users = std::move(*local);
  ASSERT_TRUE(users->Add("alice", "app-manager", "alice password 1"));
  std::shared_ptr<PamBackend> pam =
      Make({.service = service_, .group_roles = {{ops_group_, "network-manager"}}});
  auto chain = AuthChain::Create({{"local", users}, {"pam", pam}}, {.stop_on_reject = true});
  ASSERT_TRUE(chain);
  auto alice = (*chain)->Authenticate("alice", "alice password 1", "192.0.2.1");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->backend, "local");
  EXPECT_EQ(alice->role, "app-manager");
  ChainTrace trace;
  auto ops = (*chain)->Authenticate(system_user_, kSystemPassword, "192.0.2.1", &trace);
  ASSERT_TRUE(ops) << trace.Summary();
  EXPECT_EQ(ops->backend, "pam");
  EXPECT_EQ(ops->role, "network-manager");
  EXPECT_TRUE(trace.steps[0].user_unknown);
  auto wrong = (*chain)->Authenticate(system_user_, "nope", "192.0.2.1");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message(), "invalid credentials");
}

}  // namespace
}  // namespace fogkeep::auth
