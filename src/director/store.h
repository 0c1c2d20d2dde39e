// FleetStore: everything the director keeps — enrollment tokens, devices, revoked node
// certificates, the catalog of signed packages, fleet policies, deployments and their
// per-device progress, the devices' security alerts — behind one interface, so the rest of
// the director never knows whether it runs on embedded SQLite (one machine) or on PostgreSQL
// (several replicas sharing one database). Both back-ends pass
// tests/unit/director_store/store_conformance.h.
//
// Contracts every back-end keeps:
// - Each method is atomic: all of it is durable when it returns OK, or none of it is.
// - Methods are safe to call from many threads at once, and from several processes (director
//   replicas) sharing one database: the conditional methods (ConsumeEnrollmentToken,
//   AcquireLease, UpdateDeployment's revision check) decide inside the database, never by
//   read-then-write in the caller.
// - Times are Unix seconds supplied by the caller (tests move the clock).
// - Not-found lookups are std::nullopt, not errors; kNotFound is for updates of missing rows.
// - Every list is ordered as documented, so answers are stable for the API and for tests.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace fogkeep::director {

// A one-time enrollment token. The secret is never stored: `secret_hash` is SHA-256 of it, in
// lowercase hex, and the token's public part is `id`.
struct EnrollmentToken {
  std::string id;
  std::string secret_hash;
  std::vector<std::string> tags;  // applied to the device that enrolls with it, sorted
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::string used_by;  // the device id it enrolled, "" while unused
  std::int64_t used_at = 0;
};

enum class DeviceStatus { kEnrolled, kDecommissioned };

struct Device {
  std::string id;  // also the CN of its certificates
  std::string name;
  std::vector<std::string> tags;  // sorted, unique
  DeviceStatus status = DeviceStatus::kEnrolled;
  // The certificate currently issued to the device (renewal replaces it).
  std::string cert_serial;       // lowercase hex
  std::string cert_fingerprint;  // SHA-256 of the DER, lowercase hex
  std::int64_t cert_not_after = 0;
  std::int64_t enrolled_at = 0;
  // From the device's last report; "" / 0 before the first.
  std::string agent_version;
  std::string health;       // "ok" | "degraded" | free text from the node
  std::string report_json;  // the last report as received (apps and their states, alerts)
  std::int64_t last_report_at = 0;
  std::int64_t last_seen = 0;  // last authenticated request of any kind
};

// What authenticating a device's request reads of it (DeviceAuthenticator).
struct DeviceCredential {
  DeviceStatus status = DeviceStatus::kEnrolled;
  std::string cert_fingerprint;
  std::int64_t last_seen = 0;
};

struct DeviceFilter {
  std::optional<std::string> tag;  // devices carrying this tag
  std::optional<DeviceStatus> status;
  std::optional<std::string> app;  // devices whose `apps` (RecordReport) include this app name
};

// One device's report as the store indexes it.
struct DeviceReport {
  std::string agent_version;
  std::string health;
  std::string report_json;
  std::vector<std::string> apps;  // app names the device reports, for DeviceFilter::app
  std::int64_t at = 0;
};

// A signed package in the catalog. `bytes` are stored with the row so that every replica
// serves the same package.
struct CatalogEntry {
  std::string name;
  std::string version;
  std::string sha256;  // of the package file, lowercase hex
  std::int64_t size = 0;
  std::string signer;  // certificate subject, "" when unsigned
  std::string descriptor_json;
  std::string uploaded_by;
  std::int64_t uploaded_at = 0;
};

// A fleet policy: the JSON document (api/director.h) that nodes carrying `tag` receive inside
// their desired state. The tag "*" applies to every device.
struct FleetPolicy {
  std::string tag;
  std::string policy_json;
  std::int64_t updated_at = 0;
  std::string updated_by;
};

// A deployment's state machine lives in director/rollout.h; the store keeps its fields.
struct Deployment {
  std::string id;
  std::string app_name;
  std::string version;
  std::string previous_version;  // what rollback returns devices to; "" = uninstall
  std::string spec_json;         // targets, config, rollout settings (api/director.h)
  std::string state;             // rollout.h's states
  std::int64_t wave = 0;         // the current wave, from 0
  std::int64_t next_wave_at = 0;
  std::string reason;  // why it halted, failed or was cancelled
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  // Incremented by every successful UpdateDeployment; callers pass the revision they read.
  std::int64_t revision = 0;
};

