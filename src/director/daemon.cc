#include "director/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "access/admin_commands.h"
#include "access/audit_api.h"
#include "access/login_stack.h"
#include "access/oauth_bearer.h"
#include "auth/roles.h"
#include "core/duration.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/process.h"
#include "core/yaml.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "director/ca.h"
#include "director/catalog.h"
#include "director/device_auth.h"
#include "director/enrollment.h"
#include "director/generation_watch.h"
#include "director/oauth_server.h"
#include "director/oauth_store.h"
#include "director/rollout.h"
#include "director/routes.h"
#include "director/sql_db.h"
#include "director/store.h"
#include "net/server.h"

namespace fogkeep::director {
namespace {

constexpr std::string_view kVersion = "0.1.0";

std::string CaDir(const DirectorConfig& c) {
  return c.ca_dir.empty() ? c.data_dir + "/ca" : c.ca_dir;
}
std::string AddrFile(const DirectorConfig& c) { return c.data_dir + "/director.addr"; }

int Failed(const Error& error) { return process::ReportFailure("fogkeep-director", error); }

Result<std::int64_t> ParsePositive(std::string_view text, std::string_view what) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value <= 0) {
    return Fail(ErrorCode::kInvalidInput, std::string(what) + " must be a positive integer");
  }
  return value;
}

Result<std::vector<std::string>> ScalarList(const yaml::Node& node, std::string_view what) {
  if (!node.IsSequence()) {
    return Fail(ErrorCode::kInvalidInput, std::string(what) + " must be a list");
  }
  std::vector<std::string> out;
  for (const yaml::Node& item : node.items()) {
    if (!item.IsScalar()) {
      return Fail(ErrorCode::kInvalidInput, std::string(what) + " must be a list of strings");
    }
    out.push_back(item.scalar());
  }
  return out;
}

Status CheckConfig(const DirectorConfig& c) {
  if (c.data_dir.empty()) return Fail(ErrorCode::kInvalidInput, "data-dir must not be empty");
  FK_TRY(net::ParseListenAddress(c.listen));
  if (c.store != "sqlite" && c.store != "postgres") {
    return Fail(ErrorCode::kInvalidInput, "store must be sqlite or postgres, not " + c.store);
  }
  if (c.store == "postgres" && c.postgres.empty()) {
    return Fail(ErrorCode::kInvalidInput, "store postgres needs postgres: <libpq conninfo>");
  }
  if (c.node_certificate_lifetime < std::chrono::minutes(1) ||
      c.node_certificate_lifetime > std::chrono::days(30)) {
    return Fail(ErrorCode::kInvalidInput, "node-certificate-lifetime must be 60s to 30d");
  }
  if (c.max_poll_seconds <= 0 || c.max_poll_seconds > 300) {
    return Fail(ErrorCode::kInvalidInput, "max-poll-seconds must be 1 to 300");
  }
  if (!c.oauth_issuer.empty()) {
    FK_TRY_CTX(ValidateOAuthServerOptions(OAuthServerOptions{.issuer = c.oauth_issuer}),
               "oauth-issuer");
  }
  log::Level level;
  if (!log::ParseLevel(c.log_level, &level)) {
    return Fail(ErrorCode::kInvalidInput, "log-level must be debug, info, warn, error or off");
  }
  return {};
}

// The fleet CA of `dir`, made on first start.
Result<std::shared_ptr<FleetCa>> EnsureCa(const DirectorConfig& c) {
  Result<FleetCa> loaded = FleetCa::Load(CaDir(c));
  if (!loaded && loaded.error().code() == ErrorCode::kNotFound) {
    log::Info("creating the fleet CA \"{}\" in {}", c.fleet_name, CaDir(c));
    loaded = FleetCa::Create(CaDir(c), c.fleet_name);
  }
  if (!loaded) return std::unexpected(loaded.error().With("fleet CA in " + CaDir(c)));
  return std::make_shared<FleetCa>(std::move(*loaded));
}

