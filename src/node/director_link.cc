#include "node/director_link.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/est.h"
#include "api/node.h"
#include "core/fs.h"
#include "core/log.h"
#include "crypto/csr.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto/tls.h"
#include "crypto/tpm.h"
#include "crypto/x509.h"
#include "net/client.h"
#include "node/alerts/forwarding.h"
#include "package/stream.h"

namespace fogkeep::node {
namespace {

constexpr std::uint16_t kDirectorPort = 9443;
// A PEM key file, file or TPM, is a few kilobytes; anything much larger is not one.
constexpr std::size_t kMaxKeyFileBytes = 64 << 10;
constexpr std::string_view kTpmKeyBlock = "-----BEGIN TSS2 PRIVATE KEY-----";

std::string LinkDir(const std::string& data_dir) { return data_dir + "/director"; }
std::string KeyFile(const std::string& data_dir) { return LinkDir(data_dir) + "/node.key"; }
std::string CertFile(const std::string& data_dir) { return LinkDir(data_dir) + "/node.pem"; }
std::string CaFile(const std::string& data_dir) { return LinkDir(data_dir) + "/ca.pem"; }
std::string UrlFile(const std::string& data_dir) { return LinkDir(data_dir) + "/director.url"; }

Status CheckKeyStore(std::string_view store, std::string_view what) {
  if (store == "file" || store == "tpm") return {};
  return Fail(ErrorCode::kInvalidInput,
              std::string(what) + " must be file or tpm, not " + std::string(store));
}

// Makes the node key of `data_dir` where `store` says and writes it to node.key (0600): the
// PKCS#8 PEM of a software key, or the TSS2 PEM of a key generated inside the TPM.
Result<crypto::PrivateKey> MakeNodeKey(const std::string& data_dir, std::string_view store) {
  if (store == "tpm") {
    const crypto::TpmKey tpm = FK_TRY_CTX(crypto::TpmKey::Generate(), "director key in the TPM");
    FK_TRY(fs::WriteFileAtomic(KeyFile(data_dir), tpm.pem(), 0600));
    return tpm.SigningKey();
  }
  crypto::PrivateKey key = FK_TRY(crypto::PrivateKey::Generate(api::est::kNodeFileKeyType));
  FK_TRY(key.Save(KeyFile(data_dir)));
  return key;
}

// Loads the node key of `data_dir` the way `store` says it was made. A key of the other kind is
// refused: a node set to keep its key in the TPM never runs on a file key.
Result<crypto::PrivateKey> LoadNodeKey(const std::string& data_dir, std::string_view store) {
  const std::string path = KeyFile(data_dir);
  std::string pem = FK_TRY(fs::ReadFile(path, kMaxKeyFileBytes));
  crypto::WipeOnExit wipe(pem);
  const bool in_tpm = pem.find(kTpmKeyBlock) != std::string::npos;
  if (store == "tpm" && !in_tpm) {
    const std::string fix = "remove " + LinkDir(data_dir) + " and enroll again";
    return Fail(ErrorCode::kConflict, path + " is a file key, but director key is tpm (" + fix +
                                          " to make it in the TPM)");
  }
  if (store == "file" && in_tpm) {
    return Fail(ErrorCode::kConflict,
                path + " is a TPM key, but director key is file (set director: key: tpm)");
  }
  if (in_tpm) {
    const crypto::TpmKey tpm = FK_TRY_CTX(crypto::TpmKey::Load(pem), path);
    return tpm.SigningKey();
  }
  return FK_TRY_CTX(crypto::PrivateKey::FromPem(pem), path);
}

std::string NormalizeFingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "fog-node";
  return name;
}

// A client that trusts the fleet CA alone and checks the director's name.
Result<std::unique_ptr<net::Client>> FleetClient(const net::HttpsEndpoint& where,
                                                 const crypto::Certificate& ca,
                                                 std::optional<crypto::TlsIdentity> identity,
                                                 std::chrono::milliseconds timeout) {
  crypto::TrustStore trust;
  trust.AddAnchor(ca);
  net::ClientOptions options;
  options.timeout = timeout;
  return net::Client::Https(
      where.host, where.port,
      net::ClientTlsOptions{.trust = std::move(trust), .identity = std::move(identity)}, options);
}

// An EST answer: the issued certificate first, which must certify `key` for clientAuth
// under `ca`.
Result<std::vector<crypto::Certificate>> IssuedChain(const net::Response& response,
                                                     const crypto::PrivateKey& key,
                                                     const crypto::Certificate& ca) {
  if (response.status != 200) return std::unexpected(net::ResponseError(response));
  std::vector<crypto::Certificate> chain = FK_TRY(api::est::ParseCertsOnlyBody(response.body));
  if (FK_TRY(chain.front().Key().ToPem()) != FK_TRY(key.Public().ToPem())) {
    return Fail(ErrorCode::kIntegrity, "the director certified another key");
  }
  crypto::TrustStore trust;
  trust.AddAnchor(ca);
  FK_TRY(trust.Verify(chain.front(), {}, crypto::ExtendedKeyUsage::kClientAuth));
  return chain;
}

Result<net::Response> PostCsr(net::Client& client, std::string_view path,
                              const crypto::CertificateRequest& csr, net::Headers headers) {
  headers.Set("Content-Type", api::est::kPkcs10ContentType);
  headers.Set("Content-Transfer-Encoding", api::est::kTransferEncoding);
  return client.Request(net::Method::kPost, path, headers, api::est::EncodeEnrollRequestBody(csr));
}

Status WriteChain(const std::string& path, const std::vector<crypto::Certificate>& chain) {
  std::string pem;
  for (const auto& cert : chain) pem += cert.ToPem();
  return fs::WriteFileAtomic(path, pem, 0644);
}

// The apps this node installed because its director said so, one id per line: only these
// are removed when the director stops wanting them (apps an operator installed by hand are
// never touched).
std::string ManagedFile(const std::string& data_dir) { return LinkDir(data_dir) + "/managed-apps"; }

// The desired state's body is the director's: signed by a certificate of the fleet CA made
// for a server (routes.h of the director says how).
Status CheckDesiredSignature(const net::Response& answer, const crypto::Certificate& ca) {
  const auto signature = answer.headers.Get("X-Fogkeep-Signature");
  const auto signer = answer.headers.Get("X-Fogkeep-Signer");
  if (!signature || !signer) {
    return Fail(ErrorCode::kIntegrity, "the desired state carries no director signature");
  }
  const crypto::Certificate cert =
      FK_TRY(crypto::Certificate::FromDer(FK_TRY(crypto::Base64Decode(*signer))));
  crypto::TrustStore trust;
  trust.AddAnchor(ca);
  FK_TRY(trust.Verify(cert, {}, crypto::ExtendedKeyUsage::kServerAuth));
  return cert.Key().Verify(answer.body, FK_TRY(crypto::Base64Decode(*signature)));
}

// The apps that have an OAuth client of their own at the director (written before asking for
// one, so a crash never leaves a client the node does not know of).
std::string AppClientsFile(const std::string& data_dir) {
  return LinkDir(data_dir) + "/app-clients";
}

// A set of app ids, one per line (managed-apps, app-clients); empty when the file is missing.
std::set<std::string> ReadIdSet(const std::string& path) {
  std::set<std::string> ids;
  Result<std::string> text = fs::ReadFile(path, 1 << 20);
  if (!text) return ids;
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    if (end > start) ids.insert(text->substr(start, end - start));
    start = end + 1;
  }
  return ids;
}

