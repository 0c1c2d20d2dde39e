// node::Apps against real runc and fogkeep-shim: whole lifecycles from a signed package,
// refusals, upgrades that keep /data and roll back, a daemon restart that leaves apps running,
// the restart monitor, and recovery from operations a crash interrupted.
//
// Every test has its own data dir, runc --root, cgroup parent and uid slots, and TearDown kills
// and removes whatever it left even when an assertion failed.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "apps_fixture.h"
#include "core/fs.h"
#include "node/apps.h"
#include "node/runtime/oci_runtime.h"
#include "node/store.h"
#include "package/stream.h"
#include "support/support.h"

namespace fogkeep::node {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

std::string Read(const std::string& path) {
  auto text = fs::ReadFile(path);
  return text ? *text : std::string();
}

class AppsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto signer = testing::MakeSigner();
    ASSERT_TRUE(signer) << signer.error().message();
    signer_ = new testing::Signer(*signer);
  }
  static void TearDownTestSuite() {
    delete signer_;
    signer_ = nullptr;
  }

  void SetUp() override {
    if (auto why = testing::MissingPrerequisite(); !why.empty()) GTEST_SKIP() << why;
    dir_ = std::make_unique<fogkeep::testing::TempDir>();
    ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
    data_dir_ = dir_->path() + "/node";
    cgroup_parent_ = testing::UniqueCgroupParent("apps");
    config_.data_dir = data_dir_;
    config_.shim_binary = testing::kShimBinary;
    config_.cgroup_parent = cgroup_parent_;
    config_.first_slot = testing::UniqueFirstSlot();
    config_.stop_grace = 5s;
    config_.backoff_initial = 200ms;
    config_.backoff_max = 1s;
    ASSERT_TRUE(OpenNode());
    TrustMaterial trust;
    trust.anchors.push_back(signer_->ca.ToPem());
    auto st = apps_->SetTrust(trust);
    ASSERT_TRUE(st) << st.error().message();
  }

  void TearDown() override {
    apps_.reset();
    if (!data_dir_.empty()) testing::DestroyNode(data_dir_, cgroup_parent_);
    dir_.reset();
  }

  // Closes the node first, if open: the data dir's lock admits one service at a time.
  bool OpenNode() {
    apps_.reset();
    auto apps = Apps::Open(config_);
    EXPECT_TRUE(apps) << apps.error().message();
    if (!apps) return false;
    apps_ = std::move(*apps);
    return true;
  }

  std::string Package(const testing::TestPackage& spec, bool sign = true) {
    auto path = testing::BuildTestPackage(dir_->path(), spec, sign ? signer_ : nullptr);
    EXPECT_TRUE(path) << path.error().message();
    return path ? *path : std::string();
  }

  Result<AppInfo> Install(const std::string& path, const std::string& id = "") {
    auto source = FK_TRY(package::FileSource::Open(path));
    return apps_->Install(source, InstallOptions{id});
  }

  Result<AppInfo> UpgradeFrom(const std::string& id, const std::string& path) {
    auto source = FK_TRY(package::FileSource::Open(path));
    return apps_->Upgrade(id, source);
  }

  AppInfo Must(Result<AppInfo> r) {
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : AppInfo{};
  }

  std::string Data(const std::string& id, const std::string& file) {
    return data_dir_ + "/apps/" + id + "/data/" + file;
  }

  bool ShimAlive(const std::string& id) {
    auto text = fs::ReadFile(data_dir_ + "/apps/" + id + "/state/shim.pid", 64);
    if (!text) return false;
    pid_t pid = std::atoi(text->c_str());
    auto stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return false;
    auto close = stat->rfind(')');
    return (*stat)[close + 2] != 'Z';
  }

  runtime::ContainerStatus ContainerStatus(const std::string& id) {
    runtime::RuntimeOptions options;
    options.root = data_dir_ + "/runtime";
    auto rt = runtime::MakeOciRuntime("runc", options);
    auto state = (*rt)->State(id);
    return state ? state->status : runtime::ContainerStatus::kAbsent;
  }

  bool StagingEmpty() {
    auto dir = fs::OpenDir(data_dir_ + "/staging");
    if (!dir) return false;
    std::size_t n = 0;
    (void)fs::Walk(data_dir_ + "/staging", [&](const std::string&, const struct stat&) -> Status {
      ++n;
      return {};
    });
    return n == 0;
  }

  static testing::Signer* signer_;
  std::unique_ptr<fogkeep::testing::TempDir> dir_;
  std::string data_dir_;
  std::string cgroup_parent_;
  AppsConfig config_;
  std::unique_ptr<Apps> apps_;
};

