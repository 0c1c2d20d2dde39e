#include "director/rollout.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "api/node.h"
#include "crypto/hash.h"

namespace fogkeep::director {
namespace {

namespace rs = rollout_state;
namespace ts = target_state;

constexpr std::int64_t kMaxPauseSeconds = 7 * 24 * 3600;
constexpr std::size_t kMaxNamedDevices = 10000;

bool Is(std::string_view state, std::initializer_list<std::string_view> any) {
  return std::find(any.begin(), any.end(), state) != any.end();
}

// A target whose device was told to run the deployment's version.
bool Reached(const DeploymentTarget& t) {
  return Is(t.state, {ts::kAssigned, ts::kRunning, ts::kFailed});
}

Result<api::DeploymentRequest> SpecOf(const Deployment& d) {
  return api::FromJsonText<api::DeploymentRequest>(d.spec_json);
}

const api::DeviceApp* FindApp(const api::NodeReport& report, const std::string& name) {
  for (const api::DeviceApp& app : report.apps) {
    if (app.name == name) return &app;
  }
  return nullptr;
}

api::DeploymentInfo ToWire(const Deployment& d, const std::vector<DeploymentTarget>& targets,
                           bool with_targets) {
  api::DeploymentInfo info{.id = d.id,
                           .app = d.app_name,
                           .version = d.version,
                           .previous_version = d.previous_version,
                           .state = d.state,
                           .reason = d.reason,
                           .wave = d.wave,
                           .created_by = d.created_by,
                           .created_at = d.created_at,
                           .updated_at = d.updated_at};
  if (Result<api::DeploymentRequest> spec = SpecOf(d)) info.spec = std::move(*spec);
  for (const DeploymentTarget& t : targets) {
    info.waves = std::max(info.waves, t.wave + 1);
    if (t.state == ts::kPending) ++info.pending;
    if (t.state == ts::kAssigned) ++info.assigned;
    if (t.state == ts::kRunning) ++info.running;
    if (t.state == ts::kFailed) ++info.failed;
    if (with_targets) {
      info.targets.push_back(api::DeploymentTargetInfo{.device = t.device_id,
                                                       .wave = t.wave,
                                                       .state = t.state,
                                                       .detail = t.detail,
                                                       .updated_at = t.updated_at});
    }
  }
  return info;
}

// "dep-<milliseconds since the epoch, 12 hex digits>-<6 random hex digits>": ids sort by
// creation, which orders deployments created in the same second (the store orders by
// created_at, then id), so the latest deployment of an app is the one that decides.
std::string NewDeploymentId() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char stamp[16];
  std::snprintf(stamp, sizeof(stamp), "%012llx", static_cast<unsigned long long>(ms));
  return "dep-" + std::string(stamp) + "-" + crypto::ToHex(crypto::RandomBytes(3));
}

}  // namespace

bool IsFinal(std::string_view state) { return Is(state, {rs::kRolledBack, rs::kUndeployed}); }

Result<std::int64_t> WaveSize(std::string_view wave_size, std::int64_t targets) {
  const bool percent = !wave_size.empty() && wave_size.back() == '%';
  const std::string_view digits = percent ? wave_size.substr(0, wave_size.size() - 1) : wave_size;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n <= 0 ||
      (percent && n > 100)) {
    return Fail(ErrorCode::kInvalidInput,
                "wave_size must be a device count (\"10\") or a percentage (\"25%\"), not \"" +
                    std::string(wave_size) + "\"");
  }
  if (!percent) return n;
  return std::max<std::int64_t>(1, (targets * n + 99) / 100);
}

