// The runc/crun drivers against a fake runtime script: the command lines they build, how they
// read answers and errors, and the version policy. The real runtimes are exercised by
// tests/integration/runtime.
#include "node/runtime/cli_runtime.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"

namespace fogkeep::node::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A stand-in runtime: records each command line in `calls`, answers `state` and `--version`
// like runc, says "container does not exist" for the id "absent" and fails `create` of the id
// "failing" after logging a runc-style JSON error to the --log file.
class FakeRuntime {
 public:
  FakeRuntime() {
    script_ = dir_ / "fake-runtime";
    calls_ = dir_ / "calls";
    std::string text = R"(#!/bin/sh
echo "$*" >> CALLS
args="$*"
log=
prev=
for a in "$@"; do
  [ "$prev" = --log ] && log=$a
  case "$a" in --log=file:*) log=${a#--log=file:} ;; esac
  prev=$a
done
case "$args" in
  *--version*) printf 'runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n' ;;
  *absent*) echo 'time="2024-01-01T00:00:00Z" level=error msg="container does not exist"' >&2; exit 1 ;;
  *"state present"*) echo '{"ociVersion":"1.0.2-dev","id":"present","pid":4242,"status":"created","bundle":"/b"}' ;;
  *"kill stopped"*) echo 'level=error msg="container not running"' >&2; exit 1 ;;
  *"create "*failing) echo '{"level":"info","msg":"starting"}' >> "$log"
                      echo '{"level":"error","msg":"exec: \"/app\": no such file or directory"}' >> "$log"
                      echo 'this went to the container stderr' >&2; exit 1 ;;
esac
exit 0
)";
    text.replace(text.find("CALLS"), 5, calls_);
    EXPECT_TRUE(fs::WriteFileAtomic(script_, text, 0755));
  }

  const std::string& script() const { return script_; }
  std::string dir(std::string_view name) const { return dir_ / name; }
  std::vector<std::string> Calls() const {
    std::vector<std::string> out;
    auto text = fs::ReadFile(calls_);
    if (!text) return out;
    std::size_t start = 0;
    while (start < text->size()) {
      auto nl = text->find('\n', start);
      out.push_back(text->substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  }

 private:
  testing::TempDir dir_;
  std::string script_;
  std::string calls_;
};

RuntimeOptions Options(const FakeRuntime& fake) {
  RuntimeOptions o;
  o.binary = fake.script();
  o.root = "/state/root";
  return o;
}

TEST(CliRuntimeTest, RuncCommandLines) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  CreateOptions create;
  create.bundle_dir = "/b";
  create.pid_file = "/s/container.pid";
  create.log_file = "/s/runtime.log";
  ASSERT_TRUE(runc.Create("app1", create));
  ASSERT_TRUE(runc.Start("app1"));
  ASSERT_TRUE(runc.Kill("app1", 15));
  ASSERT_TRUE(runc.Delete("app1", true));
  ASSERT_TRUE(runc.Delete("app1", false));
  EXPECT_THAT(
      fake.Calls(),
      ElementsAre("--root /state/root --log /s/runtime.log --log-format json create --bundle /b "
                  "--pid-file /s/container.pid app1",
                  "--root /state/root start app1", "--root /state/root kill app1 15",
                  "--root /state/root delete --force app1", "--root /state/root delete app1"));
}

TEST(CliRuntimeTest, CrunSpellsItsLogOptionDifferently) {
  FakeRuntime fake;
  CrunRuntime crun(Options(fake));
  EXPECT_EQ(crun.name(), "crun");
  CreateOptions create;
  create.bundle_dir = "/b";
  create.pid_file = "/p";
  create.log_file = "/l";
  ASSERT_TRUE(crun.Create("app1", create));
  EXPECT_THAT(fake.Calls(), ElementsAre("--root /state/root --log=file:/l --log-format=json create "
                                        "--bundle /b --pid-file /p app1"));
}