testing::Signer* AppsTest::signer_ = nullptr;

TEST_F(AppsTest, WholeLifecycleWithRealRunc) {
  testing::TestPackage spec;
  spec.name = "Demo App";
  spec.script =
      "echo ran > /data/proof\n"
      "env > /data/env\n"
      "cat \"$FOGKEEP_APP_CONFIG_FILE\" > /data/config-seen\n"
      "echo hello-from-the-app\n"
      "trap 'exit 0' TERM\n"
      "while true; do sleep 1; done\n";
  auto info = Must(Install(Package(spec)));
  EXPECT_EQ(info.id, "demo-app");
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_EQ(info.state, AppState::kDeployed);
  EXPECT_THAT(info.signer, HasSubstr("fogkeep test signer"));
  EXPECT_EQ(info.profile, "c1.tiny");
  EXPECT_EQ(info.memory_mb, 32);
  EXPECT_EQ(info.network, "none");
  const std::string id = info.id;
  EXPECT_TRUE(Exists(data_dir_ + "/apps/demo-app/1.0.0/rootfs/bin/busybox"));
  EXPECT_TRUE(StagingEmpty());

  // Illegal moves are refused by the lifecycle table, with its message.
  auto refused = apps_->Apply(id, AppAction::kStart);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message(), "cannot start app in DEPLOYED state (activate it first)");
  EXPECT_EQ(apps_->Apply("no-such-app", AppAction::kStart).error().code(), ErrorCode::kNotFound);

  EXPECT_EQ(Must(apps_->Apply(id, AppAction::kActivate)).state, AppState::kActivated);
  EXPECT_TRUE(Exists(data_dir_ + "/apps/demo-app/bundle/config.json"));
  EXPECT_EQ(Must(apps_->Apply(id, AppAction::kStart)).state, AppState::kRunning);
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "config-seen")).size() > 0; }))
      << *apps_->Logs(id, 0);
  EXPECT_EQ(Read(Data(id, "proof")), "ran\n");
  std::string env = Read(Data(id, "env"));
  EXPECT_THAT(env, HasSubstr("FOGKEEP_APP_ID=demo-app\n"));  // app.env cannot spoof it
  EXPECT_THAT(env, HasSubstr("FOGKEEP_APP_DATA_DIR=/data\n"));
  EXPECT_THAT(env, HasSubstr("FOGKEEP_APP_CONFIG_FILE=/data/package_config.ini\n"));
  EXPECT_THAT(env, HasSubstr("GREETING=hello\n"));
  EXPECT_EQ(Read(Data(id, "config-seen")), "[demo]\ncolour = blue\n");
  EXPECT_TRUE(
      WaitFor([&] { return apps_->Logs(id, 5)->find("hello-from-the-app") != std::string::npos; }));
  auto metrics = apps_->Metrics(id);
  ASSERT_TRUE(metrics) << metrics.error().message();
  EXPECT_GE(metrics->pids, 1u);
  EXPECT_GT(metrics->memory_bytes, 0u);
  EXPECT_EQ(metrics->memory_limit_bytes, 32u << 20);
  EXPECT_EQ(ContainerStatus(id), runtime::ContainerStatus::kRunning);

  auto deactivate = apps_->Apply(id, AppAction::kDeactivate);
  ASSERT_FALSE(deactivate);
  EXPECT_EQ(deactivate.error().message(), "cannot deactivate app in RUNNING state (stop it first)");
  auto uninstall = apps_->Uninstall(id);
  ASSERT_FALSE(uninstall);
  EXPECT_EQ(uninstall.error().code(), ErrorCode::kConflict);

  // Configuration changes reach the app at its next start.
  ASSERT_TRUE(apps_->SetConfig(id, "[demo]\ncolour = red\n"));
  auto stopped = Must(apps_->Apply(id, AppAction::kStop));
  EXPECT_EQ(stopped.state, AppState::kStopped);
  ASSERT_TRUE(stopped.last_exit.has_value());
  EXPECT_EQ(stopped.last_exit->exit_code, 0);  // its TERM trap ran
  EXPECT_FALSE(ShimAlive(id));
  EXPECT_EQ(ContainerStatus(id), runtime::ContainerStatus::kAbsent);

  ASSERT_EQ(::unlink(Data(id, "proof").c_str()), 0);
  ASSERT_EQ(::unlink(Data(id, "config-seen").c_str()), 0);
  EXPECT_EQ(Must(apps_->Apply(id, AppAction::kStart)).state, AppState::kRunning);
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "config-seen")).size() > 0; }));
  EXPECT_EQ(Read(Data(id, "proof")), "ran\n");
  EXPECT_EQ(Read(Data(id, "config-seen")), "[demo]\ncolour = red\n");
  EXPECT_EQ(Must(apps_->Apply(id, AppAction::kRestart)).state, AppState::kRunning);
  EXPECT_TRUE(ShimAlive(id));

  EXPECT_EQ(Must(apps_->Apply(id, AppAction::kStop)).state, AppState::kStopped);
  EXPECT_EQ(Must(apps_->Apply(id, AppAction::kDeactivate)).state, AppState::kDeployed);
  EXPECT_FALSE(Exists(data_dir_ + "/apps/demo-app/bundle"));
  auto removed = apps_->Uninstall(id);
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(apps_->Get(id).error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(Exists(data_dir_ + "/apps/demo-app"));
  EXPECT_TRUE(apps_->List()->empty());
}

