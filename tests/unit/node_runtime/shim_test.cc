// The shim's logic without a real runtime: a fake runtime script starts an ordinary process
// as the "container", so these tests need no root. tests/integration/runtime runs the real
// fogkeep-shim with runc.
#include "node/runtime/shim.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs RunShim in a child process (it makes its caller a subreaper and blocks signals, which
// a test process should not have done to it) and returns the child's exit code.
int RunShimInChild(const ShimConfig& config) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(RunShim(config));
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Replace(std::string text, std::string_view from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

class ShimTest : public ::testing::Test {
 protected:
  // A runtime whose `create` starts `app` (a shell snippet) in the background, holding the
  // container's stdio, and whose `start` lets it run; `run` does both. The "init" starts only
  // once the runtime script has exited, as with runc: a shell reaps background children that
  // end while it still runs. With `runtime_reaps`, it does exactly that: the init runs at
  // once and the runtime waits for it, so its end never reaches the shim.
  void WriteRuntime(const std::string& app, bool create_fails = false, bool runtime_reaps = false) {
    std::string text = R"(#!/bin/sh
echo "$*" >> DIR/calls
pidfile=
log=
prev=
for a in "$@"; do
  [ "$prev" = --pid-file ] && pidfile=$a
  [ "$prev" = --log ] && log=$a
  prev=$a
done
case "$*" in
  *" create "*|*" run "*)
    if [ FAILS = yes ]; then
      echo '{"level":"error","msg":"cannot set up the container"}' >> "$log"; exit 1
    fi
    case "$*" in *" run "*) touch DIR/started ;; esac
    /bin/sh -c 'GATE
      while [ ! -e DIR/started ]; do sleep 0.02; done; APP' &
    echo $! > "$pidfile"
    REAP ;;
  *" start "*) touch DIR/started ;;
esac
exit 0
)";
    text = Replace(text, "DIR", dir_.path());
    text = Replace(text, "FAILS", create_fails ? "yes" : "no");
    text = Replace(text, "GATE",
                   runtime_reaps ? "true" : "while kill -0 '$$' 2>/dev/null; do sleep 0.01; done");
    text = Replace(text, "REAP", runtime_reaps ? "wait" : "true");
    text = Replace(text, "APP", app);
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "runtime", text, 0755));
  }

  ShimConfig Config() {
    ShimConfig c;
    c.id = "unit-app";
    c.bundle_dir = dir_ / "bundle";
    c.state_dir = dir_ / "state";
    c.runtime_binary = dir_ / "runtime";
    c.runtime_root = dir_ / "root";
    return c;
  }

  std::string Calls() { return fs::ReadFile(dir_ / "calls").value_or(""); }

  testing::TempDir dir_;
};

TEST_F(ShimTest, CopiesOutputWaitsAndRecordsTheExit) {
  WriteRuntime("echo from-app; echo app-err >&2; exit 3");
  ASSERT_EQ(RunShimInChild(Config()), 0);
  auto record = ReadExitRecord(dir_ / "state");
  ASSERT_TRUE(record) << record.error().message();
  EXPECT_EQ(record->exit_code, 3);
  EXPECT_EQ(record->signal, 0);
  EXPECT_TRUE(record->error.empty()) << record->error;
  EXPECT_GT(record->pid, 0);
  auto log = fs::ReadFile(dir_ / "state/app.log");
  ASSERT_TRUE(log);
  EXPECT_THAT(*log, HasSubstr("from-app\n"));
  EXPECT_THAT(*log, HasSubstr("app-err\n"));
  // The shim deleted the container after recording its end.
  std::string calls = Calls();
  EXPECT_THAT(calls, HasSubstr(" run --detach --bundle " + (dir_ / "bundle")));
  EXPECT_THAT(calls, HasSubstr(" delete --force unit-app"));
  auto pid_file = fs::ReadFile(dir_ / "state/shim.pid");
  ASSERT_TRUE(pid_file);
}

TEST_F(ShimTest, AnInitReapedBehindItsBackEndsTheShimWithAnUnknownStatus) {
  WriteRuntime("exit 5", /*create_fails=*/false, /*runtime_reaps=*/true);
  ASSERT_EQ(RunShimInChild(Config()), 0);  // returns: the shim does not wait forever
  auto record = ReadExitRecord(dir_ / "state");
  ASSERT_TRUE(record) << record.error().message();
  EXPECT_EQ(record->exit_code, -1);
  EXPECT_NE(record->error.find("ended unseen"), std::string::npos) << record->error;
}