TEST(CliRuntimeTest, RunCreatesAndStartsInOneCommand) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  CreateOptions create;
  create.bundle_dir = "/b";
  create.pid_file = "/p";
  create.log_file = "/l";
  ASSERT_TRUE(runc.Run("app1", create));
  EXPECT_THAT(fake.Calls(), ElementsAre("--root /state/root --log /l --log-format json run "
                                        "--detach --bundle /b --pid-file /p app1"));
}

TEST(CliRuntimeTest, MayExistLooksForTheContainersDirectoryUnderTheRoot) {
  FakeRuntime fake;
  RuntimeOptions options = Options(fake);
  options.root = fake.dir("root");
  RuncRuntime runc(options);
  EXPECT_FALSE(runc.MayExist("app1")) << "no root directory yet";
  ASSERT_TRUE(fs::MakeDirs(fake.dir("root/app1")));
  EXPECT_TRUE(runc.MayExist("app1"));
  EXPECT_FALSE(runc.MayExist("app2"));
  EXPECT_TRUE(runc.MayExist("../x")) << "an invalid id is left to Delete to refuse";
  EXPECT_TRUE(RuncRuntime(RuntimeOptions{.binary = fake.script()}).MayExist("app2"))
      << "the runtime's default root is not inspected";
  EXPECT_TRUE(fake.Calls().empty()) << "the runtime itself is never run";
}

TEST(CliRuntimeTest, StateIsParsedAndAbsenceIsNotAnError) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  auto state = runc.State("present");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->status, ContainerStatus::kCreated);
  EXPECT_EQ(state->pid, 4242);
  EXPECT_EQ(state->bundle, "/b");
  auto absent = runc.State("absent");
  ASSERT_TRUE(absent) << absent.error().message();
  EXPECT_EQ(absent->status, ContainerStatus::kAbsent);
}

TEST(CliRuntimeTest, ErrorsAreMappedAndCarryTheRuntimesWords) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  auto kill_absent = runc.Kill("absent", 9);
  ASSERT_FALSE(kill_absent);
  EXPECT_EQ(kill_absent.error().code(), ErrorCode::kNotFound);
  auto kill_stopped = runc.Kill("stopped", 9);
  ASSERT_FALSE(kill_stopped);
  EXPECT_EQ(kill_stopped.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(kill_stopped.error().message(), HasSubstr("runc kill stopped: "));
  EXPECT_THAT(kill_stopped.error().message(), HasSubstr("container not running"));
  EXPECT_TRUE(runc.Delete("absent", false)) << "deleting what is gone succeeds";
}

TEST(CliRuntimeTest, CreateFailureReadsTheRuntimeLogAndCleansUp) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  CreateOptions create;
  create.bundle_dir = "/b";
  create.pid_file = "/p";
  create.log_file = fake.dir("runtime.log");
  auto st = runc.Create("failing", create);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "runc create failing: exec: \"/app\": no such file or directory");
  auto calls = fake.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1], "--root /state/root delete --force failing");
}

TEST(CliRuntimeTest, IdsThatCouldBeOptionsNeverReachTheCommandLine) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  for (const char* id : {"-rf", "--all", "", "a b", "../x"}) {
    auto st = runc.Start(id);
    ASSERT_FALSE(st) << id;
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_TRUE(fake.Calls().empty());
}

TEST(CliRuntimeTest, MissingBinaryIsReported) {
  RuntimeOptions o;
  o.binary = "/nonexistent/runc";
  RuncRuntime runc(o);
  auto v = runc.Version();
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("/nonexistent/runc"));
}

TEST(CliRuntimeTest, VersionOfTheFake) {
  FakeRuntime fake;
  RuncRuntime runc(Options(fake));
  auto v = runc.Version();
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->version, "1.1.5+ds1");
  EXPECT_EQ(v->commit, "1.1.5+ds1-1+deb12u1");
}

