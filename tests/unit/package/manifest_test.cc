#include "package/manifest.h"

#include <cstdio>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/support.h"

namespace fogkeep::package {
namespace {

using ::testing::HasSubstr;

const std::string kHexA(64, 'a');
const std::string kHexB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kSha1 = "7527ecc8a66bd57cb72dc391a224efa7629cdf6c";

std::string Line(std::string_view name, std::string_view hex = kHexA) {
  return "SHA256(" + std::string(name) + ")= " + std::string(hex) + "\n";
}

// A member of a fixture package, read with the system tar (the real IOx packages).
std::string TarMember(const std::string& archive, const std::string& member) {
  std::string command = "tar -xOf '" + archive + "' '" + member + "' 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  return ::pclose(pipe) == 0 ? out : std::string();
}

std::string ParseError(std::string_view text) {
  auto m = Manifest::Parse(text);
  return m ? "(parsed)" : m.error().message();
}

TEST(ManifestTest, RealIoxManifestsParseAsLegacy) {
  for (const char* fixture :
       {"iox/nt02-c_simple_ir800-lxc.tar", "iox/python_restsense_1.0.0.tar.gz"}) {
    SCOPED_TRACE(fixture);
    std::string text = TarMember(testing::SharedFixture(fixture), "package.mf");
    ASSERT_FALSE(text.empty());
    auto m = Manifest::Parse(text);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_TRUE(m->legacy());
    ASSERT_NE(m->Find("package.yaml"), nullptr);
    EXPECT_EQ(m->Find("package.yaml")->digest, ManifestDigest::kSha1);
    ASSERT_NE(m->Find("artifacts.tar.gz"), nullptr);
    EXPECT_EQ(m->Find("artifacts.tar.gz")->hex.size(), 40u);
    EXPECT_EQ(m->Serialize(), text);
  }
  auto nt02 = Manifest::Parse(
      TarMember(testing::SharedFixture("iox/nt02-c_simple_ir800-lxc.tar"), "package.mf"));
  ASSERT_TRUE(nt02);
  EXPECT_EQ(nt02->Find("artifacts.tar.gz")->hex, kSha1);
}

TEST(ManifestTest, Sha256RoundTrip) {
  std::string text =
      Line("artifacts.tar.gz", kHexB) + Line("package.yaml") + Line("package_config.ini");
  auto m = Manifest::Parse(text);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_FALSE(m->legacy());
  ASSERT_EQ(m->entries().size(), 3u);
  EXPECT_EQ(m->entries()[0].name, "artifacts.tar.gz");
  EXPECT_EQ(m->entries()[0].hex, kHexB);
  EXPECT_EQ(m->entries()[0].digest, ManifestDigest::kSha256);
  EXPECT_EQ(m->Serialize(), text);
  EXPECT_EQ(m->Find("package.yaml"), &m->entries()[1]);
  EXPECT_EQ(m->Find("missing"), nullptr);
  EXPECT_EQ(m->Find(""), nullptr);
}

TEST(ManifestTest, EmptyManifestIsEmpty) {
  auto m = Manifest::Parse("");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->entries().empty());
  EXPECT_FALSE(m->legacy());
  EXPECT_EQ(m->Serialize(), "");
}

TEST(ManifestTest, NamesMayHoldParenthesesAndDots) {
  std::string text = Line("a(1).tar") + Line("b)= c");  // the second has a space: refused
  EXPECT_THAT(ParseError(text), HasSubstr("line 2"));
  auto m = Manifest::Parse(Line("a(1).tar") + Line("a.b.c") + Line("x)=y"));
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->entries()[2].name, "x)=y");
  EXPECT_EQ(m->Serialize(), Line("a(1).tar") + Line("a.b.c") + Line("x)=y"));
}

TEST(ManifestTest, LegacySha1MayOmitFinalNewlineAndNeedNotBeSorted) {
  std::string text = "SHA1(package.yaml)= " + kSha1 + "\nSHA1(artifacts.tar.gz)= " + kSha1;
  auto m = Manifest::Parse(text);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_TRUE(m->legacy());
  EXPECT_EQ(m->entries()[0].name, "package.yaml");  // file order kept
  EXPECT_EQ(m->Serialize(), text + "\n");
  EXPECT_THAT(ParseError("SHA1(a)= " + kSha1 + "\nSHA1(a)= " + kSha1 + "\n"),
              HasSubstr("line 2: 'a' is listed twice"));
}

