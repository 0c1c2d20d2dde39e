// fogkeep login / logout.
#include "cli/login.h"

#include <string.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/cli.h"
#include "cli/oauth_login.h"
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

}  // namespace

Result<std::string> LoginCa(const NodeTarget& target, const std::string& url) {
  if (!target.ca.empty()) {
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(target.ca, ec);
    if (ec) return Fail(ErrorCode::kInvalidInput, target.ca + ": " + ec.message());
    return absolute.lexically_normal().string();
  }
  if (target.insecure) return std::string();
  const CredentialCache cache = FK_TRY(CredentialCache::Default());
  const std::optional<Credential> earlier = FK_TRY(cache.Find(url));
  return earlier && earlier->server == target.server ? earlier->ca : std::string();
}

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
    if (login->oauth) {
      return RevokeOAuthLogin(*login, target.ca.empty() ? login->ca : target.ca, target.insecure);
    }
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
        .login = "Log in to the fleet's director with a password and cache the session's tokens",
        .login_footer =
            "Logs in as a user of the director (`fogkeep-director user add`, or RADIUS or PAM "
            "as the director is configured) and caches the session's tokens in " +
            cache_where +
            ", so that later `fogkeep fleet` commands need no --token, nor --director while "
            "you are logged in to one director only. The access token is refreshed as needed "
            "until the session ends; --ca is remembered for the director. The password is "
            "prompted for without echo, or read from stdin with --password-stdin; it never "
            "goes on the command line. To sign in on the director's own pages instead (OAuth: "
            "the password never reaches this command), use `fogkeep login --director`.\n\n"
            "  fogkeep fleet login --director https://fleet.example:9443 --user alice --ca "
            "ca.crt\n"
            "  fogkeep fleet devices\n"
            "  fogkeep fleet logout",
        .logout = "End a login to the director (password or OAuth)",
        .logout_footer =
            "Ends the session on the director (an OAuth login's: revokes its refresh token, "
            "and with it every token of the login) and removes its tokens from " +
            cache_where +
            ". Without --director: the only director logged in to. The tokens are removed even "
            "when the director cannot be reached; a warning then says that the session stays "
            "valid on the director until it expires.",
    };
  }
  return LoginHelp{
      .login =
          "Log in to a node (password) or to the fleet's director (OAuth) and cache the tokens",
      .login_footer =
          "With --node: logs in as a user of the node (local, RADIUS or PAM, as the node is "
          "configured) and caches the session's tokens in " +
          cache_where +
          ", so that later commands given --node need no --token. The access token is "
          "refreshed as needed until the session ends; --ca is remembered for the node. The "
          "password is prompted for without echo, or read from stdin with --password-stdin; it "
          "never goes on the command line.\n\n"
          "With --director: logs in to the fleet's director with OAuth 2.0, as its client "
          "fogkeep-cli; you sign in and approve on the director's own pages, so your password "
          "never reaches this command. By default (the device grant, for a terminal without a "
          "browser): fogkeep prints a page and a code (on stderr); open the page in any "
          "browser, on any machine, enter the code, sign in and approve; fogkeep waits until "
          "you do (or deny, or the code expires). With --browser (a browser on this machine): "
          "fogkeep prints a URL (and opens it with xdg-open when it can), you sign in and "
          "approve, and the director sends the browser back to fogkeep on 127.0.0.1. Either "
          "way the director's tokens land in the cache, later `fogkeep fleet` commands use them "
          "and refresh them as needed, and the director's OAuth issuer must be the --director "
          "URL. --scope narrows what the tokens may do (e.g. \"devices.read catalog.read\"); "
          "they never exceed your role.\n\n"
          "  fogkeep login --node https://gw1:8443 --user alice --ca node.pem\n"
          "  fogkeep app list --node https://gw1:8443\n"
          "  fogkeep logout\n\n"
          "  fogkeep login --director https://fleet.example:9443 --ca ca.crt\n"
          "  fogkeep login --director https://fleet.example:9443 --browser --scope devices.read\n"
          "  fogkeep fleet devices\n"
          "  fogkeep logout --director https://fleet.example:9443",
      .logout = "End a login made by `fogkeep login`",
      .logout_footer =
          "Ends the session on the node and removes its tokens from " + cache_where +
          ". Without --node: the only node logged in to. With --director: revokes the OAuth "
          "login to the director (its refresh token, and with it every token of the login) and "
          "removes it. The tokens are removed even when the server cannot be reached; a warning "
          "then says that they stay valid there until they expire.",
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

// The arguments of one `login` or `logout` (one command runs per process).
struct LoginArgs {
  NodeTarget target;
  std::string user;
  bool password_stdin = false;
  // The root command's OAuth login to the director.
  std::string director;
  bool browser = false;
  std::string scope;
};

// Whether --node was given on the command line: a FOGKEEP_NODE exported for the node commands
// does not stand in the way of --director.
bool NodeTyped(const NodeTarget& target) {
  const char* exported = std::getenv("FOGKEEP_NODE");
  return !target.node.empty() && (exported == nullptr || target.node != exported);
}

// The director `--director` names, with the login's --ca, --insecure-skip-verify and --json.
NodeTarget DirectorTarget(const LoginArgs& args) {
  NodeTarget target = args.target;
  target.node = args.director;
  target.server = ServerKind::kDirector;
  return target;
}

void RunPasswordLogin(const LoginArgs& args) {
  if (!args.password_stdin && !::isatty(STDIN_FILENO)) {
    ReportError(Error(ErrorCode::kInvalidInput,
                      "stdin is not a terminal: pass --password-stdin to read the password "
                      "from it"));
    return;
  }
  Result<std::string> password = ReadSecret("Password: ");
  if (!password) return ReportError(password.error().With("password"));
  Result<LoginOutcome> outcome = LogIn(args.target, args.user, *password);
  ::explicit_bzero(password->data(), password->size());
  if (!outcome) return ReportError(outcome.error());
  if (args.target.json) {
    PrintJson(api::ToJson(outcome->session));
    return;
  }
  const Credential& c = outcome->credential;
  std::cout << "logged in to " << c.node << " as " << c.user << " (role "
            << (c.role.empty() ? "unknown" : c.role) << "); session expires at "
            << FormatLocalTime(c.session_expires) << "\n";
}

void RunOAuthLogin(const LoginArgs& args) {
  if (NodeTyped(args.target)) {
    return ReportUsageError("login", "--node and --director exclude each other");
  }
  if (!args.user.empty() || args.password_stdin) {
    return ReportUsageError(
        "login",
        "--director logs in on the director's own pages (OAuth), without --user or "
        "--password-stdin; for a password login to the director, use `fogkeep fleet login`");
  }
  OAuthLoginRequest request{
      .target = DirectorTarget(args), .browser = args.browser, .scope = args.scope};
  Result<OAuthLoginOutcome> outcome = OAuthLogIn(request, std::cerr);
  if (!outcome) return ReportError(outcome.error());
  const Credential& c = outcome->credential;
  if (args.target.json) {
    PrintJson(boost::json::object{
        {"director", c.node},
        {"user", c.user},
        {"role", c.role},
        {"scope", outcome->scope},
        {"client_id", c.oauth->client_id},
        {"access_expires",
         std::chrono::duration_cast<std::chrono::seconds>(c.access_expires.time_since_epoch())
             .count()}});
    return;
  }
  std::cout << "logged in to " << c.node << " as " << Printable(c.user) << " (role "
            << (c.role.empty() ? "unknown" : Printable(c.role))
            << ") through OAuth\nscope: " << Printable(outcome->scope) << "\n";
}

void RunLogout(const NodeTarget& target) {
  const std::string noun(TraitsOf(target.server).noun);
  Result<LogoutOutcome> outcome = LogOut(target);
  if (!outcome) return ReportError(outcome.error());
  const LogoutOutcome& o = *outcome;
  if (o.node_error) {
    std::cerr << "fogkeep: warning: the " << noun << " could not end the login ("
              << Printable(o.node_error->message()) << "); "
              << (o.credential.oauth ? std::string("its tokens stay valid there until they expire")
                                     : "it stays valid there until " +
                                           FormatLocalTime(o.credential.session_expires))
              << ", but they are removed from this machine\n";
  }
  if (target.json) {
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
}

}  // namespace

void AddLoginCommands(CLI::App& parent, ServerKind kind) {
  auto args = std::make_shared<LoginArgs>();
  const ServerTraits& traits = TraitsOf(kind);
  const std::string noun(traits.noun);
  const LoginHelp help = HelpFor(kind);
  const bool oauth = kind == ServerKind::kNode;  // the root command also logs in to directors

  auto* login = parent.add_subcommand("login", help.login);
  login->footer(help.login_footer);
  AddLoginTargetOptions(*login, &args->target, kind);
  CLI::Option* url = login->get_option(std::string(traits.url_option));
  url->description(std::string(kind == ServerKind::kDirector ? "The director" : "Remote node") +
                   ", https://host:" + std::to_string(traits.default_port));
  CLI::Option* user = login->add_option("--user,-u", args->user, "User name on the " + noun);
  login->add_flag("--password-stdin", args->password_stdin,
                  "Read the password from the first line of stdin instead of prompting");
  if (oauth) {
    login->add_option("--director", args->director,
                      "Log in to the fleet's director instead, https://host:9443, with OAuth "
                      "(no --user: you sign in on the director's pages)");
    login->add_flag("--browser", args->browser,
                    "With --director: sign in with a browser on this machine (authorization code "
                    "+ PKCE, redirected to 127.0.0.1) instead of entering a code on the "
                    "director's page (device grant)");
    login->add_option("--scope", args->scope,
                      "With --director: the permissions to ask for, space-separated, e.g. "
                      "\"devices.read catalog.read\" (default: all your role holds)");
    login->get_option("--ca")->description(
        "The node's certificate (data-dir/tls/node.pem) or its CA; with --director, the fleet "
        "CA (the director's data-dir/ca/ca.crt). PEM; default: the one given to the last login "
        "to the server");
  } else {
    url->required();
    user->required();
  }
  login->callback([args] {
    if (!args->director.empty()) return RunOAuthLogin(*args);
    if (args->browser || !args->scope.empty()) {
      return ReportUsageError("login", "--browser and --scope go with --director");
    }
    if (args->target.node.empty()) {
      return ReportUsageError("login",
                              "--node (a node) or --director (the fleet's director) is required");
    }
    if (args->user.empty()) return ReportUsageError("login", "--user is required with --node");
    RunPasswordLogin(*args);
  });

  auto* logout = parent.add_subcommand("logout", help.logout);
  logout->footer(help.logout_footer);
  AddLoginTargetOptions(*logout, &args->target, kind);
  if (oauth) {
    logout->add_option("--director", args->director,
                       "End the login to this director instead, https://host:9443");
  }
  logout->callback([args] {
    if (args->director.empty()) return RunLogout(args->target);
    if (NodeTyped(args->target)) {
      return ReportUsageError("logout", "--node and --director exclude each other");
    }
    RunLogout(DirectorTarget(*args));
  });
}

void AddLoginCommands(CLI::App& app) { AddLoginCommands(app, ServerKind::kNode); }

}  // namespace fogkeep::cli
