// The monitor port: the one host interface (a mirror or SPAN port) that fogkeepd lends to an
// app asking for network-monitor (app.resources.network-monitor), for raw packet capture.
//
// fogkeepd's `network-monitor:` settings name the interface and, optionally, the apps that
// may hold it (runtime::NodePolicy decides whether an app is granted it). When a granted app
// starts, Attach makes a user namespace with the app's id mapping and a network namespace
// owned by that user namespace, both pinned by bind mounts; moves the interface out of
// fogkeepd's network namespace into the app's; and brings it and loopback up there. The
// container joins both namespaces. Ownership is the point: the kernel lets CAP_NET_RAW open
// an AF_PACKET socket only in a network namespace owned by the user namespace the capability
// is held in, so a namespace fogkeepd made as host root (as CNI's are) would leave the app's
// capability worthless. Moving, not sharing, the interface keeps every other host interface
// out of the app's sight, and a mirror port carries no traffic of the node's own.
//
// Detach moves every interface of the app's namespace back into fogkeepd's network namespace
// and releases the namespaces. One app holds the interface at a time.
//
// State under `state_dir` (<data-dir>/monitor):
//   holder         the app holding (or being given) the interface, and its name: written
//                  before anything is prepared, removed once all is released
//   userns/<app>   the app's pinned user namespace
//   netns/<app>    the app's pinned network namespace
//
// Every step is idempotent, and a failure leaves what the next Detach or Reconcile needs.
// While fogkeepd is down a running app keeps the interface; Reconcile at the next start returns
// it once the app is gone. If the namespace itself ends without fogkeepd (a reboot, the pin
// unmounted by hand), the kernel returns a physical interface to the host's initial network
// namespace by itself, and destroys a virtual one (a veth goes with its peer).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/yaml.h"
#include "node/runtime/spec.h"

namespace fogkeep::node {

// fogkeepd's `network-monitor:` settings.
struct MonitorPortSettings {
  // The host interface lent to an app asking for network-monitor (1-15 of [A-Za-z0-9_.-],
  // not "lo"); "": the node grants network-monitor to no app (the default).
  std::string interface;
  // The app ids that may hold it; empty: any app that asks (one at a time).
  std::vector<std::string> apps;
};

// Every problem of `settings`, in one kInvalidInput message.
Status ValidateMonitorPortSettings(const MonitorPortSettings& settings);

// Overlays a YAML mapping with keys `interface` (a scalar) and `apps` (a list of app ids) on
// `settings` and validates the result. Unknown keys and wrong kinds are kInvalidInput.
Result<MonitorPortSettings> ParseMonitorPortSettings(const yaml::Node& node,
                                                     MonitorPortSettings settings = {});

class MonitorPort {
 public:
  // Creates the state directories under `state_dir` (absolute). `interface` may be empty:
  // Attach then refuses every app, and Reconcile still returns what an earlier configuration
  // lent.
  static Result<std::unique_ptr<MonitorPort>> Open(std::string state_dir, std::string interface);

  const std::string& interface() const { return interface_; }
  // Where app `app_id`'s namespaces are pinned while it holds the interface (the container
  // joins them; the paths are fixed, so a bundle written before Attach names them too).
  std::string NetnsPath(const std::string& app_id) const;
  std::string UsernsPath(const std::string& app_id) const;

  // Lends the interface to app `app_id`, whose container root is host id `ids.host_base`.
  // What an earlier Attach of the same app left is released first. kConflict while another
  // app holds it; kUnavailable when it is not in fogkeepd's network namespace (absent, or a
  // release failed); kForbidden when no interface is configured. A failure releases what it
  // made.
  Status Attach(const std::string& app_id, const runtime::IdRange& ids);
  // Moves the interfaces of the app's namespace (all but lo) back to fogkeepd's network
  // namespace and releases the namespaces. Releasing twice, or what was never lent, succeeds.
  // When an interface cannot be moved back, the namespaces stay for the next try.
  Status Detach(const std::string& app_id);
  // Detaches every app not in `keep` (recovery passes the apps whose containers still run).
  // Failures are logged and retried at the next call; the first one is returned.
  Status Reconcile(const std::set<std::string>& keep);
  // The app that holds the interface, if any.
  std::optional<std::string> Holder() const;

 private:
  MonitorPort(std::string state_dir, std::string interface);

  std::string HolderPath() const;
  // Run with mu_ held.
  Status DetachLocked(const std::string& app_id);

  // Constant after Open().
  const std::string state_dir_;
  const std::string interface_;

  // Serialises Attach, Detach and Reconcile, which move the interface and change the pins
  // and the holder file. Holder() reads the file (written atomically) without it.
  std::mutex mu_;
};

}  // namespace fogkeep::node
