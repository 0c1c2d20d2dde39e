// The container runtime layer against real runc: every isolation default of DESIGN.md is
// attacked from inside a container and must hold, and the shim must record how apps end.
//
// Each test builds its own busybox rootfs (plus the static probe) in a temporary directory,
// uses its own runc --root, unique container ids and uid ranges, and removes its containers,
// cgroups and files in TearDown even when an assertion failed.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "node/runtime/cgroups.h"
#include "node/runtime/oci_runtime.h"
#include "node/runtime/shim.h"
#include "node/runtime/spec.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr char kProbe[] = FOGKEEP_PROBE_BINARY;
constexpr char kShim[] = FOGKEEP_SHIM_BINARY;
constexpr char kRunc[] = "/usr/sbin/runc";
constexpr char kBusybox[] = "/bin/busybox";

constexpr const char* kApplets[] = {"sh", "mount", "unshare", "ps",    "ip",   "cat",  "ls",
                                    "id", "echo",  "sleep",   "touch", "stat", "true", "wc"};

// Distinct per test process and call, so parallel test processes never share a uid range.
std::uint32_t NextSlot() {
  static std::uint32_t calls = 0;
  return 1000 + (static_cast<std::uint32_t>(::getpid()) % 15000) * 4 + (calls++ % 4);
}

std::string NextId(const std::string& name) {
  static int calls = 0;
  return "fk-it-" + std::to_string(::getpid()) + "-" + std::to_string(++calls) + "-" + name;
}

Status CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  auto data = FK_TRY(fs::ReadFile(from));
  FK_TRY(fs::WriteFileAtomic(to, data, mode));
  return {};
}

// chown -hR: the rootfs must belong to the app's id range, or its root cannot write /data
// or even enter directories.
Status ChownTree(const std::string& root, std::uint32_t id) {
  if (::lchown(root.c_str(), id, id) != 0) return FailErrno("chown " + root, errno);
  return fs::Walk(root, [&](const std::string& rel, const struct stat&) -> Status {
    std::string path = root + "/" + rel;
    if (::lchown(path.c_str(), id, id) != 0) return FailErrno("chown " + path, errno);
    return {};
  });
}

Status BuildRootfs(const std::string& rootfs, std::uint32_t owner) {
  for (const char* dir : {"", "/bin", "/proc", "/sys", "/dev", "/tmp", "/data", "/mnt", "/etc"}) {
    FK_TRY(fs::MakeDirs(rootfs + dir, 0755));
  }
  FK_TRY(CopyFile(kBusybox, rootfs + "/bin/busybox", 0755));
  FK_TRY(CopyFile(kProbe, rootfs + "/bin/probe", 0755));
  for (const char* applet : kApplets) {
    std::string link = rootfs + "/bin/" + applet;
    if (::symlink("busybox", link.c_str()) != 0) return FailErrno("symlink " + link, errno);
  }
  FK_TRY(fs::WriteFileAtomic(rootfs + "/etc/passwd", "root:x:0:0:root:/:/bin/sh\n", 0644));
  return ChownTree(rootfs, owner);
}

bool ProcessGone(pid_t pid) {
  auto stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  auto close = stat->rfind(')');
  return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z';
}

