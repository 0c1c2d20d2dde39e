// OAuthStore: the persistent state of the director's OAuth 2.0 authorization server (RFC 6749,
// the RFC 9700 security BCP, PKCE RFC 7636, the device grant RFC 8628, revocation RFC 7009,
// introspection RFC 7662): registered clients, authorization codes, refresh-token families,
// revoked access tokens, device authorizations and the keys that sign access tokens. Director
// replicas share one database, so all of it lives there and nothing in a replica's memory.
// One implementation (oauth_store_sql.cc) runs on SQLite and on PostgreSQL, on the database of
// the FleetStore (OpenOAuthStore); it passes tests/unit/director_store/oauth_store_conformance.h.
//
// Contracts, as in store.h:
// - Each method is atomic, safe from many threads and from several replicas at once; the
//   methods that judge a presented credential (ConsumeCode, RotateRefreshToken,
//   PollDeviceCode) and the state changes that race with them decide inside the database.
// - Times are Unix seconds supplied by the caller. Expiry is exclusive: at `expires_at` a
//   thing has expired.
// - Not-found lookups are std::nullopt; kNotFound is for updates of missing rows. Presented
//   credentials are judged with a verdict, never an error: errors are the database's.
// - Secrets are never stored. Client secrets, authorization codes, refresh tokens and device
//   codes are kept and looked up as their SHA-256 digest in lowercase hex (IsDigest). A write
//   with anything else is kInvalidInput, so a secret in clear cannot slip in by mistake; a
//   lookup with anything else finds nothing.
// - Text must be valid UTF-8 without NUL bytes (kInvalidInput). Ids, user codes, kids, jtis
//   and each redirect URI or scope are indexed and at most 1024 bytes (kLimit).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::director {

class SqlDb;  // sql_db.h

// Whether `text` is a SHA-256 digest as the store keeps them: 64 lowercase hex digits.
bool IsDigest(std::string_view text);

// --- clients

enum class OAuthClientType {
  kConfidential,  // authenticates with its secret
  kPublic,        // holds no secret (a CLI, a browser app): PKCE binds its codes instead
};

enum class GrantType { kAuthorizationCode, kRefreshToken, kClientCredentials, kDeviceCode };
// The grant_type values of RFC 6749 section 4 and RFC 8628 section 3.4
// ("urn:ietf:params:oauth:grant-type:device_code").
std::string_view GrantTypeName(GrantType grant);
std::optional<GrantType> ParseGrantType(std::string_view name);

struct OAuthClient {
  std::string id;  // the client_id
  std::string name;
  OAuthClientType type = OAuthClientType::kConfidential;
  // SHA-256 of the client secret (IsDigest) for a confidential client, "" for a public one.
  // Client secrets are 256-bit random values the director generates, never chosen by people:
  // a slow password hash (argon2id) only slows the guessing of a low-entropy secret, and
  // nobody guesses 256 random bits, so one SHA-256 is as strong and costs a token request
  // nothing. The caller compares digests in constant time.
  std::string secret_digest;
  std::vector<std::string> redirect_uris;  // matched exactly (RFC 9700 2.1); sorted, unique
  std::vector<GrantType> grant_types;      // in GrantType order, unique
  std::vector<std::string> scopes;         // the most it may be granted; sorted, unique
  // The audiences (RFC 8707 resources) its tokens may name; sorted, unique. Empty: any the
  // authorization server serves. An app's client is held to its own node and the director.
  std::vector<std::string> resources;
  // The role a client_credentials token acts with; "" for none.
  std::string role;
  std::string created_by;
  std::int64_t created_at = 0;
  bool disabled = false;  // the caller refuses every request of a disabled client
};

// --- authorization codes (RFC 6749 4.1), single use

struct AuthorizationCode {
  std::string digest;  // SHA-256 of the code
  std::string client_id;
  std::string user;  // who authorized, and the role they act with
  std::string role;
  std::string redirect_uri;    // as the authorization request sent it; "" when it sent none
  std::string scope;           // space-separated, as granted
  std::string code_challenge;  // PKCE S256 challenge (RFC 7636 4.2), "" when none was sent
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> used_at;  // set by its first ConsumeCode
  std::string family_id;  // the token family issued from it, "" until CreateTokenFamily
};

