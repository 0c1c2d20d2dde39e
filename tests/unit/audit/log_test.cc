// AuditLog: appending, reopening and recovering (incomplete tail, missing or stale head,
// truncation, tampering found at open), the lock, concurrency, the size cap, and queries.
#include "audit/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "audit/query.h"
#include "audit/verify.h"
#include "core/fs.h"
#include "support/support.h"
#include "unit/audit/audit_test_util.h"

namespace fogkeep::audit {
namespace {

using test::Describe;

using fogkeep::testing::Must;

Event Call(std::string action, std::string target = "app", std::string result = "200") {
  return Event{.actor = "token:0123456789ab",
               .role = "admin",
               .source = "10.0.0.1",
               .action = std::move(action),
               .target = std::move(target),
               .result = std::move(result)};
}

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> OpenLog(LogOptions options = {}) {
    return Must(AuditLog::Open(path_, std::move(options)));
  }
  VerifyReport VerifyWithHead() {
    VerifyOptions options;
    if (auto head = ReadHeadFile(HeadPath(path_))) options.anchors.push_back(*head);
    return Must(VerifyFile(path_, options));
  }
  std::vector<Record> ReadRecords() {
    std::vector<Record> out;
    const std::string text = Must(fs::ReadFile(path_));
    std::size_t pos = 0;
    for (std::size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      out.push_back(Must(ParseLine(std::string_view(text).substr(pos, nl - pos))));
    }
    return out;
  }
  void AppendRaw(std::string_view bytes) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  void TruncateToLines(std::size_t lines) {
    const std::string text = Must(fs::ReadFile(path_));
    std::size_t end = 0;
    for (std::size_t i = 0; i < lines; ++i) end = text.find('\n', end) + 1;
    ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(end)), 0);
  }

  testing::TempDir dir_;
  const std::string path_ = dir_ / "audit.log";
};

TEST_F(AuditLogTest, AppendChainsRecordsAndKeepsTheHead) {
  auto log = OpenLog();
  EXPECT_FALSE(log->head());
  Record first = Must(log->Append(Call("apps.install", "hello", "201")));
  Record second = Must(log->Append(Call("apps.start", "hello")));
  EXPECT_EQ(first.seq, 1u);
  EXPECT_EQ(first.prev, kGenesisHash);
  EXPECT_EQ(second.seq, 2u);
  EXPECT_EQ(second.prev, first.hash);
  EXPECT_EQ(log->head()->hash, second.hash);
  const Anchor head = Must(ReadHeadFile(HeadPath(path_)));
  EXPECT_EQ(head.seq, 2u);
  EXPECT_EQ(head.hash, second.hash);
  const auto records = ReadRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].action, "apps.install");
  EXPECT_EQ(records[0].result, "201");
  EXPECT_EQ(records[1].target, "hello");
  EXPECT_TRUE(VerifyWithHead().ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat(HeadPath(path_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(AuditLogTest, ReopenContinuesTheChainSilently) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 3; ++i) Must(log->Append(Call("apps.start")));
  }
  auto log = OpenLog();
  EXPECT_TRUE(log->open_report().problems.empty());
  EXPECT_TRUE(log->open_report().verified_in_full);
  EXPECT_EQ(log->open_report().records_verified, 3u);
  EXPECT_EQ(Must(log->Append(Call("apps.stop"))).seq, 4u);
  EXPECT_TRUE(VerifyWithHead().ok()) << Describe(VerifyWithHead());
}

