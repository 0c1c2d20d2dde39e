// The record's two encodings: the canonical bytes its hash covers (rebuilt here by hand from
// the documented format, so the code cannot drift from the documentation) and the JSON line.
#include "audit/record.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "unit/audit/audit_test_util.h"

namespace fogkeep::audit {
namespace {

Record Sample() {
  Record r;
  r.seq = 42;
  r.time = "2026-03-01T12:00:00.123Z";
  r.actor = "token:0123456789ab";
  r.role = "admin";
  r.source = "192.0.2.7";
  r.action = "apps.install";
  r.target = "hello";
  r.result = "201";
  r.detail = "";
  r.prev = std::string(64, 'a');
  return r;
}

TEST(AuditRecordTest, CanonicalBytesFollowTheDocumentedFormat) {
  const Record r = Sample();
  const std::string expected =
      "fogkeep-audit-v1\n"
      "seq=2:42\n"
      "time=24:2026-03-01T12:00:00.123Z\n"
      "actor=18:token:0123456789ab\n"
      "role=5:admin\n"
      "source=9:192.0.2.7\n"
      "action=12:apps.install\n"
      "target=5:hello\n"
      "result=3:201\n"
      "detail=0:\n"
      "prev=64:" +
      std::string(64, 'a') + "\n";
  EXPECT_EQ(CanonicalBytes(r), expected);
  EXPECT_EQ(ComputeHash(r), crypto::Sha256Hex(expected));
}

TEST(AuditRecordTest, LengthPrefixesKeepFieldsApart) {
  // Moving bytes from one field to the next must change the hash.
  Record a = Sample();
  Record b = Sample();
  a.actor = "ab";
  a.role = "c";
  b.actor = "a";
  b.role = "bc";
  EXPECT_NE(ComputeHash(a), ComputeHash(b));
  Record c = Sample();
  c.detail = "x";
  EXPECT_NE(ComputeHash(c), ComputeHash(Sample()));
}

TEST(AuditRecordTest, LineRoundTripsWithHostileCharacters) {
  Record r = Sample();
  r.target = "a\"b\\c\nd\re\tf\x01g\x1f\x7fh \xc3\xa9 \xef\xbf\xbd /";
  r.detail = "multi\nline";
  r.hash = ComputeHash(r);
  const std::string line = SerializeLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_NE(line.find("\\u0001"), std::string::npos);
  Result<Record> back = ParseLine(line);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->target, r.target);
  EXPECT_EQ(back->detail, r.detail);
  EXPECT_EQ(SerializeLine(*back), line);
  EXPECT_EQ(ComputeHash(*back), r.hash);
}

TEST(AuditRecordTest, LineHasFixedKeyOrderAndOmitsEmptyDetail) {
  Record r = Sample();
  r.hash = ComputeHash(r);
  EXPECT_EQ(SerializeLine(r),
            "{\"seq\":42,\"time\":\"2026-03-01T12:00:00.123Z\",\"actor\":\"token:0123456789ab\","
            "\"role\":\"admin\",\"source\":\"192.0.2.7\",\"action\":\"apps.install\","
            "\"target\":\"hello\",\"result\":\"201\",\"prev\":\"" +
                std::string(64, 'a') + "\",\"hash\":\"" + r.hash + "\"}");
  r.detail = "why";
  EXPECT_NE(SerializeLine(r).find(",\"detail\":\"why\",\"prev\""), std::string::npos);
}

TEST(AuditRecordTest, ParseLineIsStrict) {
  Record r = Sample();
  r.hash = ComputeHash(r);
  const std::string good = SerializeLine(r);
  ASSERT_TRUE(ParseLine(good));
  auto with = [&](std::string_view from, std::string_view to) {
    std::string line = good;
    const std::size_t at = line.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    line.replace(at, from.size(), to);
    return line;
  };
  for (const std::string& bad : {
           with("\"seq\":42", "\"seq\":0"),
           with("\"seq\":42", "\"seq\":-42"),
           with("\"seq\":42", "\"seq\":42.0"),
           with("\"seq\":42", "\"seq\":\"42\""),
           with("\"seq\":42,", ""),
           with("\"role\":\"admin\"", "\"role\":7"),
           with("\"role\":\"admin\",", ""),
           with("\"target\":\"hello\"", "\"target\":{\"x\":1}"),
           with("\"result\":\"201\"", "\"result\":\"201\",\"extra\":\"x\""),
           with("\"prev\":\"aaaa", "\"prev\":\"AAAA"),
           with("\"prev\":\"aaaa", "\"prev\":\"aaa"),
           std::string("[]"),
           std::string("null"),
           std::string(""),
           std::string("{\"seq\":1"),
           std::string("\xff\xfe{}"),
           std::string(kMaxLineBytes + 1, ' '),
       }) {
    EXPECT_FALSE(ParseLine(bad)) << bad.substr(0, 200);
  }
  // Deep nesting is refused early rather than recursed into.
  EXPECT_FALSE(ParseLine(std::string(10000, '[') + std::string(10000, ']')));
}

TEST(AuditRecordTest, CleanFieldRepairsUtf8AndCutsAtCharacterBoundaries) {
  EXPECT_EQ(CleanField("plain", 100), "plain");
  EXPECT_EQ(CleanField("a\xff"
                       "b",
                       100),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(CleanField("\xc0\xaf", 100), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
  EXPECT_EQ(CleanField("\xed\xa0\x80", 100),
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");                   // a surrogate
  EXPECT_EQ(CleanField("\xe2\x82", 100), "\xef\xbf\xbd\xef\xbf\xbd");  // cut sequence
  EXPECT_EQ(CleanField(std::string(20, 'x'), 10), "xxxxxxx...");
  // "é" is two bytes: the cut never splits it.
  const std::string cut = CleanField("abcdef\xc3\xa9\xc3\xa9\xc3\xa9", 10);
  EXPECT_LE(cut.size(), 10u);
  EXPECT_TRUE(cut.ends_with("..."));
  EXPECT_EQ(CleanField(cut, 100), cut);  // valid UTF-8
  EXPECT_EQ(CleanField("", 10), "");
}

TEST(AuditRecordTest, TimesAreRfc3339UtcWithMilliseconds) {
  using namespace std::chrono;
  const system_clock::time_point t =
      sys_days{year{2026} / 3 / 1} + hours(7) + minutes(5) + seconds(9) + milliseconds(42);
  EXPECT_EQ(FormatTime(t), "2026-03-01T07:05:09.042Z");
  EXPECT_EQ(*NormalizeTime("2026-03-01"), "2026-03-01T00:00:00.000Z");
  EXPECT_EQ(*NormalizeTime("2026-03-01T07:05:09Z"), "2026-03-01T07:05:09.000Z");
  EXPECT_EQ(*NormalizeTime("2026-03-01T07:05:09.5Z"), "2026-03-01T07:05:09.500Z");
  EXPECT_EQ(*NormalizeTime("2026-03-01T07:05:09.123456Z"), "2026-03-01T07:05:09.123Z");
  for (const char* bad : {"", "2026", "2026-13-01", "2026-03-01T25:00:00Z", "2026-03-01T07:05:09",
                          "2026-03-01T07:05:09+01:00", "2026-03-01T07:05:09.Z", "yesterday",
                          "2026-03-01 07:05:09Z"}) {
    EXPECT_FALSE(NormalizeTime(bad)) << bad;
  }
}

}  // namespace
}  // namespace fogkeep::audit
