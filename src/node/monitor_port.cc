#include "node/monitor_port.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <system_error>
#include <thread>
#include <utility>

#include "api/node.h"
#include "core/fs.h"
#include "core/log.h"
#include "node/runtime/flat_json.h"

namespace fogkeep::node {
namespace {

constexpr std::size_t kMaxInterfaceName = IFNAMSIZ - 1;

bool ValidInterfaceName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxInterfaceName && name != "." && name != ".." &&
         name != "lo" && std::ranges::all_of(name, [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
         });
}

// ---------------------------------------------------------------------------------------------
// Pinned namespaces

bool IsPinned(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == NSFS_MAGIC;
}

// Unmounts (every layer) and removes a pin; a missing one is fine.
Status Unpin(const std::string& path) {
  for (int i = 0; i < 16; ++i) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
      if (errno == EINVAL || errno == ENOENT) break;  // not (or no longer) a mount point
      return FailErrno("unmount " + path, errno);
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return FailErrno("remove " + path, errno);
  return {};
}

Status WriteProcFile(const std::string& path, const std::string& text) {
  fs::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open " + path, errno);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return FailErrno("write " + path, errno);
  }
  return {};
}

// Reads exactly one int from `fd` (the child's report); EOF or an error is std::nullopt.
std::optional<int> ReadInt(int fd) {
  int value = 0;
  ssize_t n;
  do {
    n = ::read(fd, &value, sizeof(value));
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(value))) return std::nullopt;
  return value;
}

