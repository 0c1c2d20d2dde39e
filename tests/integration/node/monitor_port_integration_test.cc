// node::MonitorPort against the real kernel: the monitor interface moves into a network
// namespace owned by a user namespace with the app's id mapping, comes up there, goes back to
// this process's namespace on Detach, belongs to one app at a time, and whatever a crash left
// (pins, a holder file without pins) is returned by the next Reconcile or Attach.
//
// Root only (it skips otherwise). The test's interface is one end of a veth pair whose other
// end lives in a network namespace the test creates (fkmp<pid>); both are removed at the end.
#include <fcntl.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/process.h"
#include "node/monitor_port.h"
#include "support/support.h"

namespace fogkeep::node {
namespace {

using ::testing::HasSubstr;

constexpr char kIp[] = "/usr/sbin/ip";

bool RunTool(std::vector<std::string> argv) {
  process::SpawnOptions options;
  options.argv = std::move(argv);
  options.env = process::MinimalEnvironment();
  options.stdout_fd = process::kCapture;
  options.stderr_fd = process::kCapture;
  auto run = process::Run(options);
  return run && run->status.success();
}

// The interfaces of the network namespace at `netns` (read on a thread that joins it), or of
// this thread's when empty, with whether each is up.
std::vector<std::pair<std::string, bool>> Links(const std::string& netns = "") {
  std::vector<std::pair<std::string, bool>> out;
  auto list = [&] {
    fs::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct if_nameindex* links = ::if_nameindex();
    if (links == nullptr) return;
    for (struct if_nameindex* l = links; l->if_index != 0; ++l) {
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, l->if_name, IFNAMSIZ - 1);
      bool up = ::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) != 0;
      out.emplace_back(l->if_name, up);
    }
    ::if_freenameindex(links);
  };
  if (netns.empty()) {
    list();
    return out;
  }
  std::thread worker([&] {
    fs::UniqueFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
    if (ns.valid() && ::setns(ns.get(), CLONE_NEWNET) == 0) list();
  });
  worker.join();
  return out;
}

bool Has(const std::vector<std::pair<std::string, bool>>& links, const std::string& name,
         bool up_too = false) {
  for (const auto& [n, up] : links) {
    if (n == name && (!up_too || up)) return true;
  }
  return false;
}

ino_t Inode(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

class MonitorPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (::access(kIp, X_OK) != 0) GTEST_SKIP() << "needs iproute2";
    const std::string pid = std::to_string(::getpid());
    iface_ = "fkm" + pid;
    peer_ns_ = "fkmp" + pid;
    ASSERT_TRUE(RunTool({kIp, "netns", "add", peer_ns_}));
    ASSERT_TRUE(RunTool({kIp, "link", "add", iface_, "type", "veth", "peer", "name", "fkmp" + pid,
                         "netns", peer_ns_}));
    state_dir_ = dir_ / "monitor";
  }

  void TearDown() override {
    if (::geteuid() != 0) return;
    for (const auto& sub : {"/netns/", "/userns/"}) {
      for (const auto& name : fs::ListDir(state_dir_ + sub)) {
        ::umount2((state_dir_ + sub + name).c_str(), MNT_DETACH);
      }
    }
    RunTool({kIp, "link", "del", iface_});
    RunTool({kIp, "netns", "del", peer_ns_});
  }

  std::unique_ptr<MonitorPort> Open() {
    auto port = MonitorPort::Open(state_dir_, iface_);
    EXPECT_TRUE(port) << port.error().message();
    return port ? std::move(*port) : nullptr;
  }

  testing::TempDir dir_;
  std::string state_dir_;
  std::string iface_;
  std::string peer_ns_;
  const runtime::IdRange ids_{200000 + 61000u * 65536, 65536};
};

