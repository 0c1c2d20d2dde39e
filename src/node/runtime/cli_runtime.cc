#include "node/runtime/cli_runtime.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <string>

#include "core/fs.h"
#include "node/runtime/flat_json.h"

namespace fogkeep::node::runtime {
namespace {

// The runtime's stderr, trimmed to its last non-empty line: runc and crun put the reason last.
std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  auto nl = text.find_last_of('\n');
  if (nl != std::string_view::npos) text = text.substr(nl + 1);
  constexpr std::size_t kMax = 1024;
  return std::string(text.substr(0, kMax));
}

Status CheckId(std::string_view id) { return ValidateContainerId(id); }

}  // namespace

Status ValidateContainerId(std::string_view id) {
  bool ok =
      !id.empty() && id.size() <= 64 && std::isalnum(static_cast<unsigned char>(id.front())) &&
      std::ranges::all_of(id, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
      });
  if (!ok) {
    return Fail(ErrorCode::kInvalidInput,
                "app id '" + std::string(id) +
                    "' must be 1..64 characters of [A-Za-z0-9_.-] starting with a letter or digit");
  }
  return {};
}

std::string_view ContainerStatusName(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::kCreating:
      return "creating";
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kPaused:
      return "paused";
    case ContainerStatus::kStopped:
      return "stopped";
    case ContainerStatus::kAbsent:
      return "absent";
  }
  return "absent";
}

CliRuntime::CliRuntime(RuntimeOptions options, std::string_view default_binary)
    : options_(std::move(options)),
      binary_(options_.binary.empty() ? std::string(default_binary) : options_.binary) {}

Result<process::RunResult> CliRuntime::Invoke(std::vector<std::string> args) const {
  process::SpawnOptions spawn;
  spawn.stdout_fd = process::kCapture;
  spawn.stderr_fd = process::kCapture;
  return Invoke(std::move(args), std::move(spawn));
}

Result<process::RunResult> CliRuntime::Invoke(std::vector<std::string> args,
                                              process::SpawnOptions spawn) const {
  spawn.argv = {binary_};
  if (!options_.root.empty()) {
    spawn.argv.push_back("--root");
    spawn.argv.push_back(options_.root);
  }
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.env = process::MinimalEnvironment();
  process::RunLimits limits;
  limits.timeout = options_.timeout;
  return process::Run(spawn, limits);
}

Error CliRuntime::CommandError(std::string_view verb, std::string_view id,
                               const process::RunResult& run, std::string_view message) const {
  std::string reason(message);
  if (reason.empty()) reason = LastLine(run.err);
  if (reason.empty()) reason = LastLine(run.out);
  if (reason.empty()) reason = run.status.Describe();
  std::string text(name());
  text.append(" ").append(verb);
  if (!id.empty()) text.append(" ").append(id);
  text.append(": ").append(reason);
  return Error(ErrorCode::kUnavailable, std::move(text));
}

Status CliRuntime::Create(std::string_view id, const CreateOptions& options) {
  return Launch(id, options, /*start=*/false);
}

Status CliRuntime::Run(std::string_view id, const CreateOptions& options) {
  return Launch(id, options, /*start=*/true);
}

Status CliRuntime::Launch(std::string_view id, const CreateOptions& options, bool start) {
  FK_TRY(CheckId(id));
  const std::string verb = start ? "run" : "create";
  std::vector<std::string> args;
  if (!options.log_file.empty()) args = LogArgs(options.log_file);
  args.push_back(verb);
  if (start) args.push_back("--detach");
  args.insert(args.end(),
              {"--bundle", options.bundle_dir, "--pid-file", options.pid_file, std::string(id)});
  // The runtime hands its own stdio to the container's init, so its diagnostics go to the
  // log file rather than a captured stderr (a capture pipe would break once the runtime exits
  // and the container still writes to it).
  process::SpawnOptions spawn;
  spawn.stdin_fd = options.stdin_fd;
  spawn.stdout_fd = options.stdout_fd;
  spawn.stderr_fd = options.stderr_fd;
  auto run = FK_TRY_CTX(Invoke(std::move(args), spawn), std::string(name()) + " " + verb);
  if (run.status.success()) return {};
  std::string message;
  if (!options.log_file.empty()) {
    if (auto log = fs::ReadFile(options.log_file, 4 << 20)) message = LastLoggedError(*log);
  }
  Error error = CommandError(verb, id, run, message);
  (void)Delete(id, /*force=*/true);
  return Fail(std::move(error));
}

Status CliRuntime::Start(std::string_view id) {
  FK_TRY(CheckId(id));
  auto run = FK_TRY_CTX(Invoke({"start", std::string(id)}), std::string(name()) + " start");
  if (!run.status.success()) return Fail(CommandError("start", id, run));
  return {};
}

Status CliRuntime::Kill(std::string_view id, int signal) {
  FK_TRY(CheckId(id));
  auto run = FK_TRY_CTX(Invoke({"kill", std::string(id), std::to_string(signal)}),
                        std::string(name()) + " kill");
  if (run.status.success()) return {};
  Error error = CommandError("kill", id, run);
  if (IsAbsentMessage(run.err)) return Fail(ErrorCode::kNotFound, error.message());
  if (run.err.find("not running") != std::string::npos ||
      run.err.find("No such process") != std::string::npos) {
    return Fail(ErrorCode::kConflict, error.message());
  }
  return Fail(std::move(error));
}

