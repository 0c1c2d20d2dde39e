#include "node/sss/app_sockets.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "core/fs.h"
#include "core/log.h"

namespace fogkeep::node::sss {

Result<std::unique_ptr<AppSockets>> AppSockets::Start(std::string root,
                                                      std::shared_ptr<StorageServices> services,
                                                      net::ServerLimits limits) {
  if (!services) return Fail(ErrorCode::kInvalidInput, "app sockets need a storage service");
  // Apps' user namespaces resolve the bind mount's source: every directory on the way must
  // let them pass (o+x), none lets them list.
  FK_TRY(fs::MakeDirs(root, 0711));
  if (::chmod(root.c_str(), 0711) != 0) return FailErrno("chmod " + root, errno);
  net::Router router;
  FK_TRY(RegisterAppStorageRoutes(router, services));
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
  auto known = listening_.find(id);
  if (known != listening_.end() && known->second.host_base == ids.host_base &&
      known->second.size == ids.size) {
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
      .identity = id,
      .mode = 0666,
      .allow_root = true,
      .allowed_uids = {},
      .allowed_uid_ranges = {net::UidRange{.first = ids.host_base, .count = ids.size}}}));
  listening_[id] = ids;
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
  FK_TRY_CTX(services_->store->DestroyApp(id), "destroy the secure storage of app " + id);
  return {};
}

Status AppSockets::Retain(const std::set<std::string>& installed) {
  std::set<std::string> stale;
  for (const std::string& name : fs::ListDir(root_)) {
    if (!installed.contains(name)) stale.insert(name);
  }
  for (const std::string& app : services_->store->Apps()) {
    if (!installed.contains(app)) stale.insert(app);
  }
  Status result;
  for (const std::string& id : stale) {
    log::Warn("secure storage: removing app {} (not installed)", id);
    if (!ValidateAppId(id)) {
      // Not a name Prepare ever made: only the directory entry can be stale.
      if (Status removed = fs::RemoveTree(SocketDir(id)); !removed && result) result = removed;
      continue;
    }
    if (Status removed = Remove(id); !removed && result) result = removed;
  }
  return result;
}

}  // namespace fogkeep::node::sss
