#include "node/runtime/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <optional>

#include "core/fs.h"
#include "core/process.h"
#include "node/runtime/cgroups.h"
#include "node/runtime/flat_json.h"
#include "node/runtime/oci_runtime.h"
#include "node/runtime/rotating_log.h"

namespace fogkeep::node::runtime {
namespace {

using Clock = std::chrono::steady_clock;

// After the init has ended, how long the shim keeps reading output still in the pipes. Every
// other process of the container dies with its init (pid namespace), so this is a bound for
// the unexpected, not a wait that normally happens.
constexpr auto kDrainTimeout = std::chrono::seconds(2);

std::string StatePath(const ShimConfig& config, std::string_view file) {
  return config.state_dir + "/" + std::string(file);
}

// Diagnostics to stderr (shim.log): plain write(2), no stdio or iostreams, to keep the
// shim's resident memory small.
void Note(const ShimConfig& config, std::string_view message) {
  std::string line = "fogkeep-shim[" + config.id + "]: " + std::string(message) + "\n";
  while (::write(STDERR_FILENO, line.data(), line.size()) < 0 && errno == EINTR) {
  }
}

void Report(fs::UniqueFd& ready, std::string_view message) {
  if (!ready.valid()) return;
  std::string line = std::string(message) + "\n";
  // A daemon that has gone away is not the shim's problem (SIGPIPE is ignored).
  (void)::write(ready.get(), line.data(), line.size());
  ready.Reset();
}

template <typename Int>
std::optional<Int> ParseInt(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  Int v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

Status WriteExit(const ShimConfig& config, const ExitRecord& record) {
  return fs::WriteFileAtomic(StatePath(config, kExitFile), FormatExitRecord(record), 0644);
}

// Reads one chunk from a pipe into the log; false once the pipe is at end-of-file.
bool Pump(const ShimConfig& config, int fd, RotatingLog& log) {
  char buf[16384];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  if (auto st = log.Write(std::string_view(buf, static_cast<std::size_t>(n))); !st) {
    // Keep reading even if the log cannot be written: a blocked pipe would stall the app.
    Note(config, st.error().message());
  }
  return true;
}

class Shim {
 public:
  explicit Shim(const ShimConfig& config) : config_(config), ready_(config.ready_fd) {}

  int Run() {
    if (auto st = Lock(); !st) {
      // Another shim owns this app: its files are not ours to touch, exit.json included.
      Note(config_, st.error().message());
      Report(ready_, "error " + st.error().message());
      return 1;
    }
    if (auto st = Setup(); !st) return Abort("shim setup: " + st.error().message());
    if (auto st = StartContainer(); !st) return Abort(st.error().message());
    Report(ready_, "ok " + std::to_string(record_.pid));
    Supervise();
    Finish();
    return 0;
  }

 private:
  // One shim per state directory for its whole life: the lock is held until the process
  // ends (the descriptor is close-on-exec, and spawned runtimes get no descriptors anyway).
  Status Lock() {
    FK_TRY(fs::MakeDirs(config_.state_dir, 0700));
    std::string path = StatePath(config_, kShimLockFile);
    lock_.Reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!lock_.valid()) return FailErrno("open " + path, errno);
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return Fail(ErrorCode::kConflict, "another shim is running for " + config_.state_dir);
      }
      return FailErrno("lock " + path, errno);
    }
    return {};
  }

