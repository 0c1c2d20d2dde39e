#include "core/process.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <iostream>
#include <thread>

#include "core/fs.h"

namespace fogkeep::process {
namespace {

using Clock = std::chrono::steady_clock;

// What the caller's SpawnOptions become just before the fork: C strings, and every descriptor
// the child receives duplicated above the range it will occupy. dup2() from a source that
// already sits inside the target range [0, count) could clobber another source; from above
// the range it cannot, and dup2() clears close-on-exec on the target as a side effect.
struct Prepared {
  std::vector<char*> argv;
  std::vector<char*> envp;
  fs::UniqueFd dev_null;
  std::vector<fs::UniqueFd> sources;  // sources[i] becomes descriptor i in the child
  std::string cwd;
};

Result<Prepared> Prepare(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty() || options.argv[0][0] != '/') {
    return Fail(ErrorCode::kInvalidInput, "spawn: the program must be an absolute path");
  }
  Prepared p;
  for (const auto& arg : options.argv) p.argv.push_back(const_cast<char*>(arg.c_str()));
  p.argv.push_back(nullptr);
  for (const auto& var : options.env) p.envp.push_back(const_cast<char*>(var.c_str()));
  p.envp.push_back(nullptr);
  p.cwd = options.cwd.empty() ? "/" : options.cwd;

  std::vector<int> wanted = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  wanted.insert(wanted.end(), options.extra_fds.begin(), options.extra_fds.end());
  const int count = static_cast<int>(wanted.size());
  for (int i = 0; i < count; ++i) {
    int fd = wanted[i];
    if (fd == kCapture) {
      return Fail(ErrorCode::kInternal, "spawn: kCapture is only meaningful for Run()");
    }
    if (fd == kDevNull) {
      if (i >= 3) return Fail(ErrorCode::kInvalidInput, "spawn: extra descriptor is -1");
      if (!p.dev_null.valid()) {
        p.dev_null.Reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!p.dev_null.valid()) return FailErrno("open /dev/null", errno);
      }
      fd = p.dev_null.get();
    }
    fs::UniqueFd high(::fcntl(fd, F_DUPFD_CLOEXEC, count));
    if (!high.valid()) return FailErrno("spawn: duplicate descriptor " + std::to_string(fd), errno);
    p.sources.push_back(std::move(high));
  }
  return p;
}

std::string ProgramName(const SpawnOptions& options) { return options.argv[0]; }

// Reads what is available from a non-blocking pipe into `out` (up to `cap` bytes kept).
// Returns false once the pipe reached end-of-file or failed.
bool Drain(int fd, std::string& out, std::size_t cap) {
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      std::size_t keep = std::min(static_cast<std::size_t>(n), cap - std::min(cap, out.size()));
      out.append(buf, keep);
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
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

// Messages from the detached-spawn helpers to the caller, each one write() of a fixed size
// (atomic on a pipe).
struct DetachMessage {
  enum Kind : int { kPid = 1, kSetsidFailed, kForkFailed, kExecFailed } kind;
  int value;
};

void SendMessage(int fd, DetachMessage::Kind kind, int value) {
  DetachMessage m{kind, value};
  while (::write(fd, &m, sizeof(m)) < 0 && errno == EINTR) {
  }
}

// Marks every descriptor from `low` up as close-on-exec. Async-signal-safe.
void CloexecFrom(int low, int limit) {
#ifdef SYS_close_range
  constexpr unsigned kCloseRangeCloexec = 1U << 2;  // CLOSE_RANGE_CLOEXEC (Linux 5.11)
  if (::syscall(SYS_close_range, static_cast<unsigned>(low), ~0U, kCloseRangeCloexec) == 0) {
    return;
  }
#endif
  for (int fd = low; fd < limit; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

}  // namespace

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  ExitStatus s;
  if (WIFEXITED(wait_status)) {
    s.code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    s.signal = WTERMSIG(wait_status);
    s.core_dumped = WCOREDUMP(wait_status);
  }
  return s;
}

std::string ExitStatus::Describe() const {
  if (signal != 0) {
    const char* abbrev = ::sigabbrev_np(signal);
    std::string out = "killed by signal " + std::to_string(signal);
    if (abbrev != nullptr) out += std::string(" (SIG") + abbrev + ")";
    return out;
  }
  return "exit code " + std::to_string(code);
}

std::vector<std::string> MinimalEnvironment() {
  return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
}

Result<pid_t> Spawn(const SpawnOptions& options) {
  auto p = FK_TRY(Prepare(options));
  const int count = static_cast<int>(p.sources.size());

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  for (int i = 0; i < count; ++i)
    ::posix_spawn_file_actions_adddup2(&actions, p.sources[i].get(), i);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, count);
  ::posix_spawn_file_actions_addchdir_np(&actions, p.cwd.c_str());

  sigset_t empty;
  sigset_t all;
  ::sigemptyset(&empty);
  ::sigfillset(&all);
  ::sigdelset(&all, SIGKILL);
  ::sigdelset(&all, SIGSTOP);
  ::posix_spawnattr_setsigmask(&attr, &empty);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  ::posix_spawnattr_setflags(&attr, flags);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, p.argv[0], &actions, &attr, p.argv.data(), p.envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) return FailErrno("spawn " + ProgramName(options), rc);
  return pid;
}