Status WriteIdSet(const std::string& path, const std::set<std::string>& ids) {
  std::string text;
  for (const std::string& id : ids) text += id + "\n";
  return fs::WriteFileAtomic(path, text, 0600);
}

}  // namespace

Result<DirectorSettings> ParseDirectorSettings(const yaml::Node& node, DirectorSettings settings) {
  if (node.IsNull()) return settings;
  if (!node.IsMap()) return Fail(ErrorCode::kInvalidInput, "director must be a mapping (key)");
  for (const auto& [name, value] : node.entries()) {
    const std::string where = "director." + name + " (line " + std::to_string(value.line()) + ")";
    if (!value.IsScalar()) return Fail(ErrorCode::kInvalidInput, where + " must be a scalar");
    if (name == "key") {
      FK_TRY(CheckKeyStore(value.scalar(), where));
      settings.key = value.scalar();
    } else {
      return Fail(ErrorCode::kInvalidInput, where + ": unknown key");
    }
  }
  return settings;
}

std::string OAuthTrustFile(const std::string& data_dir) {
  return LinkDir(data_dir) + "/oauth.json";
}

bool IsEnrolled(const std::string& data_dir) {
  return ::access(UrlFile(data_dir).c_str(), F_OK) == 0;
}

Result<std::string> Enroll(const std::string& data_dir, const EnrollOptions& options) {
  if (IsEnrolled(data_dir)) {
    return Fail(ErrorCode::kConflict, "already enrolled (" + UrlFile(data_dir) + "); remove " +
                                          LinkDir(data_dir) + " to enroll again");
  }
  if (options.token.empty()) return Fail(ErrorCode::kInvalidInput, "--token is required");
  FK_TRY(CheckKeyStore(options.key, "director key"));
  if (options.ca_fingerprint.empty() == options.ca_file.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "give the fleet CA as exactly one of --ca-fingerprint and --ca-file");
  }
  const net::HttpsEndpoint where =
      FK_TRY(net::ParseHttpsUrl(options.director_url, kDirectorPort, "--director"));

  // 1. The fleet CA, checked against what the operator vouched for.
  std::optional<crypto::Certificate> ca;
  if (!options.ca_file.empty()) {
    ca = FK_TRY_CTX(crypto::Certificate::FromPem(FK_TRY(fs::ReadFile(options.ca_file))),
                    options.ca_file);
  } else {
    net::ClientOptions bootstrap;
    bootstrap.timeout = std::chrono::seconds(30);
    auto client = FK_TRY(net::Client::Https(where.host, where.port,
                                            net::ClientTlsOptions{.insecure = true}, bootstrap));
    const net::Response answer = FK_TRY(client->Request(net::Method::kGet, api::est::kCaCertsPath));
    if (answer.status != 200) return std::unexpected(net::ResponseError(answer));
    for (const crypto::Certificate& cert : FK_TRY(api::est::ParseCertsOnlyBody(answer.body))) {
      if (cert.Fingerprint() == NormalizeFingerprint(options.ca_fingerprint)) ca = cert;
    }
    if (!ca) {
      return Fail(ErrorCode::kIntegrity,
                  "the director's CA does not have the fingerprint given with --ca-fingerprint");
    }
  }

  // 2. Our key and the request.
  FK_TRY(fs::MakeDirs(LinkDir(data_dir), 0700));
  const crypto::PrivateKey key = FK_TRY(MakeNodeKey(data_dir, options.key));
  const std::string name = options.name.empty() ? HostName() : options.name;
  const crypto::CertificateRequest csr = FK_TRY(crypto::CertificateRequest::Create(key, name));
  auto client = FK_TRY(FleetClient(where, *ca, std::nullopt, std::chrono::seconds(30)));
  net::Headers headers;
  headers.Set("Authorization", "Bearer " + options.token);
  const net::Response answer =
      FK_TRY(PostCsr(*client, api::est::kSimpleEnrollPath, csr, std::move(headers)));

  // 3. The certificate, then the files, the URL last.
  const std::vector<crypto::Certificate> chain = FK_TRY(IssuedChain(answer, key, *ca));
  FK_TRY(WriteChain(CertFile(data_dir), chain));
  FK_TRY(fs::WriteFileAtomic(CaFile(data_dir), ca->ToPem(), 0644));
  FK_TRY(fs::WriteFileAtomic(
      UrlFile(data_dir), "https://" + where.host + ":" + std::to_string(where.port) + "\n", 0644));
  return chain.front().CommonName();
}

