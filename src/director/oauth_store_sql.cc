// OAuthStore over SqlDb: one implementation for SQLite and PostgreSQL, on the FleetStore's
// database.
//
// Every method is one transaction. A presented credential is claimed by a conditional UPDATE
// (... WHERE used_at IS NULL ... RETURNING), so of two replicas presenting it at once exactly
// one claims it; only when the claim fails does the method look at why (used before, unknown)
// and act on that inside the same transaction, which PostgreSQL runs SERIALIZABLE (retrying
// the loser of a conflict) and SQLite runs alone. Times that may be unset are NULL until set.
// A client's lists live in child tables, as the fleet's tags do (store_sql.cc).
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "director/oauth_store.h"
#include "director/sql_db.h"
#include "director/sql_store.h"

namespace fogkeep::director {
namespace {

using sql_store::Exists;
using sql_store::Sql;
using sql_store::Strings;

// --- schema

// Version 1 of the OAuth tables (sql_store::MigrateSchema). "user" is a reserved word in
// PostgreSQL, hence user_name. Token families are never deleted with their client: a deleted
// client's families stay revoked until they expire.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS oauth_clients(
  id {text} PRIMARY KEY,
  name {text} NOT NULL,
  client_type {text} NOT NULL,
  secret_digest {text} NOT NULL,
  role {text} NOT NULL,
  created_by {text} NOT NULL,
  created_at BIGINT NOT NULL,
  disabled BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_client_redirect_uris(
  client_id {text} NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  uri {text} NOT NULL,
  PRIMARY KEY (client_id, uri));
CREATE TABLE IF NOT EXISTS oauth_client_grants(
  client_id {text} NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  grant_type {text} NOT NULL,
  PRIMARY KEY (client_id, grant_type));
CREATE TABLE IF NOT EXISTS oauth_client_scopes(
  client_id {text} NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  scope {text} NOT NULL,
  PRIMARY KEY (client_id, scope));
CREATE TABLE IF NOT EXISTS oauth_codes(
  digest {text} PRIMARY KEY,
  client_id {text} NOT NULL,
  user_name {text} NOT NULL,
  role {text} NOT NULL,
  redirect_uri {text} NOT NULL,
  scope {text} NOT NULL,
  code_challenge {text} NOT NULL,
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT,
  revoked_at BIGINT,
  family_id {text});
CREATE INDEX IF NOT EXISTS oauth_codes_by_client ON oauth_codes(client_id);
CREATE INDEX IF NOT EXISTS oauth_codes_by_user ON oauth_codes(user_name);
CREATE INDEX IF NOT EXISTS oauth_codes_by_expiry ON oauth_codes(expires_at);
CREATE TABLE IF NOT EXISTS oauth_token_families(
  id {text} PRIMARY KEY,
  client_id {text} NOT NULL,
  user_name {text} NOT NULL,
  role {text} NOT NULL,
  scope {text} NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT);
CREATE INDEX IF NOT EXISTS oauth_token_families_by_client ON oauth_token_families(client_id);
CREATE INDEX IF NOT EXISTS oauth_token_families_by_user ON oauth_token_families(user_name);
CREATE INDEX IF NOT EXISTS oauth_token_families_by_expiry ON oauth_token_families(expires_at);
CREATE TABLE IF NOT EXISTS oauth_refresh_tokens(
  digest {text} PRIMARY KEY,
  family_id {text} NOT NULL REFERENCES oauth_token_families(id) ON DELETE CASCADE,
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  rotated_at BIGINT);
CREATE INDEX IF NOT EXISTS oauth_refresh_tokens_by_family ON oauth_refresh_tokens(family_id);
CREATE INDEX IF NOT EXISTS oauth_refresh_tokens_by_expiry ON oauth_refresh_tokens(expires_at);
CREATE TABLE IF NOT EXISTS oauth_revoked_access_tokens(
  jti {text} PRIMARY KEY,
  expires_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS oauth_revoked_access_tokens_by_expiry
  ON oauth_revoked_access_tokens(expires_at);
CREATE TABLE IF NOT EXISTS oauth_device_authorizations(
  device_code_digest {text} PRIMARY KEY,
  user_code {text} NOT NULL UNIQUE,
  client_id {text} NOT NULL,
  scope {text} NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  poll_interval BIGINT NOT NULL,
  last_polled_at BIGINT,
  state {text} NOT NULL,
  user_name {text} NOT NULL,
  role {text} NOT NULL,
  family_id {text});
CREATE INDEX IF NOT EXISTS oauth_device_authorizations_by_client
  ON oauth_device_authorizations(client_id);
CREATE INDEX IF NOT EXISTS oauth_device_authorizations_by_user
  ON oauth_device_authorizations(user_name);
CREATE INDEX IF NOT EXISTS oauth_device_authorizations_by_expiry
  ON oauth_device_authorizations(expires_at);
CREATE TABLE IF NOT EXISTS oauth_signing_keys(
  kid {text} PRIMARY KEY,
  private_key_pem {text} NOT NULL,
  created_at BIGINT NOT NULL,
  state {text} NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS oauth_signing_keys_one_per_active_state
  ON oauth_signing_keys(state) WHERE state <> 'retired';
)sql";

// Version 2: the resources a client's tokens may name (OAuthClient::resources).
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS oauth_client_resources(
  client_id {text} NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  resource {text} NOT NULL,
  PRIMARY KEY (client_id, resource));
)sql";

constexpr std::array<std::string_view, 2> kSchemaSteps = {kSchemaV1, kSchemaV2};

// --- values

// The names the columns hold for an enum's values.
template <typename E, std::size_t N>
struct Names {
  std::string_view what;
  std::array<std::pair<E, std::string_view>, N> table;