TEST(CliRuntimeTest, FactoryByName) {
  EXPECT_EQ((*MakeOciRuntime("", {}))->name(), "runc");
  EXPECT_EQ((*MakeOciRuntime("runc", {}))->name(), "runc");
  EXPECT_EQ((*MakeOciRuntime("crun", {}))->name(), "crun");
  auto bad = MakeOciRuntime("docker", {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidInput);
}

TEST(CliRuntimeTest, ParsersRejectGarbage) {
  EXPECT_FALSE(ParseContainerState("not json"));
  EXPECT_FALSE(ParseContainerState("[]"));
  EXPECT_FALSE(ParseContainerState(R"({"pid":1})"));
  EXPECT_FALSE(ParseContainerState(R"({"status":"exploded"})"));
  EXPECT_EQ(ParseContainerState(R"({"status":"stopped","pid":0})")->status,
            ContainerStatus::kStopped);
  EXPECT_FALSE(ParseRuntimeVersion("runc", "hello\n"));
  EXPECT_EQ(ParseRuntimeVersion("crun", "crun version 1.8.1\ncommit: f8a0\n")->version, "1.8.1");
  EXPECT_EQ(
      LastLoggedError(
          "garbage\n{\"level\":\"error\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"b\"}"),
      "b");
  EXPECT_EQ(LastLoggedError("{\"level\":\"info\",\"msg\":\"a\"}\n"), "");
}

RuntimeVersion Runc(std::string version, std::string commit = "") {
  return RuntimeVersion{"runc", std::move(version), std::move(commit)};
}

TEST(RuntimeVersionTest, UpstreamRuncNeedsTheFixedReleaseOfItsSeries) {
  auto policy = DefaultVersionPolicy("runc");
  for (const char* ok : {"1.2.8", "1.2.9", "1.3.3", "1.3.4", "1.4.0", "1.4.2", "1.5.0", "2.0.0"}) {
    auto verdict = CheckRuntimeVersion(Runc(ok, "v" + std::string(ok)), policy);
    ASSERT_TRUE(verdict) << ok << ": " << verdict.error().message();
    EXPECT_EQ(*verdict, "") << ok;
  }
  for (const char* bad : {"1.1.12", "1.2.7", "1.3.2", "1.4.0-rc.2", "1.0.0", "0.1.1"}) {
    auto verdict = CheckRuntimeVersion(Runc(bad, "v" + std::string(bad)), policy);
    ASSERT_FALSE(verdict) << bad;
    EXPECT_EQ(verdict.error().code(), ErrorCode::kForbidden);
    EXPECT_THAT(verdict.error().message(), HasSubstr("upgrade runc"));
  }
}

TEST(RuntimeVersionTest, DistributionBuildsAreAcceptedWithAWarning) {
  auto policy = DefaultVersionPolicy("runc");
  auto verdict = CheckRuntimeVersion(Runc("1.1.5+ds1", "1.1.5+ds1-1+deb12u1"), policy);
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_THAT(*verdict, HasSubstr("distribution build"));
  EXPECT_THAT(*verdict, HasSubstr("1.1.5+ds1-1+deb12u1"));
  policy.accept_distribution_builds = false;
  EXPECT_FALSE(CheckRuntimeVersion(Runc("1.1.5+ds1", "1.1.5+ds1-1+deb12u1"), policy));
}

TEST(RuntimeVersionTest, CrunAndCustomPolicies) {
  auto crun = DefaultVersionPolicy("crun");
  EXPECT_EQ(*CheckRuntimeVersion({"crun", "1.8.1", "f8a096be"}, crun), "");
  EXPECT_FALSE(CheckRuntimeVersion({"crun", "1.4.3", "abc"}, crun));
  VersionPolicy none;
  EXPECT_EQ(*CheckRuntimeVersion(Runc("0.0.1"), none), "");
  EXPECT_FALSE(CheckRuntimeVersion(Runc("banana"), DefaultVersionPolicy("runc")));
  VersionPolicy bad;
  bad.fixed_in = {"x.y"};
  EXPECT_FALSE(CheckRuntimeVersion(Runc("1.2.3"), bad));
}

}  // namespace
}  // namespace fogkeep::node::runtime
