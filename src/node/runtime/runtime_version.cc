// The runtime version check of oci_runtime.h (kept apart from the drivers so the shim, which
// never checks versions, does not carry it).
#include <algorithm>
#include <charconv>
#include <optional>
#include <tuple>

#include "core/log.h"
#include "node/runtime/oci_runtime.h"

namespace fogkeep::node::runtime {
namespace {

struct Semver {
  int major = 0;
  int minor = 0;
  int patch = 0;
  bool prerelease = false;  // "1.4.0-rc.3" sorts before "1.4.0"

  auto series() const { return std::tie(major, minor); }
  friend bool operator<(const Semver& a, const Semver& b) {
    if (std::tie(a.major, a.minor, a.patch) != std::tie(b.major, b.minor, b.patch)) {
      return std::tie(a.major, a.minor, a.patch) < std::tie(b.major, b.minor, b.patch);
    }
    return a.prerelease && !b.prerelease;
  }
};

// "1.1.5+ds1", "1.4.0-rc.3", "1.8.1": the numeric core, then '-' (pre-release) or '+' (build).
std::optional<Semver> ParseSemver(std::string_view text) {
  Semver v;
  int* parts[] = {&v.major, &v.minor, &v.patch};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, *parts[i]);
    if (ec != std::errc()) return i >= 2 ? std::optional<Semver>(v) : std::nullopt;
    p = next;
    if (i < 2) {
      if (p == end || *p != '.') return i == 1 ? std::optional<Semver>(v) : std::nullopt;
      ++p;
    }
  }
  v.prerelease = p != end && *p == '-';
  return v;
}

// A distribution's package: the version carries a repack suffix ("+ds1", "+dfsg") or the
// commit line names a distribution revision ("1.1.5+ds1-1+deb12u1", "...ubuntu...", ".el9").
bool IsDistributionBuild(const RuntimeVersion& v) {
  auto has = [](std::string_view s, std::string_view what) {
    return s.find(what) != std::string_view::npos;
  };
  return has(v.version, "+ds") || has(v.version, "+dfsg") || has(v.commit, "deb") ||
         has(v.commit, "ubuntu") || has(v.commit, ".el") || has(v.commit, ".fc") ||
         has(v.commit, "suse");
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

VersionPolicy DefaultVersionPolicy(std::string_view runtime_name) {
  VersionPolicy policy;
  if (runtime_name == "crun") {
    policy.fixed_in = {"1.4.4"};
  } else {
    policy.fixed_in = {"1.2.8", "1.3.3", "1.4.0"};
  }
  return policy;
}

Result<std::string> CheckRuntimeVersion(const RuntimeVersion& version,
                                        const VersionPolicy& policy) {
  auto have = ParseSemver(version.version);
  if (!have) {
    return Fail(ErrorCode::kForbidden,
                version.name + " reports an unreadable version '" + version.version + "'");
  }
  std::vector<Semver> fixed;
  for (const auto& f : policy.fixed_in) {
    auto v = ParseSemver(f);
    if (!v)
      return Fail(ErrorCode::kInvalidInput, "runtime version policy: bad version '" + f + "'");
    fixed.push_back(*v);
  }
  if (fixed.empty()) return std::string();
  std::sort(fixed.begin(), fixed.end());

  bool ok;
  auto same_series =
      std::ranges::find_if(fixed, [&](const Semver& f) { return f.series() == have->series(); });
  if (same_series != fixed.end()) {
    ok = !(*have < *same_series);
  } else {
    ok = fixed.back().series() < have->series();
  }
  if (ok) return std::string();

  std::string reason = version.name + " " + version.version +
                       " is older than the releases that fix known container escapes (" +
                       Join(policy.fixed_in) + ")";
  if (policy.accept_distribution_builds && IsDistributionBuild(version)) {
    return reason + "; accepted because " +
           (version.commit.empty() ? version.version : version.commit) +
           " is a distribution build that may carry backported fixes: check the "
           "distribution's security advisories for " +
           version.name;
  }
  return Fail(ErrorCode::kForbidden, reason + "; upgrade " + version.name);
}

Result<VerifiedRuntime> VerifyRuntime(OciRuntime& runtime, const VersionPolicy& policy) {
  VerifiedRuntime out;
  out.version = FK_TRY_CTX(runtime.Version(), "runtime version check");
  out.warning = FK_TRY_CTX(CheckRuntimeVersion(out.version, policy), "runtime version check");
  if (!out.warning.empty()) log::Warn("{}", out.warning);
  return out;
}

}  // namespace fogkeep::node::runtime
