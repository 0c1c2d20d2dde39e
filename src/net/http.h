// Plain HTTP request and response types shared by handlers, the server, the client and tests.
//
// This header is deliberately free of Boost: handlers and callers include it (and router.h)
// without paying Beast's and Asio's compile cost. The server and client translate to and from
// the wire in their own translation units.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace fogkeep::net {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions };

std::string_view MethodName(Method method);  // "GET"
// Methods are case-sensitive tokens (RFC 9110 §9.1); anything else is nullopt.
std::optional<Method> ParseMethod(std::string_view name);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1); values are
// kept verbatim.
class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  void Add(std::string_view name, std::string_view value);
  // Replaces every field called `name` with one field.
  void Set(std::string_view name, std::string_view value);
  void Remove(std::string_view name);
  // The first field called `name`.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  const std::vector<Field>& fields() const { return fields_; }
  bool empty() const { return fields_.empty(); }

 private:
  std::vector<Field> fields_;
};

// Credentials of a Unix-socket peer, read by the kernel at connect time (SO_PEERCRED).
struct UnixCredentials {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
};

// A client certificate that the server verified during the TLS handshake (mutual TLS).
struct ClientCertificate {
  std::string subject;      // RFC 2253, "CN=node-17,O=fogkeep"
  std::string common_name;  // "node-17"
  std::string fingerprint;  // SHA-256 of the DER, lowercase hex
};

struct Peer {
  enum class Transport { kTcp, kUnix };
  Transport transport = Transport::kTcp;
  std::string address;  // TCP: numeric address; Unix: the listening socket's path
  std::uint16_t port = 0;
  bool tls = false;
  std::optional<UnixCredentials> credentials;  // Unix only
  // Unix only: the identity of the listener the connection came through
  // (UnixListenerOptions::identity).
  std::string listener_identity;
  std::optional<ClientCertificate> certificate;  // TLS with a verified client certificate only
};

// Who made a request, as established by an Authenticator. An authorization layer maps roles
// to the permissions routes declare.
struct Principal {
  std::string id;         // a user name, a node id, "uid:0"
  std::string mechanism;  // how it was proven: "token", "password", "mtls", "unix", "oauth"
  std::vector<std::string> roles;
  // An OAuth access token's scopes: the principal may use only permissions among them (and
  // held by its roles). nullopt: not limited by scopes.
  std::optional<std::vector<std::string>> scopes;
};

// A request body pulled synchronously by a handler on a worker thread while the connection
// reads it from the socket. Mirrors package::ByteSource so the package reader can consume an
// upload directly.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Reads up to `size` bytes into `buf`, blocking until some arrive. Returns the count; 0 means
  // the body ended. kUnavailable when the client went away or stalled past the body timeout,
  // kLimit when the body outgrew the route's limit, kInvalidInput for broken framing.
  virtual Result<std::size_t> Read(char* buf, std::size_t size) = 0;
};

// Where a streamed response body goes, one chunk per Write.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Queues `data` as one chunk, blocking while the connection's buffer is full. kUnavailable
  // once the client has gone; the producer should then return.
  virtual Status Write(std::string_view data) = 0;
  // True once the client has gone or the server is stopping. Producers that wait for data
  // (log following) poll this between waits.
  virtual bool Cancelled() const = 0;
};

// Produces a streamed response body on a thread of its own. It must return soon after Write
// fails or Cancelled() turns true. A failure after the first Write ends the connection without
// the terminating chunk, so the client sees a truncated body rather than a clean end.
using StreamProducer = std::function<Status(BodySink&)>;

struct Request {
  Method method = Method::kGet;
  std::string target;                 // as received: "/api/v1/apps?state=RUNNING"
  std::string path;                   // percent-decoded: "/api/v1/apps"
  std::vector<std::string> segments;  // decoded path segments: {"api", "v1", "apps"}
  std::vector<std::pair<std::string, std::string>> query;        // decoded, in order
  std::vector<std::pair<std::string, std::string>> path_params;  // set by the router
  Headers headers;
  // The whole body, for routes that buffer it (the default).
  std::string body;
  // For routes that stream their body: valid only during the handler call, else null.
  BodySource* body_stream = nullptr;
  Peer peer;
  // Set before the handler runs on every route that is not public. A public route's handler
  // may set it to who the request claimed to be (login: the user name), for the audit trail.
  std::optional<Principal> principal;
  // Set by a handler: what the audit trail should add to this request's record (which
  // back-end accepted a login, why it was refused). Never sent to the client.
  std::string audit_note;

  // The first query parameter called `name`.
  std::optional<std::string_view> Query(std::string_view name) const;
  // The path parameter `name` of the matched pattern ("" when the pattern has none).
  std::string_view Param(std::string_view name) const;
};

