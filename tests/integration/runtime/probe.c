// fogkeep-runtime-probe: runs inside a test container and tries what an escaping app would,
// printing one line per attempt ("<what>: ok" or "<what>: <ERRNO NAME>") for the test to assert.
// Static, so the test rootfs needs no libc. Raw syscalls, so libc wrappers cannot hide what
// the kernel (and seccomp) answered.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char* what, long rc) {
  if (rc >= 0) {
    printf("%s: ok\n", what);
  } else {
    const char* name = strerrorname_np(errno);
    printf("%s: %s\n", what, name ? name : "unknown");
  }
  fflush(stdout);
}

// A child created by a syscall that should have failed exits at once.
static void reap_if_child(long rc) {
  if (rc == 0) _exit(0);
  if (rc > 0) waitpid((pid_t)rc, NULL, 0);
}

static int cmd_mount(void) {
  report("mount", mount("x", "/mnt", "tmpfs", 0, NULL));
  report("umount2", syscall(SYS_umount2, "/proc", MNT_DETACH));
  report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  return 0;
}

static int cmd_namespaces(void) {
  report("unshare-user", unshare(CLONE_NEWUSER));
  report("unshare-mount", unshare(CLONE_NEWNS));
  report("unshare-net", unshare(CLONE_NEWNET));
  report("setns", syscall(SYS_setns, 0, CLONE_NEWNET));
  long rc = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), 0, 0, 0, 0);
  report("clone-newuser", rc);
  reap_if_child(rc);
  rc = syscall(SYS_clone, (unsigned long)(CLONE_NEWPID | SIGCHLD), 0, 0, 0, 0);
  report("clone-newpid", rc);
  reap_if_child(rc);
  uint64_t args[11] = {0};
  args[4] = SIGCHLD;  // exit_signal
  rc = syscall(SYS_clone3, args, sizeof(args));
  report("clone3", rc);
  reap_if_child(rc);
  pid_t pid = fork();  // plain clone without namespace flags stays allowed
  report("fork", pid);
  reap_if_child(pid);
  return 0;
}

static int cmd_keyring(void) {
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  report("add_key", syscall(SYS_add_key, "user", "fogkeep", "secret", 6, -2 /* process */));
  report("request_key", syscall(SYS_request_key, "user", "fogkeep", NULL, 0));
  return 0;
}

