#include "auth/radius_packet.h"

#include <algorithm>
#include <string>

#include "crypto/hash.h"

namespace fogkeep::auth::radius {
namespace {

constexpr std::size_t kLengthOffset = 2;
constexpr std::size_t kAuthenticatorOffset = 4;
constexpr std::size_t kMessageAuthenticatorSize = 2 + 16;

std::uint8_t Byte(std::string_view bytes, std::size_t i) {
  return static_cast<std::uint8_t>(bytes[i]);
}

std::size_t LengthField(std::string_view packet) {
  return static_cast<std::size_t>(Byte(packet, kLengthOffset)) << 8 |
         Byte(packet, kLengthOffset + 1);
}

void AppendAttribute(std::string& packet, std::uint8_t type, std::string_view value) {
  packet.push_back(static_cast<char>(type));
  packet.push_back(static_cast<char>(value.size() + 2));
  packet.append(value);
}

Status CheckField(std::string_view name, std::string_view value, std::size_t max) {
  if (value.empty() || value.size() > max) {
    return Fail(ErrorCode::kInvalidInput, std::string(name) + " must be 1 to " +
                                              std::to_string(max) + " bytes, not " +
                                              std::to_string(value.size()));
  }
  if (value.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput, std::string(name) + " contains a NUL byte");
  }
  return {};
}

Status CheckAuthenticator(std::string_view authenticator) {
  if (authenticator.size() != kAuthenticatorSize) {
    return Fail(ErrorCode::kInvalidInput,
                "a RADIUS authenticator is 16 bytes, not " + std::to_string(authenticator.size()));
  }
  return {};
}

std::string_view CodeName(std::uint8_t code) {
  switch (code) {
    case 1:
      return "Access-Request";
    case 2:
      return "Access-Accept";
    case 3:
      return "Access-Reject";
    case 4:
      return "Accounting-Request";
    case 5:
      return "Accounting-Response";
    case 11:
      return "Access-Challenge";
    case 12:
      return "Status-Server";
    default:
      return "unknown";
  }
}

}  // namespace

Result<std::string> HidePassword(std::string_view password, std::string_view secret,
                                 std::string_view request_authenticator) {
  FK_TRY(CheckAuthenticator(request_authenticator));
  std::string padded(password);
  padded.resize(std::max<std::size_t>(16, (password.size() + 15) / 16 * 16), '\0');
  // b(1) = MD5(S + RA), c(i) = p(i) xor b(i), b(i) = MD5(S + c(i-1)).
  std::string chain(request_authenticator);
  std::string keyed;
  for (std::size_t block = 0; block < padded.size(); block += 16) {
    keyed.assign(secret);
    keyed.append(chain);
    std::string b = FK_TRY(crypto::Md5(keyed));
    for (std::size_t i = 0; i < 16; ++i) padded[block + i] ^= b[i];
    chain.assign(padded, block, 16);
  }
  return padded;
}

Result<std::string> EncodeAccessRequest(const AccessRequest& request, std::string_view secret) {
  FK_TRY(CheckAuthenticator(request.authenticator));
  FK_TRY(CheckField("the user name", request.user_name, kMaxAttributeValue));
  FK_TRY(CheckField("the password", request.password, kMaxPasswordSize));
  FK_TRY(CheckField("the NAS-Identifier", request.nas_identifier, kMaxAttributeValue));
  if (secret.empty()) return Fail(ErrorCode::kInvalidInput, "the RADIUS secret is empty");

  std::string hidden = FK_TRY(HidePassword(request.password, secret, request.authenticator));
  std::string packet;
  packet.push_back(static_cast<char>(Code::kAccessRequest));
  packet.push_back(static_cast<char>(request.identifier));
  packet.append(2, '\0');  // length, set below
  packet.append(request.authenticator);
  // First, zeroed for the HMAC, filled in last (RFC 3579 §3.2).
  std::size_t message_authenticator = packet.size() + 2;
  AppendAttribute(packet, kMessageAuthenticator, std::string(16, '\0'));
  AppendAttribute(packet, kUserName, request.user_name);
  AppendAttribute(packet, kUserPassword, hidden);
  AppendAttribute(packet, kNasIdentifier, request.nas_identifier);
  // At most 20 + 18 + 3 * 255 bytes: within the 4096-byte limit by construction.
  packet[kLengthOffset] = static_cast<char>(packet.size() >> 8);
  packet[kLengthOffset + 1] = static_cast<char>(packet.size() & 0xff);

  std::string mac = FK_TRY(crypto::HmacMd5(secret, packet));
  packet.replace(message_authenticator, 16, mac);
  return packet;
}

Result<std::string> ComputeResponseAuthenticator(std::string_view packet,
                                                 std::string_view request_authenticator,
                                                 std::string_view secret) {
  FK_TRY(CheckAuthenticator(request_authenticator));
  if (packet.size() < kHeaderSize) {
    return Fail(ErrorCode::kInvalidInput, "a RADIUS packet has at least 20 bytes");
  }
  std::string input;
  input.reserve(packet.size() + secret.size());
  input.append(packet.substr(0, kAuthenticatorOffset));
  input.append(request_authenticator);
  input.append(packet.substr(kHeaderSize));
  input.append(secret);
  return crypto::Md5(input);
}

