#include "node/runtime/cgroups.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <vector>

#include "core/fs.h"

namespace fogkeep::node::runtime {
namespace {

constexpr std::size_t kMaxControlFile = 64 << 10;
// cgroup v1 reports "no limit" as the largest page-aligned value (0x7FFFFFFFFFFFF000 on 4 KiB
// pages); anything this large is no limit in practice.
constexpr std::uint64_t kUnlimitedThreshold = 1ull << 62;

// The cgroup path relative to a hierarchy root, refusing anything that could leave it.
Result<std::string> Relative(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "cgroup path '" + path + "' is not absolute");
  }
  return FK_TRY_CTX(fs::CleanRelativePath(std::string_view(path).substr(1)), "cgroup path");
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

Result<std::uint64_t> ParseUint(std::string_view text, const std::string& file) {
  std::uint64_t v = 0;
  text = Trim(text);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Fail(ErrorCode::kUnavailable,
                file + ": not a number: '" + std::string(text.substr(0, 32)) + "'");
  }
  return v;
}

Result<std::uint64_t> ReadUint(const std::string& file) {
  auto text = FK_TRY(fs::ReadFile(file, kMaxControlFile));
  return ParseUint(text, file);
}

// "key value" lines (memory.oom_control, memory.events, cpu.stat).
Result<std::uint64_t> ReadKeyed(const std::string& file, std::string_view key) {
  auto text = FK_TRY(fs::ReadFile(file, kMaxControlFile));
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      return ParseUint(line.substr(key.size() + 1), file);
    }
  }
  return Fail(ErrorCode::kUnavailable,
              file + " has no '" + std::string(key) + "' (kernel too old?)");
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsRealDirectory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Child cgroups first, then the cgroup itself: rmdir is the only way to delete one, and it
// works only on a cgroup with neither children nor processes.
Status RemoveCgroupTree(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return {};
    return FailErrno("open cgroup " + dir, errno);
  }
  std::vector<std::string> children;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == ".." || e->d_type != DT_DIR) continue;
    children.emplace_back(name);
  }
  ::closedir(d);
  for (const auto& child : children) FK_TRY(RemoveCgroupTree(dir + "/" + child));
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    if (errno == EBUSY) return Fail(ErrorCode::kConflict, "cgroup " + dir + " still has processes");
    return FailErrno("remove cgroup " + dir, errno);
  }
  return {};
}

class CgroupsV1 final : public Cgroups {
 public:
  explicit CgroupsV1(std::string root) : root_(std::move(root)) {}

  CgroupVersion version() const override { return CgroupVersion::kV1; }

  Result<std::uint64_t> MemoryUsageBytes(const std::string& path) const override {
    return ReadUint(FK_TRY(File("memory", path, "memory.usage_in_bytes")));
  }
  Result<std::optional<std::uint64_t>> MemoryLimitBytes(const std::string& path) const override {
    auto v = FK_TRY(ReadUint(FK_TRY(File("memory", path, "memory.limit_in_bytes"))));
    if (v >= kUnlimitedThreshold) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(v);
  }
  Result<std::uint64_t> OomKillCount(const std::string& path) const override {
    // memory.failcnt only counts hits of the limit (most end in reclaim, not a kill).
    return ReadKeyed(FK_TRY(File("memory", path, "memory.oom_control")), "oom_kill");
  }
  Result<double> CpuUsageSeconds(const std::string& path) const override {
    // cpuacct is mounted alone or co-mounted with cpu, depending on the distribution.
    std::string controller = IsRealDirectory(root_ + "/cpuacct") ? "cpuacct" : "cpu,cpuacct";
    auto ns = FK_TRY(ReadUint(FK_TRY(File(controller, path, "cpuacct.usage"))));
    return static_cast<double>(ns) / 1e9;
  }
  Result<std::uint64_t> PidsCurrent(const std::string& path) const override {
    return ReadUint(FK_TRY(File("pids", path, "pids.current")));
  }
  bool SupportsSwapLimit() const override {
    return Exists(root_ + "/memory/memory.memsw.limit_in_bytes");
  }
  Status Remove(const std::string& path) const override {
    auto rel = FK_TRY(Relative(path));
    DIR* d = ::opendir(root_.c_str());
    if (d == nullptr) return FailErrno("open " + root_, errno);
    std::vector<std::string> hierarchies;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      // Co-mounted controllers appear twice ("cpu" -> "cpu,cpuacct"); the links are skipped.
      if (name != "." && name != ".." && e->d_type == DT_DIR) hierarchies.emplace_back(name);
    }
    ::closedir(d);
    std::optional<Error> first_error;
    for (const auto& h : hierarchies) {
      if (auto st = RemoveCgroupTree(root_ + "/" + h + "/" + rel); !st && !first_error) {
        first_error = st.error();
      }
    }
    if (first_error) return Fail(*first_error);
    return {};
  }

 private:
  Result<std::string> File(std::string_view controller, const std::string& path,
                           std::string_view file) const {
    auto rel = FK_TRY(Relative(path));
    return root_ + "/" + std::string(controller) + "/" + rel + "/" + std::string(file);
  }

  const std::string root_;
};