struct DirectorLink::Impl {
  std::string data_dir;
  std::shared_ptr<AppService> apps;
  DirectorLinkOptions options;
  net::HttpsEndpoint where;
  std::optional<crypto::Certificate> ca;
  // The node key, loaded once: a TPM key keeps its TPM connection for the link's lifetime.
  // Only the link thread signs with it (TLS handshakes, renewal requests).
  std::optional<crypto::PrivateKey> key;

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;      // guarded by mu
  api::DesiredState desired;  // guarded by mu
  std::string etag;           // the link thread's alone
  // The connection of the rounds so far, kept while the certificate it presents is the newest
  // and no round has failed on it, so a node pays one TLS handshake, not one per round (the
  // director keeps idle connections longer than a round takes). The link thread's alone.
  std::unique_ptr<net::Client> client;
  std::string client_certificate;  // the fingerprint of the certificate `client` presents
  // When to report, and the alerts each report carries; the link thread's alone.
  std::unique_ptr<alerts::ReportSender> reports;

  // The key with the newest certificate (renewal rewrites node.pem).
  Result<crypto::TlsIdentity> Identity() {
    auto chain =
        FK_TRY(crypto::Certificate::BundleFromPem(FK_TRY(fs::ReadFile(CertFile(data_dir)))));
    return crypto::TlsIdentity{*key, std::move(chain)};
  }

