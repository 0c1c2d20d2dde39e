#include "cli/node_client.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <iostream>

#include "cli/login_api.h"
#include "cli/oauth_api.h"
#include "cli/output.h"
#include "core/fs.h"
#include "crypto/x509.h"

namespace fogkeep::cli {
namespace {

using HostPort = net::HttpsEndpoint;

constexpr ServerTraits kNodeTraits{
    .default_port = 8443,
    .noun = "node",
    .url_option = "--node",
    .url_env = "FOGKEEP_NODE",
    .login_command = "fogkeep login",
    .token_source = "`fogkeepd token create` on the node",
    .ca_help = "the node's certificate (data-dir/tls/node.pem) or its CA",
};
constexpr ServerTraits kDirectorTraits{
    .default_port = 9443,
    .noun = "director",
    .url_option = "--director",
    .url_env = "FOGKEEP_DIRECTOR",
    .login_command = "fogkeep fleet login",
    .token_source = "`fogkeep-director token create` on the director",
    .ca_help = "the fleet CA (the director's data-dir/ca/ca.crt)",
};

Result<HostPort> ParseServerUrl(std::string_view url, ServerKind kind) {
  const ServerTraits& traits = TraitsOf(kind);
  return net::ParseHttpsUrl(url, traits.default_port, traits.url_option);
}

// The HTTPS client for `where`, verifying the server against `ca` (a CA bundle, or the server's
// own certificate, pinned), or not at all when `insecure`.
Result<std::unique_ptr<net::Client>> HttpsClient(const HostPort& where, ServerKind kind,
                                                 const std::string& ca, bool insecure,
                                                 const net::ClientOptions& options) {
  const ServerTraits& traits = TraitsOf(kind);
  net::ClientTlsOptions tls;
  if (!ca.empty()) {
    const std::string pem = FK_TRY_CTX(fs::ReadFile(ca, 1 << 20), ca);
    auto certs = FK_TRY_CTX(crypto::Certificate::BundleFromPem(pem), ca);
    if (certs.front().IsCa()) {
      crypto::TrustStore trust;
      for (auto& cert : certs) trust.AddAnchor(std::move(cert));
      tls.trust = std::move(trust);
    } else {
      // The server's self-signed certificate: pin exactly it.
      tls.pinned_fingerprint = certs.front().Fingerprint();
    }
  } else if (insecure) {
    std::cerr << "fogkeep: warning: --insecure-skip-verify: the " << traits.noun
              << "'s identity is not checked; credentials may be sent to an impostor\n";
    tls.insecure = true;
  } else {
    return Fail(ErrorCode::kInvalidInput, std::string(traits.url_option) + " needs --ca with " +
                                              std::string(traits.ca_help) +
                                              ", or --insecure-skip-verify");
  }
  return net::Client::Https(where.host, where.port, std::move(tls), options);
}

// How to replace the login `c`: the command that made it.
std::string LoginHint(const Credential& c) {
  if (c.oauth) return "log in again with `fogkeep login --director " + c.node + "`";
  const ServerTraits& traits = TraitsOf(c.server);
  return "log in again with `" + std::string(traits.login_command) + " " +
         std::string(traits.url_option) + " " + c.node + " --user " + c.user + "`";
}

// The refresh of an OAuth login at the director's token endpoint (RFC 6749 6), over `client`
// (connected to the director, without the bearer token: the endpoint takes the client's id).
// nullopt when the director refused the refresh token: the login has ended there.
Result<std::optional<Credential>> RefreshOAuthLogin(net::Client& client, const Credential& login) {
  const std::string what = "refresh the login on " + login.node;
  const std::string target =
      FK_TRY_CTX(EndpointTarget(login.oauth->token_endpoint, login.node), what);
  net::Headers headers;
  headers.Set("Content-Type", "application/x-www-form-urlencoded");
  const net::Response response =
      FK_TRY_CTX(client.Request(net::Method::kPost, target, headers,
                                FormBody({{"grant_type", "refresh_token"},
                                          {"refresh_token", login.refresh_token},
                                          {"client_id", login.oauth->client_id}})),
                 what);
  if (response.status == 400) {
    const std::optional<OAuthErrorAnswer> refused = ParseOAuthError(response.body);
    if (refused && refused->error == "invalid_grant") return std::optional<Credential>();
  }
  if (response.status < 200 || response.status >= 300) return Fail(OAuthFailure(response, what));
  const TokenAnswer answer = FK_TRY_CTX(ParseTokenAnswer(response.body), what);
  return std::optional<Credential>(
      FK_TRY_CTX(RefreshedCredential(login, answer, std::chrono::system_clock::now()), what));
}

// The URL a director target without one means: the only director logged in to.
Result<std::string> ImpliedDirector(const NodeTarget& target) {
  const ServerTraits& traits = TraitsOf(target.server);
  const std::string required =
      std::string(traits.url_option) + " (or " + std::string(traits.url_env) + ") is required";
  if (!target.token.empty()) return Fail(ErrorCode::kInvalidInput, required + " with --token");
  const CredentialCache cache = FK_TRY(CredentialCache::Default());
  std::string url = FK_TRY(OnlyLoggedInServer(cache, target.server));
  if (url.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                required + ": https://host:" + std::to_string(traits.default_port) +
                    ", or log in first with `" + std::string(traits.login_command) + " " +
                    std::string(traits.url_option) + " URL --user NAME`");
  }
  return url;
}

}  // namespace

