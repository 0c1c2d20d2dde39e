// FleetStore over SqlDb: one implementation for SQLite and PostgreSQL.
//
// Every method is one transaction of the SqlDb, and each conditional method decides in SQL (a
// conditional UPDATE or an upsert) inside it, so replicas sharing a PostgreSQL database never
// act on a value read earlier. Lists of strings (tags, reported apps) live in child tables,
// which is how ListDevices filters by them and why a tag may hold any text.
//
// Text columns sort byte-wise on both back-ends (SQLite's BINARY collation, PostgreSQL's "C"),
// so every ordered list comes back in the same order whichever database holds it.
#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <utility>

#include "director/sql_db.h"
#include "director/sql_store.h"
#include "director/store.h"

namespace fogkeep::director {
namespace {

using sql_store::CheckKeyList;
using sql_store::CheckKeys;
using sql_store::Exists;
using sql_store::GroupedStrings;
using sql_store::ReplaceChildren;
using sql_store::RequireNonEmpty;
using sql_store::Sql;
using sql_store::Strings;

// --- schema

// Version 1 of the schema, for both dialects: `{text}` is a text column that sorts byte-wise,
// `{bytes}` a binary one (sql_store::MigrateSchema runs each version's script).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS fleet_generation(
  id BIGINT PRIMARY KEY,
  value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollment_tokens(
  id {text} PRIMARY KEY,
  secret_hash {text} NOT NULL,
  created_by {text} NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_by {text} NOT NULL,
  used_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS enrollment_tokens_by_creation ON enrollment_tokens(created_at, id);
CREATE TABLE IF NOT EXISTS enrollment_token_tags(
  token_id {text} NOT NULL REFERENCES enrollment_tokens(id) ON DELETE CASCADE,
  tag {text} NOT NULL,
  PRIMARY KEY (token_id, tag));
CREATE TABLE IF NOT EXISTS devices(
  id {text} PRIMARY KEY,
  name {text} NOT NULL,
  status {text} NOT NULL,
  cert_serial {text} NOT NULL,
  cert_fingerprint {text} NOT NULL,
  cert_not_after BIGINT NOT NULL,
  enrolled_at BIGINT NOT NULL,
  agent_version {text} NOT NULL,
  health {text} NOT NULL,
  report_json {text} NOT NULL,
  last_report_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS device_tags(
  device_id {text} NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  tag {text} NOT NULL,
  PRIMARY KEY (device_id, tag));
CREATE INDEX IF NOT EXISTS device_tags_by_tag ON device_tags(tag, device_id);
CREATE TABLE IF NOT EXISTS device_apps(
  device_id {text} NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  app {text} NOT NULL,
  PRIMARY KEY (device_id, app));
CREATE INDEX IF NOT EXISTS device_apps_by_app ON device_apps(app, device_id);
CREATE TABLE IF NOT EXISTS revoked_certificates(
  serial {text} PRIMARY KEY,
  revoked_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS revoked_certificates_by_time
  ON revoked_certificates(revoked_at, serial);
CREATE TABLE IF NOT EXISTS catalog_packages(
  name {text} NOT NULL,
  version {text} NOT NULL,
  sha256 {text} NOT NULL,
  size BIGINT NOT NULL,
  signer {text} NOT NULL,
  descriptor_json {text} NOT NULL,
  uploaded_by {text} NOT NULL,
  uploaded_at BIGINT NOT NULL,
  bytes {bytes} NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS fleet_policies(
  tag {text} PRIMARY KEY,
  policy_json {text} NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by {text} NOT NULL);
CREATE TABLE IF NOT EXISTS deployments(
  id {text} PRIMARY KEY,
  app_name {text} NOT NULL,
  version {text} NOT NULL,
  previous_version {text} NOT NULL,
  spec_json {text} NOT NULL,
  state {text} NOT NULL,
  wave BIGINT NOT NULL,
  next_wave_at BIGINT NOT NULL,
  reason {text} NOT NULL,
  created_by {text} NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS deployments_by_creation ON deployments(created_at, id);
CREATE TABLE IF NOT EXISTS deployment_targets(
  deployment_id {text} NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  device_id {text} NOT NULL,
  wave BIGINT NOT NULL,
  state {text} NOT NULL,
  detail {text} NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (deployment_id, device_id));
CREATE INDEX IF NOT EXISTS deployment_targets_by_device ON deployment_targets(device_id);
CREATE TABLE IF NOT EXISTS leases(
  name {text} PRIMARY KEY,
  holder {text} NOT NULL,
  expires_at BIGINT NOT NULL);
INSERT INTO fleet_generation(id, value) VALUES(1, 0) ON CONFLICT (id) DO NOTHING;
)sql";

// Version 2 adds the devices' security alerts. `alert_counter` hands out their fleet-wide ids:
// a writer holds its row until it commits, so ids increase in commit order on both back-ends
// (a PostgreSQL sequence would not: its values are taken outside the transaction).
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS alert_counter(
  id BIGINT PRIMARY KEY,
  value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS device_alerts(
  id BIGINT PRIMARY KEY,
  device_id {text} NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  source {text} NOT NULL,
  detector {text} NOT NULL,
  severity BIGINT NOT NULL,
  alert_json {text} NOT NULL,
  UNIQUE (device_id, seq));
CREATE INDEX IF NOT EXISTS device_alerts_by_device ON device_alerts(device_id, id);
CREATE INDEX IF NOT EXISTS device_alerts_by_detector ON device_alerts(detector, id);
INSERT INTO alert_counter(id, value) VALUES(1, 0) ON CONFLICT (id) DO NOTHING;
)sql";

constexpr std::array<std::string_view, 2> kSchemaSteps = {kSchemaV1, kSchemaV2};

// --- rows

constexpr std::string_view kTokenColumns =
    "id, secret_hash, created_by, created_at, expires_at, used_by, used_at";

EnrollmentToken ReadToken(const SqlRow& row) {
  EnrollmentToken t;
  t.id = row.Text(0);
  t.secret_hash = row.Text(1);
  t.created_by = row.Text(2);
  t.created_at = row.Int(3);
  t.expires_at = row.Int(4);
  t.used_by = row.Text(5);
  t.used_at = row.Int(6);
  return t;
}

constexpr std::string_view kDeviceColumns =
    "id, name, status, cert_serial, cert_fingerprint, cert_not_after, enrolled_at, "
    "agent_version, health, report_json, last_report_at, last_seen";

std::string_view DeviceStatusName(DeviceStatus status) {
  return status == DeviceStatus::kDecommissioned ? "decommissioned" : "enrolled";
}

Result<DeviceStatus> ReadDeviceStatus(std::string_view id, const std::string& status) {
  if (status == "enrolled") return DeviceStatus::kEnrolled;
  if (status == "decommissioned") return DeviceStatus::kDecommissioned;
  return Fail(ErrorCode::kInternal,
              "device " + std::string(id) + " has unknown status \"" + status + "\"");
}

Result<Device> ReadDevice(const SqlRow& row) {
  Device d;
  d.id = row.Text(0);
  d.name = row.Text(1);
  d.status = FK_TRY(ReadDeviceStatus(d.id, row.Text(2)));
  d.cert_serial = row.Text(3);
  d.cert_fingerprint = row.Text(4);
  d.cert_not_after = row.Int(5);
  d.enrolled_at = row.Int(6);
  d.agent_version = row.Text(7);
  d.health = row.Text(8);
  d.report_json = row.Text(9);
  d.last_report_at = row.Int(10);
  d.last_seen = row.Int(11);
  return d;
}

constexpr std::string_view kPackageColumns =
    "name, version, sha256, size, signer, descriptor_json, uploaded_by, uploaded_at";

CatalogEntry ReadPackageRow(const SqlRow& row) {
  CatalogEntry e;
  e.name = row.Text(0);
  e.version = row.Text(1);
  e.sha256 = row.Text(2);
  e.size = row.Int(3);
  e.signer = row.Text(4);
  e.descriptor_json = row.Text(5);
  e.uploaded_by = row.Text(6);
  e.uploaded_at = row.Int(7);
  return e;
}

constexpr std::string_view kDeploymentColumns =
    "id, app_name, version, previous_version, spec_json, state, wave, next_wave_at, reason, "
    "created_by, created_at, updated_at, revision";

Deployment ReadDeployment(const SqlRow& row) {
  Deployment d;
  d.id = row.Text(0);
  d.app_name = row.Text(1);
  d.version = row.Text(2);
  d.previous_version = row.Text(3);
  d.spec_json = row.Text(4);
  d.state = row.Text(5);
  d.wave = row.Int(6);
  d.next_wave_at = row.Int(7);
  d.reason = row.Text(8);
  d.created_by = row.Text(9);
  d.created_at = row.Int(10);
  d.updated_at = row.Int(11);
  d.revision = row.Int(12);
  return d;
}

constexpr std::string_view kTargetColumns =
    "deployment_id, device_id, wave, state, detail, updated_at";

DeploymentTarget ReadTarget(const SqlRow& row) {
  return DeploymentTarget{row.Text(0), row.Text(1), row.Int(2),
                          row.Text(3), row.Text(4), row.Int(5)};
}

// Raises the fleet generation inside the caller's transaction.
Status BumpGeneration(SqlTx& tx) {
  auto changed = FK_TRY(tx.Exec("UPDATE fleet_generation SET value = value + 1 WHERE id = 1"));
  if (changed != 1) return Fail(ErrorCode::kInternal, "the fleet generation row is missing");
  return {};
}

class SqlFleetStore final : public FleetStore, private sql_store::SqlStore {
 public:
  explicit SqlFleetStore(std::shared_ptr<SqlDb> db) : SqlStore(std::move(db)) {}

  // --- enrollment tokens

  Status CreateEnrollmentToken(const EnrollmentToken& token) override {
    FK_TRY_CTX(RequireNonEmpty(token.id, "token id"), "create enrollment token");
    FK_TRY_CTX(CheckKeys("token id", {token.id}), "create enrollment token");
    FK_TRY_CTX(CheckKeyList("a tag", token.tags), "create enrollment token");
    return Write("create enrollment token", [&](SqlTx& tx) -> Status {
      auto inserted =
          FK_TRY(tx.Exec("INSERT INTO enrollment_tokens(" + std::string(kTokenColumns) +
                             ") VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                         {token.id, token.secret_hash, token.created_by, token.created_at,
                          token.expires_at, token.used_by, token.used_at}));
      if (inserted == 0) {
        return Fail(ErrorCode::kConflict, "enrollment token " + token.id + " exists");
      }
      return ReplaceChildren(tx, "enrollment_token_tags", "token_id", "tag", token.id, token.tags);
    });
  }

  Result<EnrollmentToken> ConsumeEnrollmentToken(const std::string& id,
                                                 const std::string& secret_hash,
                                                 const std::string& device_id,
                                                 std::int64_t now) override {
    // An empty used_by means "unused": consuming with it would leave the token reusable.
    FK_TRY_CTX(RequireNonEmpty(device_id, "device id"), "consume enrollment token");
    EnrollmentToken token;
    Status status = Write("consume enrollment token", [&](SqlTx& tx) -> Status {
      bool consumed = false;
      FK_TRY(tx.Query(Sql("UPDATE enrollment_tokens SET used_by = ?, used_at = ? "
                          "WHERE id = ? AND secret_hash = ? AND used_by = '' AND expires_at > ? "
                          "RETURNING ",
                          kTokenColumns, ""),
                      {device_id, now, id, secret_hash, now}, [&](const SqlRow& row) -> Status {
                        token = ReadToken(row);
                        consumed = true;
                        return {};
                      }));
      if (!consumed) {
        return Fail(ErrorCode::kUnauthenticated,
                    "the enrollment token is unknown, used, expired, or its secret is wrong");
      }
      token.tags = FK_TRY(Strings(
          tx, "SELECT tag FROM enrollment_token_tags WHERE token_id = ? ORDER BY tag", {id}));
      return {};
    });
    if (!status) {
      // Text the database refuses (NUL, invalid UTF-8) is one more wrong guess.
      if (status.error().code() == ErrorCode::kInvalidInput) {
        return Fail(ErrorCode::kUnauthenticated, status.error().message());
      }
      return Fail(std::move(status).error());
    }
    return token;
  }

  Result<std::vector<EnrollmentToken>> ListEnrollmentTokens() override {
    std::vector<EnrollmentToken> tokens;
    FK_TRY(Read("list enrollment tokens", [&](SqlTx& tx) -> Status {
      tokens.clear();
      FK_TRY(
          tx.Query(Sql("SELECT ", kTokenColumns, " FROM enrollment_tokens ORDER BY created_at, id"),
                   {}, [&](const SqlRow& row) -> Status {
                     tokens.push_back(ReadToken(row));
                     return {};
                   }));
      auto tags = FK_TRY(GroupedStrings(
          tx, "SELECT token_id, tag FROM enrollment_token_tags ORDER BY token_id, tag", {}));
      for (EnrollmentToken& token : tokens) {
        if (auto it = tags.find(token.id); it != tags.end()) token.tags = std::move(it->second);
      }
      return {};
    }));
    return tokens;
  }

  Status DeleteEnrollmentToken(const std::string& id) override {
    return Write("delete enrollment token", [&](SqlTx& tx) -> Status {
      FK_TRY(tx.Exec("DELETE FROM enrollment_token_tags WHERE token_id = ?", {id}));
      FK_TRY(tx.Exec("DELETE FROM enrollment_tokens WHERE id = ?", {id}));
      return {};
    });
  }

  // --- devices

  Status InsertDevice(const Device& device) override {
    FK_TRY_CTX(RequireNonEmpty(device.id, "device id"), "insert device");
    FK_TRY_CTX(CheckKeys("device id", {device.id}), "insert device");
    FK_TRY_CTX(CheckKeyList("a tag", device.tags), "insert device");
    return Write("insert device", [&](SqlTx& tx) -> Status {
      auto inserted = FK_TRY(tx.Exec(
          "INSERT INTO devices(" + std::string(kDeviceColumns) +
              ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
          {device.id, device.name, std::string(DeviceStatusName(device.status)), device.cert_serial,
           device.cert_fingerprint, device.cert_not_after, device.enrolled_at, device.agent_version,
           device.health, device.report_json, device.last_report_at, device.last_seen}));
      if (inserted == 0) return Fail(ErrorCode::kConflict, "device " + device.id + " exists");
      FK_TRY(ReplaceChildren(tx, "device_tags", "device_id", "tag", device.id, device.tags));
      return BumpGeneration(tx);
    });
  }

  Result<std::optional<Device>> FindDevice(const std::string& id) override {
    std::optional<Device> device;
    FK_TRY(Read("find device", [&](SqlTx& tx) -> Status {
      device.reset();
      FK_TRY(tx.Query(Sql("SELECT ", kDeviceColumns, " FROM devices WHERE id = ?"), {id},
                      [&](const SqlRow& row) -> Status {
                        device = FK_TRY(ReadDevice(row));
                        return {};
                      }));
      if (!device) return {};
      device->tags =
          FK_TRY(Strings(tx, "SELECT tag FROM device_tags WHERE device_id = ? ORDER BY tag", {id}));
      return {};
    }));
    return device;
  }

  Result<std::optional<DeviceCredential>> FindDeviceCredential(const std::string& id) override {
    std::optional<DeviceCredential> credential;
    FK_TRY(QueryOnce("find device credential",
                     "SELECT status, cert_fingerprint, last_seen FROM devices WHERE id = ?", {id},
                     [&](const SqlRow& row) -> Status {
                       const DeviceStatus status = FK_TRY(ReadDeviceStatus(id, row.Text(0)));
                       credential = DeviceCredential{.status = status,
                                                     .cert_fingerprint = row.Text(1),
                                                     .last_seen = row.Int(2)};
                       return {};
                     }));
    return credential;
  }

  Result<std::vector<Device>> ListDevices(const DeviceFilter& filter) override {
    // One condition on the devices table `d`, used for the rows and again for their tags.
    std::string where = " WHERE 1 = 1";
    SqlParams params;
    if (filter.tag) {
      where += " AND EXISTS (SELECT 1 FROM device_tags f WHERE f.device_id = d.id AND f.tag = ?)";
      params.push_back(*filter.tag);
    }
    if (filter.status) {
      where += " AND d.status = ?";
      params.push_back(std::string(DeviceStatusName(*filter.status)));
    }
    if (filter.app) {
      where += " AND EXISTS (SELECT 1 FROM device_apps a WHERE a.device_id = d.id AND a.app = ?)";
      params.push_back(*filter.app);
    }
    std::string columns;
    for (std::string_view rest = kDeviceColumns; !rest.empty();) {
      auto comma = rest.find(", ");
      columns += (columns.empty() ? "d." : ", d.") + std::string(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    std::vector<Device> devices;
    FK_TRY(Read("list devices", [&](SqlTx& tx) -> Status {
      devices.clear();
      FK_TRY(tx.Query("SELECT " + columns + " FROM devices d" + where + " ORDER BY d.id", params,
                      [&](const SqlRow& row) -> Status {
                        devices.push_back(FK_TRY(ReadDevice(row)));
                        return {};
                      }));
      auto tags = FK_TRY(GroupedStrings(tx,
                                        "SELECT t.device_id, t.tag FROM device_tags t JOIN "
                                        "devices d ON d.id = t.device_id" +
                                            where + " ORDER BY t.device_id, t.tag",
                                        params));
      for (Device& device : devices) {
        if (auto it = tags.find(device.id); it != tags.end()) device.tags = std::move(it->second);
      }
      return {};
    }));
    return devices;
  }

  Status UpdateDeviceCertificate(const std::string& id, const std::string& serial,
                                 const std::string& fingerprint, std::int64_t not_after) override {
    return Write("update device certificate", [&](SqlTx& tx) -> Status {
      auto changed = FK_TRY(
          tx.Exec("UPDATE devices SET cert_serial = ?, cert_fingerprint = ?, cert_not_after = ? "
                  "WHERE id = ?",
                  {serial, fingerprint, not_after, id}));
      if (changed == 0) return Fail(ErrorCode::kNotFound, "no device " + id);
      return {};
    });
  }

  Status SetDeviceName(const std::string& id, const std::string& name) override {
    return Write("rename device", [&](SqlTx& tx) -> Status {
      auto changed = FK_TRY(tx.Exec("UPDATE devices SET name = ? WHERE id = ?", {name, id}));
      if (changed == 0) return Fail(ErrorCode::kNotFound, "no device " + id);
      return {};
    });
  }

  Status SetDeviceTags(const std::string& id, const std::vector<std::string>& tags) override {
    FK_TRY_CTX(CheckKeyList("a tag", tags), "set device tags");
    return Write("set device tags", [&](SqlTx& tx) -> Status {
      if (!FK_TRY(Exists(tx, "SELECT 1 FROM devices WHERE id = ?", {id}))) {
        return Fail(ErrorCode::kNotFound, "no device " + id);
      }
      FK_TRY(ReplaceChildren(tx, "device_tags", "device_id", "tag", id, tags));
      return BumpGeneration(tx);
    });
  }

  Status RecordReport(const std::string& id, const DeviceReport& report) override {
    FK_TRY_CTX(CheckKeyList("an app name", report.apps), "record device report");
    return Write("record device report", [&](SqlTx& tx) -> Status {
      auto changed =
          FK_TRY(tx.Exec("UPDATE devices SET agent_version = ?, health = ?, report_json = ?, "
                         "last_report_at = ? WHERE id = ?",
                         {report.agent_version, report.health, report.report_json, report.at, id}));
      if (changed == 0) return Fail(ErrorCode::kNotFound, "no device " + id);
      return ReplaceChildren(tx, "device_apps", "device_id", "app", id, report.apps);
    });
  }

  Status TouchDevices(const std::vector<std::pair<std::string, std::int64_t>>& seen) override {
    if (seen.empty()) return {};
    // Rows are updated in id order, so that two replicas touching overlapping batches lock
    // them in the same order instead of deadlocking.
    std::vector<std::pair<std::string, std::int64_t>> sorted = seen;
    std::ranges::sort(sorted);
    return Write("touch devices", [&](SqlTx& tx) -> Status {
      for (const auto& [id, at] : sorted) {
        FK_TRY(tx.Exec("UPDATE devices SET last_seen = ? WHERE id = ? AND last_seen < ?",
                       {at, id, at}));
      }
      return {};
    });
  }

  // Also revokes the certificate the device holds now, so that a caller listing only older
  // serials cannot leave the current one valid.
  Status DecommissionDevice(const std::string& id, const std::vector<std::string>& serials,
                            std::int64_t now) override {
    FK_TRY_CTX(CheckKeyList("a serial", serials), "decommission device");
    return Write("decommission device", [&](SqlTx& tx) -> Status {
      std::vector<std::string> revoke = serials;
      bool found = false;
      FK_TRY(tx.Query("SELECT cert_serial FROM devices WHERE id = ?", {id},
                      [&](const SqlRow& row) -> Status {
                        found = true;
                        if (std::string current = row.Text(0); !current.empty()) {
                          revoke.push_back(std::move(current));
                        }
                        return {};
                      }));
      if (!found) return Fail(ErrorCode::kNotFound, "no device " + id);
      FK_TRY(tx.Exec("UPDATE devices SET status = ? WHERE id = ?",
                     {std::string(DeviceStatusName(DeviceStatus::kDecommissioned)), id}));
      for (const std::string& serial : revoke) {
        if (serial.empty()) continue;
        // A serial revoked before keeps its first revocation time.
        FK_TRY(
            tx.Exec("INSERT INTO revoked_certificates(serial, revoked_at) VALUES(?, ?) "
                    "ON CONFLICT (serial) DO NOTHING",
                    {serial, now}));
      }
      return BumpGeneration(tx);
    });
  }

  Result<bool> IsRevoked(const std::string& serial) override {
    bool revoked = false;
    FK_TRY(Read("check revocation", [&](SqlTx& tx) -> Status {
      revoked = FK_TRY(Exists(tx, "SELECT 1 FROM revoked_certificates WHERE serial = ?", {serial}));
      return {};
    }));
    return revoked;
  }

  Result<std::vector<std::pair<std::string, std::int64_t>>> ListRevoked() override {
    std::vector<std::pair<std::string, std::int64_t>> revoked;
    FK_TRY(Read("list revoked certificates", [&](SqlTx& tx) -> Status {
      revoked.clear();
      return tx.Query(
          "SELECT serial, revoked_at FROM revoked_certificates ORDER BY revoked_at, serial", {},
          [&](const SqlRow& row) -> Status {
            revoked.emplace_back(row.Text(0), row.Int(1));
            return {};
          });
    }));
    return revoked;
  }

  // --- catalog

  Status PutPackage(const CatalogEntry& entry, const std::string& bytes) override {
    FK_TRY_CTX(RequireNonEmpty(entry.name, "package name"), "put package");
    FK_TRY_CTX(RequireNonEmpty(entry.version, "package version"), "put package");
    FK_TRY_CTX(CheckKeys("package name or version", {entry.name, entry.version}), "put package");
    if (entry.size < 0 || static_cast<std::uint64_t>(entry.size) != bytes.size()) {
      return Fail(ErrorCode::kInvalidInput, "put package: the entry says " +
                                                std::to_string(entry.size) + " bytes, the " +
                                                "package has " + std::to_string(bytes.size()));
    }
    return Write("put package", [&](SqlTx& tx) -> Status {
      auto inserted = FK_TRY(tx.Exec(
          "INSERT INTO catalog_packages(" + std::string(kPackageColumns) +
              ", bytes) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, version) DO NOTHING",
          {entry.name, entry.version, entry.sha256, entry.size, entry.signer, entry.descriptor_json,
           entry.uploaded_by, entry.uploaded_at, SqlBlob{bytes}}));
      if (inserted == 0) {
        return Fail(ErrorCode::kConflict,
                    "package " + entry.name + " " + entry.version + " is in the catalog");
      }
      return {};
    });
  }

  Result<std::optional<CatalogEntry>> FindPackage(const std::string& name,
                                                  const std::string& version) override {
    std::optional<CatalogEntry> entry;
    FK_TRY(Read("find package", [&](SqlTx& tx) -> Status {
      entry.reset();
      return tx.Query(
          Sql("SELECT ", kPackageColumns, " FROM catalog_packages WHERE name = ? AND version = ?"),
          {name, version}, [&](const SqlRow& row) -> Status {
            entry = ReadPackageRow(row);
            return {};
          });
    }));
    return entry;
  }

  Result<std::string> ReadPackage(const std::string& name, const std::string& version) override {
    std::optional<std::string> bytes;
    FK_TRY(Read("read package", [&](SqlTx& tx) -> Status {
      bytes.reset();
      return tx.Query("SELECT bytes FROM catalog_packages WHERE name = ? AND version = ?",
                      {name, version}, [&](const SqlRow& row) -> Status {
                        bytes = row.Text(0);
                        return {};
                      });
    }));
    if (!bytes) return Fail(ErrorCode::kNotFound, "no package " + name + " " + version);
    return std::move(*bytes);
  }

  Result<std::vector<CatalogEntry>> ListPackages() override {
    std::vector<CatalogEntry> entries;
    FK_TRY(Read("list packages", [&](SqlTx& tx) -> Status {
      entries.clear();
      return tx.Query(Sql("SELECT ", kPackageColumns,
                          " FROM catalog_packages ORDER BY name, uploaded_at, version"),
                      {}, [&](const SqlRow& row) -> Status {
                        entries.push_back(ReadPackageRow(row));
                        return {};
                      });
    }));
    return entries;
  }

  Status DeletePackage(const std::string& name, const std::string& version) override {
    return Write("delete package", [&](SqlTx& tx) -> Status {
      auto deleted = FK_TRY(
          tx.Exec("DELETE FROM catalog_packages WHERE name = ? AND version = ?", {name, version}));
      if (deleted == 0) return Fail(ErrorCode::kNotFound, "no package " + name + " " + version);
      return BumpGeneration(tx);
    });
  }

  // --- policies

  Status PutPolicy(const FleetPolicy& policy) override {
    FK_TRY_CTX(RequireNonEmpty(policy.tag, "policy tag"), "put policy");
    FK_TRY_CTX(CheckKeys("policy tag", {policy.tag}), "put policy");
    return Write("put policy", [&](SqlTx& tx) -> Status {
      FK_TRY(tx.Exec(
          "INSERT INTO fleet_policies(tag, policy_json, updated_at, updated_by) "
          "VALUES(?, ?, ?, ?) ON CONFLICT (tag) DO UPDATE SET policy_json = excluded.policy_json, "
          "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
          {policy.tag, policy.policy_json, policy.updated_at, policy.updated_by}));
      return BumpGeneration(tx);
    });
  }

  Result<std::vector<FleetPolicy>> ListPolicies() override {
    std::vector<FleetPolicy> policies;
    FK_TRY(Read("list policies", [&](SqlTx& tx) -> Status {
      policies.clear();
      return tx.Query(
          "SELECT tag, policy_json, updated_at, updated_by FROM fleet_policies ORDER BY tag", {},
          [&](const SqlRow& row) -> Status {
            policies.push_back(FleetPolicy{row.Text(0), row.Text(1), row.Int(2), row.Text(3)});
            return {};
          });
    }));
    return policies;
  }

  Status DeletePolicy(const std::string& tag) override {
    return Write("delete policy", [&](SqlTx& tx) -> Status {
      auto deleted = FK_TRY(tx.Exec("DELETE FROM fleet_policies WHERE tag = ?", {tag}));
      if (deleted == 0) return Fail(ErrorCode::kNotFound, "no policy for tag " + tag);
      return BumpGeneration(tx);
    });
  }

  // --- deployments

  // Each target's deployment_id must be empty or the deployment's id; each device may be
  // listed once.
  Status CreateDeployment(const Deployment& deployment,
                          const std::vector<DeploymentTarget>& targets) override {
    FK_TRY_CTX(RequireNonEmpty(deployment.id, "deployment id"), "create deployment");
    FK_TRY_CTX(CheckKeys("deployment id", {deployment.id}), "create deployment");
    FK_TRY_CTX(CheckTargets(deployment.id, targets), "create deployment");
    return Write("create deployment", [&](SqlTx& tx) -> Status {
      auto inserted = FK_TRY(
          tx.Exec("INSERT INTO deployments(" + std::string(kDeploymentColumns) +
                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING",
                  {deployment.id, deployment.app_name, deployment.version,
                   deployment.previous_version, deployment.spec_json, deployment.state,
                   deployment.wave, deployment.next_wave_at, deployment.reason,
                   deployment.created_by, deployment.created_at, deployment.updated_at}));
      if (inserted == 0) {
        return Fail(ErrorCode::kConflict, "deployment " + deployment.id + " exists");
      }
      FK_TRY(UpsertTargets(tx, deployment.id, targets));
      return BumpGeneration(tx);
    });
  }

  Result<std::optional<Deployment>> FindDeployment(const std::string& id) override {
    std::optional<Deployment> deployment;
    FK_TRY(Read("find deployment", [&](SqlTx& tx) -> Status {
      deployment.reset();
      return tx.Query(Sql("SELECT ", kDeploymentColumns, " FROM deployments WHERE id = ?"), {id},
                      [&](const SqlRow& row) -> Status {
                        deployment = ReadDeployment(row);
                        return {};
                      });
    }));
    return deployment;
  }

  Result<std::vector<Deployment>> ListDeployments() override {
    std::vector<Deployment> deployments;
    FK_TRY(Read("list deployments", [&](SqlTx& tx) -> Status {
      deployments.clear();
      return tx.Query(
          Sql("SELECT ", kDeploymentColumns, " FROM deployments ORDER BY created_at, id"), {},
          [&](const SqlRow& row) -> Status {
            deployments.push_back(ReadDeployment(row));
            return {};
          });
    }));
    return deployments;
  }

  // A target whose device is not yet part of the deployment is added to it.
  Status UpdateDeployment(const Deployment& deployment,
                          const std::vector<DeploymentTarget>& targets) override {
    FK_TRY_CTX(CheckTargets(deployment.id, targets), "update deployment");
    return Write("update deployment", [&](SqlTx& tx) -> Status {
      auto changed = FK_TRY(tx.Exec(
          "UPDATE deployments SET app_name = ?, version = ?, previous_version = ?, "
          "spec_json = ?, state = ?, wave = ?, next_wave_at = ?, reason = ?, updated_at = ?, "
          "revision = revision + 1 WHERE id = ? AND revision = ?",
          {deployment.app_name, deployment.version, deployment.previous_version,
           deployment.spec_json, deployment.state, deployment.wave, deployment.next_wave_at,
           deployment.reason, deployment.updated_at, deployment.id, deployment.revision}));
      if (changed == 0) {
        if (!FK_TRY(Exists(tx, "SELECT 1 FROM deployments WHERE id = ?", {deployment.id}))) {
          return Fail(ErrorCode::kNotFound, "no deployment " + deployment.id);
        }
        return Fail(ErrorCode::kConflict, "deployment " + deployment.id +
                                              " changed since revision " +
                                              std::to_string(deployment.revision) + " was read");
      }
      FK_TRY(UpsertTargets(tx, deployment.id, targets));
      return BumpGeneration(tx);
    });
  }

  Result<std::vector<DeploymentTarget>> ListTargets(const std::string& deployment_id) override {
    std::vector<DeploymentTarget> targets;
    FK_TRY(Read("list deployment targets", [&](SqlTx& tx) -> Status {
      targets.clear();
      return tx.Query(Sql("SELECT ", kTargetColumns,
                          " FROM deployment_targets WHERE deployment_id = ? "
                          "ORDER BY wave, device_id"),
                      {deployment_id}, [&](const SqlRow& row) -> Status {
                        targets.push_back(ReadTarget(row));
                        return {};
                      });
    }));
    return targets;
  }

  Result<std::vector<DeploymentTarget>> TargetsOfDevice(const std::string& device_id) override {
    std::vector<DeploymentTarget> targets;
    FK_TRY(Read("list targets of device", [&](SqlTx& tx) -> Status {
      targets.clear();
      return tx.Query(
          "SELECT t.deployment_id, t.device_id, t.wave, t.state, t.detail, t.updated_at "
          "FROM deployment_targets t JOIN deployments d ON d.id = t.deployment_id "
          "WHERE t.device_id = ? ORDER BY d.created_at, d.id",
          {device_id}, [&](const SqlRow& row) -> Status {
            targets.push_back(ReadTarget(row));
            return {};
          });
    }));
    return targets;
  }

  Status SetTargetState(const std::string& deployment_id, const std::string& device_id,
                        const std::string& state, const std::string& detail,
                        std::int64_t now) override {
    return Write("set deployment target state", [&](SqlTx& tx) -> Status {
      auto changed =
          FK_TRY(tx.Exec("UPDATE deployment_targets SET state = ?, detail = ?, updated_at = ? "
                         "WHERE deployment_id = ? AND device_id = ? AND state <> ?",
                         {state, detail, now, deployment_id, device_id, state}));
      if (changed == 1) return {};
      if (!FK_TRY(Exists(tx,
                         "SELECT 1 FROM deployment_targets WHERE deployment_id = ? AND "
                         "device_id = ?",
                         {deployment_id, device_id}))) {
        return Fail(ErrorCode::kNotFound,
                    "device " + device_id + " is not a target of deployment " + deployment_id);
      }
      return {};  // already in that state
    });
  }

  // --- alerts

  Result<std::int64_t> RecordAlerts(const std::string& device_id,
                                    const std::vector<FleetAlert>& alerts,
                                    std::int64_t keep_per_device) override {
    if (keep_per_device < 1) {
      return Fail(ErrorCode::kInvalidInput, "record alerts: keep at least one alert per device");
    }
    FK_TRY_CTX(CheckKeys("device id", {device_id}), "record alerts");
    for (const FleetAlert& alert : alerts) {
      FK_TRY_CTX(CheckKeys("an alert's source or detector", {alert.source, alert.detector}),
                 "record alerts");
    }
    std::int64_t added = 0;
    FK_TRY(Write("record alerts", [&](SqlTx& tx) -> Status {
      added = 0;
      if (!FK_TRY(Exists(tx, "SELECT 1 FROM devices WHERE id = ?", {device_id}))) {
        return Fail(ErrorCode::kNotFound, "no device " + device_id);
      }
      if (alerts.empty()) return {};
      const auto [low, high] = std::ranges::minmax(alerts, {}, &FleetAlert::seq);
      std::set<std::int64_t> held;
      FK_TRY(tx.Query("SELECT seq FROM device_alerts WHERE device_id = ? AND seq >= ? AND seq <= ?",
                      {device_id, low.seq, high.seq}, [&](const SqlRow& row) -> Status {
                        held.insert(row.Int(0));
                        return {};
                      }));
      std::vector<const FleetAlert*> fresh;
      for (const FleetAlert& alert : alerts) {
        if (held.insert(alert.seq).second) fresh.push_back(&alert);
      }
      if (fresh.empty()) return {};
      const auto count = static_cast<std::int64_t>(fresh.size());
      std::int64_t last = 0;
      FK_TRY(tx.Query("UPDATE alert_counter SET value = value + ? WHERE id = 1 RETURNING value",
                      {count}, [&](const SqlRow& row) -> Status {
                        last = row.Int(0);
                        return {};
                      }));
      if (last == 0) return Fail(ErrorCode::kInternal, "the alert counter row is missing");
      std::int64_t id = last - count + 1;
      // A few rows per statement: one round trip each on PostgreSQL, well under either
      // database's limit of parameters.
      constexpr std::size_t kRowsPerInsert = 50;
      for (std::size_t start = 0; start < fresh.size(); start += kRowsPerInsert) {
        std::string sql =
            "INSERT INTO device_alerts(id, device_id, seq, received_at, source, detector, "
            "severity, alert_json) VALUES";
        SqlParams params;
        const std::size_t end = std::min(fresh.size(), start + kRowsPerInsert);
        for (std::size_t i = start; i < end; ++i) {
          const FleetAlert& a = *fresh[i];
          sql += i == start ? " (?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?)";
          params.insert(params.end(), {id++, device_id, a.seq, a.received_at, a.source, a.detector,
                                       a.severity, a.alert_json});
        }
        // Another replica may have stored the same alert meanwhile (a node retrying on it):
        // keep that one; the id left unused is a harmless gap.
        sql += " ON CONFLICT (device_id, seq) DO NOTHING";
        FK_TRY(tx.Exec(sql, params));
      }
      FK_TRY(tx.Exec(
          "DELETE FROM device_alerts WHERE device_id = ? AND id <= (SELECT id FROM device_alerts "
          "WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
          {device_id, device_id, keep_per_device}));
      added = count;
      return {};
    }));
    return added;
  }

  Result<std::vector<FleetAlert>> ListAlerts(const AlertFilter& filter) override {
    std::string where = " WHERE 1 = 1";
    SqlParams params;
    if (filter.since) {
      where += " AND a.id > ?";
      params.push_back(*filter.since);
    }
    if (filter.device_id) {
      where += " AND a.device_id = ?";
      params.push_back(*filter.device_id);
    }
    if (filter.tag) {
      where +=
          " AND EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = a.device_id AND t.tag = ?)";
      params.push_back(*filter.tag);
    }
    if (filter.detector) {
      where += " AND a.detector = ?";
      params.push_back(*filter.detector);
    }
    if (filter.min_severity) {
      where += " AND a.severity <= ?";
      params.push_back(*filter.min_severity);
    }
    params.push_back(std::max<std::int64_t>(filter.limit, 0));
    // Without a cursor the newest are wanted: read newest first, then turn them around.
    const bool newest = !filter.since;
    std::vector<FleetAlert> out;
    FK_TRY(Read("list alerts", [&](SqlTx& tx) -> Status {
      out.clear();
      return tx.Query(
          "SELECT a.id, a.device_id, a.seq, a.received_at, a.source, a.detector, a.severity, "
          "a.alert_json FROM device_alerts a" +
              where + (newest ? " ORDER BY a.id DESC" : " ORDER BY a.id") + " LIMIT ?",
          params, [&](const SqlRow& row) -> Status {
            out.push_back(FleetAlert{.id = row.Int(0),
                                     .device_id = row.Text(1),
                                     .seq = row.Int(2),
                                     .received_at = row.Int(3),
                                     .source = row.Text(4),
                                     .detector = row.Text(5),
                                     .severity = row.Int(6),
                                     .alert_json = row.Text(7)});
            return {};
          });
    }));
    if (newest) std::ranges::reverse(out);
    return out;
  }

  // --- coordination

  Result<bool> AcquireLease(const std::string& name, const std::string& holder, std::int64_t now,
                            std::int64_t ttl_seconds) override {
    FK_TRY_CTX(RequireNonEmpty(name, "lease name"), "acquire lease");
    FK_TRY_CTX(RequireNonEmpty(holder, "lease holder"), "acquire lease");
    FK_TRY_CTX(CheckKeys("lease name", {name}), "acquire lease");
    if (ttl_seconds <= 0) {
      return Fail(ErrorCode::kInvalidInput, "acquire lease: the time to live must be positive");
    }
    bool held = false;
    FK_TRY(Write("acquire lease", [&](SqlTx& tx) -> Status {
      // The upsert's WHERE decides inside the database: a lease row is replaced only when it
      // is the holder's own or has expired.
      auto changed =
          FK_TRY(tx.Exec("INSERT INTO leases(name, holder, expires_at) VALUES(?, ?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                         "expires_at = excluded.expires_at "
                         "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                         {name, holder, now + ttl_seconds, now}));
      held = changed > 0;
      return {};
    }));
    return held;
  }

  Result<std::int64_t> Generation() override {
    std::int64_t generation = 0;
    FK_TRY(Read("read fleet generation", [&](SqlTx& tx) -> Status {
      return tx.Query("SELECT value FROM fleet_generation WHERE id = 1", {},
                      [&](const SqlRow& row) -> Status {
                        generation = row.Int(0);
                        return {};
                      });
    }));
    return generation;
  }

 private:
  static Status CheckTargets(const std::string& deployment_id,
                             const std::vector<DeploymentTarget>& targets) {
    std::vector<std::string_view> devices;
    for (const DeploymentTarget& target : targets) {
      if (!target.deployment_id.empty() && target.deployment_id != deployment_id) {
        return Fail(ErrorCode::kInvalidInput, "a target of deployment " + deployment_id +
                                                  " names deployment " + target.deployment_id);
      }
      FK_TRY(RequireNonEmpty(target.device_id, "target device id"));
      FK_TRY(CheckKeys("target device id", {target.device_id}));
      devices.push_back(target.device_id);
    }
    std::ranges::sort(devices);
    if (auto twice = std::ranges::adjacent_find(devices); twice != devices.end()) {
      return Fail(ErrorCode::kInvalidInput, "device " + std::string(*twice) + " is listed twice");
    }
    return {};
  }

  static Status UpsertTargets(SqlTx& tx, const std::string& deployment_id,
                              const std::vector<DeploymentTarget>& targets) {
    for (const DeploymentTarget& t : targets) {
      FK_TRY(tx.Exec(
          "INSERT INTO deployment_targets(" + std::string(kTargetColumns) +
              ") VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT (deployment_id, device_id) DO UPDATE SET "
              "wave = excluded.wave, state = excluded.state, detail = excluded.detail, "
              "updated_at = excluded.updated_at",
          {deployment_id, t.device_id, t.wave, t.state, t.detail, t.updated_at}));
    }
    return {};
  }
};

}  // namespace

// Creates the schema, or checks that the database holds a schema version this code knows, before
// the store is used. Safe when several processes open the same database for the first time at
// once.
Result<std::unique_ptr<FleetStore>> OpenFleetStore(std::shared_ptr<SqlDb> db) {
  FK_TRY_CTX(sql_store::MigrateSchema(*db, sql_store::kFleetSchemaRow,
                                      "the database's fleet tables", kSchemaSteps),
             "create the director's schema");
  return std::make_unique<SqlFleetStore>(std::move(db));
}

Result<std::unique_ptr<FleetStore>> OpenSqliteStore(const std::string& path) {
  return OpenFleetStore(FK_TRY_CTX(OpenSqliteDb(path), "open director store"));
}

Result<std::unique_ptr<FleetStore>> OpenPostgresStore(const std::string& conninfo,
                                                      int connections) {
  return OpenFleetStore(FK_TRY_CTX(OpenPostgresDb(conninfo, connections), "open director store"));
}

}  // namespace fogkeep::director
