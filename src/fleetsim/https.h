// The simulator's HTTPS client: one keep-alive TLS connection driven by C++20 coroutines on an
// Asio executor, so thousands of simulated nodes share one or two threads. Every connection of
// the process shares one TLS context (fogkeep's client policy and the fleet CA as the only
// anchor) and presents its own node's certificate (crypto::UseConnectionIdentity).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "crypto/tls.h"
#include "crypto/x509.h"

namespace fogkeep::fleetsim {

namespace asio = boost::asio;

struct DirectorEndpoint {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 9443;
  std::vector<asio::ip::tcp::endpoint> addresses;  // filled by Resolve
};

// "https://host[:port][/]" or "https://[v6][:port][/]" (default port 9443). kInvalidInput for
// any other scheme, a path, user info or a bad port.
Result<DirectorEndpoint> ParseDirectorUrl(std::string_view url);
// Resolves the host once, before any connection; kUnavailable when it does not resolve.
Status Resolve(DirectorEndpoint& where);

// The TLS context every connection of the process shares.
class TlsClient {
 public:
  // Trusts `ca` alone (serverAuth required of the director).
  static Result<std::unique_ptr<TlsClient>> Create(const crypto::Certificate& ca);
  asio::ssl::context& context() { return context_; }

 private:
  TlsClient() : context_(asio::ssl::context::tls_client) {}
  asio::ssl::context context_;
};

enum class Verb { kGet, kPost };

struct HttpCall {
  Verb verb = Verb::kGet;
  std::string target;  // origin form, query already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // "Connection: close": the last exchange on this connection
};

struct HttpAnswer {
  unsigned status = 0;
  std::string etag;
  std::string body;
};

// The message of an error answer: the director's {"error":{"message":...}}, or "HTTP <status>".
std::string AnswerMessage(const HttpAnswer& answer);

// One connection to the director. Used only from its executor (a strand when the I/O runs on
// several threads); not thread-safe.
class HttpsConnection {
 public:
  // `identity` (null: none, as for enrollment) and `where` must outlive the connection.
  HttpsConnection(asio::any_io_executor executor, const DirectorEndpoint& where, TlsClient& tls,
                  const crypto::TlsIdentity* identity);
  HttpsConnection(const HttpsConnection&) = delete;
  HttpsConnection& operator=(const HttpsConnection&) = delete;

  // One request and its answer, connecting first when no connection is open. `timeout` bounds
  // connect, handshake, write and read together. A request that fails on a reused connection
  // before any byte of an answer arrived (the director closed it while idle) is retried once
  // on a new connection. Error messages start with the step that failed ("connect", "TLS
  // handshake", "request", "answer"), which Kind() returns.
  asio::awaitable<Result<HttpAnswer>> Exchange(const HttpCall& call,
                                               std::chrono::milliseconds timeout);
  // Drops the connection at once (no TLS close_notify); the next exchange opens a new one.
  // Not while an exchange is in progress: Cancel() then.
  void Close();
  // Closes the socket under an exchange in progress, which then fails and drops the connection
  // itself; no connection is opened again (every later exchange fails "connect: cancelled").
  void Cancel();
  bool is_open() const { return stream_.has_value(); }
  // TLS handshakes completed so far.
  std::uint64_t handshakes() const { return handshakes_; }

  // The step an Exchange error names: its message up to the first ':'.
  static std::string_view Kind(const Error& error);

 private:
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  asio::awaitable<Status> Connect(std::chrono::milliseconds timeout);
  // `retry` is set when the failure allows another attempt on a new connection.
  asio::awaitable<Result<HttpAnswer>> Once(const HttpCall& call, std::chrono::milliseconds timeout,
                                           bool* retry);

  const asio::any_io_executor executor_;
  const DirectorEndpoint& where_;
  TlsClient& tls_;
  const crypto::TlsIdentity* const identity_;
  const std::string host_header_;
  std::optional<TlsStream> stream_;
  boost::beast::flat_buffer buffer_;
  std::uint64_t handshakes_ = 0;
  bool cancelled_ = false;  // set by Cancel(): no new connection from then on
};

}  // namespace fogkeep::fleetsim
