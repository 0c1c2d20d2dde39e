#include "core/secret_input.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace fogkeep {
namespace {

using namespace std::chrono_literals;

// Runs `body` with stdin replaced by a pipe holding `input`; stdin is restored afterwards.
// Whatever `body` left unread is returned in `rest`.
template <typename Body>
void WithStdin(const std::string& input, Body body, std::string* rest = nullptr) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_LE(input.size(), 60000u) << "must fit in the pipe buffer";
  ASSERT_EQ(::write(fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(fds[1]);
  const int saved = ::dup(STDIN_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_GE(::dup2(fds[0], STDIN_FILENO), 0);
  ::close(fds[0]);
  body();
  if (rest != nullptr) {
    char buf[256];
    ssize_t n;
    while ((n = ::read(STDIN_FILENO, buf, sizeof(buf))) > 0) rest->append(buf, n);
  }
  ASSERT_GE(::dup2(saved, STDIN_FILENO), 0);
  ::close(saved);
}

TEST(ReadSecretTest, PipeYieldsTheFirstLineWithoutItsEnd) {
  std::string rest;
  WithStdin(
      "correct horse\nsecond line\n",
      [] {
        auto secret = ReadSecret("Password: ");
        ASSERT_TRUE(secret) << secret.error().message();
        EXPECT_EQ(*secret, "correct horse");
      },
      &rest);
  // Only the first line is consumed.
  EXPECT_EQ(rest, "second line\n");
}

TEST(ReadSecretTest, PipeStripsCrLf) {
  WithStdin("pw with spaces \r\n", [] {
    auto secret = ReadSecret("Password: ");
    ASSERT_TRUE(secret) << secret.error().message();
    EXPECT_EQ(*secret, "pw with spaces ");
  });
}

TEST(ReadSecretTest, PipeAcceptsALastLineWithoutNewline) {
  WithStdin("pw", [] {
    auto secret = ReadSecret("Password: ", /*confirm=*/true);
    ASSERT_TRUE(secret) << secret.error().message();
    EXPECT_EQ(*secret, "pw");
  });
}

TEST(ReadSecretTest, PipeRefusesEndOfInputAndEmptyLines) {
  for (const std::string input : {"", "\n", "\r\n"}) {
    WithStdin(input, [&] {
      auto secret = ReadSecret("Password: ");
      ASSERT_FALSE(secret) << "input of " << input.size() << " bytes";
      EXPECT_EQ(secret.error().code(), ErrorCode::kInvalidInput);
      EXPECT_NE(secret.error().message().find("standard input"), std::string::npos);
    });
  }
}

TEST(ReadSecretTest, PipeBoundsTheLineLength) {
  WithStdin(std::string(kMaxSecretBytes, 'x') + "\r\n", [] {
    auto secret = ReadSecret("Password: ");
    ASSERT_TRUE(secret) << secret.error().message();
    EXPECT_EQ(secret->size(), kMaxSecretBytes);
  });
  std::string rest;
  WithStdin(
      std::string(kMaxSecretBytes + 1, 'x') + "\nnext\n",
      [] {
        auto secret = ReadSecret("Password: ");
        ASSERT_FALSE(secret);
        EXPECT_EQ(secret.error().code(), ErrorCode::kLimit);
      },
      &rest);
  // The read stopped at the limit instead of swallowing the rest of the input.
  EXPECT_LT(rest.size(), 10u);
  EXPECT_TRUE(rest.ends_with("next\n"));
}

// A pseudo-terminal whose slave becomes the controlling terminal and stdin of a child that
// calls ReadSecret; the test plays the person at the keyboard on the master side.
class TerminalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(master_, 0);
    ASSERT_EQ(::grantpt(master_), 0);
    ASSERT_EQ(::unlockpt(master_), 0);
    slave_name_ = ::ptsname(master_);
    ASSERT_EQ(::pipe(result_), 0);
  }
  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    ::close(master_);
    ::close(result_[0]);
  }

  // Forks the child; it writes "ok:<secret>" or "error:<message>" to the result pipe.
  void StartChild(bool confirm) {
    child_ = ::fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      ::setsid();
      const int slave = ::open(slave_name_.c_str(), O_RDWR);  // becomes the controlling tty
      if (slave < 0 || ::dup2(slave, STDIN_FILENO) < 0) ::_exit(3);
      auto secret = ReadSecret("Password: ", confirm);
      const std::string out = secret ? "ok:" + *secret : "error:" + secret.error().message();
      if (::write(result_[1], out.data(), out.size()) < 0) ::_exit(4);
      ::_exit(0);
    }
    ::close(result_[1]);
  }

  // Reads what the terminal shows until `text` appears (or 5 s pass); returns all of it.
  std::string ReadUntil(std::string_view text) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (shown_.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(master_, buf, sizeof(buf));
      if (n <= 0) break;
      shown_.append(buf, n);
    }
    return shown_;
  }

  bool EchoIsOn() {
    struct termios t {};
    EXPECT_EQ(::tcgetattr(master_, &t), 0);
    return (t.c_lflag & ECHO) != 0;
  }
  // Waits until the child has turned echo off, then types `line`.
  void Type(std::string_view line) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (EchoIsOn() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_FALSE(EchoIsOn());
    ASSERT_EQ(::write(master_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }

  std::string Result() {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(result_[0], buf, sizeof(buf))) > 0) out.append(buf, n);
    int status = 0;
    ::waitpid(child_, &status, 0);
    child_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    return out;
  }

  int master_ = -1;
  std::string slave_name_;
  int result_[2] = {-1, -1};
  pid_t child_ = -1;
  std::string shown_;
};

TEST_F(TerminalTest, PromptsWithoutEchoAndRestoresEcho) {
  StartChild(/*confirm=*/false);
  ReadUntil("Password: ");
  Type("s3cret\n");
  EXPECT_EQ(Result(), "ok:s3cret");
  const std::string shown = ReadUntil("\n");
  EXPECT_NE(shown.find("Password: "), std::string::npos);
  EXPECT_EQ(shown.find("s3cret"), std::string::npos) << shown;
  EXPECT_TRUE(EchoIsOn());
}

TEST_F(TerminalTest, ConfirmationMustMatch) {
  StartChild(/*confirm=*/true);
  ReadUntil("Password: ");
  Type("one\n");
  ReadUntil("Repeat: ");
  Type("two\n");
  EXPECT_EQ(Result(), "error:the two entries differ");
  EXPECT_TRUE(EchoIsOn());
}

TEST_F(TerminalTest, ConfirmationThatMatches) {
  StartChild(/*confirm=*/true);
  ReadUntil("Password: ");
  Type("same\n");
  ReadUntil("Repeat: ");
  Type("same\n");
  EXPECT_EQ(Result(), "ok:same");
}

TEST_F(TerminalTest, InterruptRestoresEcho) {
  StartChild(/*confirm=*/false);
  ReadUntil("Password: ");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (EchoIsOn() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_FALSE(EchoIsOn());
  ASSERT_EQ(::kill(child_, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child_, &status, 0), child_);
  child_ = -1;
  // The process still ends by the signal, as it would have without the prompt...
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "status " << status;
  // ...but leaves the terminal as it found it.
  EXPECT_TRUE(EchoIsOn());
}

}  // namespace
}  // namespace fogkeep
