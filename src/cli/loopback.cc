#include "cli/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <optional>
#include <utility>

namespace fogkeep::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxRequestHeadBytes = 8 * 1024;
constexpr std::chrono::seconds kRequestTimeout{10};

// Waits until `fd` is readable or `deadline` passes; false at the deadline.
Result<bool> WaitReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return FailErrno("poll", errno);
  }
}

// Reads a request's head (through the blank line) from `fd`; nullopt when the client sends
// too much, too slowly, or closes first.
std::optional<std::string> ReadHead(int fd, Clock::time_point deadline) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos) {
    Result<bool> readable = WaitReadable(fd, deadline);
    if (!readable || !*readable) return std::nullopt;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    head.append(buf, static_cast<std::size_t>(n));
    if (head.size() > kMaxRequestHeadBytes) return std::nullopt;
  }
  return head;
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string HtmlEscape(std::string_view text) {
  static constexpr std::pair<char, std::string_view> kEntities[] = {
      {'&', "&amp;"}, {'<', "&lt;"}, {'>', "&gt;"}, {'"', "&quot;"}};
  std::string out;
  for (char c : text) {
    const auto* entity = std::ranges::find(kEntities, c, &std::pair<char, std::string_view>::first);
    if (entity != std::end(kEntities)) {
      out += entity->second;
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Bad Request";
  }
}

void Answer(int fd, int status, std::string_view title, std::string_view message) {
  const std::string body =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + HtmlEscape(title) +
      "</title></head><body><h1>" + HtmlEscape(title) + "</h1><p>" + HtmlEscape(message) +
      "</p></body></html>\n";
  SendAll(fd, "HTTP/1.1 " + std::to_string(status) + " " + std::string(Reason(status)) +
                  "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
                  std::to_string(body.size()) +
                  "\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
                  "Content-Security-Policy: default-src 'none'\r\nConnection: close\r\n\r\n" +
                  body);
}

}  // namespace

Result<LoopbackListener> LoopbackListener::Open() {
  fs::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return FailErrno("socket", errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return FailErrno("bind 127.0.0.1", errno);
  }
  if (::listen(fd.get(), 8) != 0) return FailErrno("listen on 127.0.0.1", errno);
  socklen_t length = sizeof(address);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return FailErrno("getsockname", errno);
  }
  return LoopbackListener(std::move(fd), ntohs(address.sin_port));
}

std::string LoopbackListener::RedirectUri() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/callback";
}

Result<std::string> LoopbackListener::NextRequest(Clock::time_point deadline) {
  client_.Reset();
  for (;;) {
    if (!FK_TRY(WaitReadable(socket_.get(), deadline))) {
      return Fail(ErrorCode::kUnavailable, "timed out waiting for the browser");
    }
    fs::UniqueFd client(::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      return FailErrno("accept", errno);
    }
    const std::optional<std::string> head =
        ReadHead(client.get(), std::min(deadline, Clock::now() + kRequestTimeout));
    if (!head) continue;
    // "GET /callback?... HTTP/1.1"
    const std::string_view line = std::string_view(*head).substr(0, head->find("\r\n"));
    const std::size_t first = line.find(' ');
    const std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos) {
      Answer(client.get(), 400, "Bad request", "This is not an HTTP request.");
      continue;
    }
    if (line.substr(0, first) != "GET") {
      Answer(client.get(), 405, "Method not allowed", "Only GET reaches this page.");
      continue;
    }
    client_ = std::move(client);
    return std::string(line.substr(first + 1, second - first - 1));
  }
}

void LoopbackListener::Respond(int status, std::string_view title, std::string_view message) {
  if (!client_.valid()) return;
  Answer(client_.get(), status, title, message);
  client_.Reset();
}

}  // namespace fogkeep::cli