static int cmd_kernel(void) {
  report("ptrace", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof(pe));
  pe.size = sizeof(pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  report("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  report("init_module", syscall(SYS_init_module, NULL, 0, ""));
  report("personality-addr-no-randomize", personality(ADDR_NO_RANDOMIZE));
  report("personality-query", personality(0xffffffff));
  report("socket-vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
  // The kernel reads socket()'s family as an int, so bits above 31 are dropped on the way in;
  // a filter comparing the whole register would let this one through.
  report("socket-vsock-high-bits", syscall(SYS_socket, (1UL << 32) | 40, SOCK_STREAM, 0));
  report("socket-unix", socket(AF_UNIX, SOCK_STREAM, 0));
  report("socket-inet", socket(AF_INET, SOCK_DGRAM, 0));
  // Unknown to the kernel (EAFNOSUPPORT) unless the filter refuses them first (EPERM).
  report("socket-family-49", syscall(SYS_socket, 49, SOCK_STREAM, 0));
  report("socket-family-63", syscall(SYS_socket, 63, SOCK_STREAM, 0));
  report("socket-family-64", syscall(SYS_socket, 64, SOCK_STREAM, 0));
  return 0;
}

static void print_matching(const char* path, const char* const* prefixes) {
  FILE* f = fopen(path, "r");
  if (!f) {
    printf("%s: %s\n", path, strerrorname_np(errno));
    return;
  }
  char line[512];
  while (fgets(line, sizeof(line), f)) {
    for (const char* const* p = prefixes; *p; ++p) {
      if (strncmp(line, *p, strlen(*p)) == 0) fputs(line, stdout);
    }
  }
  fclose(f);
  fflush(stdout);
}

static int cmd_status(void) {
  static const char* const kPrefixes[] = {
      "CapInh:",     "CapPrm:",  "CapEff:", "CapBnd:", "CapAmb:",
      "NoNewPrivs:", "Seccomp:", "Uid:",    "Gid:",    NULL};
  print_matching("/proc/self/status", kPrefixes);
  return 0;
}

static int cmd_write(void) {
  report("write-root", open("/probe-was-here", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  report("write-etc", open("/etc/probe-was-here", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  report("write-tmp", open("/tmp/probe-was-here", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  report("write-data", open("/data/probe-was-here", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  return 0;
}

static int cmd_ps(void) {
  DIR* d = opendir("/proc");
  if (!d) return 1;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[64];
    char comm[64] = "";
    snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
    FILE* f = fopen(path, "r");
    if (f) {
      if (fgets(comm, sizeof(comm), f)) comm[strcspn(comm, "\n")] = 0;
      fclose(f);
    }
    printf("pid %s %s\n", e->d_name, comm);
  }
  closedir(d);
  printf("self %d\n", getpid());
  return 0;
}

static int cmd_net(void) {
  FILE* f = fopen("/proc/self/net/dev", "r");
  if (!f) return 1;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof(line), f)) {
    if (++n <= 2) continue;  // headers
    char* colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    char* name = line;
    while (*name == ' ') ++name;
    printf("netdev %s\n", name);
  }
  fclose(f);
  DIR* d = opendir("/sys/class/net");
  if (d) {
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] != '.') printf("sysnet %s\n", e->d_name);
    }
    closedir(d);
  }
  return 0;
}

static int cmd_alloc(long mib) {
  const long chunk = 4L << 20;
  for (long done = 0; done < (mib << 20); done += chunk) {
    char* p = malloc(chunk);
    if (!p) {
      printf("alloc: malloc failed at %ld MiB\n", done >> 20);
      return 3;
    }
    memset(p, 0x5a, chunk);  // touch every page so it is really charged
    printf("allocated %ld MiB\n", (done + chunk) >> 20);
    fflush(stdout);
  }
  printf("alloc: survived\n");
  return 0;
}

static int cmd_forkbomb(void) {
  int forked = 0;
  while (1) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) break;
    if (++forked > 10000) break;
  }
  printf("forkbomb: forked %d then %s\n", forked, strerrorname_np(errno));
  fflush(stdout);
  // Hold every process until the test has looked at the cgroup from the host, then end them
  // (kill(0) spares the caller: as pid 1 it ignores even SIGKILL from inside).
  for (int i = 0; i < 200 && access("/data/release", F_OK) != 0; ++i) usleep(50000);
  kill(0, SIGKILL);
  return 0;
}

static int cmd_spam(long bytes) {
  char line[100];
  long written = 0;
  for (long i = 0; written < bytes; ++i) {
    int n = snprintf(line, sizeof(line), "line %08ld %s\n", i, "abcdefghijklmnopqrstuvwxyz");
    fwrite(line, 1, n, stdout);
    written += n;
  }
  printf("spam: done\n");
  fflush(stdout);
  return 0;
}

// Behaves like a well-written service: SIGTERM ends it cleanly. (As pid 1 of its namespace
// the kernel ignores signals it has no handler for, even from the host.)
static void on_term(int sig) {
  (void)sig;
  _exit(143);
}

static int cmd_sleep(const char* seconds) {
  signal(SIGTERM, on_term);
  printf("sleep: ready\n");  // the handler is in place: SIGTERM is no longer ignored
  fflush(stdout);
  return sleep((unsigned)atoi(seconds)) == 0 ? 0 : 1;
}

static int cmd_read(const char* path) {
  report("read", open(path, O_RDONLY | O_CLOEXEC));
  return 0;
}

static int cmd_touch(const char* path) {
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  report("touch", fd);
  if (fd >= 0) close(fd);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: probe <command> [arg]\n");
    return 2;
  }
  const char* cmd = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";
  if (!strcmp(cmd, "mount")) return cmd_mount();
  if (!strcmp(cmd, "namespaces")) return cmd_namespaces();
  if (!strcmp(cmd, "keyring")) return cmd_keyring();
  if (!strcmp(cmd, "kernel")) return cmd_kernel();
  if (!strcmp(cmd, "status")) return cmd_status();
  if (!strcmp(cmd, "write")) return cmd_write();
  if (!strcmp(cmd, "ps")) return cmd_ps();
  if (!strcmp(cmd, "net")) return cmd_net();
  if (!strcmp(cmd, "alloc")) return cmd_alloc(atol(arg));
  if (!strcmp(cmd, "forkbomb")) return cmd_forkbomb();
  if (!strcmp(cmd, "spam")) return cmd_spam(atol(arg));
  if (!strcmp(cmd, "read")) return cmd_read(arg);
  if (!strcmp(cmd, "touch")) return cmd_touch(arg);
  if (!strcmp(cmd, "sleep")) return cmd_sleep(arg);
  if (!strcmp(cmd, "exit")) return atoi(arg);
  fprintf(stderr, "probe: unknown command %s\n", cmd);
  return 2;
}