Result<api::DeploymentInfo> Rollouts::Create(const api::DeploymentRequest& request,
                                             const std::string& created_by) {
  if (request.app.empty() || request.version.empty()) {
    return Fail(ErrorCode::kInvalidInput, "a deployment needs an app and a version");
  }
  const api::RolloutSpec& rollout = request.rollout;
  if (rollout.failure_threshold_percent < 0 || rollout.failure_threshold_percent > 100) {
    return Fail(ErrorCode::kInvalidInput, "failure_threshold_percent must be 0 to 100");
  }
  if (rollout.pause_seconds < 0 || rollout.pause_seconds > kMaxPauseSeconds) {
    return Fail(ErrorCode::kInvalidInput, "pause_seconds must be 0 to 604800");
  }
  if (request.devices.size() > kMaxNamedDevices) {
    return Fail(ErrorCode::kInvalidInput, "too many devices named");
  }
  if (!FK_TRY(store_->FindPackage(request.app, request.version))) {
    return Fail(ErrorCode::kNotFound,
                request.app + " " + request.version + " is not in the catalog");
  }

  // The targets: enrolled devices with any of the tags, and the devices named.
  std::set<std::string> devices;
  for (const std::string& tag : FK_TRY(NormalizeTags(request.tags))) {
    DeviceFilter filter{.tag = tag, .status = DeviceStatus::kEnrolled};
    for (const Device& d : FK_TRY(store_->ListDevices(filter))) devices.insert(d.id);
  }
  for (const std::string& id : request.devices) {
    const std::optional<Device> device = FK_TRY(store_->FindDevice(id));
    if (!device || device->status != DeviceStatus::kEnrolled) {
      return Fail(ErrorCode::kInvalidInput, "no enrolled device " + id);
    }
    devices.insert(id);
  }
  if (devices.empty()) {
    return Fail(ErrorCode::kInvalidInput, "no enrolled device matches the deployment's targets");
  }
  const std::int64_t per_wave =
      FK_TRY(WaveSize(rollout.wave_size, static_cast<std::int64_t>(devices.size())));

  // What a rollback returns to: the version of the app's latest deployment still in force.
  std::string previous;
  for (const Deployment& d : FK_TRY(store_->ListDeployments())) {
    if (d.app_name == request.app &&
        Is(d.state, {rs::kRolling, rs::kPaused, rs::kCompleted, rs::kHalted, rs::kCancelled})) {
      previous = d.version;
    }
  }
  if (previous == request.version) previous.clear();

  const std::int64_t now = clock_();
  Deployment deployment{.id = NewDeploymentId(),
                        .app_name = request.app,
                        .version = request.version,
                        .previous_version = previous,
                        .spec_json = api::ToJsonText(request),
                        .state = std::string(rs::kRolling),
                        .created_by = created_by,
                        .created_at = now,
                        .updated_at = now};
  std::vector<DeploymentTarget> targets;
  std::int64_t i = 0;
  for (const std::string& id : devices) {
    const std::int64_t wave = i++ / per_wave;
    targets.push_back(
        DeploymentTarget{.deployment_id = deployment.id,
                         .device_id = id,
                         .wave = wave,
                         .state = std::string(wave == 0 ? ts::kAssigned : ts::kPending),
                         .updated_at = now});
  }
  FK_TRY(store_->CreateDeployment(deployment, targets));
  return ToWire(deployment, targets, true);
}

Result<std::vector<api::DeploymentInfo>> Rollouts::List() {
  std::vector<api::DeploymentInfo> out;
  for (const Deployment& d : FK_TRY(store_->ListDeployments())) {
    out.push_back(ToWire(d, FK_TRY(store_->ListTargets(d.id)), false));
  }
  return out;
}

Result<std::optional<api::DeploymentInfo>> Rollouts::Get(const std::string& id) {
  const std::optional<Deployment> d = FK_TRY(store_->FindDeployment(id));
  if (!d) return std::optional<api::DeploymentInfo>();
  return ToWire(*d, FK_TRY(store_->ListTargets(id)), true);
}