  std::string_view Of(E value) const {
    for (const auto& [v, name] : table) {
      if (v == value) return name;
    }
    return "";
  }
  std::optional<E> Find(std::string_view name) const {
    for (const auto& [v, known] : table) {
      if (known == name) return v;
    }
    return std::nullopt;
  }
  // A name read from the database; one this code does not know is a broken invariant.
  Result<E> Parse(const std::string& name) const {
    if (auto value = Find(name)) return *value;
    return Fail(ErrorCode::kInternal,
                "the database holds an unknown " + std::string(what) + " \"" + name + "\"");
  }
};

constexpr Names<GrantType, 4> kGrantTypes{
    "grant type",
    {{{GrantType::kAuthorizationCode, "authorization_code"},
      {GrantType::kRefreshToken, "refresh_token"},
      {GrantType::kClientCredentials, "client_credentials"},
      {GrantType::kDeviceCode, "urn:ietf:params:oauth:grant-type:device_code"}}}};

constexpr Names<OAuthClientType, 2> kClientTypes{
    "client type",
    {{{OAuthClientType::kConfidential, "confidential"}, {OAuthClientType::kPublic, "public"}}}};

constexpr Names<DeviceAuthorizationState, 4> kDeviceStates{
    "device authorization state",
    {{{DeviceAuthorizationState::kPending, "pending"},
      {DeviceAuthorizationState::kApproved, "approved"},
      {DeviceAuthorizationState::kDenied, "denied"},
      {DeviceAuthorizationState::kRedeemed, "redeemed"}}}};

constexpr Names<SigningKeyState, 3> kKeyStates{"signing key state",
                                               {{{SigningKeyState::kCurrent, "current"},
                                                 {SigningKeyState::kPrevious, "previous"},
                                                 {SigningKeyState::kRetired, "retired"}}}};

std::optional<std::int64_t> OptionalInt(const SqlRow& row, int column) {
  if (row.IsNull(column)) return std::nullopt;
  return row.Int(column);
}

std::string OptionalText(const SqlRow& row, int column) {
  return row.IsNull(column) ? std::string() : row.Text(column);
}

Status RequireDigest(std::string_view digest, std::string_view what) {
  if (IsDigest(digest)) return {};
  return Fail(ErrorCode::kInvalidInput,
              std::string(what) + " is not a SHA-256 digest in lowercase hex");
}

// An id the store indexes: not empty, not overlong.
Status CheckId(std::string_view id, std::string_view what) {
  FK_TRY(sql_store::RequireNonEmpty(id, what));
  return sql_store::CheckKeys(what, {id});
}

// --- rows

constexpr std::string_view kClientColumns =
    "id, name, client_type, secret_digest, role, created_by, created_at, disabled";

Result<OAuthClient> ReadClient(const SqlRow& row) {
  OAuthClient c;
  c.id = row.Text(0);
  c.name = row.Text(1);
  c.type = FK_TRY(kClientTypes.Parse(row.Text(2)));
  c.secret_digest = row.Text(3);
  c.role = row.Text(4);
  c.created_by = row.Text(5);
  c.created_at = row.Int(6);
  c.disabled = row.Int(7) != 0;
  return c;
}

constexpr std::string_view kCodeColumns =
    "digest, client_id, user_name, role, redirect_uri, scope, code_challenge, issued_at, "
    "expires_at, used_at, family_id";

AuthorizationCode ReadCode(const SqlRow& row) {
  AuthorizationCode c;
  c.digest = row.Text(0);
  c.client_id = row.Text(1);
  c.user = row.Text(2);
  c.role = row.Text(3);
  c.redirect_uri = row.Text(4);
  c.scope = row.Text(5);
  c.code_challenge = row.Text(6);
  c.issued_at = row.Int(7);
  c.expires_at = row.Int(8);
  c.used_at = OptionalInt(row, 9);
  c.family_id = OptionalText(row, 10);
  return c;
}

constexpr std::string_view kFamilyColumns =
    "id, client_id, user_name, role, scope, created_at, expires_at, revoked_at";

TokenFamily ReadFamily(const SqlRow& row) {
  TokenFamily f;
  f.id = row.Text(0);
  f.client_id = row.Text(1);
  f.user = row.Text(2);
  f.role = row.Text(3);
  f.scope = row.Text(4);
  f.created_at = row.Int(5);
  f.expires_at = row.Int(6);
  f.revoked_at = OptionalInt(row, 7);
  return f;
}

constexpr std::string_view kRefreshColumns = "digest, family_id, issued_at, expires_at, rotated_at";

RefreshToken ReadRefreshToken(const SqlRow& row) {
  return RefreshToken{row.Text(0), row.Text(1), row.Int(2), row.Int(3), OptionalInt(row, 4)};
}

constexpr std::string_view kDeviceColumns =
    "device_code_digest, user_code, client_id, scope, created_at, expires_at, poll_interval, "
    "last_polled_at, state, user_name, role, family_id";

Result<DeviceAuthorization> ReadDeviceAuthorization(const SqlRow& row) {
  DeviceAuthorization a;
  a.device_code_digest = row.Text(0);
  a.user_code = row.Text(1);
  a.client_id = row.Text(2);
  a.scope = row.Text(3);
  a.created_at = row.Int(4);
  a.expires_at = row.Int(5);
  a.interval = row.Int(6);
  a.last_polled_at = OptionalInt(row, 7);
  a.state = FK_TRY(kDeviceStates.Parse(row.Text(8)));
  a.user = row.Text(9);
  a.role = row.Text(10);
  a.family_id = OptionalText(row, 11);
  return a;
}

constexpr std::string_view kKeyColumns = "kid, private_key_pem, created_at, state";

Result<SigningKey> ReadSigningKey(const SqlRow& row) {
  SigningKey k;
  k.kid = row.Text(0);
  k.private_key_pem = row.Text(1);
  k.created_at = row.Int(2);
  k.state = FK_TRY(kKeyStates.Parse(row.Text(3)));
  return k;
}

// Every row a query returns, read by `read` (which returns a T, or a Result<T>).
template <typename T, typename Reader>
Result<std::vector<T>> QueryAll(SqlTx& tx, std::string_view sql, const SqlParams& params,
                                Reader read) {
  std::vector<T> out;
  FK_TRY(tx.Query(sql, params, [&](const SqlRow& row) -> Status {
    if constexpr (std::is_same_v<decltype(read(row)), T>) {
      out.push_back(read(row));
    } else {
      out.push_back(FK_TRY(read(row)));
    }
    return {};
  }));
  return out;
}

// The first row a query returns; nullopt when it returns none.
template <typename T, typename Reader>
Result<std::optional<T>> QueryOne(SqlTx& tx, std::string_view sql, const SqlParams& params,
                                  Reader read) {
  auto rows = FK_TRY(QueryAll<T>(tx, sql, params, read));
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

Status CheckClientLists(const OAuthClient& client) {
  FK_TRY(sql_store::CheckKeyList("a redirect URI", client.redirect_uris));
  FK_TRY(sql_store::CheckKeyList("a resource", client.resources));
  return sql_store::CheckKeyList("a scope", client.scopes);
}

Status CheckGrantsOfType(OAuthClientType type, const std::vector<GrantType>& grants) {
  if (type == OAuthClientType::kPublic &&
      std::ranges::find(grants, GrantType::kClientCredentials) != grants.end()) {
    return Fail(ErrorCode::kInvalidInput,
                "a public client cannot use the client_credentials grant (RFC 6749 4.4)");
  }
  return {};
}

Status WriteClientLists(SqlTx& tx, const OAuthClient& client) {
  FK_TRY(sql_store::ReplaceChildren(tx, "oauth_client_redirect_uris", "client_id", "uri", client.id,
                                    client.redirect_uris));
  FK_TRY(sql_store::ReplaceChildren(tx, "oauth_client_scopes", "client_id", "scope", client.id,
                                    client.scopes));
  FK_TRY(sql_store::ReplaceChildren(tx, "oauth_client_resources", "client_id", "resource",
                                    client.id, client.resources));
  std::vector<std::string> grants;
  for (GrantType grant : client.grant_types) grants.emplace_back(GrantTypeName(grant));
  return sql_store::ReplaceChildren(tx, "oauth_client_grants", "client_id", "grant_type", client.id,
                                    grants);
}

// Fills the lists of `clients` from the child tables; `where` (with `params`) narrows the rows
// read to those clients.
Status ReadClientLists(SqlTx& tx, std::vector<OAuthClient>& clients, const std::string& where,
                       const SqlParams& params) {
  auto uris = FK_TRY(sql_store::GroupedStrings(
      tx, "SELECT client_id, uri FROM oauth_client_redirect_uris" + where + " ORDER BY uri",
      params));
  auto scopes = FK_TRY(sql_store::GroupedStrings(
      tx, "SELECT client_id, scope FROM oauth_client_scopes" + where + " ORDER BY scope", params));
  auto resources = FK_TRY(sql_store::GroupedStrings(
      tx, "SELECT client_id, resource FROM oauth_client_resources" + where + " ORDER BY resource",
      params));
  auto grants = FK_TRY(sql_store::GroupedStrings(
      tx, "SELECT client_id, grant_type FROM oauth_client_grants" + where, params));
  for (OAuthClient& client : clients) {
    if (auto it = uris.find(client.id); it != uris.end()) client.redirect_uris = it->second;
    if (auto it = scopes.find(client.id); it != scopes.end()) client.scopes = it->second;
    if (auto it = resources.find(client.id); it != resources.end()) {
      client.resources = it->second;
    }
    if (auto it = grants.find(client.id); it != grants.end()) {
      for (const std::string& name : it->second) {
        client.grant_types.push_back(FK_TRY(kGrantTypes.Parse(name)));
      }
      std::ranges::sort(client.grant_types);
    }
  }
  return {};
}

// Revokes a family inside the caller's transaction; a missing or revoked one stays as it is.
Status RevokeFamilyRow(SqlTx& tx, const std::string& id, std::int64_t now) {
  FK_TRY(
      tx.Exec("UPDATE oauth_token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
              {now, id}));
  return {};
}

Result<std::optional<TokenFamily>> FindFamilyRow(SqlTx& tx, const std::string& id) {
  return QueryOne<TokenFamily>(
      tx, Sql("SELECT ", kFamilyColumns, " FROM oauth_token_families WHERE id = ?"), {id},
      ReadFamily);
}

Status InsertRefreshToken(SqlTx& tx, const std::string& digest, const std::string& family_id,
                          std::int64_t issued_at, std::int64_t expires_at) {
  auto inserted = FK_TRY(tx.Exec(Sql("INSERT INTO oauth_refresh_tokens(", kRefreshColumns,
                                     ") VALUES(?, ?, ?, ?, NULL) ON CONFLICT (digest) DO NOTHING"),
                                 {digest, family_id, issued_at, expires_at}));
  if (inserted == 0) return Fail(ErrorCode::kConflict, "the refresh token exists");
  return {};
}

class SqlOAuthStore final : public OAuthStore, private sql_store::SqlStore {
 public:
  explicit SqlOAuthStore(std::shared_ptr<SqlDb> db) : SqlStore(std::move(db)) {}

  // --- clients

  Status CreateClient(const OAuthClient& client) override {
    constexpr std::string_view kWhat = "create OAuth client";
    FK_TRY_CTX(CheckId(client.id, "client id"), kWhat);
    FK_TRY_CTX(CheckClientLists(client), kWhat);
    FK_TRY_CTX(CheckGrantsOfType(client.type, client.grant_types), kWhat);
    if (client.type == OAuthClientType::kConfidential) {
      FK_TRY_CTX(RequireDigest(client.secret_digest, "the client secret digest"), kWhat);
    } else if (!client.secret_digest.empty()) {
      return Fail(ErrorCode::kInvalidInput, std::string(kWhat) + ": a public client has no secret");
    }
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      auto inserted =
          FK_TRY(tx.Exec(Sql("INSERT INTO oauth_clients(", kClientColumns,
                             ") VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"),
                         {client.id, client.name, std::string(kClientTypes.Of(client.type)),
                          client.secret_digest, client.role, client.created_by, client.created_at,
                          std::int64_t{client.disabled ? 1 : 0}}));
      if (inserted == 0) return Fail(ErrorCode::kConflict, "client " + client.id + " exists");
      return WriteClientLists(tx, client);
    });
  }

