// "Audit: editing, deleting, inserting or reordering any record is detected" — and located:
// each kind of tampering against a ten-record chain, with the finding expected at its line.
#include "audit/verify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "audit/record.h"
#include "unit/audit/audit_test_util.h"

namespace fogkeep::audit {
namespace {

using test::Describe;
using test::HeadOf;
using test::Join;
using test::Lines;
using test::MakeChain;
using test::Rehash;

constexpr int kRecords = 10;

VerifyReport Verify(const std::vector<std::string>& lines, std::vector<Anchor> anchors = {}) {
  return VerifyText(Join(lines), VerifyOptions{.anchors = std::move(anchors)});
}

// Exactly one finding, of `kind`, at `line`.
void ExpectOne(const VerifyReport& report, FindingKind kind, std::size_t line) {
  ASSERT_EQ(report.findings.size(), 1u) << Describe(report);
  EXPECT_EQ(report.findings[0].kind, kind) << Describe(report);
  EXPECT_EQ(report.findings[0].line, line) << Describe(report);
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(report.tampered());
}

TEST(AuditVerifyTest, IntactChainVerifies) {
  const auto chain = MakeChain(kRecords);
  VerifyReport report = Verify(Lines(chain), {HeadOf(chain)});
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_FALSE(report.tampered());
  EXPECT_EQ(report.lines, 10u);
  EXPECT_EQ(report.records, 10u);
  ASSERT_TRUE(report.head);
  EXPECT_EQ(report.head->seq, 10u);
  EXPECT_EQ(report.head->hash, chain.back().hash);
  EXPECT_TRUE(report.notes.empty());
  // Without an anchor it still verifies, and says what it cannot see.
  report = Verify(Lines(chain));
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].find("removed from the end"), std::string::npos);
}

TEST(AuditVerifyTest, EmptyLogVerifies) {
  VerifyReport report = VerifyText("");
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.lines, 0u);
  EXPECT_FALSE(report.head);
}

TEST(AuditVerifyTest, ModifyingAnyFieldIsDetectedAtItsLine) {
  const auto chain = MakeChain(kRecords);
  const std::vector<std::pair<std::string, std::function<void(Record&)>>> edits = {
      {"seq", [](Record& r) { r.seq = 50; }},
      {"time", [](Record& r) { r.time = "2026-03-01T12:00:05.001Z"; }},
      {"actor", [](Record& r) { r.actor = "token:ffffffffffff"; }},
      {"role", [](Record& r) { r.role = "auditor"; }},
      {"source", [](Record& r) { r.source = "10.9.9.9"; }},
      {"action", [](Record& r) { r.action = "apps.stop"; }},
      {"target", [](Record& r) { r.target = "other"; }},
      {"result", [](Record& r) { r.result = "403"; }},
      {"detail added", [](Record& r) { r.detail = "benign"; }},
      {"detail changed", [](Record& r) { r.detail = "detail of 6"; }},
      {"prev", [](Record& r) { r.prev = std::string(64, '1'); }},
      {"hash", [](Record& r) { r.hash = std::string(64, '2'); }},
  };
  for (int index : {0, 4, 5, 9}) {  // first, middle (with and without detail), last
    for (const auto& [field, edit] : edits) {
      SCOPED_TRACE(field + " of record " + std::to_string(index + 1));
      auto records = chain;
      edit(records[index]);  // the stored hash is left as it was
      ExpectOne(Verify(Lines(records), {HeadOf(chain)}), FindingKind::kModified, index + 1);
    }
  }
}

TEST(AuditVerifyTest, ChangingAnyByteOfALineIsDetectedAtThatLine) {
  const auto lines = Lines(MakeChain(kRecords));
  const std::string& original = lines[4];
  for (std::size_t i = 0; i < original.size(); ++i) {
    auto edited = lines;
    edited[4][i] = original[i] == 'Z' ? 'Y' : 'Z';
    VerifyReport report = Verify(edited, {HeadOf(MakeChain(kRecords))});
    ASSERT_FALSE(report.ok()) << "byte " << i;
    for (const Finding& f : report.findings) {
      EXPECT_EQ(f.line, 5u) << "byte " << i << ": " << Describe(report);
    }
  }
}