  Status Setup() {
    ::signal(SIGPIPE, SIG_IGN);
    if (::chdir("/") != 0) return FailErrno("chdir /", errno);
    // Not fsynced: it names a process, which a power cut ends anyway, and readers check that
    // the pid is this app's shim before trusting it.
    FK_TRY(fs::WriteFileAtomic(StatePath(config_, kShimPidFile), std::to_string(::getpid()) + "\n",
                               0644, fs::Durability::kAtomicOnly));
    // A record left by an earlier run of this app must not be read as this run's.
    ::unlink(StatePath(config_, kExitFile).c_str());
    ::unlink(StatePath(config_, kContainerPidFile).c_str());
    // The container's init is orphaned when the runtime's `run` exits; as a subreaper
    // the shim inherits it and can wait for it.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return FailErrno("PR_SET_CHILD_SUBREAPER", errno);
    sigset_t mask;
    ::sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&mask, sig);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return FailErrno("sigprocmask", errno);
    signals_.Reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_.valid()) return FailErrno("signalfd", errno);
    log_.emplace(FK_TRY(RotatingLog::Open(StatePath(config_, kAppLogFile), config_.log_max_bytes,
                                          config_.log_files)));
    RuntimeOptions options;
    options.binary = config_.runtime_binary;
    options.root = config_.runtime_root;
    runtime_ = FK_TRY(MakeOciRuntime(config_.runtime, options));
    return {};
  }

  Status StartContainer() {
    fs::UniqueFd out_write;
    fs::UniqueFd err_write;
    for (auto [read_end, write_end] :
         {std::pair{&out_, &out_write}, std::pair{&err_, &err_write}}) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe", errno);
      read_end->Reset(fds[0]);
      write_end->Reset(fds[1]);
    }
    CreateOptions create;
    create.bundle_dir = config_.bundle_dir;
    create.pid_file = StatePath(config_, kContainerPidFile);
    create.log_file = StatePath(config_, kRuntimeLogFile);
    create.stdout_fd = out_write.get();
    create.stderr_fd = err_write.get();
    // One runtime invocation rather than create + start: each is a program start that costs
    // tens of milliseconds on a small node. The init may then end before its pid is read
    // below; nothing reaps it before Supervise() does, so its status is not lost.
    FK_TRY(runtime_->Run(config_.id, create));
    // Only the container holds the write ends now, so the pipes reach end-of-file when its
    // last process is gone.
    out_write.Reset();
    err_write.Reset();

    auto pid_text = fs::ReadFile(create.pid_file, 64);
    auto pid = pid_text ? ParseInt<pid_t>(*pid_text) : std::nullopt;
    if (!pid || *pid <= 0) {
      (void)runtime_->Delete(config_.id, /*force=*/true);
      return Fail(ErrorCode::kUnavailable, "the runtime wrote no usable pid file");
    }
    record_.pid = *pid;
    // Also watched directly: should the init not be the shim's child (no subreaper support),
    // its end is still noticed, though without an exit status.
    init_pidfd_.Reset(PidfdOpen(*pid));
    return {};
  }

  // Copies output and handles signals until the init has ended and the pipes are drained.
  void Supervise() {
    std::optional<Clock::time_point> drain_deadline;
    ReapAll();
    while (true) {
      if (ended_ && !drain_deadline) drain_deadline = Clock::now() + kDrainTimeout;
      if (ended_ && (!out_.valid() && !err_.valid())) break;
      if (drain_deadline && Clock::now() >= *drain_deadline) break;

      pollfd fds[4];
      nfds_t n = 0;
      fds[n++] = {signals_.get(), POLLIN, 0};
      if (out_.valid()) fds[n++] = {out_.get(), POLLIN, 0};
      if (err_.valid()) fds[n++] = {err_.get(), POLLIN, 0};
      if (init_pidfd_.valid() && !ended_) fds[n++] = {init_pidfd_.get(), POLLIN, 0};
      // Without a pidfd (the init was gone before it could be opened) nothing wakes the
      // shim when the init ends unseen, so it looks now and then (InitGone below).
      const int timeout_ms = drain_deadline ? 100 : (init_pidfd_.valid() ? -1 : 1000);
      if (::poll(fds, n, timeout_ms) < 0) {
        if (errno == EINTR) continue;
        Note(config_, ErrnoMessage("poll", errno));
        break;
      }
      if (!ended_ && !init_pidfd_.valid() && InitGone()) {
        ReapAll();
        if (!ended_) {
          record_.error = "the container's init ended unseen; exit status unknown";
          ended_ = true;
        }
      }
      for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        int fd = fds[i].fd;
        if (fd == signals_.get()) {
          HandleSignals();
        } else if (fd == out_.get() || fd == err_.get()) {
          fs::UniqueFd& pipe = fd == out_.get() ? out_ : err_;
          if (!Pump(config_, fd, *log_)) pipe.Reset();
        } else if (fd == init_pidfd_.get()) {
          ReapAll();
          if (!ended_) {
            // Not our child, so no status to collect.
            record_.error =
                "the container's init ended but was not the shim's child; exit status unknown";
            ended_ = true;
          }
        }
      }
    }
  }

  void HandleSignals() {
    signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
      switch (info.ssi_signo) {
        case SIGCHLD:
          ReapAll();
          break;
        case SIGTERM:
        case SIGINT:
          // Passed on to the app, which decides how to end; the shim waits for that.
          if (!ended_ && record_.pid > 0) ::kill(record_.pid, SIGTERM);
          break;
        default:
          break;
      }
    }
  }

  // Whether the init's pid names no process any more (a zombie still counts as there).
  bool InitGone() const { return record_.pid > 0 && ::kill(record_.pid, 0) != 0 && errno == ESRCH; }

  // Collects every ended child: the init, and any orphan re-parented to the shim.
  void ReapAll() {
    while (true) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        if (pid < 0 && errno == EINTR) continue;
        return;
      }
      if (pid == record_.pid && !ended_) {
        auto s = process::ExitStatus::FromWaitStatus(status);
        record_.exit_code = s.code;
        record_.signal = s.signal;
        ended_ = true;
      }
    }
  }

  void Finish() {
    if (!config_.cgroup_path.empty()) {
      // Read before Delete: the runtime removes the cgroup, and its counters with it.
      auto cgroups = DetectCgroups(config_.cgroup_root);
      if (auto kills = cgroups->OomKillCount(config_.cgroup_path)) {
        record_.oom_kills = *kills;
        record_.oom_killed = *kills > 0;
      } else {
        Note(config_, kills.error().message());
      }
    }
    // Deleted before the record is written: once exit.json exists the app's id is free, and
    // the daemon may start it again without racing this delete.
    if (auto st = runtime_->Delete(config_.id, /*force=*/true); !st) {
      Note(config_, st.error().message());
    }
    ReapAll();
    record_.finished_at = static_cast<std::int64_t>(::time(nullptr));
    if (auto st = WriteExit(config_, record_); !st) Note(config_, st.error().message());
  }

  int Abort(const std::string& message) {
    Note(config_, message);
    record_.error = message;
    record_.finished_at = static_cast<std::int64_t>(::time(nullptr));
    if (!config_.state_dir.empty()) (void)WriteExit(config_, record_);
    Report(ready_, "error " + message);
    return 1;
  }

  const ShimConfig& config_;
  fs::UniqueFd lock_;
  fs::UniqueFd ready_;
  fs::UniqueFd signals_;
  fs::UniqueFd out_;
  fs::UniqueFd err_;
  fs::UniqueFd init_pidfd_;
  std::optional<RotatingLog> log_;
  std::unique_ptr<OciRuntime> runtime_;
  ExitRecord record_;
  bool ended_ = false;
};

