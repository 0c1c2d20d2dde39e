#include "node/sss/app_sockets.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "core/fs.h"
#include "core/log.h"

namespace fogkeep::node::sss {

Result<std::unique_ptr<AppSockets>> AppSockets::Start(std::string root,
                                                      std::shared_ptr<StorageServices> services,
                                                      net::ServerLimits limits,
                                                      const AppRoutes& more_routes) {
  if (!services) return Fail(ErrorCode::kInvalidInput, "app sockets need a storage service");
  // Apps' user namespaces resolve the bind mount's source: every directory on the way must
  // let them pass (o+x), none lets them list.
  FK_TRY(fs::MakeDirs(root, 0711));
  if (::chmod(root.c_str(), 0711) != 0) return FailErrno("chmod " + root, errno);
  net::Router router;
  FK_TRY(RegisterAppStorageRoutes(router, services));
  if (more_routes) FK_TRY(more_routes(router));
  net::ServerOptions options;
  options.limits = limits;
  options.io_threads = 1;
  options.allow_no_listener = true;
  auto server = FK_TRY(net::Server::Create(std::move(options), std::move(router),
                                           std::make_shared<ListenerAuthenticator>(), nullptr));
  FK_TRY(server->Start());
  return std::unique_ptr<AppSockets>(
      new AppSockets(std::move(root), std::move(services), std::move(server)));
}

AppSockets::AppSockets(std::string root, std::shared_ptr<StorageServices> services,
                       std::unique_ptr<net::Server> server)
    : root_(std::move(root)), services_(std::move(services)), server_(std::move(server)) {}

AppSockets::~AppSockets() { server_->Stop(); }

std::string AppSockets::SocketDir(const std::string& id) const { return root_ + "/" + id; }

std::string AppSockets::SocketPath(const std::string& id) const {
  return SocketDir(id) + "/" + kSocketName;
}

Result<EndpointMounts> AppSockets::Prepare(const std::string& id, const runtime::IdRange& ids) {
  // The id becomes a path component and the listener's identity.
  FK_TRY(ValidateAppId(id));
  EndpointMounts out;
  out.mounts.push_back(runtime::BindMount{
      .source = SocketDir(id), .destination = kSocketDirInApp, .readonly = true});
  out.env.push_back(std::string(kSocketEnv) + "=" + kSocketDirInApp + "/" + kSocketName);

  std::lock_guard lock(mu_);
  const std::uint64_t epoch = services_->gate.Open(id);
  auto known = listening_.find(id);
  if (known != listening_.end() && known->second.ids.host_base == ids.host_base &&
      known->second.ids.size == ids.size && known->second.epoch == epoch) {
    return out;
  }
  if (known != listening_.end()) {
    (void)server_->RemoveUnixListener(SocketPath(id));
    listening_.erase(known);
  }
  const std::string dir = SocketDir(id);
  FK_TRY(fs::MakeDirs(dir, 0711));
  if (::chmod(dir.c_str(), 0711) != 0) return FailErrno("chmod " + dir, errno);
  // 0666: the app's processes may run as any uid of its range; the directory is visible to
  // that app alone, and the listener checks the range itself.
  FK_TRY(server_->AddUnixListener(net::UnixListenerOptions{
      .path = SocketPath(id),
      .identity = SocketIdentity(id, epoch),
      .mode = 0666,
      .allow_root = true,
      .allowed_uids = {},
      .allowed_uid_ranges = {net::UidRange{.first = ids.host_base, .count = ids.size}},
      .max_connections = kMaxConnectionsPerApp}));
  listening_[id] = Listening{.ids = ids, .epoch = epoch};
  return out;
}

Status AppSockets::Remove(const std::string& id) {
  FK_TRY(ValidateAppId(id));
  {
    std::lock_guard lock(mu_);
    if (listening_.erase(id) > 0) {
      if (Status removed = server_->RemoveUnixListener(SocketPath(id));
          !removed && removed.error().code() != ErrorCode::kNotFound) {
        return removed;
      }
    }
  }
  FK_TRY(fs::RemoveTree(SocketDir(id)));
  // Through the gate: no request of the app, or of an operator for it, runs during the
  // destruction or lands after it.
  return services_->gate.Close(id, [&]() -> Status {
    FK_TRY_CTX(services_->store->DestroyApp(id), "destroy the secure storage of app " + id);
    services_->keys.Forget(id);
    return {};
  });
}

Status AppSockets::Retain(const std::set<std::string>& installed) {
  Status result;
  for (const std::string& name : fs::ListDir(root_)) {
    if (installed.contains(name)) continue;
    log::Warn("secure storage: removing the socket directory of {} (not installed)", name);
    if (Status removed = fs::RemoveTree(root_ + "/" + name); !removed && result) result = removed;
  }
  // Records of an app that is not installed are kept: uninstall destroys them inside its
  // journaled intent, so these came another way (the app database restored from a backup, or
  // an uninstall while the service was disabled), and keys are not destroyed on a guess.
  for (const std::string& app : services_->store->Apps()) {
    if (!installed.contains(app)) {
      log::Warn("secure storage: app {} is not installed but has records; they are kept", app);
    }
  }
  return result;
}

}  // namespace fogkeep::node::sss