// The director's HTTPS identity, issued by its own fleet CA on first start (the key written
// 0600 before the certificate), so a node that trusts the CA from enrollment trusts the
// director too.
Result<crypto::TlsIdentity> EnsureServerIdentity(const DirectorConfig& c, const FleetCa& ca) {
  const std::string dir = c.data_dir + "/tls";
  const std::string key_path = dir + "/director.key";
  const std::string cert_path = dir + "/director.pem";
  if (::access(key_path.c_str(), F_OK) == 0 && ::access(cert_path.c_str(), F_OK) == 0) {
    crypto::PrivateKey key = FK_TRY_CTX(crypto::PrivateKey::Load(key_path), key_path);
    auto chain =
        FK_TRY_CTX(crypto::Certificate::BundleFromPem(FK_TRY(fs::ReadFile(cert_path))), cert_path);
    return crypto::TlsIdentity{std::move(key), std::move(chain)};
  }
  FK_TRY(fs::MakeDirs(dir, 0700));
  crypto::PrivateKey key = FK_TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  FK_TRY(key.Save(key_path));
  crypto::Certificate cert = FK_TRY(ca.IssueServerCertificate(
      key.Public(), c.dns_names, c.ip_addresses, FleetCa::kMaxServerLifetime));
  FK_TRY(fs::WriteFileAtomic(cert_path, cert.ToPem() + ca.certificate().ToPem(), 0644));
  return crypto::TlsIdentity{std::move(key), {cert, ca.certificate()}};
}

// The PostgreSQL pool of one director.
constexpr int kPostgresConnections = 4;

// The fleet's and the authorization server's state, on one database.
struct Stores {
  std::shared_ptr<FleetStore> fleet;
  std::shared_ptr<OAuthStore> oauth;
};

// The SQLite store's database file (store: sqlite).
std::string SqliteStoreFile(const DirectorConfig& c) { return c.data_dir + "/fleet.db"; }

Result<Stores> OpenStores(const DirectorConfig& c) {
  std::shared_ptr<SqlDb> db;
  if (c.store == "postgres") {
    db = FK_TRY_CTX(OpenPostgresDb(c.postgres, kPostgresConnections), "open director store");
  } else {
    db = FK_TRY_CTX(OpenSqliteDb(SqliteStoreFile(c)), "open director store");
  }
  // Not inside the aggregate: an early return from its initializer would leak what it built.
  std::shared_ptr<FleetStore> fleet = FK_TRY(OpenFleetStore(db));
  std::shared_ptr<OAuthStore> oauth = FK_TRY(OpenOAuthStore(db));
  return Stores{std::move(fleet), std::move(oauth)};
}

// For `user del|passwd|set-role` (access/admin_commands.h): revokes every OAuth grant of
// `user`, which ends the refresh tokens of its families and, through their `sid`, the access
// tokens issued from them. Runs whether the director runs or not: SQLite queues the write on
// the file lock (WAL), PostgreSQL serialises it with the replicas' transactions.
Result<std::int64_t> RevokeOAuthGrants(const DirectorConfig& c, const std::string& user) {
  // A director that never started has granted nothing; do not create its database here.
  if (c.store == "sqlite" && ::access(SqliteStoreFile(c).c_str(), F_OK) != 0 && errno == ENOENT) {
    return 0;
  }
  const Stores stores = FK_TRY(OpenStores(c));
  return stores.oauth->RevokeFamiliesOfUser(user, SystemNow());
}

// The public client `fogkeep login --director` uses: the device grant, or a code with PKCE
// through a loopback redirect on any port; any scope (tokens carry only what the user's role
// holds). Registered on first start; an admin may change or delete it like any client.
Status EnsureCliClient(AuthorizationServer& oauth) {
  if (FK_TRY(oauth.store().FindClient(std::string(kCliClientId)))) return {};
  OAuthClient client{.id = std::string(kCliClientId),
                     .name = "fogkeep command line",
                     .type = OAuthClientType::kPublic,
                     .redirect_uris = {"http://127.0.0.1/callback", "http://[::1]/callback"},
                     .grant_types = {GrantType::kAuthorizationCode, GrantType::kRefreshToken,
                                     GrantType::kDeviceCode},
                     .created_by = "fogkeep-director"};
  for (const auto& permission : auth::AllPermissions()) {
    client.scopes.emplace_back(permission.name);
  }
  std::ranges::sort(client.scopes);
  Result<CreatedClient> created = oauth.CreateClient(std::move(client));
  // kConflict: another replica registered it first.
  if (!created && created.error().code() != ErrorCode::kConflict) {
    return std::unexpected(created.error());
  }
  return {};
}

// The OAuth issuer: the configured one, else the director's first name and its bound port.
std::string IssuerFor(const DirectorConfig& c, std::uint16_t port) {
  if (!c.oauth_issuer.empty()) return c.oauth_issuer;
  std::string host = !c.dns_names.empty()      ? c.dns_names.front()
                     : !c.ip_addresses.empty() ? c.ip_addresses.front()
                                               : "localhost";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "https://" + host + ":" + std::to_string(port);
}

