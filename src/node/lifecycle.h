// The IOx app lifecycle as one explicit transition table (like containerd's init state
// machine): DEPLOYED → ACTIVATED → RUNNING ⇄ STOPPED, deactivate back to DEPLOYED, uninstall
// from DEPLOYED. Every state change in fogkeepd goes through Transition(), so an illegal move
// fails in one place with one kind of message ("cannot start app in DEPLOYED state").
#pragma once

#include <optional>
#include <string_view>

#include "core/error.h"

namespace fogkeep::node {

enum class AppState { kDeployed, kActivated, kRunning, kStopped };
enum class AppAction { kActivate, kStart, kStop, kRestart, kDeactivate, kUninstall, kUpgrade };

std::string_view AppStateName(AppState state);     // "DEPLOYED"
std::string_view AppActionName(AppAction action);  // "activate"
std::optional<AppState> ParseAppState(std::string_view name);
std::optional<AppAction> ParseAppAction(std::string_view name);

// The state after `action` from `from`, or kConflict naming both. Uninstall leads out of the
// table: its result is DEPLOYED (the last state the app is seen in).
Result<AppState> Transition(AppState from, AppAction action);

}  // namespace fogkeep::node
