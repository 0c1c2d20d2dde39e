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

#include "access/admin_commands.h"
#include "access/audit_api.h"
#include "access/auth_token.h"
#include "access/login_stack.h"
#include "access/oauth_bearer.h"
#include "audit/log.h"
#include "auth/roles.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/process.h"
#include "core/secret_input.h"
#include "core/yaml.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "net/server.h"
#include "node/alerts/routes.h"
#include "node/apps.h"
#include "node/director_link.h"
#include "node/routes.h"
#include "node/sss/app_sockets.h"

namespace fogkeep::node {
namespace {

constexpr std::string_view kVersion = "0.1.0";
// Keeps 200000 + (slot + apps) * 65536 well inside the 32-bit uid space.
constexpr std::uint32_t kMaxFirstSlot = 60000;

std::string AddrFile(const std::string& data_dir) { return data_dir + "/fogkeepd.addr"; }
std::string AuditFile(const std::string& data_dir) { return data_dir + "/audit.log"; }
std::string AlertsFile(const std::string& data_dir) { return data_dir + "/alerts.db"; }

bool Disabled(const std::string& value) { return value.empty() || value == "none"; }

int Failed(const Error& error) { return process::ReportFailure("fogkeepd", error); }

// Apps' own OAuth clients, in their secure storage; every access passes the app's gate, so
// nothing is written for an app being removed.
class SecureStorageClientVault : public AppClientVault {
 public:
  explicit SecureStorageClientVault(std::shared_ptr<sss::StorageServices> storage)
      : storage_(std::move(storage)) {}

  Result<bool> Holds(const std::string& app) override {
    sss::AppGate::Pass pass = FK_TRY(storage_->gate.Enter(app, std::nullopt, 0));
    Result<std::string> held =
        storage_->store->Get(app, sss::RecordKind::kObject, api::kAppOAuthClientObject);
    if (held) return true;
    if (held.error().code() == ErrorCode::kNotFound) return false;
    return std::unexpected(std::move(held).error());
  }

  Status Keep(const std::string& app, const std::string& client_json) override {
    sss::AppGate::Pass pass = FK_TRY(storage_->gate.Enter(app, std::nullopt, 0));
    FK_TRY(storage_->store->Put(app, sss::RecordKind::kObject, api::kAppOAuthClientObject,
                                client_json));
    return {};
  }