TEST_F(AppsTest, UnsignedPackagesNeedThePolicyAndDuplicatesAreRefused) {
  testing::TestPackage spec;
  std::string unsigned_package = Package(spec, /*sign=*/false);
  auto refused = Install(unsigned_package);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kIntegrity) << refused.error().message();
  EXPECT_TRUE(StagingEmpty());
  EXPECT_TRUE(apps_->List()->empty());

  // Signed by a CA the node does not trust.
  auto stranger = testing::MakeSigner();
  ASSERT_TRUE(stranger);
  auto foreign = testing::BuildTestPackage(dir_->path(), spec, &*stranger);
  ASSERT_TRUE(foreign);
  auto untrusted = Install(*foreign);
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code(), ErrorCode::kIntegrity);

  PlatformPolicy policy;
  policy.require_signed = false;
  ASSERT_TRUE(apps_->SetPolicy(policy));
  EXPECT_FALSE(apps_->GetPolicy()->require_signed);
  auto info = Must(Install(unsigned_package, "unsigned-demo"));
  EXPECT_EQ(info.id, "unsigned-demo");
  EXPECT_EQ(info.signer, "");

  auto duplicate = Install(unsigned_package, "unsigned-demo");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(Install(unsigned_package, "Bad Id").error().code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(StagingEmpty());
  EXPECT_EQ(apps_->List()->size(), 1u);
}

TEST_F(AppsTest, CapabilitiesNeedThePolicyAndInterfacesRunWithoutBridge) {
  testing::TestPackage spec;
  spec.name = "capable";
  spec.capabilities = {"CAP_NET_BIND_SERVICE"};
  spec.declare_interface = true;
  auto info = Must(Install(Package(spec)));
  EXPECT_EQ(info.network, "none (bridge unavailable)");
  EXPECT_EQ(info.ports, std::vector<std::string>{"tcp/8080"});
  auto refused = apps_->Apply(info.id, AppAction::kActivate);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(refused.error().message(), HasSubstr("CAP_NET_BIND_SERVICE"));
  EXPECT_EQ(apps_->Get(info.id)->state, AppState::kDeployed);

  PlatformPolicy policy;
  policy.allowed_capabilities = {"CAP_NET_BIND_SERVICE"};
  ASSERT_TRUE(apps_->SetPolicy(policy));
  Must(apps_->Apply(info.id, AppAction::kActivate));
  Must(apps_->Apply(info.id, AppAction::kStart));
  EXPECT_TRUE(WaitFor([&] { return Exists(Data(info.id, "proof")); }));
  Must(apps_->Apply(info.id, AppAction::kStop));
}

