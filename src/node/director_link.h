// The node's side of the director: enrollment (`fogkeepd enroll`) and, once enrolled, the link
// fogkeepd keeps with the director while it serves.
//
// Enrollment (EST, RFC 7030 shapes):
//   1. GET /.well-known/est/cacerts without trusting anything yet; the answer's CA must have
//      the SHA-256 fingerprint the operator gave (`--ca-fingerprint`, printed by the director)
//      or equal the certificate of `--ca-file`. From here on the director's certificate must
//      chain to that CA and carry the host name of the URL.
//   2. A new node key and a CSR with the node's name as a hint; POST /simpleenroll with
//      "Authorization: Bearer <token>". The key is an Ed25519 file (data-dir/director/node.key,
//      0600; api::est::kNodeFileKeyType says why) or, with `director: key: tpm`, a P-256 key
//      made inside the TPM 2.0: node.key then holds only its TSS2 PRIVATE KEY PEM (0600),
//      which no other TPM can use.
//   3. The issued certificate must certify our key and chain to the CA. Then node.pem, ca.pem
//      and director.url are written, each atomically, the URL last: a node is enrolled exactly
//      when director.url exists.
//
// The link (a thread of fogkeepd): long-polls GET /api/v1/node/desired with its ETag, checks
// the desired state's signature (a director certificate of the fleet CA), and reconciles:
// the fleet policy's trust anchors and signature rule become the node's; every desired app is
// downloaded over mutual TLS (its SHA-256 checked against the desired state, then verified
// and installed by the app service like any package), upgraded or downgraded to its version,
// configured and started; apps the director installed and no longer wants are removed (apps
// installed by hand are never touched; data-dir/director/managed-apps lists the others). It
// posts POST /api/v1/node/report with the apps and their states (a desired version that
// failed reported as FAILED with the reason) and the alerts not yet acknowledged, after every
// change, while alerts wait, and at least every report interval, and renews its certificate
// (/simplereenroll) when less than a third of its lifetime is left. A refusal (401:
// decommissioned) is logged and retried slowly; it never stops the node's apps.
//
// Apps whose descriptor asks for OAuth (access-control: oauth2) get a client of their own: each
// round, an app that runs and whose secure storage lacks one is given a new one by the director
// (PUT /api/v1/node/apps/{id}/oauth-client), and the clients of apps removed or no longer
// asking are deleted there (data-dir/director/app-clients lists the apps that have one).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/director.h"
#include "core/error.h"
#include "core/yaml.h"
#include "node/alerts/store.h"
#include "node/app_service.h"
#include "node/oauth_trust.h"

namespace fogkeep::node {

// The `director:` mapping of fogkeepd's config file.
struct DirectorSettings {
  // Where the node's director key is made and kept: "file" (a 0600 PEM file) or "tpm" (inside
  // the TPM 2.0, through OpenSSL's tpm2 provider; TPM2OPENSSL_TCTI picks the TPM). Enrollment
  // makes the key this way and the link loads it only this way: a node set to "tpm" whose TPM
  // cannot be reached, or whose key is a file, does not start.
  std::string key = "file";
};

// Overlays the `director:` mapping (key) on `settings`. Unknown keys and values are
// kInvalidInput naming the line.
Result<DirectorSettings> ParseDirectorSettings(const yaml::Node& node, DirectorSettings settings);

struct EnrollOptions {
  std::string director_url;  // https://host:port
  std::string token;
  std::string ca_fingerprint;  // hex, colons allowed; or
  std::string ca_file;         // PEM of the fleet CA
  std::string name;            // the device's display name; "" = host name
  std::string key = "file";    // where the node key is made: DirectorSettings::key
};

// Enrolls the node whose state lives in `data_dir`; returns the device id the director chose.
// kConflict when the node is already enrolled (remove data-dir/director to enroll again);
// kUnavailable when the key is to be made in a TPM that cannot be reached.
Result<std::string> Enroll(const std::string& data_dir, const EnrollOptions& options);

// Whether `data_dir` holds an enrollment.
bool IsEnrolled(const std::string& data_dir);

// Where an app's own OAuth client goes (api::AppOAuthClient, IOx's access-control: oauth2):
// its secure storage, as the object api::kAppOAuthClientObject. fogkeepd implements it over
// the Secure Storage Service; tests may keep it in memory.
class AppClientVault {
 public:
  virtual ~AppClientVault() = default;
  // Whether `app`'s storage holds its client. kNotFound while the app's storage is closed (the
  // app has not run yet, or is being removed): the link asks again later.
  virtual Result<bool> Holds(const std::string& app) = 0;
  // Stores `client_json` (an api::AppOAuthClient) for `app`, replacing what was there.
  virtual Status Keep(const std::string& app, const std::string& client_json) = 0;
};

struct DirectorLinkOptions {
  std::chrono::seconds poll_wait{30};        // the long-poll each desired-state request asks
  std::chrono::seconds report_interval{60};  // a report at least this often
  std::chrono::seconds retry_delay{5};       // after a failed exchange
  // A desired app that failed at a version is tried again after this long.
  std::chrono::seconds retry_failed_after{60};
  std::string agent_version = "0.1.0";
  std::string key = "file";  // where the node key is kept: DirectorSettings::key
  // Takes the director's OAuth issuer and keys from each desired state; null: ignored.
  std::shared_ptr<OAuthTrust> oauth_trust;
  // Gets apps that ask for OAuth a client of their own; null: they get none.
  std::shared_ptr<AppClientVault> app_clients;
};

// Where the node keeps the director's OAuth trust (node/oauth_trust.h).
std::string OAuthTrustFile(const std::string& data_dir);

class DirectorLink {
 public:
  // Loads the enrollment of `data_dir`, including its key (once: renewals keep it), and starts
  // the link's thread. Reports carry the alerts of `alerts` (when set) that the director has
  // not acknowledged (node/alerts/forwarding.h). kNotFound when the node is not enrolled;
  // kConflict when the key is not kept where options.key says; kUnavailable when its TPM
  // cannot be reached.
  static Result<std::unique_ptr<DirectorLink>> Start(
      const std::string& data_dir, std::shared_ptr<AppService> apps,
      DirectorLinkOptions options = {}, std::shared_ptr<alerts::AlertStore> alerts = nullptr);
  ~DirectorLink();  // Stop()
  // Ends the link without waiting: the exchange in flight (a long poll may take poll_wait)
  // finishes unseen, and no round starts after it.
  void Stop();

  // The last desired state received (for tests and the API), generation 0 before the first.
  api::DesiredState desired() const;

  struct Impl;

 private:
  explicit DirectorLink(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace fogkeep::node
