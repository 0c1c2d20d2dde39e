// How `fogkeep` commands reach a server: a node's API (`fogkeep app`, `node`, `storage`, ...)
// or the fleet director's (`fogkeep fleet`). One client serves both; they differ only in default
// port and in the options and commands that messages point to (ServerTraits).
//
// A node is reached over its local root-only Unix socket by default, or over HTTPS with a bearer
// token; the director over HTTPS only. The server's certificate is checked against --ca: a CA
// certificate verifies the chain and the host name; a server's own self-signed certificate
// (a node's data-dir/tls/node.pem, before enrolment) is pinned by fingerprint. Skipping
// verification needs --insecure-skip-verify and prints a warning.
//
// The bearer token is --token (or FOGKEEP_TOKEN) when given, used as it is and never cached.
// Without it, the login that `fogkeep login` (or `fogkeep fleet login`) cached for the server
// (cli/credentials.h) is used: its access token, refreshed through /api/v1/auth/refresh (an
// OAuth login's: at the director's token endpoint, grant refresh_token) when it has expired or
// when the server answers 401, with the rotated tokens written back to the cache under its lock
// and the request sent once more.
#pragma once

#include <chrono>
#include <cstdint>
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

// What differs between the kinds of server, as the user sees it.
struct ServerTraits {
  std::uint16_t default_port;
  std::string_view noun;           // "node"
  std::string_view url_option;     // "--node"
  std::string_view url_env;        // "FOGKEEP_NODE"
  std::string_view login_command;  // "fogkeep login"
  std::string_view token_source;   // where a --token comes from
  std::string_view ca_help;        // what --ca holds
};
const ServerTraits& TraitsOf(ServerKind kind);

// The server a command talks to and how it proves who it is. The name predates the director:
// with server = kDirector, `node` is the director's URL.
struct NodeTarget {
  std::string socket = "/run/fogkeep/fogkeepd.sock";
  // https://host[:port]. Empty: a node's Unix socket, or the only director logged in to.
  std::string node;
  std::string token;
  std::string ca;
  bool insecure = false;
  bool json = false;
  ServerKind server = ServerKind::kNode;
};

// Adds --socket, --node (env FOGKEEP_NODE), --token (env FOGKEEP_TOKEN), --ca,
// --insecure-skip-verify and --json to a command group. Its subcommands accept them too.
void AddNodeTargetOptions(CLI::App& group, NodeTarget* target);
// Sets target->server to kDirector and adds --director (env FOGKEEP_DIRECTOR), --token (env
// FOGKEEP_TOKEN), --ca, --insecure-skip-verify and --json to a command.
void AddDirectorTargetOptions(CLI::App& command, NodeTarget* target);

// The one spelling of a server URL, "https://host:port" (port always written, the kind's
// default when none is given; host in lower case, IPv6 in brackets), under which the login
// cache files the server however its URL was written. kInvalidInput for anything but
// https://host[:port][/].
Result<std::string> CanonicalServerUrl(std::string_view url, ServerKind kind);
// CanonicalServerUrl for a node (default port 8443).
Result<std::string> CanonicalNodeUrl(std::string_view url);

// The URL of the only server of `kind` that `cache` holds a login to; "" when there is none.
// kInvalidInput, naming them and the option that chooses, when there are several.
Result<std::string> OnlyLoggedInServer(const CredentialCache& cache, ServerKind kind);

class NodeClient {
 public:
  // A client for the server `target` names: a node's Unix socket (no token) or, with
  // target.node, HTTPS with --token or else the cached login to the server, whose --ca applies
  // when none is given. A director target without a URL is the only director logged in to.
  // kUnauthenticated when there is neither a token nor a live cached login (a login to another
  // kind of server at the URL does not count); the cache's own errors (kIntegrity for a file
  // others can read) pass through.
  static Result<NodeClient> Connect(const NodeTarget& target,
                                    std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // HTTPS to target.node without any credential (--token and the cache are ignored), for
  // `fogkeep login` and `fogkeep fleet login`.
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
                                   const std::string& path,
                                   std::string_view content_type = "application/x-tar");
  // Passes the response body to `on_chunk` as it arrives, until the server ends it.
  Status Follow(std::string_view target, const std::function<Status(std::string_view)>& on_chunk);
  // The same for a body of any size that ends by itself (each read bounded by the client's
  // timeout); returns the response with its headers and an empty body.
  Result<net::Response> Download(std::string_view target,
                                 const std::function<Status(std::string_view)>& on_chunk);

  // The server's canonical URL; "" for a node's Unix socket.
  const std::string& url() const { return url_; }
  // The file the server's certificate was checked against; "" when none was (the Unix
  // socket, or --insecure-skip-verify).
  const std::string& ca() const { return ca_; }

 private:
  // The login the token came from, when it came from the cache.
  struct CachedLogin {
    CredentialCache cache;
    Credential credential;  // as last read or refreshed; its access token is token_
  };
  using Sender = std::function<Result<net::Response>(const net::Headers&)>;

  NodeClient(std::unique_ptr<net::Client> client, std::string token, std::string url,
             std::string ca, std::optional<CachedLogin> login = std::nullopt)
      : client_(std::move(client)),
        token_(std::move(token)),
        url_(std::move(url)),
        ca_(std::move(ca)),
        login_(std::move(login)) {}
  net::Headers BaseHeaders() const;
  // Calls `send` with the token's headers; refreshes a cached login first when its access
  // token has expired, or after a 401 (then calls `send` once more).
  Result<net::Response> SendAuthorized(const Sender& send);
  // Replaces the cached login's tokens through /api/v1/auth/refresh (an OAuth login's: the
  // director's token endpoint), under the cache's lock. When the session has ended (an OAuth
  // refresh token refused with invalid_grant), removes it from the cache and fails
  // kUnauthenticated.
  Status RefreshLogin();
  // A non-2xx answer as an Error; a 401 on a cached login says how to log in again.
  Status CheckStatus(const net::Response& response) const;

  std::unique_ptr<net::Client> client_;
  std::string token_;
  std::string url_;
  std::string ca_;
  std::optional<CachedLogin> login_;
};

// Percent-encodes one path segment or query value (everything but RFC 3986 unreserved).
std::string EncodeComponent(std::string_view text);

}  // namespace fogkeep::cli
