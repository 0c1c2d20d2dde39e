// RADIUS packets for PAP logins (RFC 2865) with Message-Authenticator (RFC 3579): encoding of
// an Access-Request, and parsing with verification of the answer to it.
//
// A response is hostile bytes until both of its authenticators hold. Blast-RADIUS
// (CVE-2024-3596) forges the MD5-based Response Authenticator of an Access-Reject into an
// Access-Accept by an MD5 chosen-prefix collision; the HMAC-MD5 Message-Authenticator is not
// open to that attack, so every request carries one (first, as RFC 3579 and the Blast-RADIUS
// advisory recommend) and every response must carry a valid one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::auth::radius {

enum class Code : std::uint8_t {
  kAccessRequest = 1,
  kAccessAccept = 2,
  kAccessReject = 3,
  kAccessChallenge = 11,
};

// Attribute types this client writes or reads (RFC 2865 §5, RFC 3579 §3.2).
enum AttributeType : std::uint8_t {
  kUserName = 1,
  kUserPassword = 2,
  kFilterId = 11,
  kReplyMessage = 18,
  kState = 24,
  kClass = 25,
  kNasIdentifier = 32,
  kMessageAuthenticator = 80,
};

inline constexpr std::size_t kHeaderSize = 20;         // code, identifier, length, authenticator
inline constexpr std::size_t kAuthenticatorSize = 16;  // Request/Response Authenticator
inline constexpr std::size_t kMaxPacketSize = 4096;    // RFC 2865 §3
inline constexpr std::size_t kMaxAttributeValue = 253;
inline constexpr std::size_t kMaxPasswordSize = 128;  // RFC 2865 §5.2

struct AccessRequest {
  std::uint8_t identifier = 0;
  // 16 bytes, fresh and unpredictable for every request (crypto::RandomBytes): it keys the
  // password hiding and binds the response to this request.
  std::string authenticator;
  std::string user_name;       // 1..253 bytes, no NUL
  std::string password;        // 1..128 bytes, no NUL (NUL is the padding of the hidden form)
  std::string nas_identifier;  // 1..253 bytes; RFC 2865 requires it or a NAS-IP-Address
};

// The Access-Request, attributes in this order: Message-Authenticator, User-Name,
// User-Password (hidden per RFC 2865 §5.2), NAS-Identifier. kInvalidInput when a field is
// out of the ranges above or `secret` is empty.
Result<std::string> EncodeAccessRequest(const AccessRequest& request, std::string_view secret);

// The User-Password value of RFC 2865 §5.2: `password` padded with NULs to a multiple of 16
// bytes and XORed with the MD5 chain keyed by `secret` and `request_authenticator`.
Result<std::string> HidePassword(std::string_view password, std::string_view secret,
                                 std::string_view request_authenticator);

// Response Authenticator of RFC 2865 §3: MD5(Code + Identifier + Length +
// RequestAuthenticator + Attributes + Secret) over `packet` (at least the header), with the
// request's authenticator in place of the one the packet carries.
Result<std::string> ComputeResponseAuthenticator(std::string_view packet,
                                                 std::string_view request_authenticator,
                                                 std::string_view secret);

// One attribute of a packet; `value` points into the packet that was split.
struct Attribute {
  std::uint8_t type = 0;
  std::string_view value;
  std::size_t offset = 0;  // of the attribute's type octet, from the start of the packet
};

// Splits `packet` (header included, exactly Length bytes) into its attributes. kInvalidInput
// when an attribute is shorter than 3 bytes (RFC 2865 values are 1..253 bytes) or runs past
// the end.
Result<std::vector<Attribute>> SplitAttributes(std::string_view packet);

// A verified answer to an Access-Request.
struct Response {
  Code code = Code::kAccessReject;
  std::uint8_t identifier = 0;
  std::vector<std::string> classes;     // every Class, in packet order
  std::vector<std::string> filter_ids;  // every Filter-Id, in packet order
  std::string reply_message;            // the Reply-Messages joined with "\n"
  std::string state;                    // State of an Access-Challenge
};

// Parses `datagram` as the answer to the request with `identifier` and
// `request_authenticator`, and verifies it, in this order:
// - kInvalidInput: shorter than the header or longer than 4096 bytes; a Length field below 20
//   or beyond the datagram (bytes after Length are padding and ignored, RFC 2865 §3); a code
//   other than Access-Accept, -Reject or -Challenge; another identifier; a malformed
//   attribute; more than one Message-Authenticator or one whose length is not 18.
// - kIntegrity: a Response Authenticator that does not verify; no Message-Authenticator; a
//   Message-Authenticator that does not verify (HMAC-MD5 over the packet with the request's
//   authenticator and the attribute's value zeroed, RFC 3579 §3.2).
// Comparisons of authenticators are constant-time. Attribute values are returned only from
// a packet that verified.
Result<Response> ParseResponse(std::string_view datagram, std::uint8_t identifier,
                               std::string_view request_authenticator, std::string_view secret);

}  // namespace fogkeep::auth::radius