enum class CodeVerdict {
  // First use: the code is now used. The caller checks client, redirect_uri and PKCE against
  // it, then issues tokens with CreateTokenFamily; a failed check refuses, and the code stays
  // used.
  kRedeemed,
  // Presented again (RFC 6749 4.1.2, RFC 9700 4.5): refuse. The family issued from it
  // (`code.family_id`, if any yet) is now revoked, and none can be issued from it any more.
  // Answered until PurgeExpired removes the code, even after its expiry.
  kAlreadyUsed,
  // Unknown, revoked, or expired before its first use.
  kInvalid,
};

struct CodeRedemption {
  CodeVerdict verdict = CodeVerdict::kInvalid;
  AuthorizationCode code;  // empty with kInvalid
};

// --- refresh tokens: families with rotation and reuse detection (RFC 9700 4.14.2)

// The tokens issued from one authorization: each refresh replaces the family's one current
// refresh token with the next. Access tokens name their family in a claim, so revoking the
// family (IsFamilyRevoked) revokes them too.
struct TokenFamily {
  std::string id;
  std::string client_id;
  std::string user;
  std::string role;
  std::string scope;  // space-separated
  std::int64_t created_at = 0;
  // Absolute: no refresh token of the family outlives it, however often rotated. The caller
  // does not let an access token of the family outlive it either: PurgeExpired forgets the
  // family then, and IsFamilyRevoked answers true for a family it does not know.
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> revoked_at;
};

struct RefreshToken {
  std::string digest;  // SHA-256 of the token
  std::string family_id;
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;             // at most its family's
  std::optional<std::int64_t> rotated_at;  // set when exchanged for its successor
};

enum class RotationVerdict {
  kRotated,  // it was the family's current token: now rotated, its successor stored
  // It had been rotated already, so two parties hold the family's tokens: the family is now
  // revoked (if it was not), access tokens included. Refuse.
  kReused,
  // Unknown, expired, of a revoked or expired family, or issued to another client. Nothing
  // changed.
  kInvalid,
};

struct RefreshRotation {
  RotationVerdict verdict = RotationVerdict::kInvalid;
  TokenFamily family;  // empty with kInvalid
};

// --- device authorization (RFC 8628)

enum class DeviceAuthorizationState {
  kPending,   // waiting for a user at the verification page
  kApproved,  // a user approved it: the next poll redeems it
  kDenied,    // a user denied it, or the client's or user's tokens were revoked
  kRedeemed,  // a poll took the approval; tokens are issued once from it
};

struct DeviceAuthorization {
  std::string device_code_digest;  // SHA-256 of the device code
  // What the user types. The store keeps and looks it up normalized (NormalizeUserCode), so
  // "wdjb-mjht" finds "WDJBMJHT".
  std::string user_code;
  std::string client_id;
  std::string scope;  // space-separated, as requested
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t interval = 5;  // the least seconds between polls; each slow_down adds 5
  std::optional<std::int64_t> last_polled_at;
  DeviceAuthorizationState state = DeviceAuthorizationState::kPending;
  std::string user;  // who approved it and the role they act with; "" before approval
  std::string role;
  std::string family_id;  // the token family issued from it, "" until CreateTokenFamily
};

// `user_code` without '-' and ASCII white space, ASCII letters in upper case: what the store
// keeps and compares.
std::string NormalizeUserCode(std::string_view user_code);

enum class PollVerdict {
  kPending,   // authorization_pending
  kSlowDown,  // slow_down: polled within `interval` of the last poll; the interval grew by 5 s
  kApproved,  // approved: now redeemed; issue tokens with CreateTokenFamily
  kDenied,    // access_denied
  kExpired,   // expired_token
  kInvalid,   // invalid_grant: unknown, already redeemed, or issued to another client
};

struct DevicePoll {
  PollVerdict verdict = PollVerdict::kInvalid;
  DeviceAuthorization authorization;  // as it is after the poll; empty with kInvalid
};

// --- keys that sign access tokens

