#include "cli/node_client.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <iostream>

#include "core/fs.h"
#include "crypto/x509.h"

namespace fogkeep::cli {
namespace {

constexpr std::uint16_t kDefaultPort = 8443;

struct HostPort {
  std::string host;
  std::uint16_t port = kDefaultPort;
};

Result<HostPort> ParseNodeUrl(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) {
    return Fail(ErrorCode::kInvalidInput,
                "--node must be an https:// URL (https://host:8443), not " + std::string(url));
  }
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput, "--node must not carry a path: " + std::string(url));
  }
  HostPort out;
  std::string_view port_text;
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidInput, "--node: unterminated [IPv6] address");
    }
    out.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return Fail(ErrorCode::kInvalidInput, "--node: bad port");
      port_text = rest.substr(close + 2);
    }
  } else {
    const std::size_t colon = rest.rfind(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (out.host.empty()) return Fail(ErrorCode::kInvalidInput, "--node: missing host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return Fail(ErrorCode::kInvalidInput, "--node: bad port " + std::string(port_text));
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

Status CheckStatus(const net::Response& response) {
  if (response.status >= 200 && response.status < 300) return {};
  return Fail(net::ResponseError(response));
}

}  // namespace

void AddNodeTargetOptions(CLI::App& group, NodeTarget* target) {
  group.add_option("--socket", target->socket, "fogkeepd's local Unix socket")
      ->capture_default_str();
  group.add_option("--node", target->node, "Remote node, https://host:8443")
      ->envname("FOGKEEP_NODE");
  group.add_option("--token", target->token, "Bearer token (fogkeepd token create)")
      ->envname("FOGKEEP_TOKEN");
  group.add_option("--ca", target->ca,
                   "The node's certificate (data-dir/tls/node.pem) or its CA, PEM");
  group.add_flag("--insecure-skip-verify", target->insecure,
                 "Do not verify the node's certificate (unsafe)");
  group.add_flag("--json", target->json, "One JSON document for scripts");
  group.fallthrough();
}

Result<NodeClient> NodeClient::Connect(const NodeTarget& target,
                                       std::chrono::milliseconds timeout) {
  net::ClientOptions options;
  options.timeout = timeout;
  if (target.node.empty()) {
    auto client = FK_TRY(net::Client::Unix(target.socket, options));
    return NodeClient(std::move(client), target.token);
  }
  const HostPort where = FK_TRY(ParseNodeUrl(target.node));
  if (target.token.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "--node needs --token (or FOGKEEP_TOKEN); create one on the node with "
                "`fogkeepd token create --role admin`");
  }
  net::ClientTlsOptions tls;
  if (!target.ca.empty()) {
    const std::string pem = FK_TRY_CTX(fs::ReadFile(target.ca, 1 << 20), target.ca);
    auto certs = FK_TRY_CTX(crypto::Certificate::BundleFromPem(pem), target.ca);
    if (certs.front().IsCa()) {
      crypto::TrustStore trust;
      for (auto& cert : certs) trust.AddAnchor(std::move(cert));
      tls.trust = std::move(trust);
    } else {
      // The node's self-signed certificate: pin exactly it.
      tls.pinned_fingerprint = certs.front().Fingerprint();
    }
  } else if (target.insecure) {
    std::cerr << "fogkeep: warning: --insecure-skip-verify: the node's identity is not checked; "
                 "the token may be sent to an impostor\n";
    tls.insecure = true;
  } else {
    return Fail(ErrorCode::kInvalidInput,
                "--node needs --ca with the node's certificate (data-dir/tls/node.pem) or its "
                "CA, or --insecure-skip-verify");
  }
  auto client = FK_TRY(net::Client::Https(where.host, where.port, std::move(tls), options));
  return NodeClient(std::move(client), target.token);
}

net::Headers NodeClient::BaseHeaders() const {
  net::Headers headers;
  if (!token_.empty()) headers.Set("Authorization", "Bearer " + token_);
  return headers;
}

Result<net::Response> NodeClient::Call(net::Method method, std::string_view target,
                                       std::string_view body, std::string_view content_type) {
  net::Headers headers = BaseHeaders();
  if (!content_type.empty()) headers.Set("Content-Type", content_type);
  net::Response response = FK_TRY(client_->Request(method, target, headers, body));
  FK_TRY(CheckStatus(response));
  return response;
}

Result<net::Response> NodeClient::UploadFile(net::Method method, std::string_view target,
                                             const std::string& path) {
  net::Headers headers = BaseHeaders();
  headers.Set("Content-Type", "application/x-tar");
  net::Response response = FK_TRY_CTX(client_->UploadFile(method, target, headers, path), path);
  FK_TRY(CheckStatus(response));
  return response;
}

Status NodeClient::Follow(std::string_view target,
                          const std::function<Status(std::string_view)>& on_chunk) {
  net::Response response = FK_TRY(client_->Download(net::Method::kGet, target, BaseHeaders(),
                                                    on_chunk, std::chrono::milliseconds(0)));
  return CheckStatus(response);
}

Result<net::Response> NodeClient::Download(
    std::string_view target, const std::function<Status(std::string_view)>& on_chunk) {
  net::Response response = FK_TRY(client_->Download(net::Method::kGet, target, BaseHeaders(),
                                                    on_chunk, std::chrono::seconds(60)));
  FK_TRY(CheckStatus(response));
  return response;
}

std::string EncodeComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace fogkeep::cli
