// The `bridge` network back-end: apps that declare an interface join a Linux bridge through
// the CNI plugins of Debian's containernetworking-plugins, executed per the CNI 1.0 spec.
//
// The network is one configuration list: `bridge` (the node is the gateway, outbound traffic
// is masqueraded, hairpin on) with `host-local` IPAM, then `portmap` for the ports the app
// declares (node port = app port, on every address of the node). Each app's attachment is
// keyed by its id (CNI_CONTAINERID) and lives in a network namespace of its own, pinned by a
// bind mount, so it outlives a restart of fogkeepd while the app runs.
//
// State under `state_dir` (every path derives from it, so nodes run side by side when they
// are also given distinct bridges and subnets):
//   netns/<app>             the app's network namespace (an nsfs bind mount)
//   attachments/<app>.json  what ADD was given and returned: DEL must see the same network
//                           list, runtime config and result. Written before the first plugin
//                           runs, so whatever a crash interrupts is found and released.
//   ipam/                   host-local's leases
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/yaml.h"
#include "node/network.h"

namespace fogkeep::node {

// fogkeepd's `network:` settings.
struct NetworkSettings {
  // auto: the bridge when the CNI plugins and iptables are installed, else none.
  // bridge: the bridge, or fogkeepd does not start. none: loopback only for every app.
  std::string mode = "auto";
  std::string bridge = "fogkeep0";  // the Linux bridge apps join (1-15 of [A-Za-z0-9_.-])
  // IPv4 subnet apps get their addresses from (prefix /8 to /29); its first address is the
  // node's on the bridge.
  std::string subnet = "10.89.0.0/24";
  std::string cni_path = "/usr/lib/cni";  // where the CNI plugins are (CNI_PATH)
};

// Every problem of `settings`, in one kInvalidInput message.
Status ValidateNetworkSettings(const NetworkSettings& settings);

// Overlays a YAML mapping with keys mode, bridge, subnet and cni-path (or cni_path) on
// `settings` and validates the result. Unknown keys and non-scalar values are kInvalidInput.
Result<NetworkSettings> ParseNetworkSettings(const yaml::Node& node, NetworkSettings settings = {});

// The back-end `settings` name, with its state under `<data_dir>/network`. `auto` without the
// plugins logs why and falls back to `none`; `bridge` without them is kUnavailable.
Result<std::shared_ptr<NetworkProvider>> MakeNetworkProvider(const NetworkSettings& settings,
                                                             const std::string& data_dir);

// The first program `bridge` networking needs that is not installed (a plugin under
// `cni_path`, or iptables), or "" when all are there.
std::string MissingBridgePrerequisite(const std::string& cni_path);

struct CniOptions {
  std::string state_dir;  // absolute; see the layout above
  std::string bridge = "fogkeep0";
  std::string subnet = "10.89.0.0/24";
  std::string cni_path = "/usr/lib/cni";
  std::chrono::milliseconds plugin_timeout{60'000};  // per plugin execution
};

// The CNI protocol pieces, pure functions of their inputs (the unit tests drive them).
namespace cni {

inline constexpr std::string_view kVersion = "1.0.0";

struct PortMapping {
  std::string protocol;  // "tcp" | "udp"
  std::uint16_t host_port = 0;
  std::uint16_t container_port = 0;
  bool operator==(const PortMapping&) const = default;
};

// Every port the descriptor declares, on any of its interfaces, once each: node port = app
// port.
std::vector<PortMapping> PortMappingsFor(const package::Descriptor& descriptor);
// "tcp/8080->8080" (node port -> app port).
std::string FormatPortMapping(const PortMapping& mapping);

// "fogkeep-<bridge>". The bridge and portmap plugins name their iptables chains after the
// network name and the container id, so nodes on distinct bridges never share a chain.
std::string NetworkName(std::string_view bridge);

// The network configuration list (JSON) for `options`: bridge + host-local (dataDir
// `<state_dir>/ipam`, a default route through the node) + portmap.
std::string Conflist(const CniOptions& options);

// The `type` of each plugin of a configuration list, in ADD order. Types are plain file
// names (no '/'), or the list is kInvalidInput.
Result<std::vector<std::string>> PluginTypes(std::string_view conflist);

// What plugin `index` of `conflist` reads on stdin (libcni's rules): its own entry plus the
// list's cniVersion and name; `prev_result` as prevResult unless empty; and, only for a
// plugin that declares the portMappings capability and only when `ports` is not empty,
// runtimeConfig.portMappings.
Result<std::string> PluginConfig(std::string_view conflist, std::size_t index,
                                 std::string_view prev_result,
                                 const std::vector<PortMapping>& ports);

// The address a result gives interface `ifname` inside the container.
struct Address {
  std::string ip;  // "10.89.0.2"
  int prefix = 0;  // 24
  std::string gateway;
};
Result<Address> ParseAddResult(std::string_view result, std::string_view ifname);

// Why a plugin failed, never empty: the error it printed on stdout ({"code", "msg",
// "details"}), else its stderr, else `status` ("exit code 1").
std::string PluginError(std::string_view out, std::string_view err, std::string_view status);

// What one app's attachment persists between ADD and DEL.
struct Attachment {
  std::string container_id;  // CNI_CONTAINERID: the app id
  std::string netns;         // CNI_NETNS
  std::string ifname;        // CNI_IFNAME
  std::string conflist;      // the configuration list ADD ran (JSON)
  std::vector<PortMapping> ports;
  std::string result;  // ADD's final result (JSON); empty until every plugin succeeded
};
std::string FormatAttachment(const Attachment& attachment);
Result<Attachment> ParseAttachment(std::string_view text);

}  // namespace cni

class CniNetworkProvider final : public NetworkProvider {
 public:
  // Checks the options, creates the state directories and checks that the plugins are
  // there (kUnavailable naming what is missing).
  static Result<std::unique_ptr<CniNetworkProvider>> Create(CniOptions options);

