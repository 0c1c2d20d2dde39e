// Routes: (method, path pattern) → handler, with the policy each route needs at the edge —
// whether it is public, which permission it requires, how its body arrives, and where it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "net/http.h"

namespace fogkeep::net {

// Establishes who sent a request, from everything but its body (which has not been read yet:
// an unauthenticated client never gets to send one). kUnauthenticated when the credentials are
// missing or wrong. Called from a worker thread unless the route runs inline and MayBlock says
// no, so it may block briefly (a database, a PAM or RADIUS round trip); it must be safe to call
// concurrently.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual Result<Principal> Authenticate(const Request& request) = 0;
  // Whether authenticating `request` may wait for more than memory and a stat(2): if so, an
  // inline route's request is authenticated (and then handled) on a worker thread.
  virtual bool MayBlock(const Request& /*request*/) const { return true; }
};

// Decides whether `principal` holds `permission` (the route's declared permission), after
// authentication and before the body is read. kForbidden when not. Same threading as
// Authenticator.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual Status Authorize(const Principal& principal, std::string_view permission,
                           const Request& request) = 0;
};

enum class BodyMode {
  kBuffered,  // the body is read completely into Request::body before the handler runs
  kStreamed,  // the handler pulls it through Request::body_stream while it arrives
};

enum class Execution {
  kWorker,  // on the server's worker pool: may block (package install, runc)
  kInline,  // on the connection's I/O thread: must never block (status, metrics). Ignored
            // for streamed bodies, whose handlers block on the body by design.
};

struct RouteOptions {
  // The permission the authorization layer checks ("apps.write"). Required unless is_public.
  std::string permission;
  // Public routes skip authentication and authorization (login, health).
  bool is_public = false;
  BodyMode body = BodyMode::kBuffered;
  // A larger declared Content-Length is answered 413 before any body byte is read; a chunked
  // body that grows past it fails with kLimit.
  std::uint64_t max_body_bytes = 1 << 20;
  Execution execution = Execution::kWorker;
  // What a state-changing request (POST, PUT, PATCH, DELETE) on this route is called in the
  // audit trail ("apps.install"); "{name}" stands for that path parameter ("apps.{action}").
  // Empty: "<METHOD> <pattern>".
  std::string audit_action;
  // Record every request on this route, reads too (an operator reading an app's secrets), as
  // state-changing requests are: the handler runs only when the trail can take the record.
  bool audit_reads = false;
  // Routine machine traffic (a node's periodic report, thousands a minute across a fleet) may
  // opt out of one audit record per request; refusals are still recorded.
  bool audit_changes = true;
};

// Whether the audit trail records requests of `route` with `method`: state-changing ones
// unless the route opts out, reads when the route asks.
bool IsAudited(Method method, const RouteOptions& route);

// Handlers answer with a Response or an Error; errors become ErrorResponse(error). A handler
// that must wait for something (a long-poll) answers Response::Deferred instead of blocking.
using Handler = std::function<Result<Response>(Request&)>;

struct Route {
  Method method;
  std::string pattern;
  RouteOptions options;
  Handler handler;
};

// POST, PUT, PATCH and DELETE: the requests an audit trail records.
bool IsStateChanging(Method method);

// What the server tells an AuditSink about one request.
struct AuditEvent {
  enum class Kind {
    kStateChange,      // a state-changing (or audited read) request whose handler ran,
                       // whatever it answered; a deferred answer once complete, or 503 when
                       // the connection ended before it was
    kUnauthenticated,  // the Authenticator refused the request (any method)
    kForbidden,        // the Authorizer refused the request (any method)
  };
  Kind kind = Kind::kStateChange;
  const Request& request;  // principal set for kStateChange (non-public) and kForbidden
  const Route& route;
  int status = 0;                      // the status answered
  std::string_view error;              // the error's message when the answer is an error, else ""
  const Response* response = nullptr;  // kStateChange only
};

// Where the server reports what an audit trail must hold: every state-changing request once
// its handler has run, and every refused authentication or authorization. The interface keeps
// net free of the audit module; the node implements it over its audit log.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Checked after authorization and before the handler of a state-changing, non-public route
  // runs: an error (the trail cannot take records) answers the request with that error, so
  // no change happens unrecorded. Must not block.
  virtual Status Ready() = 0;
  // Records `event`. Runs on a worker thread (it may flush to disk) before the response is
  // sent, so a change the client saw acknowledged is already recorded; must be safe to call
  // concurrently. An error is logged; the answer goes out unchanged (the change happened).
  virtual Status Record(const AuditEvent& event) = 0;
};

class Router {
 public:
  // Registers a route. A pattern is "/"-separated segments; a segment "{name}" matches any one
  // non-empty segment, a final "{name...}" matches one or more remaining segments (joined with
  // "/"). Where several patterns match, the one with a literal at the first differing position
  // wins, then a single-segment parameter over a tail parameter. kInvalidInput for a malformed
  // pattern or a non-public route without a permission; kConflict for a second route with the
  // same method and the same shape.
  [[nodiscard]] Status Add(Method method, std::string_view pattern, RouteOptions options,
                           Handler handler);

  struct Match {
    const Route* route = nullptr;  // null: 404 when `allowed` is empty, else 405
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<Method> allowed;  // methods that would match the path, for the Allow header
  };
  Match Find(Method method, const std::vector<std::string>& segments) const;

  // Every registered route, so an authorization layer can check at start-up that its matrix
  // covers each declared permission.
  std::vector<const Route*> routes() const;

  // "GET, POST" for an Allow header.
  static std::string AllowHeader(const std::vector<Method>& methods);

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam, kTail };
    Kind kind;
    std::string text;  // the literal, or the parameter name
  };
  struct Entry {
    std::unique_ptr<Route> route;
    std::vector<Segment> segments;
  };
  static bool Matches(const Entry& entry, const std::vector<std::string>& segments,
                      std::vector<std::pair<std::string, std::string>>* params);
  // Negative when `a` is more specific than `b`.
  static int CompareSpecificity(const Entry& a, const Entry& b);

  std::vector<Entry> entries_;
};

}  // namespace fogkeep::net