// Makes a user namespace mapping container ids 0.. to `ids` and a network namespace owned by
// it, and pins them at `userns` and `netns` (files that must not exist yet). fogkeepd has many
// threads, and only a single-threaded process may create a user namespace: a forked child
// creates them (calling only async-signal-safe functions), this process writes its id maps
// and bind-mounts its namespace files, then lets it exit.
Status PinNamespaces(const std::string& userns, const std::string& netns,
                     const runtime::IdRange& ids) {
  for (const std::string* path : {&userns, &netns}) {
    fs::UniqueFd file(
        ::open(path->c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400));
    if (!file.valid()) return FailErrno("create " + *path, errno);
  }
  int report[2];
  int release[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return FailErrno("pipe", errno);
  fs::UniqueFd report_read(report[0]), report_write(report[1]);
  if (::pipe2(release, O_CLOEXEC) != 0) return FailErrno("pipe", errno);
  fs::UniqueFd release_read(release[0]), release_write(release[1]);

  pid_t child = ::fork();
  if (child < 0) return FailErrno("fork", errno);
  if (child == 0) {
    // The child holds copies of every descriptor: the release pipe reports EOF only once its
    // write end is closed here too.
    ::close(release[1]);
    ::close(report[0]);
    int err = ::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : errno;
    (void)!::write(report[1], &err, sizeof(err));
    char byte;
    while (::read(release[0], &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  report_write.Reset();
  release_read.Reset();
  auto pinned = [&]() -> Status {
    std::optional<int> err = ReadInt(report_read.get());
    if (!err) return Fail(ErrorCode::kUnavailable, "the namespace child ended early");
    if (*err != 0) return FailErrno("unshare(CLONE_NEWUSER | CLONE_NEWNET)", *err);
    const std::string proc = "/proc/" + std::to_string(child);
    const std::string map =
        "0 " + std::to_string(ids.host_base) + " " + std::to_string(ids.size) + "\n";
    FK_TRY(WriteProcFile(proc + "/uid_map", map));
    FK_TRY(WriteProcFile(proc + "/gid_map", map));
    if (::mount((proc + "/ns/user").c_str(), userns.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return FailErrno("bind-mount the user namespace on " + userns, errno);
    }
    if (::mount((proc + "/ns/net").c_str(), netns.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return FailErrno("bind-mount the network namespace on " + netns, errno);
    }
    return {};
  }();
  release_write.Reset();  // the child's read returns; it exits
  while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  return pinned;
}

// Runs `fn` on a thread of its own that has joined the network namespace at `netns`: a network
// namespace is a per-thread attribute, so the rest of fogkeepd never leaves its own.
Status InNetns(const std::string& netns, const std::function<Status()>& fn) {
  fs::UniqueFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return FailErrno("open " + netns, errno);
  Status result;
  try {
    std::thread worker([&] {
      if (::setns(ns.get(), CLONE_NEWNET) != 0) {
        result = FailErrno("enter network namespace " + netns, errno);
        return;
      }
      result = fn();
    });
    worker.join();
  } catch (const std::system_error& e) {
    return Fail(ErrorCode::kUnavailable, std::string("start a thread: ") + e.what());
  }
  return result;
}

// Moves interface `ifindex` of the calling thread's network namespace into the one `target_fd`
// refers to, by rtnetlink (what `ip link set DEV netns NS` sends). The kernel takes it down.
Status MoveLink(int ifindex, int target_fd, const std::string& name) {
  const std::string what = "move interface " + name;
  fs::UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock.valid()) return FailErrno(what + ": netlink socket", errno);
  struct {
    nlmsghdr header;
    ifinfomsg link;
    alignas(NLMSG_ALIGNTO) char attributes[RTA_SPACE(sizeof(std::uint32_t))];
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg)) + RTA_SPACE(sizeof(std::uint32_t));
  request.header.nlmsg_type = RTM_NEWLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.header.nlmsg_seq = 1;
  request.link.ifi_family = AF_UNSPEC;
  request.link.ifi_index = ifindex;
  auto* attribute = reinterpret_cast<rtattr*>(request.attributes);
  attribute->rta_type = IFLA_NET_NS_FD;
  attribute->rta_len = RTA_LENGTH(sizeof(std::uint32_t));
  const std::uint32_t fd = static_cast<std::uint32_t>(target_fd);
  std::memcpy(RTA_DATA(attribute), &fd, sizeof(fd));

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock.get(), &request, request.header.nlmsg_len, 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return FailErrno(what + ": netlink send", errno);
  }
  alignas(nlmsghdr) char reply[4096];
  ssize_t n;
  do {
    n = ::recv(sock.get(), reply, sizeof(reply), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return FailErrno(what + ": netlink receive", errno);
  auto* header = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(header, static_cast<unsigned>(n)) || header->nlmsg_type != NLMSG_ERROR) {
    return Fail(ErrorCode::kUnavailable, what + ": unexpected netlink reply");
  }
  const auto* ack = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
  if (ack->error != 0) return FailErrno(what, -ack->error);
  return {};
}

// Brings interface `name` of the calling thread's network namespace up.
Status BringUp(const std::string& name) {
  fs::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return FailErrno("socket", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0)
    return FailErrno("read " + name + "'s flags", errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0)
    return FailErrno("bring " + name + " up", errno);
  return {};
}

struct HolderRecord {
  std::string app;
  std::string interface;
};

std::string FormatHolder(const HolderRecord& holder) {
  runtime::FlatJsonObject obj;
  obj.SetString("app", holder.app);
  obj.SetString("interface", holder.interface);
  return obj.Serialize() + "\n";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Settings

Status ValidateMonitorPortSettings(const MonitorPortSettings& s) {
  std::vector<std::string> problems;
  if (!s.interface.empty() && !ValidInterfaceName(s.interface)) {
    problems.push_back("network-monitor.interface '" + s.interface +
                       "' must be 1-15 characters of letters, digits, '_', '.' and '-', not lo");
  }
  if (s.interface.empty() && !s.apps.empty()) {
    problems.push_back("network-monitor.apps needs network-monitor.interface");
  }
  for (const auto& app : s.apps) {
    if (!api::IsAppId(app)) {
      problems.push_back("network-monitor.apps: '" + app +
                         "' is not an app id (1-63 of [a-z0-9_.-], starting with a letter or "
                         "digit)");
    }
  }
  if (problems.empty()) return {};
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
  return Fail(ErrorCode::kInvalidInput, message);
}

Result<MonitorPortSettings> ParseMonitorPortSettings(const yaml::Node& node,
                                                     MonitorPortSettings settings) {
  if (node.IsNull()) return settings;
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidInput, "network-monitor must be a mapping (interface, apps)");
  }
  for (const auto& [key, value] : node.entries()) {
    std::string where = "network-monitor." + key + " (line " + std::to_string(value.line()) + ")";
    if (key == "interface") {
      if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
      settings.interface = value.scalar();
    } else if (key == "apps") {
      if (!value.IsSequence()) {
        return Fail(ErrorCode::kInvalidInput, where + " must be a list of app ids");
      }
      settings.apps.clear();
      for (const auto& item : value.items()) {
        if (!item.IsScalar()) {
          return Fail(ErrorCode::kInvalidInput, where + " must be a list of app ids");
        }
        settings.apps.push_back(item.scalar());
      }
    } else {
      return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    }
  }
  FK_TRY(ValidateMonitorPortSettings(settings));
  return settings;
}

// ---------------------------------------------------------------------------------------------
// MonitorPort

MonitorPort::MonitorPort(std::string state_dir, std::string interface)
    : state_dir_(std::move(state_dir)), interface_(std::move(interface)) {}

Result<std::unique_ptr<MonitorPort>> MonitorPort::Open(std::string state_dir,
                                                       std::string interface) {
  if (state_dir.empty() || state_dir.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "the monitor state directory must be an absolute path");
  }
  if (!interface.empty() && !ValidInterfaceName(interface)) {
    return Fail(ErrorCode::kInvalidInput, "'" + interface + "' is not a usable interface name");
  }
  for (const char* sub : {"", "/netns", "/userns"}) FK_TRY(fs::MakeDirs(state_dir + sub, 0700));
  return std::unique_ptr<MonitorPort>(new MonitorPort(std::move(state_dir), std::move(interface)));
}

std::string MonitorPort::NetnsPath(const std::string& app_id) const {
  return state_dir_ + "/netns/" + app_id;
}

std::string MonitorPort::UsernsPath(const std::string& app_id) const {
  return state_dir_ + "/userns/" + app_id;
}

std::string MonitorPort::HolderPath() const { return state_dir_ + "/holder"; }

std::optional<std::string> MonitorPort::Holder() const {
  auto text = fs::ReadFile(HolderPath(), 4096);
  if (!text) return std::nullopt;
  auto obj = runtime::FlatJsonObject::Parse(*text);
  if (!obj) return std::nullopt;
  auto app = obj->String("app");
  if (!app || !api::IsAppId(*app)) return std::nullopt;
  return app;
}

Status MonitorPort::Attach(const std::string& app_id, const runtime::IdRange& ids) {
  std::lock_guard lock(mu_);
  if (interface_.empty()) {
    return Fail(ErrorCode::kForbidden,
                "asks for network-monitor, which this node's policy grants to no app");
  }
  if (auto holder = Holder(); holder && *holder != app_id) {
    if (IsPinned(NetnsPath(*holder))) {
      return Fail(ErrorCode::kConflict, "monitor interface " + interface_ + " is held by app " +
                                            *holder + "; one app at a time may hold it");
    }
    // What a holder that no longer holds it left (a failure half-way, a crash).
    FK_TRY_CTX(DetachLocked(*holder), "release the monitor interface from app " + *holder);
  }
  // Attach starts from a clean slate: whatever an earlier one of this app left goes first.
  FK_TRY_CTX(DetachLocked(app_id), "release the earlier monitor namespace of app " + app_id);

  const unsigned ifindex = ::if_nametoindex(interface_.c_str());
  if (ifindex == 0) {
    return Fail(ErrorCode::kUnavailable, "monitor interface " + interface_ +
                                             " is not in fogkeepd's network namespace (" +
                                             std::strerror(errno) + ")");
  }
  // Persisted before anything exists, so whatever a crash interrupts is found and returned.
  FK_TRY(fs::WriteFileAtomic(HolderPath(), FormatHolder({app_id, interface_}), 0600));
  auto undo = [&](const Error& error) -> Status {
    if (auto st = DetachLocked(app_id); !st) {
      log::Warn("app {}: releasing a failed monitor attachment: {}", app_id, st.error().message());
    }
    return Fail(error.With("lend monitor interface " + interface_));
  };
  if (auto st = PinNamespaces(UsernsPath(app_id), NetnsPath(app_id), ids); !st) {
    return undo(st.error());
  }
  fs::UniqueFd netns(::open(NetnsPath(app_id).c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns.valid())
    return undo(Error(ErrorCode::kUnavailable, ErrnoMessage("open netns", errno)));
  if (auto st = MoveLink(static_cast<int>(ifindex), netns.get(), interface_); !st) {
    return undo(st.error());
  }
  if (auto st = InNetns(NetnsPath(app_id),
                        [&]() -> Status {
                          FK_TRY(BringUp("lo"));
                          return BringUp(interface_);
                        });
      !st) {
    return undo(st.error());
  }
  log::Info("app {}: holds monitor interface {} (moved into its network namespace)", app_id,
            interface_);
  return {};
}

Status MonitorPort::Detach(const std::string& app_id) {
  std::lock_guard lock(mu_);
  return DetachLocked(app_id);
}

Status MonitorPort::DetachLocked(const std::string& app_id) {
  const std::string netns = NetnsPath(app_id);
  if (IsPinned(netns)) {
    // Back into the namespace this thread is in: fogkeepd's, where Attach found the interface.
    fs::UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!home.valid()) return FailErrno("open fogkeepd's network namespace", errno);
    std::vector<std::string> moved;
    // Every interface but lo: the app (CAP_NET_RAW only) can neither rename nor add one, so
    // this is the monitor interface, whatever fogkeepd's configuration says today.
    auto move_back = [&]() -> Status {
      struct if_nameindex* links = ::if_nameindex();
      if (links == nullptr) return FailErrno("list interfaces", errno);
      Status result;
      for (struct if_nameindex* l = links; l->if_index != 0; ++l) {
        if (std::strcmp(l->if_name, "lo") == 0) continue;
        if (auto st = MoveLink(static_cast<int>(l->if_index), home.get(), l->if_name); !st) {
          if (result) result = Fail(st.error());
        } else {
          moved.emplace_back(l->if_name);
        }
      }
      ::if_freenameindex(links);
      return result;
    };
    FK_TRY_CTX(InNetns(netns, move_back), "return the monitor interface of app " + app_id);
    for (const auto& name : moved) {
      log::Info("app {}: monitor interface {} returned to fogkeepd's network namespace", app_id,
                name);
    }
  }
  FK_TRY(Unpin(netns));
  FK_TRY(Unpin(UsernsPath(app_id)));
  if (Holder() == app_id) {
    if (::unlink(HolderPath().c_str()) != 0 && errno != ENOENT) {
      return FailErrno("remove " + HolderPath(), errno);
    }
    FK_TRY(fs::FsyncDir(state_dir_));
  }
  return {};
}

Status MonitorPort::Reconcile(const std::set<std::string>& keep) {
  std::lock_guard lock(mu_);
  std::set<std::string> ids;
  for (const char* sub : {"/netns", "/userns"}) {
    for (const auto& name : fs::ListDir(state_dir_ + sub)) {
      if (name.front() != '.') ids.insert(name);
    }
  }
  if (auto holder = Holder()) ids.insert(*holder);
  Status first;
  for (const auto& id : ids) {
    if (keep.contains(id)) continue;
    if (auto st = DetachLocked(id); !st) {
      log::Warn("network-monitor: app {}: {}", id, st.error().message());
      if (first) first = Fail(st.error());
    }
  }
  return first;
}

}  // namespace fogkeep::node