enum class SigningKeyState {
  kCurrent,   // the newest key, published in the JWKS; it signs new tokens once it has
              // been published for a while (OAuthServerOptions::key_publish_ahead)
  kPrevious,  // published so tokens it signed verify until they expire; signs until then
  kRetired,   // neither; its private key is erased
};

// Every replica signs with the same key, so signing keys live in the database, unlike the
// fleet CA's key (a 0600 file in the CA directory, ca.h). Keeping the private key safe at rest
// is therefore the database's and its host's job (disk encryption, access to the database and
// its backups), as it is the CA host's for ca.key.
struct SigningKey {
  std::string kid;
  std::string private_key_pem;  // "" once retired
  std::int64_t created_at = 0;
  SigningKeyState state = SigningKeyState::kCurrent;
};

class OAuthStore {
 public:
  virtual ~OAuthStore() = default;

  // --- clients
  // kConflict when the id exists. kInvalidInput for an empty id, a confidential client
  // without a secret digest, a public client with one, or a public client allowed
  // client_credentials (RFC 6749 4.4 is for confidential clients only).
  virtual Status CreateClient(const OAuthClient& client) = 0;
  virtual Result<std::optional<OAuthClient>> FindClient(const std::string& id) = 0;
  // Ordered by id.
  virtual Result<std::vector<OAuthClient>> ListClients() = 0;
  // Replaces name, redirect URIs, grant types, scopes, role and the disabled flag with those
  // of `client`; id, type, secret and created_* stay. kNotFound when there is no such client.
  virtual Status UpdateClient(const OAuthClient& client) = 0;
  // Replaces a confidential client's secret digest; the old secret stops working at once.
  // kNotFound when there is no such client; kConflict for a public client.
  virtual Status RotateClientSecret(const std::string& id, const std::string& secret_digest) = 0;
  // Deletes the client with its codes and device authorizations, and revokes every token
  // family issued to it, in one transaction: a client created again under the id inherits
  // nothing. kNotFound when there is no such client.
  virtual Status DeleteClient(const std::string& id, std::int64_t now) = 0;

  // --- authorization codes
  // Stores a new code (its used_at and family_id are ignored). kConflict when the digest
  // exists; kNotFound when its client does not.
  virtual Status CreateCode(const AuthorizationCode& code) = 0;
  // Judges a presented code; see CodeVerdict.
  virtual Result<CodeRedemption> ConsumeCode(const std::string& digest, std::int64_t now) = 0;

  // --- token families and refresh tokens
  // Stores a new family (revoked_at ignored) and, unless nullopt, its first refresh token
  // (family_id and rotated_at ignored; expiry capped at the family's), issued on `grant` from
  // the code with digest `grant_digest`: kAuthorizationCode with a code ConsumeCode redeemed,
  // kDeviceCode with a device code PollDeviceCode redeemed. Each code issues one family at
  // most, to the client it was issued to. kConflict, storing nothing, when the code is not
  // redeemed by family.client_id, already issued a family, or was revoked meanwhile (presented
  // again, or its client's or user's tokens revoked); also when the family id or the token
  // digest exists. kInvalidInput for another grant.
  virtual Status CreateTokenFamily(const TokenFamily& family,
                                   const std::optional<RefreshToken>& refresh, GrantType grant,
                                   const std::string& grant_digest) = 0;
  virtual Result<std::optional<TokenFamily>> FindFamily(const std::string& id) = 0;
  // Any state, for introspection and revocation (RFC 7662, RFC 7009).
  virtual Result<std::optional<RefreshToken>> FindRefreshToken(const std::string& digest) = 0;
  // Exchanges the refresh token `digest`, presented by the authenticated `client_id`, for its
  // successor `new_digest`, expiring at `new_expires_at` capped at the family's expiry; see
  // RotationVerdict. Of two rotations of one token at once, one is kRotated, the other
  // kReused. kConflict when `new_digest` exists (nothing changes); kInvalidInput when it is not
  // a digest or `new_expires_at` is not after `now`.
  virtual Result<RefreshRotation> RotateRefreshToken(const std::string& client_id,
                                                     const std::string& digest,
                                                     const std::string& new_digest,
                                                     std::int64_t now,
                                                     std::int64_t new_expires_at) = 0;
  // Revokes a family: its refresh tokens stop rotating and IsFamilyRevoked answers true.
  // Revoking a missing or revoked family succeeds (RFC 7009 2.2).
  virtual Status RevokeFamily(const std::string& id, std::int64_t now) = 0;
  // Revokes every family of a client, or of a user, and everything that could still start
  // one: their codes that issued no family yet, and device authorizations not yet turned into
  // a family (they become kDenied). Returns how many families were revoked now. kInvalidInput
  // for an empty client id or user.
  virtual Result<std::int64_t> RevokeFamiliesOf(const std::string& client_id, std::int64_t now) = 0;
  virtual Result<std::int64_t> RevokeFamiliesOfUser(const std::string& user, std::int64_t now) = 0;
  // True unless the family exists and is not revoked: a family the store does not know (never
  // issued, or purged) validates nothing.
  virtual Result<bool> IsFamilyRevoked(const std::string& id) = 0;

