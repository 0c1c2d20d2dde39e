#include "node/runtime/flat_json.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace fogkeep::node::runtime {
namespace {

TEST(FlatJsonTest, ReadsRuncState) {
  auto obj = FlatJsonObject::Parse(R"({
    "ociVersion": "1.0.2-dev", "id": "app", "pid": 4242, "status": "running",
    "bundle": "/var/lib/fogkeep/bundles/app", "rootfs": "/r", "created": "2024-01-01T00:00:00Z",
    "owner": "", "annotations": {"org.fogkeep.app-id": "app", "nested": [1, {"a": null}]}
  })");
  ASSERT_TRUE(obj) << obj.error().message();
  EXPECT_EQ(obj->String("status"), "running");
  EXPECT_EQ(obj->Int("pid"), 4242);
  EXPECT_EQ(obj->String("owner"), "");
  EXPECT_TRUE(obj->Contains("annotations"));
  EXPECT_EQ(obj->String("annotations"), std::nullopt) << "nested values are only noted";
  EXPECT_EQ(obj->Int("status"), std::nullopt) << "wrong type";
  EXPECT_EQ(obj->String("missing"), std::nullopt);
}

TEST(FlatJsonTest, UnescapesStrings) {
  auto obj = FlatJsonObject::Parse(R"({"msg":"exec: \"/app\": no\tfile\n\u00e9\ud83d\ude00\/"})");
  ASSERT_TRUE(obj) << obj.error().message();
  EXPECT_EQ(obj->String("msg"), "exec: \"/app\": no\tfile\n\xC3\xA9\xF0\x9F\x98\x80/");
}

TEST(FlatJsonTest, NumbersAndLiterals) {
  auto obj = FlatJsonObject::Parse(R"({"a":-12,"b":1.5,"c":1e3,"d":true,"e":false,"f":null,"g":0,
                                       "h":99999999999999999999})");
  ASSERT_TRUE(obj) << obj.error().message();
  EXPECT_EQ(obj->Int("a"), -12);
  EXPECT_EQ(obj->Int("b"), std::nullopt);
  EXPECT_EQ(obj->Int("c"), std::nullopt);
  EXPECT_EQ(obj->Bool("d"), true);
  EXPECT_EQ(obj->Bool("e"), false);
  EXPECT_TRUE(obj->Contains("f"));
  EXPECT_EQ(obj->Int("g"), 0);
  EXPECT_EQ(obj->Int("h"), std::nullopt) << "beyond int64";
}

TEST(FlatJsonTest, RefusesMalformedInput) {
  for (const char* bad : {"",
                          "[]",
                          "\"s\"",
                          "{",
                          "{\"a\"}",
                          "{\"a\":}",
                          "{\"a\":1,}",
                          "{\"a\":1} x",
                          "{a:1}",
                          "{\"a\":01}",
                          "{\"a\":-}",
                          "{\"a\":1.}",
                          "{\"a\":\"\\x\"}",
                          "{\"a\":\"\\ud800\"}",
                          "{\"a\":\"\\udc00\"}",
                          "{\"a\":\"unterminated}",
                          "{\"a\":\"ctl\x01\"}",
                          "{\"a\":tru}",
                          "{\"a\":[1,2}",
                          "{\"a\":{\"b\"}}",
                          "{\"a\":1,\"a\":2}"}) {
    EXPECT_FALSE(FlatJsonObject::Parse(bad)) << bad;
  }
}

TEST(FlatJsonTest, RefusesDeepNesting) {
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_FALSE(FlatJsonObject::Parse(deep));
  std::string ok = "{\"a\":" + std::string(30, '[') + std::string(30, ']') + "}";
  EXPECT_TRUE(FlatJsonObject::Parse(ok));
}

TEST(FlatJsonTest, SerializesWhatAJsonLibraryReadsBack) {
  FlatJsonObject obj;
  obj.SetInt("pid", 1234);
  obj.SetInt("exit_code", -1);
  obj.SetBool("oom_killed", true);
  obj.SetString("error", std::string("quote \" backslash \\ newline \n nul \0 bell \a", 41));
  obj.SetString("pid", "replaced");
  std::string text = obj.Serialize();
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  const auto& o = v.as_object();
  EXPECT_EQ(o.size(), 4u);
  EXPECT_EQ(o.at("pid").as_string(), "replaced");
  EXPECT_EQ(o.at("exit_code").as_int64(), -1);
  EXPECT_EQ(o.at("oom_killed").as_bool(), true);
  EXPECT_EQ(std::string(o.at("error").as_string()),
            std::string("quote \" backslash \\ newline \n nul \0 bell \a", 41));
  // And our own reader agrees.
  auto back = FlatJsonObject::Parse(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->String("error"),
            std::string("quote \" backslash \\ newline \n nul \0 bell \a", 41));
}

}  // namespace
}  // namespace fogkeep::node::runtime
