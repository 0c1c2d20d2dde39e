#include "core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::process {
namespace {

SpawnOptions Shell(std::string script) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", std::move(script)};
  o.env = MinimalEnvironment();
  o.stdout_fd = kCapture;
  o.stderr_fd = kCapture;
  return o;
}

TEST(ProcessTest, RunCapturesBothStreamsAndExitCode) {
  auto r = process::Run(Shell("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->status.code, 3);
  EXPECT_FALSE(r->status.success());
  EXPECT_EQ(r->status.Describe(), "exit code 3");
}

TEST(ProcessTest, RunReportsTheSignal) {
  auto r = process::Run(Shell("kill -9 $$"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status.signal, SIGKILL);
  EXPECT_EQ(r->status.Describe(), "killed by signal 9 (SIGKILL)");
}

TEST(ProcessTest, EnvironmentIsNotInherited) {
  ::setenv("FOGKEEP_SECRET_FOR_TEST", "leak", 1);
  auto r = process::Run(Shell("env"));
  ::unsetenv("FOGKEEP_SECRET_FOR_TEST");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out.find("FOGKEEP_SECRET_FOR_TEST"), std::string::npos);
  EXPECT_NE(r->out.find("PATH="), std::string::npos);
}

TEST(ProcessTest, NoDescriptorLeaksIntoTheChild) {
  // A descriptor without close-on-exec does not reach the child: only 0-2 do (plus the
  // directory handle ls opens to list /proc/self/fd).
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);
  int leaky = ::fcntl(devnull, F_DUPFD, 100);  // F_DUPFD: deliberately not close-on-exec
  ::close(devnull);
  ASSERT_GE(leaky, 100);
  auto r = process::Run(Shell("ls /proc/self/fd"));
  ::close(leaky);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->out, "0\n1\n2\n3\n");
}

TEST(ProcessTest, ExtraDescriptorsArriveInOrder) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  fs::UniqueFd read_end(fds[0]);
  fs::UniqueFd write_end(fds[1]);
  auto o = Shell("echo hello >&3");
  o.extra_fds = {write_end.get()};
  auto r = process::Run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->status.success()) << r->err;
  write_end.Reset();
  char buf[16] = {};
  ASSERT_EQ(::read(read_end.get(), buf, sizeof(buf)), 6);
  EXPECT_STREQ(buf, "hello\n");
}

TEST(ProcessTest, SwappedDescriptorsDoNotClobberEachOther) {
  // stdout and stderr given each other's usual numbers: the high-duplicate step keeps them apart.
  testing::TempDir dir;
  fs::UniqueFd a(::open((dir / "a").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  fs::UniqueFd b(::open((dir / "b").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo to-out; echo to-err >&2"};
  o.env = MinimalEnvironment();
  o.stdout_fd = b.get();
  o.stderr_fd = a.get();
  auto r = process::Run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*fs::ReadFile(dir / "b"), "to-out\n");
  EXPECT_EQ(*fs::ReadFile(dir / "a"), "to-err\n");
}

TEST(ProcessTest, TimeoutKillsTheChild) {
  RunLimits limits;
  limits.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  auto r = process::Run(Shell("exec sleep 30"), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ProcessTest, OutputIsCappedButTheChildIsNotBlocked) {
  RunLimits limits;
  limits.max_output = 1000;
  auto r = process::Run(Shell("head -c 300000 /dev/zero"), limits);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->status.success());
  EXPECT_EQ(r->out.size(), 1000u);
}

TEST(ProcessTest, MissingProgramIsAnErrorNotAnExitCode) {
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  auto r = process::Run(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST(ProcessTest, RelativeProgramIsRefused) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "true"};
  auto r = Spawn(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
}

TEST(ProcessTest, NewSessionLeavesTheCallersSession) {
  auto o = Shell("cat /proc/self/stat");
  o.new_session = true;
  auto r = process::Run(o);
  ASSERT_TRUE(r) << r.error().message();
  // Field 6 of /proc/<pid>/stat is the session id; after setsid it is the child's own pid.
  std::string stat = r->out;
  auto close_paren = stat.rfind(')');
  std::vector<std::string> fields;
  std::string field;
  for (char c : stat.substr(close_paren + 2)) {
    if (c == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field.push_back(c);
    }
  }
  ASSERT_GE(fields.size(), 4u);
  EXPECT_NE(std::stoi(fields[3]), ::getsid(0));
}

TEST(ProcessTest, SpawnDetachedIsNotOurChildAndRuns) {
  testing::TempDir dir;
  SpawnOptions o;
  std::string marker = dir / "ran";
  o.argv = {"/bin/sh", "-c", "echo $$ > " + marker + ".tmp; mv " + marker + ".tmp " + marker};
  o.env = MinimalEnvironment();
  auto pid = SpawnDetached(o);
  ASSERT_TRUE(pid) << pid.error().message();
  // Not a child: waitpid has nothing to collect.
  EXPECT_FALSE(TryWait(*pid));
  for (int i = 0; i < 200 && ::access(marker.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto text = fs::ReadFile(marker);
  ASSERT_TRUE(text);
  EXPECT_EQ(std::stoi(*text), *pid);
}

TEST(ProcessTest, SpawnDetachedReportsExecFailure) {
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  auto pid = SpawnDetached(o);
  ASSERT_FALSE(pid);
  EXPECT_NE(pid.error().message().find("exec"), std::string::npos) << pid.error().message();
}

}  // namespace
}  // namespace fogkeep::process