TEST_F(AuditLogTest, SecondWriterIsRefused) {
  auto log = OpenLog();
  Result<std::unique_ptr<AuditLog>> second = AuditLog::Open(path_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
}

TEST_F(AuditLogTest, SymlinkIsRefused) {
  const std::string real = dir_ / "elsewhere.log";
  ASSERT_EQ(::symlink(real.c_str(), path_.c_str()), 0);
  EXPECT_FALSE(AuditLog::Open(path_));
  EXPECT_NE(::access(real.c_str(), F_OK), 0);
}

TEST_F(AuditLogTest, IncompleteLastLineIsRemovedAndRecorded) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 3; ++i) Must(log->Append(Call("apps.start")));
  }
  AppendRaw("{\"seq\":4,\"time\":\"2026-03-0");  // a crash in the middle of a write
  VerifyReport before = VerifyWithHead();
  ASSERT_EQ(before.findings.size(), 1u) << Describe(before);
  EXPECT_EQ(before.findings[0].kind, FindingKind::kPartialTail);
  EXPECT_FALSE(before.tampered());

  auto log = OpenLog();
  EXPECT_EQ(log->open_report().partial_tail_bytes, 26u);
  ASSERT_EQ(log->open_report().problems.size(), 1u);
  const auto records = ReadRecords();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].action, "audit.recovered");
  EXPECT_EQ(records[3].actor, "fogkeepd");
  EXPECT_NE(records[3].detail.find("26 bytes"), std::string::npos);
  EXPECT_TRUE(VerifyWithHead().ok()) << Describe(VerifyWithHead());
}

TEST_F(AuditLogTest, CrashBetweenRecordAndHeadIsAcceptedAndRepaired) {
  std::string second_hash;
  {
    auto log = OpenLog();
    Must(log->Append(Call("apps.start")));
    second_hash = Must(log->Append(Call("apps.stop"))).hash;
    Must(log->Append(Call("apps.start")));
  }
  // The head as it was before the third record's head update.
  Must(
      fs::WriteFileAtomic(HeadPath(path_), "{\"seq\":2,\"hash\":\"" + second_hash + "\"}\n", 0600));
  VerifyReport report = VerifyWithHead();
  EXPECT_TRUE(report.ok()) << Describe(report);
  ASSERT_EQ(report.notes.size(), 1u);
  auto log = OpenLog();
  EXPECT_TRUE(log->open_report().problems.empty());
  EXPECT_EQ(Must(ReadHeadFile(HeadPath(path_))).seq, 3u);
}

TEST_F(AuditLogTest, RecordsRemovedFromTheEndAreDetectedAndStayVisible) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 5; ++i) Must(log->Append(Call("apps.start")));
  }
  TruncateToLines(3);
  VerifyReport cut = VerifyWithHead();
  ASSERT_EQ(cut.findings.size(), 1u) << Describe(cut);
  EXPECT_EQ(cut.findings[0].kind, FindingKind::kTruncated);

  auto log = OpenLog();
  ASSERT_EQ(log->open_report().problems.size(), 1u);
  EXPECT_NE(log->open_report().problems[0].find("removed from the end"), std::string::npos);
  const auto records = ReadRecords();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].action, "audit.truncated");
  EXPECT_EQ(records[3].seq, 6u);  // the chain continues from the head, not from what is left
  // So the gap stays in the log for every later verification, head file or not.
  for (bool with_head : {true, false}) {
    VerifyReport after = with_head ? VerifyWithHead() : Must(VerifyFile(path_));
    ASSERT_EQ(after.findings.size(), 1u) << Describe(after);
    EXPECT_EQ(after.findings[0].kind, FindingKind::kDeleted);
    EXPECT_EQ(after.findings[0].line, 4u);
    EXPECT_NE(after.findings[0].message.find("seq 4..5"), std::string::npos);
  }
}

TEST_F(AuditLogTest, DeletedLogWithHeadLeftIsDetected) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 3; ++i) Must(log->Append(Call("apps.start")));
  }
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  auto log = OpenLog();
  ASSERT_EQ(log->open_report().problems.size(), 1u);
  const auto records = ReadRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].seq, 4u);
  EXPECT_EQ(records[0].action, "audit.truncated");
  VerifyReport report = Must(VerifyFile(path_));
  ASSERT_EQ(report.findings.size(), 1u) << Describe(report);
  EXPECT_EQ(report.findings[0].kind, FindingKind::kDeleted);
}

