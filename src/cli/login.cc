// fogkeep login / logout.
#include "cli/login.h"

#include <string.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/cli.h"
#include "cli/output.h"
#include "core/secret_input.h"

namespace fogkeep::cli {
namespace {

using net::Method;

constexpr std::string_view kCacheWhere =
    "$XDG_CONFIG_HOME/fogkeep/credentials.json (default ~/.config/fogkeep/credentials.json, "
    "mode 0600)";

bool Success(const net::Response& response) {
  return response.status >= 200 && response.status < 300;
}

// The error of a throttled login: the wait from Retry-After (delay-seconds, RFC 9110 §10.2.3)
// when the node sent one, else the node's own message.
Error Throttled(const net::Response& response) {
  const std::optional<std::string_view> header = response.headers.Get("Retry-After");
  unsigned long seconds = 0;
  if (header) {
    auto [end, ec] = std::from_chars(header->data(), header->data() + header->size(), seconds);
    if (ec == std::errc() && end == header->data() + header->size()) {
      return Error(ErrorCode::kLimit, "login refused: too many failed attempts; try again in " +
                                          std::to_string(seconds) + " s");
    }
  }
  return net::ResponseError(response).With("login refused");
}

// Where the server's certificate is checked against for a login: --ca (made absolute, so that
// the cached path works from any directory), else the --ca of an earlier login to the server.
Result<std::string> LoginCa(const NodeTarget& target, const std::string& node) {
  if (!target.ca.empty()) {
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(target.ca, ec);
    if (ec) return Fail(ErrorCode::kInvalidInput, target.ca + ": " + ec.message());
    return absolute.lexically_normal().string();
  }
  if (target.insecure) return std::string();
  const CredentialCache cache = FK_TRY(CredentialCache::Default());
  const std::optional<Credential> earlier = FK_TRY(cache.Find(node));
  return earlier && earlier->server == target.server ? earlier->ca : std::string();
}

}  // namespace

Result<LoginOutcome> LogIn(const NodeTarget& target, std::string_view user,
                           std::string_view password) {
  const ServerTraits& traits = TraitsOf(target.server);
  if (target.node.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                std::string(traits.url_option) +
                    " is required (https://host:" + std::to_string(traits.default_port) + ")");
  }
  const std::string node = FK_TRY(CanonicalServerUrl(target.node, target.server));
  CredentialCache cache = FK_TRY(CredentialCache::Default());
  NodeTarget where = target;
  where.node = node;
  where.token.clear();
  where.ca = FK_TRY(LoginCa(target, node));
  NodeClient client = FK_TRY(NodeClient::ConnectAnonymous(where));

  std::string body = LoginRequestBody(user, password);
  Result<net::Response> answer =
      client.Exchange(Method::kPost, kLoginPath, body, "application/json");
  ::explicit_bzero(body.data(), body.size());
  const net::Response response = FK_TRY_CTX(std::move(answer), "log in to " + node);
  if (response.status == 429) return Fail(Throttled(response));
  if (response.status == 401) {
    return Fail(ErrorCode::kUnauthenticated, "login failed: invalid credentials");
  }
  if (!Success(response)) return Fail(net::ResponseError(response).With("log in to " + node));
  const api::LoginResult result =
      FK_TRY_CTX(ParseLoginResult(response.body), "login answer from " + node);

  LoginOutcome out{
      CredentialFromLoginResult(node, result, where.ca, std::chrono::system_clock::now()),
      result.session};
  out.credential.server = target.server;
  if (Status stored = cache.Store(out.credential); !stored) {
    // A session whose tokens are lost would only wait for its timeout: end it now.
    NodeTarget with_token = where;
    with_token.token = out.credential.access_token;
    if (Result<NodeClient> ender = NodeClient::Connect(with_token, std::chrono::seconds(30))) {
      (void)ender->Call(Method::kPost, kLogoutPath);
    }
    return Fail(std::move(stored).error().With(
        "the " + std::string(traits.noun) +
        " accepted the login, but it cannot be cached (the new session was ended)"));
  }
  return out;
}