Result<ExitStatus> Wait(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return FailErrno("waitpid " + std::to_string(pid), errno);
  }
  return ExitStatus::FromWaitStatus(status);
}

Result<std::optional<ExitStatus>> TryWait(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return FailErrno("waitpid " + std::to_string(pid), errno);
  if (r == 0) return std::optional<ExitStatus>();
  return std::optional<ExitStatus>(ExitStatus::FromWaitStatus(status));
}

Result<RunResult> Run(const SpawnOptions& options, const RunLimits& limits) {
  SpawnOptions child = options;
  fs::UniqueFd out_read;
  fs::UniqueFd out_write;
  fs::UniqueFd err_read;
  fs::UniqueFd err_write;
  auto make_pipe = [](fs::UniqueFd& r, fs::UniqueFd& w) -> Status {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe", errno);
    r.Reset(fds[0]);
    w.Reset(fds[1]);
    ::fcntl(r.get(), F_SETFL, O_NONBLOCK);
    return {};
  };
  if (options.stdout_fd == kCapture) {
    FK_TRY(make_pipe(out_read, out_write));
    child.stdout_fd = out_write.get();
  }
  if (options.stderr_fd == kCapture) {
    FK_TRY(make_pipe(err_read, err_write));
    child.stderr_fd = err_write.get();
  }
  if (child.stdin_fd == kCapture) {
    return Fail(ErrorCode::kInvalidInput, "run: stdin cannot be captured");
  }

  const auto deadline = Clock::now() + limits.timeout;
  pid_t pid = FK_TRY(Spawn(child));
  out_write.Reset();
  err_write.Reset();
  // Without pidfd (Linux < 5.3) the loop polls for the child's end every few milliseconds.
  fs::UniqueFd pidfd(PidfdOpen(pid));

  RunResult result;
  bool ended = false;
  auto drain_all = [&] {
    if (out_read.valid() && !Drain(out_read.get(), result.out, limits.max_output)) out_read.Reset();
    if (err_read.valid() && !Drain(err_read.get(), result.err, limits.max_output)) err_read.Reset();
  };
  while (!ended) {
    pollfd fds[3];
    nfds_t n = 0;
    if (out_read.valid()) fds[n++] = {out_read.get(), POLLIN, 0};
    if (err_read.valid()) fds[n++] = {err_read.get(), POLLIN, 0};
    if (pidfd.valid()) fds[n++] = {pidfd.get(), POLLIN, 0};
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      ::kill(pid, SIGKILL);
      (void)Wait(pid);
      return Fail(ErrorCode::kUnavailable, ProgramName(options) + " did not finish within " +
                                               std::to_string(limits.timeout.count()) + " ms");
    }
    int wait_ms = static_cast<int>(std::min<long long>(remaining.count(), 1000));
    if (!pidfd.valid()) wait_ms = std::min(wait_ms, 10);
    if (::poll(fds, n, wait_ms) < 0 && errno != EINTR) {
      int err = errno;
      ::kill(pid, SIGKILL);
      (void)Wait(pid);
      return FailErrno("poll", err);
    }
    drain_all();
    auto status = TryWait(pid);
    if (!status) return Fail(status.error());
    if (status->has_value()) {
      result.status = **status;
      ended = true;
      drain_all();
    }
  }
  return result;
}

