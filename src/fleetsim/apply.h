// What a simulated node does with a desired state: the apps it then reports, with the injected
// failures. Pure functions of their arguments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/director.h"

namespace fogkeep::fleetsim {

// Which versions a node fails: none unless `node_fails`; then `version`, or every version when
// `version` is "".
struct FailureRule {
  bool node_fails = false;
  std::string version;

  bool Fails(std::string_view app_version) const {
    return node_fails && (version.empty() || version == app_version);
  }
};

// The apps a node reports once it has applied `desired`: each desired app at the desired
// version in the desired state (RUNNING unless the state says otherwise), or FAILED with an
// error when `rule` fails that version. The app's id is its name, as fogkeepd's are.
std::vector<api::DeviceApp> AppliedApps(const std::vector<api::DesiredApp>& desired,
                                        const FailureRule& rule);

// Whether two desired app lists ask for the same thing (order included: the director sends a
// stable order). A new generation that leaves a node's apps as they were is no change to apply.
bool SameApps(const std::vector<api::DesiredApp>& a, const std::vector<api::DesiredApp>& b);

// AppKey ("app@version") of every app in `apps` that is RUNNING.
std::vector<std::string> RunningKeys(const std::vector<api::DeviceApp>& apps);

}  // namespace fogkeep::fleetsim
