// A synchronous HTTP/1.1 client for the CLI and for node→director calls: HTTPS with server
// verification (trust store + host name, or a pinned certificate fingerprint, or nothing when
// explicitly asked), optional client certificate, or plain HTTP over a Unix socket.
//
// One connection, reused across calls while the server keeps it alive. Not thread-safe: use
// one Client per thread. Non-2xx answers are Responses, not errors (ResponseError in http.h
// turns them into one); errors are transport, TLS and size failures.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/tls.h"
#include "net/http.h"

namespace fogkeep::net {

struct ClientTlsOptions {
  // Verify the server's chain (serverAuth EKU) against these anchors, and its name.
  std::optional<crypto::TrustStore> trust;
  // Accept exactly the server certificate with this SHA-256 fingerprint of its DER (hex, colons
  // allowed). May be combined with `trust`.
  std::optional<std::string> pinned_fingerprint;
  // Accept any server certificate. Only honoured when neither of the above is set; without any
  // of the three, Https() refuses to build the client.
  bool insecure = false;
  // Client certificate for mutual TLS.
  std::optional<crypto::TlsIdentity> identity;
  // The name the server certificate must carry and the SNI sent; defaults to the host.
  std::string server_name;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};  // connect plus TLS handshake
  // A buffered request: the whole exchange once connected. Uploads and downloads: each write
  // and each read.
  std::chrono::milliseconds timeout{60'000};
  std::uint64_t max_response_bytes = 64ull << 20;  // buffered response bodies
  std::size_t max_header_bytes = 64 * 1024;
};

// Receives a streamed response body piece by piece; an error stops the download and is
// returned by Download.
using ChunkCallback = std::function<Status(std::string_view)>;

// Where an https:// URL without a path points.
struct HttpsEndpoint {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 443;
};
// "https://host[:port][/]" or "https://[v6][:port]"; `default_port` when none is written.
// kInvalidInput for another scheme, a path, or a bad port; messages start with `what`
// ("--node", "--director").
Result<HttpsEndpoint> ParseHttpsUrl(std::string_view url, std::uint16_t default_port,
                                    std::string_view what);

class Client {
 public:
  static Result<std::unique_ptr<Client>> Https(std::string host, std::uint16_t port,
                                               ClientTlsOptions tls, ClientOptions options = {});
  static Result<std::unique_ptr<Client>> Unix(std::string socket_path, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // `target` is an origin-form path with an already-encoded query ("/api/v1/apps?x=1"); bytes
  // outside visible ASCII are refused. A request that fails on a reused connection before any
  // answer arrived (the server closed it while idle) is retried once on a new connection.
  Result<Response> Request(Method method, std::string_view target, const Headers& headers = {},
                           std::string_view body = {});

  // Sends the file as the body with Content-Length set to its size, reading it as it goes.
  Result<Response> UploadFile(Method method, std::string_view target, const Headers& headers,
                              const std::string& path);
  // Sends `body` with Content-Length `length`, or chunked when the length is unknown. The
  // request carries "Expect: 100-continue", so a refusal (401, 413) arrives before any body
  // byte is sent. kInvalidInput when `body` yields more or fewer bytes than `length`.
  Result<Response> Upload(Method method, std::string_view target, const Headers& headers,
                          BodySource& body, std::optional<std::uint64_t> length);

  // Passes a 2xx response body to `on_chunk` as it arrives (the returned Response has an empty
  // body); other statuses come back buffered as usual. `idle_timeout` bounds each read; zero
  // waits forever (log following).
  Result<Response> Download(Method method, std::string_view target, const Headers& headers,
                            const ChunkCallback& on_chunk,
                            std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(0));

  // The server certificate of the current connection (TLS only, after a request).
  std::optional<crypto::Certificate> server_certificate() const;
  // Drops the connection; the next call opens a new one.
  void Close();

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fogkeep::net
