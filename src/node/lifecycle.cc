#include "node/lifecycle.h"

#include <array>
#include <string>

namespace fogkeep::node {
namespace {

struct Edge {
  AppState from;
  AppAction action;
  AppState to;
};

// The whole lifecycle. Upgrade keeps the state the app was in (a running app runs the new
// version); restart is only meaningful for a running app.
constexpr std::array kEdges{
    Edge{AppState::kDeployed, AppAction::kActivate, AppState::kActivated},
    Edge{AppState::kActivated, AppAction::kStart, AppState::kRunning},
    Edge{AppState::kStopped, AppAction::kStart, AppState::kRunning},
    Edge{AppState::kRunning, AppAction::kStop, AppState::kStopped},
    Edge{AppState::kRunning, AppAction::kRestart, AppState::kRunning},
    Edge{AppState::kActivated, AppAction::kDeactivate, AppState::kDeployed},
    Edge{AppState::kStopped, AppAction::kDeactivate, AppState::kDeployed},
    Edge{AppState::kDeployed, AppAction::kUninstall, AppState::kDeployed},
    Edge{AppState::kDeployed, AppAction::kUpgrade, AppState::kDeployed},
    Edge{AppState::kActivated, AppAction::kUpgrade, AppState::kActivated},
    Edge{AppState::kRunning, AppAction::kUpgrade, AppState::kRunning},
    Edge{AppState::kStopped, AppAction::kUpgrade, AppState::kStopped},
};

}  // namespace

std::string_view AppStateName(AppState state) {
  switch (state) {
    case AppState::kDeployed:
      return "DEPLOYED";
    case AppState::kActivated:
      return "ACTIVATED";
    case AppState::kRunning:
      return "RUNNING";
    case AppState::kStopped:
      return "STOPPED";
  }
  return "DEPLOYED";
}

std::string_view AppActionName(AppAction action) {
  switch (action) {
    case AppAction::kActivate:
      return "activate";
    case AppAction::kStart:
      return "start";
    case AppAction::kStop:
      return "stop";
    case AppAction::kRestart:
      return "restart";
    case AppAction::kDeactivate:
      return "deactivate";
    case AppAction::kUninstall:
      return "uninstall";
    case AppAction::kUpgrade:
      return "upgrade";
  }
  return "activate";
}

std::optional<AppState> ParseAppState(std::string_view name) {
  for (auto s :
       {AppState::kDeployed, AppState::kActivated, AppState::kRunning, AppState::kStopped}) {
    if (AppStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<AppAction> ParseAppAction(std::string_view name) {
  for (auto a : {AppAction::kActivate, AppAction::kStart, AppAction::kStop, AppAction::kRestart,
                 AppAction::kDeactivate, AppAction::kUninstall, AppAction::kUpgrade}) {
    if (AppActionName(a) == name) return a;
  }
  return std::nullopt;
}

Result<AppState> Transition(AppState from, AppAction action) {
  for (const auto& edge : kEdges) {
    if (edge.from == from && edge.action == action) return edge.to;
  }
  std::string hint;
  if (action == AppAction::kUninstall) hint = " (stop and deactivate it first)";
  if (action == AppAction::kStart && from == AppState::kDeployed) hint = " (activate it first)";
  if (action == AppAction::kDeactivate && from == AppState::kRunning) hint = " (stop it first)";
  return Fail(ErrorCode::kConflict, "cannot " + std::string(AppActionName(action)) + " app in " +
                                        std::string(AppStateName(from)) + " state" + hint);
}

}  // namespace fogkeep::node