Result<LogoutOutcome> LogOut(const NodeTarget& target) {
  CredentialCache cache = FK_TRY(CredentialCache::Default());
  LogoutOutcome out;
  if (!target.node.empty()) {
    out.node = FK_TRY(CanonicalServerUrl(target.node, target.server));
  } else {
    out.node = FK_TRY(OnlyLoggedInServer(cache, target.server));
    if (out.node.empty()) return out;
  }
  const std::optional<Credential> login = FK_TRY(cache.Find(out.node));
  if (!login || login->server != target.server) return out;
  out.was_cached = true;
  out.credential = *login;

  NodeTarget where = target;
  where.node = out.node;
  where.token.clear();  // the cached login's session is the one to end
  Status ended = [&]() -> Status {
    NodeClient client = FK_TRY(NodeClient::Connect(where, std::chrono::seconds(30)));
    FK_TRY(client.Call(Method::kPost, kLogoutPath));
    return {};
  }();
  if (!ended) {
    if (ended.error().code() == ErrorCode::kUnauthenticated) {
      out.already_ended = true;
    } else {
      out.node_error = ended.error();
    }
  }
  FK_TRY(cache.Remove(out.node));
  return out;
}

namespace {

// What `login` and `logout` say about themselves under one kind of server.
struct LoginHelp {
  std::string login;
  std::string login_footer;
  std::string logout;
  std::string logout_footer;
};

LoginHelp HelpFor(ServerKind kind) {
  const std::string cache_where(kCacheWhere);
  if (kind == ServerKind::kDirector) {
    return LoginHelp{
        .login = "Log in to the fleet's director and cache the session's tokens",
        .login_footer =
            "Logs in as a user of the director (`fogkeep-director user add`, or RADIUS or PAM "
            "as the director is configured) and caches the session's tokens in " +
            cache_where +
            ", so that later `fogkeep fleet` commands need no --token, nor --director while "
            "you are logged in to one director only. The access token is refreshed as needed "
            "until the session ends; --ca is remembered for the director. The password is "
            "prompted for without echo, or read from stdin with --password-stdin; it never "
            "goes on the command line.\n\n"
            "  fogkeep fleet login --director https://fleet.example:9443 --user alice --ca "
            "ca.crt\n"
            "  fogkeep fleet devices\n"
            "  fogkeep fleet logout",
        .logout = "End a session opened by `fogkeep fleet login`",
        .logout_footer =
            "Ends the session on the director and removes its tokens from " + cache_where +
            ". Without --director: the only director logged in to. The tokens are removed even "
            "when the director cannot be reached; a warning then says that the session stays "
            "valid on the director until it expires.",
    };
  }
  return LoginHelp{
      .login = "Log in to a node and cache the session's tokens",
      .login_footer =
          "Logs in as a user of the node (local, RADIUS or PAM, as the node is configured) and "
          "caches the session's tokens in " +
          cache_where +
          ", so that later commands given --node need no --token. The access token is "
          "refreshed as needed until the session ends; --ca is remembered for the node. The "
          "password is prompted for without echo, or read from stdin with --password-stdin; it "
          "never goes on the command line.\n\n"
          "  fogkeep login --node https://gw1:8443 --user alice --ca node.pem\n"
          "  fogkeep app list --node https://gw1:8443\n"
          "  fogkeep logout",
      .logout = "End a session opened by `fogkeep login`",
      .logout_footer =
          "Ends the session on the node and removes its tokens from " + cache_where +
          ". Without --node: the only node logged in to. The tokens are removed even when the "
          "node cannot be reached; a warning then says that the session stays valid on the node "
          "until it expires.",
  };
}

// The server's options on a login or logout: its URL, --ca, --insecure-skip-verify and
// --json. A login is over HTTPS and proves itself with the password, so neither --socket nor
// --token.
void AddLoginTargetOptions(CLI::App& command, NodeTarget* target, ServerKind kind) {
  if (kind == ServerKind::kDirector) {
    AddDirectorTargetOptions(command, target);
  } else {
    AddNodeTargetOptions(command, target);
    command.remove_option(command.get_option("--socket"));
  }
  command.remove_option(command.get_option("--token"));
}

}  // namespace