class RuntimeIntegrationTest : public ::testing::Test {
 protected:
  struct App {
    std::string name;
    std::string id;
    ContainerSpec spec;
    std::string bundle;
    std::string state;
    std::string data;
    std::uint64_t log_max_bytes = 1 << 20;
    int log_files = 2;
    pid_t shim_pid = 0;
  };

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: user namespaces, cgroups and runc";
    if (::access(kRunc, X_OK) != 0) GTEST_SKIP() << "runc is not installed at " << kRunc;
    if (::access(kBusybox, X_OK) != 0) GTEST_SKIP() << "busybox-static is not installed";
    // Shims detach from their starter; as a subreaper this process inherits and reaps them.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    dir_ = std::make_unique<testing::TempDir>();
    // The app's root (an unprivileged host uid) must be able to pass through to its rootfs.
    ASSERT_EQ(::chmod(dir_->path().c_str(), 0711), 0);
    RuntimeOptions options;
    options.root = dir_->path() + "/runc-root";
    runtime_ = *MakeOciRuntime("runc", options);
    cgroups_ = DetectCgroups();
    // A parent of its own, so the test can remove every cgroup it caused, parent included.
    cgroup_parent_ = "/fogkeep-test-" + std::to_string(::getpid());
  }

  void TearDown() override {
    for (const auto& app : apps_) {
      if (auto st = runtime_->Delete(app->id, /*force=*/true); !st) {
        ADD_FAILURE() << "cleanup: " << st.error().message();
      }
      if (app->shim_pid > 0 && !ProcessGone(app->shim_pid)) ::kill(app->shim_pid, SIGKILL);
      if (app->shim_pid > 0) ::waitpid(app->shim_pid, nullptr, 0);
      (void)cgroups_->Remove(CgroupsPath(app->spec));
    }
    if (cgroups_) {
      if (auto st = cgroups_->Remove(cgroup_parent_); !st)
        ADD_FAILURE() << "cleanup: " << st.error().message();
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    dir_.reset();
  }

  App& NewApp(const std::string& name, std::vector<std::string> args) {
    auto app = std::make_unique<App>();
    app->name = name;
    app->id = NextId(name);
    const std::uint32_t base = *UidBaseForSlot(NextSlot());
    std::string rootfs = dir_->path() + "/rootfs-" + name;
    app->data = dir_->path() + "/data-" + name;
    app->bundle = dir_->path() + "/bundle-" + name;
    app->state = dir_->path() + "/state-" + name;
    auto built = BuildRootfs(rootfs, base);
    EXPECT_TRUE(built) << built.error().message();
    EXPECT_TRUE(fs::MakeDirs(app->data, 0700));
    EXPECT_EQ(::chown(app->data.c_str(), base, base), 0);

    ContainerSpec& spec = app->spec;
    spec.app_id = app->id;
    spec.rootfs = rootfs;
    spec.args = std::move(args);
    spec.env = {"PATH=/bin"};
    spec.ids = {base, kAppIdRangeSize};
    spec.data_dir = app->data;
    spec.memory_limit_bytes = 64 << 20;
    spec.pids_limit = 64;
    spec.limit_swap = cgroups_->SupportsSwapLimit();
    spec.cgroup_parent = cgroup_parent_;
    apps_.push_back(std::move(app));
    return *apps_.back();
  }

  ShimConfig ConfigFor(const App& app) {
    ShimConfig config;
    config.id = app.id;
    config.bundle_dir = app.bundle;
    config.state_dir = app.state;
    config.runtime = "runc";
    config.runtime_root = dir_->path() + "/runc-root";
    config.cgroup_path = CgroupsPath(app.spec);
    config.log_max_bytes = app.log_max_bytes;
    config.log_files = app.log_files;
    return config;
  }

  Result<ShimStarted> Start(App& app) {
    FK_TRY(WriteBundle(app.bundle, app.spec));
    auto started = StartShim(kShim, ConfigFor(app));
    if (started) app.shim_pid = started->shim_pid;
    return started;
  }

  // Waits for the shim to finish (it is this process's child through the subreaper), checks
  // it ended with `shim_exit_code` (a sanitizer report would make it abort), and returns what
  // it recorded.
  ExitRecord WaitForExit(App& app, std::chrono::seconds timeout = 60s, int shim_exit_code = 0) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(app.shim_pid, &status, WNOHANG);
      if (r == app.shim_pid) {
        EXPECT_TRUE(WIFEXITED(status)) << "shim killed by signal " << WTERMSIG(status);
        if (WIFEXITED(status)) {
          EXPECT_EQ(WEXITSTATUS(status), shim_exit_code);
        }
      }
      if (r == app.shim_pid || (r < 0 && ProcessGone(app.shim_pid))) {
        app.shim_pid = 0;
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(app.shim_pid, 0) << "shim still running after " << timeout.count() << " s";
    auto record = ReadExitRecord(app.state);
    EXPECT_TRUE(record) << (record ? "" : record.error().message());
    return record ? *record : ExitRecord{};
  }

  // Runs the app to its end and returns its record; its output is in Log(app).
  ExitRecord RunToEnd(App& app) {
    auto started = Start(app);
    EXPECT_TRUE(started) << started.error().message();
    if (!started) return ExitRecord{};
    return WaitForExit(app);
  }

  std::string Log(const App& app, std::string_view suffix = "") {
    auto text = fs::ReadFile(app.state + "/app.log" + std::string(suffix));
    return text ? *text : std::string();
  }

  // Polls the app's log until it contains `needle`.
  bool WaitForLog(const App& app, std::string_view needle, std::chrono::seconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Log(app).find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<OciRuntime> runtime_;
  std::unique_ptr<Cgroups> cgroups_;
  std::string cgroup_parent_;
  std::vector<std::unique_ptr<App>> apps_;
};

TEST_F(RuntimeIntegrationTest, MountFailsInsideTheContainer) {
  auto& app = NewApp(
      "mount", {"/bin/sh", "-c", "mount -t tmpfs x /mnt; echo mount-rc=$?; exec /bin/probe mount"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  EXPECT_THAT(log, HasSubstr("mount-rc="));
  EXPECT_THAT(log, Not(HasSubstr("mount-rc=0")));
  EXPECT_THAT(log, HasSubstr("mount: EPERM"));
  EXPECT_THAT(log, HasSubstr("umount2: EPERM"));
  EXPECT_THAT(log, HasSubstr("pivot_root: EPERM"));
}

TEST_F(RuntimeIntegrationTest, NamespaceCreationIsBlockedBySeccomp) {
  auto& app = NewApp(
      "ns", {"/bin/sh", "-c", "unshare -U true; echo unshare-rc=$?; exec /bin/probe namespaces"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  EXPECT_THAT(log, HasSubstr("unshare-rc="));
  EXPECT_THAT(log, Not(HasSubstr("unshare-rc=0")));
  EXPECT_THAT(log, HasSubstr("unshare-user: EPERM"));
  EXPECT_THAT(log, HasSubstr("unshare-mount: EPERM"));
  EXPECT_THAT(log, HasSubstr("unshare-net: EPERM"));
  EXPECT_THAT(log, HasSubstr("setns: EPERM"));
  EXPECT_THAT(log, HasSubstr("clone-newuser: EPERM"));
  EXPECT_THAT(log, HasSubstr("clone-newpid: EPERM"));
  // libc falls back from clone3 to clone, whose flags the filter can see.
  EXPECT_THAT(log, HasSubstr("clone3: ENOSYS"));
  EXPECT_THAT(log, HasSubstr("fork: ok"));
}

TEST_F(RuntimeIntegrationTest, KeyringAndKernelInterfacesAreBlocked) {
  auto& app = NewApp("kernel", {"/bin/sh", "-c", "/bin/probe keyring; /bin/probe kernel"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  for (const char* line :
       {"keyctl: EPERM", "add_key: EPERM", "request_key: EPERM", "ptrace: EPERM", "bpf: EPERM",
        "perf_event_open: EPERM", "open_by_handle_at: EPERM", "userfaultfd: EPERM",
        "io_uring_setup: EPERM", "kexec_load: EPERM", "init_module: EPERM",
        "personality-addr-no-randomize: EPERM", "personality-query: ok", "socket-vsock: EPERM",
        "socket-vsock-high-bits: EPERM", "socket-unix: ok", "socket-inet: ok",
        // Past the refused family, the allowed blocks reach the kernel.
        "socket-family-49: EAFNOSUPPORT", "socket-family-63: EAFNOSUPPORT",
        "socket-family-64: EPERM"}) {
    EXPECT_THAT(log, HasSubstr(line));
  }
}

TEST_F(RuntimeIntegrationTest, NoCapabilitiesNoNewPrivilegesAndSeccompFilter) {
  auto& app = NewApp("caps", {"/bin/probe", "status"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  for (const char* line :
       {"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2",
        "Uid:\t0\t0\t0\t0"}) {
    EXPECT_THAT(log, HasSubstr(line));
  }
}

TEST_F(RuntimeIntegrationTest, RootfsIsReadOnlyWhileDataAndTmpAreWritable) {
  auto& app = NewApp("ro", {"/bin/probe", "write"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  EXPECT_THAT(log, HasSubstr("write-root: EROFS"));
  EXPECT_THAT(log, HasSubstr("write-etc: EROFS"));
  EXPECT_THAT(log, HasSubstr("write-tmp: ok"));
  EXPECT_THAT(log, HasSubstr("write-data: ok"));
}

TEST_F(RuntimeIntegrationTest, OnlyTheContainersProcessesAreVisible) {
  auto& app = NewApp("pid", {"/bin/sh", "-c", "ps -o pid,comm; exec /bin/probe ps"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  // busybox ps sees the app's shell as pid 1 and itself, nothing of the host ...
  EXPECT_THAT(log, HasSubstr("PID   COMMAND\n    1 sh\n"));
  auto probe = log.find("pid ");
  ASSERT_NE(probe, std::string::npos) << log;
  std::size_t ps_lines = 0;
  for (char c : log.substr(0, probe)) ps_lines += c == '\n';
  EXPECT_EQ(ps_lines, 3u) << log;  // header, sh, ps
  // ... and once the shell has exec'd the probe, the probe is pid 1 and alone.
  EXPECT_EQ(log.substr(probe), "pid 1 probe\nself 1\n");
  EXPECT_THAT(log, Not(HasSubstr("runc")));
  EXPECT_THAT(log, Not(HasSubstr("fogkeep")));
}

TEST_F(RuntimeIntegrationTest, NetworkNamespaceHoldsOnlyLoopback) {
  auto& app = NewApp("net", {"/bin/sh", "-c", "ip -o link; /bin/probe net"});
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_EQ(record.exit_code, 0) << log;
  EXPECT_THAT(log, HasSubstr("netdev lo\n"));
  EXPECT_THAT(log, HasSubstr("sysnet lo\n"));
  std::size_t netdevs = 0;
  for (std::size_t pos = log.find("netdev "); pos != std::string::npos;
       pos = log.find("netdev ", pos + 1))
    ++netdevs;
  std::size_t sysnets = 0;
  for (std::size_t pos = log.find("sysnet "); pos != std::string::npos;
       pos = log.find("sysnet ", pos + 1))
    ++sysnets;
  EXPECT_EQ(netdevs, 1u) << log;
  EXPECT_EQ(sysnets, 1u) << log;
  EXPECT_THAT(log, HasSubstr("1: lo:"));
  EXPECT_THAT(log, Not(HasSubstr("2: ")));
}

TEST_F(RuntimeIntegrationTest, ContainerRootIsAnUnprivilegedHostUid) {
  auto& app = NewApp(
      "uid", {"/bin/sh", "-c", "/bin/probe touch /data/made-by-root; exec /bin/probe sleep 60"});
  auto started = Start(app);
  ASSERT_TRUE(started) << started.error().message();
  const std::uint32_t base = app.spec.ids.host_base;
  ASSERT_GE(base, kFirstAppUid);

  // From the host: the container's init runs as the range's first uid ...
  auto status = fs::ReadFile("/proc/" + std::to_string(started->container_pid) + "/status");
  ASSERT_TRUE(status);
  std::string uid_line = "Uid:\t" + std::to_string(base) + "\t" + std::to_string(base) + "\t" +
                         std::to_string(base) + "\t" + std::to_string(base) + "\n";
  EXPECT_THAT(*status, HasSubstr(uid_line));
  // ... and what "root" creates in /data belongs to that uid, not to host root.
  ASSERT_TRUE(WaitForLog(app, "touch: ok"));
  struct stat st {};
  ASSERT_EQ(::stat((app.data + "/made-by-root").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, base);
  EXPECT_EQ(st.st_gid, base);

  auto state = runtime_->State(app.id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, ContainerStatus::kRunning);
  EXPECT_EQ(state->pid, started->container_pid);
  ASSERT_TRUE(runtime_->Kill(app.id, SIGKILL));
  auto record = WaitForExit(app);
  EXPECT_EQ(record.signal, SIGKILL);
  EXPECT_EQ(record.pid, started->container_pid);
}

TEST_F(RuntimeIntegrationTest, MemoryLimitOomKillsTheAppAndTheShimRecordsIt) {
  auto& app = NewApp("oom", {"/bin/probe", "alloc", "256"});
  app.spec.memory_limit_bytes = 32 << 20;
  auto record = RunToEnd(app);
  std::string log = Log(app);
  EXPECT_THAT(log, HasSubstr("allocated 4 MiB"));
  EXPECT_THAT(log, Not(HasSubstr("alloc: survived")));
  EXPECT_THAT(log, Not(HasSubstr("allocated 40 MiB")));
  EXPECT_EQ(record.signal, SIGKILL) << log;
  EXPECT_TRUE(record.oom_killed);
  EXPECT_GE(record.oom_kills, 1u);
  EXPECT_TRUE(record.error.empty()) << record.error;
}

TEST_F(RuntimeIntegrationTest, PidsLimitStopsAForkBomb) {
  auto& app = NewApp("forkbomb", {"/bin/probe", "forkbomb"});
  app.spec.pids_limit = 32;
  auto started = Start(app);
  ASSERT_TRUE(started) << started.error().message();
  ASSERT_TRUE(WaitForLog(app, "forkbomb: forked")) << Log(app);
  // While the bomb holds all it could get, the cgroup is at (not over) its limit.
  auto current = cgroups_->PidsCurrent(CgroupsPath(app.spec));
  ASSERT_TRUE(current) << current.error().message();
  EXPECT_LE(*current, 32u);
  EXPECT_GE(*current, 30u);
  ASSERT_TRUE(fs::WriteFileAtomic(app.data + "/release", ""));
  auto record = WaitForExit(app);
  std::string log = Log(app);
  EXPECT_THAT(log, HasSubstr("then EAGAIN"));
  int forked = -1;
  auto pos = log.find("forkbomb: forked ");
  ASSERT_NE(pos, std::string::npos);
  forked = std::stoi(log.substr(pos + 17));
  EXPECT_LT(forked, 32);
  EXPECT_GT(forked, 0);
  EXPECT_EQ(record.exit_code, 0) << log;
  EXPECT_EQ(record.signal, 0);
}

TEST_F(RuntimeIntegrationTest, AnotherAppsDataIsNotReachable) {
  auto& victim = NewApp("victim", {"/bin/probe", "exit", "0"});
  ASSERT_TRUE(fs::WriteFileAtomic(victim.data + "/secret", "victim-secret-42\n", 0600));
  ASSERT_EQ(::chown((victim.data + "/secret").c_str(), victim.spec.ids.host_base,
                    victim.spec.ids.host_base),
            0);
  auto& attacker =
      NewApp("attacker",
             {"/bin/sh", "-c",
              "ls -a /data; cat " + victim.data + "/secret; /bin/probe read " + victim.data +
                  "/secret; /bin/probe read /data/../../" + victim.data + "/secret; echo done"});
  ASSERT_NE(victim.spec.ids.host_base, attacker.spec.ids.host_base);
  auto record = RunToEnd(attacker);
  std::string log = Log(attacker);
  EXPECT_EQ(record.exit_code, 0) << log;
  EXPECT_THAT(log, HasSubstr("read: ENOENT"));
  EXPECT_THAT(log, Not(HasSubstr("read: ok")));
  EXPECT_THAT(log, Not(HasSubstr("victim-secret-42")));
  EXPECT_THAT(log, Not(HasSubstr("secret\n")));  // not in the attacker's own /data listing
  EXPECT_THAT(log, HasSubstr("done"));
}

TEST_F(RuntimeIntegrationTest, ShimSurvivesTheDeathOfItsStarter) {
  auto& app = NewApp("survivor", {"/bin/probe", "sleep", "120"});
  ASSERT_TRUE(WriteBundle(app.bundle, app.spec));
  ShimConfig config = ConfigFor(app);

  // The starter (a stand-in for fogkeepd) runs in its own process group; the test SIGKILLs
  // the whole group once the shim reports the container running.
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  pid_t starter = ::fork();
  ASSERT_GE(starter, 0);
  if (starter == 0) {
    ::setpgid(0, 0);
    ::close(report[0]);
    auto started = StartShim(kShim, config);
    ShimStarted out = started ? *started : ShimStarted{};
    (void)!::write(report[1], &out, sizeof(out));
    while (true) ::pause();
  }
  ::close(report[1]);
  ShimStarted started{};
  ASSERT_EQ(::read(report[0], &started, sizeof(started)), static_cast<ssize_t>(sizeof(started)));
  ::close(report[0]);
  app.shim_pid = started.shim_pid;
  ASSERT_GT(started.shim_pid, 0) << "StartShim failed in the starter; see " << app.state
                                 << "/shim.log";

  ::setpgid(starter, starter);  // in case the child had not run setpgid yet
  ASSERT_EQ(::kill(-starter, SIGKILL), 0);
  ASSERT_EQ(::waitpid(starter, nullptr, 0), starter);
  std::this_thread::sleep_for(300ms);

  EXPECT_FALSE(ProcessGone(started.shim_pid)) << "the shim died with its starter";
  auto state = runtime_->State(app.id);
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->status, ContainerStatus::kRunning);
  auto shim_pid_file = fs::ReadFile(app.state + "/shim.pid");
  ASSERT_TRUE(shim_pid_file);
  EXPECT_EQ(std::stoi(*shim_pid_file), started.shim_pid);

  // The shim still does its job after the starter is gone: it records the end (the probe
  // exits 143 on SIGTERM, as a service would).
  ASSERT_TRUE(WaitForLog(app, "sleep: ready"));
  ASSERT_TRUE(runtime_->Kill(app.id, SIGTERM));
  auto record = WaitForExit(app);
  EXPECT_EQ(record.exit_code, 143);
  EXPECT_EQ(record.pid, started.container_pid);
  auto after = runtime_->State(app.id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, ContainerStatus::kAbsent) << "the shim deletes the container";
}

// One shim runs per app for the app's whole life; its resident memory is budgeted at 1 MiB.
// Measured while it copies output, after the container has started. Sanitizer builds link the
// shim dynamically with ASan's runtime, so only the static (release) shim is held to it.
TEST_F(RuntimeIntegrationTest, ShimResidentMemoryStaysSmall) {
  auto& app = NewApp("rss", {"/bin/sh", "-c", "/bin/probe spam 100000; exec /bin/probe sleep 60"});
  auto started = Start(app);
  ASSERT_TRUE(started) << started.error().message();
  ASSERT_TRUE(WaitForLog(app, "spam: done"));
  auto status = fs::ReadFile("/proc/" + std::to_string(started->shim_pid) + "/status");
  ASSERT_TRUE(status);
  auto field_kib = [&](std::string_view name) {
    auto pos = status->find(std::string(name) + ":");
    return pos == std::string::npos ? -1L : std::stol(status->substr(pos + name.size() + 1));
  };
  long rss_kib = field_kib("VmRSS");
  long hwm_kib = field_kib("VmHWM");
  RecordProperty("shim_rss_kib", static_cast<int>(rss_kib));
  RecordProperty("shim_peak_rss_kib", static_cast<int>(hwm_kib));
  std::cout << "fogkeep-shim VmRSS " << rss_kib << " KiB, VmHWM " << hwm_kib << " KiB\n";
#if FOGKEEP_STATIC_SHIM
  EXPECT_LE(rss_kib, 1024);
  EXPECT_LE(hwm_kib, 1024);
#endif
  ASSERT_TRUE(runtime_->Kill(app.id, SIGKILL));
  EXPECT_EQ(WaitForExit(app).signal, SIGKILL);
}

TEST_F(RuntimeIntegrationTest, SigtermToTheShimStopsTheAppGracefully) {
  auto& app = NewApp("sigterm", {"/bin/probe", "sleep", "120"});
  auto started = Start(app);
  ASSERT_TRUE(started) << started.error().message();
  ASSERT_TRUE(WaitForLog(app, "sleep: ready"));
  // The shim passes SIGTERM on to the app and records how it ended.
  ASSERT_EQ(::kill(started->shim_pid, SIGTERM), 0);
  auto record = WaitForExit(app, 30s);
  EXPECT_EQ(record.exit_code, 143);
  EXPECT_EQ(record.signal, 0);
  EXPECT_EQ(runtime_->State(app.id)->status, ContainerStatus::kAbsent);
}

TEST_F(RuntimeIntegrationTest, LogsAreCappedAndRotated) {
  auto& app = NewApp("logs", {"/bin/probe", "spam", "20000"});
  app.log_max_bytes = 4096;
  app.log_files = 2;
  auto record = RunToEnd(app);
  EXPECT_EQ(record.exit_code, 0);
  std::string current = Log(app);
  std::string previous = Log(app, ".1");
  EXPECT_LE(current.size(), 4096u);
  EXPECT_LE(previous.size(), 4096u);
  EXPECT_FALSE(previous.empty());
  EXPECT_NE(::access((app.state + "/app.log.2").c_str(), F_OK), 0);
  EXPECT_THAT(current, HasSubstr("spam: done"));
  // The two files hold the tail of the output, in order: the newest line of app.log.1 comes
  // right before the oldest of app.log.
  std::string tail = previous + current;
  EXPECT_EQ(tail.find("line 00000000"), std::string::npos) << "the oldest output was dropped";
  auto last_prev = previous.rfind("line ");
  auto first_cur = current.find("line ");
  ASSERT_NE(last_prev, std::string::npos);
  ASSERT_NE(first_cur, std::string::npos);
  if (previous.back() == '\n' && first_cur == 0) {
    EXPECT_EQ(std::stol(previous.substr(last_prev + 5)) + 1,
              std::stol(current.substr(first_cur + 5)));
  }
}

TEST_F(RuntimeIntegrationTest, ExitCodeIsRecorded) {
  auto& app = NewApp("exit", {"/bin/probe", "exit", "7"});
  auto record = RunToEnd(app);
  EXPECT_EQ(record.exit_code, 7);
  EXPECT_EQ(record.signal, 0);
  EXPECT_FALSE(record.oom_killed);
  EXPECT_GT(record.pid, 0);
  EXPECT_GT(record.finished_at, 0);
  // runc delete ran and the cgroup is gone.
  auto state = runtime_->State(app.id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, ContainerStatus::kAbsent);
  EXPECT_FALSE(cgroups_->PidsCurrent(CgroupsPath(app.spec)));
}

TEST_F(RuntimeIntegrationTest, StartFailureIsReportedByTheShim) {
  auto& app = NewApp("missing", {"/bin/does-not-exist"});
  auto started = Start(app);
  ASSERT_FALSE(started);
  EXPECT_THAT(started.error().message(), HasSubstr("does-not-exist"));
  auto record = WaitForExit(app, 60s, /*shim_exit_code=*/1);
  EXPECT_THAT(record.error, HasSubstr("does-not-exist"));
  auto state = runtime_->State(app.id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, ContainerStatus::kAbsent);
}

TEST_F(RuntimeIntegrationTest, DriverLifecycleWithoutTheShim) {
  auto& app = NewApp("driver", {"/bin/probe", "sleep", "60"});
  ASSERT_TRUE(WriteBundle(app.bundle, app.spec));
  CreateOptions create;
  create.bundle_dir = app.bundle;
  create.pid_file = dir_->path() + "/driver.pid";
  create.log_file = dir_->path() + "/driver-runtime.log";
  // The descriptors given to Create become the container's stdio.
  std::string out_path = dir_->path() + "/driver.out";
  fs::UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(out.valid());
  create.stdout_fd = out.get();
  ASSERT_TRUE(runtime_->Create(app.id, create));
  out.Reset();
  auto created = runtime_->State(app.id);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, ContainerStatus::kCreated);
  EXPECT_GT(created->pid, 0);
  std::string bundle = app.bundle;  // runc reports the path cleaned
  for (auto pos = bundle.find("//"); pos != std::string::npos; pos = bundle.find("//"))
    bundle.erase(pos, 1);
  EXPECT_EQ(created->bundle, bundle);
  ASSERT_TRUE(runtime_->Start(app.id));
  EXPECT_EQ(runtime_->State(app.id)->status, ContainerStatus::kRunning);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    ready = fs::ReadFile(out_path).value_or("").find("sleep: ready") != std::string::npos;
    if (!ready) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(ready) << "the container's stdout did not reach the given descriptor";
  ASSERT_TRUE(runtime_->Kill(app.id, SIGKILL));
  for (int i = 0; i < 100 && runtime_->State(app.id)->status != ContainerStatus::kStopped; ++i) {
    ::waitpid(-1, nullptr, WNOHANG);  // the init is our child through the subreaper
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(runtime_->State(app.id)->status, ContainerStatus::kStopped);
  auto kill_stopped = runtime_->Kill(app.id, SIGKILL);
  EXPECT_FALSE(kill_stopped);
  ASSERT_TRUE(runtime_->Delete(app.id, false));
  EXPECT_EQ(runtime_->State(app.id)->status, ContainerStatus::kAbsent);
  EXPECT_TRUE(runtime_->Delete(app.id, false)) << "deleting an absent container is fine";
  auto kill_absent = runtime_->Kill(app.id, SIGKILL);
  ASSERT_FALSE(kill_absent);
  EXPECT_EQ(kill_absent.error().code(), ErrorCode::kNotFound);
}

TEST_F(RuntimeIntegrationTest, RuncOnThisHostPassesTheVersionCheckWithAWarningOrCleanly) {
  auto version = runtime_->Version();
  ASSERT_TRUE(version) << version.error().message();
  EXPECT_EQ(version->name, "runc");
  EXPECT_FALSE(version->version.empty());
  auto verified = VerifyRuntime(*runtime_, DefaultVersionPolicy("runc"));
  ASSERT_TRUE(verified) << verified.error().message();
  EXPECT_EQ(verified->version.version, version->version);
  if (version->version.starts_with("1.1.")) {
    EXPECT_THAT(verified->warning, HasSubstr("distribution build"))
        << "Debian 12's runc is accepted with a warning";
  }
}

TEST_F(RuntimeIntegrationTest, CrunIsSelectableByName) {
  if (::access("/usr/bin/crun", X_OK) != 0) GTEST_SKIP() << "crun is not installed";
  RuntimeOptions options;
  options.root = dir_->path() + "/crun-root";
  auto crun = MakeOciRuntime("crun", options);
  ASSERT_TRUE(crun);
  EXPECT_EQ((*crun)->name(), "crun");
  auto version = (*crun)->Version();
  ASSERT_TRUE(version) << version.error().message();
  EXPECT_EQ(version->name, "crun");
  EXPECT_TRUE(CheckRuntimeVersion(*version, DefaultVersionPolicy("crun")));
  auto absent = (*crun)->State("fk-it-never-created");
  ASSERT_TRUE(absent) << absent.error().message();
  EXPECT_EQ(absent->status, ContainerStatus::kAbsent);

  // Where crun can run containers it must create one from fogkeep's bundle; where it refuses
  // (crun 1.8 on a cgroup v1/hybrid host) its reason must reach the caller.
  auto& app = NewApp("crun", {"/bin/probe", "status"});
  ASSERT_TRUE(WriteBundle(app.bundle, app.spec));
  CreateOptions create;
  create.bundle_dir = app.bundle;
  create.pid_file = dir_->path() + "/crun.pid";
  create.log_file = dir_->path() + "/crun-runtime.log";
  auto created = (*crun)->Create(app.id, create);
  if (!created) {
    EXPECT_THAT(created.error().message(), HasSubstr("crun create"));
    EXPECT_GT(created.error().message().size(), std::string("crun create " + app.id + ": ").size());
    EXPECT_EQ((*crun)->State(app.id)->status, ContainerStatus::kAbsent);
    RecordProperty("crun_refused", created.error().message());
    return;
  }
  EXPECT_TRUE((*crun)->Delete(app.id, true));
}

}  // namespace
}  // namespace fogkeep::node::runtime