TEST_F(ShimTest, RecordsASignal) {
  WriteRuntime("kill -KILL $$");
  ASSERT_EQ(RunShimInChild(Config()), 0);
  auto record = ReadExitRecord(dir_ / "state");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->signal, SIGKILL) << record->error;
  EXPECT_EQ(record->exit_code, -1) << record->error;
}

TEST_F(ShimTest, ReportsReadinessAndCreateFailureThroughTheReadyPipe) {
  WriteRuntime("true", /*create_fails=*/true);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  auto config = Config();
  config.ready_fd = ::fcntl(fds[1], F_DUPFD, 10);  // the shim owns and closes it
  ::close(fds[1]);
  EXPECT_EQ(RunShimInChild(config), 1);
  ::close(config.ready_fd);
  char buf[512] = {};
  ASSERT_GT(::read(fds[0], buf, sizeof(buf) - 1), 0);
  ::close(fds[0]);
  EXPECT_THAT(std::string(buf), HasSubstr("error runc run unit-app: cannot set up the container"));
  auto record = ReadExitRecord(dir_ / "state");
  ASSERT_TRUE(record);
  EXPECT_THAT(record->error, HasSubstr("cannot set up the container"));
}

TEST_F(ShimTest, AStaleRecordIsRemovedAtStart) {
  WriteRuntime("exit 0");
  ASSERT_TRUE(fs::MakeDirs(dir_ / "state"));
  ExitRecord stale;
  stale.exit_code = 99;
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "state/exit.json", FormatExitRecord(stale)));
  ASSERT_EQ(RunShimInChild(Config()), 0);
  EXPECT_EQ(ReadExitRecord(dir_ / "state")->exit_code, 0);
}

TEST_F(ShimTest, OneShimPerStateDirectory) {
  WriteRuntime("exit 0");
  EXPECT_EQ(*IsShimRunning(dir_ / "state"), false);
  ASSERT_TRUE(fs::MakeDirs(dir_ / "state"));
  // Stand in for a running shim: hold the lock from another process.
  pid_t holder = ::fork();
  if (holder == 0) {
    int fd = ::open((dir_ / "state/shim.lock").c_str(), O_RDWR | O_CREAT, 0600);
    ::flock(fd, LOCK_EX);
    ::pause();
    ::_exit(0);
  }
  for (int i = 0; i < 200 && !*IsShimRunning(dir_ / "state"); ++i) ::usleep(10000);
  EXPECT_EQ(*IsShimRunning(dir_ / "state"), true);
  ExitRecord earlier;
  earlier.exit_code = 5;
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "state/exit.json", FormatExitRecord(earlier)));
  EXPECT_EQ(RunShimInChild(Config()), 1);
  EXPECT_EQ(ReadExitRecord(dir_ / "state")->exit_code, 5)
      << "the running shim's files are untouched";
  EXPECT_THAT(Calls(), Not(HasSubstr("--bundle"))) << "no second container";
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  EXPECT_EQ(*IsShimRunning(dir_ / "state"), false);
}

TEST(ShimArgsTest, RoundTrip) {
  ShimConfig c;
  c.id = "app-1";
  c.bundle_dir = "/var/lib/fogkeep/bundles/app-1";
  c.state_dir = "/run/fogkeep/apps/app-1";
  c.runtime = "crun";
  c.runtime_binary = "/usr/local/bin/crun";
  c.runtime_root = "/run/fogkeep/crun";
  c.cgroup_path = "/fogkeep/app-1";
  c.cgroup_root = "/sys/fs/cgroup";
  c.log_max_bytes = 4096;
  c.log_files = 3;
  c.ready_fd = 3;
  auto args = ShimArguments(c);
  std::vector<const char*> argv = {"fogkeep-shim"};
  for (const auto& a : args) argv.push_back(a.c_str());
  auto parsed = ParseShimArguments(static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->id, c.id);
  EXPECT_EQ(parsed->bundle_dir, c.bundle_dir);
  EXPECT_EQ(parsed->state_dir, c.state_dir);
  EXPECT_EQ(parsed->runtime, c.runtime);
  EXPECT_EQ(parsed->runtime_binary, c.runtime_binary);
  EXPECT_EQ(parsed->runtime_root, c.runtime_root);
  EXPECT_EQ(parsed->cgroup_path, c.cgroup_path);
  EXPECT_EQ(parsed->cgroup_root, c.cgroup_root);
  EXPECT_EQ(parsed->log_max_bytes, 4096u);
  EXPECT_EQ(parsed->log_files, 3);
  EXPECT_EQ(parsed->ready_fd, 3);
}