TEST_F(MonitorPortTest, TheInterfaceMovesIntoANamespaceTheAppOwnsAndBack) {
  auto port = Open();
  ASSERT_TRUE(port);
  ASSERT_TRUE(Has(Links(), iface_));
  ASSERT_TRUE(port->Attach("sensor", ids_));
  EXPECT_EQ(port->Holder(), "sensor");
  EXPECT_FALSE(Has(Links(), iface_)) << "still in the host's namespace";
  auto inside = Links(port->NetnsPath("sensor"));
  EXPECT_TRUE(Has(inside, iface_, /*up_too=*/true));
  EXPECT_TRUE(Has(inside, "lo", /*up_too=*/true));
  EXPECT_EQ(inside.size(), 2u) << "only lo and the monitor interface";

  // The network namespace is owned by the pinned user namespace, which maps the app's ids.
  fs::UniqueFd netns(::open(port->NetnsPath("sensor").c_str(), O_RDONLY | O_CLOEXEC));
  fs::UniqueFd userns(::open(port->UsernsPath("sensor").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(netns.valid() && userns.valid());
  fs::UniqueFd owner(::ioctl(netns.get(), NS_GET_USERNS));
  ASSERT_TRUE(owner.valid());
  EXPECT_EQ(Inode(owner.get()), Inode(userns.get()));

  // One app at a time.
  auto second = port->Attach("other", ids_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(second.error().message(), HasSubstr("held by app sensor"));
  EXPECT_TRUE(port->Detach("other"));  // not the holder: nothing of the holder's is touched
  EXPECT_EQ(port->Holder(), "sensor");

  // Attaching the holder again starts from a clean slate.
  ASSERT_TRUE(port->Attach("sensor", ids_));
  EXPECT_TRUE(Has(Links(port->NetnsPath("sensor")), iface_, true));

  ASSERT_TRUE(port->Detach("sensor"));
  EXPECT_TRUE(Has(Links(), iface_)) << "not returned";
  EXPECT_FALSE(port->Holder());
  EXPECT_TRUE(fs::ListDir(state_dir_ + "/netns").empty());
  EXPECT_TRUE(fs::ListDir(state_dir_ + "/userns").empty());
  EXPECT_TRUE(port->Detach("sensor")) << "releasing twice";

  // Now the other app may have it.
  ASSERT_TRUE(port->Attach("other", ids_));
  EXPECT_EQ(port->Holder(), "other");
  ASSERT_TRUE(port->Detach("other"));
}

TEST_F(MonitorPortTest, WhatACrashLeftIsReturned) {
  {
    auto port = Open();
    ASSERT_TRUE(port);
    ASSERT_TRUE(port->Attach("sensor", ids_));
  }  // fogkeepd dies: the pins and the holder file stay
  auto port = Open();
  ASSERT_TRUE(port);
  EXPECT_EQ(port->Holder(), "sensor");
  ASSERT_TRUE(port->Reconcile({"sensor"}));  // its container still runs: it keeps it
  EXPECT_FALSE(Has(Links(), iface_));
  ASSERT_TRUE(port->Reconcile({}));  // gone: returned
  EXPECT_TRUE(Has(Links(), iface_));
  EXPECT_FALSE(port->Holder());

  // A crash between the holder file and the namespaces: the next app is not kept out.
  ASSERT_TRUE(fs::WriteFileAtomic(state_dir_ + "/holder", R"({"app":"gone","interface":"x"})"));
  ASSERT_TRUE(port->Attach("sensor", ids_));
  EXPECT_EQ(port->Holder(), "sensor");
  ASSERT_TRUE(port->Detach("sensor"));
  EXPECT_TRUE(Has(Links(), iface_));
}

TEST_F(MonitorPortTest, AnAbsentInterfaceOrNoneConfiguredIsRefused) {
  auto missing = MonitorPort::Open(state_dir_, "fkmnone0");
  ASSERT_TRUE(missing);
  auto refused = (*missing)->Attach("sensor", ids_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(refused.error().message(), HasSubstr("fkmnone0 is not in fogkeepd's network"));
  EXPECT_FALSE((*missing)->Holder());
  EXPECT_TRUE(fs::ListDir(state_dir_ + "/netns").empty());

  auto unset = MonitorPort::Open(state_dir_, "");
  ASSERT_TRUE(unset);
  refused = (*unset)->Attach("sensor", ids_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
}

}  // namespace
}  // namespace fogkeep::node