TEST(AuditVerifyTest, NonCanonicalEncodingCountsAsModified) {
  const auto chain = MakeChain(kRecords);
  auto lines = Lines(chain);
  // Same content, different bytes: a space, and an escaped letter.
  lines[2].insert(1, " ");
  lines[6].replace(lines[6].find("\"admin\""), 7, "\"\\u0061dmin\"");
  VerifyReport report = Verify(lines, {HeadOf(chain)});
  ASSERT_EQ(report.findings.size(), 2u) << Describe(report);
  EXPECT_EQ(report.findings[0].kind, FindingKind::kModified);
  EXPECT_EQ(report.findings[0].line, 3u);
  EXPECT_NE(report.findings[0].message.find("canonical"), std::string::npos);
  EXPECT_EQ(report.findings[1].line, 7u);
}

TEST(AuditVerifyTest, RewriteWithRecomputedHashBreaksTheChainAtTheNextRecord) {
  const auto chain = MakeChain(kRecords);
  auto records = chain;
  records[4].actor = "token:innocent0000";
  records[4] = Rehash(records[4]);
  VerifyReport report = Verify(Lines(records), {HeadOf(chain)});
  ExpectOne(report, FindingKind::kBrokenChain, 6);
  EXPECT_NE(report.findings[0].message.find("line 5"), std::string::npos) << Describe(report);
}

TEST(AuditVerifyTest, RewriteOfTheLastRecordNeedsTheAnchor) {
  const auto chain = MakeChain(kRecords);
  auto records = chain;
  records.back().result = "200";
  records.back().target = "harmless";
  records.back() = Rehash(records.back());
  EXPECT_TRUE(Verify(Lines(records)).ok());  // a self-consistent chain, alone, proves nothing
  ExpectOne(Verify(Lines(records), {HeadOf(chain)}), FindingKind::kAnchorMismatch, 10);
}

TEST(AuditVerifyTest, DeletionAtTheStartInTheMiddleAndAtTheEnd) {
  const auto chain = MakeChain(kRecords);
  const auto lines = Lines(chain);
  const Anchor head = HeadOf(chain);
  {
    SCOPED_TRACE("first");
    auto cut = lines;
    cut.erase(cut.begin());
    VerifyReport report = Verify(cut, {head});
    ExpectOne(report, FindingKind::kDeleted, 1);
    EXPECT_NE(report.findings[0].message.find("seq 1"), std::string::npos) << Describe(report);
  }
  {
    SCOPED_TRACE("middle");
    auto cut = lines;
    cut.erase(cut.begin() + 4);
    VerifyReport report = Verify(cut, {head});
    ExpectOne(report, FindingKind::kDeleted, 5);
    EXPECT_EQ(report.findings[0].seq, 6u);
    EXPECT_NE(report.findings[0].message.find("seq 5"), std::string::npos) << Describe(report);
  }
  {
    SCOPED_TRACE("three in the middle");
    auto cut = lines;
    cut.erase(cut.begin() + 3, cut.begin() + 6);
    VerifyReport report = Verify(cut, {head});
    ExpectOne(report, FindingKind::kDeleted, 4);
    EXPECT_NE(report.findings[0].message.find("3 record(s)"), std::string::npos);
    EXPECT_NE(report.findings[0].message.find("seq 4..6"), std::string::npos) << Describe(report);
  }
  {
    SCOPED_TRACE("last, with and without the anchor");
    auto cut = lines;
    cut.pop_back();
    EXPECT_TRUE(Verify(cut).ok());  // undetectable without an anchor
    VerifyReport report = Verify(cut, {head});
    ExpectOne(report, FindingKind::kTruncated, 10);
    EXPECT_EQ(report.findings[0].seq, 10u);
    cut.pop_back();
    report = Verify(cut, {head});
    ExpectOne(report, FindingKind::kTruncated, 9);
    EXPECT_NE(report.findings[0].message.find("seq 9..10"), std::string::npos) << Describe(report);
  }
  {
    SCOPED_TRACE("everything");
    ExpectOne(Verify({}, {head}), FindingKind::kTruncated, 1);
  }
}

