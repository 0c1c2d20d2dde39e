#include "node/runtime/seccomp.h"

#include <algorithm>
#include <cerrno>
#include <set>

#include <gtest/gtest.h>

namespace fogkeep::node::runtime {
namespace {

const std::vector<std::string> kAllCapabilities = {
    "CAP_SYS_ADMIN",       "CAP_SYS_PTRACE", "CAP_SYS_MODULE",     "CAP_BPF",      "CAP_PERFMON",
    "CAP_SYS_CHROOT",      "CAP_SYS_TIME",   "CAP_SYS_NICE",       "CAP_SYSLOG",   "CAP_SYS_BOOT",
    "CAP_DAC_READ_SEARCH", "CAP_SYS_RAWIO",  "CAP_SYS_TTY_CONFIG", "CAP_SYS_PACCT"};

// Every name some rule allows, with or without argument conditions.
std::set<std::string> Allowed(const SeccompProfile& p) {
  std::set<std::string> out;
  for (const auto& rule : p.syscalls) {
    if (rule.action == "SCMP_ACT_ALLOW") out.insert(rule.names.begin(), rule.names.end());
  }
  return out;
}

// Names allowed without any argument condition.
std::set<std::string> AllowedUnconditionally(const SeccompProfile& p) {
  std::set<std::string> out;
  for (const auto& rule : p.syscalls) {
    if (rule.action == "SCMP_ACT_ALLOW" && rule.args.empty())
      out.insert(rule.names.begin(), rule.names.end());
  }
  return out;
}

const SeccompRule* OnlyRuleFor(const SeccompProfile& p, std::string_view name) {
  const SeccompRule* found = nullptr;
  for (const auto& rule : p.syscalls) {
    for (const auto& n : rule.names) {
      if (n == name) {
        EXPECT_EQ(found, nullptr) << name << " appears in more than one rule";
        found = &rule;
      }
    }
  }
  return found;
}

TEST(SeccompTest, DefaultDeniesWithEperm) {
  auto p = DefaultSeccompProfile(Arch::kX86_64, {});
  EXPECT_EQ(p.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(p.default_errno, EPERM);
}

TEST(SeccompTest, ArchitecturesIncludeCompatAbis) {
  EXPECT_EQ(DefaultSeccompProfile(Arch::kX86_64, {}).architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(DefaultSeccompProfile(Arch::kAarch64, {}).architectures,
            (std::vector<std::string>{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
}

TEST(SeccompTest, WhatOrdinaryProgramsNeedIsAllowed) {
  for (Arch arch : {Arch::kX86_64, Arch::kAarch64}) {
    auto allowed = AllowedUnconditionally(DefaultSeccompProfile(arch, {}));
    for (const char* name : {"read",
                             "write",
                             "openat",
                             "close",
                             "mmap",
                             "mprotect",
                             "brk",
                             "execve",
                             "exit_group",
                             "futex",
                             "rseq",
                             "set_robust_list",
                             "rt_sigaction",
                             "rt_sigreturn",
                             "wait4",
                             "fork",
                             "vfork",
                             "pipe2",
                             "dup3",
                             "getdents64",
                             "newfstatat",
                             "statx",
                             "clock_nanosleep",
                             "epoll_pwait",
                             "accept4",
                             "connect",
                             "sendmsg",
                             "recvmsg",
                             "prlimit64",
                             "getrandom",
                             "fchmodat2",
                             "close_range",
                             "setuid",
                             "setgid",
                             "kill",
                             "prctl",
                             "sched_yield"}) {
      EXPECT_TRUE(allowed.count(name)) << name;
    }
  }
}

TEST(SeccompTest, DeniedFamiliesStayDeniedWhateverIsGranted) {
  for (Arch arch : {Arch::kX86_64, Arch::kAarch64}) {
    for (const auto& caps : {std::vector<std::string>{}, kAllCapabilities}) {
      auto allowed = Allowed(DefaultSeccompProfile(arch, caps));
      for (auto name : DeniedSyscalls()) {
        EXPECT_FALSE(allowed.count(std::string(name))) << name << " is allowed";
      }
    }
  }
  // The list covers what the threat model names.
  std::set<std::string_view> denied(DeniedSyscalls().begin(), DeniedSyscalls().end());
  for (const char* name : {"unshare",
                           "setns",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "bpf",
                           "perf_event_open",
                           "ptrace",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "open_by_handle_at",
                           "name_to_handle_at",
                           "userfaultfd",
                           "io_uring_setup",
                           "process_vm_writev",
                           "fsopen",
                           "move_mount"}) {
    EXPECT_TRUE(denied.count(name)) << name;
  }
}

TEST(SeccompTest, CloneIsAllowedOnlyWithoutNamespaceFlags) {
  auto p = DefaultSeccompProfile(Arch::kX86_64, {});
  const SeccompRule* rule = OnlyRuleFor(p, "clone");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->action, "SCMP_ACT_ALLOW");
  ASSERT_EQ(rule->args.size(), 1u);
  EXPECT_EQ(rule->args[0].index, 0u);
  EXPECT_EQ(rule->args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(rule->args[0].value_two, 0u);
  const std::uint64_t mask = rule->args[0].value;
  for (std::uint64_t flag :
       {0x00020000ull /* NEWNS */, 0x02000000ull /* NEWCGROUP */, 0x04000000ull /* NEWUTS */,
        0x08000000ull /* NEWIPC */, 0x10000000ull /* NEWUSER */, 0x20000000ull /* NEWPID */,
        0x40000000ull /* NEWNET */}) {
    EXPECT_EQ(mask & flag, flag) << std::hex << flag;
  }
  // Thread creation flags must pass.
  for (std::uint64_t flag : {0x100ull /* VM */, 0x200ull /* FS */, 0x400ull /* FILES */,
                             0x800ull /* SIGHAND */, 0x10000ull /* THREAD */}) {
    EXPECT_EQ(mask & flag, 0u) << std::hex << flag;
  }
}

TEST(SeccompTest, Clone3FailsWithEnosysSoLibcFallsBack) {
  auto p = DefaultSeccompProfile(Arch::kX86_64, {});
  const SeccompRule* rule = OnlyRuleFor(p, "clone3");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->action, "SCMP_ACT_ERRNO");
  ASSERT_TRUE(rule->errno_ret.has_value());
  EXPECT_EQ(*rule->errno_ret, ENOSYS);
}

TEST(SeccompTest, PersonalityIsLimitedToHarmlessValues) {
  auto p = DefaultSeccompProfile(Arch::kX86_64, {});
  std::set<std::uint64_t> values;
  for (const auto& rule : p.syscalls) {
    if (rule.names == std::vector<std::string>{"personality"}) {
      ASSERT_EQ(rule.args.size(), 1u);
      EXPECT_EQ(rule.args[0].op, "SCMP_CMP_EQ");
      values.insert(rule.args[0].value);
    }
  }
  EXPECT_EQ(values, (std::set<std::uint64_t>{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}));
  EXPECT_FALSE(AllowedUnconditionally(p).count("personality"));
  EXPECT_FALSE(values.count(0x0040000)) << "ADDR_NO_RANDOMIZE";
}

// Whether the profile's socket rules let `family` (the whole 64-bit register) through, the
// way libseccomp evaluates them: rules OR-ed, the conditions of one rule AND-ed, unsigned
// 64-bit comparisons. Fails the test on a condition this model does not know.
bool SocketAllows(const SeccompProfile& p, std::uint64_t family) {
  for (const auto& rule : p.syscalls) {
    if (std::ranges::find(rule.names, "socket") == rule.names.end()) continue;
    EXPECT_EQ(rule.action, "SCMP_ACT_ALLOW");
    bool holds = true;
    for (const auto& arg : rule.args) {
      EXPECT_EQ(arg.index, 0u);
      if (arg.op == "SCMP_CMP_LE") {
        holds = holds && family <= arg.value;
      } else if (arg.op == "SCMP_CMP_MASKED_EQ") {
        holds = holds && (family & arg.value) == arg.value_two;
      } else {
        ADD_FAILURE() << "unexpected condition " << arg.op;
        holds = false;
      }
    }
    if (holds) return true;
  }
  return false;
}

void ExpectOnlyVsockRefused(const SeccompProfile& p) {
  EXPECT_FALSE(AllowedUnconditionally(p).count("socket"));
  for (const auto& rule : p.syscalls) {
    // libseccomp keeps only one of several conditions on the same argument of one rule.
    if (std::ranges::find(rule.names, "socket") != rule.names.end()) {
      EXPECT_EQ(rule.args.size(), 1u);
    }
  }
  EXPECT_FALSE(SocketAllows(p, 40));
  // The kernel keeps the low 32 bits of the family: each of these would be AF_VSOCK.
  EXPECT_FALSE(SocketAllows(p, (1ull << 32) | 40));
  EXPECT_FALSE(SocketAllows(p, 0xffffffff00000028ull));
  // Every other family the kernel knows (AF_MAX is 46) and room above it.
  for (std::uint64_t family = 0; family < 64; ++family) {
    if (family != 40) {
      EXPECT_TRUE(SocketAllows(p, family)) << family;
    }
  }
  for (std::uint64_t family : {64ull, (1ull << 32) | 2, ~0ull}) {
    EXPECT_FALSE(SocketAllows(p, family)) << std::hex << family;
  }
}

TEST(SeccompTest, VsockSocketsAreRefusedWhateverTheUpperBits) {
  for (Arch arch : {Arch::kX86_64, Arch::kAarch64}) {
    SCOPED_TRACE(static_cast<int>(arch));
    ExpectOnlyVsockRefused(DefaultSeccompProfile(arch, {}));
  }
}

TEST(SeccompTest, WhatPacketCaptureNeedsIsAllowed) {
  // libpcap on Linux (network-monitor): socket(AF_PACKET) (left to the kernel's CAP_NET_RAW
  // check), a TPACKET_V3 ring set up with setsockopt and mapped with mmap, poll for blocks.
  std::vector<std::string> raw = {"CAP_NET_RAW"};
  auto p = DefaultSeccompProfile(Arch::kX86_64, raw);
  EXPECT_TRUE(SocketAllows(p, 17)) << "AF_PACKET refused";
  auto allowed = AllowedUnconditionally(p);
  for (const char* name : {"setsockopt", "getsockopt", "mmap", "munmap", "poll", "ppoll", "bind",
                           "recvfrom", "ioctl"}) {
    EXPECT_TRUE(allowed.count(name)) << name;
  }
  // CAP_NET_RAW adds no syscall of its own.
  EXPECT_EQ(Allowed(p), Allowed(DefaultSeccompProfile(Arch::kX86_64, {})));
}

TEST(SeccompTest, CapabilitiesAddOnlyTheirOwnSyscalls) {
  auto none = Allowed(DefaultSeccompProfile(Arch::kX86_64, {}));
  EXPECT_FALSE(none.count("chroot"));
  EXPECT_FALSE(none.count("clock_settime"));
  std::vector<std::string> chroot_cap = {"CAP_SYS_CHROOT"};
  auto with_chroot = Allowed(DefaultSeccompProfile(Arch::kX86_64, chroot_cap));
  EXPECT_TRUE(with_chroot.count("chroot"));
  EXPECT_FALSE(with_chroot.count("clock_settime"));
  EXPECT_EQ(with_chroot.size(), none.size() + 1);
}

TEST(SeccompTest, ArchitectureSpecificNames) {
  auto x86 = Allowed(DefaultSeccompProfile(Arch::kX86_64, {}));
  auto arm = Allowed(DefaultSeccompProfile(Arch::kAarch64, {}));
  EXPECT_TRUE(x86.count("arch_prctl"));
  EXPECT_FALSE(arm.count("arch_prctl"));
  EXPECT_TRUE(arm.count("set_tls"));
  EXPECT_FALSE(x86.count("set_tls"));
  EXPECT_FALSE(x86.count("modify_ldt"));
}

TEST(SeccompTest, NoNameIsListedTwiceInTheAllowList) {
  auto p = DefaultSeccompProfile(Arch::kX86_64, kAllCapabilities);
  const auto& names = p.syscalls.front().names;
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
}

}  // namespace
}  // namespace fogkeep::node::runtime