// One device's progress in a deployment.
struct DeploymentTarget {
  std::string deployment_id;
  std::string device_id;
  std::int64_t wave = 0;
  std::string state;  // pending | assigned | running | failed | rolled-back | removed
  std::string detail;
  std::int64_t updated_at = 0;
};

// A security alert a device reported (api/alert.h), kept per device.
struct FleetAlert {
  // Assigned by the store: fleet-wide, increasing in the order the alerts were committed, so a
  // reader that pages with `since` never skips one that another replica committed meanwhile.
  std::int64_t id = 0;
  std::string device_id;
  std::int64_t seq = 0;          // the device's own, unique per device
  std::int64_t received_at = 0;  // when the device accepted it
  std::string source;            // an app id, or "host"
  std::string detector;
  std::int64_t severity = 0;  // 1 high, 2 medium, 3 low
  std::string alert_json;
};

struct AlertFilter {
  std::optional<std::string> device_id;
  std::optional<std::string> tag;  // alerts of devices carrying this tag
  std::optional<std::string> detector;
  std::optional<std::int64_t> min_severity;  // at least this severe: severity <= min_severity
  // Set: the alerts with id > since, oldest first. Unset: the newest `limit`, oldest first.
  std::optional<std::int64_t> since;
  std::int64_t limit = 100;
};

class FleetStore {
 public:
  virtual ~FleetStore() = default;

  // --- enrollment tokens
  // kConflict when the id exists.
  virtual Status CreateEnrollmentToken(const EnrollmentToken& token) = 0;
  // Marks the token used by `device_id` at `now` and returns it, only when it exists, its
  // secret hash matches, it is unused and `now` < expires_at; all checked and written in one
  // transaction, so two concurrent enrollments with one token cannot both succeed.
  // kUnauthenticated for every refusal (the caller must not tell a guesser which check
  // failed).
  virtual Result<EnrollmentToken> ConsumeEnrollmentToken(const std::string& id,
                                                         const std::string& secret_hash,
                                                         const std::string& device_id,
                                                         std::int64_t now) = 0;
  // Ordered by created_at, then id.
  virtual Result<std::vector<EnrollmentToken>> ListEnrollmentTokens() = 0;
  // Deleting a missing token succeeds.
  virtual Status DeleteEnrollmentToken(const std::string& id) = 0;

  // --- devices
  // kConflict when the id exists.
  virtual Status InsertDevice(const Device& device) = 0;
  virtual Result<std::optional<Device>> FindDevice(const std::string& id) = 0;
  // The part of FindDevice that every node request reads, in one statement outside any
  // transaction (it costs the store less than a transaction would).
  virtual Result<std::optional<DeviceCredential>> FindDeviceCredential(const std::string& id) = 0;
  // Ordered by id; every filter field that is set must hold.
  virtual Result<std::vector<Device>> ListDevices(const DeviceFilter& filter) = 0;
  // Replaces the certificate fields (renewal). kNotFound when there is no such device.
  virtual Status UpdateDeviceCertificate(const std::string& id, const std::string& serial,
                                         const std::string& fingerprint,
                                         std::int64_t not_after) = 0;
  // kNotFound when there is no such device.
  virtual Status SetDeviceName(const std::string& id, const std::string& name) = 0;
  virtual Status SetDeviceTags(const std::string& id, const std::vector<std::string>& tags) = 0;
  virtual Status RecordReport(const std::string& id, const DeviceReport& report) = 0;
  // Raises last_seen of each listed device to the given time (never lowers it); unknown ids
  // are skipped. Batched: check-ins are counted in memory and written here now and then.
  virtual Status TouchDevices(const std::vector<std::pair<std::string, std::int64_t>>& seen) = 0;
  // Sets status kDecommissioned and adds `serials` (every certificate the device held) to the
  // revoked list, in one transaction. kNotFound when there is no such device.
  virtual Status DecommissionDevice(const std::string& id, const std::vector<std::string>& serials,
                                    std::int64_t now) = 0;
  // Whether a certificate serial (lowercase hex) was revoked.
  virtual Result<bool> IsRevoked(const std::string& serial) = 0;
  // Every revoked serial with its revocation time, ordered by time then serial.
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> ListRevoked() = 0;

  // --- catalog
  // kConflict when (name, version) exists.
  virtual Status PutPackage(const CatalogEntry& entry, const std::string& bytes) = 0;
  virtual Result<std::optional<CatalogEntry>> FindPackage(const std::string& name,
                                                          const std::string& version) = 0;
  // The stored bytes; kNotFound when there is no such package.
  virtual Result<std::string> ReadPackage(const std::string& name, const std::string& version) = 0;
  // Ordered by name, then upload time.
  virtual Result<std::vector<CatalogEntry>> ListPackages() = 0;
  // kNotFound when there is no such package.
  virtual Status DeletePackage(const std::string& name, const std::string& version) = 0;