TEST(AuditVerifyTest, InsertionsAreDetectedAtTheInsertedLine) {
  const auto chain = MakeChain(kRecords);
  const auto lines = Lines(chain);
  const Anchor head = HeadOf(chain);
  auto insert_at = [&](std::size_t index, const std::string& line) {
    auto out = lines;
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(index), line);
    return out;
  };
  {
    SCOPED_TRACE("a line that is not a record");
    ExpectOne(Verify(insert_at(4, "{\"note\":\"hello\"}"), {head}), FindingKind::kUnparsable, 5);
    ExpectOne(Verify(insert_at(4, ""), {head}), FindingKind::kUnparsable, 5);
  }
  {
    SCOPED_TRACE("a fabricated record with a wrong hash");
    Record fake = chain[4];
    fake.actor = "token:someoneelse";
    ExpectOne(Verify(insert_at(4, SerializeLine(fake)), {head}), FindingKind::kInserted, 5);
  }
  {
    SCOPED_TRACE("a forged record with a correct hash, claiming the next seq");
    Record forged = chain[4];
    forged.action = "apps.uninstall";
    forged = Rehash(forged);  // prev is record 4's hash: it fits the chain as far as it goes
    ExpectOne(Verify(insert_at(4, SerializeLine(forged)), {head}), FindingKind::kInserted, 5);
    // Placed after the genuine one instead.
    ExpectOne(Verify(insert_at(5, SerializeLine(forged)), {head}), FindingKind::kInserted, 6);
  }
  {
    SCOPED_TRACE("a forged record with a correct hash and an unused seq");
    Record forged = chain[4];
    forged.seq = 1000;
    forged = Rehash(forged);
    ExpectOne(Verify(insert_at(4, SerializeLine(forged)), {head}), FindingKind::kInserted, 5);
  }
  {
    SCOPED_TRACE("a forged last record duplicating the last seq");
    Record forged = chain.back();
    forged.target = "x";
    forged = Rehash(forged);
    ExpectOne(Verify(insert_at(10, SerializeLine(forged)), {head}), FindingKind::kInserted, 11);
  }
}

TEST(AuditVerifyTest, DuplicatedRecordIsDetected) {
  const auto chain = MakeChain(kRecords);
  auto lines = Lines(chain);
  lines.insert(lines.begin() + 7, lines[2]);
  VerifyReport report = Verify(lines, {HeadOf(chain)});
  ExpectOne(report, FindingKind::kDuplicate, 8);
  EXPECT_NE(report.findings[0].message.find("line 3"), std::string::npos) << Describe(report);
  // A replay right after the original.
  lines = Lines(chain);
  lines.insert(lines.begin() + 3, lines[2]);
  ExpectOne(Verify(lines, {HeadOf(chain)}), FindingKind::kDuplicate, 4);
}

TEST(AuditVerifyTest, ReorderingIsDetectedWhereItHappened) {
  const auto chain = MakeChain(kRecords);
  const auto lines = Lines(chain);
  const Anchor head = HeadOf(chain);
  {
    SCOPED_TRACE("adjacent swap");
    auto swapped = lines;
    std::swap(swapped[3], swapped[4]);
    VerifyReport report = Verify(swapped, {head});
    ExpectOne(report, FindingKind::kReordered, 4);
    EXPECT_EQ(report.findings[0].seq, 5u);
  }
  {
    SCOPED_TRACE("swap of the last two");
    auto swapped = lines;
    std::swap(swapped[8], swapped[9]);
    ExpectOne(Verify(swapped, {head}), FindingKind::kReordered, 9);
  }
  {
    SCOPED_TRACE("first and second");
    auto swapped = lines;
    std::swap(swapped[0], swapped[1]);
    ExpectOne(Verify(swapped, {head}), FindingKind::kReordered, 1);
  }
  {
    SCOPED_TRACE("a record moved to the end");
    auto moved = lines;
    std::rotate(moved.begin() + 2, moved.begin() + 3, moved.end());  // seq 3 last
    VerifyReport report = Verify(moved, {head});
    ExpectOne(report, FindingKind::kReordered, 10);
    EXPECT_EQ(report.findings[0].seq, 3u);
  }
  {
    SCOPED_TRACE("a record moved earlier");
    auto moved = lines;
    std::rotate(moved.begin() + 3, moved.begin() + 7, moved.begin() + 8);  // seq 8 at line 4
    VerifyReport report = Verify(moved, {head});
    ExpectOne(report, FindingKind::kReordered, 4);
    EXPECT_EQ(report.findings[0].seq, 8u);
  }
  {
    SCOPED_TRACE("reversed");
    auto reversed = lines;
    std::reverse(reversed.begin(), reversed.end());
    VerifyReport report = Verify(reversed, {head});
    EXPECT_FALSE(report.ok());
    for (const Finding& f : report.findings) {
      EXPECT_EQ(f.kind, FindingKind::kReordered) << Describe(report);
    }
  }
}

