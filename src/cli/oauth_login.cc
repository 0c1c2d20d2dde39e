#include "cli/oauth_login.h"

#include <unistd.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "cli/login.h"
#include "cli/loopback.h"
#include "cli/oauth_api.h"
#include "cli/output.h"
#include "core/process.h"

extern char** environ;

namespace fogkeep::cli {
namespace {

using net::Method;
using Steady = std::chrono::steady_clock;

constexpr std::string_view kFormType = "application/x-www-form-urlencoded";
// Polls that fail in a row (a director restarting) before the device login gives up.
constexpr int kPollAttempts = 5;

bool Success(const net::Response& response) {
  return response.status >= 200 && response.status < 300;
}

// The director's OAuth endpoints, reached over one anonymous connection.
class Endpoints {
 public:
  Endpoints(NodeClient client, ServerMetadata metadata)
      : client_(std::move(client)), metadata_(std::move(metadata)) {}

  const ServerMetadata& metadata() const { return metadata_; }
  const std::string& url() const { return client_.url(); }

  // POSTs the form `body` to `endpoint`; any status is an answer.
  Result<net::Response> Post(const std::string& endpoint, const std::string& body) {
    const std::string target = FK_TRY(EndpointTarget(endpoint, url()));
    return client_.Exchange(Method::kPost, target, body, kFormType);
  }

  // The token endpoint's answer to `body`: the tokens, or the refusal as an Error.
  Result<TokenAnswer> Token(const std::string& body, std::string_view what) {
    const net::Response response = FK_TRY_CTX(Post(metadata_.token_endpoint, body), what);
    if (!Success(response)) return Fail(OAuthFailure(response, what));
    return FK_TRY_CTX(ParseTokenAnswer(response.body), what);
  }