// Advances rollouts once a second on the replica holding the "rollout" lease (renewed each
// round; another replica takes over within the lease's lifetime when this one dies), and,
// once a minute on that replica, forgets OAuth codes, grants and revocations past their expiry
// so the store does not grow with every token ever issued.
class RolloutDriver {
 public:
  RolloutDriver(std::shared_ptr<FleetStore> store, std::shared_ptr<Rollouts> rollouts,
                std::shared_ptr<GenerationWatch> generations,
                std::shared_ptr<AuthorizationServer> oauth)
      : store_(std::move(store)),
        rollouts_(std::move(rollouts)),
        generations_(std::move(generations)),
        oauth_(std::move(oauth)),
        holder_(HolderName()),
        thread_([this] { Run(); }) {}
  ~RolloutDriver() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  static constexpr std::int64_t kLeaseSeconds = 10;
  static constexpr std::int64_t kPurgeSeconds = 60;

  static std::string HolderName() {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    return std::string(host) + ":" + std::to_string(getpid()) + ":" +
           crypto::ToHex(crypto::RandomBytes(4));
  }

  void Run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (Status round = Round(); !round) log::Warn("rollouts: {}", round.error().message());
      lock.lock();
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
  }

  Status Round() {
    const std::int64_t now = SystemNow();
    if (!FK_TRY(store_->AcquireLease("rollout", holder_, now, kLeaseSeconds))) return {};
    if (FK_TRY(rollouts_->Tick())) generations_->Changed();
    if (now - last_purge_ >= kPurgeSeconds) {
      last_purge_ = now;
      const std::int64_t purged = FK_TRY_CTX(oauth_->store().PurgeExpired(now), "OAuth purge");
      if (purged > 0) log::Debug("OAuth: forgot {} expired rows", purged);
    }
    return {};
  }

  const std::shared_ptr<FleetStore> store_;
  const std::shared_ptr<Rollouts> rollouts_;
  const std::shared_ptr<GenerationWatch> generations_;
  const std::shared_ptr<AuthorizationServer> oauth_;
  const std::string holder_;
  std::int64_t last_purge_ = 0;  // only the driver's thread touches it
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// Connections the director serves at once: nodes with their keep-alive connection or long poll,
// and people.
constexpr std::size_t kMaxConnections = 20'000;
constexpr std::size_t kMinConnections = 256;
constexpr std::size_t kSpareDescriptors = 512;
// Below this, a mid-sized fleet is refused connections: worth a warning at start.
constexpr std::size_t kFewConnections = 4096;

