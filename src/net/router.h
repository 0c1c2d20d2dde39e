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
// missing or wrong. Called from a worker thread unless the route runs inline, so it may block
// briefly (a PAM or RADIUS round trip); it must be safe to call concurrently.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual Result<Principal> Authenticate(const Request& request) = 0;
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
};

// Handlers answer with a Response or an Error; errors become ErrorResponse(error).
using Handler = std::function<Result<Response>(Request&)>;

struct Route {
  Method method;
  std::string pattern;
  RouteOptions options;
  Handler handler;
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
