// The command-line drivers behind OciRuntime. runc and crun share the verbs and their flags;
// CliRuntime holds that shape, and each subclass states only its quirks (default path, how
// it spells its log option, how it says "no such container").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "node/runtime/oci_runtime.h"

namespace fogkeep::node::runtime {

class CliRuntime : public OciRuntime {
 public:
  Status Create(std::string_view id, const CreateOptions& options) override;
  Status Start(std::string_view id) override;
  Status Run(std::string_view id, const CreateOptions& options) override;
  Status Kill(std::string_view id, int signal) override;
  Status Delete(std::string_view id, bool force) override;
  Result<ContainerState> State(std::string_view id) override;
  // With a --root: whether the runtime's directory for the container (runc and crun keep one
  // per container under the root) exists. Without one the runtime's default root is not
  // fogkeep's to inspect, so true.
  bool MayExist(std::string_view id) const override;
  Result<RuntimeVersion> Version() override;

  const std::string& binary() const { return binary_; }

 protected:
  CliRuntime(RuntimeOptions options, std::string_view default_binary);

  // The global options that send the runtime's own log to `path` as JSON lines.
  virtual std::vector<std::string> LogArgs(const std::string& path) const = 0;
  // Whether the runtime's error text means "this container does not exist".
  virtual bool IsAbsentMessage(std::string_view message) const = 0;

 private:
  // Runs `<binary> [--root R] <args...>` within the per-command timeout, with stdout and
  // stderr captured, or with the standard streams of `spawn`.
  Result<process::RunResult> Invoke(std::vector<std::string> args) const;
  Result<process::RunResult> Invoke(std::vector<std::string> args,
                                    process::SpawnOptions spawn) const;
  // `create`, or `run --detach` when `start`: the container from its bundle, with the runtime's
  // stdio handed to its init. On failure, the runtime's logged reason and a forced delete.
  Status Launch(std::string_view id, const CreateOptions& options, bool start);
  // "<name> <verb> <id>: <the runtime's message>".
  Error CommandError(std::string_view verb, std::string_view id, const process::RunResult& run,
                     std::string_view message = {}) const;

  // Constant after construction.
  RuntimeOptions options_;
  std::string binary_;
};

class RuncRuntime final : public CliRuntime {
 public:
  explicit RuncRuntime(RuntimeOptions options) : CliRuntime(std::move(options), "/usr/sbin/runc") {}
  std::string_view name() const override { return "runc"; }

 protected:
  std::vector<std::string> LogArgs(const std::string& path) const override;
  bool IsAbsentMessage(std::string_view message) const override;
};

// crun 1.8 refuses cgroup v1/hybrid hosts ("cgroups in hybrid mode not supported"); it is the
// better choice where the host runs pure cgroup v2.
class CrunRuntime final : public CliRuntime {
 public:
  explicit CrunRuntime(RuntimeOptions options) : CliRuntime(std::move(options), "/usr/bin/crun") {}
  std::string_view name() const override { return "crun"; }

 protected:
  std::vector<std::string> LogArgs(const std::string& path) const override;
  bool IsAbsentMessage(std::string_view message) const override;
};

// Helpers shared by the drivers, exposed for tests.
//
// `<name> version X` / `commit: Y` lines of `--version` output.
Result<RuntimeVersion> ParseRuntimeVersion(std::string_view name, std::string_view output);
// The JSON of `state <id>` (runc and crun print the same shape).
Result<ContainerState> ParseContainerState(std::string_view json_text);
// The last error-level message of a runtime's JSON-lines log; empty when there is none.
std::string LastLoggedError(std::string_view log_text);

}  // namespace fogkeep::node::runtime
