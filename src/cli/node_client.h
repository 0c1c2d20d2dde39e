// How `fogkeep app` and `fogkeep node` reach a node: the local root-only Unix socket by
// default, or HTTPS with a bearer token. The node's certificate is checked against --ca: a CA
// certificate verifies the chain and the host name; the node's own self-signed certificate
// (data-dir/tls/node.pem, before enrolment) is pinned by fingerprint. Skipping verification
// needs --insecure-skip-verify and prints a warning.
//
// The bearer token is --token (or FOGKEEP_TOKEN) when given, used as it is and never cached.
// Without it, the login that `fogkeep login` cached for the node (cli/credentials.h) is used:
// its access token, refreshed through /api/v1/auth/refresh when it has expired or when the
// node answers 401, with the rotated tokens written back to the cache and the request sent
// once more.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/credentials.h"
#include "core/error.h"
#include "net/client.h"
#include "net/http.h"

namespace CLI {
class App;
}

namespace fogkeep::cli {

struct NodeTarget {
  std::string socket = "/run/fogkeep/fogkeepd.sock";
  std::string node;  // https://host[:port]; empty: the Unix socket
  std::string token;
  std::string ca;
  bool insecure = false;
  bool json = false;
};

// Adds --socket, --node (env FOGKEEP_NODE), --token (env FOGKEEP_TOKEN), --ca,
// --insecure-skip-verify and --json to a command group. Its subcommands accept them too.
void AddNodeTargetOptions(CLI::App& group, NodeTarget* target);

// The one spelling of a node URL, "https://host:port" (port always written, host in lower
// case, IPv6 in brackets), under which the login cache files the node however --node was
// written. kInvalidInput for anything but https://host[:port][/].
Result<std::string> CanonicalNodeUrl(std::string_view url);

class NodeClient {
 public:
  // A client for the node `target` names: its Unix socket (no token) or, with target.node,
  // HTTPS with --token or else the cached login for the node, whose --ca applies when none is
  // given. kUnauthenticated when there is neither a token nor a live cached login; the
  // cache's own errors (kIntegrity for a file others can read) pass through.
  static Result<NodeClient> Connect(const NodeTarget& target,
                                    std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // HTTPS to target.node without any credential (--token and the cache are ignored), for
  // `fogkeep login`.
  static Result<NodeClient> ConnectAnonymous(
      const NodeTarget& target, std::chrono::milliseconds timeout = std::chrono::minutes(1));

  // One buffered request, answered whatever its status (`fogkeep login` reads the Retry-After
  // of a 429); no refresh. Errors are transport failures only.
  Result<net::Response> Exchange(net::Method method, std::string_view target,
                                 std::string_view body = {}, std::string_view content_type = {});

  // A buffered request; a non-2xx answer becomes its Error (from the JSON error body). This
  // and the three below refresh a cached login as the header comment says.
  Result<net::Response> Call(net::Method method, std::string_view target,
                             std::string_view body = {}, std::string_view content_type = {});
  // Streams `path` as the request body.
  Result<net::Response> UploadFile(net::Method method, std::string_view target,
                                   const std::string& path);
  // Passes the response body to `on_chunk` as it arrives, until the server ends it.
  Status Follow(std::string_view target, const std::function<Status(std::string_view)>& on_chunk);
  // The same for a body of any size that ends by itself (each read bounded by the client's
  // timeout); returns the response with its headers and an empty body.
  Result<net::Response> Download(std::string_view target,
                                 const std::function<Status(std::string_view)>& on_chunk);

 private:
  // The login the token came from, when it came from the cache.
  struct CachedLogin {
    CredentialCache cache;
    Credential credential;  // as last read or refreshed; its access token is token_
  };
  using Sender = std::function<Result<net::Response>(const net::Headers&)>;

  NodeClient(std::unique_ptr<net::Client> client, std::string token,
             std::optional<CachedLogin> login = std::nullopt)
      : client_(std::move(client)), token_(std::move(token)), login_(std::move(login)) {}
  net::Headers BaseHeaders() const;
  // Calls `send` with the token's headers; refreshes a cached login first when its access
  // token has expired, or after a 401 (then calls `send` once more).
  Result<net::Response> SendAuthorized(const Sender& send);
  // Replaces the cached login's tokens through /api/v1/auth/refresh, under the cache's lock.
  // When the session has ended, removes it from the cache and fails kUnauthenticated.
  Status RefreshLogin();
  // A non-2xx answer as an Error; a 401 on a cached login says how to log in again.
  Status CheckStatus(const net::Response& response) const;

  std::unique_ptr<net::Client> client_;
  std::string token_;
  std::optional<CachedLogin> login_;
};

// Percent-encodes one path segment or query value (everything but RFC 3986 unreserved).
std::string EncodeComponent(std::string_view text);

}  // namespace fogkeep::cli