void AddLoginCommands(CLI::App& parent, ServerKind kind) {
  struct Options {
    NodeTarget target;
    std::string user;
    bool password_stdin = false;
  };
  auto options = std::make_shared<Options>();
  const ServerTraits& traits = TraitsOf(kind);
  const std::string noun(traits.noun);
  const LoginHelp help = HelpFor(kind);

  auto* login = parent.add_subcommand("login", help.login);
  login->footer(help.login_footer);
  AddLoginTargetOptions(*login, &options->target, kind);
  CLI::Option* url = login->get_option(std::string(traits.url_option));
  url->required();
  url->description(std::string(kind == ServerKind::kDirector ? "The director" : "Remote node") +
                   ", https://host:" + std::to_string(traits.default_port));
  login->add_option("--user,-u", options->user, "User name on the " + noun)->required();
  login->add_flag("--password-stdin", options->password_stdin,
                  "Read the password from the first line of stdin instead of prompting");
  login->callback([options] {
    if (!options->password_stdin && !::isatty(STDIN_FILENO)) {
      ReportError(Error(ErrorCode::kInvalidInput,
                        "stdin is not a terminal: pass --password-stdin to read the password "
                        "from it"));
      return;
    }
    Result<std::string> password = ReadSecret("Password: ");
    if (!password) return ReportError(password.error().With("password"));
    Result<LoginOutcome> outcome = LogIn(options->target, options->user, *password);
    ::explicit_bzero(password->data(), password->size());
    if (!outcome) return ReportError(outcome.error());
    if (options->target.json) {
      PrintJson(api::ToJson(outcome->session));
      return;
    }
    const Credential& c = outcome->credential;
    std::cout << "logged in to " << c.node << " as " << c.user << " (role "
              << (c.role.empty() ? "unknown" : c.role) << "); session expires at "
              << FormatLocalTime(c.session_expires) << "\n";
  });

  auto* logout = parent.add_subcommand("logout", help.logout);
  logout->footer(help.logout_footer);
  AddLoginTargetOptions(*logout, &options->target, kind);
  logout->callback([options, noun] {
    Result<LogoutOutcome> outcome = LogOut(options->target);
    if (!outcome) return ReportError(outcome.error());
    const LogoutOutcome& o = *outcome;
    if (o.node_error) {
      std::cerr << "fogkeep: warning: the " << noun << " could not end the session ("
                << o.node_error->message() << "); it stays valid there until "
                << FormatLocalTime(o.credential.session_expires)
                << ", but its tokens are removed from this machine\n";
    }
    if (options->target.json) {
      PrintJson(boost::json::object{{noun, o.node},
                                    {"logged_out", o.was_cached},
                                    {"ended_on_" + noun, o.was_cached && !o.node_error}});
      return;
    }
    if (!o.was_cached) {
      std::cout << (o.node.empty() ? "not logged in to any " + noun : "not logged in to " + o.node)
                << "; nothing to do\n";
    } else if (o.node_error) {
      std::cout << "logged out of " << o.node << " on this machine only\n";
    } else if (o.already_ended) {
      std::cout << "logged out of " << o.node << " (the session had already ended there)\n";
    } else {
      std::cout << "logged out of " << o.node << "\n";
    }
  });
}

void AddLoginCommands(CLI::App& app) { AddLoginCommands(app, ServerKind::kNode); }

}  // namespace fogkeep::cli
