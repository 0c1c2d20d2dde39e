// The redirect endpoint of `fogkeep login --browser`: an HTTP listener on 127.0.0.1 at a port
// the kernel picks (RFC 8252 7.3), which waits for the browser's one GET of
// http://127.0.0.1:PORT/callback?code=... and answers it with a short page.
//
// Plain blocking sockets, not the net module: net::Server speaks TLS on every TCP listener
// (a browser cannot reach a loopback redirect over TLS without a certificate it trusts), and
// its router, worker pool and coroutines are far more than one request from one browser needs.
// One connection at a time; each must send its request within 10 s, so a stalled client only
// delays the next one.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/fs.h"

namespace fogkeep::cli {

class LoopbackListener {
 public:
  // Listens on 127.0.0.1, port chosen by the kernel. Errors are the socket calls'.
  static Result<LoopbackListener> Open();

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT/callback", the redirect URI to send with the request.
  std::string RedirectUri() const;

  // Waits until `deadline` for the next GET request and returns its target ("/callback?..."),
  // keeping its connection open for Respond. A request that is not a GET is answered 405 and
  // skipped. kUnavailable "timed out" at the deadline.
  Result<std::string> NextRequest(std::chrono::steady_clock::time_point deadline);

  // Answers the request NextRequest returned with a small HTML page (`message` is escaped) and
  // closes its connection. Nothing happens when there is no such request; write errors are
  // ignored (the browser went away, which changes nothing for the login).
  void Respond(int status, std::string_view title, std::string_view message);

 private:
  LoopbackListener(fs::UniqueFd socket, std::uint16_t port)
      : socket_(std::move(socket)), port_(port) {}

  fs::UniqueFd socket_;
  std::uint16_t port_ = 0;
  fs::UniqueFd client_;  // the connection whose request awaits Respond
};

}  // namespace fogkeep::cli