class CgroupsV2 final : public Cgroups {
 public:
  explicit CgroupsV2(std::string root) : root_(std::move(root)) {}

  CgroupVersion version() const override { return CgroupVersion::kV2; }

  Result<std::uint64_t> MemoryUsageBytes(const std::string& path) const override {
    return ReadUint(FK_TRY(File(path, "memory.current")));
  }
  Result<std::optional<std::uint64_t>> MemoryLimitBytes(const std::string& path) const override {
    std::string file = FK_TRY(File(path, "memory.max"));
    auto text = FK_TRY(fs::ReadFile(file, kMaxControlFile));
    if (Trim(text) == "max") return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(FK_TRY(ParseUint(text, file)));
  }
  Result<std::uint64_t> OomKillCount(const std::string& path) const override {
    return ReadKeyed(FK_TRY(File(path, "memory.events")), "oom_kill");
  }
  Result<double> CpuUsageSeconds(const std::string& path) const override {
    auto usec = FK_TRY(ReadKeyed(FK_TRY(File(path, "cpu.stat")), "usage_usec"));
    return static_cast<double>(usec) / 1e6;
  }
  Result<std::uint64_t> PidsCurrent(const std::string& path) const override {
    return ReadUint(FK_TRY(File(path, "pids.current")));
  }
  bool SupportsSwapLimit() const override {
    // The root cgroup has no memory.swap.max; a child with the memory controller has it
    // exactly when the kernel accounts swap.
    DIR* d = ::opendir(root_.c_str());
    if (d == nullptr) return false;
    bool found = false;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || e->d_type != DT_DIR) continue;
      std::string child = root_ + "/" + std::string(name);
      if (Exists(child + "/memory.max")) {
        found = Exists(child + "/memory.swap.max");
        break;
      }
    }
    ::closedir(d);
    return found;
  }
  Status Remove(const std::string& path) const override {
    auto rel = FK_TRY(Relative(path));
    return RemoveCgroupTree(root_ + "/" + rel);
  }

 private:
  Result<std::string> File(const std::string& path, std::string_view file) const {
    auto rel = FK_TRY(Relative(path));
    return root_ + "/" + rel + "/" + std::string(file);
  }

  const std::string root_;
};

}  // namespace

std::unique_ptr<Cgroups> MakeCgroupsV1(const std::string& root) {
  return std::make_unique<CgroupsV1>(root);
}

std::unique_ptr<Cgroups> MakeCgroupsV2(const std::string& root) {
  return std::make_unique<CgroupsV2>(root);
}

std::unique_ptr<Cgroups> DetectCgroups(const std::string& root) {
  if (Exists(root + "/cgroup.controllers")) return MakeCgroupsV2(root);
  return MakeCgroupsV1(root);
}

}  // namespace fogkeep::node::runtime