  // The kept connection, or a new one when there is none or the certificate has changed.
  // Its timeout outlasts the longest long poll a round asks for.
  Result<net::Client*> Connection(const crypto::TlsIdentity& identity) {
    const std::string fingerprint = identity.chain.front().Fingerprint();
    if (!client || client_certificate != fingerprint) {
      client.reset();
      client =
          FK_TRY(FleetClient(where, *ca, identity, options.poll_wait + std::chrono::seconds(30)));
      client_certificate = fingerprint;
    }
    return client.get();
  }

  // Renews the certificate when less than a third of its lifetime is left; true when it did.
  // The director accepts only a device's newest certificate, so a renewed node must not send
  // another request on `client`, which presents the old one.
  Result<bool> RenewIfDue(net::Client& client, const crypto::TlsIdentity& identity) {
    const crypto::Certificate& cert = identity.chain.front();
    const auto now = std::chrono::system_clock::now();
    if (now < cert.NotAfter() - (cert.NotAfter() - cert.NotBefore()) / 3) return false;
    const crypto::CertificateRequest csr =
        FK_TRY(crypto::CertificateRequest::Create(identity.key, cert.CommonName()));
    const net::Response answer = FK_TRY(PostCsr(client, api::est::kSimpleReenrollPath, csr, {}));
    FK_TRY(WriteChain(CertFile(data_dir), FK_TRY(IssuedChain(answer, identity.key, *ca))));
    log::Info("director: certificate renewed");
    return true;
  }

  struct Failure {
    std::string version;
    std::string error;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Failure> failures;  // by app id; the link thread's alone
  // Apps whose asked-for OAuth scopes the director refused, with those scopes; the link
  // thread's alone.
  std::map<std::string, std::vector<std::string>> refused_scopes;

  Result<api::NodeReport> CurrentReport() {
    api::NodeReport report{.agent_version = options.agent_version, .health = "ok"};
    for (const AppInfo& app : FK_TRY(apps->List())) {
      report.apps.push_back(api::DeviceApp{.id = app.id,
                                           .name = app.name,
                                           .version = app.version,
                                           .state = std::string(AppStateName(app.state))});
    }
    // A desired version that could not be put in place is reported as FAILED in place of
    // what runs (which may be the previous version, restored).
    for (const auto& [name, failure] : failures) {
      std::erase_if(report.apps, [&](const api::DeviceApp& a) { return a.id == name; });
      report.apps.push_back(api::DeviceApp{.id = name,
                                           .name = name,
                                           .version = failure.version,
                                           .state = "FAILED",
                                           .error = failure.error});
    }
    if (!failures.empty()) report.health = "degraded";
    return report;
  }

  Result<std::string> Download(net::Client& client, const api::DesiredApp& app) {
    const net::Response answer = FK_TRY(client.Request(net::Method::kGet, app.package_url));
    if (answer.status != 200) return std::unexpected(net::ResponseError(answer));
    if (crypto::Sha256Hex(answer.body) != app.sha256) {
      return Fail(ErrorCode::kIntegrity, "the package of " + app.name + " " + app.version +
                                             " does not have the SHA-256 the director gave");
    }
    return answer.body;
  }

