#include "core/secret_input.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <memory>

#include "core/fs.h"

namespace fogkeep {
namespace {

// Signals whose default action ends the process: a terminal left without echo would outlive
// it, so while echo is off they first restore the saved settings.
constexpr std::array<int, 4> kFatalSignals = {SIGINT, SIGTERM, SIGQUIT, SIGHUP};

// What the signal handler restores. Written only while no handler is installed (before
// arming and after disarming), so the handler never sees a half-written value.
struct termios saved_settings;
volatile sig_atomic_t restore_fd = -1;

extern "C" void RestoreTerminalAndReraise(int signal_number) {
  // Only async-signal-safe calls: tcsetattr and raise. SA_RESETHAND has already put the
  // default action back, so the re-raised signal ends the process as it would have.
  const int fd = restore_fd;
  if (fd >= 0) ::tcsetattr(fd, TCSANOW, &saved_settings);
  ::raise(signal_number);
}

void Wipe(std::string& text) {
  ::explicit_bzero(text.data(), text.size());
  text.clear();
}

// Turns echo off on a terminal for as long as it lives, and restores the previous settings
// (and signal dispositions) on destruction, on every path.
class EchoOff {
 public:
  static Result<std::unique_ptr<EchoOff>> Start(int fd) {
    struct termios current {};
    if (::tcgetattr(fd, &current) != 0) return FailErrno("read the terminal's settings", errno);
    auto guard = std::unique_ptr<EchoOff>(new EchoOff(fd, current));
    saved_settings = current;
    restore_fd = fd;
    struct sigaction action {};
    action.sa_handler = RestoreTerminalAndReraise;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
      ::sigaction(kFatalSignals[i], nullptr, &guard->previous_[i]);
      // An ignored signal (SIGHUP under nohup) stays ignored: it ends nothing.
      if (guard->previous_[i].sa_handler == SIG_IGN) continue;
      ::sigaction(kFatalSignals[i], &action, nullptr);
    }
    guard->armed_ = true;
    struct termios quiet = current;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    // TCSAFLUSH drops anything typed ahead, before the prompt was visible.
    if (::tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
      return FailErrno("turn off the terminal's echo", errno);
    }
    return guard;
  }

  ~EchoOff() {
    ::tcsetattr(fd_, TCSANOW, &settings_);
    if (!armed_) return;
    for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
      ::sigaction(kFatalSignals[i], &previous_[i], nullptr);
    }
    restore_fd = -1;
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  EchoOff(int fd, const struct termios& settings) : fd_(fd), settings_(settings) {}

  const int fd_;
  const struct termios settings_;
  bool armed_ = false;
  std::array<struct sigaction, kFatalSignals.size()> previous_{};
};

// Reads up to the first "\n" (consumed, not returned) or the end of input, one byte at a time
// so that nothing after the line is taken from `fd`. A "\r" before the "\n" is dropped.
Result<std::string> ReadLine(int fd, std::string_view source) {
  std::string line;
  // Reserved up front so that growing never leaves copies of the secret in freed memory.
  line.reserve(kMaxSecretBytes + 2);
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      Wipe(line);
      return Fail(ErrorCode::kUnavailable, ErrnoMessage("read " + std::string(source), err));
    }
    if (n == 0 || c == '\n') break;
    // One byte of slack for the "\r" of a "\r\n" line end.
    if (line.size() > kMaxSecretBytes) {
      Wipe(line);
      return Fail(ErrorCode::kLimit, "the entry on " + std::string(source) + " is longer than " +
                                         std::to_string(kMaxSecretBytes) + " bytes");
    }
    line.push_back(c);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxSecretBytes) {
    Wipe(line);
    return Fail(ErrorCode::kLimit, "the entry on " + std::string(source) + " is longer than " +
                                       std::to_string(kMaxSecretBytes) + " bytes");
  }
  if (line.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "nothing was entered on " + std::string(source) + " (an empty line or no input)");
  }
  return line;
}

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a prompt that cannot be shown does not stop the read
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

Result<std::string> ReadFromTerminal(int prompt_fd, std::string_view prompt) {
  WriteAll(prompt_fd, prompt);
  auto echo_off = FK_TRY(EchoOff::Start(STDIN_FILENO));
  Result<std::string> line = ReadLine(STDIN_FILENO, "the terminal");
  echo_off.reset();
  // The Enter key was not echoed either.
  WriteAll(prompt_fd, "\n");
  return line;
}

}  // namespace

Result<std::string> ReadSecret(std::string_view prompt, bool confirm) {
  if (!::isatty(STDIN_FILENO)) return ReadLine(STDIN_FILENO, "standard input");

  // The prompt goes to the terminal itself, so that it is seen even when stdout and stderr
  // are redirected.
  fs::UniqueFd tty(::open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC));
  const int prompt_fd = tty.valid() ? tty.get() : STDERR_FILENO;
  std::string first = FK_TRY(ReadFromTerminal(prompt_fd, prompt));
  if (!confirm) return first;
  Result<std::string> second = ReadFromTerminal(prompt_fd, "Repeat: ");
  if (!second) {
    Wipe(first);
    return second;
  }
  const bool same = first == *second;
  Wipe(*second);
  if (!same) {
    Wipe(first);
    return Fail(ErrorCode::kInvalidInput, "the two entries differ");
  }
  return first;
}

}  // namespace fogkeep