struct Flag {
  std::string_view name;
  std::string ShimConfig::*text = nullptr;
};
constexpr Flag kTextFlags[] = {
    {"id", &ShimConfig::id},
    {"bundle", &ShimConfig::bundle_dir},
    {"state-dir", &ShimConfig::state_dir},
    {"runtime", &ShimConfig::runtime},
    {"runtime-binary", &ShimConfig::runtime_binary},
    {"runtime-root", &ShimConfig::runtime_root},
    {"cgroup-path", &ShimConfig::cgroup_path},
    {"cgroup-root", &ShimConfig::cgroup_root},
};

}  // namespace

std::string FormatExitRecord(const ExitRecord& record) {
  FlatJsonObject obj;
  obj.SetInt("pid", record.pid);
  obj.SetInt("exit_code", record.exit_code);
  obj.SetInt("signal", record.signal);
  obj.SetInt("oom_kills", static_cast<std::int64_t>(record.oom_kills));
  obj.SetBool("oom_killed", record.oom_killed);
  obj.SetInt("finished_at", record.finished_at);
  if (!record.error.empty()) obj.SetString("error", record.error);
  return obj.Serialize() + "\n";
}

Result<ExitRecord> ParseExitRecord(std::string_view json_text) {
  auto obj = FlatJsonObject::Parse(json_text);
  if (!obj) return Fail(ErrorCode::kIntegrity, "exit record: " + obj.error().message());
  ExitRecord r;
  r.pid = static_cast<pid_t>(obj->Int("pid").value_or(0));
  r.exit_code = static_cast<int>(obj->Int("exit_code").value_or(-1));
  r.signal = static_cast<int>(obj->Int("signal").value_or(0));
  r.oom_kills =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, obj->Int("oom_kills").value_or(0)));
  r.oom_killed = obj->Bool("oom_killed").value_or(false);
  r.finished_at = obj->Int("finished_at").value_or(0);
  r.error = obj->String("error").value_or("");
  return r;
}

Result<ExitRecord> ReadExitRecord(const std::string& state_dir) {
  auto text = FK_TRY(fs::ReadFile(state_dir + "/" + std::string(kExitFile), 1 << 20));
  return ParseExitRecord(text);
}

std::vector<std::string> ShimArguments(const ShimConfig& config) {
  std::vector<std::string> args;
  for (const auto& flag : kTextFlags) {
    const std::string& value = config.*flag.text;
    if (!value.empty()) args.push_back("--" + std::string(flag.name) + "=" + value);
  }
  args.push_back("--log-max-bytes=" + std::to_string(config.log_max_bytes));
  args.push_back("--log-files=" + std::to_string(config.log_files));
  if (config.ready_fd >= 0) args.push_back("--ready-fd=" + std::to_string(config.ready_fd));
  return args;
}

