// The server side of RADIUS for tests: decoding an Access-Request, building responses that
// are correct or broken in one chosen way, and a UDP responder on loopback driven by a
// callback. Written from the RFCs independently of the client's encoder, so each checks the
// other.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "auth/radius_packet.h"
#include "core/error.h"
#include "crypto/hash.h"
#include "support/support.h"

namespace fogkeep::auth::radius::test {

using fogkeep::testing::Must;

inline std::string FromHex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// An Access-Request as a server sees it.
struct ReceivedRequest {
  std::string packet;
  std::uint8_t identifier = 0;
  std::string authenticator;
  std::string user_name;
  std::string password;  // revealed with the secret, padding removed
  std::string nas_identifier;
  bool message_authenticator_first = false;
  bool message_authenticator_valid = false;
};

inline std::string RevealPassword(std::string_view hidden, std::string_view secret,
                                  std::string_view authenticator) {
  std::string plain;
  std::string chain(authenticator);
  for (std::size_t block = 0; block + 16 <= hidden.size(); block += 16) {
    std::string b = Must(crypto::Md5(std::string(secret) + chain));
    for (std::size_t i = 0; i < 16; ++i)
      plain.push_back(static_cast<char>(hidden[block + i] ^ b[i]));
    chain.assign(hidden.substr(block, 16));
  }
  while (!plain.empty() && plain.back() == '\0') plain.pop_back();
  return plain;
}

inline ReceivedRequest DecodeRequest(std::string_view packet, std::string_view secret) {
  ReceivedRequest request;
  request.packet.assign(packet);
  if (packet.size() < kHeaderSize || packet[0] != 1) return request;
  request.identifier = static_cast<std::uint8_t>(packet[1]);
  request.authenticator.assign(packet.substr(4, 16));
  auto attributes = SplitAttributes(packet);
  if (!attributes) return request;
  for (std::size_t i = 0; i < attributes->size(); ++i) {
    const Attribute& attribute = (*attributes)[i];
    switch (attribute.type) {
      case kUserName:
        request.user_name.assign(attribute.value);
        break;
      case kUserPassword:
        request.password = RevealPassword(attribute.value, secret, request.authenticator);
        break;
      case kNasIdentifier:
        request.nas_identifier.assign(attribute.value);
        break;
      case kMessageAuthenticator: {
        request.message_authenticator_first = i == 0;
        std::string zeroed(packet);
        zeroed.replace(attribute.offset + 2, 16, 16, '\0');
        request.message_authenticator_valid =
            Must(crypto::HmacMd5(secret, zeroed)) == attribute.value;
        break;
      }
      default:
        break;
    }
  }
  return request;
}

enum class MessageAuthenticator { kNone, kFirst, kLast, kForged, kTwo };

struct ResponseSpec {
  Code code = Code::kAccessAccept;
  std::vector<std::pair<std::uint8_t, std::string>> attributes;
  MessageAuthenticator message_authenticator = MessageAuthenticator::kLast;
  bool forge_response_authenticator = false;
  int identifier_delta = 0;  // added to the request's identifier
};

// A response to the request with `identifier` and `request_authenticator`, signed with
// `secret` as RFC 2865 §3 and RFC 3579 §3.2 say, except for what `spec` breaks.
inline std::string BuildResponse(const ResponseSpec& spec, std::uint8_t identifier,
                                 std::string_view request_authenticator, std::string_view secret) {
  std::string packet;
  packet.push_back(static_cast<char>(spec.code));
  packet.push_back(static_cast<char>(identifier + spec.identifier_delta));
  packet.append(2, '\0');
  packet.append(request_authenticator);
  std::vector<std::size_t> mac_offsets;
  auto add_mac = [&] {
    packet.push_back(static_cast<char>(kMessageAuthenticator));
    packet.push_back(18);
    mac_offsets.push_back(packet.size());
    packet.append(16, '\0');
  };
  if (spec.message_authenticator == MessageAuthenticator::kFirst ||
      spec.message_authenticator == MessageAuthenticator::kTwo) {
    add_mac();
  }
  for (const auto& [type, value] : spec.attributes) {
    packet.push_back(static_cast<char>(type));
    packet.push_back(static_cast<char>(value.size() + 2));
    packet.append(value);
  }
  if (spec.message_authenticator == MessageAuthenticator::kLast ||
      spec.message_authenticator == MessageAuthenticator::kForged ||
      spec.message_authenticator == MessageAuthenticator::kTwo) {
    add_mac();
  }
  packet[2] = static_cast<char>(packet.size() >> 8);
  packet[3] = static_cast<char>(packet.size() & 0xff);
  // The HMAC covers the packet with every Message-Authenticator zeroed and the request's
  // authenticator; the Response Authenticator then covers the finished attributes.
  std::string mac = Must(crypto::HmacMd5(secret, packet));
  if (spec.message_authenticator == MessageAuthenticator::kForged) mac[0] ^= 0x01;
  for (std::size_t offset : mac_offsets) packet.replace(offset, 16, mac);
  std::string response_authenticator =
      Must(ComputeResponseAuthenticator(packet, request_authenticator, secret));
  if (spec.forge_response_authenticator) response_authenticator[15] ^= 0x80;
  packet.replace(4, 16, response_authenticator);
  return packet;
}

// A UDP socket on 127.0.0.1 with a kernel-chosen port.
inline int BindLoopbackUdp(std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::cerr << "cannot bind a loopback UDP socket\n";
    std::abort();
  }
  socklen_t size = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  *port = ntohs(address.sin_port);
  return fd;
}

// A loopback UDP port with nothing listening: datagrams to it draw ICMP port unreachable.
inline std::uint16_t ClosedUdpPort() {
  std::uint16_t port = 0;
  ::close(BindLoopbackUdp(&port));
  return port;
}

// Answers every Access-Request with the datagrams `respond` returns, from the port the
// request reached (or, when `from_other_port`, from a second socket: an off-path sender).
class FakeRadiusServer {
 public:
  using Responder = std::function<std::vector<std::string>(const ReceivedRequest&)>;

  FakeRadiusServer(std::string secret, Responder respond, bool from_other_port = false)
      : secret_(std::move(secret)), respond_(std::move(respond)) {
    fd_ = BindLoopbackUdp(&port_);
    std::uint16_t other = 0;
    if (from_other_port) other_fd_ = BindLoopbackUdp(&other);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeRadiusServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    if (other_fd_ >= 0) ::close(other_fd_);
  }
  FakeRadiusServer(const FakeRadiusServer&) = delete;
  FakeRadiusServer& operator=(const FakeRadiusServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::vector<ReceivedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      char buffer[8192];
      sockaddr_in peer{};
      socklen_t peer_size = sizeof(peer);
      ssize_t n = ::recvfrom(fd_, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&peer),
                             &peer_size);
      if (n <= 0) continue;
      ReceivedRequest request =
          DecodeRequest(std::string_view(buffer, static_cast<std::size_t>(n)), secret_);
      std::vector<std::string> answers = respond_(request);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      int out = other_fd_ >= 0 ? other_fd_ : fd_;
      for (const std::string& answer : answers) {
        ::sendto(out, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&peer),
                 peer_size);
      }
    }
  }

  // Constant after construction.
  const std::string secret_;
  const Responder respond_;
  int fd_ = -1;
  int other_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;  // guarded by mutex_
};

}  // namespace fogkeep::auth::radius::test
