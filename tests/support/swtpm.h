// A software TPM 2.0 (swtpm) on loopback for tests of TPM-backed code.
//
// Swtpm::Start runs `swtpm socket --tpm2` with its state in a directory the caller owns, on
// two consecutive free loopback ports (the swtpm TCTI talks to port P and its control channel
// on P+1), and waits until it accepts connections. The destructor stops it. Code under test
// reaches it through the tpm2 provider's TCTI: export TPM2OPENSSL_TCTI=tcti() first.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/process.h"

namespace fogkeep::testing {

class Swtpm {
 public:
  // The swtpm executable, or "" when it is not installed (Debian package swtpm).
  static std::string FindBinary() {
    for (const char* path : {"/usr/bin/swtpm", "/usr/local/bin/swtpm"}) {
      if (::access(path, X_OK) == 0) return path;
    }
    return "";
  }

  // Starts swtpm keeping its state in `state_dir` (which must exist). Retries with other ports
  // when another process takes the chosen ones first.
  static Result<std::unique_ptr<Swtpm>> Start(const std::string& state_dir) {
    std::string binary = FindBinary();
    if (binary.empty()) return Fail(ErrorCode::kUnavailable, "swtpm is not installed");
    std::string last_error = "no free pair of loopback ports";
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::uint16_t port = FreePortPair();
      if (port == 0) continue;
      std::vector<std::string> argv = {
          binary,
          "socket",
          "--tpm2",
          "--server",
          "type=tcp,port=" + std::to_string(port) + ",bindaddr=127.0.0.1",
          "--ctrl",
          "type=tcp,port=" + std::to_string(port + 1) + ",bindaddr=127.0.0.1",
          "--tpmstate",
          "dir=" + state_dir,
          "--flags",
          "startup-clear"};
      auto pid = SpawnTiedToThisProcess(argv);
      if (!pid) return Fail(std::move(pid).error().With("start swtpm"));
      std::unique_ptr<Swtpm> tpm(new Swtpm(*pid, port));
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        auto ended = process::TryWait(*pid);
        if (ended && *ended) {
          tpm->pid_ = -1;  // reaped: it could not bind, or failed on its state
          last_error = "swtpm exited: " + (*ended)->Describe();
          break;
        }
        if (Accepts(port)) return tpm;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (tpm->pid_ > 0) last_error = "swtpm did not listen within 10 s";
    }
    return Fail(ErrorCode::kUnavailable, last_error);
  }

  ~Swtpm() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      (void)process::Wait(pid_);
    }
  }
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  std::uint16_t port() const { return port_; }
  // The value for TPM2OPENSSL_TCTI.
  std::string tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

 private:
  Swtpm(pid_t pid, std::uint16_t port) : pid_(pid), port_(port) {}

  // fork + exec of `argv` with stdio on /dev/null and no other descriptors, killed by the
  // kernel when this process dies (PR_SET_PDEATHSIG), so a test binary that aborts never
  // leaves a swtpm behind.
  static Result<pid_t> SpawnTiedToThisProcess(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return FailErrno("fork", errno);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
      int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null < 0) ::_exit(127);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::close_range(3, ~0U, 0);
      char* env[] = {nullptr};
      ::execve(args[0], args.data(), env);
      ::_exit(127);
    }
    return pid;
  }

  static int Bind(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      if (fd >= 0) ::close(fd);
      return -1;
    }
    return fd;
  }

  // A port P such that P and P+1 were both free a moment ago, or 0.
  static std::uint16_t FreePortPair() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      int first = Bind(0);
      if (first < 0) return 0;
      sockaddr_in address{};
      socklen_t size = sizeof(address);
      ::getsockname(first, reinterpret_cast<sockaddr*>(&address), &size);
      std::uint16_t port = ntohs(address.sin_port);
      int second = port < 65535 ? Bind(port + 1) : -1;
      ::close(first);
      if (second >= 0) {
        ::close(second);
        return port;
      }
    }
    return 0;
  }

  static bool Accepts(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return ok;
  }

  pid_t pid_;
  std::uint16_t port_;
};

}  // namespace fogkeep::testing