TEST_F(AuditLogTest, MissingOrBrokenHeadIsRecorded) {
  {
    auto log = OpenLog();
    Must(log->Append(Call("apps.start")));
  }
  ASSERT_EQ(::unlink(HeadPath(path_).c_str()), 0);
  {
    auto log = OpenLog();
    ASSERT_EQ(log->open_report().problems.size(), 1u);
    EXPECT_EQ(ReadRecords().back().action, "audit.head-missing");
  }
  Must(fs::WriteFileAtomic(HeadPath(path_), "garbage", 0600));
  {
    auto log = OpenLog();
    ASSERT_EQ(log->open_report().problems.size(), 1u);
    EXPECT_EQ(ReadRecords().back().action, "audit.head-invalid");
  }
  EXPECT_TRUE(VerifyWithHead().ok()) << Describe(VerifyWithHead());
}

TEST_F(AuditLogTest, TamperingFoundAtOpenIsRecorded) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 4; ++i) Must(log->Append(Call("apps.start", "app-" + std::to_string(i))));
  }
  std::string text = Must(fs::ReadFile(path_));
  const std::size_t at = text.find("app-1");
  ASSERT_NE(at, std::string::npos);
  text[at + 4] = '9';
  Must(fs::WriteFileAtomic(path_, text, 0600));
  auto log = OpenLog();
  ASSERT_EQ(log->open_report().problems.size(), 1u);
  EXPECT_NE(log->open_report().problems[0].find("line 2: modified"), std::string::npos)
      << log->open_report().problems[0];
  const auto records = ReadRecords();
  EXPECT_EQ(records.back().action, "audit.verify-failed");
  EXPECT_EQ(records.back().seq, 5u);
  // The tampered line stays reported; the record of it verifies.
  VerifyReport report = VerifyWithHead();
  ASSERT_EQ(report.findings.size(), 1u) << Describe(report);
  EXPECT_EQ(report.findings[0].line, 2u);
}