  // Makes one desired app true: installed at its version (upgraded, or downgraded for a
  // rollback), configured, running.
  Status Apply(net::Client& client, const api::DesiredApp& app, std::set<std::string>& managed) {
    Result<AppInfo> current = apps->Get(app.name);
    if (!current && current.error().code() != ErrorCode::kNotFound) {
      return std::unexpected(current.error());
    }
    if (!current || current->version != app.version) {
      const std::string package = FK_TRY(Download(client, app));
      package::MemorySource source(package);
      if (!current) {
        managed.insert(app.name);
        FK_TRY(WriteIdSet(ManagedFile(data_dir), managed));
        current = FK_TRY(apps->Install(source, InstallOptions{.app_id = app.name}));
      } else {
        current = FK_TRY(apps->Upgrade(app.name, source));
      }
      log::Info("director: {} {} in place", app.name, app.version);
    }
    if (!app.config_ini.empty() && FK_TRY(apps->GetConfig(app.name)) != app.config_ini) {
      FK_TRY(apps->SetConfig(app.name, app.config_ini));
      if (current->state == AppState::kRunning) {
        current = FK_TRY(apps->Apply(app.name, AppAction::kRestart));
      }
    }
    if (current->state == AppState::kDeployed) {
      current = FK_TRY(apps->Apply(app.name, AppAction::kActivate));
    }
    if (current->state != AppState::kRunning) {
      current = FK_TRY(apps->Apply(app.name, AppAction::kStart));
    }
    return {};
  }

  Status Remove(const std::string& id) {
    Result<AppInfo> current = apps->Get(id);
    if (!current) {
      if (current.error().code() == ErrorCode::kNotFound) return {};
      return std::unexpected(current.error());
    }
    if (current->state == AppState::kRunning) FK_TRY(apps->Apply(id, AppAction::kStop));
    current = FK_TRY(apps->Get(id));
    if (current->state != AppState::kDeployed) FK_TRY(apps->Apply(id, AppAction::kDeactivate));
    FK_TRY(apps->Uninstall(id));
    log::Info("director: {} removed", id);
    return {};
  }

  // The fleet policy, when it names trust anchors, becomes the node's: the director is the
  // authority of an enrolled node. Downgrades are allowed so that a rollback can happen.
  Status ApplyPolicy(const api::FleetPolicyDoc& policy) {
    if (policy.trust_anchors.empty()) return {};
    const TrustMaterial trust{.anchors = policy.trust_anchors, .crls = policy.crls};
    const TrustMaterial now = FK_TRY(apps->GetTrust());
    if (now.anchors != trust.anchors || now.crls != trust.crls) FK_TRY(apps->SetTrust(trust));
    PlatformPolicy wanted = FK_TRY(apps->GetPolicy());
    PlatformPolicy next = wanted;
    next.require_signed = policy.require_signed;
    next.allowed_capabilities = policy.allowed_capabilities;
    next.allow_downgrade = true;
    if (next.require_signed != wanted.require_signed ||
        next.allowed_capabilities != wanted.allowed_capabilities ||
        next.allow_downgrade != wanted.allow_downgrade) {
      FK_TRY(apps->SetPolicy(next));
      log::Info("director: fleet policy applied");
    }
    return {};
  }

