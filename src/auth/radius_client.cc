#include "auth/radius_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "auth/radius_packet.h"
#include "core/fs.h"
#include "crypto/hash.h"

namespace fogkeep::auth {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxSecretFile = 4096;

std::string ServerName(const RadiusServerConfig& server) {
  bool ipv6 = server.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + server.host + "]" : server.host) + ":" + std::to_string(server.port);
}

// A UDP socket connected to the server's first address.
Result<fs::UniqueFd> Connect(const RadiusServerConfig& server) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(server.port);
  int rc = ::getaddrinfo(server.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return Fail(ErrorCode::kUnavailable,
                "cannot resolve " + server.host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  fs::UniqueFd fd(::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return FailErrno("socket", errno);
  if (::connect(fd.get(), found->ai_addr, found->ai_addrlen) != 0) {
    return FailErrno("connect", errno);
  }
  return fd;
}

// How one server's exchange ended without a verified answer.
struct ServerFailure {
  std::string summary;           // for the kUnavailable message
  std::optional<Error> dropped;  // the last response dropped as forged or malformed
};

RadiusVerdict ToVerdict(const radius::Response& response, const RadiusClientConfig& config) {
  RadiusVerdict verdict;
  verdict.reply_message = response.reply_message;
  verdict.challenged = response.code == radius::Code::kAccessChallenge;
  if (response.code != radius::Code::kAccessAccept) return verdict;
  verdict.accepted = true;
  for (const RoleMapping& mapping : config.roles) {
    const auto& values =
        mapping.attribute == RoleAttribute::kClass ? response.classes : response.filter_ids;
    for (const std::string& value : values) {
      if (value == mapping.value) {
        verdict.role = mapping.role;
        return verdict;
      }
    }
  }
  return verdict;
}

}  // namespace

Result<std::string> ReadSecretFile(const std::string& path) {
  // O_NONBLOCK: a FIFO planted at the path must not hang the open; it is refused below.
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) return FailErrno("RADIUS secret file " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("RADIUS secret file " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidInput, "RADIUS secret file " + path + " is not a regular file");
  }
  if ((st.st_mode & S_IRWXO) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Fail(ErrorCode::kInvalidInput, "RADIUS secret file " + path + " has mode " + mode +
                                              ", which lets every local user read it; "
                                              "chmod 600 it");
  }
  std::string secret;
  char buffer[1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read " + path, errno);
    if (n == 0) break;
    secret.append(buffer, static_cast<std::size_t>(n));
    if (secret.size() > kMaxSecretFile) {
      return Fail(ErrorCode::kLimit, "RADIUS secret file " + path + " is larger than " +
                                         std::to_string(kMaxSecretFile) + " bytes");
    }
  }
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) {
    return Fail(ErrorCode::kInvalidInput, "RADIUS secret file " + path + " holds no secret");
  }
  if (secret.find('\n') != std::string::npos) {
    return Fail(ErrorCode::kInvalidInput,
                "RADIUS secret file " + path + " holds more than one line");
  }
  return secret;
}

Result<RadiusClient> RadiusClient::Create(RadiusClientConfig config) {
  if (config.servers.empty()) {
    return Fail(ErrorCode::kInvalidInput, "RADIUS: no server configured");
  }
  if (config.timeout < std::chrono::milliseconds(1)) {
    return Fail(ErrorCode::kInvalidInput, "RADIUS: the timeout must be at least 1 ms");
  }
  if (config.retries < 0) {
    return Fail(ErrorCode::kInvalidInput, "RADIUS: retries must not be negative");
  }
  if (config.nas_identifier.empty() || config.nas_identifier.size() > radius::kMaxAttributeValue) {
    return Fail(ErrorCode::kInvalidInput, "RADIUS: the NAS-Identifier must be 1 to 253 bytes");
  }
  for (const RoleMapping& mapping : config.roles) {
    if (mapping.value.empty() || mapping.role.empty()) {
      return Fail(ErrorCode::kInvalidInput,
                  "RADIUS: a role mapping needs an attribute value and a role");
    }
  }
  std::vector<Server> servers;
  for (const RadiusServerConfig& server : config.servers) {
    if (server.host.empty() || server.port == 0) {
      return Fail(ErrorCode::kInvalidInput, "RADIUS: a server needs a host and a non-zero port");
    }
    std::string secret = FK_TRY_CTX(ReadSecretFile(server.secret_file), ServerName(server));
    servers.push_back({server, std::move(secret)});
  }
  return RadiusClient(std::move(config), std::move(servers));
}