 private:
  const std::shared_ptr<sss::StorageServices> storage_;
};

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
}  // namespace

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
    if (key == "director") {
      config.director = FK_TRY_CTX(ParseDirectorSettings(value, config.director), path);
      continue;
    }
    if (key == "network-monitor") {
      config.network_monitor =
          FK_TRY_CTX(ParseMonitorPortSettings(value, config.network_monitor), path);
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
  const sigset_t stop_signals = process::BlockStopSignals();

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
  apps_config.network_monitor = config.network_monitor;
  Result<std::shared_ptr<NetworkProvider>> network =
      MakeNetworkProvider(config.network, config.data_dir);
  if (!network) return Failed(network.error());
  apps_config.network = std::move(*network);
  // Security alerts from the apps (their sockets) and a host sensor (the node API), kept in
  // data-dir/alerts.db until the director holds them.
  Result<std::unique_ptr<alerts::AlertStore>> alert_store =
      alerts::OpenSqliteAlertStore(AlertsFile(config.data_dir));
  if (!alert_store) return Failed(alert_store.error());
  auto alert_intake = std::make_shared<alerts::AlertIntake>(
      std::shared_ptr<alerts::AlertStore>(std::move(*alert_store)));
  // The apps' secure storage: its store, and a socket per app mounted into its container,
  // which also takes the app's alerts.
  std::shared_ptr<sss::StorageServices> storage;
  std::shared_ptr<sss::AppSockets> app_sockets;
  if (config.sss.enabled) {
    Result<std::shared_ptr<sss::StorageServices>> opened_storage =
        sss::OpenStorage(config.sss, config.data_dir);
    if (!opened_storage) return Failed(opened_storage.error());
    storage = std::move(*opened_storage);
    Result<std::unique_ptr<sss::AppSockets>> sockets = sss::AppSockets::Start(
        sss::SocketsRoot(config.data_dir), storage, {}, [alert_intake](net::Router& router) {
          return alerts::RegisterAppAlertRoute(router, alert_intake, sss::kAppSocketPermission);
        });
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

  // Logins: the configured back-ends, the throttle, and sessions that outlive a restart.
  Result<access::LoginStack> logins =
      access::OpenLoginStack(config.auth, config.data_dir, *audit_log, "fogkeepd");
  if (!logins) return Failed(logins.error());

  NodeServices services{
      .apps = apps, .audit = audit_log, .storage = storage, .alerts = alert_intake};
  services.api.max_upload_bytes = config.max_upload_mb << 20;
  services.api.version = std::string(kVersion);
  services.login = logins->login;
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
  // The director's OAuth access tokens for this node, beside sessions and API tokens.
  Result<std::unique_ptr<OAuthTrust>> trust_opened =
      OAuthTrust::Open(OAuthTrustFile(config.data_dir));
  if (!trust_opened) return Failed(trust_opened.error());
  std::shared_ptr<OAuthTrust> oauth_trust = std::move(*trust_opened);
  auto authenticator = std::make_shared<access::AccessTokenAuthenticator>(
      [oauth_trust](std::string_view token) { return oauth_trust->Validate(token); },
      /*validation_blocks=*/false, logins->authenticator);
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

  // Once enrolled, the node reports to its director and follows its desired state.
  std::unique_ptr<DirectorLink> director;
  if (IsEnrolled(config.data_dir)) {
    DirectorLinkOptions link_options;
    link_options.key = config.director.key;
    link_options.oauth_trust = oauth_trust;
    if (storage) link_options.app_clients = std::make_shared<SecureStorageClientVault>(storage);
    Result<std::unique_ptr<DirectorLink>> linked =
        DirectorLink::Start(config.data_dir, apps, link_options, alert_intake->shared_store());
    if (!linked) return Failed(linked.error());
    director = std::move(*linked);
    std::cout << "fogkeepd: reporting to the director of " << config.data_dir << "/director\n";
    std::cout.flush();
  }
  process::ReturnFreeHeap();

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log::Info("{}: stopping (apps keep running)", strsignal(signal_number));
  if (director) director->Stop();
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
      "YAML config file: keys as the flags below, and the mappings network:, auth:, sss:,\n"
      "director: and network-monitor:");
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
  access::AdminCommands admin;
  admin.Register(app, "fogkeepd");
  EnrollOptions enroll_options;
  auto* enroll = app.add_subcommand(
      "enroll",
      "Enroll this node with a director: makes the node key (DATA-DIR/director/node.key;\n"
      "with `director: key: tpm` in --config, inside the TPM, node.key holding only its TSS2\n"
      "PEM), sends a CSR with a one-time token, and keeps the certificate the fleet CA issues.\n"
      "fogkeepd then reports to the director and follows its desired state over mutual TLS.");
  enroll->add_option("--director", enroll_options.director_url, "https://host:9443")->required();
  enroll->add_option("--token", enroll_options.token, "One-time enrollment token")
      ->envname("FOGKEEP_ENROLLMENT_TOKEN")
      ->required();
  enroll->add_option("--ca-fingerprint", enroll_options.ca_fingerprint,
                     "SHA-256 of the fleet CA certificate (printed by fogkeep-director)");
  enroll->add_option("--ca-file", enroll_options.ca_file, "The fleet CA certificate, PEM");
  enroll->add_option("--name", enroll_options.name, "Display name (default: the host name)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  Result<DaemonConfig> config = resolve();
  if (!config) return Failed(config.error());
  if (enroll->parsed()) {
    if (Status made = fs::MakeDirs(config->data_dir, 0711); !made) return Failed(made.error());
    enroll_options.key = config->director.key;
    Result<std::string> device = Enroll(config->data_dir, enroll_options);
    if (!device) return Failed(device.error());
    std::cout << "enrolled as device " << *device << "\n";
    return 0;
  }
  if (admin.parsed()) {
    if (Status done = admin.Run(config->data_dir, config->auth); !done) return Failed(done.error());
    return 0;
  }
  return Serve(*config);
}

}  // namespace fogkeep::node
