// The `auth:` section of fogkeepd's and fogkeep-director's config files: which login back-ends are
// asked and in what order, their settings, brute-force throttling and session lifetimes. Every key
// is optional; without the section, local users (data-dir/users) are the only back-end.
//
//   auth:
//     order: [local, radius, pam]      # the back-ends asked, in this order
//     stop-on-reject: false            # a refusal ends the chain (auth/chain.h)
//     local:
//       users-file: /var/lib/fogkeep/users
//       min-password-chars: 12
//       argon2: {memory-kib: 19456, iterations: 2, parallelism: 1}
//     radius:
//       servers:
//         - {address: "192.0.2.10:1812", secret-file: /etc/fogkeep/radius.secret}
//       timeout-ms: 3000
//       retries: 2
//       nas-identifier: fogkeep
//       roles:                         # first match wins
//         - {class: fogkeep-admin, role: admin}
//         - {filter-id: apps, role: app-manager}
//     pam:
//       service: fogkeep               # /etc/pam.d/fogkeep
//       groups: {fogkeep-admins: admin, fogkeep-apps: app-manager}
//       default-role: ""               # for users in no mapped group; "": refused
//     lockout:
//       user:   {free-failures: 3, base-delay-ms: 1000, max-delay-ms: 60000,
//                lockout-failures: 10, lockout-seconds: 900, window-seconds: 3600}
//       source: {free-failures: 10, lockout-failures: 50}
//     sessions:
//       access-ttl-seconds: 900
//       idle-timeout-seconds: 1800
//       max-lifetime-seconds: 43200
//       max-per-user: 16
//
// Unknown keys are refused with their line, as everywhere in the config file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/chain.h"
#include "auth/local_users.h"
#include "auth/lockout.h"
#include "auth/pam_backend.h"
#include "auth/radius_client.h"
#include "auth/sessions.h"
#include "core/error.h"
#include "core/yaml.h"

namespace fogkeep::access {

struct AuthSettings {
  std::vector<std::string> order = {"local"};
  bool stop_on_reject = false;
  std::string users_file;  // "": data-dir/users
  auth::LocalUserOptions local;
  std::optional<auth::RadiusClientConfig> radius;  // required when order names radius
  std::optional<auth::PamOptions> pam;             // defaults when order names pam
  auth::LoginThrottleConfig throttle;
  auth::SessionOptions sessions;
};

// Overlays the `auth:` mapping on `settings`. kInvalidInput for unknown keys, wrong types,
// values out of range, an order naming an unknown or repeated back-end, or radius in the
// order without a radius section.
Result<AuthSettings> ParseAuthSettings(const yaml::Node& node, AuthSettings settings);

// Each setting weaker than fogkeep's default, as one line an operator can act on ("argon2id
// cost below the default ..."). The server logs each at start and records it in the audit trail:
// a weaker setting is the administrator's explicit choice, never a silent one.
std::vector<std::string> WeakerThanDefaults(const AuthSettings& settings);

// Where a server keeps its local users and its sessions.
std::string UsersFile(const AuthSettings& settings, const std::string& data_dir);
std::string SessionsFile(const std::string& data_dir);

// Opens the local user store with the settings' cost parameters.
Result<std::unique_ptr<auth::LocalUserStore>> OpenLocalUsers(const AuthSettings& settings,
                                                             const std::string& data_dir);

// The back-ends of `settings.order`, built and checked (RADIUS secrets read, the PAM service
// file present), in a chain.
Result<std::unique_ptr<auth::AuthChain>> BuildAuthChain(const AuthSettings& settings,
                                                        const std::string& data_dir);

}  // namespace fogkeep::access