class DeferredResponse;

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, `body` is ignored and the body is produced by this callback, sent with chunked
  // transfer coding; the connection closes after it.
  StreamProducer stream;
  // When set, everything else here is ignored: the answer comes later, through this
  // DeferredResponse, and no thread waits for it.
  std::shared_ptr<DeferredResponse> deferred;

  static Response Json(std::string json, int status = 200);
  static Response Text(std::string text, int status = 200);
  static Response Stream(std::string content_type, StreamProducer producer);
  static Response Deferred(std::shared_ptr<DeferredResponse> deferred);
};

namespace detail {
class DeferredControl;  // the server's side of a DeferredResponse (server.cc)
}

// An answer a handler gives later, without holding the thread it ran on: a long-poll waits for
// a change with no thread blocked. The handler makes one (std::make_shared), hands it to
// whatever will finish the request (a watch thread, a timer), and returns
// Response::Deferred(it). The connection then waits without any thread blocked, and sends
// what Complete() delivers exactly as if the handler had returned it: same headers,
// keep-alive, and audit record (taken when the answer is complete, before it is sent).
//
// While it waits, the connection watches for the client going away (a closed connection,
// including a half-close). When the client goes, the server stops (Server::Stop) or removes
// the connection's listener, or the server refuses to wait (ServerLimits::
// max_deferred_responses, answered 503), the response is cancelled: Cancelled() turns true,
// the OnCancel callbacks run, and a later Complete() returns false and drops its answer.
//
// Thread-safe. Complete() may be called from any thread, before or after the handler returns,
// and after the connection, or the whole server, is gone.
class DeferredResponse {
 public:
  DeferredResponse() = default;
  DeferredResponse(const DeferredResponse&) = delete;
  DeferredResponse& operator=(const DeferredResponse&) = delete;

  // Delivers the answer; an error is sent as ErrorResponse(error). Never blocks: the
  // connection's own thread writes it. The first Complete() wins and returns true (the answer
  // is sent unless the connection ends first); a later one, or one after cancellation,
  // returns false and drops `result`. A `result` that is itself deferred is answered 500.
  bool Complete(Result<Response> result);
  // True once the request will never be answered; whoever would complete it should stop
  // waiting and let go of what it holds.
  bool Cancelled() const;
  // Runs `callback` once, when the response is cancelled: on the server's I/O thread (so it
  // must not block or wait for anything but a short lock), or at once on the calling thread
  // when it already is. Never runs once Complete() has won; it is then dropped.
  void OnCancel(std::function<void()> callback);

 private:
  friend class detail::DeferredControl;
  enum class State { kPending, kCompleted, kTaken, kCancelled };

  // The server's side, through detail::DeferredControl. `wake` is called (under mu_, so it
  // must only schedule) when Complete() wins, or at once if it already has.
  void Attach(std::function<void()> wake);
  // No wake after this returns.
  void Detach();
  // The completed answer, once.
  std::optional<Result<Response>> Take();
  // False when already completed (the answer stands).
  bool Cancel();

  mutable std::mutex mu_;
  // Guarded by mu_.
  State state_ = State::kPending;
  std::optional<Result<Response>> result_;
  std::function<void()> wake_;
  std::vector<std::function<void()>> on_cancel_;
};

// The answer carrying a wire type (api/*.h) as JSON. ToJsonText is found in the wire type's
// own namespace, so net stays free of the api module.
template <typename Wire>
Response JsonResponse(const Wire& wire, int status = 200) {
  return Response::Json(ToJsonText(wire), status);
}

// The one mapping from fogkeep error categories to HTTP status codes.
int HttpStatus(ErrorCode code);
// {"error": {"code": "<ErrorCodeName>", "message": "..."}} with HttpStatus(code). Messages of
// kInternal errors are replaced by a generic one (they are logged instead): they describe
// fogkeep's internals, not anything the client can act on.
Response ErrorResponse(const Error& error);
// The reverse, for clients: the Error a non-2xx response carries (its JSON error body when it
// has one, else a category derived from the status).
Error ResponseError(const Response& response);

// The fields of an application/x-www-form-urlencoded body (HTML forms, OAuth requests),
// decoded ("+" is a space), in order. kInvalidInput for a malformed body or a NUL byte.
Result<std::vector<std::pair<std::string, std::string>>> ParseForm(std::string_view body);

// Splits an origin-form request target ("/a/b%2Fc?x=1&y") into decoded path, segments and
// query. Refuses anything else (absolute-form, "*"), NUL bytes, "." and ".." segments, segments
// holding an encoded "/", and empty segments other than a trailing one, with kInvalidInput.
struct Target {
  std::string path;
  std::vector<std::string> segments;
  std::vector<std::pair<std::string, std::string>> query;
};
Result<Target> ParseTarget(std::string_view target);

}  // namespace fogkeep::net