Result<api::DeploymentInfo> Rollouts::Act(const std::string& id, std::string_view action) {
  // Read, decide, write with the revision read: a concurrent step makes this a kConflict, and
  // the action is decided again on fresh state.
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::optional<Deployment> found = FK_TRY(store_->FindDeployment(id));
    if (!found) return Fail(ErrorCode::kNotFound, "no deployment " + id);
    Deployment d = std::move(*found);
    std::vector<DeploymentTarget> targets = FK_TRY(store_->ListTargets(id));
    std::vector<DeploymentTarget> changed;
    std::string_view next;
    if (action == "pause" && d.state == rs::kRolling) {
      next = rs::kPaused;
    } else if (action == "resume" && Is(d.state, {rs::kPaused, rs::kHalted})) {
      next = rs::kRolling;
    } else if (action == "cancel" && Is(d.state, {rs::kRolling, rs::kPaused, rs::kHalted})) {
      next = rs::kCancelled;
    } else if (action == "rollback" && Is(d.state, {rs::kRolling, rs::kPaused, rs::kHalted,
                                                    rs::kCompleted, rs::kCancelled})) {
      next = rs::kRollingBack;
    } else if (action == "undeploy" && !IsFinal(d.state) && d.state != rs::kUndeploying) {
      next = rs::kUndeploying;
      // Devices that never got it have nothing to remove.
      for (DeploymentTarget& t : targets) {
        if (t.state == ts::kPending) {
          t.state = std::string(ts::kRemoved);
          t.updated_at = clock_();
          changed.push_back(t);
        }
      }
    } else if (Is(action, {"pause", "resume", "cancel", "rollback", "undeploy"})) {
      return Fail(ErrorCode::kConflict,
                  "cannot " + std::string(action) + " a deployment that is " + d.state);
    } else {
      return Fail(ErrorCode::kInvalidInput,
                  "action must be pause, resume, cancel, rollback or undeploy");
    }
    d.state = std::string(next);
    d.reason = std::string(action) + " requested";
    d.next_wave_at = 0;
    d.updated_at = clock_();
    Status written = store_->UpdateDeployment(d, changed);
    if (!written && written.error().code() == ErrorCode::kConflict) continue;
    FK_TRY(written);
    ++d.revision;
    return ToWire(d, FK_TRY(store_->ListTargets(id)), true);
  }
  return Fail(ErrorCode::kUnavailable, "deployment " + id + " keeps changing; try again");
}

Result<bool> Rollouts::Tick() {
  bool changed = false;
  for (Deployment& d : FK_TRY(store_->ListDeployments())) {
    if (!Is(d.state, {rs::kRolling, rs::kRollingBack, rs::kUndeploying})) continue;
    Result<bool> stepped = Step(std::move(d));
    // Another replica got there first: its step stands, and the next tick sees it.
    if (!stepped && stepped.error().code() == ErrorCode::kConflict) continue;
    changed = FK_TRY(stepped) || changed;
  }
  return changed;
}

Result<bool> Rollouts::Step(Deployment d) {
  const std::vector<DeploymentTarget> targets = FK_TRY(store_->ListTargets(d.id));
  const std::int64_t now = clock_();
  std::int64_t waves = 0, reached = 0, assigned = 0, failed = 0, unsettled = 0;
  for (const DeploymentTarget& t : targets) {
    waves = std::max(waves, t.wave + 1);
    if (t.wave <= d.wave && Reached(t)) ++reached;
    if (t.state == ts::kAssigned) ++assigned;
    if (t.state == ts::kFailed) ++failed;
    if (d.state == rs::kRollingBack && Reached(t)) ++unsettled;
    if (d.state == rs::kUndeploying && t.state != ts::kRemoved) ++unsettled;
  }
  std::vector<DeploymentTarget> moved;
  if (d.state == rs::kRollingBack || d.state == rs::kUndeploying) {
    if (unsettled > 0) return false;
    d.state = std::string(d.state == rs::kRollingBack ? rs::kRolledBack : rs::kUndeployed);
  } else {
    const api::DeploymentRequest spec = FK_TRY(SpecOf(d));
    const std::int64_t threshold = spec.rollout.failure_threshold_percent;
    if (failed > 0 && failed * 100 > threshold * reached) {
      d.reason = std::to_string(failed) + " of " + std::to_string(reached) +
                 " devices failed (threshold " + std::to_string(threshold) + "%)";
      d.state = std::string(spec.rollout.auto_rollback ? rs::kRollingBack : rs::kHalted);
    } else if (assigned > 0) {
      return false;  // the current wave is still being applied
    } else if (d.wave + 1 >= waves) {
      d.state = std::string(rs::kCompleted);
      d.reason.clear();
    } else if (d.next_wave_at == 0 && spec.rollout.pause_seconds > 0) {
      d.next_wave_at = now + spec.rollout.pause_seconds;  // the pause starts now
    } else if (now < d.next_wave_at) {
      return false;
    } else {
      ++d.wave;
      d.next_wave_at = 0;
      for (DeploymentTarget t : targets) {
        if (t.wave == d.wave && t.state == ts::kPending) {
          t.state = std::string(ts::kAssigned);
          t.updated_at = now;
          moved.push_back(std::move(t));
        }
      }
    }
  }
  d.updated_at = now;
  FK_TRY(store_->UpdateDeployment(d, moved));
  return true;
}

