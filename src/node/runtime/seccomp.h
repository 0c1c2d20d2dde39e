// fogkeep's seccomp profile: an allow-list, so a syscall nobody reviewed is refused.
//
// It starts from the allow-list of the Moby/containerd default profile (what ordinary glibc,
// musl, Go and busybox programs are known to need) and leaves out whole families an app has no
// business calling: namespaces (unshare, setns, clone with CLONE_NEW* flags), mounts,
// keyrings (not namespaced), bpf, perf, ptrace and cross-process memory access, kexec and
// modules, file handles (open_by_handle_at: the "shocker" escape), userfaultfd and io_uring.
// Everything else fails with EPERM; clone3 fails with ENOSYS so libc falls back to clone,
// whose flags seccomp can inspect (clone3 passes them in memory, out of seccomp's sight).
// socket() is refused for AF_VSOCK; AF_PACKET is left to the kernel's CAP_NET_RAW check.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fogkeep::node::runtime {

enum class Arch { kX86_64, kAarch64 };

// The architecture this binary was built for (containers run native binaries).
Arch HostArch();

// One condition on a syscall argument, in OCI runtime-spec terms.
struct SeccompArg {
  unsigned index = 0;
  std::uint64_t value = 0;
  std::uint64_t value_two = 0;
  std::string op;  // "SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_MASKED_EQ", ...
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;            // "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO"
  std::vector<SeccompArg> args;  // all must hold
  std::optional<int> errno_ret;  // with SCMP_ACT_ERRNO
};

struct SeccompProfile {
  std::string default_action;              // "SCMP_ACT_ERRNO"
  int default_errno = 0;                   // EPERM
  std::vector<std::string> architectures;  // native first, then its compat ABIs
  std::vector<SeccompRule> syscalls;
};

// The profile for `arch`. A few syscalls are added only when the app was granted the
// capability that makes them useful (chroot with CAP_SYS_CHROOT, clock_settime with
// CAP_SYS_TIME, ...); no capability ever re-enables a syscall listed in DeniedSyscalls().
SeccompProfile DefaultSeccompProfile(Arch arch, std::span<const std::string> granted_capabilities);

// Syscalls the profile never allows, whatever capabilities are granted. Documentation for
// reviewers and the list the tests check the profile against.
std::span<const std::string_view> DeniedSyscalls();

}  // namespace fogkeep::node::runtime