  // An app without an interface gets `none` (kNone: the runtime gives it a fresh namespace
  // with loopback), one asking for host networking kHost, any other the bridge (kNamespace).
  NetworkAttachment Describe(const std::string& app_id,
                             const package::Descriptor& descriptor) const override;
  // For the bridge: releases any earlier attachment of the app, refuses (kConflict) a node
  // port another app maps or a process on the node listens on, creates the namespace with
  // loopback up, runs ADD of each plugin and persists the result. A failure releases what it
  // made. Only the first declared interface is connected.
  Result<NetworkAttachment> Attach(const std::string& app_id, const package::Descriptor& descriptor,
                                   const PlatformPolicy& policy) override;
  // DEL of each plugin in reverse order with what ADD saw and returned, then the namespace.
  // When a plugin fails, the attachment file and the namespace stay for the next try.
  Status Detach(const std::string& app_id) override;
  Status Reconcile(const std::set<std::string>& keep) override;

  // CHECK of each plugin against the app's attachment: kNotFound when it has none,
  // kUnavailable with the plugin's reason when the network no longer is what ADD made.
  Status Check(const std::string& app_id);

  std::string NetnsPath(const std::string& app_id) const;
  const CniOptions& options() const { return options_; }

 private:
  explicit CniNetworkProvider(CniOptions options);

  std::string AttachmentPath(const std::string& app_id) const;
  // All below run with mu_ held.
  Status DetachLocked(const std::string& app_id);
  Status CheckPortsFree(const std::string& app_id, const std::vector<cni::PortMapping>& ports);
  // Executes plugin `index` of the attachment's list with CNI_COMMAND=`command`; its stdout.
  Result<std::string> RunPlugin(std::string_view command, const cni::Attachment& attachment,
                                std::size_t index, std::string_view prev_result);

  // Constant after Create().
  const CniOptions options_;
  const std::string conflist_;

  // Serialises Attach, Detach, Reconcile and Check, which change the namespaces, the
  // attachment files and the plugins' state. Describe does not wait for it.
  std::mutex mu_;

  // The address of every app attached, for Describe (AppInfo of every app in a listing):
  // what the attachment files say, loaded by Create and kept by Attach and DetachLocked.
  mutable std::mutex addresses_mu_;
  std::map<std::string, std::string> addresses_;  // app id -> "10.89.0.5"; addresses_mu_
};

}  // namespace fogkeep::node
