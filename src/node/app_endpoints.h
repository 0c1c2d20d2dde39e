// AppEndpoints: node services an app reaches from inside its container through files the node
// mounts there (today: its secure-storage socket). Apps calls it around an app's life; the
// implementation (node/sss/app_sockets.h) serves the endpoints, so Apps needs no HTTP.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "node/runtime/spec.h"

namespace fogkeep::node {

// What an app's container gets for its endpoints.
struct EndpointMounts {
  std::vector<runtime::BindMount> mounts;
  std::vector<std::string> env;  // "NAME=value"; the app's own app.env cannot override them
};

class AppEndpoints {
 public:
  virtual ~AppEndpoints() = default;
  // Makes app `id`'s endpoints ready for a container whose ids are `ids`, and says what to
  // mount and set. Idempotent: called whenever the app's bundle is written (activation, every
  // start) and when fogkeepd reattaches to a running app.
  virtual Result<EndpointMounts> Prepare(const std::string& id, const runtime::IdRange& ids) = 0;
  // The container paths the mounts use. Apps creates them in every rootfs it extracts (owned
  // by the app's root), so the runtime never has to make them in a rootfs it cannot write.
  virtual std::vector<std::string> MountPoints() const = 0;
  // App `id` is being uninstalled: closes its endpoints and destroys what it keeps there.
  // Idempotent (a crashed uninstall runs it again).
  virtual Status Remove(const std::string& id) = 0;
  // Recovery: tidies what belongs to none of `installed`. What an app stored is destroyed only
  // by Remove (inside the journaled uninstall), never here on a guess.
  virtual Status Retain(const std::set<std::string>& installed) = 0;
};

}  // namespace fogkeep::node