const ServerTraits& TraitsOf(ServerKind kind) {
  return kind == ServerKind::kDirector ? kDirectorTraits : kNodeTraits;
}

Result<std::string> CanonicalServerUrl(std::string_view url, ServerKind kind) {
  HostPort where = FK_TRY(ParseServerUrl(url, kind));
  for (char& c : where.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool ipv6 = where.host.find(':') != std::string::npos;
  return "https://" + (ipv6 ? "[" + where.host + "]" : where.host) + ":" +
         std::to_string(where.port);
}

Result<std::string> CanonicalNodeUrl(std::string_view url) {
  return CanonicalServerUrl(url, ServerKind::kNode);
}

Result<std::string> OnlyLoggedInServer(const CredentialCache& cache, ServerKind kind) {
  std::vector<std::string> urls;
  for (const Credential& c : FK_TRY(cache.List())) {
    if (c.server == kind) urls.push_back(c.node);
  }
  if (urls.empty()) return std::string();
  if (urls.size() == 1) return urls.front();
  const ServerTraits& traits = TraitsOf(kind);
  std::string list;
  for (const std::string& url : urls) list += (list.empty() ? "" : ", ") + url;
  return Fail(ErrorCode::kInvalidInput, "logged in to several " + std::string(traits.noun) + "s (" +
                                            list + "); choose one with " +
                                            std::string(traits.url_option));
}

void AddNodeTargetOptions(CLI::App& group, NodeTarget* target) {
  group.add_option("--socket", target->socket, "fogkeepd's local Unix socket")
      ->capture_default_str();
  group.add_option("--node", target->node, "Remote node, https://host:8443")
      ->envname("FOGKEEP_NODE");
  group
      .add_option("--token", target->token,
                  "Bearer token (fogkeepd token create); without it, --node uses the login "
                  "cached by `fogkeep login`")
      ->envname("FOGKEEP_TOKEN");
  group.add_option("--ca", target->ca,
                   "The node's certificate (data-dir/tls/node.pem) or its CA, PEM (default: the "
                   "one given to `fogkeep login` for the node)");
  group.add_flag("--insecure-skip-verify", target->insecure,
                 "Do not verify the node's certificate (unsafe)");
  group.add_flag("--json", target->json, "One JSON document for scripts");
  group.fallthrough();
}

void AddDirectorTargetOptions(CLI::App& command, NodeTarget* target) {
  target->server = ServerKind::kDirector;
  command
      .add_option("--director", target->node,
                  "The director, https://host:9443 (default: the one director you are logged "
                  "in to with `fogkeep fleet login` or `fogkeep login --director`)")
      ->envname("FOGKEEP_DIRECTOR");
  command
      .add_option("--token", target->token,
                  "API token (fogkeep-director token create --role R); without it, the login "
                  "cached by `fogkeep fleet login` or `fogkeep login --director` is used")
      ->envname("FOGKEEP_TOKEN");
  command.add_option("--ca", target->ca,
                     "The fleet CA, PEM: the director's data-dir/ca/ca.crt (default: the one "
                     "given to the login)");
  command.add_flag("--insecure-skip-verify", target->insecure,
                   "Do not verify the director's certificate (unsafe)");
  command.add_flag("--json", target->json, "Print the director's answer as JSON, for scripts");
}

Result<NodeClient> NodeClient::Connect(const NodeTarget& target,
                                       std::chrono::milliseconds timeout) {
  net::ClientOptions options;
  options.timeout = timeout;
  std::string url = target.node;
  if (url.empty()) {
    if (target.server == ServerKind::kNode) {
      auto client = FK_TRY(net::Client::Unix(target.socket, options));
      return NodeClient(std::move(client), target.token, "", "");
    }
    url = FK_TRY(ImpliedDirector(target));
  }
  const ServerTraits& traits = TraitsOf(target.server);
  const HostPort where = FK_TRY(ParseServerUrl(url, target.server));
  const std::string canonical = FK_TRY(CanonicalServerUrl(url, target.server));
  if (!target.token.empty()) {
    auto client = FK_TRY(HttpsClient(where, target.server, target.ca, target.insecure, options));
    return NodeClient(std::move(client), target.token, canonical, target.ca);
  }

  CredentialCache cache = FK_TRY(CredentialCache::Default());
  std::optional<Credential> login = FK_TRY(cache.Find(canonical));
  if (!login || login->server != target.server) {
    return Fail(ErrorCode::kUnauthenticated,
                "not logged in to " + canonical + ": run `" + std::string(traits.login_command) +
                    " " + std::string(traits.url_option) + " " + canonical + " --user NAME`" +
                    (target.server == ServerKind::kDirector
                         ? " (or `fogkeep login --director " + canonical + "` for OAuth)"
                         : "") +
                    ", or pass --token (or FOGKEEP_TOKEN) made by " +
                    std::string(traits.token_source));
  }
  if (!SessionAlive(*login, std::chrono::system_clock::now())) {
    // Nothing can revive it; an error in removing it changes nothing for this command.
    (void)cache.Remove(canonical);
    return Fail(ErrorCode::kUnauthenticated, "your session on " + canonical + " ended at " +
                                                 FormatLocalTime(login->session_expires) + "; " +
                                                 LoginHint(*login));
  }
  std::string ca = target.ca.empty() ? login->ca : target.ca;
  auto client = FK_TRY(HttpsClient(where, target.server, ca, target.insecure, options));
  std::string token = login->access_token;
  return NodeClient(std::move(client), std::move(token), canonical, std::move(ca),
                    CachedLogin{std::move(cache), std::move(*login)});
}

Result<NodeClient> NodeClient::ConnectAnonymous(const NodeTarget& target,
                                                std::chrono::milliseconds timeout) {
  const ServerTraits& traits = TraitsOf(target.server);
  if (target.node.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                std::string(traits.url_option) +
                    " is required (https://host:" + std::to_string(traits.default_port) + ")");
  }
  net::ClientOptions options;
  options.timeout = timeout;
  const HostPort where = FK_TRY(ParseServerUrl(target.node, target.server));
  auto client = FK_TRY(HttpsClient(where, target.server, target.ca, target.insecure, options));
  return NodeClient(std::move(client), "", FK_TRY(CanonicalServerUrl(target.node, target.server)),
                    target.ca);
}