TEST(AuditVerifyTest, FirstRecordMustStartFromGenesis) {
  auto records = MakeChain(3);
  records[0].prev = std::string(64, '7');
  records[0] = Rehash(records[0]);
  // Record 2 no longer chains to the rewritten record 1, and record 1 not to the genesis.
  VerifyReport report = Verify(Lines(records));
  ASSERT_EQ(report.findings.size(), 2u) << Describe(report);
  EXPECT_EQ(report.findings[0].kind, FindingKind::kBrokenChain);
  EXPECT_EQ(report.findings[0].line, 1u);
  EXPECT_EQ(report.findings[1].line, 2u);
}

TEST(AuditVerifyTest, PartialTailIsNotTampering) {
  const auto chain = MakeChain(kRecords);
  const std::string whole = Join(Lines(chain));
  const std::string next = SerializeLine(MakeChain(kRecords + 1).back());
  for (std::size_t cut : {std::size_t{1}, next.size() / 2, next.size()}) {
    VerifyReport report =
        VerifyText(whole + next.substr(0, cut), VerifyOptions{.anchors = {HeadOf(chain)}});
    ASSERT_EQ(report.findings.size(), 1u) << Describe(report);
    EXPECT_EQ(report.findings[0].kind, FindingKind::kPartialTail);
    EXPECT_EQ(report.findings[0].line, 11u);
    EXPECT_FALSE(report.ok());
    EXPECT_FALSE(report.tampered());
    EXPECT_EQ(report.complete_bytes, whole.size());
    EXPECT_EQ(report.head->seq, 10u);
  }
}

TEST(AuditVerifyTest, RecordsAfterTheAnchorAreNotedNotFlagged) {
  const auto chain = MakeChain(kRecords);
  const auto older = MakeChain(7);
  VerifyReport report = Verify(Lines(chain), {HeadOf(older)});
  EXPECT_TRUE(report.ok()) << Describe(report);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].find("3 records after the anchor"), std::string::npos);
  // Several anchors: each must hold.
  Anchor wrong = HeadOf(older);
  wrong.hash = std::string(64, 'e');
  ExpectOne(Verify(Lines(chain), {HeadOf(chain), wrong}), FindingKind::kAnchorMismatch, 7);
}

TEST(AuditVerifyTest, TailWindowSkipsItsFirstLineAndTheStartChecks) {
  const std::string text = Join(Lines(MakeChain(kRecords)));
  const std::size_t from = text.find('\n') + 20;  // somewhere inside line 2
  VerifyReport report =
      VerifyText(std::string_view(text).substr(from), VerifyOptions{.starts_mid_log = true});
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_EQ(report.head->seq, 10u);
  EXPECT_EQ(report.records, 8u);
}

TEST(AuditVerifyTest, HostileInputGivesFindingsNotCrashes) {
  for (const std::string& text : {
           std::string("\n\n\n"),
           std::string(200000, 'x') + "\n",
           std::string("{\"seq\":18446744073709551615}\n"),
           std::string(5000, '[') + "\n",
           std::string("\0\0\0\n", 4),
           std::string("\xff\xff\n"),
       }) {
    VerifyReport report = VerifyText(text);
    EXPECT_FALSE(report.ok());
  }
  // Many findings are capped.
  std::string junk;
  for (int i = 0; i < 3000; ++i) junk += "x\n";
  VerifyReport report = VerifyText(junk, VerifyOptions{.max_findings = 100});
  EXPECT_EQ(report.findings.size(), 100u);
  EXPECT_EQ(report.omitted, 2900u);
  EXPECT_TRUE(report.tampered());
}

TEST(AuditVerifyTest, AnchorsParseStrictly) {
  const Anchor anchor{42, std::string(64, 'c')};
  EXPECT_EQ(FormatAnchor(anchor), "42:" + std::string(64, 'c'));
  Result<Anchor> back = ParseAnchor(FormatAnchor(anchor));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->seq, 42u);
  EXPECT_EQ(back->hash, anchor.hash);
  for (const std::string& bad :
       {std::string(""), std::string("42"), ":" + std::string(64, 'c'), "0:" + std::string(64, 'c'),
        "42:" + std::string(63, 'c'), "42:" + std::string(64, 'C'), "-1:" + std::string(64, 'c'),
        "99999999999999999999:" + std::string(64, 'c')}) {
    EXPECT_FALSE(ParseAnchor(bad)) << bad;
  }
}

}  // namespace
}  // namespace fogkeep::audit
