#include "node/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "access/audit_api.h"
#include "access/auth_api.h"
#include "access/auth_token.h"
#include "audit/log.h"
#include "auth/roles.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/secret_input.h"
#include "core/yaml.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "net/server.h"
#include "node/apps.h"
#include "node/routes.h"
#include "node/sss/app_sockets.h"

namespace fogkeep::node {
namespace {

constexpr std::string_view kVersion = "0.1.0";
// Keeps 200000 + (slot + apps) * 65536 well inside the 32-bit uid space.
constexpr std::uint32_t kMaxFirstSlot = 60000;

std::string TokensFile(const std::string& data_dir) { return data_dir + "/tokens"; }
std::string AddrFile(const std::string& data_dir) { return data_dir + "/fogkeepd.addr"; }
std::string AuditFile(const std::string& data_dir) { return data_dir + "/audit.log"; }

bool Disabled(const std::string& value) { return value.empty() || value == "none"; }

int Failed(const Error& error) {
  std::string line = error.message();
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "fogkeepd: " << line << "\n";
  return 1;
}

Result<std::uint64_t> ParseUnsigned(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Fail(
        ErrorCode::kInvalidInput,
        std::string(what) + " must be a non-negative integer, not \"" + std::string(text) + "\"");
  }
  return value;
}

Status CheckConfig(const DaemonConfig& c) {
  if (c.data_dir.empty()) return Fail(ErrorCode::kInvalidInput, "data-dir must not be empty");
  if (c.runtime != "runc" && c.runtime != "crun") {
    return Fail(ErrorCode::kInvalidInput, "runtime must be runc or crun, not " + c.runtime);
  }
  if (c.max_upload_mb == 0 || c.max_upload_mb > (1u << 20)) {
    return Fail(ErrorCode::kInvalidInput, "max-upload-mb must be between 1 and 1048576");
  }
  log::Level level;
  if (!log::ParseLevel(c.log_level, &level)) {
    return Fail(ErrorCode::kInvalidInput, "log-level must be debug, info, warn, error or off");
  }
  if (!Disabled(c.listen)) FK_TRY(ParseListenAddress(c.listen));
  if (c.cgroup_parent.size() < 2 || c.cgroup_parent.front() != '/' ||
      c.cgroup_parent.find("..") != std::string::npos) {
    return Fail(ErrorCode::kInvalidInput,
                "cgroup-parent must be an absolute cgroup path such as /fogkeep");
  }
  if (c.first_slot > kMaxFirstSlot) {
    return Fail(ErrorCode::kInvalidInput,
                "first-slot must be at most " + std::to_string(kMaxFirstSlot));
  }
  return {};
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards, so
// that only sigwait() below sees them.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// `fogkeepd user ...`: the local user store, and the sessions of a user who is removed or
// whose password or role changes (they would otherwise live on with the old credentials).
struct UserCommands {
  CLI::App* add = nullptr;
  CLI::App* passwd = nullptr;
  CLI::App* set_role = nullptr;
  CLI::App* del = nullptr;
  CLI::App* list = nullptr;
  std::string name;
  std::string role;
  bool password_stdin = false;
  bool json = false;

  void Register(CLI::App& app) {
    auto* user = app.add_subcommand(
        "user",
        "Manage local users (the `local` login back-end; the file auth.local.users-file,\n"
        "default DATA-DIR/users). Passwords are prompted for twice without echo, or read\n"
        "from the first line of stdin when it is not a terminal or with --password-stdin.");
    user->require_subcommand(1);
    const std::string roles = "admin, app-manager, network-manager or auditor";
    add = user->add_subcommand("add", "Add a user");
    add->add_option("name", name, "User name ([a-z0-9._-], at most 64)")->required();
    add->add_option("--role", role, roles)->required();
    passwd = user->add_subcommand("passwd", "Set a user's password; ends the user's sessions");
    passwd->add_option("name", name, "User name")->required();
    set_role = user->add_subcommand("set-role", "Change a user's role; ends the user's sessions");
    set_role->add_option("name", name, "User name")->required();
    set_role->add_option("--role", role, roles)->required();
    for (CLI::App* command : {add, passwd}) {
      command->add_flag("--password-stdin", password_stdin,
                        "Ask once (for scripts that pipe the password in)");
    }
    del = user->add_subcommand("del", "Remove a user; ends the user's sessions");
    del->add_option("name", name, "User name")->required();
    list = user->add_subcommand("list", "List users, their roles and hash costs");
    list->add_flag("--json", json, "JSON output");
  }

  bool parsed() const {
    return add->parsed() || passwd->parsed() || set_role->parsed() || del->parsed() ||
           list->parsed();
  }

  Status Run(const DaemonConfig& config) {
    FK_TRY(fs::MakeDirs(config.data_dir, 0711));
    auto users = FK_TRY(access::OpenLocalUsers(config.auth, config.data_dir));
    if (list->parsed()) return List(*users);
    if (add->parsed()) {
      FK_TRY(auth::ValidateUserName(name));
      if (!auth::IsKnownRole(role)) return Fail(ErrorCode::kInvalidInput, "unknown role " + role);
      const std::string password = FK_TRY(Password());
      FK_TRY(users->Add(name, role, password));
      std::cout << "added user " << name << " (" << role << ")\n";
      return {};
    }
    if (passwd->parsed()) {
      const std::string password = FK_TRY(Password());
      FK_TRY(users->SetPassword(name, password));
      return EndSessions(config, "password of " + name + " changed");
    }
    if (set_role->parsed()) {
      FK_TRY(users->SetRole(name, role));
      return EndSessions(config, name + " is now " + role);
    }
    FK_TRY(users->Remove(name));
    return EndSessions(config, "removed user " + name);
  }

 private:
  // From the terminal without echo, twice; or stdin's first line (core/secret_input.h).
  Result<std::string> Password() const {
    return ReadSecret("Password for " + name + ": ", /*confirm=*/!password_stdin);
  }

  Status EndSessions(const DaemonConfig& config, const std::string& done) const {
    auto sessions = FK_TRY(
        auth::SessionStore::Open(access::SessionsFile(config.data_dir), config.auth.sessions));
    const int ended = FK_TRY(sessions->RevokeUser(name));
    std::cout << done << "; " << ended << " session(s) ended\n";
    return {};
  }

  Status List(auth::LocalUserStore& users) const {
    const auto all = FK_TRY(users.List());
    if (json) {
      boost::json::array out;
      for (const auto& u : all) {
        out.push_back(
            boost::json::object{{"name", u.name},
                                {"role", u.role},
                                {"argon2", boost::json::object{{"memory_kib", u.argon2.memory_kib},
                                                               {"iterations", u.argon2.passes},
                                                               {"parallelism", u.argon2.lanes}}}});
      }
      std::cout << boost::json::serialize(out) << "\n";
      return {};
    }
    std::printf("%-24s %-16s %s\n", "NAME", "ROLE", "ARGON2ID (m KiB, t, p)");
    for (const auto& u : all) {
      std::printf("%-24s %-16s %u, %u, %u\n", u.name.c_str(), u.role.c_str(), u.argon2.memory_kib,
                  u.argon2.passes, u.argon2.lanes);
    }
    return {};
  }
};

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Fail(ErrorCode::kInvalidInput,
                "listen address must be host:port, not \"" + std::string(text) + "\"");
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::uint64_t port = FK_TRY(ParseUnsigned(text.substr(colon + 1), "listen port"));
  if (port > 65535) return Fail(ErrorCode::kInvalidInput, "listen port must be at most 65535");
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(port)};
}