  // Brings the node to `state`. A failure of one app is kept (and reported) and does not stop
  // the others; an app that failed at a version is tried again only after a while.
  void Reconcile(net::Client& client, const api::DesiredState& state) {
    if (Status applied = ApplyPolicy(state.policy); !applied) {
      log::Warn("director: policy: {}", applied.error().message());
    }
    std::set<std::string> managed = ReadIdSet(ManagedFile(data_dir));
    std::set<std::string> wanted;
    const auto now = std::chrono::steady_clock::now();
    for (const api::DesiredApp& app : state.apps) {
      wanted.insert(app.name);
      auto failed = failures.find(app.name);
      if (failed != failures.end() && failed->second.version == app.version &&
          now - failed->second.at < options.retry_failed_after) {
        continue;
      }
      if (Status done = Apply(client, app, managed); !done) {
        log::Warn("director: {} {}: {}", app.name, app.version, done.error().message());
        failures[app.name] = Failure{app.version, done.error().message(), now};
      } else {
        failures.erase(app.name);
      }
    }
    std::erase_if(failures, [&](const auto& f) { return !wanted.contains(f.first); });
    for (const std::string& id : std::set<std::string>(managed)) {
      if (wanted.contains(id)) continue;
      if (Status removed = Remove(id); !removed) {
        log::Warn("director: removing {}: {}", id, removed.error().message());
        continue;
      }
      managed.erase(id);
    }
    if (Status written = WriteIdSet(ManagedFile(data_dir), managed); !written) {
      log::Warn("director: {}", written.error().message());
    }
  }

  // Gives each running app that asks for OAuth and lacks a client one, and deletes at the
  // director the clients of apps that are gone or no longer ask. A failure ends this pass
  // (the caller logs it) and the next round starts over; an app whose scopes the director
  // refused is not asked for again until its scopes change.
  Status SyncAppClients(net::Client& client) {
    if (!options.app_clients) return {};
    std::map<std::string, std::vector<std::string>> asking;
    for (const AppInfo& app : FK_TRY(apps->List())) {
      if (app.oauth_scopes) asking[app.id] = *app.oauth_scopes;
    }
    const std::string file = AppClientsFile(data_dir);
    std::set<std::string> issued = ReadIdSet(file);
    for (const std::string& id : std::set<std::string>(issued)) {
      if (asking.contains(id)) continue;
      const net::Response answer = FK_TRY(client.Request(net::Method::kDelete, AppClientPath(id)));
      if (answer.status != 204) return std::unexpected(net::ResponseError(answer));
      issued.erase(id);
      FK_TRY(WriteIdSet(file, issued));
      log::Info("director: deleted the OAuth client of {}", id);
    }
    std::erase_if(refused_scopes, [&](const auto& r) {
      auto it = asking.find(r.first);
      return it == asking.end() || it->second != r.second;
    });
    for (const auto& [id, scopes] : asking) {
      if (refused_scopes.contains(id)) continue;
      Result<bool> holds = options.app_clients->Holds(id);
      if (!holds) {
        if (holds.error().code() != ErrorCode::kNotFound) {
          log::Warn("director: OAuth client of {}: {}", id, holds.error().message());
        }
        continue;
      }
      if (*holds) continue;
      if (!issued.contains(id)) {
        issued.insert(id);
        FK_TRY(WriteIdSet(file, issued));
      }
      net::Headers headers;
      headers.Set("Content-Type", "application/json");
      const net::Response answer =
          FK_TRY(client.Request(net::Method::kPut, AppClientPath(id), headers,
                                api::ToJsonText(api::AppOAuthClientRequest{.scopes = scopes})));
      if (answer.status == 400) {
        log::Warn("director: refused an OAuth client for {}: {}", id,
                  net::ResponseError(answer).message());
        refused_scopes[id] = scopes;
        continue;
      }
      if (answer.status != 201) return std::unexpected(net::ResponseError(answer));
      FK_TRY_CTX(api::FromJsonText<api::AppOAuthClient>(answer.body), "the director's answer");
      FK_TRY_CTX(options.app_clients->Keep(id, answer.body), "OAuth client of " + id);
      log::Info("director: {} has an OAuth client of its own", id);
    }
    return {};
  }

  static std::string AppClientPath(const std::string& app) {
    return "/api/v1/node/apps/" + app + "/oauth-client";
  }

  // Posts the report when it changed, alerts wait, or the report interval passed.
  Status Report(net::Client& client) {
    net::Headers headers;
    headers.Set("Content-Type", "application/json");
    return reports->Send(FK_TRY(CurrentReport()), [&](const std::string& body) {
      return client.Request(net::Method::kPost, "/api/v1/node/report", headers, body);
    });
  }

