// RADIUS responses arrive from the network and are parsed before anything about them is
// trusted. Each input is parsed twice as the answer to a fixed request (identifier 42,
// Request Authenticator 00 01 .. 0f, secret "fuzz-secret", which also sign the seeds):
// once as it is, and once after this target has set the identifier and signed it (every
// 16-byte Message-Authenticator and the Response Authenticator), so that the fuzzer reaches
// the attribute handling behind the signature checks. Invariants beyond "no crash":
// - what parses is an Access-Accept, -Reject or -Challenge with the request's identifier, and
//   its values are non-empty, at most 253 bytes, and found in the input;
// - a signed input whose attributes are well formed, with one Message-Authenticator, parses;
// - changing one bit of its Message-Authenticator makes it fail with kIntegrity.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/radius_packet.h"
#include "crypto/hash.h"

namespace {

using namespace fogkeep;
using namespace fogkeep::auth::radius;

constexpr std::uint8_t kIdentifier = 42;
constexpr std::string_view kSecret = "fuzz-secret";
const std::string kRequestAuthenticator = [] {
  std::string a;
  for (int i = 0; i < 16; ++i) a.push_back(static_cast<char>(i));
  return a;
}();

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_radius_response: %s\n", what);
  std::abort();
}

template <typename T>
T Must(Result<T> result, const char* what) {
  if (!result) {
    std::fprintf(stderr, "%s: %s\n", what, result.error().message().c_str());
    Die("an operation on a well-formed packet failed");
  }
  return std::move(result).value();
}

void CheckValue(std::string_view value, std::string_view input) {
  if (value.empty() || value.size() > kMaxAttributeValue) Die("attribute value out of range");
  if (input.find(value) == std::string_view::npos) Die("attribute value not from the input");
}

void CheckParsed(const Response& response, std::string_view input) {
  if (response.code != Code::kAccessAccept && response.code != Code::kAccessReject &&
      response.code != Code::kAccessChallenge) {
    Die("parsed a code that does not answer an Access-Request");
  }
  if (response.identifier != kIdentifier) Die("parsed another identifier");
  for (const auto& value : response.classes) CheckValue(value, input);
  for (const auto& value : response.filter_ids) CheckValue(value, input);
  if (!response.state.empty()) CheckValue(response.state, input);
  if (response.reply_message.size() > input.size()) Die("Reply-Message longer than the input");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto raw = ParseResponse(input, kIdentifier, kRequestAuthenticator, kSecret);
  if (raw) CheckParsed(*raw, input);

  // Sign the packet the way a server holding the secret would, within its own Length field.
  if (size < kHeaderSize || size > kMaxPacketSize) return 0;
  std::string packet(input);
  packet[1] = static_cast<char>(kIdentifier);
  std::size_t length =
      static_cast<std::uint8_t>(packet[2]) << 8 | static_cast<std::uint8_t>(packet[3]);
  if (length < kHeaderSize || length > packet.size()) return 0;
  std::string_view body = std::string_view(packet).substr(0, length);
  auto attributes = SplitAttributes(body);
  int message_authenticators = 0;
  std::size_t mac_offset = 0;
  if (attributes) {
    for (const Attribute& attribute : *attributes) {
      if (attribute.type != kMessageAuthenticator || attribute.value.size() != 16) continue;
      ++message_authenticators;
      mac_offset = attribute.offset + 2;
    }
  }
  packet.replace(4, 16, kRequestAuthenticator);
  if (message_authenticators == 1) {
    packet.replace(mac_offset, 16, 16, '\0');
    std::string mac = Must(crypto::HmacMd5(kSecret, packet.substr(0, length)), "HMAC-MD5");
    packet.replace(mac_offset, 16, mac);
  }
  std::string response_authenticator =
      Must(ComputeResponseAuthenticator(packet.substr(0, length), kRequestAuthenticator, kSecret),
           "Response Authenticator");
  packet.replace(4, 16, response_authenticator);

  auto signed_response = ParseResponse(packet, kIdentifier, kRequestAuthenticator, kSecret);
  if (signed_response) CheckParsed(*signed_response, packet);

  std::uint8_t code = static_cast<std::uint8_t>(packet[0]);
  bool answer_code = code == 2 || code == 3 || code == 11;
  bool well_formed = attributes && message_authenticators == 1;
  if (well_formed) {
    for (const Attribute& attribute : *attributes) {
      if (attribute.type == kMessageAuthenticator && attribute.value.size() != 16) {
        well_formed = false;
      }
    }
  }
  if (answer_code && well_formed) {
    if (!signed_response) {
      std::fprintf(stderr, "%s\n", signed_response.error().message().c_str());
      Die("a correctly signed, well-formed response was refused");
    }
    // Re-signing the Response Authenticator over the changed bit leaves only the HMAC to
    // catch it.
    std::string forged = packet;
    forged[mac_offset + size % 16] ^= static_cast<char>(1 << (size % 8));
    forged.replace(4, 16, kRequestAuthenticator);
    forged.replace(
        4, 16,
        Must(ComputeResponseAuthenticator(forged.substr(0, length), kRequestAuthenticator, kSecret),
             "Response Authenticator"));
    auto refused = ParseResponse(forged, kIdentifier, kRequestAuthenticator, kSecret);
    if (refused || refused.error().code() != ErrorCode::kIntegrity) {
      Die("a forged Message-Authenticator was not refused as an integrity failure");
    }
    if (refused.error().message().find("Message-Authenticator does not verify") ==
        std::string::npos) {
      Die("a forged Message-Authenticator was refused for another reason");
    }
  }
  return 0;
}
