// OciRuntime: the one way fogkeep drives an OCI runtime (runc, crun) for a container.
//
// Implementations run the runtime's command line with a state directory of their own
// (--root), so a node's containers never mix with another tool's and tests never touch the
// host's /run/runc. Container ids are checked before they reach a command line.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/process.h"

namespace fogkeep::node::runtime {

enum class ContainerStatus { kCreating, kCreated, kRunning, kPaused, kStopped, kAbsent };
std::string_view ContainerStatusName(ContainerStatus status);

struct ContainerState {
  ContainerStatus status = ContainerStatus::kAbsent;
  pid_t pid = 0;  // host pid of the container's init; 0 when it has none
  std::string bundle;
};

struct RuntimeVersion {
  std::string name;     // "runc" | "crun"
  std::string version;  // as printed: "1.1.5+ds1"
  std::string commit;   // build identification, e.g. Debian's "1.1.5+ds1-1+deb12u1"
};

struct RuntimeOptions {
  std::string binary;  // absolute path; empty: the runtime's usual path
  std::string root;    // --root state directory; empty: the runtime's own default
  std::chrono::milliseconds timeout{60'000};  // per command
};

struct CreateOptions {
  std::string bundle_dir;  // holds config.json
  std::string pid_file;    // the runtime writes the container init's host pid here
  std::string log_file;    // the runtime's own log (JSON lines); empty: none
  // The container's standard streams (the init inherits them; no terminal).
  int stdin_fd = process::kDevNull;
  int stdout_fd = process::kDevNull;
  int stderr_fd = process::kDevNull;
};

class OciRuntime {
 public:
  virtual ~OciRuntime() = default;

  // "runc" or "crun".
  virtual std::string_view name() const = 0;
  // Creates container `id` from its bundle; its init waits for Start(). On failure the
  // runtime's message is in the error and nothing named `id` is left behind.
  virtual Status Create(std::string_view id, const CreateOptions& options) = 0;
  // Runs the user process of a created container.
  virtual Status Start(std::string_view id) = 0;
  // Create and Start in one runtime invocation (`run --detach`): the user process runs when it
  // returns. On failure the runtime's message is in the error and nothing named `id` is left
  // behind.
  virtual Status Run(std::string_view id, const CreateOptions& options) = 0;
  // Sends `signal` to the container's init. kNotFound if the container does not exist;
  // kConflict if it is not running.
  virtual Status Kill(std::string_view id, int signal) = 0;
  // Removes the container's runtime state and cgroup; `force` kills a running one first.
  // Deleting a container that does not exist succeeds.
  virtual Status Delete(std::string_view id, bool force) = 0;
  // Status and init pid. A container the runtime does not know is kAbsent, not an error.
  virtual Result<ContainerState> State(std::string_view id) = 0;
  // False only when container `id` certainly does not exist, found without running the
  // runtime: lets a caller skip a Delete that would find nothing. The default cannot tell.
  virtual bool MayExist(std::string_view id) const {
    (void)id;
    return true;
  }
  // The runtime binary's version, for the start-up check.
  virtual Result<RuntimeVersion> Version() = 0;
};

// 1..64 characters of [A-Za-z0-9_.-], starting with a letter or digit: safe as a container id,
// a cgroup name, a file name and a command-line argument (never read as an option). fogkeep
// uses app ids as container ids.
Status ValidateContainerId(std::string_view id);

// A runtime by name: "runc" (also the empty name) or "crun". Unknown names are kInvalidInput.
Result<std::unique_ptr<OciRuntime>> MakeOciRuntime(std::string_view name, RuntimeOptions options);

// Which runtime versions a node accepts.
//
// `fixed_in` lists, per release series, the first release carrying fixes for the escapes in
// THREATS.md; a version is accepted when it is at least the entry of its own major.minor
// series, or newer than every series listed. For runc: 1.2.8 / 1.3.3 / 1.4.0 fix
// CVE-2025-31133, CVE-2025-52565 and CVE-2025-52881 (and include CVE-2024-21626's fix of
// 1.1.12); older series get no upstream fixes. For crun: 1.4.4 fixes CVE-2022-27650.
//
// Distributions backport fixes without changing the upstream version: Debian 12 ships runc
// "1.1.5+ds1" whose package 1.1.5+ds1-1+deb12u1 carries the CVE-2024-21626 fix. So a
// distribution build (a "+ds"/"+dfsg" version or a distribution revision in the commit) below
// the minimum is accepted with a warning when `accept_distribution_builds` is set, and the
// operator is told to check the distribution's advisories; an upstream build below it is
// refused.
struct VersionPolicy {
  std::vector<std::string> fixed_in;
  bool accept_distribution_builds = true;
};
VersionPolicy DefaultVersionPolicy(std::string_view runtime_name);

// Empty string: acceptable. Non-empty: acceptable, but this warning must be shown (logged and
// surfaced in `fogkeep` node status). kForbidden: the version is refused, with the reason.
Result<std::string> CheckRuntimeVersion(const RuntimeVersion& version, const VersionPolicy& policy);

// The daemon's start-up check: asks the runtime for its version, applies `policy`, logs a
// warning when there is one, and returns the version (with the warning, if any) or the refusal.
struct VerifiedRuntime {
  RuntimeVersion version;
  std::string warning;
};
Result<VerifiedRuntime> VerifyRuntime(OciRuntime& runtime, const VersionPolicy& policy);

}  // namespace fogkeep::node::runtime