  // --- policies
  // Creates or replaces the policy of `policy.tag`.
  virtual Status PutPolicy(const FleetPolicy& policy) = 0;
  // Ordered by tag.
  virtual Result<std::vector<FleetPolicy>> ListPolicies() = 0;
  // kNotFound when there is none.
  virtual Status DeletePolicy(const std::string& tag) = 0;

  // --- deployments
  // Inserts the deployment (revision 1) and its targets in one transaction; kConflict when
  // the id exists.
  virtual Status CreateDeployment(const Deployment& deployment,
                                  const std::vector<DeploymentTarget>& targets) = 0;
  virtual Result<std::optional<Deployment>> FindDeployment(const std::string& id) = 0;
  // Ordered by created_at, then id.
  virtual Result<std::vector<Deployment>> ListDeployments() = 0;
  // Writes `deployment` (every field but id, created_*) and the given targets (matched by
  // device id; others unchanged) in one transaction, only if the stored revision still equals
  // deployment.revision; the stored revision becomes revision + 1. kConflict when another
  // writer got there first (re-read and decide again); kNotFound when it does not exist.
  virtual Status UpdateDeployment(const Deployment& deployment,
                                  const std::vector<DeploymentTarget>& targets) = 0;
  // Ordered by wave, then device id.
  virtual Result<std::vector<DeploymentTarget>> ListTargets(const std::string& deployment_id) = 0;
  // Every target of `device_id` across deployments, ordered by deployment created_at.
  virtual Result<std::vector<DeploymentTarget>> TargetsOfDevice(const std::string& device_id) = 0;
  // Sets one target's state and detail (a node's report) unless it is already in that state;
  // kNotFound when there is no such target.
  virtual Status SetTargetState(const std::string& deployment_id, const std::string& device_id,
                                const std::string& state, const std::string& detail,
                                std::int64_t now) = 0;

  // --- alerts
  // Stores those of `alerts` (all of `device_id`; their id and device_id are ignored) whose
  // (device, seq) the store does not hold yet, each with the next fleet-wide id, then removes
  // the device's alerts beyond its newest `keep_per_device`; one transaction. Returns how many
  // were new. kNotFound when there is no such device.
  virtual Result<std::int64_t> RecordAlerts(const std::string& device_id,
                                            const std::vector<FleetAlert>& alerts,
                                            std::int64_t keep_per_device) = 0;
  // Ordered by id; every filter field that is set must hold.
  virtual Result<std::vector<FleetAlert>> ListAlerts(const AlertFilter& filter) = 0;

  // --- coordination between replicas
  // Takes or renews the lease `name` for `holder` until now + ttl_seconds, if it is free,
  // expired, or already held by `holder`. True when `holder` holds it afterwards.
  virtual Result<bool> AcquireLease(const std::string& name, const std::string& holder,
                                    std::int64_t now, std::int64_t ttl_seconds) = 0;
  // A counter raised by every write that can change some device's desired state (devices'
  // tags and status, policies, catalog deletions, deployments and the waves their targets are
  // in). A target's state (SetTargetState: what a node reported) leaves it alone: otherwise
  // every report would wake every long poll of the fleet. Replicas compare it to wake
  // long-polls for changes another replica made.
  virtual Result<std::int64_t> Generation() = 0;
};

class SqlDb;  // sql_db.h

// The store on a database opened with OpenSqliteDb or OpenPostgresDb (sql_db.h), creating its
// tables when missing. The database may be shared with the director's other stores
// (OpenOAuthStore in oauth_store.h): each keeps its own tables and schema version.
Result<std::unique_ptr<FleetStore>> OpenFleetStore(std::shared_ptr<SqlDb> db);

// Embedded SQLite at `path` (created when missing; ":memory:" for tests), WAL with
// synchronous=FULL.
Result<std::unique_ptr<FleetStore>> OpenSqliteStore(const std::string& path);

// PostgreSQL through libpq. `conninfo` is a libpq connection string
// ("host=127.0.0.1 port=5432 dbname=fogkeep user=fogkeep"). Creates the schema when missing
// (concurrent first starts of several replicas are safe). `connections` is the pool size.
Result<std::unique_ptr<FleetStore>> OpenPostgresStore(const std::string& conninfo,
                                                      int connections = 4);

}  // namespace fogkeep::director
