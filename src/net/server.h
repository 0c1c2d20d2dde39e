// The HTTP/1.1 server behind fogkeepd (:8443 and its Unix socket) and the director (:9443).
//
// TCP listeners always speak TLS (crypto/tls.h policy, optional mutual TLS); Unix listeners
// speak plain HTTP to local peers identified by SO_PEERCRED, each listener with its own uid
// policy and identity. Unix listeners can be added and removed while the server runs (one per
// running app for the Secure Storage Service). Every request passes:
//   parse header (size limit, time limit) → route (404/405) → authenticate + authorize
//   (non-public routes, before any body byte is read) → Content-Length against the route's
//   limit (413) → body (buffered, or streamed to the handler) → handler → response.
// Connections run as coroutines on one I/O thread by default; handlers run on a worker pool
// unless their route is inline. A handler that answers with a DeferredResponse (http.h) frees
// its thread at once; the connection waits for the answer without holding one. Beast and Asio
// stay inside server.cc and stream.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/tls.h"
#include "net/router.h"

namespace fogkeep::net {

struct ServerLimits {
  std::size_t max_header_bytes = 16 * 1024;
  // From accepting a TCP connection to the end of its TLS handshake.
  std::chrono::milliseconds handshake_timeout{10'000};
  // From the first byte of a request (on a new connection: from the end of the handshake) to
  // the end of its header: bounds slow-header (slowloris) clients.
  std::chrono::milliseconds header_timeout{30'000};
  // How long a kept-alive TCP connection may idle between a response and the next request
  // (a Unix one: header_timeout). An idle TLS connection holds no buffer, and above the nodes'
  // 30 s poll interval a polling node never pays a new handshake; nginx's default is 75 s.
  std::chrono::milliseconds idle_timeout{90'000};
  // Buffered bodies: the whole body. Streamed bodies: each read from the socket.
  std::chrono::milliseconds body_timeout{60'000};
  // Each response write (each chunk of a streamed one).
  std::chrono::milliseconds write_timeout{60'000};
  // Connections past this are closed as soon as they are accepted.
  std::size_t max_connections = 256;
  // Threads for kWorker handlers (and authentication of their routes).
  std::size_t worker_threads = 4;
  // Streamed responses in progress (each holds a thread); one more is answered 503.
  std::size_t max_streaming_responses = 16;
  // Deferred responses (http.h) waiting for their answer, server-wide. They hold no thread,
  // only their connection and a little memory; one more is cancelled and answered 503.
  std::size_t max_deferred_responses = 10'000;
  // Bytes buffered between the socket and a streaming handler or producer, per connection.
  std::size_t stream_buffer_bytes = 1 << 20;
};

// Built with designated initializers: {.address = "127.0.0.1", .port = 0, .tls = {...}}.
struct TcpListenerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 8443;  // 0: any free port (see Server::tcp_port)
  crypto::ServerTlsSettings tls;
};

// The uids first, first + 1, ..., first + count - 1 (an app's user namespace mapping).
struct UidRange {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

struct UnixListenerOptions {
  std::string path;  // a stale socket at this path is replaced; any other file is an error
  // Copied into Peer::listener_identity of every request that arrives through this listener.
  std::string identity;
  // The socket file's mode, set before the socket listens (so no other mode is ever exposed).
  // Permission bits only. Who can reach the socket is also up to its directory's mode.
  std::uint32_t mode = 0600;
  // A peer (its uid from SO_PEERCRED) is accepted when it is root and allow_root is set, is
  // listed in allowed_uids, or lies in one of allowed_uid_ranges. Anyone else is logged and
  // their connection closed without an answer.
  bool allow_root = true;
  std::vector<std::uint32_t> allowed_uids;
  std::vector<UidRange> allowed_uid_ranges;
  // Connections open through this listener at once; one more is closed as soon as it is
  // accepted. 0: only the server's limit (ServerLimits::max_connections). A listener given to
  // one untrusted peer (an app) gets a share, so it cannot take every connection for itself.
  std::size_t max_connections = 0;
};

struct ServerOptions {
  std::optional<TcpListenerOptions> tcp;
  // The first Unix listener; more come and go through Server::AddUnixListener.
  std::optional<UnixListenerOptions> unix_socket;
  // A server whose listeners all come later through AddUnixListener: Create and Start accept
  // it without tcp or unix_socket. Otherwise a server needs a listener to start.
  bool allow_no_listener = false;
  ServerLimits limits;
  std::size_t io_threads = 1;
  // Where state-changing requests and refused authentications are reported; null: nowhere.
  std::shared_ptr<AuditSink> audit;
};

class Server {
 public:
  // Validates the options and builds the TLS context; binds nothing yet. A router with
  // non-public routes needs an authenticator. `authorizer` may be null (authentication alone
  // then guards every non-public route).
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, Router router,
                                                std::shared_ptr<Authenticator> authenticator,
                                                std::shared_ptr<Authorizer> authorizer);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listeners (Unix sockets with their options' mode) and starts serving on
  // background threads. kUnavailable when an address is taken or a path cannot be bound,
  // kConflict when a Unix listener's path holds something other than a socket, or when the
  // server was already started or stopped. No Unix listener stays bound when Start fails.
  Status Start();
  // Stops accepting, closes every connection, waits for running handlers and producers to
  // return, then joins all threads and removes every Unix listener's socket file. Deferred
  // responses still waiting are cancelled (their OnCancel callbacks run), not waited for. Must
  // not be called from a handler. Idempotent.
  void Stop();

  // Adds a Unix listener. Before Start it is only recorded, and Start binds it (failing as
  // described there); once started it is bound, and accepting, before this returns: a stale
  // socket at the path is replaced, kConflict when the path holds anything else,
  // kUnavailable when it cannot be bound. kInvalidInput for an empty or too long path or a
  // mode beyond permission bits, kConflict when this server already listens on the path (the
  // same string), kUnavailable once Stop() has run. Any thread except the server's own I/O
  // threads (inline handlers); fails with kInternal there rather than risk a deadlock.
  Status AddUnixListener(UnixListenerOptions options);
  // Removes the Unix listener on `path` (as given to AddUnixListener or unix_socket): stops
  // accepting on it, removes its socket file (unless something else has replaced it) and closes
  // every connection that came through it. Handlers already running for those connections
  // finish, but their responses are not delivered and no further request is read from them
  // once this returns. kNotFound when there is no such listener. Same threads as
  // AddUnixListener.
  Status RemoveUnixListener(const std::string& path);

  // The bound TCP port (useful with port 0); 0 before Start or without a TCP listener.
  std::uint16_t tcp_port() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A TCP listen address from a flag or config value: "host:port" or "[v6]:port"; port 0 binds
// any free port. kInvalidInput names what is wrong.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace fogkeep::net