  // One round: renew if due, report, wait for the desired state to change (long poll; only
  // until a failed app is due again when there is one), reconcile, report what came of it.
  Status Round() {
    const crypto::TlsIdentity identity = FK_TRY(Identity());
    const std::chrono::seconds wait = failures.empty()
                                          ? options.poll_wait
                                          : std::min(options.poll_wait, options.retry_failed_after);
    net::Client& client = *FK_TRY(Connection(identity));
    if (FK_TRY(RenewIfDue(client, identity))) return {};  // the next round uses the new one
    FK_TRY(Report(client));
    if (Status synced = SyncAppClients(client); !synced) {
      log::Warn("director: apps' OAuth clients: {}", synced.error().message());
    }
    net::Headers headers;
    if (!etag.empty()) headers.Set("If-None-Match", etag);
    const std::string target = "/api/v1/node/desired?wait=" + std::to_string(wait.count());
    const net::Response answer = FK_TRY(client.Request(net::Method::kGet, target, headers));
    if (answer.status == 200) {
      FK_TRY(CheckDesiredSignature(answer, *ca));
      api::DesiredState state = FK_TRY(api::FromJsonText<api::DesiredState>(answer.body));
      etag = std::string(answer.headers.Get("ETag").value_or(""));
      {
        std::lock_guard lock(mu);
        desired = state;
      }
      if (state.oauth && options.oauth_trust) {
        // A key set that does not parse keeps the trust held before; the apps go on.
        if (Status taken = options.oauth_trust->Update(*state.oauth, state.device_id, state.tags);
            !taken) {
          log::Warn("director OAuth keys: {}", taken.error().message());
        }
      }
      Reconcile(client, state);
    } else if (answer.status == 304) {
      if (failures.empty()) return {};
      Reconcile(client, this->desired_copy());
    } else {
      return std::unexpected(net::ResponseError(answer));
    }
    return Report(client);
  }

  api::DesiredState desired_copy() {
    std::lock_guard lock(mu);
    return desired;
  }

  void Run() {
    while (true) {
      {
        std::lock_guard lock(mu);
        if (stopping) return;
      }
      Status round = Round();
      std::unique_lock lock(mu);
      if (stopping) return;
      if (!round) {
        client.reset();  // the next round starts on a new connection
        log::Warn("director {}: {}", where.host, round.error().message());
        wake.wait_for(lock, options.retry_delay, [this] { return stopping; });
        if (stopping) return;
      }
    }
  }
};

Result<std::unique_ptr<DirectorLink>> DirectorLink::Start(
    const std::string& data_dir, std::shared_ptr<AppService> apps, DirectorLinkOptions options,
    std::shared_ptr<alerts::AlertStore> alerts) {
  if (!IsEnrolled(data_dir)) return Fail(ErrorCode::kNotFound, "not enrolled with a director");
  auto impl = std::make_unique<Impl>();
  impl->data_dir = data_dir;
  impl->apps = std::move(apps);
  impl->options = options;
  impl->reports = std::make_unique<alerts::ReportSender>(
      std::move(alerts), alerts::ReportOptions{.interval = options.report_interval});
  std::string url = FK_TRY(fs::ReadFile(UrlFile(data_dir), 4096));
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  impl->where = FK_TRY(net::ParseHttpsUrl(url, kDirectorPort, UrlFile(data_dir)));
  impl->ca = FK_TRY(crypto::Certificate::FromPem(FK_TRY(fs::ReadFile(CaFile(data_dir)))));
  FK_TRY(CheckKeyStore(options.key, "director key"));
  impl->key = FK_TRY_CTX(LoadNodeKey(data_dir, options.key), "director key");
  std::shared_ptr<Impl> shared = std::move(impl);
  // The thread shares the state: Stop() does not wait for a long poll in flight to end (it
  // may take poll_wait); the thread returns when it does.
  std::thread([shared] { shared->Run(); }).detach();
  return std::unique_ptr<DirectorLink>(new DirectorLink(std::move(shared)));
}

DirectorLink::DirectorLink(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

DirectorLink::~DirectorLink() { Stop(); }

void DirectorLink::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
}

api::DesiredState DirectorLink::desired() const {
  std::lock_guard lock(impl_->mu);
  return impl_->desired;
}

}  // namespace fogkeep::node
