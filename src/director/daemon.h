// fogkeep-director: configuration, its identity (the fleet CA and the HTTPS certificate it
// issues itself), and the serve loop.
//
// Configuration precedence: command-line flags > config file (YAML) > built-in defaults.
// Every replica of one fleet shares the store (PostgreSQL) and the CA directory (copied to each
// replica, or on shared storage); nothing else is shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "access/auth_config.h"
#include "core/error.h"

namespace fogkeep::director {

struct DirectorConfig {
  std::string data_dir = "/var/lib/fogkeep-director";
  std::string listen = "0.0.0.0:9443";
  std::string store = "sqlite";  // sqlite | postgres
  std::string postgres;          // libpq conninfo, with store: postgres
  std::string ca_dir;            // "": data-dir/ca
  std::string fleet_name = "fogkeep fleet";
  // Names and addresses the director's own certificate carries (nodes check one of them).
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1"};
  // How long a node certificate is valid; nodes renew when a third of it is left.
  std::chrono::seconds node_certificate_lifetime = std::chrono::hours(24 * 7);
  std::int64_t max_poll_seconds = 60;
  std::string log_level = "info";
  // The OAuth issuer (the URL clients use); "": https://<first dns name>:<bound port>.
  std::string oauth_issuer;
  access::AuthSettings auth;
};

// Overlays the keys of a YAML config file: the flag names (data-dir, listen, store, postgres,
// ca-dir, fleet-name, dns-names, ip-addresses, node-certificate-lifetime (a duration: "90s", "12h",
// "7d"), max-poll-seconds, log-level, oauth-issuer) and the `auth:` mapping (access/auth_config.h).
// Unknown keys are kInvalidInput.
Result<DirectorConfig> ApplyConfigFile(const std::string& path, DirectorConfig config);

// main() of fogkeep-director: `serve` (the default), `user ...`, `token create`.
int DirectorMain(int argc, char** argv);

}  // namespace fogkeep::director
