// How `fogkeep app` and `fogkeep node` reach a node: the local root-only Unix socket by
// default, or HTTPS with a bearer token. The node's certificate is checked against --ca: a CA
// certificate verifies the chain and the host name; the node's own self-signed certificate
// (data-dir/tls/node.pem, before enrolment) is pinned by fingerprint. Skipping verification
// needs --insecure-skip-verify and prints a warning.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

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

class NodeClient {
 public:
  static Result<NodeClient> Connect(const NodeTarget& target,
                                    std::chrono::milliseconds timeout = std::chrono::minutes(5));

  // A buffered request; a non-2xx answer becomes its Error (from the JSON error body).
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
  NodeClient(std::unique_ptr<net::Client> client, std::string token)
      : client_(std::move(client)), token_(std::move(token)) {}
  net::Headers BaseHeaders() const;

  std::unique_ptr<net::Client> client_;
  std::string token_;
};

// Percent-encodes one path segment or query value (everything but RFC 3986 unreserved).
std::string EncodeComponent(std::string_view text);

}  // namespace fogkeep::cli