TEST(ManifestTest, Rejections) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::string upper(64, 'A');
  const std::vector<Case> cases = {
      {Line("a", upper), "line 1: 'a': digest must be 64 lowercase hex digits"},
      {Line("a", std::string(63, 'a')), "64 lowercase hex digits"},
      {Line("a", std::string(65, 'a')), "64 lowercase hex digits"},
      {Line("a", std::string(63, 'a') + "g"), "64 lowercase hex digits"},
      {Line("a", kSha1), "64 lowercase hex digits"},
      {"SHA256(a)=" + kHexA + "\n", "expected ')= '"},
      {"SHA256(a) " + kHexA + "\n", "expected ')= '"},
      {"SHA256(a) = " + kHexA + "\n", "expected ')= '"},
      {"SHA256(a)=  " + kHexA + "\n", "extra space"},
      {"SHA256(a)= " + kHexA + " \n", "extra space"},
      {" SHA256(a)= " + kHexA + "\n", "expected 'SHA256(<name>)= <64 lowercase hex>'"},
      {"SHA256(a)= " + kHexA + "\r\n", "CRLF"},
      {"SHA256(a)= " + kHexA, "line 1: missing final newline"},
      {"sha256(a)= " + kHexA + "\n", "expected 'SHA256("},
      {"MD5(a)= " + kHexA + "\n", "expected 'SHA256("},
      {"SHA512(a)= " + kHexA + "\n", "expected 'SHA256("},
      {"SHA256()= " + kHexA + "\n", "empty member name"},
      {"SHA256(= " + kHexA + "\n", "expected ')= '"},
      {Line("dir/a"), "contains '/'"},
      {Line("/a"), "contains '/'"},
      {Line(".."), "is not a file"},
      {Line("."), "is not a file"},
      {Line(std::string("a\0b", 3)), "control"},
      {Line("a\tb"), "control"},
      {Line("a\x7f"), "control"},
      {Line("a/\x1b[2J"), "control"},  // never echoed to a terminal
      {Line("caf\xc3\xa9"), "non-ASCII"},
      {Line("a b"), "space"},
      {Line(std::string(256, 'n')), "longer than 255"},
      {Line("package.mf"), "'package.mf' is never listed"},
      {Line("package.cert"), "never listed"},
      {Line("package.sig"), "never listed"},
      {Line("a") + Line("a"), "line 2: 'a' is listed twice"},
      {Line("b") + Line("a"), "line 2: 'a' is out of order"},
      {Line("a") + Line("B"), "out of order"},  // bytewise: 'B' < 'a'
      {Line("a") + "\n", "line 2: empty line"},
      {"\n" + Line("a"), "line 1: empty line"},
      {Line("a") + "SHA1(b)= " + kSha1 + "\n", "line 2: mixes SHA1 and SHA256"},
      {"SHA1(a)= " + kSha1 + "\n" + Line("b"), "line 2: mixes SHA1 and SHA256"},
      {"SHA1(a)= " + std::string(40, 'A') + "\n", "40 lowercase hex digits"},
      {"SHA1(a)= " + kHexA + "\n", "40 lowercase hex digits"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto m = Manifest::Parse(c.text);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kInvalidInput);
    EXPECT_THAT(m.error().message(), HasSubstr(c.error));
  }
}

TEST(ManifestTest, SizeAndLineLimits) {
  std::string big(Manifest::kMaxBytes + 1, 'x');
  auto too_big = Manifest::Parse(big);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), ErrorCode::kLimit);

  // 1001 short lines fit in 64 KiB, so the line limit is what stops them.
  std::string many;
  for (int i = 0; i < 1001; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "%04d", i);
    many += "SHA1(" + std::string(name) + ")= " + kSha1 + "\n";
  }
  ASSERT_LE(many.size(), Manifest::kMaxBytes);
  auto too_many = Manifest::Parse(many);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code(), ErrorCode::kLimit);
  EXPECT_THAT(too_many.error().message(), HasSubstr("more than 1000 lines"));

  // Exactly 1000 is fine.
  many.resize(many.size() - ("SHA1(1000)= " + kSha1 + "\n").size());
  EXPECT_TRUE(Manifest::Parse(many));
}

TEST(ManifestTest, FromEntriesSortsAndSerializes) {
  auto m = Manifest::FromEntries({
      {"package.yaml", ManifestDigest::kSha256, kHexA},
      {"artifacts.tar.gz", ManifestDigest::kSha256, kHexB},
      {"package_config.ini", ManifestDigest::kSha256, kHexA},
  });
  ASSERT_TRUE(m) << m.error().message();
  std::string expected =
      Line("artifacts.tar.gz", kHexB) + Line("package.yaml") + Line("package_config.ini");
  EXPECT_EQ(m->Serialize(), expected);
  auto again = Manifest::Parse(m->Serialize());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Serialize(), expected);
  EXPECT_FALSE(m->legacy());
}

TEST(ManifestTest, FromEntriesRefusesWhatParseWouldRefuse) {
  using Entries = std::vector<ManifestEntry>;
  const std::vector<std::pair<Entries, std::string>> cases = {
      {{{"a", ManifestDigest::kSha256, kHexA}, {"a", ManifestDigest::kSha256, kHexB}},
       "'a' is listed twice"},
      {{{"a", ManifestDigest::kSha1, kSha1}}, "SHA-256 digests only"},
      {{{"a", ManifestDigest::kSha256, std::string(64, 'A')}}, "64 lowercase hex digits"},
      {{{"a", ManifestDigest::kSha256, "abc"}}, "64 lowercase hex digits"},
      {{{"package.sig", ManifestDigest::kSha256, kHexA}}, "never listed"},
      {{{"a/b", ManifestDigest::kSha256, kHexA}}, "contains '/'"},
      {{{"", ManifestDigest::kSha256, kHexA}}, "empty member name"},
      {{{"a\nb", ManifestDigest::kSha256, kHexA}}, "control"},
  };
  for (const auto& [entries, error] : cases) {
    SCOPED_TRACE(error);
    auto m = Manifest::FromEntries(entries);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kInvalidInput);
    EXPECT_THAT(m.error().message(), HasSubstr(error));
  }
  std::vector<ManifestEntry> many;
  for (int i = 0; i < 1001; ++i) {
    many.push_back({"m" + std::to_string(i), ManifestDigest::kSha256, kHexA});
  }
  EXPECT_EQ(Manifest::FromEntries(many).error().code(), ErrorCode::kLimit);
  // 1000 entries with long names pass the count but not the byte limit.
  many.resize(1000);
  for (auto& entry : many) entry.name += std::string(100, 'x');
  EXPECT_EQ(Manifest::FromEntries(many).error().code(), ErrorCode::kLimit);
}

TEST(ManifestTest, FromEntriesOfNothing) {
  auto m = Manifest::FromEntries({});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Serialize(), "");
}

}  // namespace
}  // namespace fogkeep::package