TEST_F(AppsTest, UpgradeKeepsDataAndRefusesDowngrades) {
  testing::TestPackage v1;
  v1.script = "echo v1 >> /data/history\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n";
  auto info = Must(Install(Package(v1)));
  const std::string id = info.id;
  Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(id, AppAction::kStart));
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\n"; }));
  ASSERT_TRUE(apps_->SetConfig(id, "[demo]\ncolour = green\n"));

  testing::TestPackage v2 = v1;
  v2.version = "2.0.0";
  v2.script =
      "echo v2 >> /data/history\ncat /data/package_config.ini > /data/config-v2\n"
      "trap 'exit 0' TERM\nwhile true; do sleep 1; done\n";
  auto upgraded = Must(UpgradeFrom(id, Package(v2)));
  EXPECT_EQ(upgraded.version, "2.0.0");
  EXPECT_EQ(upgraded.state, AppState::kRunning);
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\nv2\n"; }))
      << Read(Data(id, "history"));
  EXPECT_TRUE(WaitFor([&] { return Read(Data(id, "config-v2")) == "[demo]\ncolour = green\n"; }));
  EXPECT_FALSE(Exists(data_dir_ + "/apps/" + id + "/1.0.0"));
  EXPECT_TRUE(Exists(data_dir_ + "/apps/" + id + "/2.0.0/rootfs"));

  auto same = UpgradeFrom(id, Package(v2));
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code(), ErrorCode::kConflict);
  auto down = UpgradeFrom(id, Package(v1));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), ErrorCode::kForbidden);
  EXPECT_THAT(down.error().message(), HasSubstr("does not allow downgrades"));
  EXPECT_EQ(apps_->Get(id)->version, "2.0.0");
  EXPECT_TRUE(StagingEmpty());
  EXPECT_TRUE(ShimAlive(id));

  PlatformPolicy policy;
  policy.allow_downgrade = true;
  ASSERT_TRUE(apps_->SetPolicy(policy));
  EXPECT_EQ(Must(UpgradeFrom(id, Package(v1))).version, "1.0.0");
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\nv2\nv1\n"; }));
  Must(apps_->Apply(id, AppAction::kStop));
}

TEST_F(AppsTest, FailedUpgradeRollsBackAndTheOldVersionRunsAgain) {
  testing::TestPackage v1;
  v1.script = "echo v1 >> /data/history\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n";
  const std::string id = Must(Install(Package(v1))).id;
  Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(id, AppAction::kStart));
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\n"; }));

  testing::TestPackage broken = v1;
  broken.version = "1.1.0";
  broken.script = "echo broken >> /data/history\nexit 1\n";
  auto failed = UpgradeFrom(id, Package(broken));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(failed.error().message(), HasSubstr("upgrade to 1.1.0 failed: "));
  EXPECT_THAT(failed.error().message(), HasSubstr("exit code 1"));
  EXPECT_THAT(failed.error().message(), HasSubstr("rolled back to 1.0.0"));

  auto info = Must(apps_->Get(id));
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_EQ(info.state, AppState::kRunning);
  // The old version really runs again: it appended to /data after the broken one.
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\nbroken\nv1\n"; }))
      << Read(Data(id, "history"));
  EXPECT_TRUE(ShimAlive(id));
  EXPECT_FALSE(Exists(data_dir_ + "/apps/" + id + "/1.1.0"));
  EXPECT_TRUE(StagingEmpty());
  Must(apps_->Apply(id, AppAction::kStop));
}

TEST_F(AppsTest, ASecondServiceOnTheSameDataDirIsRefused) {
  AppsConfig second = config_;
  second.run_monitor = false;
  auto other = Apps::Open(second);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), ErrorCode::kConflict) << other.error().message();
  EXPECT_NE(other.error().message().find("in use"), std::string::npos);
  // Released with the first one.
  apps_.reset();
  other = Apps::Open(second);
  ASSERT_TRUE(other) << other.error().message();
}

TEST_F(AppsTest, AppsKeepRunningAcrossADaemonRestartAndAreReattached) {
  const std::string id = Must(Install(Package({}))).id;
  Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(id, AppAction::kStart));
  ASSERT_TRUE(WaitFor([&] { return Exists(Data(id, "proof")); }));

  apps_.reset();  // fogkeepd exits
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(ShimAlive(id));
  EXPECT_EQ(ContainerStatus(id), runtime::ContainerStatus::kRunning);

  ASSERT_TRUE(OpenNode());
  auto info = Must(apps_->Get(id));
  EXPECT_EQ(info.state, AppState::kRunning);
  EXPECT_EQ(info.restarts, 0);
  EXPECT_TRUE(ShimAlive(id));
  auto stopped = Must(apps_->Apply(id, AppAction::kStop));
  EXPECT_EQ(stopped.state, AppState::kStopped);
  EXPECT_FALSE(ShimAlive(id));
  EXPECT_EQ(ContainerStatus(id), runtime::ContainerStatus::kAbsent);
}