Result<RadiusVerdict> RadiusClient::Authenticate(std::string_view user,
                                                 std::string_view password) const {
  std::vector<ServerFailure> failures;
  for (const Server& server : servers_) {
    const std::string name = ServerName(server.config);
    ServerFailure& failure = failures.emplace_back();
    radius::AccessRequest request;
    request.identifier = static_cast<std::uint8_t>(crypto::RandomBytes(1)[0]);
    request.authenticator = crypto::RandomBytes(radius::kAuthenticatorSize);
    request.user_name = user;
    request.password = password;
    request.nas_identifier = config_.nas_identifier;
    // A user name or password that cannot be encoded fails the same way for every server.
    std::string packet = FK_TRY_CTX(radius::EncodeAccessRequest(request, server.secret), "RADIUS");

    auto fd = Connect(server.config);
    if (!fd) {
      failure.summary = name + " (" + fd.error().message() + ")";
      continue;
    }
    int tries = 0;
    int refused = 0;
    std::optional<Error> socket_error;
    for (; tries <= config_.retries && !socket_error; ++tries) {
      if (::send(fd->get(), packet.data(), packet.size(), 0) < 0) {
        // A pending ICMP error of the previous transmission is reported here once.
        if (errno == ECONNREFUSED) {
          ++refused;
          continue;
        }
        socket_error = Error(ErrorCode::kUnavailable, ErrnoMessage("send", errno));
        break;
      }
      const Clock::time_point deadline = Clock::now() + config_.timeout;
      for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{fd->get(), POLLIN, 0};
        int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) {
          socket_error = Error(ErrorCode::kUnavailable, ErrnoMessage("poll", errno));
          break;
        }
        if (ready == 0) break;
        // One byte more than a RADIUS packet may have, and MSG_TRUNC for the datagram's real
        // size, so an oversized datagram is seen as such rather than cut to a valid length.
        char buffer[radius::kMaxPacketSize + 1];
        ssize_t n = ::recv(fd->get(), buffer, sizeof(buffer), MSG_TRUNC);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
          if (errno == ECONNREFUSED) {
            ++refused;
            break;
          }
          socket_error = Error(ErrorCode::kUnavailable, ErrnoMessage("recv", errno));
          break;
        }
        std::string_view datagram(buffer, std::min(static_cast<std::size_t>(n), sizeof(buffer)));
        auto response = radius::ParseResponse(datagram, request.identifier, request.authenticator,
                                              server.secret);
        if (response) return ToVerdict(*response, config_);
        failure.dropped =
            std::move(response).error().With("RADIUS " + name + " dropped a response");
      }
    }
    if (socket_error) {
      failure.summary = name + " (" + socket_error->message() + ")";
    } else {
      failure.summary = name + " (" + std::to_string(tries) + " tries of " +
                        std::to_string(config_.timeout.count()) + " ms";
      if (refused > 0) failure.summary += ", " + std::to_string(refused) + " refused";
      failure.summary += ")";
    }
  }

  // A forged or malformed answer says more about what went wrong than the timeout after it.
  for (auto it = failures.rbegin(); it != failures.rend(); ++it) {
    if (it->dropped) return Fail(*it->dropped);
  }
  std::string message = "RADIUS: no verified answer from ";
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (i > 0) message += ", ";
    message += failures[i].summary;
  }
  return Fail(ErrorCode::kUnavailable, message);
}

Result<AuthOutcome> RadiusBackend::Authenticate(std::string_view user, std::string_view password,
                                                std::string_view /*source_address*/) {
  RadiusVerdict verdict = FK_TRY(client_.Authenticate(user, password));
  AuthOutcome outcome;
  if (verdict.accepted && !verdict.role.empty()) {
    outcome.accepted = true;
    outcome.role = verdict.role;
    outcome.reason = "RADIUS Access-Accept";
  } else if (verdict.accepted) {
    outcome.reason = "RADIUS Access-Accept without a Class or Filter-Id that maps to a role";
  } else if (verdict.challenged) {
    outcome.reason = "RADIUS Access-Challenge, which a PAP login cannot answer";
  } else {
    outcome.reason = "RADIUS Access-Reject";
  }
  if (!verdict.reply_message.empty()) outcome.reason += ": " + verdict.reply_message;
  return outcome;
}

}  // namespace fogkeep::auth