Result<std::vector<Attribute>> SplitAttributes(std::string_view packet) {
  std::vector<Attribute> attributes;
  std::size_t offset = kHeaderSize;
  while (offset < packet.size()) {
    if (packet.size() - offset < 2) {
      return Fail(ErrorCode::kInvalidInput,
                  "truncated attribute header at offset " + std::to_string(offset));
    }
    std::uint8_t type = Byte(packet, offset);
    std::size_t length = Byte(packet, offset + 1);
    if (length < 3) {
      return Fail(ErrorCode::kInvalidInput, "attribute " + std::to_string(type) + " at offset " +
                                                std::to_string(offset) + " has length " +
                                                std::to_string(length) + " (the minimum is 3)");
    }
    if (length > packet.size() - offset) {
      return Fail(ErrorCode::kInvalidInput, "attribute " + std::to_string(type) + " at offset " +
                                                std::to_string(offset) + " runs past the packet");
    }
    attributes.push_back({type, packet.substr(offset + 2, length - 2), offset});
    offset += length;
  }
  return attributes;
}

Result<Response> ParseResponse(std::string_view datagram, std::uint8_t identifier,
                               std::string_view request_authenticator, std::string_view secret) {
  FK_TRY(CheckAuthenticator(request_authenticator));
  if (datagram.size() < kHeaderSize) {
    return Fail(ErrorCode::kInvalidInput, "response of " + std::to_string(datagram.size()) +
                                              " bytes is shorter than a RADIUS header");
  }
  if (datagram.size() > kMaxPacketSize) {
    return Fail(ErrorCode::kInvalidInput, "response of " + std::to_string(datagram.size()) +
                                              " bytes exceeds the RADIUS maximum of 4096");
  }
  std::size_t length = LengthField(datagram);
  if (length < kHeaderSize || length > datagram.size()) {
    return Fail(ErrorCode::kInvalidInput, "response Length field says " + std::to_string(length) +
                                              " bytes, but " + std::to_string(datagram.size()) +
                                              " arrived");
  }
  std::string_view packet = datagram.substr(0, length);

  std::uint8_t code = Byte(packet, 0);
  if (code != static_cast<std::uint8_t>(Code::kAccessAccept) &&
      code != static_cast<std::uint8_t>(Code::kAccessReject) &&
      code != static_cast<std::uint8_t>(Code::kAccessChallenge)) {
    return Fail(ErrorCode::kInvalidInput, "response code " + std::to_string(code) + " (" +
                                              std::string(CodeName(code)) +
                                              ") does not answer an Access-Request");
  }
  if (Byte(packet, 1) != identifier) {
    return Fail(ErrorCode::kInvalidInput, "response identifier " + std::to_string(Byte(packet, 1)) +
                                              " does not match the request's " +
                                              std::to_string(identifier));
  }
  std::vector<Attribute> attributes = FK_TRY(SplitAttributes(packet));
  const Attribute* message_authenticator = nullptr;
  for (const Attribute& attribute : attributes) {
    if (attribute.type != kMessageAuthenticator) continue;
    if (message_authenticator != nullptr) {
      return Fail(ErrorCode::kInvalidInput, "response carries more than one Message-Authenticator");
    }
    if (attribute.value.size() != 16) {
      return Fail(ErrorCode::kInvalidInput, "response Message-Authenticator has " +
                                                std::to_string(attribute.value.size()) +
                                                " bytes instead of 16");
    }
    message_authenticator = &attribute;
  }

  std::string expected =
      FK_TRY(ComputeResponseAuthenticator(packet, request_authenticator, secret));
  if (!crypto::ConstantTimeEquals(expected,
                                  packet.substr(kAuthenticatorOffset, kAuthenticatorSize))) {
    return Fail(ErrorCode::kIntegrity,
                "response Response Authenticator does not verify (wrong shared secret or a "
                "forged response)");
  }
  if (message_authenticator == nullptr) {
    return Fail(ErrorCode::kIntegrity,
                "response carries no Message-Authenticator, which fogkeep requires against "
                "forged responses (Blast-RADIUS, CVE-2024-3596)");
  }
  std::string signed_bytes(packet);
  signed_bytes.replace(kAuthenticatorOffset, kAuthenticatorSize, request_authenticator);
  std::size_t value_offset = message_authenticator->offset + 2;
  signed_bytes.replace(value_offset, 16, 16, '\0');
  std::string mac = FK_TRY(crypto::HmacMd5(secret, signed_bytes));
  if (!crypto::ConstantTimeEquals(mac, message_authenticator->value)) {
    return Fail(ErrorCode::kIntegrity,
                "response Message-Authenticator does not verify (wrong shared secret or a "
                "forged response)");
  }

  Response response;
  response.code = static_cast<Code>(code);
  response.identifier = identifier;
  for (const Attribute& attribute : attributes) {
    switch (attribute.type) {
      case kClass:
        response.classes.emplace_back(attribute.value);
        break;
      case kFilterId:
        response.filter_ids.emplace_back(attribute.value);
        break;
      case kReplyMessage:
        if (!response.reply_message.empty()) response.reply_message += '\n';
        response.reply_message.append(attribute.value);
        break;
      case kState:
        response.state.assign(attribute.value);
        break;
      default:
        break;
    }
  }
  return response;
}

}  // namespace fogkeep::auth::radius