int Serve(const DirectorConfig& config) {
  // Its 64 worker threads wait on the store most of the time.
  process::LimitHeapArenas();
  const sigset_t stop_signals = process::BlockStopSignals();
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config.log_level, &level);
  log::SetLevel(level);
  if (Status made = fs::MakeDirs(config.data_dir, 0700); !made) return Failed(made.error());

  Result<std::shared_ptr<FleetCa>> ca = EnsureCa(config);
  if (!ca) return Failed(ca.error());
  Result<crypto::TlsIdentity> identity = EnsureServerIdentity(config, **ca);
  if (!identity) return Failed(identity.error());
  Result<Stores> stores = OpenStores(config);
  if (!stores) return Failed(stores.error());
  std::shared_ptr<FleetStore>* store = &stores->fleet;

  Result<std::unique_ptr<audit::AuditLog>> audit_opened =
      audit::AuditLog::Open(config.data_dir + "/audit.log");
  if (!audit_opened) return Failed(audit_opened.error());
  std::shared_ptr<audit::AuditLog> audit_log = std::move(*audit_opened);
  for (const std::string& problem : audit_log->open_report().problems) {
    log::Warn("audit log {}: {}", audit_log->path(), problem);
  }
  Result<access::LoginStack> logins =
      access::OpenLoginStack(config.auth, config.data_dir, *audit_log, "fogkeep-director");
  if (!logins) return Failed(logins.error());

  DirectorServices services;
  services.store = *store;
  services.enrollment = std::make_shared<Enrollment>(
      *store, *ca, EnrollmentOptions{.certificate_lifetime = config.node_certificate_lifetime});
  services.generations = std::make_shared<GenerationWatch>(*store);
  services.catalog = std::make_shared<Catalog>(*store);
  services.rollouts = std::make_shared<Rollouts>(*store);
  services.signer = std::make_shared<const crypto::TlsIdentity>(*identity);
  services.audit = audit_log;
  services.login = logins->login;
  services.version = std::string(kVersion);
  services.max_poll_wait = std::chrono::seconds(config.max_poll_seconds);
  // The issuer names the port; with port 0 it is known once bound, and set again below.
  const net::ListenAddress listen = *net::ParseListenAddress(config.listen);
  services.oauth = std::make_shared<AuthorizationServer>(
      stores->oauth,
      OAuthServerOptions{.issuer = IssuerFor(config, listen.port == 0 ? 1 : listen.port)});
  net::Router router;
  if (Status registered = RegisterDirectorRoutes(router, services); !registered) {
    return Failed(registered.error());
  }

  crypto::TrustStore fleet;
  fleet.AddAnchor((*ca)->certificate());
  net::ServerOptions options;
  options.tcp =
      net::TcpListenerOptions{.address = listen.host,
                              .port = listen.port,
                              // Nodes present their fleet certificate; people log in without one.
                              .tls = {.identity = *identity, .client_trust = std::move(fleet)}};
  options.io_threads = 1;
  // For handlers that block on the store or the CA. Long-polls hold none while they wait
  // (deferred responses, bounded by limits.max_deferred_responses).
  options.limits.worker_threads = 64;
  // Every node may hold a connection (keep-alive or a long poll): up to kMaxConnections, as
  // far as the descriptor limit allows, keeping kSpareDescriptors for the store and files.
  const std::size_t descriptors = process::RaiseDescriptorLimit();
  options.limits.max_connections =
      std::clamp<std::size_t>(descriptors > kSpareDescriptors ? descriptors - kSpareDescriptors : 0,
                              kMinConnections, kMaxConnections);
  if (options.limits.max_connections < kFewConnections) {
    log::Warn("the descriptor limit ({}) allows {} connections; raise it (LimitNOFILE) for more",
              descriptors, options.limits.max_connections);
  }
  options.limits.max_deferred_responses = options.limits.max_connections;
  options.audit = access::MakeAuditSink(audit_log);
  // People: OAuth access tokens for the director, sessions, API tokens.
  auto people = std::make_shared<access::AccessTokenAuthenticator>(
      [oauth = services.oauth](std::string_view token) {
        return oauth->ValidateForDirector(token);
      },
      /*validation_blocks=*/true, logins->authenticator);
  auto authenticator = std::make_shared<DeviceAuthenticator>(*store, people);
  Result<std::unique_ptr<net::Server>> server = net::Server::Create(
      std::move(options), std::move(router), authenticator, std::make_shared<DirectorAuthorizer>());
  if (!server) return Failed(server.error());
  if (Status started = (*server)->Start(); !started) return Failed(started.error());
  const std::string issuer = IssuerFor(config, (*server)->tcp_port());
  if (Status set = services.oauth->SetIssuer(issuer); !set) return Failed(set.error());
  if (Status cli = EnsureCliClient(*services.oauth); !cli) return Failed(cli.error());

  const bool v6 = listen.host.find(':') != std::string::npos;
  const std::string address = "https://" + (v6 ? "[" + listen.host + "]" : listen.host) + ":" +
                              std::to_string((*server)->tcp_port());
  std::cout << "fogkeep-director: listening on " << address << " (store " << config.store << ")\n";
  std::cout << "fogkeep-director: fleet CA sha256 " << (*ca)->certificate().Fingerprint() << " ("
            << CaDir(config) << "/ca.crt)\n";
  // People log in at the issuer's URL, which may name the director otherwise than the address
  // above (its first DNS name, say).
  std::cout << "fogkeep-director: OAuth issuer " << issuer
            << " (fogkeep login --director takes this URL)\n";
  std::cout.flush();
  if (Status written = fs::WriteFileAtomic(AddrFile(config), address + "\n", 0644); !written) {
    log::Warn("cannot write {}: {}", AddrFile(config), written.error().message());
  }

  auto driver = std::make_unique<RolloutDriver>(*store, services.rollouts, services.generations,
                                                services.oauth);
  process::ReturnFreeHeap();

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log::Info("{}: stopping", strsignal(signal_number));
  driver.reset();
  services.generations->Stop();
  (*server)->Stop();
  unlink(AddrFile(config).c_str());
  return 0;
}

}  // namespace

