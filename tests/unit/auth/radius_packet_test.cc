#include "auth/radius_packet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"
#include "radius_test_util.h"

namespace fogkeep::auth::radius {
namespace {

using test::BuildResponse;
using test::FromHex;
using test::MessageAuthenticator;
using test::Must;
using test::ResponseSpec;
using ::testing::HasSubstr;

constexpr std::uint8_t kId = 0x2a;
const std::string kSecret = "s3cret-shared-with-the-server";
const std::string kRequestAuth = FromHex("00112233445566778899aabbccddeeff");

// RFC 2865 §7.1: the example Access-Request and Access-Accept of user "nemo".
const std::string kRfcSecret = "xyzzy5461";
const std::string kRfcRequestAuth = FromHex("0f403f9473978057bd83d5cb98f4227a");
const std::string kRfcAccept = FromHex(
    "0200002686fe220e7624ba2a1005f6bf9b55e0b2"
    "060600000001"
    "0f0600000000"
    "0e06c0a80103");

Result<Response> Parse(const std::string& datagram) {
  return ParseResponse(datagram, kId, kRequestAuth, kSecret);
}

std::string Build(const ResponseSpec& spec) {
  return BuildResponse(spec, kId, kRequestAuth, kSecret);
}

// Rewrites the Length field and re-signs both authenticators, so that only the structural
// defect under test remains.
std::string Resign(std::string packet, bool with_length = true) {
  if (with_length) {
    packet[2] = static_cast<char>(packet.size() >> 8);
    packet[3] = static_cast<char>(packet.size() & 0xff);
  }
  packet.replace(4, 16, kRequestAuth);
  packet.replace(4, 16, Must(ComputeResponseAuthenticator(packet, kRequestAuth, kSecret)));
  return packet;
}

void ExpectError(const Result<Response>& result, ErrorCode code, std::string_view text) {
  ASSERT_FALSE(result) << "parsed a response that should have been refused";
  EXPECT_EQ(result.error().code(), code) << result.error().message();
  EXPECT_THAT(result.error().message(), HasSubstr(std::string(text)));
}

TEST(RadiusPasswordTest, Rfc2865Example) {
  EXPECT_EQ(crypto::ToHex(Must(HidePassword("arctangent", kRfcSecret, kRfcRequestAuth))),
            "0dbe708d93d413ce3196e43f782a0aee");
}

TEST(RadiusPasswordTest, LongPasswordsChainBlocks) {
  for (std::size_t size : {1u, 15u, 16u, 17u, 31u, 32u, 33u, 127u, 128u}) {
    std::string password(size, 'p');
    for (std::size_t i = 0; i < size; ++i) password[i] = static_cast<char>('a' + i % 26);
    std::string hidden = Must(HidePassword(password, kSecret, kRequestAuth));
    EXPECT_EQ(hidden.size(), (size + 15) / 16 * 16) << size;
    EXPECT_EQ(test::RevealPassword(hidden, kSecret, kRequestAuth), password) << size;
  }
  // Equal blocks of plain text hide differently: each block is keyed by the one before.
  std::string hidden = Must(HidePassword(std::string(32, 'x'), kSecret, kRequestAuth));
  EXPECT_NE(hidden.substr(0, 16), hidden.substr(16, 16));
}

TEST(RadiusResponseAuthenticatorTest, Rfc2865Example) {
  EXPECT_EQ(
      crypto::ToHex(Must(ComputeResponseAuthenticator(kRfcAccept, kRfcRequestAuth, kRfcSecret))),
      "86fe220e7624ba2a1005f6bf9b55e0b2");
  // The RFC's Access-Accept predates RFC 3579: its Response Authenticator verifies, and it is
  // still refused for want of a Message-Authenticator.
  ExpectError(ParseResponse(kRfcAccept, 0, kRfcRequestAuth, kRfcSecret), ErrorCode::kIntegrity,
              "no Message-Authenticator");
}

AccessRequest SampleRequest() {
  AccessRequest request;
  request.identifier = kId;
  request.authenticator = kRequestAuth;
  request.user_name = "alice";
  request.password = "correct horse battery staple";
  request.nas_identifier = "fog-node-7";
  return request;
}

TEST(RadiusAccessRequestTest, LayoutAndSignatures) {
  std::string packet = Must(EncodeAccessRequest(SampleRequest(), kSecret));
  ASSERT_GE(packet.size(), kHeaderSize);
  EXPECT_EQ(packet[0], 1);
  EXPECT_EQ(static_cast<std::uint8_t>(packet[1]), kId);
  EXPECT_EQ(static_cast<std::size_t>(static_cast<std::uint8_t>(packet[2]) << 8 |
                                     static_cast<std::uint8_t>(packet[3])),
            packet.size());
  EXPECT_EQ(packet.substr(4, 16), kRequestAuth);
  // Message-Authenticator first, then User-Name, User-Password, NAS-Identifier.
  auto attributes = Must(SplitAttributes(packet));
  ASSERT_EQ(attributes.size(), 4u);
  EXPECT_EQ(attributes[0].type, kMessageAuthenticator);
  EXPECT_EQ(attributes[0].offset, kHeaderSize);
  EXPECT_EQ(attributes[1].type, kUserName);
  EXPECT_EQ(attributes[2].type, kUserPassword);
  EXPECT_EQ(attributes[2].value.size(), 32u);
  EXPECT_EQ(attributes[3].type, kNasIdentifier);

  auto seen = test::DecodeRequest(packet, kSecret);
  EXPECT_TRUE(seen.message_authenticator_first);
  EXPECT_TRUE(seen.message_authenticator_valid);
  EXPECT_EQ(seen.user_name, "alice");
  EXPECT_EQ(seen.password, "correct horse battery staple");
  EXPECT_EQ(seen.nas_identifier, "fog-node-7");
  // With another secret neither the HMAC nor the password comes out right.
  auto wrong = test::DecodeRequest(packet, "another secret");
  EXPECT_FALSE(wrong.message_authenticator_valid);
  EXPECT_NE(wrong.password, "correct horse battery staple");
}

TEST(RadiusAccessRequestTest, RefusesWhatRadiusCannotCarry) {
  auto expect_invalid = [](AccessRequest request, std::string_view secret, std::string_view text) {
    auto packet = EncodeAccessRequest(request, secret);
    ASSERT_FALSE(packet);
    EXPECT_EQ(packet.error().code(), ErrorCode::kInvalidInput);
    EXPECT_THAT(packet.error().message(), HasSubstr(std::string(text)));
  };
  AccessRequest request = SampleRequest();
  request.user_name = "";
  expect_invalid(request, kSecret, "user name");
  request.user_name = std::string(254, 'u');
  expect_invalid(request, kSecret, "user name");
  request.user_name = std::string("ali\0ce", 6);
  expect_invalid(request, kSecret, "NUL");
  request = SampleRequest();
  request.password = "";
  expect_invalid(request, kSecret, "password");
  request.password = std::string(129, 'p');
  expect_invalid(request, kSecret, "password");
  request.password = std::string("pass\0word", 9);
  expect_invalid(request, kSecret, "NUL");
  request = SampleRequest();
  request.nas_identifier = "";
  expect_invalid(request, kSecret, "NAS-Identifier");
  request = SampleRequest();
  request.authenticator = "short";
  expect_invalid(request, kSecret, "16 bytes");
  expect_invalid(SampleRequest(), "", "secret");

  // The limits themselves are fine.
  request = SampleRequest();
  request.user_name = std::string(253, 'u');
  request.password = std::string(128, 'p');
  request.nas_identifier = std::string(253, 'n');
  auto packet = EncodeAccessRequest(request, kSecret);
  ASSERT_TRUE(packet) << packet.error().message();
  EXPECT_EQ(test::DecodeRequest(*packet, kSecret).password, request.password);
}

TEST(RadiusResponseTest, AcceptWithAttributes) {
  ResponseSpec spec;
  spec.attributes = {{kClass, "fogkeep-admin"},
                     {kReplyMessage, "welcome"},
                     {kFilterId, "ops"},
                     {kClass, "second"},
                     {kReplyMessage, "second line"},
                     {99, "unknown attributes are skipped"}};
  for (auto position : {MessageAuthenticator::kFirst, MessageAuthenticator::kLast}) {
    spec.message_authenticator = position;
    auto response = Parse(Build(spec));
    ASSERT_TRUE(response) << response.error().message();
    EXPECT_EQ(response->code, Code::kAccessAccept);
    EXPECT_EQ(response->identifier, kId);
    EXPECT_THAT(response->classes, ::testing::ElementsAre("fogkeep-admin", "second"));
    EXPECT_THAT(response->filter_ids, ::testing::ElementsAre("ops"));
    EXPECT_EQ(response->reply_message, "welcome\nsecond line");
  }
}

TEST(RadiusResponseTest, RejectAndChallenge) {
  ResponseSpec spec;
  spec.code = Code::kAccessReject;
  auto reject = Parse(Build(spec));
  ASSERT_TRUE(reject) << reject.error().message();
  EXPECT_EQ(reject->code, Code::kAccessReject);

  spec.code = Code::kAccessChallenge;
  spec.attributes = {{kState, "state-123"}, {kReplyMessage, "enter the code"}};
  auto challenge = Parse(Build(spec));
  ASSERT_TRUE(challenge) << challenge.error().message();
  EXPECT_EQ(challenge->code, Code::kAccessChallenge);
  EXPECT_EQ(challenge->state, "state-123");
}

TEST(RadiusResponseTest, BytesAfterLengthArePadding) {
  auto response = Parse(Build(ResponseSpec{}) + std::string(7, '\xee'));
  ASSERT_TRUE(response) << response.error().message();
  EXPECT_EQ(response->code, Code::kAccessAccept);
}

TEST(RadiusResponseTest, RefusesShortAndLongDatagrams) {
  ExpectError(Parse(""), ErrorCode::kInvalidInput, "shorter than a RADIUS header");
  ExpectError(Parse(Build(ResponseSpec{}).substr(0, 19)), ErrorCode::kInvalidInput,
              "shorter than a RADIUS header");
  ExpectError(Parse(Build(ResponseSpec{}) + std::string(4096, '\0')), ErrorCode::kInvalidInput,
              "exceeds the RADIUS maximum");
}

TEST(RadiusResponseTest, RefusesLengthFieldThatLies) {
  std::string packet = Build(ResponseSpec{});
  std::string longer = packet;
  longer[3] = static_cast<char>(longer[3] + 1);  // one byte more than arrived
  ExpectError(Parse(longer), ErrorCode::kInvalidInput, "Length field says");
  std::string tiny = packet;
  tiny[2] = 0;
  tiny[3] = 19;
  ExpectError(Parse(tiny), ErrorCode::kInvalidInput, "Length field says 19");
  // A Length that cuts the packet inside an attribute leaves a truncated attribute, even
  // with authenticators computed over the cut packet.
  std::string cut = Build(ResponseSpec{.attributes = {{kClass, "fogkeep-admin"}}});
  std::string resigned = Resign(cut.substr(0, 25)) + cut.substr(25);
  ExpectError(Parse(resigned), ErrorCode::kInvalidInput, "runs past the packet");
}

TEST(RadiusResponseTest, RefusesOtherCodes) {
  for (std::uint8_t code : {1, 4, 5, 12, 0, 255}) {
    std::string packet = Build(ResponseSpec{});
    packet[0] = static_cast<char>(code);
    ExpectError(Parse(Resign(packet)), ErrorCode::kInvalidInput, "does not answer");
  }
}

TEST(RadiusResponseTest, RefusesAnotherIdentifier) {
  ExpectError(Parse(Build(ResponseSpec{.identifier_delta = 1})), ErrorCode::kInvalidInput,
              "identifier 43 does not match the request's 42");
}

TEST(RadiusResponseTest, RefusesMalformedAttributes) {
  std::string base = Build(ResponseSpec{.message_authenticator = MessageAuthenticator::kNone});
  // Attribute length 0, 1 and 2 (a value must have at least one byte).
  for (char length : {0, 1, 2}) {
    std::string packet = base + std::string{static_cast<char>(kClass), length, 'x', 'y'};
    ExpectError(Parse(Resign(packet)), ErrorCode::kInvalidInput,
                "has length " + std::to_string(length));
  }
  // Length past the end of the packet.
  ExpectError(Parse(Resign(base + std::string{static_cast<char>(kClass), 10, 'x', 'y'})),
              ErrorCode::kInvalidInput, "runs past the packet");
  // One stray byte where an attribute header should be.
  ExpectError(Parse(Resign(base + std::string(1, static_cast<char>(kClass)))),
              ErrorCode::kInvalidInput, "truncated attribute header");
  // A Message-Authenticator of the wrong size, or two of them.
  ExpectError(Parse(Resign(base + std::string{static_cast<char>(kMessageAuthenticator), 19} +
                           std::string(17, 'm'))),
              ErrorCode::kInvalidInput, "17 bytes instead of 16");
  ExpectError(Parse(Build(ResponseSpec{.message_authenticator = MessageAuthenticator::kTwo})),
              ErrorCode::kInvalidInput, "more than one Message-Authenticator");
}

TEST(RadiusResponseTest, RefusesForgedResponseAuthenticator) {
  ExpectError(Parse(Build(ResponseSpec{.forge_response_authenticator = true})),
              ErrorCode::kIntegrity, "Response Authenticator does not verify");
  // Flipping a bit anywhere after the identifier breaks the packet: its structure (when a
  // length octet changed) or else a signature.
  std::string packet = Build(ResponseSpec{.attributes = {{kClass, "fogkeep-admin"}}});
  for (std::size_t i = 4; i < packet.size(); ++i) {
    std::string flipped = packet;
    flipped[i] ^= 0x04;
    EXPECT_FALSE(Parse(flipped)) << "flipped byte " << i;
  }
}

TEST(RadiusResponseTest, RequiresMessageAuthenticator) {
  // Blast-RADIUS: a response whose Response Authenticator verifies is not enough.
  ExpectError(Parse(Build(ResponseSpec{.attributes = {{kClass, "fogkeep-admin"}},
                                       .message_authenticator = MessageAuthenticator::kNone})),
              ErrorCode::kIntegrity, "no Message-Authenticator");
  ExpectError(Parse(Build(ResponseSpec{.code = Code::kAccessReject,
                                       .message_authenticator = MessageAuthenticator::kNone})),
              ErrorCode::kIntegrity, "CVE-2024-3596");
}

TEST(RadiusResponseTest, RefusesForgedMessageAuthenticator) {
  // The Response Authenticator is computed over the forged value, so it verifies: only the
  // HMAC catches the forgery.
  ExpectError(Parse(Build(ResponseSpec{.message_authenticator = MessageAuthenticator::kForged})),
              ErrorCode::kIntegrity, "Message-Authenticator does not verify");
}

TEST(RadiusResponseTest, RefusesAnotherSecretOrRequest) {
  std::string packet = Build(ResponseSpec{});
  ExpectError(ParseResponse(packet, kId, kRequestAuth, "other secret"), ErrorCode::kIntegrity,
              "does not verify");
  ExpectError(ParseResponse(packet, kId, FromHex("ffeeddccbbaa99887766554433221100"), kSecret),
              ErrorCode::kIntegrity, "does not verify");
  ExpectError(ParseResponse(packet, kId, "short", kSecret), ErrorCode::kInvalidInput, "16 bytes");
}

TEST(RadiusSplitAttributesTest, HeaderOnlyHasNone) {
  auto attributes = SplitAttributes(std::string(20, '\0'));
  ASSERT_TRUE(attributes);
  EXPECT_TRUE(attributes->empty());
}

}  // namespace
}  // namespace fogkeep::auth::radius