net::Headers NodeClient::BaseHeaders() const {
  net::Headers headers;
  if (!token_.empty()) headers.Set("Authorization", "Bearer " + token_);
  return headers;
}

Status NodeClient::CheckStatus(const net::Response& response) const {
  if (response.status >= 200 && response.status < 300) return {};
  Error error = net::ResponseError(response);
  if (response.status == 401 && login_) {
    return Fail(error.code(), error.message() + "; " + LoginHint(login_->credential));
  }
  return Fail(std::move(error));
}

Status NodeClient::RefreshLogin() {
  const std::string node = login_->credential.node;
  const std::string noun(TraitsOf(login_->credential.server).noun);
  const std::string stale = token_;
  std::optional<Credential> fresh;
  std::optional<Error> ended;
  const Status updated = login_->cache.Update(
      node, [&](std::optional<Credential> current) -> Result<std::optional<Credential>> {
        if (!current) {
          ended = Error(ErrorCode::kUnauthenticated,
                        "logged out of " + node + " meanwhile; " + LoginHint(login_->credential));
          return current;
        }
        const auto now = std::chrono::system_clock::now();
        // Another fogkeep refreshed while this one waited for the lock: its tokens are the
        // session's now, and presenting the rotated refresh token would end the session.
        if (current->access_token != stale && AccessTokenCurrent(*current, now)) {
          fresh = current;
          return current;
        }
        if (!SessionAlive(*current, now)) {
          ended = Error(ErrorCode::kUnauthenticated, "your session on " + node + " ended at " +
                                                         FormatLocalTime(current->session_expires) +
                                                         "; " + LoginHint(*current));
          return std::nullopt;
        }
        if (current->oauth) {
          fresh = FK_TRY(RefreshOAuthLogin(*client_, *current));
          if (!fresh) {
            ended = Error(ErrorCode::kUnauthenticated,
                          "the director ended your OAuth login on " + node +
                              " (logged out, revoked, or unused too long); " + LoginHint(*current));
          }
          return fresh;
        }
        net::Headers headers;
        headers.Set("Content-Type", "application/json");
        const net::Response response =
            FK_TRY_CTX(client_->Request(net::Method::kPost, kRefreshPath, headers,
                                        RefreshRequestBody(current->refresh_token)),
                       "refresh the login on " + node);
        if (response.status == 401) {
          ended = Error(ErrorCode::kUnauthenticated,
                        "the " + noun + " ended your session on " + node +
                            " (logged out, revoked or idle too long); " + LoginHint(*current));
          return std::nullopt;
        }
        if (response.status < 200 || response.status >= 300) {
          return Fail(net::ResponseError(response).With("refresh the login on " + node));
        }
        const api::LoginResult result =
            FK_TRY_CTX(ParseLoginResult(response.body), "refresh answer from " + node);
        fresh =
            CredentialFromLoginResult(node, result, current->ca, std::chrono::system_clock::now());
        return fresh;
      });
  if (fresh) {
    // The node has rotated the tokens: use the new ones even if the cache could not take
    // them (the old refresh token is dead anyway).
    if (!updated) {
      std::cerr << "fogkeep: warning: cannot save the refreshed login: "
                << updated.error().message() << "\n";
    }
    login_->credential = std::move(*fresh);
    token_ = login_->credential.access_token;
    return {};
  }
  if (ended) return Fail(std::move(*ended));
  return updated;
}

