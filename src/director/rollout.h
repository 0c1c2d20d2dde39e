// Deployments and their staged rollout: the state machine, the waves, the desired apps each
// device gets, and what the nodes' reports mean for them.
//
// A deployment puts one app version on its targets (devices carrying any of its tags, plus the
// devices it names, resolved when it is created). Targets are split into waves in device-id
// order. States:
//
//   rolling ──(every wave done)──────────────→ completed
//     │  ↑ resume
//     │ pause → paused
//     ├─(failures > threshold)→ halted ──(auto_rollback, or rollback)→ rolling-back → rolled-back
//     ├─ cancel → cancelled   (no further waves; devices keep what they got)
//     └─ undeploy (from any state but the final ones) → undeploying → undeployed
//   rollback is also allowed from rolling, paused, completed and cancelled.
//
// Targets: pending (its wave has not come) → assigned (the device is told to run the version)
// → running | failed (from its reports); rolled-back and removed once a rollback or an
// undeploy is seen through on the device.
//
// Each step is one FleetStore::UpdateDeployment with the revision read before it, so two
// director replicas (or a restart in the middle) never apply a step twice: the loser of a race
// re-reads and decides again. Only the replica holding the "rollout" lease advances waves;
// every replica serves desired states and takes reports. Everything is in the store, so a
// director killed mid-rollout resumes where it was.
//
// What a device is told (DesiredApps): for each app, the latest of its deployments that
// applies to it decides — a target that is not pending gets the deployment's version; a
// deployment rolling back (or rolled back) gives its previous version, or removes the app
// when there was none; an undeploy removes it. Pending targets fall back to what an earlier
// deployment of the same app gave them, so an upgrade's later waves keep the old version.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/director.h"
#include "core/error.h"
#include "director/enrollment.h"
#include "director/store.h"

namespace fogkeep::director {

namespace rollout_state {
inline constexpr std::string_view kRolling = "rolling";
inline constexpr std::string_view kPaused = "paused";
inline constexpr std::string_view kCompleted = "completed";
inline constexpr std::string_view kHalted = "halted";
inline constexpr std::string_view kRollingBack = "rolling-back";
inline constexpr std::string_view kRolledBack = "rolled-back";
inline constexpr std::string_view kCancelled = "cancelled";
inline constexpr std::string_view kUndeploying = "undeploying";
inline constexpr std::string_view kUndeployed = "undeployed";
}  // namespace rollout_state

namespace target_state {
inline constexpr std::string_view kPending = "pending";
inline constexpr std::string_view kAssigned = "assigned";
inline constexpr std::string_view kRunning = "running";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kRolledBack = "rolled-back";
inline constexpr std::string_view kRemoved = "removed";
}  // namespace target_state

// No step will ever change a deployment in this state.
bool IsFinal(std::string_view state);

// The number of devices per wave for `wave_size` ("10", "25%") of `targets` devices; at least
// 1. kInvalidInput for anything else (0, "0%", "150%", "ten").
Result<std::int64_t> WaveSize(std::string_view wave_size, std::int64_t targets);

class Rollouts {
 public:
  Rollouts(std::shared_ptr<FleetStore> store, Clock clock = SystemNow)
      : store_(std::move(store)), clock_(std::move(clock)) {}

  // Resolves the targets, checks the package is in the catalog, splits the waves and starts
  // the first one. kInvalidInput for a bad request (no targets, a bad wave size or
  // threshold), kNotFound when the package is not in the catalog.
  Result<api::DeploymentInfo> Create(const api::DeploymentRequest& request,
                                     const std::string& created_by);
  Result<std::vector<api::DeploymentInfo>> List();
  // With its targets. std::nullopt when there is no such deployment.
  Result<std::optional<api::DeploymentInfo>> Get(const std::string& id);
  // pause | resume | cancel | rollback | undeploy. kConflict when the state does not allow
  // it, kInvalidInput for another action.
  Result<api::DeploymentInfo> Act(const std::string& id, std::string_view action);

  // Advances every deployment that is not final by at most one step each (halts, next waves,
  // completions). Returns whether anything changed (the caller wakes long polls).
  Result<bool> Tick();

  // Applies a device's report to its targets (running, failed, rolled back, removed).
  Status OnReport(const std::string& device_id, const api::NodeReport& report);

  // The apps `device_id` should run, by the rules above.
  Result<std::vector<api::DesiredApp>> DesiredApps(const std::string& device_id);

 private:
  Result<bool> Step(Deployment deployment);

  const std::shared_ptr<FleetStore> store_;
  const Clock clock_;
};

}  // namespace fogkeep::director
