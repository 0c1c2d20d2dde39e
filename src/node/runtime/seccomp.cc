#include "node/runtime/seccomp.h"

#include <algorithm>
#include <array>
#include <cerrno>

namespace fogkeep::node::runtime {
namespace {

// Allowed for every app on every architecture. Names unknown on an architecture (the *32 and
// *64 variants, i386 multiplexers) are skipped by the runtime's libseccomp.
//
// Removed from the Moby list it derives from: io_uring_* (a large, often-exploited kernel
// surface that bypasses this filter for the operations it queues), name_to_handle_at (pairs
// with open_by_handle_at), fanotify_mark (useless without fanotify_init, which needs
// CAP_SYS_ADMIN), modify_ldt (x86 LDT; a history of kernel bugs, needed only by 16-bit code).
// Added: syscalls newer than that list that current libcs call (fchmodat2, the futex2 family,
// map_shadow_stack, cachestat, mseal): refusing them with EPERM would stop libc's fallback.
constexpr std::string_view kAllowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
};

constexpr std::string_view kAllowedX86[] = {"arch_prctl"};
constexpr std::string_view kAllowedArm[] = {
    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
    "breakpoint",       "cacheflush",          "set_tls",
};

// Never allowed. Each line is a family an app does not need and an attacker does.
constexpr std::string_view kDenied[] = {
    // namespaces: entering or creating them is the first step of most escapes
    "unshare",
    "setns",
    // mounts: the container's file-system view is fixed by the runtime
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "listmount",
    "statmount",
    // kernel keyrings: not namespaced, shared with the host
    "keyctl",
    "add_key",
    "request_key",
    // eBPF and perf: kernel attack surface and host-wide observation
    "bpf",
    "perf_event_open",
    // tracing and other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    // replacing or extending the kernel
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    // file handles bypass the mount namespace ("shocker")
    "open_by_handle_at",
    "name_to_handle_at",
    // races on page faults, a staple of kernel exploits
    "userfaultfd",
    // io_uring runs operations out of this filter's sight
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // host-wide administration
    "swapon",
    "swapoff",
    "quotactl",
    "quotactl_fd",
    "acct",
    "lookup_dcookie",
    "fanotify_init",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "modify_ldt",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "nfsservctl",
    "vm86",
    "vm86old",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
};

// Syscalls a granted capability makes useful. A capability not listed adds nothing.
struct CapabilitySyscalls {
  std::string_view capability;
  std::array<std::string_view, 4> names;
};
constexpr CapabilitySyscalls kCapabilitySyscalls[] = {
    {"CAP_SYS_CHROOT", {"chroot"}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
    {"CAP_SYSLOG", {"syslog"}},
    {"CAP_SYS_BOOT", {"reboot"}},  // in a pid namespace reboot() only ends the container
    {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
};

// clone() flags that create namespaces: CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
// CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. clone() is allowed only when
// (flags & mask) == 0. (CLONE_NEWTIME shares its bit with the exit signal in clone(); only
// clone3 and unshare can ask for it, and both are refused.)
constexpr std::uint64_t kCloneNamespaceFlags = 0x7E020000;

// personality(2) values glibc and common tools use: PER_LINUX, UNAME26, PER_LINUX32,
// UNAME26|PER_LINUX32, and 0xffffffff (query). Others (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE)
// weaken exploit mitigations.
constexpr std::uint64_t kPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

// socket(2) families refused: AF_VSOCK (40) talks to the hypervisor, not the container's
// network namespace. AF_PACKET (libpcap's capture socket) stays allowed: the kernel opens it
// only for CAP_NET_RAW in the user namespace owning the network namespace, which an app has
// only when the node grants it (network-monitor).
//
// The filter names the families it allows rather than the one it refuses, because of three
// traps: the kernel reads the family as an int (the low 32 bits of its register) while
// seccomp compares all 64, so "family != 40" lets 40 | 1 << 32 through to AF_VSOCK;
// libseccomp lets an unconditional allow of a syscall override a refusing rule for the same
// syscall; and it keeps only one of two conditions on the same argument of one rule. So
// socket() is allowed for 0..39 and for 41..63 in aligned blocks (AF_MAX is 46 in Linux 6.x;
// the blocks leave room for new families), each compared as a whole 64-bit value, so a value
// with any upper bit set fails with EPERM where the kernel would have said EAFNOSUPPORT.
constexpr std::uint64_t kAfVsock = 40;
struct FamilyBlock {
  std::uint64_t first;
  std::uint64_t size;  // a power of two; `first` is a multiple of it
};
constexpr FamilyBlock kSocketFamilyBlocksAboveVsock[] = {{41, 1}, {42, 2}, {44, 4}, {48, 16}};

std::vector<std::string> Names(std::span<const std::string_view> names) {
  return {names.begin(), names.end()};
}

SeccompRule Allow(std::vector<std::string> names, std::vector<SeccompArg> args = {}) {
  return SeccompRule{std::move(names), "SCMP_ACT_ALLOW", std::move(args), std::nullopt};
}

}  // namespace

Arch HostArch() {
#if defined(__aarch64__)
  return Arch::kAarch64;
#elif defined(__x86_64__)
  return Arch::kX86_64;
#else
#error "fogkeep's seccomp profile covers x86_64 and aarch64 hosts"
#endif
}

SeccompProfile DefaultSeccompProfile(Arch arch, std::span<const std::string> granted_capabilities) {
  SeccompProfile profile;
  profile.default_action = "SCMP_ACT_ERRNO";
  profile.default_errno = EPERM;
  if (arch == Arch::kX86_64) {
    profile.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  } else {
    profile.architectures = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
  }

  std::vector<std::string> allowed = Names(kAllowed);
  auto arch_names = arch == Arch::kX86_64 ? Names(kAllowedX86) : Names(kAllowedArm);
  allowed.insert(allowed.end(), arch_names.begin(), arch_names.end());
  for (const auto& entry : kCapabilitySyscalls) {
    if (std::ranges::find(granted_capabilities, entry.capability) == granted_capabilities.end()) {
      continue;
    }
    for (auto name : entry.names) {
      if (!name.empty()) allowed.emplace_back(name);
    }
  }
  profile.syscalls.push_back(Allow(std::move(allowed)));

  // The flags are argument 0 of clone() on every architecture listed above.
  profile.syscalls.push_back(
      Allow({"clone"}, {SeccompArg{0, kCloneNamespaceFlags, 0, "SCMP_CMP_MASKED_EQ"}}));
  profile.syscalls.push_back(
      SeccompRule{{"clone3"}, "SCMP_ACT_ERRNO", {}, static_cast<int>(ENOSYS)});
  // One rule per block of allowed families (the rules of one syscall are OR-ed).
  profile.syscalls.push_back(Allow({"socket"}, {SeccompArg{0, kAfVsock - 1, 0, "SCMP_CMP_LE"}}));
  for (const auto& block : kSocketFamilyBlocksAboveVsock) {
    profile.syscalls.push_back(
        Allow({"socket"}, {SeccompArg{0, ~(block.size - 1), block.first, "SCMP_CMP_MASKED_EQ"}}));
  }
  // One rule per value: the conditions of one rule are AND-ed.
  for (std::uint64_t value : kPersonalities) {
    profile.syscalls.push_back(Allow({"personality"}, {SeccompArg{0, value, 0, "SCMP_CMP_EQ"}}));
  }
  return profile;
}

std::span<const std::string_view> DeniedSyscalls() { return kDenied; }

}  // namespace fogkeep::node::runtime