TEST_F(AppsTest, AnAppThatEndsWhileTheDaemonIsAwayIsRestartedOnReopen) {
  const std::string id = Must(Install(Package({}))).id;
  Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(id, AppAction::kStart));
  ASSERT_TRUE(WaitFor([&] { return Exists(Data(id, "proof")); }));
  apps_.reset();
  // The app ends while fogkeepd is down.
  runtime::RuntimeOptions options;
  options.root = data_dir_ + "/runtime";
  ASSERT_TRUE((*runtime::MakeOciRuntime("runc", options))->Kill(id, SIGKILL));
  ASSERT_TRUE(WaitFor([&] { return !ShimAlive(id); }));
  ASSERT_EQ(::unlink(Data(id, "proof").c_str()), 0);

  ASSERT_TRUE(OpenNode());
  ASSERT_TRUE(WaitFor([&] { return apps_->Get(id)->restarts >= 1 && ShimAlive(id); }));
  auto info = Must(apps_->Get(id));
  EXPECT_EQ(info.state, AppState::kRunning);
  ASSERT_TRUE(info.last_exit.has_value());
  EXPECT_EQ(info.last_exit->signal, SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return Exists(Data(id, "proof")); }));
  Must(apps_->Apply(id, AppAction::kStop));
}

TEST_F(AppsTest, TheMonitorRestartsAnAppThatExitsWithBackoff) {
  testing::TestPackage spec;
  spec.script = "echo run >> /data/runs\nsleep 1\nexit 3\n";
  const std::string id = Must(Install(Package(spec))).id;
  Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(id, AppAction::kStart));
  ASSERT_TRUE(WaitFor([&] { return apps_->Get(id)->restarts >= 2; }, 60s));
  auto info = Must(apps_->Get(id));
  EXPECT_EQ(info.state, AppState::kRunning);
  ASSERT_TRUE(info.last_exit.has_value());
  EXPECT_EQ(info.last_exit->exit_code, 3);
  EXPECT_GE(Read(Data(id, "runs")).size(), std::string("run\nrun\n").size());

  // Stopped by the user: no more restarts.
  Must(apps_->Apply(id, AppAction::kStop));
  std::string runs = Read(Data(id, "runs"));
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(Read(Data(id, "runs")), runs);
  EXPECT_EQ(apps_->Get(id)->state, AppState::kStopped);
  EXPECT_FALSE(ShimAlive(id));
}

TEST_F(AppsTest, RecoveryRollsBackAnInterruptedInstall) {
  apps_.reset();
  std::string staging = data_dir_ + "/staging/install-crash1";
  std::string target = data_dir_ + "/apps/ghost/1.0.0";
  ASSERT_TRUE(fs::MakeDirs(staging + "/rootfs"));
  ASSERT_TRUE(fs::MakeDirs(target + "/rootfs/bin"));
  ASSERT_TRUE(fs::MakeDirs(data_dir_ + "/apps/ghost/data"));
  {
    auto store = OpenSqliteAppStore(data_dir_ + "/state.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->BeginIntent(
        Intent{0, "install", "ghost", "commit",
               "{\"staging\":\"" + staging + "\",\"target\":\"" + target + "\"}"}));
  }
  ASSERT_TRUE(OpenNode());
  EXPECT_FALSE(Exists(staging));
  EXPECT_FALSE(Exists(data_dir_ + "/apps/ghost"));
  EXPECT_TRUE(apps_->List()->empty());
  auto store = OpenSqliteAppStore(data_dir_ + "/state.db");
  EXPECT_TRUE((*store)->PendingIntents()->empty());
}