Result<ShimConfig> ParseShimArguments(int argc, const char* const* argv) {
  ShimConfig config;
  config.cgroup_root.clear();
  config.runtime.clear();
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto eq = arg.find('=');
    if (!arg.starts_with("--") || eq == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidInput,
                  "unexpected argument '" + std::string(arg) + "' (expected --name=value)");
    }
    std::string_view name = arg.substr(2, eq - 2);
    std::string_view value = arg.substr(eq + 1);
    bool known = false;
    for (const auto& flag : kTextFlags) {
      if (flag.name == name) {
        config.*flag.text = std::string(value);
        known = true;
      }
    }
    if (known) continue;
    if (name == "log-max-bytes") {
      auto v = ParseInt<std::uint64_t>(value);
      if (!v || *v == 0)
        return Fail(ErrorCode::kInvalidInput, "--log-max-bytes must be a positive number");
      config.log_max_bytes = *v;
    } else if (name == "log-files") {
      auto v = ParseInt<int>(value);
      if (!v || *v < 1 || *v > 100)
        return Fail(ErrorCode::kInvalidInput, "--log-files must be 1..100");
      config.log_files = *v;
    } else if (name == "ready-fd") {
      auto v = ParseInt<int>(value);
      if (!v || *v < 3)
        return Fail(ErrorCode::kInvalidInput, "--ready-fd must be a descriptor >= 3");
      config.ready_fd = *v;
    } else {
      return Fail(ErrorCode::kInvalidInput, "unknown option --" + std::string(name));
    }
  }
  if (config.runtime.empty()) config.runtime = "runc";
  if (config.cgroup_root.empty()) config.cgroup_root = "/sys/fs/cgroup";
  FK_TRY_CTX(ValidateContainerId(config.id), "--id");
  for (auto [flag, value] :
       {std::pair{"--bundle", &config.bundle_dir}, std::pair{"--state-dir", &config.state_dir}}) {
    if (value->empty() || value->front() != '/') {
      return Fail(ErrorCode::kInvalidInput, std::string(flag) + " must be an absolute path");
    }
  }
  return config;
}

Result<ShimStarted> StartShim(const std::string& shim_binary, ShimConfig config,
                              std::chrono::milliseconds timeout) {
  FK_TRY(ValidateContainerId(config.id));
  FK_TRY_CTX(fs::MakeDirs(config.state_dir, 0700), "shim state directory");
  std::string shim_log = config.state_dir + "/" + std::string(kShimLogFile);
  fs::UniqueFd log(
      ::open(shim_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!log.valid()) return FailErrno("open " + shim_log, errno);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe", errno);
  fs::UniqueFd ready_read(fds[0]);
  fs::UniqueFd ready_write(fds[1]);

  config.ready_fd = 3;  // the first of SpawnOptions::extra_fds
  process::SpawnOptions spawn;
  spawn.argv = {shim_binary};
  auto args = ShimArguments(config);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.env = process::MinimalEnvironment();
  spawn.stdout_fd = log.get();
  spawn.stderr_fd = log.get();
  spawn.extra_fds = {ready_write.get()};
  pid_t shim_pid = FK_TRY_CTX(process::SpawnDetached(spawn), "start shim for " + config.id);
  ready_write.Reset();

  std::string message;
  const auto deadline = Clock::now() + timeout;
  while (message.find('\n') == std::string::npos) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      return Fail(ErrorCode::kUnavailable,
                  "shim for " + config.id + " (pid " + std::to_string(shim_pid) +
                      ") did not report within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd p{ready_read.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(remaining.count()));
    if (r < 0 && errno != EINTR) return FailErrno("poll", errno);
    if (r <= 0) continue;
    char buf[1024];
    ssize_t n = ::read(ready_read.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, static_cast<std::size_t>(n));
  }
  if (message.ends_with('\n')) message.pop_back();
  if (message.starts_with("ok ")) {
    auto container_pid = ParseInt<pid_t>(std::string_view(message).substr(3));
    if (container_pid) return ShimStarted{shim_pid, *container_pid};
  }
  if (message.starts_with("error ")) {
    return Fail(ErrorCode::kUnavailable, "start " + config.id + ": " + message.substr(6));
  }
  return Fail(ErrorCode::kUnavailable,
              "shim for " + config.id + " ended without reporting; see " + shim_log);
}

int RunShim(const ShimConfig& config) { return Shim(config).Run(); }

Result<bool> IsShimRunning(const std::string& state_dir) {
  std::string path = state_dir + "/" + std::string(kShimLockFile);
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    return FailErrno("open " + path, errno);
  }
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return false;  // released on close
  if (errno == EWOULDBLOCK) return true;
  return FailErrno("lock " + path, errno);
}

}  // namespace fogkeep::node::runtime
