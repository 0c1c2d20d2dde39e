// fogkeep-shim: one small process per running app, between fogkeepd and the app's container
// (the role of containerd-shim and conmon).
//
// It outlives fogkeepd: StartShim() detaches it (double fork, own session), so the daemon can
// be restarted, upgraded or SIGKILLed without stopping apps. The shim is a child subreaper,
// so the container's init, orphaned when the runtime's `run` exits, becomes its child; it
// holds the container's stdout/stderr pipes and copies them into a size-capped rotating log,
// waits for the init, records how it ended (exit code or signal, and OOM kills from the
// cgroup) in exit.json, deletes the container from the runtime and exits.
//
// Everything lives in the app's state directory:
//   shim.lock      flock()ed by the shim for its whole life: one shim per app (IsShimRunning)
//   shim.pid       the shim's pid, written first
//   container.pid  the container init's host pid (written by the runtime)
//   app.log[.N]    the app's output
//   exit.json      how the container ended; absent while it runs. Written atomically, and only
//                  once the container is deleted from the runtime, so the app can be started
//                  again as soon as it exists
//   runtime.log    the runtime's own log (JSON lines)
//   shim.log       the shim's diagnostics
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::node::runtime {

inline constexpr std::string_view kShimLockFile = "shim.lock";
inline constexpr std::string_view kShimPidFile = "shim.pid";
inline constexpr std::string_view kContainerPidFile = "container.pid";
inline constexpr std::string_view kAppLogFile = "app.log";
inline constexpr std::string_view kExitFile = "exit.json";
inline constexpr std::string_view kRuntimeLogFile = "runtime.log";
inline constexpr std::string_view kShimLogFile = "shim.log";

struct ShimConfig {
  std::string id;                // container id (validated like an app id)
  std::string bundle_dir;        // holds config.json
  std::string state_dir;         // created 0700 if missing; see the file list above
  std::string runtime = "runc";  // "runc" | "crun"
  std::string runtime_binary;    // empty: the runtime's usual path
  std::string runtime_root;      // the runtime's --root; empty: its default
  // config.json's cgroupsPath, read for the OOM kill count before the container is deleted;
  // empty: not read.
  std::string cgroup_path;
  std::string cgroup_root = "/sys/fs/cgroup";
  std::uint64_t log_max_bytes = 1 << 20;  // per log file
  int log_files = 2;                      // app.log and app.log.1
  // Where the shim reports "started" or why it could not start; -1: nobody listens.
  // StartShim() sets it.
  int ready_fd = -1;
};

// How a container ended, as the shim recorded it.
struct ExitRecord {
  pid_t pid = 0;                // host pid of the container's init (0 if it never started)
  int exit_code = -1;           // its exit code when it exited, else -1
  int signal = 0;               // the signal that ended it, else 0
  std::uint64_t oom_kills = 0;  // processes the OOM killer ended in the container's cgroup
  bool oom_killed = false;      // oom_kills > 0
  // Non-empty when the container could not be created or started, or its end could not be
  // observed; then exit_code and signal say nothing.
  std::string error;
  std::int64_t finished_at = 0;  // Unix time in seconds
};

std::string FormatExitRecord(const ExitRecord& record);
Result<ExitRecord> ParseExitRecord(std::string_view json_text);
// exit.json of a state directory; kNotFound while the container has not ended.
Result<ExitRecord> ReadExitRecord(const std::string& state_dir);

// The shim's command line (without the program name) and its parser. Round-trips exactly.
std::vector<std::string> ShimArguments(const ShimConfig& config);
Result<ShimConfig> ParseShimArguments(int argc, const char* const* argv);

struct ShimStarted {
  pid_t shim_pid = 0;
  pid_t container_pid = 0;
};

// Starts `shim_binary` detached for `config` and waits until the container runs (or the shim
// reports why it could not start it, or `timeout` passes). The shim's stdout and stderr go to
// shim.log in the state directory. On an error the shim has already cleaned up and exited,
// except on timeout, when it may still be working.
Result<ShimStarted> StartShim(const std::string& shim_binary, ShimConfig config,
                              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The shim itself (fogkeep-shim's main). Returns the process exit code: 0 once the container
// ran and its end was recorded, 1 when it could not be started, or when another shim already
// runs for the state directory (then nothing in it is touched).
int RunShim(const ShimConfig& config);

// Whether a shim is alive for the state directory (it holds shim.lock). What fogkeepd asks
// after its own restart, before it adopts or restarts an app.
Result<bool> IsShimRunning(const std::string& state_dir);

}  // namespace fogkeep::node::runtime
