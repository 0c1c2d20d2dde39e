// AppSockets: each app's own secure-storage socket, served by one HTTP server for the node.
//
// For app <id> the socket is <root>/<id>/sss.sock on the host. The directory <root>/<id> (not
// the socket file: a restarted fogkeepd binds a new socket, and a running container must see
// it) is bind-mounted read-only at /run/fogkeep in that app's container only, and
// FOGKEEP_SSS_SOCKET names the socket there. Who is asking is settled by the listener, never
// by anything in the request: the listener carries the app id as its identity, and refuses
// any peer whose uid (SO_PEERCRED, as the host sees it) lies outside the app's host id range.
// So app A reaches only its own store: B's socket is not in A's mount namespace, and a path
// that reached it anyway would be refused for A's uids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "net/server.h"
#include "node/app_endpoints.h"
#include "node/sss/routes.h"

namespace fogkeep::node::sss {

inline constexpr char kSocketDirInApp[] = "/run/fogkeep";
inline constexpr char kSocketName[] = "sss.sock";
inline constexpr char kSocketEnv[] = "FOGKEEP_SSS_SOCKET";
// Connections one app may hold open on its socket at once; the server's limit is shared.
inline constexpr std::size_t kMaxConnectionsPerApp = 8;

// Registers further routes an app reaches on its own socket (POST /v1/alerts), beside the
// storage routes. Each must declare kAppSocketPermission; the request's principal is the app.
using AppRoutes = std::function<Status(net::Router&)>;

class AppSockets final : public AppEndpoints {
 public:
  // Starts the server (no listener yet) for the apps' sockets under `root` (created 0711),
  // serving the storage routes and `more_routes` (when set).
  static Result<std::unique_ptr<AppSockets>> Start(std::string root,
                                                   std::shared_ptr<StorageServices> services,
                                                   net::ServerLimits limits = {},
                                                   const AppRoutes& more_routes = {});
  ~AppSockets() override;  // stops the server; the sockets are removed

  Result<EndpointMounts> Prepare(const std::string& id, const runtime::IdRange& ids) override;
  std::vector<std::string> MountPoints() const override { return {kSocketDirInApp}; }
  // Closes the socket and its connections, removes its directory, and destroys every record
  // and the data key of the app (SecureStore::DestroyApp) once no request for it runs.
  Status Remove(const std::string& id) override;
  // Removes the socket directories of apps not installed. Records of such apps are kept, and
  // logged: only an uninstall destroys records.
  Status Retain(const std::set<std::string>& installed) override;

  // The host path of app `id`'s socket.
  std::string SocketPath(const std::string& id) const;

 private:
  AppSockets(std::string root, std::shared_ptr<StorageServices> services,
             std::unique_ptr<net::Server> server);
  std::string SocketDir(const std::string& id) const;

  // Constant after construction.
  const std::string root_;
  const std::shared_ptr<StorageServices> services_;
  std::unique_ptr<net::Server> server_;

  std::mutex mu_;
  struct Listening {
    runtime::IdRange ids;     // the uids its listener admits
    std::uint64_t epoch = 0;  // the app's opening (AppGate) its listener serves
  };
  // Guarded by mu_: the apps with a listening socket.
  std::map<std::string, Listening> listening_;
};

}  // namespace fogkeep::node::sss