Status CliRuntime::Delete(std::string_view id, bool force) {
  FK_TRY(CheckId(id));
  std::vector<std::string> args = {"delete"};
  if (force) args.push_back("--force");
  args.push_back(std::string(id));
  auto run = FK_TRY_CTX(Invoke(std::move(args)), std::string(name()) + " delete");
  if (run.status.success() || IsAbsentMessage(run.err)) return {};
  return Fail(CommandError("delete", id, run));
}

Result<ContainerState> CliRuntime::State(std::string_view id) {
  FK_TRY(CheckId(id));
  auto run = FK_TRY_CTX(Invoke({"state", std::string(id)}), std::string(name()) + " state");
  if (!run.status.success()) {
    if (IsAbsentMessage(run.err)) return ContainerState{};
    return Fail(CommandError("state", id, run));
  }
  return FK_TRY_CTX(ParseContainerState(run.out),
                    std::string(name()) + " state " + std::string(id));
}

bool CliRuntime::MayExist(std::string_view id) const {
  if (options_.root.empty() || !CheckId(id)) return true;
  struct stat st {};
  return ::lstat((options_.root + "/" + std::string(id)).c_str(), &st) == 0 || errno != ENOENT;
}

Result<RuntimeVersion> CliRuntime::Version() {
  process::SpawnOptions spawn;
  spawn.argv = {binary_, "--version"};
  spawn.env = process::MinimalEnvironment();
  spawn.stdout_fd = process::kCapture;
  spawn.stderr_fd = process::kCapture;
  process::RunLimits limits;
  limits.timeout = options_.timeout;
  auto run = FK_TRY_CTX(process::Run(spawn, limits), std::string(name()) + " --version");
  if (!run.status.success()) return Fail(CommandError("--version", "", run));
  return ParseRuntimeVersion(name(), run.out);
}

std::vector<std::string> RuncRuntime::LogArgs(const std::string& path) const {
  return {"--log", path, "--log-format", "json"};
}

bool RuncRuntime::IsAbsentMessage(std::string_view message) const {
  return message.find("container does not exist") != std::string_view::npos;
}

std::vector<std::string> CrunRuntime::LogArgs(const std::string& path) const {
  return {"--log=file:" + path, "--log-format=json"};
}

bool CrunRuntime::IsAbsentMessage(std::string_view message) const {
  // crun names the state file it could not open rather than the container.
  return message.find("No such file or directory") != std::string_view::npos ||
         message.find("does not exist") != std::string_view::npos;
}

Result<std::unique_ptr<OciRuntime>> MakeOciRuntime(std::string_view name, RuntimeOptions options) {
  if (name.empty() || name == "runc") return std::make_unique<RuncRuntime>(std::move(options));
  if (name == "crun") return std::make_unique<CrunRuntime>(std::move(options));
  return Fail(ErrorCode::kInvalidInput,
              "unknown OCI runtime '" + std::string(name) + "' (expected runc or crun)");
}

Result<RuntimeVersion> ParseRuntimeVersion(std::string_view name, std::string_view output) {
  RuntimeVersion v;
  v.name = std::string(name);
  std::string prefix = std::string(name) + " version ";
  while (!output.empty()) {
    auto nl = output.find('\n');
    std::string_view line = output.substr(0, nl);
    output = nl == std::string_view::npos ? std::string_view() : output.substr(nl + 1);
    if (line.starts_with(prefix)) {
      v.version = std::string(line.substr(prefix.size()));
    } else if (line.starts_with("commit: ")) {
      v.commit = std::string(line.substr(8));
    }
  }
  if (v.version.empty()) {
    return Fail(ErrorCode::kUnavailable, std::string(name) + " --version printed no version line");
  }
  return v;
}

Result<ContainerState> ParseContainerState(std::string_view json_text) {
  auto obj = FK_TRY_CTX(FlatJsonObject::Parse(json_text), "container state");
  auto status = obj.String("status");
  if (!status) return Fail(ErrorCode::kUnavailable, "container state has no status");
  ContainerState state;
  if (*status == "creating") {
    state.status = ContainerStatus::kCreating;
  } else if (*status == "created") {
    state.status = ContainerStatus::kCreated;
  } else if (*status == "running") {
    state.status = ContainerStatus::kRunning;
  } else if (*status == "paused") {
    state.status = ContainerStatus::kPaused;
  } else if (*status == "stopped") {
    state.status = ContainerStatus::kStopped;
  } else {
    return Fail(ErrorCode::kUnavailable, "unknown container status '" + *status + "'");
  }
  state.pid = static_cast<pid_t>(obj.Int("pid").value_or(0));
  state.bundle = obj.String("bundle").value_or("");
  return state;
}

std::string LastLoggedError(std::string_view log_text) {
  std::string last;
  while (!log_text.empty()) {
    auto nl = log_text.find('\n');
    std::string_view line = log_text.substr(0, nl);
    log_text = nl == std::string_view::npos ? std::string_view() : log_text.substr(nl + 1);
    auto entry = FlatJsonObject::Parse(line);
    if (!entry) continue;
    auto level = entry->String("level");
    auto msg = entry->String("msg");
    if (level && msg && (*level == "error" || *level == "fatal")) last = *msg;
  }
  return last;
}

}  // namespace fogkeep::node::runtime