Result<DaemonConfig> ApplyConfigFile(const std::string& path, DaemonConfig config) {
  const std::string text = FK_TRY_CTX(fs::ReadFile(path, 1 << 20), path);
  const yaml::Node root = FK_TRY_CTX(yaml::Parse(text), path);
  if (root.IsNull()) return config;
  if (!root.IsMap()) return Fail(ErrorCode::kInvalidInput, path + ": must be a mapping");
  for (const auto& [key, value] : root.entries()) {
    const std::string where = path + ":" + std::to_string(value.line()) + ": " + key;
    if (key == "network") {  // the mappings among the keys
      config.network = FK_TRY_CTX(ParseNetworkSettings(value, config.network), path);
      continue;
    }
    if (key == "auth") {
      config.auth = FK_TRY_CTX(access::ParseAuthSettings(value, config.auth), path);
      continue;
    }
    if (key == "sss") {
      config.sss = FK_TRY_CTX(sss::ParseStorageSettings(value, config.sss), path);
      continue;
    }
    if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
    const std::string& v = value.scalar();
    if (key == "data-dir") {
      config.data_dir = v;
    } else if (key == "listen") {
      config.listen = v;
    } else if (key == "socket") {
      config.socket = v;
    } else if (key == "runtime") {
      config.runtime = v;
    } else if (key == "shim") {
      config.shim = v;
    } else if (key == "max-upload-mb") {
      config.max_upload_mb = FK_TRY_CTX(ParseUnsigned(v, "max-upload-mb"), where);
    } else if (key == "log-level") {
      config.log_level = v;
    } else if (key == "cgroup-parent") {
      config.cgroup_parent = v;
    } else if (key == "first-slot") {
      const std::uint64_t slot = FK_TRY_CTX(ParseUnsigned(v, "first-slot"), where);
      if (slot > kMaxFirstSlot) {
        return Fail(ErrorCode::kInvalidInput,
                    where + " must be at most " + std::to_string(kMaxFirstSlot));
      }
      config.first_slot = static_cast<std::uint32_t>(slot);
    } else {
      return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    }
  }
  return config;
}

