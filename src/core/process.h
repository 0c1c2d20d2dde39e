// Child processes: spawn with descriptor hygiene, run to completion with captured output and a
// deadline, and start detached processes that must outlive their starter.
//
// Every spawn closes all descriptors in the child except the three standard streams and the
// `extra_fds` the caller names, whatever their close-on-exec flag: a descriptor the caller
// forgot to mark can never leak into a runtime or a container (runc CVE-2024-21626 turned one
// leaked directory fd into a host escape). The environment is never inherited, the signal mask
// and dispositions are reset, and the program is an absolute path (no PATH search).
//
// A caller that ignores SIGCHLD (SIG_IGN) cannot collect exit statuses; these functions then
// fail with an "ECHILD" error.
#pragma once

#include <signal.h>

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::process {

// Special values for SpawnOptions' standard streams.
inline constexpr int kDevNull = -1;  // connect the stream to /dev/null
inline constexpr int kCapture = -2;  // Run() only: capture the stream into RunResult

struct SpawnOptions {
  // argv[0] is the program and must be an absolute path.
  std::vector<std::string> argv;
  // The child's complete environment ("NAME=value"); nothing is inherited.
  std::vector<std::string> env;
  int stdin_fd = kDevNull;
  int stdout_fd = kDevNull;
  int stderr_fd = kDevNull;
  // Become descriptors 3, 4, ... in the child, in this order. The caller keeps its own copies.
  std::vector<int> extra_fds;
  // Working directory of the child; empty means "/".
  std::string cwd;
  // Start the child in a new session (setsid), away from the caller's terminal and signals
  // sent to the caller's process group.
  bool new_session = false;
};

// How a process ended.
struct ExitStatus {
  int code = -1;   // exit code when the process exited normally, else -1
  int signal = 0;  // the signal that ended it, else 0
  bool core_dumped = false;

  static ExitStatus FromWaitStatus(int wait_status);
  bool success() const { return signal == 0 && code == 0; }
  // "exit code 3" or "killed by signal 9 (SIGKILL)".
  std::string Describe() const;
};

// PATH=/usr/local/sbin:...:/bin and nothing else: what helper programs get by default.
std::vector<std::string> MinimalEnvironment();

// Starts a child and returns its pid; the caller must Wait() for it. An exec failure (missing
// program, no permission) is reported here as an error, not as a child that exits 127.
Result<pid_t> Spawn(const SpawnOptions& options);

// Waits for the child `pid` to end (retrying on EINTR) and reaps it.
Result<ExitStatus> Wait(pid_t pid);

// Reaps `pid` if it has ended; std::nullopt while it is still running.
Result<std::optional<ExitStatus>> TryWait(pid_t pid);

struct RunLimits {
  // The child is killed (SIGKILL) and reaped when it runs longer; Run then fails with
  // kUnavailable.
  std::chrono::milliseconds timeout{60'000};
  // Captured bytes kept per stream; the rest is read and discarded so the child never blocks.
  std::size_t max_output = 1 << 20;
};

struct RunResult {
  ExitStatus status;
  std::string out;  // captured stdout (when stdout_fd == kCapture)
  std::string err;  // captured stderr (when stderr_fd == kCapture)
};

// Spawns the child, collects the streams marked kCapture and waits for it within the deadline.
// A non-zero exit is not an error here: the caller reads RunResult::status. Output written by
// grandchildren that outlive the child is collected only until the child has ended.
Result<RunResult> Run(const SpawnOptions& options, const RunLimits& limits = {});

// Starts a process that is not a child of the caller: fork, setsid, fork again, exec. It is
// re-parented to the nearest subreaper (init on a normal host), so neither the caller's exit
// nor a SIGKILL to the caller or its process group reaches it. Returns its pid once exec has
// succeeded; an exec failure is reported as an error. `new_session` is implied.
Result<pid_t> SpawnDetached(const SpawnOptions& options);

// Raises this process's soft RLIMIT_NOFILE to its hard limit, for servers and load generators
// that hold a socket per peer. Returns the soft limit now in force (SIZE_MAX for unlimited).
std::size_t RaiseDescriptorLimit();

// Gives the free pages of the heap back to the system (glibc's malloc_trim). For daemons once
// they have started: opening an audit log checks it in memory, which for a log of a few MiB
// takes several times its size for a moment, and glibc keeps most of what that frees (after a
// large free it raises its trim threshold), so the daemon would carry its start's peak for as
// long as it runs.
void ReturnFreeHeap();

// Lets malloc keep at most one arena per core (at least two) instead of glibc's eight, for
// daemons with many more threads than cores that mostly wait: each arena keeps free memory of
// its own. Call before starting threads.
void LimitHeapArenas();

// For daemons that wait for SIGTERM and SIGINT with sigwait: blocks both in the calling thread
// (threads it starts afterwards inherit the mask) and ignores SIGPIPE. Returns the blocked set.
sigset_t BlockStopSignals();

// For main(): prints "PROGRAM: <message>" to stderr as one line (line breaks become spaces, so
// text from outside in a message cannot forge lines of its own) and returns 1, the exit status.
int ReportFailure(std::string_view program, const Error& error);

}  // namespace fogkeep::process