  // --- access tokens (JWTs, identified by their jti)
  // Records a revoked access token until `expires_at` (its exp), when PurgeExpired forgets it
  // as the token is dead anyway. Revoking one twice succeeds and keeps the later expiry.
  virtual Status RevokeAccessToken(const std::string& jti, std::int64_t expires_at) = 0;
  virtual Result<bool> IsAccessTokenRevoked(const std::string& jti) = 0;

  // --- device authorization
  // Stores a new pending authorization (state, last_polled_at, user, role and family_id are
  // ignored) with its user code normalized. kConflict when the device code digest exists or
  // an authorization that has not expired by `created_at` holds the user code (the caller
  // draws another); an expired one holding it is dropped. kNotFound when the client does not
  // exist; kInvalidInput for a user code that normalizes to "" or an interval that is not
  // positive.
  virtual Status CreateDeviceAuthorization(const DeviceAuthorization& authorization) = 0;
  // By user code (normalized first), in any state, for the verification page.
  virtual Result<std::optional<DeviceAuthorization>> FindDeviceAuthorization(
      const std::string& user_code) = 0;
  // Approves for `user` (not empty) acting as `role`, or denies, a pending authorization.
  // kNotFound when no authorization that has not expired by `now` holds the user code;
  // kConflict when it is no longer pending (of two decisions at once, one wins).
  virtual Status ApproveDeviceAuthorization(const std::string& user_code, const std::string& user,
                                            const std::string& role, std::int64_t now) = 0;
  virtual Status DenyDeviceAuthorization(const std::string& user_code, std::int64_t now) = 0;
  // Judges a poll of the token endpoint by the authenticated `client_id` with the device code
  // `digest`; see PollVerdict. Polls of a pending or approved authorization record `now` as
  // its last poll. Of several polls of one approved authorization at once, one is kApproved.
  virtual Result<DevicePoll> PollDeviceCode(const std::string& client_id, const std::string& digest,
                                            std::int64_t now) = 0;

  // --- signing keys
  // Makes `kid` the current key, the current one previous and the previous one retired, only
  // when the current key is `replaces_kid` ("" for none yet): replicas that decide to rotate at
  // once rotate once. kConflict when another key is current, or `kid` exists.
  virtual Status RotateSigningKey(const std::string& kid, const std::string& private_key_pem,
                                  std::int64_t now, const std::string& replaces_kid) = 0;
  // The current key, then the previous one: what signs, and what the JWKS publishes. Empty
  // before the first rotation.
  virtual Result<std::vector<SigningKey>> ActiveSigningKeys() = 0;

  // --- housekeeping
  // Deletes what has expired by `now`: codes and device authorizations, refresh tokens that
  // expired or whose family is revoked or expired, expired families, and revoked access
  // tokens past their expiry. Returns how many rows went. Replicas may all run it.
  virtual Result<std::int64_t> PurgeExpired(std::int64_t now) = 0;
};

// The OAuth state on a database opened with OpenSqliteDb or OpenPostgresDb (sql_db.h) — the
// FleetStore's (OpenFleetStore): its tables are named oauth_* and versioned in their own row
// of schema_version, created when missing (concurrent first starts of replicas are safe).
Result<std::unique_ptr<OAuthStore>> OpenOAuthStore(std::shared_ptr<SqlDb> db);

}  // namespace fogkeep::director