Result<crypto::TlsIdentity> EnsureNodeIdentity(const std::string& data_dir) {
  const std::string dir = data_dir + "/tls";
  const std::string key_path = dir + "/node.key";
  const std::string cert_path = dir + "/node.pem";
  if (::access(key_path.c_str(), F_OK) == 0 && ::access(cert_path.c_str(), F_OK) == 0) {
    crypto::PrivateKey key = FK_TRY_CTX(crypto::PrivateKey::Load(key_path), key_path);
    auto chain =
        FK_TRY_CTX(crypto::Certificate::BundleFromPem(FK_TRY(fs::ReadFile(cert_path))), cert_path);
    return crypto::TlsIdentity{std::move(key), std::move(chain)};
  }
  FK_TRY(fs::MakeDirs(dir, 0700));
  crypto::PrivateKey key = FK_TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  crypto::IssueOptions options;
  const std::string host = HostName();
  options.common_name = host.empty() ? "fogkeep node" : host;
  options.lifetime = std::chrono::hours(24 * 825);
  options.extended_key_usages = {crypto::ExtendedKeyUsage::kServerAuth};
  options.ip_addresses = {"127.0.0.1", "::1"};
  options.dns_names = {"localhost"};
  if (!host.empty() && host != "localhost") options.dns_names.push_back(host);
  crypto::Certificate cert = FK_TRY_CTX(
      crypto::IssueCertificate(key.Public(), options, nullptr, key), "issue node certificate");
  // The key first: a certificate without its key would be taken as complete next time.
  FK_TRY_CTX(key.Save(key_path), key_path);
  FK_TRY_CTX(fs::WriteFileAtomic(cert_path, cert.ToPem(), 0644), cert_path);
  log::Info("generated a self-signed node certificate in {}", cert_path);
  return crypto::TlsIdentity{std::move(key), {std::move(cert)}};
}