  Result<std::optional<OAuthClient>> FindClient(const std::string& id) override {
    std::optional<OAuthClient> found;
    FK_TRY(Read("find OAuth client", [&](SqlTx& tx) -> Status {
      auto clients = FK_TRY(QueryAll<OAuthClient>(
          tx, Sql("SELECT ", kClientColumns, " FROM oauth_clients WHERE id = ?"), {id},
          ReadClient));
      FK_TRY(ReadClientLists(tx, clients, " WHERE client_id = ?", {id}));
      found.reset();
      if (!clients.empty()) found = std::move(clients.front());
      return {};
    }));
    return found;
  }

  Result<std::vector<OAuthClient>> ListClients() override {
    std::vector<OAuthClient> clients;
    FK_TRY(Read("list OAuth clients", [&](SqlTx& tx) -> Status {
      clients = FK_TRY(QueryAll<OAuthClient>(
          tx, Sql("SELECT ", kClientColumns, " FROM oauth_clients ORDER BY id"), {}, ReadClient));
      return ReadClientLists(tx, clients, "", {});
    }));
    return clients;
  }

  Status UpdateClient(const OAuthClient& client) override {
    constexpr std::string_view kWhat = "update OAuth client";
    FK_TRY_CTX(CheckClientLists(client), kWhat);
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      auto types =
          FK_TRY(Strings(tx, "SELECT client_type FROM oauth_clients WHERE id = ?", {client.id}));
      if (types.empty()) return Fail(ErrorCode::kNotFound, "no client " + client.id);
      const OAuthClientType type = FK_TRY(kClientTypes.Parse(types.front()));
      FK_TRY(CheckGrantsOfType(type, client.grant_types));
      FK_TRY(tx.Exec("UPDATE oauth_clients SET name = ?, role = ?, disabled = ? WHERE id = ?",
                     {client.name, client.role, std::int64_t{client.disabled ? 1 : 0}, client.id}));
      return WriteClientLists(tx, client);
    });
  }

  Status RotateClientSecret(const std::string& id, const std::string& secret_digest) override {
    constexpr std::string_view kWhat = "rotate OAuth client secret";
    FK_TRY_CTX(RequireDigest(secret_digest, "the client secret digest"), kWhat);
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      auto changed = FK_TRY(tx.Exec(
          "UPDATE oauth_clients SET secret_digest = ? WHERE id = ? AND client_type = ?",
          {secret_digest, id, std::string(kClientTypes.Of(OAuthClientType::kConfidential))}));
      if (changed == 1) return {};
      if (FK_TRY(Exists(tx, "SELECT 1 FROM oauth_clients WHERE id = ?", {id}))) {
        return Fail(ErrorCode::kConflict, "client " + id + " is public and has no secret");
      }
      return Fail(ErrorCode::kNotFound, "no client " + id);
    });
  }

  Status DeleteClient(const std::string& id, std::int64_t now) override {
    return Write("delete OAuth client", [&](SqlTx& tx) -> Status {
      FK_TRY(RevokeEverythingOf(tx, "client_id", id, now));
      FK_TRY(tx.Exec("DELETE FROM oauth_codes WHERE client_id = ?", {id}));
      FK_TRY(tx.Exec("DELETE FROM oauth_device_authorizations WHERE client_id = ?", {id}));
      auto deleted = FK_TRY(tx.Exec("DELETE FROM oauth_clients WHERE id = ?", {id}));
      if (deleted == 0) return Fail(ErrorCode::kNotFound, "no client " + id);
      return {};
    });
  }

  // --- authorization codes

  Status CreateCode(const AuthorizationCode& code) override {
    constexpr std::string_view kWhat = "create authorization code";
    FK_TRY_CTX(RequireDigest(code.digest, "the code digest"), kWhat);
    FK_TRY_CTX(CheckId(code.client_id, "client id"), kWhat);
    FK_TRY_CTX(sql_store::CheckKeys("user", {code.user}), kWhat);
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      FK_TRY(RequireClient(tx, code.client_id));
      auto inserted =
          FK_TRY(tx.Exec(Sql("INSERT INTO oauth_codes(", kCodeColumns,
                             ", revoked_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL) "
                             "ON CONFLICT (digest) DO NOTHING"),
                         {code.digest, code.client_id, code.user, code.role, code.redirect_uri,
                          code.scope, code.code_challenge, code.issued_at, code.expires_at}));
      if (inserted == 0) return Fail(ErrorCode::kConflict, "the authorization code exists");
      return {};
    });
  }

  Result<CodeRedemption> ConsumeCode(const std::string& digest, std::int64_t now) override {
    CodeRedemption out;
    if (!IsDigest(digest)) return out;
    FK_TRY(Write("redeem authorization code", [&](SqlTx& tx) -> Status {
      out = {};
      auto first = FK_TRY(QueryOne<AuthorizationCode>(
          tx,
          Sql("UPDATE oauth_codes SET used_at = ? WHERE digest = ? AND used_at IS NULL AND "
              "revoked_at IS NULL AND expires_at > ? RETURNING ",
              kCodeColumns, ""),
          {now, digest, now}, ReadCode));
      if (first) {
        out = {CodeVerdict::kRedeemed, std::move(*first)};
        return {};
      }
      // Used before: whoever presents it again may have stolen it, so nothing issued from it
      // stays valid and nothing more will be (CreateTokenFamily checks revoked_at).
      auto again = FK_TRY(QueryOne<AuthorizationCode>(
          tx,
          Sql("UPDATE oauth_codes SET revoked_at = COALESCE(revoked_at, ?) WHERE digest = ? AND "
              "used_at IS NOT NULL RETURNING ",
              kCodeColumns, ""),
          {now, digest}, ReadCode));
      if (!again) return {};
      if (!again->family_id.empty()) FK_TRY(RevokeFamilyRow(tx, again->family_id, now));
      out = {CodeVerdict::kAlreadyUsed, std::move(*again)};
      return {};
    }));
    return out;
  }

  // --- token families and refresh tokens

  Status CreateTokenFamily(const TokenFamily& family, const std::optional<RefreshToken>& refresh,
                           GrantType grant, const std::string& grant_digest) override {
    constexpr std::string_view kWhat = "create token family";
    FK_TRY_CTX(CheckId(family.id, "family id"), kWhat);
    FK_TRY_CTX(CheckId(family.client_id, "client id"), kWhat);
    FK_TRY_CTX(sql_store::CheckKeys("user", {family.user}), kWhat);
    if (refresh) FK_TRY_CTX(RequireDigest(refresh->digest, "the refresh token digest"), kWhat);
    FK_TRY_CTX(RequireDigest(grant_digest, "the digest of the code it is issued from"), kWhat);
    std::string claim;
    if (grant == GrantType::kAuthorizationCode) {
      claim =
          "UPDATE oauth_codes SET family_id = ? WHERE digest = ? AND client_id = ? AND "
          "used_at IS NOT NULL AND revoked_at IS NULL AND family_id IS NULL";
    } else if (grant == GrantType::kDeviceCode) {
      claim =
          "UPDATE oauth_device_authorizations SET family_id = ? WHERE device_code_digest = ? AND "
          "client_id = ? AND state = 'redeemed' AND family_id IS NULL";
    } else {
      return Fail(ErrorCode::kInvalidInput, std::string(kWhat) + ": the " +
                                                std::string(GrantTypeName(grant)) +
                                                " grant starts no token family");
    }
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      if (FK_TRY(tx.Exec(claim, {family.id, grant_digest, family.client_id})) == 0) {
        return Fail(ErrorCode::kConflict, "the " + std::string(GrantTypeName(grant)) +
                                              " grant's code was not redeemed by client " +
                                              family.client_id +
                                              ", was revoked, or issued tokens already");
      }
      auto inserted =
          FK_TRY(tx.Exec(Sql("INSERT INTO oauth_token_families(", kFamilyColumns,
                             ") VALUES(?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (id) DO NOTHING"),
                         {family.id, family.client_id, family.user, family.role, family.scope,
                          family.created_at, family.expires_at}));
      if (inserted == 0) return Fail(ErrorCode::kConflict, "token family " + family.id + " exists");
      if (!refresh) return {};
      return InsertRefreshToken(tx, refresh->digest, family.id, refresh->issued_at,
                                std::min(refresh->expires_at, family.expires_at));
    });
  }

  Result<std::optional<TokenFamily>> FindFamily(const std::string& id) override {
    std::optional<TokenFamily> found;
    FK_TRY(Read("find token family", [&](SqlTx& tx) -> Status {
      found = FK_TRY(FindFamilyRow(tx, id));
      return {};
    }));
    return found;
  }

  Result<std::optional<RefreshToken>> FindRefreshToken(const std::string& digest) override {
    std::optional<RefreshToken> found;
    if (!IsDigest(digest)) return found;
    FK_TRY(Read("find refresh token", [&](SqlTx& tx) -> Status {
      found = FK_TRY(QueryOne<RefreshToken>(
          tx, Sql("SELECT ", kRefreshColumns, " FROM oauth_refresh_tokens WHERE digest = ?"),
          {digest}, ReadRefreshToken));
      return {};
    }));
    return found;
  }

  Result<RefreshRotation> RotateRefreshToken(const std::string& client_id,
                                             const std::string& digest,
                                             const std::string& new_digest, std::int64_t now,
                                             std::int64_t new_expires_at) override {
    constexpr std::string_view kWhat = "rotate refresh token";
    FK_TRY_CTX(RequireDigest(new_digest, "the new refresh token digest"), kWhat);
    if (new_expires_at <= now) {
      return Fail(ErrorCode::kInvalidInput,
                  std::string(kWhat) + ": the new refresh token would be born expired");
    }
    RefreshRotation out;
    if (!IsDigest(digest)) return out;
    FK_TRY(Write(kWhat, [&](SqlTx& tx) -> Status {
      out = {};
      auto rotated = FK_TRY(Strings(
          tx,
          "UPDATE oauth_refresh_tokens SET rotated_at = ? WHERE digest = ? AND rotated_at IS "
          "NULL AND expires_at > ? AND family_id IN (SELECT id FROM oauth_token_families WHERE "
          "client_id = ? AND revoked_at IS NULL AND expires_at > ?) RETURNING family_id",
          {now, digest, now, client_id, now}));
      if (!rotated.empty()) {
        auto family = FK_TRY(FindFamilyRow(tx, rotated.front()));
        if (!family) return Fail(ErrorCode::kInternal, "a refresh token lost its family");
        FK_TRY(InsertRefreshToken(tx, new_digest, family->id, now,
                                  std::min(new_expires_at, family->expires_at)));
        out = {RotationVerdict::kRotated, std::move(*family)};
        return {};
      }
      // Rotated before: the token was copied, and the family cannot tell its holders apart.
      auto reused = FK_TRY(
          Strings(tx,
                  "SELECT t.family_id FROM oauth_refresh_tokens t JOIN oauth_token_families f ON "
                  "f.id = t.family_id WHERE t.digest = ? AND t.rotated_at IS NOT NULL AND "
                  "t.expires_at > ? AND f.client_id = ? AND f.expires_at > ?",
                  {digest, now, client_id, now}));
      if (reused.empty()) return {};
      FK_TRY(RevokeFamilyRow(tx, reused.front(), now));
      auto family = FK_TRY(FindFamilyRow(tx, reused.front()));
      if (family) out = {RotationVerdict::kReused, std::move(*family)};
      return {};
    }));
    return out;
  }

  Status RevokeFamily(const std::string& id, std::int64_t now) override {
    return Write("revoke token family",
                 [&](SqlTx& tx) -> Status { return RevokeFamilyRow(tx, id, now); });
  }

  Result<std::int64_t> RevokeFamiliesOf(const std::string& client_id, std::int64_t now) override {
    return RevokeAllOf("client_id", client_id, now, "revoke the token families of a client");
  }

  Result<std::int64_t> RevokeFamiliesOfUser(const std::string& user, std::int64_t now) override {
    return RevokeAllOf("user_name", user, now, "revoke the token families of a user");
  }

  Result<bool> IsFamilyRevoked(const std::string& id) override {
    bool revoked = true;
    FK_TRY(Read("check token family", [&](SqlTx& tx) -> Status {
      revoked = !FK_TRY(Exists(
          tx, "SELECT 1 FROM oauth_token_families WHERE id = ? AND revoked_at IS NULL", {id}));
      return {};
    }));
    return revoked;
  }

  // --- access tokens

  Status RevokeAccessToken(const std::string& jti, std::int64_t expires_at) override {
    constexpr std::string_view kWhat = "revoke access token";
    FK_TRY_CTX(CheckId(jti, "jti"), kWhat);
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      FK_TRY(
          tx.Exec("INSERT INTO oauth_revoked_access_tokens(jti, expires_at) VALUES(?, ?) "
                  "ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at "
                  "WHERE oauth_revoked_access_tokens.expires_at < excluded.expires_at",
                  {jti, expires_at}));
      return {};
    });
  }

  Result<bool> IsAccessTokenRevoked(const std::string& jti) override {
    bool revoked = false;
    FK_TRY(Read("check access token", [&](SqlTx& tx) -> Status {
      revoked =
          FK_TRY(Exists(tx, "SELECT 1 FROM oauth_revoked_access_tokens WHERE jti = ?", {jti}));
      return {};
    }));
    return revoked;
  }

  // --- device authorization

  Status CreateDeviceAuthorization(const DeviceAuthorization& authorization) override {
    constexpr std::string_view kWhat = "create device authorization";
    const std::string user_code = NormalizeUserCode(authorization.user_code);
    FK_TRY_CTX(RequireDigest(authorization.device_code_digest, "the device code digest"), kWhat);
    FK_TRY_CTX(CheckId(user_code, "user code"), kWhat);
    FK_TRY_CTX(CheckId(authorization.client_id, "client id"), kWhat);
    if (authorization.interval <= 0) {
      return Fail(ErrorCode::kInvalidInput,
                  std::string(kWhat) + ": the polling interval must be positive");
    }
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      FK_TRY(RequireClient(tx, authorization.client_id));
      FK_TRY(
          tx.Exec("DELETE FROM oauth_device_authorizations WHERE user_code = ? AND expires_at <= ?",
                  {user_code, authorization.created_at}));
      auto inserted = FK_TRY(tx.Exec(
          Sql("INSERT INTO oauth_device_authorizations(", kDeviceColumns,
              ") VALUES(?, ?, ?, ?, ?, ?, ?, NULL, ?, '', '', NULL) ON CONFLICT DO NOTHING"),
          {authorization.device_code_digest, user_code, authorization.client_id,
           authorization.scope, authorization.created_at, authorization.expires_at,
           authorization.interval,
           std::string(kDeviceStates.Of(DeviceAuthorizationState::kPending))}));
      if (inserted == 0) {
        return Fail(ErrorCode::kConflict, "the device code or user code " + user_code +
                                              " belongs to another authorization");
      }
      return {};
    });
  }

  Result<std::optional<DeviceAuthorization>> FindDeviceAuthorization(
      const std::string& user_code) override {
    std::optional<DeviceAuthorization> found;
    FK_TRY(Read("find device authorization", [&](SqlTx& tx) -> Status {
      found = FK_TRY(QueryOne<DeviceAuthorization>(
          tx,
          Sql("SELECT ", kDeviceColumns, " FROM oauth_device_authorizations WHERE user_code = ?"),
          {NormalizeUserCode(user_code)}, ReadDeviceAuthorization));
      return {};
    }));
    return found;
  }

  Status ApproveDeviceAuthorization(const std::string& user_code, const std::string& user,
                                    const std::string& role, std::int64_t now) override {
    FK_TRY_CTX(CheckId(user, "user"), "approve device authorization");
    return Decide(user_code, DeviceAuthorizationState::kApproved, user, role, now,
                  "approve device authorization");
  }

  Status DenyDeviceAuthorization(const std::string& user_code, std::int64_t now) override {
    return Decide(user_code, DeviceAuthorizationState::kDenied, "", "", now,
                  "deny device authorization");
  }

  Result<DevicePoll> PollDeviceCode(const std::string& client_id, const std::string& digest,
                                    std::int64_t now) override {
    DevicePoll out;
    if (!IsDigest(digest)) return out;
    FK_TRY(Write("poll device code", [&](SqlTx& tx) -> Status {
      out = {};
      auto found = FK_TRY(QueryOne<DeviceAuthorization>(
          tx,
          Sql("SELECT ", kDeviceColumns,
              " FROM oauth_device_authorizations WHERE device_code_digest = ?"),
          {digest}, ReadDeviceAuthorization));
      if (!found || found->client_id != client_id ||
          found->state == DeviceAuthorizationState::kRedeemed) {
        return {};
      }
      DeviceAuthorization& a = *found;
      if (now >= a.expires_at) {
        out = {PollVerdict::kExpired, std::move(a)};
        return {};
      }
      PollVerdict verdict = PollVerdict::kDenied;
      if (a.state == DeviceAuthorizationState::kApproved) {
        // The conditional update is the claim: one poll of an approval redeems it.
        auto claimed = FK_TRY(
            tx.Exec("UPDATE oauth_device_authorizations SET state = 'redeemed', last_polled_at = ? "
                    "WHERE device_code_digest = ? AND state = 'approved'",
                    {now, digest}));
        if (claimed == 0) return {};
        a.state = DeviceAuthorizationState::kRedeemed;
        a.last_polled_at = now;
        verdict = PollVerdict::kApproved;
      } else if (a.state == DeviceAuthorizationState::kPending) {
        // RFC 8628 3.5: polling faster than the interval earns slow_down, and the interval
        // grows by 5 seconds for this and every later poll.
        const bool too_soon = a.last_polled_at && now - *a.last_polled_at < a.interval;
        const std::int64_t interval = too_soon ? a.interval + 5 : a.interval;
        FK_TRY(
            tx.Exec("UPDATE oauth_device_authorizations SET poll_interval = ?, last_polled_at = ? "
                    "WHERE device_code_digest = ? AND state = 'pending'",
                    {interval, now, digest}));
        a.interval = interval;
        a.last_polled_at = now;
        verdict = too_soon ? PollVerdict::kSlowDown : PollVerdict::kPending;
      }
      out = {verdict, std::move(a)};
      return {};
    }));
    return out;
  }

  // --- signing keys

  Status RotateSigningKey(const std::string& kid, const std::string& private_key_pem,
                          std::int64_t now, const std::string& replaces_kid) override {
    constexpr std::string_view kWhat = "rotate signing key";
    FK_TRY_CTX(CheckId(kid, "kid"), kWhat);
    FK_TRY_CTX(sql_store::RequireNonEmpty(private_key_pem, "the private key"), kWhat);
    return Write(kWhat, [&](SqlTx& tx) -> Status {
      auto current =
          FK_TRY(Strings(tx, "SELECT kid FROM oauth_signing_keys WHERE state = 'current'", {}));
      const std::string current_kid = current.empty() ? "" : current.front();
      if (current_kid != replaces_kid) {
        return Fail(ErrorCode::kConflict,
                    "the current signing key is " +
                        (current_kid.empty() ? std::string("none") : current_kid) + ", not " +
                        (replaces_kid.empty() ? std::string("none") : replaces_kid));
      }
      FK_TRY(
          tx.Exec("UPDATE oauth_signing_keys SET state = 'retired', private_key_pem = '' "
                  "WHERE state = 'previous'"));
      FK_TRY(tx.Exec("UPDATE oauth_signing_keys SET state = 'previous' WHERE state = 'current'"));
      auto inserted =
          FK_TRY(tx.Exec(Sql("INSERT INTO oauth_signing_keys(", kKeyColumns,
                             ") VALUES(?, ?, ?, 'current') ON CONFLICT (kid) DO NOTHING"),
                         {kid, private_key_pem, now}));
      if (inserted == 0) return Fail(ErrorCode::kConflict, "signing key " + kid + " exists");
      return {};
    });
  }

  Result<std::vector<SigningKey>> ActiveSigningKeys() override {
    std::vector<SigningKey> keys;
    FK_TRY(Read("list signing keys", [&](SqlTx& tx) -> Status {
      keys = FK_TRY(QueryAll<SigningKey>(
          tx,
          Sql("SELECT ", kKeyColumns,
              " FROM oauth_signing_keys WHERE state IN ('current', 'previous') "
              "ORDER BY CASE state WHEN 'current' THEN 0 ELSE 1 END"),
          {}, ReadSigningKey));
      return {};
    }));
    return keys;
  }

  // --- housekeeping

  Result<std::int64_t> PurgeExpired(std::int64_t now) override {
    std::int64_t purged = 0;
    FK_TRY(Write("purge expired OAuth state", [&](SqlTx& tx) -> Status {
      purged = 0;
      purged += FK_TRY(tx.Exec("DELETE FROM oauth_codes WHERE expires_at <= ?", {now}));
      purged +=
          FK_TRY(tx.Exec("DELETE FROM oauth_device_authorizations WHERE expires_at <= ?", {now}));
      purged += FK_TRY(tx.Exec(
          "DELETE FROM oauth_refresh_tokens WHERE expires_at <= ? OR family_id IN (SELECT id "
          "FROM oauth_token_families WHERE revoked_at IS NOT NULL OR expires_at <= ?)",
          {now, now}));
      purged += FK_TRY(tx.Exec("DELETE FROM oauth_token_families WHERE expires_at <= ?", {now}));
      purged +=
          FK_TRY(tx.Exec("DELETE FROM oauth_revoked_access_tokens WHERE expires_at <= ?", {now}));
      return {};
    }));
    return purged;
  }

 private:
  static Status RequireClient(SqlTx& tx, const std::string& client_id) {
    if (FK_TRY(Exists(tx, "SELECT 1 FROM oauth_clients WHERE id = ?", {client_id}))) return {};
    return Fail(ErrorCode::kNotFound, "no client " + client_id);
  }

  // Revokes the families whose `column` (client_id or user_name) holds `value`, and stops the
  // codes and device authorizations of the same owner from starting new ones. Returns how many
  // families were revoked now.
  static Result<std::int64_t> RevokeEverythingOf(SqlTx& tx, const std::string& column,
                                                 const std::string& value, std::int64_t now) {
    auto revoked = FK_TRY(tx.Exec("UPDATE oauth_token_families SET revoked_at = ? WHERE " + column +
                                      " = ? AND revoked_at IS NULL",
                                  {now, value}));
    FK_TRY(tx.Exec("UPDATE oauth_codes SET revoked_at = ? WHERE " + column +
                       " = ? AND family_id IS NULL AND revoked_at IS NULL",
                   {now, value}));
    FK_TRY(tx.Exec("UPDATE oauth_device_authorizations SET state = 'denied' WHERE " + column +
                       " = ? AND family_id IS NULL AND state <> 'denied'",
                   {value}));
    return revoked;
  }

  Result<std::int64_t> RevokeAllOf(const std::string& column, const std::string& value,
                                   std::int64_t now, std::string_view what) {
    // An empty user would match the device authorizations nobody approved yet.
    FK_TRY_CTX(sql_store::RequireNonEmpty(value, column), what);
    std::int64_t revoked = 0;
    FK_TRY(Write(what, [&](SqlTx& tx) -> Status {
      revoked = FK_TRY(RevokeEverythingOf(tx, column, value, now));
      return {};
    }));
    return revoked;
  }

  Status Decide(const std::string& user_code, DeviceAuthorizationState decision,
                const std::string& user, const std::string& role, std::int64_t now,
                std::string_view what) {
    const std::string code = NormalizeUserCode(user_code);
    return Write(what, [&](SqlTx& tx) -> Status {
      auto decided = FK_TRY(
          tx.Exec("UPDATE oauth_device_authorizations SET state = ?, user_name = ?, role = ? "
                  "WHERE user_code = ? AND state = 'pending' AND expires_at > ?",
                  {std::string(kDeviceStates.Of(decision)), user, role, code, now}));
      if (decided == 1) return {};
      if (FK_TRY(Exists(tx,
                        "SELECT 1 FROM oauth_device_authorizations WHERE user_code = ? AND "
                        "expires_at > ?",
                        {code, now}))) {
        return Fail(ErrorCode::kConflict, "device authorization " + code + " was decided already");
      }
      return Fail(ErrorCode::kNotFound,
                  "no device authorization " + code + " waits for a decision");
    });
  }
};

}  // namespace

std::string_view GrantTypeName(GrantType grant) { return kGrantTypes.Of(grant); }

std::optional<GrantType> ParseGrantType(std::string_view name) { return kGrantTypes.Find(name); }

Result<std::unique_ptr<OAuthStore>> OpenOAuthStore(std::shared_ptr<SqlDb> db) {
  FK_TRY_CTX(sql_store::MigrateSchema(*db, sql_store::kOAuthSchemaRow,
                                      "the database's OAuth tables", kSchemaSteps),
             "create the director's OAuth schema");
  return std::make_unique<SqlOAuthStore>(std::move(db));
}

}  // namespace fogkeep::director