Result<DirectorConfig> ApplyConfigFile(const std::string& path, DirectorConfig config) {
  const std::string text = FK_TRY_CTX(fs::ReadFile(path, 1 << 20), path);
  const yaml::Node root = FK_TRY_CTX(yaml::Parse(text), path);
  if (root.IsNull()) return config;
  if (!root.IsMap()) return Fail(ErrorCode::kInvalidInput, path + ": must be a mapping");
  for (const auto& [key, value] : root.entries()) {
    const std::string where = path + ":" + std::to_string(value.line()) + ": " + key;
    if (key == "auth") {
      config.auth = FK_TRY_CTX(access::ParseAuthSettings(value, config.auth), path);
      continue;
    }
    if (key == "dns-names" || key == "ip-addresses") {
      auto list = FK_TRY_CTX(ScalarList(value, key), where);
      (key == "dns-names" ? config.dns_names : config.ip_addresses) = std::move(list);
      continue;
    }
    if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
    const std::string& v = value.scalar();
    if (key == "data-dir") {
      config.data_dir = v;
    } else if (key == "listen") {
      config.listen = v;
    } else if (key == "store") {
      config.store = v;
    } else if (key == "postgres") {
      config.postgres = v;
    } else if (key == "ca-dir") {
      config.ca_dir = v;
    } else if (key == "fleet-name") {
      config.fleet_name = v;
    } else if (key == "node-certificate-lifetime") {
      config.node_certificate_lifetime = FK_TRY_CTX(ParseDuration(v), where);
    } else if (key == "max-poll-seconds") {
      config.max_poll_seconds = FK_TRY_CTX(ParsePositive(v, key), where);
    } else if (key == "log-level") {
      config.log_level = v;
    } else if (key == "oauth-issuer") {
      config.oauth_issuer = v;
    } else {
      return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    }
  }
  return config;
}

int DirectorMain(int argc, char** argv) {
  CLI::App app{
      "fogkeep-director: enrolls fog nodes through its fleet CA (EST over HTTPS), keeps the\n"
      "fleet's inventory, and serves each node its desired state over mutual TLS. Runs on\n"
      "embedded SQLite by default, or as several replicas sharing one PostgreSQL database.\n",
      "fogkeep-director"};
  app.set_version_flag("--version", "fogkeep-director " + std::string(kVersion));
  app.fallthrough();
  std::string config_path;
  DirectorConfig flags;
  app.add_option("--config", config_path,
                 "YAML config file: keys as the flags below, lists dns-names: and ip-addresses:, "
                 "and the mapping auth:");
  auto* data_dir =
      app.add_option("--data-dir", flags.data_dir, "State directory")->capture_default_str();
  auto* listen = app.add_option("--listen", flags.listen, "HTTPS address host:port (port 0: any)")
                     ->capture_default_str();
  auto* store = app.add_option("--store", flags.store, "sqlite (DATA-DIR/fleet.db) or postgres")
                    ->capture_default_str();
  auto* postgres = app.add_option("--postgres", flags.postgres,
                                  "libpq conninfo with --store postgres, e.g. "
                                  "\"host=db dbname=fogkeep user=fogkeep\"");
  auto* ca_dir = app.add_option("--ca-dir", flags.ca_dir,
                                "Fleet CA directory (ca.key, ca.crt); default DATA-DIR/ca. "
                                "Replicas of one fleet share it");
  auto* fleet_name =
      app.add_option("--fleet-name", flags.fleet_name, "Common name of a new fleet CA")
          ->capture_default_str();
  auto* log_level =
      app.add_option("--log-level", flags.log_level, "debug, info, warn, error or off")
          ->capture_default_str();
  auto* oauth_issuer =
      app.add_option("--oauth-issuer", flags.oauth_issuer,
                     "The URL clients reach the director at, as OAuth issuer and token audience "
                     "(default https://<first dns-name>:<port>)");
  app.add_subcommand("serve", "Serve the director API (the default)");
  access::AdminCommands admin;
  admin.Register(app, "fogkeep-director");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  DirectorConfig config;
  if (!config_path.empty()) {
    Result<DirectorConfig> file = ApplyConfigFile(config_path, config);
    if (!file) return Failed(file.error());
    config = std::move(*file);
  }
  if (data_dir->count() > 0) config.data_dir = flags.data_dir;
  if (listen->count() > 0) config.listen = flags.listen;
  if (store->count() > 0) config.store = flags.store;
  if (postgres->count() > 0) config.postgres = flags.postgres;
  if (ca_dir->count() > 0) config.ca_dir = flags.ca_dir;
  if (fleet_name->count() > 0) config.fleet_name = flags.fleet_name;
  if (log_level->count() > 0) config.log_level = flags.log_level;
  if (oauth_issuer->count() > 0) config.oauth_issuer = flags.oauth_issuer;
  if (Status checked = CheckConfig(config); !checked) return Failed(checked.error());
  if (admin.parsed()) {
    const access::GrantRevoker revoke_grants = [&config](const std::string& user) {
      return RevokeOAuthGrants(config, user);
    };
    if (Status done = admin.Run(config.data_dir, config.auth, revoke_grants); !done) {
      return Failed(done.error());
    }
    return 0;
  }
  return Serve(config);
}

}  // namespace fogkeep::director