 private:
  NodeClient client_;
  const ServerMetadata metadata_;
};

Result<Endpoints> Discover(const NodeTarget& where) {
  NodeClient client = FK_TRY(NodeClient::ConnectAnonymous(where));
  const std::string what = "read the OAuth metadata of " + client.url();
  const net::Response response = FK_TRY_CTX(client.Exchange(Method::kGet, kMetadataPath), what);
  if (!Success(response)) return Fail(net::ResponseError(response).With(what));
  ServerMetadata metadata = FK_TRY(ParseServerMetadata(response.body, client.url()));
  return Endpoints(std::move(client), std::move(metadata));
}

std::string Minutes(std::int64_t seconds) {
  return seconds >= 120 ? std::to_string(seconds / 60) + " min" : std::to_string(seconds) + " s";
}

Result<TokenAnswer> DeviceGrant(Endpoints& director, const std::string& scope,
                                std::ostream& prompts) {
  const ServerMetadata& m = director.metadata();
  if (m.device_authorization_endpoint.empty()) {
    return Fail(ErrorCode::kUnavailable,
                "the director offers no device authorization endpoint; log in with --browser");
  }
  std::vector<std::pair<std::string_view, std::string_view>> fields = {{"client_id", kCliClientId}};
  if (!scope.empty()) fields.emplace_back("scope", scope);
  const net::Response response = FK_TRY_CTX(
      director.Post(m.device_authorization_endpoint, FormBody(fields)), "start the device login");
  if (!Success(response)) return Fail(OAuthFailure(response, "start the device login"));
  const DeviceAuthorization device = FK_TRY(ParseDeviceAuthorization(response.body));

  prompts << "To log in to " << director.url() << ", open this page in a browser:\n\n  "
          << Printable(device.verification_uri) << "\n\nand enter the code  "
          << Printable(device.user_code) << "\n";
  if (!device.verification_uri_complete.empty()) {
    prompts << "(or open " << Printable(device.verification_uri_complete) << ")\n";
  }
  prompts << "\nWaiting for the approval (the code expires in " << Minutes(device.expires_in)
          << ")..." << std::endl;

  const std::string poll = FormBody({{"grant_type", kDeviceCodeGrant},
                                     {"device_code", device.device_code},
                                     {"client_id", kCliClientId}});
  std::chrono::seconds interval(device.interval);
  // The director ends the code at expires_in; this bound only stops a director that never says so.
  const auto deadline = Steady::now() + std::chrono::seconds(device.expires_in) + 2 * interval;
  int failures = 0;
  while (Steady::now() < deadline) {
    std::this_thread::sleep_for(interval);
    Result<net::Response> answer = director.Post(m.token_endpoint, poll);
    if (!answer) {
      if (answer.error().code() != ErrorCode::kUnavailable || ++failures >= kPollAttempts) {
        return Fail(std::move(answer).error().With("waiting for the approval"));
      }
      continue;
    }
    failures = 0;
    if (std::optional<TokenAnswer> tokens = FK_TRY(ReadDevicePoll(*answer, &interval))) {
      return std::move(*tokens);
    }
  }
  return Fail(DeviceCodeExpired());
}

// The programs on $PATH called `name`: the first executable one, or "".
std::string FindOnPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "";
  while (!rest.empty()) {
    const std::size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
    if (!dir.starts_with('/')) continue;
    std::string candidate = std::string(dir) + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// Opens `url` with xdg-open when there is one and a graphical session for it: without DISPLAY
// or WAYLAND_DISPLAY, xdg-open would start a text browser that fights this command for the
// terminal. Best effort, never waited for: the URL is printed whatever happens. xdg-open
// gets the user's own environment, which it needs to find the desktop's browser.
void TryOpenBrowser(const std::string& url) {
  if (std::getenv("DISPLAY") == nullptr && std::getenv("WAYLAND_DISPLAY") == nullptr) return;
  const std::string opener = FindOnPath("xdg-open");
  if (opener.empty()) return;
  process::SpawnOptions options;
  options.argv = {opener, url};
  for (char** var = environ; var != nullptr && *var != nullptr; ++var)
    options.env.emplace_back(*var);
  options.new_session = true;
  (void)process::Spawn(options);
}

Result<TokenAnswer> BrowserGrant(Endpoints& director, const OAuthLoginRequest& request,
                                 std::ostream& prompts) {
  const ServerMetadata& m = director.metadata();
  if (m.authorization_endpoint.empty()) {
    return Fail(ErrorCode::kUnavailable,
                "the director offers no authorization endpoint; log in without --browser");
  }
  LoopbackListener listener = FK_TRY_CTX(LoopbackListener::Open(), "the login's redirect listener");
  const Pkce pkce = NewPkce();
  const std::string state = NewState();
  const std::string url = AuthorizationUrl(
      m.authorization_endpoint, AuthorizationRequest{.client_id = std::string(kCliClientId),
                                                     .redirect_uri = listener.RedirectUri(),
                                                     .scope = request.scope,
                                                     .state = state,
                                                     .code_challenge = pkce.challenge});
  prompts << "To log in to " << director.url()
          << ", open this URL in a browser on this machine:\n\n  " << Printable(url)
          << "\n\nWaiting for the browser (up to " << Minutes(request.browser_timeout.count())
          << ")..." << std::endl;
  if (request.open_browser) TryOpenBrowser(url);

  const auto deadline = Steady::now() + request.browser_timeout;
  for (;;) {
    const std::string target = FK_TRY_CTX(listener.NextRequest(deadline), "login");
    Result<std::string> code = ParseCallback(target, state, m.issuer, m.iss_parameter);
    if (!code && code.error().code() == ErrorCode::kNotFound) {
      listener.Respond(404, "Not found", "This address only takes the login's redirect.");
      continue;
    }
    if (!code) {
      listener.Respond(400, "Login failed", code.error().message());
      return Fail(std::move(code).error());
    }
    Result<TokenAnswer> tokens = director.Token(FormBody({{"grant_type", "authorization_code"},
                                                          {"code", *code},
                                                          {"redirect_uri", listener.RedirectUri()},
                                                          {"code_verifier", pkce.verifier},
                                                          {"client_id", kCliClientId}}),
                                                "exchange the authorization code");
    if (tokens) {
      listener.Respond(200, "Logged in",
                       "fogkeep is logged in to " + director.url() +
                           ". You may close this window and return to the terminal.");
    } else {
      listener.Respond(400, "Login failed", tokens.error().message());
    }
    return tokens;
  }
}

}  // namespace

Result<OAuthLoginOutcome> OAuthLogIn(const OAuthLoginRequest& request, std::ostream& prompts) {
  if (request.target.node.empty()) {
    return Fail(ErrorCode::kInvalidInput, "--director is required (https://host:9443)");
  }
  NodeTarget where = request.target;
  where.server = ServerKind::kDirector;
  where.token.clear();
  where.node = FK_TRY(CanonicalServerUrl(request.target.node, ServerKind::kDirector));
  where.ca = FK_TRY(LoginCa(where, where.node));
  CredentialCache cache = FK_TRY(CredentialCache::Default());
  Endpoints director = FK_TRY(Discover(where));

  Result<TokenAnswer> granted = request.browser ? BrowserGrant(director, request, prompts)
                                                : DeviceGrant(director, request.scope, prompts);
  const TokenAnswer tokens = FK_TRY(std::move(granted));
  OAuthGrant grant{.client_id = std::string(kCliClientId),
                   .token_endpoint = director.metadata().token_endpoint,
                   .revocation_endpoint = director.metadata().revocation_endpoint};
  Credential credential = FK_TRY(CredentialFromTokenAnswer(
      where.node, tokens, where.ca, std::move(grant), std::chrono::system_clock::now()));
  if (Status stored = cache.Store(credential); !stored) {
    // Tokens that cannot be kept would only wait for their expiry: revoke them now.
    (void)RevokeOAuthLogin(credential, where.ca, where.insecure);
    return Fail(std::move(stored).error().With(
        "the director issued the tokens, but they cannot be cached (they were revoked)"));
  }
  return OAuthLoginOutcome{std::move(credential), tokens.scope};
}

Status RevokeOAuthLogin(const Credential& login, const std::string& ca, bool insecure) {
  if (!login.oauth || login.oauth->revocation_endpoint.empty()) {
    return Fail(ErrorCode::kUnavailable, "the director offers no revocation endpoint");
  }
  NodeTarget where{.node = login.node, .ca = ca, .insecure = insecure, .server = login.server};
  NodeClient client = FK_TRY(NodeClient::ConnectAnonymous(where, std::chrono::seconds(30)));
  const std::string target = FK_TRY(EndpointTarget(login.oauth->revocation_endpoint, login.node));
  const net::Response response =
      FK_TRY(client.Exchange(Method::kPost, target,
                             FormBody({{"token", login.refresh_token},
                                       {"token_type_hint", "refresh_token"},
                                       {"client_id", login.oauth->client_id}}),
                             kFormType));
  if (!Success(response)) return Fail(OAuthFailure(response, "revoke the login"));
  return {};
}

}  // namespace fogkeep::cli
