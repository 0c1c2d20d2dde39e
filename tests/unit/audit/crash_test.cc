// The durability policy under fire: a child process appends records as fast as it can and
// reports each acknowledged seq through a pipe; the parent kills it with SIGKILL at a random
// moment (while it opens and recovers the log, or mid-append), sometimes adds a torn line as a
// power cut would leave it, and checks after every round that
//   - the log verifies, with at most an incomplete last line (never tampering),
//   - reopening it yields a log that verifies completely against its head,
//   - every record the child was told was appended is there, unchanged.
// SIGKILL keeps the page cache, so this exercises the write ordering and recovery, not the
// flushes themselves (those need a power cut, e.g. dm-flakey, which a unit test cannot stage).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "audit/log.h"
#include "audit/verify.h"
#include "core/fs.h"
#include "support/support.h"
#include "unit/audit/audit_test_util.h"

namespace fogkeep::audit {
namespace {

constexpr int kRounds = 40;

// The child: append until killed, acknowledging "<seq> <detail>\n" after each Append returns.
[[noreturn]] void Writer(const std::string& path, int ack_fd, int round) {
  Result<std::unique_ptr<AuditLog>> log = AuditLog::Open(path);
  if (!log) {
    std::fprintf(stderr, "child: open: %s\n", log.error().message().c_str());
    _exit(3);
  }
  for (int i = 0;; ++i) {
    const std::string detail = "round " + std::to_string(round) + " record " + std::to_string(i);
    Result<Record> r = (*log)->Append(Event{.actor = "writer",
                                            .role = "admin",
                                            .source = "local",
                                            .action = "apps.start",
                                            .target = "app",
                                            .result = "200",
                                            .detail = detail});
    if (!r) {
      std::fprintf(stderr, "child: append: %s\n", r.error().message().c_str());
      _exit(4);
    }
    const std::string ack = std::to_string(r->seq) + " " + detail + "\n";
    if (::write(ack_fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) _exit(5);
  }
}

std::map<std::uint64_t, Record> RecordsBySeq(const std::string& path) {
  std::map<std::uint64_t, Record> out;
  auto text = fs::ReadFile(path);
  if (!text) return out;
  std::size_t pos = 0;
  for (std::size_t nl; (nl = text->find('\n', pos)) != std::string::npos; pos = nl + 1) {
    if (auto r = ParseLine(std::string_view(*text).substr(pos, nl - pos))) out[r->seq] = *r;
  }
  return out;
}

VerifyReport VerifyWithHead(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0) return VerifyReport{};  // killed before creating it
  VerifyOptions options;
  if (auto head = ReadHeadFile(HeadPath(path))) options.anchors.push_back(*head);
  auto report = VerifyFile(path, options);
  EXPECT_TRUE(report) << report.error().message();
  return report ? *report : VerifyReport{};
}

TEST(AuditCrashTest, KillingTheWriterNeverLosesAnAcknowledgedRecord) {
  testing::TempDir dir;
  const std::string path = dir / "audit.log";
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::map<std::uint64_t, std::string> acknowledged;  // seq -> detail
  int torn_rounds = 0;
  int recovered_rounds = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      Writer(path, fds[1], round);
    }
    ::close(fds[1]);
    std::string acks;
    char buf[4096];
    // Every fifth round dies early, most likely while opening (and recovering) the log; the
    // others once the writer is appending (its first acknowledgement arrived), at a random
    // point of a later append.
    if (round % 5 != 0) {
      pollfd ready{.fd = fds[0], .events = POLLIN, .revents = 0};
      ASSERT_EQ(::poll(&ready, 1, 30'000), 1) << "the writer acknowledged nothing";
      const ssize_t n = ::read(fds[0], buf, sizeof(buf));
      ASSERT_GT(n, 0);
      acks.append(buf, static_cast<std::size_t>(n));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30'000));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer stopped by itself: status " << status;
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) {
      acks.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    std::size_t pos = 0;
    for (std::size_t nl; (nl = acks.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      const std::string line = acks.substr(pos, nl - pos);
      const std::size_t space = line.find(' ');
      acknowledged[std::stoull(line.substr(0, space))] = line.substr(space + 1);
    }

    // A power cut can also leave the start of a record without its end.
    if (rng() % 3 == 0) {
      ++torn_rounds;
      const std::string fake = "{\"seq\":999999,\"time\":\"2026-03-01T00:00:00.000Z\"";
      const std::string torn = fake.substr(0, 1 + rng() % (fake.size() - 1));
      auto text = fs::ReadFile(path);  // missing when the child died before creating it
      ASSERT_TRUE(fs::WriteFileAtomic(path, (text ? *text : std::string()) + torn, 0600));
    }

    VerifyReport before = VerifyWithHead(path);
    EXPECT_FALSE(before.tampered()) << test::Describe(before);
    {
      auto reopened = AuditLog::Open(path);
      ASSERT_TRUE(reopened) << reopened.error().message();
      if ((*reopened)->open_report().partial_tail_bytes > 0) ++recovered_rounds;
      for (const std::string& problem : (*reopened)->open_report().problems) {
        EXPECT_NE(problem.find("incomplete last line"), std::string::npos) << problem;
      }
    }
    VerifyReport after = VerifyWithHead(path);
    EXPECT_TRUE(after.ok()) << test::Describe(after);
    const auto records = RecordsBySeq(path);
    if (!records.empty()) EXPECT_TRUE(after.notes.empty()) << after.notes.front();
    for (const auto& [seq, detail] : acknowledged) {
      auto it = records.find(seq);
      ASSERT_NE(it, records.end()) << "acknowledged seq " << seq << " is gone";
      EXPECT_EQ(it->second.detail, detail) << "seq " << seq;
    }
    if (HasFatalFailure() || HasNonfatalFailure()) break;
  }
  EXPECT_GE(acknowledged.size(), std::size_t{kRounds * 4 / 5});
  std::printf("%zu acknowledged records over %d rounds; %d torn tails added, %d recovered\n",
              acknowledged.size(), kRounds, torn_rounds, recovered_rounds);
}

}  // namespace
}  // namespace fogkeep::audit