TEST(ShimArgsTest, RejectsBadInput) {
  auto parse = [](std::vector<const char*> argv) {
    argv.insert(argv.begin(), "fogkeep-shim");
    return ParseShimArguments(static_cast<int>(argv.size()), argv.data());
  };
  EXPECT_TRUE(parse({"--id=a", "--bundle=/b", "--state-dir=/s"}));
  EXPECT_EQ(parse({"--id=a", "--bundle=/b", "--state-dir=/s"})->runtime, "runc");
  EXPECT_FALSE(parse({"--id=-rf", "--bundle=/b", "--state-dir=/s"}));
  EXPECT_FALSE(parse({"--id=a", "--bundle=b", "--state-dir=/s"}));
  EXPECT_FALSE(parse({"--id=a", "--bundle=/b"}));
  EXPECT_FALSE(parse({"--id=a", "--bundle=/b", "--state-dir=/s", "--log-files=0"}));
  EXPECT_FALSE(parse({"--id=a", "--bundle=/b", "--state-dir=/s", "--ready-fd=1"}));
  EXPECT_FALSE(parse({"--id=a", "--bundle=/b", "--state-dir=/s", "--colour=blue"}));
  EXPECT_FALSE(parse({"--id=a", "--bundle=/b", "--state-dir=/s", "positional"}));
}

TEST(ExitRecordTest, RoundTripAndMissing) {
  ExitRecord r;
  r.pid = 1234;
  r.exit_code = -1;
  r.signal = 9;
  r.oom_kills = 2;
  r.oom_killed = true;
  r.error = "quote \" and newline \n";
  r.finished_at = 1700000000;
  auto back = ParseExitRecord(FormatExitRecord(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, 1234);
  EXPECT_EQ(back->exit_code, -1);
  EXPECT_EQ(back->signal, 9);
  EXPECT_EQ(back->oom_kills, 2u);
  EXPECT_TRUE(back->oom_killed);
  EXPECT_EQ(back->error, r.error);
  EXPECT_EQ(back->finished_at, 1700000000);
  EXPECT_FALSE(ParseExitRecord("{"));
  testing::TempDir dir;
  auto missing = ReadExitRecord(dir.path());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

class StartShimTest : public ::testing::Test {
 protected:
  // The detached fake shims re-parent to this process, which reaps them (not every init does).
  void SetUp() override { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  void TearDown() override {
    for (int i = 0; i < 100; ++i) {
      pid_t pid = ::waitpid(-1, nullptr, WNOHANG);
      if (pid < 0) break;
      if (pid == 0) ::usleep(20000);
    }
  }

  // A fake shim binary: records its arguments and answers on the ready pipe (fd 3).
  std::string FakeShim(const std::string& behaviour) {
    std::string path = dir_ / "fake-shim";
    std::string text = "#!/bin/sh\necho \"$@\" > " + (dir_ / "shim-args") + "\n" + behaviour + "\n";
    EXPECT_TRUE(fs::WriteFileAtomic(path, text, 0755));
    return path;
  }
  ShimConfig Config() {
    ShimConfig c;
    c.id = "started-app";
    c.bundle_dir = dir_ / "bundle";
    c.state_dir = dir_ / "state";
    return c;
  }
  testing::TempDir dir_;
};

TEST_F(StartShimTest, ReturnsThePidsOnceTheShimReportsOk) {
  auto started = StartShim(FakeShim("echo 'ok 4242' >&3"), Config());
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_EQ(started->container_pid, 4242);
  EXPECT_GT(started->shim_pid, 0);
  auto args = fs::ReadFile(dir_ / "shim-args");
  ASSERT_TRUE(args);
  EXPECT_THAT(*args, HasSubstr("--id=started-app"));
  EXPECT_THAT(*args, HasSubstr("--ready-fd=3"));
}

TEST_F(StartShimTest, PassesOnTheShimsError) {
  auto started = StartShim(FakeShim("echo 'error the bundle is broken' >&3; exit 1"), Config());
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message(), "start started-app: the bundle is broken");
}

TEST_F(StartShimTest, ASilentShimPointsAtItsLog) {
  auto started = StartShim(FakeShim("echo 'something odd' >&2; exit 1"), Config());
  ASSERT_FALSE(started);
  EXPECT_THAT(started.error().message(), HasSubstr("shim.log"));
  auto log = fs::ReadFile(dir_ / "state/shim.log");
  ASSERT_TRUE(log);
  EXPECT_THAT(*log, HasSubstr("something odd"));
}

TEST_F(StartShimTest, TimesOut) {
  auto started = StartShim(FakeShim("sleep 1"), Config(), std::chrono::milliseconds(200));
  ASSERT_FALSE(started);
  EXPECT_THAT(started.error().message(), HasSubstr("did not report"));
}

}  // namespace
}  // namespace fogkeep::node::runtime