Status Rollouts::OnReport(const std::string& device_id, const api::NodeReport& report) {
  std::map<std::string, std::optional<Deployment>> deployments;
  const std::int64_t now = clock_();
  for (const DeploymentTarget& t : FK_TRY(store_->TargetsOfDevice(device_id))) {
    auto [it, fresh] = deployments.try_emplace(t.deployment_id);
    if (fresh) it->second = FK_TRY(store_->FindDeployment(t.deployment_id));
    if (!it->second || IsFinal(it->second->state)) continue;
    const Deployment& d = *it->second;
    const api::DeviceApp* app = FindApp(report, d.app_name);
    std::string_view next;
    std::string detail;
    if (d.state == rs::kRollingBack) {
      const bool back =
          d.previous_version.empty()
              ? app == nullptr
              : app != nullptr && app->version == d.previous_version && app->state == "RUNNING";
      if (Reached(t) && back) next = ts::kRolledBack;
    } else if (d.state == rs::kUndeploying) {
      if (t.state != ts::kRemoved && app == nullptr) next = ts::kRemoved;
    } else if (Reached(t) && app != nullptr && app->version == d.version) {
      if (app->state == "RUNNING") {
        next = ts::kRunning;
      } else if (app->state == "FAILED" || !app->error.empty()) {
        next = ts::kFailed;
        detail = app->error;
      }
    }
    if (!next.empty() && next != t.state) {
      FK_TRY(store_->SetTargetState(d.id, device_id, std::string(next), detail, now));
    }
  }
  return {};
}

Result<std::vector<api::DesiredApp>> Rollouts::DesiredApps(const std::string& device_id) {
  // app name → what the latest applicable deployment says (nullopt: remove it).
  std::map<std::string, std::optional<api::DesiredApp>> apps;
  for (const DeploymentTarget& t : FK_TRY(store_->TargetsOfDevice(device_id))) {
    if (t.state == ts::kPending) continue;
    const std::optional<Deployment> d = FK_TRY(store_->FindDeployment(t.deployment_id));
    if (!d) continue;
    std::string version = d->version;
    if (Is(d->state, {rs::kRollingBack, rs::kRolledBack})) {
      version = d->previous_version;
    } else if (Is(d->state, {rs::kUndeploying, rs::kUndeployed})) {
      version.clear();
    }
    if (version.empty()) {
      apps[d->app_name] = std::nullopt;
      continue;
    }
    api::DesiredApp app{.name = d->app_name,
                        .version = version,
                        .package_url = "/api/v1/node/packages/" + d->app_name + "/" + version,
                        .deployment = d->id};
    if (version == d->version) {
      if (Result<api::DeploymentRequest> spec = SpecOf(*d)) app.config_ini = spec->config_ini;
    }
    apps[d->app_name] = std::move(app);
  }
  std::vector<api::DesiredApp> out;
  for (auto& [name, app] : apps) {
    if (!app) continue;
    // A package deleted from the catalog cannot be installed any more; leave it out.
    const std::optional<CatalogEntry> package = FK_TRY(store_->FindPackage(name, app->version));
    if (!package) continue;
    app->sha256 = package->sha256;
    out.push_back(std::move(*app));
  }
  return out;
}

}  // namespace fogkeep::director