TEST_F(AppsTest, RecoveryFinishesAnInterruptedStopAndRollsBackAStart) {
  const std::string running = Must(Install(Package({}), "running")).id;
  const std::string ready = Must(Install(Package({}), "ready")).id;
  Must(apps_->Apply(running, AppAction::kActivate));
  Must(apps_->Apply(running, AppAction::kStart));
  Must(apps_->Apply(ready, AppAction::kActivate));
  apps_.reset();
  {
    // A crash after the intents were persisted, before anything was done.
    auto store = OpenSqliteAppStore(data_dir_ + "/state.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->BeginIntent(Intent{0, "stop", running, "begin", ""}));
    ASSERT_TRUE((*store)->BeginIntent(Intent{0, "start", ready, "begin", ""}));
  }
  // And a staging dir of an upgrade the crash interrupted.
  ASSERT_TRUE(fs::MakeDirs(data_dir_ + "/staging/upgrade-crash2/rootfs"));
  ASSERT_TRUE(OpenNode());
  EXPECT_EQ(apps_->Get(running)->state, AppState::kStopped);
  EXPECT_FALSE(ShimAlive(running));
  EXPECT_EQ(ContainerStatus(running), runtime::ContainerStatus::kAbsent);
  EXPECT_EQ(apps_->Get(ready)->state, AppState::kActivated);
  EXPECT_EQ(ContainerStatus(ready), runtime::ContainerStatus::kAbsent);
  EXPECT_TRUE(StagingEmpty());
}

TEST_F(AppsTest, RecoveryRemovesContainersAndShimsNoRunningAppAccountsFor) {
  const std::string orphan = Must(Install(Package({}), "orphan")).id;
  const std::string parked = Must(Install(Package({}), "parked")).id;
  for (const auto& id : {orphan, parked}) {
    Must(apps_->Apply(id, AppAction::kActivate));
    Must(apps_->Apply(id, AppAction::kStart));
  }
  ASSERT_TRUE(ShimAlive(orphan) && ShimAlive(parked));
  apps_.reset();
  {
    // The table no longer accounts for them: one row is gone, the other says STOPPED.
    auto store = OpenSqliteAppStore(data_dir_ + "/state.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->DeleteApp(orphan, std::nullopt));
    auto row = (*store)->FindApp(parked);
    ASSERT_TRUE(row && *row);
    (*row)->state = AppState::kStopped;
    ASSERT_TRUE((*store)->UpdateApp(**row, std::nullopt));
  }
  ASSERT_TRUE(OpenNode());
  EXPECT_TRUE(WaitFor([&] { return !ShimAlive(orphan) && !ShimAlive(parked); }, 15s));
  EXPECT_EQ(ContainerStatus(orphan), runtime::ContainerStatus::kAbsent);
  EXPECT_EQ(ContainerStatus(parked), runtime::ContainerStatus::kAbsent);
  EXPECT_FALSE(Exists(data_dir_ + "/apps/orphan"));
  EXPECT_FALSE(Exists("/sys/fs/cgroup/pids" + cgroup_parent_ + "/orphan"));
  EXPECT_FALSE(Exists("/sys/fs/cgroup/pids" + cgroup_parent_ + "/parked"));
  EXPECT_EQ(apps_->Get(parked)->state, AppState::kStopped);
  EXPECT_EQ(apps_->Get(orphan).error().code(), ErrorCode::kNotFound);
}

TEST_F(AppsTest, RecoveryRollsBackAnInterruptedUpgrade) {
  testing::TestPackage v1;
  v1.script = "echo v1 >> /data/history\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n";
  const std::string id = Must(Install(Package(v1))).id;
  Must(apps_->Apply(id, AppAction::kActivate));
  Must(apps_->Apply(id, AppAction::kStart));
  ASSERT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\n"; }));
  apps_.reset();
  std::string new_dir = data_dir_ + "/apps/" + id + "/9.0.0";
  ASSERT_TRUE(fs::MakeDirs(new_dir + "/rootfs"));
  {
    auto store = OpenSqliteAppStore(data_dir_ + "/state.db");
    ASSERT_TRUE((*store)->BeginIntent(
        Intent{0, "upgrade", id, "switch",
               "{\"staging\":\"\",\"new_dir\":\"" + new_dir +
                   "\",\"new_version\":\"9.0.0\",\"old_version\":\"1.0.0\"}"}));
  }
  ASSERT_TRUE(OpenNode());
  auto info = Must(apps_->Get(id));
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_EQ(info.state, AppState::kRunning);
  EXPECT_FALSE(Exists(new_dir));
  EXPECT_TRUE(WaitFor([&] { return Read(Data(id, "history")) == "v1\nv1\n"; }));
  EXPECT_TRUE(ShimAlive(id));
  Must(apps_->Apply(id, AppAction::kStop));
}

}  // namespace
}  // namespace fogkeep::node
