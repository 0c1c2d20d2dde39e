#include "fleetsim/apply.h"

#include "fleetsim/stats.h"

namespace fogkeep::fleetsim {

std::vector<api::DeviceApp> AppliedApps(const std::vector<api::DesiredApp>& desired,
                                        const FailureRule& rule) {
  std::vector<api::DeviceApp> apps;
  apps.reserve(desired.size());
  for (const api::DesiredApp& want : desired) {
    api::DeviceApp app{.id = want.name, .name = want.name, .version = want.version};
    if (rule.Fails(want.version)) {
      app.state = "FAILED";
      app.error = "simulated failure: " + want.name + " " + want.version + " did not start";
    } else {
      app.state = want.state.empty() ? "RUNNING" : want.state;
    }
    apps.push_back(std::move(app));
  }
  return apps;
}

bool SameApps(const std::vector<api::DesiredApp>& a, const std::vector<api::DesiredApp>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const api::DesiredApp& x = a[i];
    const api::DesiredApp& y = b[i];
    if (x.name != y.name || x.version != y.version || x.sha256 != y.sha256 ||
        x.package_url != y.package_url || x.state != y.state || x.config_ini != y.config_ini ||
        x.deployment != y.deployment) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> RunningKeys(const std::vector<api::DeviceApp>& apps) {
  std::vector<std::string> keys;
  for (const api::DeviceApp& app : apps) {
    if (app.state == "RUNNING") keys.push_back(AppKey(app.name, app.version));
  }
  return keys;
}

}  // namespace fogkeep::fleetsim