Result<pid_t> SpawnDetached(const SpawnOptions& options) {
  auto p = FK_TRY(Prepare(options));
  const int count = static_cast<int>(p.sources.size());
  int report_fds[2];
  if (::pipe2(report_fds, O_CLOEXEC) != 0) return FailErrno("pipe", errno);
  fs::UniqueFd report_read(report_fds[0]);
  fs::UniqueFd report_write_low(report_fds[1]);
  // The write end must survive the dup2() calls into [0, count) in the grandchild.
  fs::UniqueFd report_write(::fcntl(report_write_low.get(), F_DUPFD_CLOEXEC, count));
  if (!report_write.valid()) return FailErrno("dup", errno);
  report_write_low.Reset();
  struct rlimit nofile {};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const int fd_limit = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));

  // Between fork() and exec only async-signal-safe calls: the caller may be multi-threaded.
  pid_t middle = ::fork();
  if (middle < 0) return FailErrno("fork", errno);
  if (middle == 0) {
    if (::setsid() < 0) {
      SendMessage(report_write.get(), DetachMessage::kSetsidFailed, errno);
      ::_exit(1);
    }
    pid_t grandchild = ::fork();
    if (grandchild < 0) {
      SendMessage(report_write.get(), DetachMessage::kForkFailed, errno);
      ::_exit(1);
    }
    if (grandchild > 0) {
      SendMessage(report_write.get(), DetachMessage::kPid, grandchild);
      ::_exit(0);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t empty;
    ::sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    for (int i = 0; i < count; ++i) {
      if (::dup2(p.sources[i].get(), i) < 0) {
        SendMessage(report_write.get(), DetachMessage::kExecFailed, errno);
        ::_exit(127);
      }
    }
    CloexecFrom(count, fd_limit);
    if (::chdir(p.cwd.c_str()) != 0) {
      SendMessage(report_write.get(), DetachMessage::kExecFailed, errno);
      ::_exit(127);
    }
    ::execve(p.argv[0], p.argv.data(), p.envp.data());
    SendMessage(report_write.get(), DetachMessage::kExecFailed, errno);
    ::_exit(127);
  }

  report_write.Reset();
  auto middle_status = Wait(middle);
  pid_t pid = -1;
  std::optional<Error> failure;
  DetachMessage m{};
  while (true) {
    ssize_t n = ::read(report_read.get(), &m, sizeof(m));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(m))) break;
    switch (m.kind) {
      case DetachMessage::kPid:
        pid = m.value;
        break;
      case DetachMessage::kSetsidFailed:
        failure = Error(ErrorCode::kUnavailable, ErrnoMessage("setsid", m.value));
        break;
      case DetachMessage::kForkFailed:
        failure = Error(ErrorCode::kUnavailable, ErrnoMessage("fork", m.value));
        break;
      case DetachMessage::kExecFailed:
        failure = FailErrno("exec " + ProgramName(options), m.value).error();
        break;
    }
  }
  if (failure) return Fail(std::move(*failure).With("start " + ProgramName(options) + " detached"));
  if (!middle_status) return Fail(middle_status.error());
  if (pid <= 0) {
    return Fail(ErrorCode::kInternal,
                "start " + ProgramName(options) + " detached: no pid reported");
  }
  return pid;
}

std::size_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<std::size_t>(limit.rlim_cur);
}

void ReturnFreeHeap() { (void)::malloc_trim(0); }

void LimitHeapArenas() {
  (void)::mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
}

sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

int ReportFailure(std::string_view program, const Error& error) {
  std::string line = error.message();
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << program << ": " << line << "\n";
  return 1;
}

}  // namespace fogkeep::process
