// The desired state's OAuth trust on the wire (api/director.h): the key set travels as a JSON
// object and comes back as the same document; a key set that is not an object is refused.
#include "api/director.h"

#include <gtest/gtest.h>

#include "api/node.h"

namespace fogkeep::api {
namespace {

TEST(DesiredStateTest, OAuthTrustRoundTrips) {
  DesiredState state{.device_id = "press-7", .generation = 3, .tags = {"plant-a"}};
  state.oauth = OAuthTrust{"https://director.test:9443", R"({"keys":[]})"};
  const std::string text = ToJsonText(state);
  EXPECT_NE(text.find(R"("jwks":{"keys":[]})"), std::string::npos) << text;
  auto back = FromJsonText<DesiredState>(text);
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_TRUE(back->oauth);
  EXPECT_EQ(back->oauth->issuer, "https://director.test:9443");
  EXPECT_EQ(back->oauth->jwks, R"({"keys":[]})");

  auto without = FromJsonText<DesiredState>(R"({"device_id":"a","generation":1})");
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->oauth);
}

TEST(DesiredStateTest, AKeySetThatIsNotAnObjectIsRefused) {
  for (std::string_view bad :
       {R"({"device_id":"a","oauth":{"issuer":"https://d","jwks":"{}"}})",
        R"({"device_id":"a","oauth":{"issuer":"https://d"}})",
        R"({"device_id":"a","oauth":{"issuer":7,"jwks":{}}})", R"({"device_id":"a","oauth":[]})"}) {
    auto refused = FromJsonText<DesiredState>(bad);
    EXPECT_FALSE(refused) << bad;
    if (!refused) {
      EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidInput);
    }
  }
}

}  // namespace
}  // namespace fogkeep::api
