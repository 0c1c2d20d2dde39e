#include "core/yaml.h"

#include <gtest/gtest.h>

namespace fogkeep::yaml {
namespace {

TEST(YamlTest, ParsesMapsSequencesScalars) {
  auto doc = Parse("a: 1\nb: [x, y]\nc:\n  d: true\n");
  ASSERT_TRUE(doc) << doc.error().message();
  ASSERT_TRUE(doc->IsMap());
  EXPECT_EQ(doc->Find("a")->scalar(), "1");
  ASSERT_TRUE(doc->Find("b")->IsSequence());
  EXPECT_EQ(doc->Find("b")->items()[1].scalar(), "y");
  EXPECT_EQ(doc->Find("c")->Find("d")->scalar(), "true");
  EXPECT_EQ(doc->Find("c")->line(), 4);
  EXPECT_EQ(doc->Find("zzz"), nullptr);
}

TEST(YamlTest, RefusesMalformedAndDuplicateKeys) {
  auto bad = Parse("a: [1, 2\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(bad.error().message().find("line"), std::string::npos);
  auto dup = Parse("a: 1\na: 2\n");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("duplicate key 'a'"), std::string::npos);
}

TEST(YamlTest, AliasBombIsRefusedByNodeBudget) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = c;
  }
  auto r = Parse(bomb);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
}

TEST(YamlTest, DepthAndSizeLimits) {
  std::string deep = std::string(200, '[') + std::string(200, ']');
  auto r = Parse(deep);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  EXPECT_EQ(Parse(std::string(2 << 20, ' ')).error().code(), ErrorCode::kLimit);
}

}  // namespace
}  // namespace fogkeep::yaml
