// fogkeepd: configuration, the node's TLS identity, and the serve loop that wires the app
// service to the HTTP API on the HTTPS and Unix listeners.
//
// Configuration precedence: command-line flags > config file (YAML) > built-in defaults.
// On SIGTERM or SIGINT the listeners stop and fogkeepd exits; apps keep running under their
// shims and are reattached at the next start.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "access/auth_config.h"
#include "core/error.h"
#include "crypto/tls.h"
#include "net/server.h"
#include "node/director_link.h"
#include "node/monitor_port.h"
#include "node/network_cni.h"
#include "node/sss/service.h"

namespace fogkeep::node {

struct DaemonConfig {
  std::string data_dir = "/var/lib/fogkeep";
  // "host:port" or "[v6]:port"; port 0 binds any free port. "" or "none": no HTTPS listener.
  std::string listen = "0.0.0.0:8443";
  // The root-only local socket. "" or "none": no Unix listener.
  std::string socket = "/run/fogkeep/fogkeepd.sock";
  std::string runtime = "runc";  // runc | crun
  std::string shim;              // "": fogkeep-shim next to fogkeepd
  std::uint64_t max_upload_mb = 512;
  std::string log_level = "info";
  // Parent of every app's cgroup, per controller on v1 ("<parent>/<app id>").
  std::string cgroup_parent = "/fogkeep";
  // Apps get uid slots from here up (host uids 200000 + slot * 65536); nodes sharing a host
  // (tests, benchmarks) need disjoint ranges.
  std::uint32_t first_slot = 0;
  // The `network:` mapping of the config file (mode, bridge, subnet, cni-path); no flags.
  NetworkSettings network;
  // The `auth:` mapping of the config file (node/auth_config.h): login back-ends, lockout,
  // sessions; no flags.
  access::AuthSettings auth;
  // The `sss:` mapping (node/sss/service.h): the apps' Secure Storage Service; no flags.
  sss::StorageSettings sss;
  // The `director:` mapping (node/director_link.h): where the director key is kept, for
  // `enroll` and the link alike; no flags.
  DirectorSettings director;
  // The `network-monitor:` mapping (node/monitor_port.h): the host interface lent to an app
  // asking for network-monitor, and which apps may have it; none by default. No flags: only
  // whoever controls the node's own configuration hands an interface to an app.
  MonitorPortSettings network_monitor;
};

// Overlays the keys of a YAML config file on `config`. Keys are the flag names:
// data-dir, listen, socket, runtime, shim, max-upload-mb, log-level, cgroup-parent, first-slot; and
// `network`, `auth`, `sss`, `director` and `network-monitor`, mappings (node/network_cni.h
// ParseNetworkSettings, node/auth_config.h, node/sss/service.h, node/director_link.h,
// node/monitor_port.h). Unknown keys are kInvalidInput
// (a typo must not silently fall back to a default).
Result<DaemonConfig> ApplyConfigFile(const std::string& path, DaemonConfig config);

// The node's HTTPS identity from data-dir/tls/node.{key,pem}. When absent (the node is not
// enrolled yet), generates a self-signed ECDSA P-256 serverAuth certificate for 127.0.0.1,
// localhost and the host name, the key written 0600 before the certificate.
Result<crypto::TlsIdentity> EnsureNodeIdentity(const std::string& data_dir);

using net::ListenAddress;
using net::ParseListenAddress;

// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
int Serve(const DaemonConfig& config);

// main() of fogkeepd: `fogkeepd [serve] [flags]`, `fogkeepd token create --role R`,
// `fogkeepd user add|passwd|del|list`.
// Exit codes: 0 success, 1 failure (reason on stderr), 2 usage error.
int DaemonMain(int argc, char** argv);

}  // namespace fogkeep::node