TEST_F(AuditLogTest, ConcurrentAppendsGetDistinctSeqsInOneChain) {
  auto log = OpenLog();
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<Record>> appended(kThreads);
  std::atomic<int> failures = 0;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Result<Record> r = log->Append(Call("apps.start", "t" + std::to_string(t)));
        if (r) {
          appended[t].push_back(*r);
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  std::set<std::uint64_t> seqs;
  for (const auto& per_thread : appended) {
    for (const Record& r : per_thread) seqs.insert(r.seq);
    // Each thread's records are ordered as it appended them.
    for (std::size_t i = 1; i < per_thread.size(); ++i) {
      EXPECT_LT(per_thread[i - 1].seq, per_thread[i].seq);
    }
  }
  EXPECT_EQ(seqs.size(), std::size_t{kThreads * kEach});
  EXPECT_EQ(*seqs.rbegin(), std::uint64_t{kThreads * kEach});
  VerifyReport report = VerifyWithHead();
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_EQ(report.records, std::uint64_t{kThreads * kEach});
  const auto records = ReadRecords();
  for (const auto& per_thread : appended) {
    for (const Record& r : per_thread) {
      EXPECT_EQ(records[r.seq - 1].hash, r.hash);
    }
  }
}

TEST_F(AuditLogTest, SizeCapRefusesBeforeTheLogBreaks) {
  LogOptions options;
  options.max_bytes = kReserveBytes + 4096;
  options.durability = Durability::kNone;
  auto log = OpenLog(options);
  EXPECT_TRUE(log->Ready());
  std::size_t appended = 0;
  while (log->Ready()) {
    Must(log->Append(Call("apps.start")));
    ++appended;
  }
  EXPECT_GT(appended, 5u);
  EXPECT_EQ(log->Ready().error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(log->Ready().error().message().find("full"), std::string::npos);
  // The reserve still takes the records of calls already admitted, up to the cap itself.
  Result<Record> r;
  while ((r = log->Append(Call("apps.start")))) {
  }
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_LE(static_cast<std::uint64_t>(st.st_size), options.max_bytes);
  EXPECT_TRUE(VerifyWithHead().ok());
}

TEST_F(AuditLogTest, FieldsAreCleanedAndBounded) {
  auto log = OpenLog();
  Event event = Call("apps.\xff", std::string(5000, 't'));
  event.actor = "bad\xc3";
  event.detail = std::string(10000, 'd');
  Record r = Must(log->Append(event));
  EXPECT_EQ(r.actor, "bad\xef\xbf\xbd");
  EXPECT_EQ(r.action, "apps.\xef\xbf\xbd");
  EXPECT_EQ(r.target.size(), kMaxTargetBytes);
  EXPECT_EQ(r.detail.size(), kMaxDetailBytes);
  EXPECT_TRUE(VerifyWithHead().ok());
}

TEST_F(AuditLogTest, LargeLogIsCheckedInItsTailOnly) {
  {
    LogOptions options;
    options.durability = Durability::kNone;
    auto log = OpenLog(options);
    Event big = Call("apps.config");
    big.detail = std::string(3000, 'x');
    for (int i = 0; i < 200; ++i) Must(log->Append(big));  // ~650 KB
  }
  LogOptions options;
  options.verify_on_open_bytes = 1024;
  auto log = OpenLog(options);
  EXPECT_FALSE(log->open_report().verified_in_full);
  EXPECT_TRUE(log->open_report().problems.empty());
  EXPECT_EQ(Must(log->Append(Call("apps.stop"))).seq, 201u);
  EXPECT_TRUE(VerifyWithHead().ok());
}

TEST_F(AuditLogTest, QueriesFilterAndKeepTheNewest) {
  using namespace std::chrono;
  system_clock::time_point now = sys_days{year{2026} / 3 / 1} + hours(12);
  LogOptions options;
  options.durability = Durability::kNone;
  options.clock = [&now] { return now; };
  auto log = OpenLog(options);
  auto at = [&](int minute, Event event) {
    now = sys_days{year{2026} / 3 / 1} + hours(12) + minutes(minute);
    Must(log->Append(event));
  };
  at(0, Call("apps.install", "a", "201"));
  at(1, Call("apps.start", "a"));
  at(2, Event{.actor = "-", .source = "10.0.0.9", .action = "auth.failed", .result = "401"});
  at(3, Call("apps.stop", "a"));
  at(4, Call("platform.policy", "/api/v1/platform/policy", "400"));
  auto query = [&](std::vector<std::pair<std::string, std::string>> params) {
    QueryFilter filter = Must(QueryFilter::FromParams(params));
    QueryResult result = Must(QueryLog(*log, filter));
    std::vector<std::uint64_t> seqs;
    for (const std::string& line : result.lines) seqs.push_back(Must(ParseLine(line)).seq);
    EXPECT_GE(result.matched, seqs.size());
    return seqs;
  };
  using Seqs = std::vector<std::uint64_t>;
  EXPECT_EQ(query({}), (Seqs{1, 2, 3, 4, 5}));
  EXPECT_EQ(query({{"action", "apps.*"}}), (Seqs{1, 2, 4}));
  EXPECT_EQ(query({{"action", "apps.start"}}), (Seqs{2}));
  EXPECT_EQ(query({{"actor", "-"}}), (Seqs{3}));
  EXPECT_EQ(query({{"result", "4xx"}}), (Seqs{3, 5}));
  EXPECT_EQ(query({{"result", "201"}}), (Seqs{1}));
  EXPECT_EQ(query({{"since", "2026-03-01T12:01:00Z"}, {"until", "2026-03-01T12:03:00Z"}}),
            (Seqs{2, 3}));
  EXPECT_EQ(query({{"limit", "2"}}), (Seqs{4, 5}));
  QueryResult limited = Must(QueryLog(*log, Must(QueryFilter::FromParams({{"limit", "2"}}))));
  EXPECT_EQ(limited.matched, 5u);
  // The same over text, ignoring an incomplete last line and junk.
  const std::string text = Must(fs::ReadFile(path_)) + "junk\n{\"seq\":9";
  EXPECT_EQ(QueryText(text, Must(QueryFilter::FromParams({}))).matched, 5u);
  for (const auto& bad :
       std::vector<std::vector<std::pair<std::string, std::string>>>{{{"since", "yesterday"}},
                                                                     {{"until", "2026-13-01"}},
                                                                     {{"limit", "0"}},
                                                                     {{"limit", "100001"}},
                                                                     {{"limit", "x"}}}) {
    EXPECT_FALSE(QueryFilter::FromParams(bad)) << bad[0].first << "=" << bad[0].second;
  }
}

}  // namespace
}  // namespace fogkeep::audit