int Serve(const DaemonConfig& config) {
  if (Status ok = CheckConfig(config); !ok) return Failed(ok.error());
  // Blocks of 128 KiB and more (package extraction and decompression buffers) are mapped and
  // unmapped on their own. glibc would otherwise raise this threshold after the first large
  // free and serve later ones from its arenas, which keep the memory after an install ends.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config.log_level, &level);
  log::SetLevel(level);
  const sigset_t stop_signals = BlockStopSignals();

  if (Status made = fs::MakeDirs(config.data_dir, 0711); !made) {
    return Failed(made.error().With("data dir " + config.data_dir));
  }
  Result<crypto::TlsIdentity> identity = EnsureNodeIdentity(config.data_dir);
  if (!identity) return Failed(identity.error());

  AppsConfig apps_config;
  apps_config.data_dir = config.data_dir;
  apps_config.shim_binary = config.shim;
  apps_config.runtime = config.runtime;
  apps_config.cgroup_parent = config.cgroup_parent;
  apps_config.first_slot = config.first_slot;
  Result<std::shared_ptr<NetworkProvider>> network =
      MakeNetworkProvider(config.network, config.data_dir);
  if (!network) return Failed(network.error());
  apps_config.network = std::move(*network);
  // The apps' secure storage: its store, and a socket per app mounted into its container.
  std::shared_ptr<sss::StorageServices> storage;
  std::shared_ptr<sss::AppSockets> app_sockets;
  if (config.sss.enabled) {
    Result<std::shared_ptr<sss::StorageServices>> opened_storage =
        sss::OpenStorage(config.sss, config.data_dir);
    if (!opened_storage) return Failed(opened_storage.error());
    storage = std::move(*opened_storage);
    Result<std::unique_ptr<sss::AppSockets>> sockets =
        sss::AppSockets::Start(sss::SocketsRoot(config.data_dir), storage);
    if (!sockets) return Failed(sockets.error());
    app_sockets = std::move(*sockets);
    apps_config.endpoints = app_sockets;
  }
  Result<std::unique_ptr<Apps>> opened = Apps::Open(std::move(apps_config));
  if (!opened) return Failed(opened.error().With("open app service"));
  std::shared_ptr<AppService> apps = std::move(*opened);

  // Every state-changing call is recorded here before it is answered (audit/log.h).
  Result<std::unique_ptr<audit::AuditLog>> audit_opened =
      audit::AuditLog::Open(AuditFile(config.data_dir));
  if (!audit_opened) return Failed(audit_opened.error());
  std::shared_ptr<audit::AuditLog> audit_log = std::move(*audit_opened);
  for (const std::string& problem : audit_log->open_report().problems) {
    log::Warn("audit log {}: {}", audit_log->path(), problem);
  }

  // Settings weaker than the defaults are the administrator's choice, and on the record.
  for (const std::string& weaker : access::WeakerThanDefaults(config.auth)) {
    log::Warn("weaker than the default: {}", weaker);
    const audit::Event event{.actor = "fogkeepd",
                             .source = "local",
                             .action = "config.weaker",
                             .target = "auth",
                             .result = "accepted",
                             .detail = weaker};
    if (Result<audit::Record> appended = audit_log->Append(event); !appended) {
      return Failed(appended.error());
    }
  }

  // Logins: the configured back-ends, the throttle, and sessions that outlive a restart.
  Result<std::unique_ptr<auth::AuthChain>> chain =
      access::BuildAuthChain(config.auth, config.data_dir);
  if (!chain) return Failed(chain.error());
  Result<std::unique_ptr<auth::LoginThrottle>> throttle =
      auth::LoginThrottle::Create(config.auth.throttle);
  if (!throttle) return Failed(throttle.error());
  Result<std::unique_ptr<auth::SessionStore>> sessions_opened =
      auth::SessionStore::Open(access::SessionsFile(config.data_dir), config.auth.sessions);
  if (!sessions_opened) return Failed(sessions_opened.error());
  std::shared_ptr<auth::SessionStore> sessions = std::move(*sessions_opened);

  NodeServices services{.apps = apps, .audit = audit_log, .storage = storage};
  services.api.max_upload_bytes = config.max_upload_mb << 20;
  services.api.version = std::string(kVersion);
  services.login =
      std::make_shared<auth::LoginService>(std::move(*chain), std::move(*throttle), sessions);
  net::Router router;
  if (Status registered = RegisterNodeRoutes(router, services); !registered) {
    return Failed(registered.error());
  }

  net::ServerOptions options;
  options.io_threads = 1;
  options.limits.worker_threads = 4;  // started on demand: idle costs nothing
  options.audit = access::MakeAuditSink(audit_log);
  std::optional<ListenAddress> listen;
  if (!Disabled(config.listen)) {
    listen = *ParseListenAddress(config.listen);
    options.tcp = net::TcpListenerOptions{
        .address = listen->host, .port = listen->port, .tls = {.identity = *identity}};
  }
  if (!Disabled(config.socket)) {
    const std::string parent = std::filesystem::path(config.socket).parent_path().string();
    if (!parent.empty()) {
      if (Status made = fs::MakeDirs(parent, 0755); !made) return Failed(made.error());
    }
    options.unix_socket = net::UnixListenerOptions{.path = config.socket};
  }
  if (!options.tcp && !options.unix_socket) {
    return Failed(Error(ErrorCode::kInvalidInput, "neither --listen nor --socket is enabled"));
  }
  auto authenticator = std::make_shared<access::SessionAuthenticator>(
      sessions, std::make_shared<access::TokenAuthenticator>(TokensFile(config.data_dir)));
  Result<std::unique_ptr<net::Server>> server =
      net::Server::Create(std::move(options), std::move(router), authenticator,
                          std::make_shared<access::RoleAuthorizer>());
  if (!server) return Failed(server.error());
  if (Status started = (*server)->Start(); !started) return Failed(started.error());

  std::string address;
  if (listen) {
    const bool v6 = listen->host.find(':') != std::string::npos;
    address = "https://" + (v6 ? "[" + listen->host + "]" : listen->host) + ":" +
              std::to_string((*server)->tcp_port());
    std::cout << "fogkeepd: listening on " << address << "\n";
    std::cout << "fogkeepd: node certificate sha256 " << identity->chain.front().Fingerprint()
              << " (" << config.data_dir << "/tls/node.pem)\n";
  }
  if (!Disabled(config.socket)) std::cout << "fogkeepd: local socket " << config.socket << "\n";
  std::cout.flush();
  if (!address.empty()) {
    if (Status written = fs::WriteFileAtomic(AddrFile(config.data_dir), address + "\n", 0644);
        !written) {
      log::Warn("cannot write {}: {}", AddrFile(config.data_dir), written.error().message());
    }
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log::Info("{}: stopping (apps keep running)", strsignal(signal_number));
  (*server)->Stop();
  server->reset();
  apps.reset();
  app_sockets.reset();
  unlink(AddrFile(config.data_dir).c_str());
  return 0;
}

int DaemonMain(int argc, char** argv) {
  CLI::App app{
      "fogkeepd: the fogkeep node agent. Serves the node API over HTTPS and a root-only Unix\n"
      "socket, and runs signed apps in isolated OCI containers under fogkeep-shim. Each app\n"
      "gets its own Secure Storage socket at /run/fogkeep/sss.sock in its container.\n",
      "fogkeepd"};
  app.set_version_flag("--version", "fogkeepd " + std::string(kVersion));
  // Subcommands (created below) inherit this: `fogkeepd token create --data-dir D` works.
  app.fallthrough();
  std::string config_path;
  DaemonConfig flags;
  app.add_option(
      "--config", config_path,
      "YAML config file: keys as the flags below, and the mappings network:, auth: and sss:");
  auto* data_dir =
      app.add_option("--data-dir", flags.data_dir, "State directory")->capture_default_str();
  auto* listen =
      app.add_option("--listen", flags.listen, "HTTPS listen address host:port (port 0: any)")
          ->capture_default_str();
  auto* socket =
      app.add_option("--socket", flags.socket, "Root-only Unix socket path")->capture_default_str();
  auto* runtime = app.add_option("--runtime", flags.runtime, "OCI runtime: runc or crun")
                      ->capture_default_str();
  auto* shim =
      app.add_option("--shim", flags.shim, "fogkeep-shim binary (default: next to fogkeepd)");
  auto* max_upload =
      app.add_option("--max-upload-mb", flags.max_upload_mb, "Largest package upload, MiB")
          ->capture_default_str();
  auto* log_level =
      app.add_option("--log-level", flags.log_level, "debug, info, warn, error or off")
          ->capture_default_str();
  auto* cgroup_parent =
      app.add_option("--cgroup-parent", flags.cgroup_parent, "Parent cgroup of the apps' cgroups")
          ->capture_default_str();
  auto* first_slot = app.add_option("--first-slot", flags.first_slot,
                                    "First uid slot (host uid 200000 + slot * 65536); nodes "
                                    "sharing a host need disjoint ranges")
                         ->capture_default_str();

  // Flags > file > defaults: the file overlays the defaults, then flags given explicitly win.
  auto resolve = [&]() -> Result<DaemonConfig> {
    DaemonConfig config;
    if (!config_path.empty()) config = FK_TRY(ApplyConfigFile(config_path, config));
    if (data_dir->count() > 0) config.data_dir = flags.data_dir;
    if (listen->count() > 0) config.listen = flags.listen;
    if (socket->count() > 0) config.socket = flags.socket;
    if (runtime->count() > 0) config.runtime = flags.runtime;
    if (shim->count() > 0) config.shim = flags.shim;
    if (max_upload->count() > 0) config.max_upload_mb = flags.max_upload_mb;
    if (log_level->count() > 0) config.log_level = flags.log_level;
    if (cgroup_parent->count() > 0) config.cgroup_parent = flags.cgroup_parent;
    if (first_slot->count() > 0) config.first_slot = flags.first_slot;
    return config;
  };

  app.add_subcommand("serve", "Serve the node API (the default)");
  auto* token = app.add_subcommand("token", "Manage API bearer tokens")->require_subcommand(1);
  auto* create = token->add_subcommand("create", "Create a token; prints it once");
  std::string role;
  create->add_option("--role", role, "admin, app-manager, network-manager or auditor")->required();

  UserCommands users;
  users.Register(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  Result<DaemonConfig> config = resolve();
  if (!config) return Failed(config.error());
  if (create->parsed()) {
    if (Status made = fs::MakeDirs(config->data_dir, 0711); !made) return Failed(made.error());
    Result<std::string> created = access::CreateToken(TokensFile(config->data_dir), role);
    if (!created) return Failed(created.error());
    std::cout << *created << "\n";
    std::cerr << "fogkeepd: token for role " << role
              << " created; it is shown only now (only its SHA-256 is stored)\n";
    return 0;
  }
  if (users.parsed()) {
    if (Status done = users.Run(*config); !done) return Failed(done.error());
    return 0;
  }
  return Serve(*config);
}

}  // namespace fogkeep::node