Result<net::Response> NodeClient::SendAuthorized(const Sender& send) {
  bool refreshed = false;
  if (login_ && !AccessTokenCurrent(login_->credential, std::chrono::system_clock::now())) {
    FK_TRY(RefreshLogin());
    refreshed = true;
  }
  net::Response response = FK_TRY(send(BaseHeaders()));
  if (response.status != 401 || !login_ || refreshed) return response;
  FK_TRY(RefreshLogin());
  return send(BaseHeaders());
}

Result<net::Response> NodeClient::Exchange(net::Method method, std::string_view target,
                                           std::string_view body, std::string_view content_type) {
  net::Headers headers = BaseHeaders();
  if (!content_type.empty()) headers.Set("Content-Type", content_type);
  return client_->Request(method, target, headers, body);
}

Result<net::Response> NodeClient::Call(net::Method method, std::string_view target,
                                       std::string_view body, std::string_view content_type) {
  net::Response response = FK_TRY(SendAuthorized([&](net::Headers headers) {
    if (!content_type.empty()) headers.Set("Content-Type", content_type);
    return client_->Request(method, target, headers, body);
  }));
  FK_TRY(CheckStatus(response));
  return response;
}

Result<net::Response> NodeClient::UploadFile(net::Method method, std::string_view target,
                                             const std::string& path,
                                             std::string_view content_type) {
  net::Response response = FK_TRY_CTX(SendAuthorized([&](net::Headers headers) {
                                        headers.Set("Content-Type", content_type);
                                        return client_->UploadFile(method, target, headers, path);
                                      }),
                                      path);
  FK_TRY(CheckStatus(response));
  return response;
}

Status NodeClient::Follow(std::string_view target,
                          const std::function<Status(std::string_view)>& on_chunk) {
  // A refused request is answered before any body byte reaches on_chunk, so sending it again
  // repeats nothing.
  net::Response response = FK_TRY(SendAuthorized([&](const net::Headers& headers) {
    return client_->Download(net::Method::kGet, target, headers, on_chunk,
                             std::chrono::milliseconds(0));
  }));
  return CheckStatus(response);
}

Result<net::Response> NodeClient::Download(
    std::string_view target, const std::function<Status(std::string_view)>& on_chunk) {
  net::Response response = FK_TRY(SendAuthorized([&](const net::Headers& headers) {
    return client_->Download(net::Method::kGet, target, headers, on_chunk,
                             std::chrono::seconds(60));
  }));
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
