// The OAuthStore contract (director/oauth_store.h), run against every back-end: the FleetStore
// suite's test file of each back-end includes this header too and instantiates
// OAuthStoreConformance with the same Backend (store_conformance.h), whose TestDatabase
// Connect()s the stores to an empty database.
//
// Decisions the contract leaves open and this suite pins down, the same for every back-end:
// - Replays and races are judged by verdicts; of concurrent claims on one code, refresh token,
//   device approval or signing-key rotation exactly one wins, on one replica or several.
// - A used authorization code that is presented again after its expiry still answers
//   kAlreadyUsed until PurgeExpired; an expired refresh token is kInvalid even if rotated.
// - Anything written must be valid UTF-8 without NUL (kInvalidInput, nothing written);
//   secrets are written only as digests, and a malformed digest presented finds nothing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "director/oauth_store.h"
#include "director/store.h"
#include "store_conformance.h"

namespace fogkeep::director::conformance {

// A digest as the store keeps them (64 lowercase hex digits), different for every seed.
inline std::string Digest(std::string_view seed) {
  std::string out;
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a, continued for each quarter
  for (int quarter = 0; quarter < 4; ++quarter) {
    for (char c : seed) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
    hash ^= static_cast<std::uint64_t>(quarter);
    hash *= 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
    out += hex;
  }
  return out;
}

// The times the suite's values are issued at and expire.
constexpr std::int64_t kNow = 1'000'000;
constexpr std::int64_t kCodeLifetime = 60;
constexpr std::int64_t kFamilyLifetime = 86'400;
constexpr std::int64_t kRefreshLifetime = 3'600;
constexpr std::int64_t kDeviceLifetime = 600;

inline OAuthClient MakeClient(const std::string& id,
                              OAuthClientType type = OAuthClientType::kConfidential) {
  OAuthClient c;
  c.id = id;
  c.name = "client " + id;
  c.type = type;
  c.secret_digest = type == OAuthClientType::kConfidential ? Digest("secret of " + id) : "";
  // As the store returns lists: sorted, grants in GrantType order.
  c.redirect_uris = {"http://127.0.0.1:8400/cb", "https://app.example/cb"};
  c.grant_types = {GrantType::kAuthorizationCode, GrantType::kRefreshToken, GrantType::kDeviceCode};
  c.scopes = {"apps:write", "fleet:read"};
  c.created_by = "alice";
  c.created_at = 100;
  return c;
}

inline AuthorizationCode MakeCode(const std::string& seed, const std::string& client,
                                  const std::string& user = "bob", std::int64_t now = kNow) {
  AuthorizationCode c;
  c.digest = Digest(seed);
  c.client_id = client;
  c.user = user;
  c.role = "operator";
  c.redirect_uri = "https://app.example/cb";
  c.scope = "fleet:read apps:write";
  c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  c.issued_at = now;
  c.expires_at = now + kCodeLifetime;
  return c;
}

inline TokenFamily MakeFamily(const std::string& id, const std::string& client,
                              const std::string& user = "bob", std::int64_t now = kNow) {
  TokenFamily f;
  f.id = id;
  f.client_id = client;
  f.user = user;
  f.role = "operator";
  f.scope = "fleet:read";
  f.created_at = now;
  f.expires_at = now + kFamilyLifetime;
  return f;
}

inline RefreshToken MakeRefresh(const std::string& seed, std::int64_t now = kNow) {
  RefreshToken t;
  t.digest = Digest(seed);
  t.issued_at = now;
  t.expires_at = now + kRefreshLifetime;
  return t;
}

inline DeviceAuthorization MakeDeviceAuthorization(const std::string& seed,
                                                   const std::string& user_code,
                                                   const std::string& client,
                                                   std::int64_t now = kNow) {
  DeviceAuthorization a;
  a.device_code_digest = Digest(seed);
  a.user_code = user_code;
  a.client_id = client;
  a.scope = "fleet:read";
  a.created_at = now;
  a.expires_at = now + kDeviceLifetime;
  a.interval = 5;
  return a;
}

inline std::string Describe(const std::optional<std::int64_t>& t) {
  return t ? std::to_string(*t) : "-";
}

inline std::string Describe(const OAuthClient& c) {
  std::vector<std::string> grants;
  for (GrantType grant : c.grant_types) grants.emplace_back(GrantTypeName(grant));
  return "id=" + c.id + " name=" + c.name + " type=" + std::to_string(static_cast<int>(c.type)) +
         " secret=" + c.secret_digest + " uris=" + Joined(c.redirect_uris) +
         " grants=" + Joined(grants) + " scopes=" + Joined(c.scopes) +
         " resources=" + Joined(c.resources) + " role=" + c.role + " by=" + c.created_by +
         " at=" + std::to_string(c.created_at) + " disabled=" + std::to_string(c.disabled);
}

inline std::string Describe(const AuthorizationCode& c) {
  return "digest=" + c.digest + " client=" + c.client_id + " user=" + c.user + " role=" + c.role +
         " uri=" + c.redirect_uri + " scope=" + c.scope + " challenge=" + c.code_challenge +
         " issued=" + std::to_string(c.issued_at) + " expires=" + std::to_string(c.expires_at) +
         " used=" + Describe(c.used_at) + " family=" + c.family_id;
}

inline std::string Describe(const TokenFamily& f) {
  return "id=" + f.id + " client=" + f.client_id + " user=" + f.user + " role=" + f.role +
         " scope=" + f.scope + " created=" + std::to_string(f.created_at) +
         " expires=" + std::to_string(f.expires_at) + " revoked=" + Describe(f.revoked_at);
}

inline std::string Describe(const RefreshToken& t) {
  return "digest=" + t.digest + " family=" + t.family_id +
         " issued=" + std::to_string(t.issued_at) + " expires=" + std::to_string(t.expires_at) +
         " rotated=" + Describe(t.rotated_at);
}

inline std::string Describe(const DeviceAuthorization& a) {
  return "digest=" + a.device_code_digest + " user_code=" + a.user_code + " client=" + a.client_id +
         " scope=" + a.scope + " created=" + std::to_string(a.created_at) +
         " expires=" + std::to_string(a.expires_at) + " interval=" + std::to_string(a.interval) +
         " polled=" + Describe(a.last_polled_at) +
         " state=" + std::to_string(static_cast<int>(a.state)) + " user=" + a.user +
         " role=" + a.role + " family=" + a.family_id;
}

inline std::string Describe(const SigningKey& k) {
  return "kid=" + k.kid + " pem=" + k.private_key_pem + " at=" + std::to_string(k.created_at) +
         " state=" + std::to_string(static_cast<int>(k.state));
}

// How many of a race's contenders ended how.
using Tally = std::map<std::string, int>;

// Runs contender(0) .. contender(n - 1) on n threads released at once and counts the outcomes
// they name.
inline Tally Race(int n, const std::function<std::string(int)>& contender) {
  std::mutex mu;
  Tally tally;
  RunTogether(n, [&](int i) {
    std::string outcome = contender(i);
    std::lock_guard lock(mu);
    ++tally[outcome];
  });
  return tally;
}

// A Status as a race outcome: "ok", the name of the `expected` error's code, or any other error
// in full.
inline std::string Outcome(const Status& status, ErrorCode expected) {
  if (status) return "ok";
  const std::string code(ErrorCodeName(status.error().code()));
  return status.error().code() == expected ? code : code + ": " + status.error().message();
}

// Opens a FleetStore and an OAuthStore on the one `db`, writes through each, and opens both
// again: each finds its own tables at their version and its rows beside the other's.
inline void ExpectStoresShare(const std::shared_ptr<SqlDb>& db) {
  {
    auto fleet = OpenFleetStore(db);
    ASSERT_TRUE(Ok(fleet));
    auto oauth = OpenOAuthStore(db);
    ASSERT_TRUE(Ok(oauth));
    ASSERT_TRUE(Ok((*fleet)->InsertDevice(MakeDevice("dev-1"))));
    ASSERT_TRUE(Ok((*oauth)->CreateClient(MakeClient("app"))));
  }
  auto oauth = OpenOAuthStore(db);
  ASSERT_TRUE(Ok(oauth));
  EXPECT_TRUE((*oauth)->FindClient("app")->has_value());
  auto fleet = OpenFleetStore(db);
  ASSERT_TRUE(Ok(fleet));
  EXPECT_TRUE((*fleet)->FindDevice("dev-1")->has_value());
  EXPECT_EQ(*(*fleet)->Generation(), 1);
}

class OAuthStoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto database = GetParam().make_database();
    ASSERT_TRUE(Ok(database));
    database_ = std::move(*database);
    store_ = Open();
    ASSERT_TRUE(store_);
  }

  // A store on its own connection to the test's database: a reopen, or another replica.
  std::unique_ptr<OAuthStore> Open() {
    auto db = database_->Connect();
    EXPECT_TRUE(Ok(db));
    if (!db) return nullptr;
    auto store = OpenOAuthStore(std::move(*db));
    EXPECT_TRUE(Ok(store));
    return store ? std::move(*store) : nullptr;
  }

  void Reopen() {
    store_.reset();
    store_ = Open();
    ASSERT_TRUE(store_);
  }

  // A family of `client` for `user` issued from a redeemed code, with the current refresh
  // token Digest(refresh). True when every step succeeded.
  bool StartFamily(const std::string& client, const std::string& family, const std::string& user,
                   const std::string& refresh, std::int64_t now = kNow) {
    const AuthorizationCode code = MakeCode("code of " + family, client, user, now);
    Status created = store_->CreateCode(code);
    EXPECT_TRUE(Ok(created));
    if (!created) return false;
    if (Consume(code.digest, now) != CodeVerdict::kRedeemed) return false;
    Status started =
        store_->CreateTokenFamily(MakeFamily(family, client, user, now), MakeRefresh(refresh, now),
                                  GrantType::kAuthorizationCode, code.digest);
    EXPECT_TRUE(Ok(started));
    return started.has_value();
  }

  bool FamilyRevoked(const std::string& family) {
    auto revoked = store_->IsFamilyRevoked(family);
    EXPECT_TRUE(Ok(revoked));
    return revoked.value_or(false);
  }

  RotationVerdict Rotate(const std::string& client, const std::string& from, const std::string& to,
                         std::int64_t now = kNow + 10) {
    auto rotation =
        store_->RotateRefreshToken(client, Digest(from), Digest(to), now, now + kRefreshLifetime);
    EXPECT_TRUE(Ok(rotation));
    return rotation ? rotation->verdict : RotationVerdict::kInvalid;
  }

  CodeVerdict Consume(const std::string& digest, std::int64_t now) {
    auto redemption = store_->ConsumeCode(digest, now);
    EXPECT_TRUE(Ok(redemption));
    return redemption ? redemption->verdict : CodeVerdict::kInvalid;
  }

  PollVerdict Poll(const std::string& client, const std::string& seed, std::int64_t now) {
    auto poll = store_->PollDeviceCode(client, Digest(seed), now);
    EXPECT_TRUE(Ok(poll));
    return poll ? poll->verdict : PollVerdict::kInvalid;
  }

  std::vector<std::string> DescribeKeys() {
    auto keys = store_->ActiveSigningKeys();
    EXPECT_TRUE(Ok(keys));
    std::vector<std::string> out;
    for (const SigningKey& key : keys.value_or(std::vector<SigningKey>{})) {
      out.push_back(Describe(key));
    }
    return out;
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<OAuthStore> store_;  // closed before its database goes
};

// --- clients

TEST_P(OAuthStoreConformance, ClientsRoundTripAndListById) {
  OAuthClient app = MakeClient("b-app");
  app.redirect_uris = {"https://z.example/cb", "https://a.example/cb", "https://z.example/cb"};
  app.grant_types = {GrantType::kDeviceCode, GrantType::kAuthorizationCode, GrantType::kDeviceCode};
  app.scopes = {"z", "a", "z"};
  ASSERT_TRUE(Ok(store_->CreateClient(app)));
  OAuthClient cli = MakeClient("a-cli", OAuthClientType::kPublic);
  cli.redirect_uris = {};
  cli.disabled = true;
  ASSERT_TRUE(Ok(store_->CreateClient(cli)));
  OAuthClient robot = MakeClient("B-robot");
  robot.grant_types = {GrantType::kClientCredentials};
  robot.role = "fleet-operator";
  robot.resources = {"urn:fogkeep:node:n1", "https://director.example", "urn:fogkeep:node:n1"};
  ASSERT_TRUE(Ok(store_->CreateClient(robot)));
  robot.resources = {"https://director.example", "urn:fogkeep:node:n1"};  // sorted, unique

  auto found = store_->FindClient("b-app");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->has_value());
  app.redirect_uris = {"https://a.example/cb", "https://z.example/cb"};  // sorted, unique
  app.grant_types = {GrantType::kAuthorizationCode, GrantType::kDeviceCode};
  app.scopes = {"a", "z"};
  EXPECT_EQ(Describe(**found), Describe(app));

  auto listed = store_->ListClients();
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ(Field(*listed, &OAuthClient::id),
            (std::vector<std::string>{"B-robot", "a-cli", "b-app"}));  // byte order
  EXPECT_EQ(Describe((*listed)[0]), Describe(robot));
  EXPECT_EQ(Describe((*listed)[1]), Describe(cli));
  EXPECT_EQ(Describe((*listed)[2]), Describe(app));

  auto missing = store_->FindClient("c");
  ASSERT_TRUE(Ok(missing));
  EXPECT_FALSE(missing->has_value());
  OAuthClient again = MakeClient("b-app");
  again.name = "impostor";
  EXPECT_TRUE(FailsWith(store_->CreateClient(again), ErrorCode::kConflict));
  EXPECT_EQ((*store_->FindClient("b-app"))->name, app.name);
}

TEST_P(OAuthStoreConformance, ClientsAreCheckedBeforeTheyAreStored) {
  OAuthClient no_secret = MakeClient("c1");
  no_secret.secret_digest = "";
  EXPECT_TRUE(FailsWith(store_->CreateClient(no_secret), ErrorCode::kInvalidInput));
  // Anything but a digest might be the secret itself.
  for (const std::string& secret :
       {std::string("hunter2"), Digest("s").substr(1), std::string(64, 'A'),
        Digest("s").substr(0, 63) + "g", std::string(64, '0') + " "}) {
    OAuthClient clear = MakeClient("c1");
    clear.secret_digest = secret;
    EXPECT_TRUE(FailsWith(store_->CreateClient(clear), ErrorCode::kInvalidInput)) << secret;
  }
  OAuthClient public_with_secret = MakeClient("c1", OAuthClientType::kPublic);
  public_with_secret.secret_digest = Digest("s");
  EXPECT_TRUE(FailsWith(store_->CreateClient(public_with_secret), ErrorCode::kInvalidInput));
  OAuthClient public_robot = MakeClient("c1", OAuthClientType::kPublic);
  public_robot.grant_types = {GrantType::kClientCredentials};
  EXPECT_TRUE(FailsWith(store_->CreateClient(public_robot), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->CreateClient(MakeClient("")), ErrorCode::kInvalidInput));

  const std::string overlong(1025, 'u');
  EXPECT_TRUE(FailsWith(store_->CreateClient(MakeClient(overlong)), ErrorCode::kLimit));
  OAuthClient long_uri = MakeClient("c1");
  long_uri.redirect_uris.push_back("https://x.example/" + overlong);
  EXPECT_TRUE(FailsWith(store_->CreateClient(long_uri), ErrorCode::kLimit));
  OAuthClient long_scope = MakeClient("c1");
  long_scope.scopes.push_back(overlong);
  EXPECT_TRUE(FailsWith(store_->CreateClient(long_scope), ErrorCode::kLimit));
  EXPECT_TRUE(store_->ListClients()->empty());
}

TEST_P(OAuthStoreConformance, UpdateClientKeepsIdentityAndSecret) {
  const OAuthClient original = MakeClient("app");
  ASSERT_TRUE(Ok(store_->CreateClient(original)));
  OAuthClient changed = original;
  changed.name = "renamed";
  changed.type = OAuthClientType::kPublic;      // ignored
  changed.secret_digest = Digest("elsewhere");  // ignored
  changed.created_by = "mallory";               // ignored
  changed.created_at = 5;                       // ignored
  changed.redirect_uris = {"https://new.example/cb"};
  changed.grant_types = {GrantType::kClientCredentials};
  changed.scopes = {};
  changed.resources = {"urn:fogkeep:tag:line-1"};
  changed.role = "auditor";
  changed.disabled = true;
  ASSERT_TRUE(Ok(store_->UpdateClient(changed)));
  OAuthClient expected = changed;
  expected.type = original.type;
  expected.secret_digest = original.secret_digest;
  expected.created_by = original.created_by;
  expected.created_at = original.created_at;
  EXPECT_EQ(Describe(**store_->FindClient("app")), Describe(expected));

  EXPECT_TRUE(FailsWith(store_->UpdateClient(MakeClient("ghost")), ErrorCode::kNotFound));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("cli", OAuthClientType::kPublic))));
  OAuthClient robot = MakeClient("cli", OAuthClientType::kPublic);
  robot.name = "not stored";
  robot.grant_types = {GrantType::kClientCredentials};
  EXPECT_TRUE(FailsWith(store_->UpdateClient(robot), ErrorCode::kInvalidInput));
  EXPECT_EQ(Describe(**store_->FindClient("cli")),
            Describe(MakeClient("cli", OAuthClientType::kPublic)));
}

TEST_P(OAuthStoreConformance, RotateClientSecret) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(Ok(store_->RotateClientSecret("app", Digest("second secret"))));
  EXPECT_EQ((*store_->FindClient("app"))->secret_digest, Digest("second secret"));
  EXPECT_TRUE(
      FailsWith(store_->RotateClientSecret("app", "second secret"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->RotateClientSecret("ghost", Digest("x")), ErrorCode::kNotFound));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("cli", OAuthClientType::kPublic))));
  EXPECT_TRUE(FailsWith(store_->RotateClientSecret("cli", Digest("x")), ErrorCode::kConflict));
  EXPECT_EQ((*store_->FindClient("cli"))->secret_digest, "");
  EXPECT_EQ((*store_->FindClient("app"))->secret_digest, Digest("second secret"));
}

TEST_P(OAuthStoreConformance, DeletedClientLeavesNothingUsable) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("other"))));
  ASSERT_TRUE(StartFamily("app", "fam-1", "bob", "rt-1"));
  ASSERT_TRUE(StartFamily("other", "fam-2", "bob", "rt-2"));
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("pending code", "app"))));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "ABCD-EFGH", "app"))));

  ASSERT_TRUE(Ok(store_->DeleteClient("app", kNow + 5)));
  EXPECT_FALSE(store_->FindClient("app")->has_value());
  EXPECT_TRUE(FamilyRevoked("fam-1"));
  EXPECT_FALSE(FamilyRevoked("fam-2"));
  EXPECT_EQ((*store_->FindFamily("fam-1"))->revoked_at, kNow + 5);
  EXPECT_EQ(Consume(Digest("pending code"), kNow + 6), CodeVerdict::kInvalid);
  EXPECT_FALSE(store_->FindDeviceAuthorization("ABCDEFGH")->has_value());
  EXPECT_EQ(Poll("app", "dc", kNow + 6), PollVerdict::kInvalid);

  // A client made again under the id inherits none of it.
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  EXPECT_EQ(Rotate("app", "rt-1", "rt-1b"), RotationVerdict::kInvalid);
  EXPECT_TRUE(FamilyRevoked("fam-1"));
  EXPECT_EQ(Rotate("other", "rt-2", "rt-2b"), RotationVerdict::kRotated);

  EXPECT_TRUE(FailsWith(store_->DeleteClient("ghost", kNow), ErrorCode::kNotFound));
}

// --- authorization codes

TEST_P(OAuthStoreConformance, CodeIsRedeemedOnceAndAReplayRevokesItsTokens) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  const AuthorizationCode code = MakeCode("code", "app");
  ASSERT_TRUE(Ok(store_->CreateCode(code)));
  EXPECT_TRUE(FailsWith(store_->CreateCode(code), ErrorCode::kConflict));

  auto redeemed = store_->ConsumeCode(code.digest, kNow + 1);
  ASSERT_TRUE(Ok(redeemed));
  EXPECT_EQ(redeemed->verdict, CodeVerdict::kRedeemed);
  AuthorizationCode expected = code;
  expected.used_at = kNow + 1;
  EXPECT_EQ(Describe(redeemed->code), Describe(expected));

  ASSERT_TRUE(Ok(store_->CreateTokenFamily(MakeFamily("fam", "app"), MakeRefresh("rt"),
                                           GrantType::kAuthorizationCode, code.digest)));
  EXPECT_FALSE(FamilyRevoked("fam"));
  // One family per code.
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam-2", "app"), MakeRefresh("rt-2"),
                                                  GrantType::kAuthorizationCode, code.digest),
                        ErrorCode::kConflict));
  EXPECT_FALSE(store_->FindFamily("fam-2")->has_value());

  auto replayed = store_->ConsumeCode(code.digest, kNow + 2);
  ASSERT_TRUE(Ok(replayed));
  EXPECT_EQ(replayed->verdict, CodeVerdict::kAlreadyUsed);
  EXPECT_EQ(replayed->code.family_id, "fam");
  EXPECT_TRUE(FamilyRevoked("fam"));
  EXPECT_EQ((*store_->FindFamily("fam"))->revoked_at, kNow + 2);
  EXPECT_EQ(Rotate("app", "rt", "rt-next"), RotationVerdict::kInvalid);
  // Still a replay later, past its expiry, until it is purged.
  EXPECT_EQ(Consume(code.digest, code.expires_at + 100), CodeVerdict::kAlreadyUsed);
  EXPECT_EQ((*store_->FindFamily("fam"))->revoked_at, kNow + 2);
}

TEST_P(OAuthStoreConformance, CodeReplayedBeforeTokensAreIssuedStopsThem) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  const AuthorizationCode code = MakeCode("code", "app");
  ASSERT_TRUE(Ok(store_->CreateCode(code)));
  EXPECT_EQ(Consume(code.digest, kNow), CodeVerdict::kRedeemed);
  auto replayed = store_->ConsumeCode(code.digest, kNow);
  ASSERT_TRUE(Ok(replayed));
  EXPECT_EQ(replayed->verdict, CodeVerdict::kAlreadyUsed);
  EXPECT_EQ(replayed->code.family_id, "");
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam", "app"), MakeRefresh("rt"),
                                                  GrantType::kAuthorizationCode, code.digest),
                        ErrorCode::kConflict));
  EXPECT_FALSE(store_->FindFamily("fam")->has_value());
  EXPECT_FALSE(store_->FindRefreshToken(Digest("rt"))->has_value());
}

TEST_P(OAuthStoreConformance, CodeRefusals) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("other"))));
  const AuthorizationCode code = MakeCode("code", "app");
  ASSERT_TRUE(Ok(store_->CreateCode(code)));
  EXPECT_EQ(Consume(Digest("unknown"), kNow), CodeVerdict::kInvalid);
  for (const std::string& malformed :
       {std::string(""), std::string("code"), code.digest + std::string(1, '\0'),
        std::string(64, '\xff'), code.digest.substr(0, 63)}) {
    EXPECT_EQ(Consume(malformed, kNow), CodeVerdict::kInvalid);
  }
  EXPECT_EQ(Consume(code.digest, code.expires_at), CodeVerdict::kInvalid);  // exclusive
  // Unredeemed, a code starts no family; neither for another client nor another grant.
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam", "app"), std::nullopt,
                                                  GrantType::kAuthorizationCode, code.digest),
                        ErrorCode::kConflict));
  EXPECT_EQ(Consume(code.digest, code.expires_at - 1), CodeVerdict::kRedeemed);
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam", "other"), std::nullopt,
                                                  GrantType::kAuthorizationCode, code.digest),
                        ErrorCode::kConflict));
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam", "app"), std::nullopt,
                                                  GrantType::kClientCredentials, code.digest),
                        ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam", "app"), std::nullopt,
                                                  GrantType::kAuthorizationCode, "code"),
                        ErrorCode::kInvalidInput));
  // A family without a refresh token (the client asked for none).
  ASSERT_TRUE(Ok(store_->CreateTokenFamily(MakeFamily("fam", "app"), std::nullopt,
                                           GrantType::kAuthorizationCode, code.digest)));
  EXPECT_EQ((*store_->FindFamily("fam"))->client_id, "app");

  AuthorizationCode clear = MakeCode("c2", "app");
  clear.digest = "the code itself";
  EXPECT_TRUE(FailsWith(store_->CreateCode(clear), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->CreateCode(MakeCode("c3", "ghost")), ErrorCode::kNotFound));
  EXPECT_EQ(Consume(Digest("c3"), kNow), CodeVerdict::kInvalid);
}

TEST_P(OAuthStoreConformance, ConcurrentRedeemersOfOneCodeHaveOneWinner) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  auto replica = Open();
  ASSERT_TRUE(replica);
  OAuthStore* stores[] = {store_.get(), replica.get()};
  for (int round = 0; round < 5; ++round) {
    const AuthorizationCode code = MakeCode("code " + std::to_string(round), "app");
    ASSERT_TRUE(Ok(store_->CreateCode(code)));
    const Tally tally = Race(8, [&](int i) -> std::string {
      auto r = stores[i % 2]->ConsumeCode(code.digest, kNow + 1);
      if (!r) return r.error().message();
      if (r->verdict == CodeVerdict::kRedeemed) return "redeemed";
      return r->verdict == CodeVerdict::kAlreadyUsed ? "replay" : "invalid";
    });
    EXPECT_EQ(tally, (Tally{{"redeemed", 1}, {"replay", 7}})) << "round " << round;
    // The replays revoked the code: the winner issues nothing from it.
    EXPECT_TRUE(FailsWith(
        store_->CreateTokenFamily(MakeFamily("fam " + std::to_string(round), "app"), std::nullopt,
                                  GrantType::kAuthorizationCode, code.digest),
        ErrorCode::kConflict));
  }
}

// --- refresh tokens

TEST_P(OAuthStoreConformance, RefreshTokensRotateWithinTheirFamily) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(StartFamily("app", "fam", "bob", "rt-0"));
  auto first = store_->FindRefreshToken(Digest("rt-0"));
  ASSERT_TRUE(Ok(first));
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(Describe(**first), Describe(RefreshToken{Digest("rt-0"), "fam", kNow,
                                                     kNow + kRefreshLifetime, std::nullopt}));

  auto rotation = store_->RotateRefreshToken("app", Digest("rt-0"), Digest("rt-1"), kNow + 10,
                                             kNow + 10 + kRefreshLifetime);
  ASSERT_TRUE(Ok(rotation));
  EXPECT_EQ(rotation->verdict, RotationVerdict::kRotated);
  EXPECT_EQ(Describe(rotation->family), Describe(MakeFamily("fam", "app")));
  EXPECT_EQ((*store_->FindRefreshToken(Digest("rt-0")))->rotated_at, kNow + 10);
  EXPECT_EQ(Describe(**store_->FindRefreshToken(Digest("rt-1"))),
            Describe(RefreshToken{Digest("rt-1"), "fam", kNow + 10, kNow + 10 + kRefreshLifetime,
                                  std::nullopt}));

  // No token outlives its family, however late it is rotated.
  const std::int64_t late = kNow + kFamilyLifetime - 5;
  rotation = store_->RotateRefreshToken("app", Digest("rt-1"), Digest("rt-2"), kNow + 3000,
                                        late + kRefreshLifetime);
  ASSERT_TRUE(Ok(rotation));
  EXPECT_EQ(rotation->verdict, RotationVerdict::kRotated);
  EXPECT_EQ((*store_->FindRefreshToken(Digest("rt-2")))->expires_at, kNow + kFamilyLifetime);
  EXPECT_FALSE(FamilyRevoked("fam"));
}

TEST_P(OAuthStoreConformance, AReusedRefreshTokenRevokesItsFamily) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(StartFamily("app", "fam", "bob", "rt-0"));
  ASSERT_TRUE(StartFamily("app", "bystander", "bob", "other-0"));
  EXPECT_EQ(Rotate("app", "rt-0", "rt-1"), RotationVerdict::kRotated);

  auto reuse = store_->RotateRefreshToken("app", Digest("rt-0"), Digest("rt-x"), kNow + 20,
                                          kNow + 20 + kRefreshLifetime);
  ASSERT_TRUE(Ok(reuse));
  EXPECT_EQ(reuse->verdict, RotationVerdict::kReused);
  EXPECT_EQ(reuse->family.id, "fam");
  EXPECT_EQ(reuse->family.revoked_at, kNow + 20);
  EXPECT_FALSE(store_->FindRefreshToken(Digest("rt-x"))->has_value());
  EXPECT_TRUE(FamilyRevoked("fam"));
  // The successor the legitimate holder has is dead too; the reuse is still told as such.
  EXPECT_EQ(Rotate("app", "rt-1", "rt-2"), RotationVerdict::kInvalid);
  EXPECT_EQ(Rotate("app", "rt-0", "rt-3"), RotationVerdict::kReused);
  EXPECT_EQ((*store_->FindFamily("fam"))->revoked_at, kNow + 20);
  EXPECT_FALSE(FamilyRevoked("bystander"));
  EXPECT_EQ(Rotate("app", "other-0", "other-1"), RotationVerdict::kRotated);
}

TEST_P(OAuthStoreConformance, RefreshRefusalsChangeNothing) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("thief"))));
  ASSERT_TRUE(StartFamily("app", "fam", "bob", "rt-0"));
  ASSERT_TRUE(StartFamily("app", "taken", "bob", "taken-0"));

  EXPECT_EQ(Rotate("app", "unknown", "rt-1"), RotationVerdict::kInvalid);
  EXPECT_EQ(Rotate("thief", "rt-0", "rt-1"), RotationVerdict::kInvalid);  // another client's
  auto malformed =
      store_->RotateRefreshToken("app", std::string("\0", 1), Digest("rt-1"), kNow + 1, kNow + 100);
  ASSERT_TRUE(Ok(malformed));
  EXPECT_EQ(malformed->verdict, RotationVerdict::kInvalid);
  // The successor must be a fresh digest that outlives now.
  EXPECT_TRUE(FailsWith(
      store_->RotateRefreshToken("app", Digest("rt-0"), Digest("taken-0"), kNow + 1, kNow + 100),
      ErrorCode::kConflict));
  EXPECT_TRUE(FailsWith(
      store_->RotateRefreshToken("app", Digest("rt-0"), "rt-1 in clear", kNow + 1, kNow + 100),
      ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(
      store_->RotateRefreshToken("app", Digest("rt-0"), Digest("rt-1"), kNow + 1, kNow + 1),
      ErrorCode::kInvalidInput));
  EXPECT_EQ(Rotate("app", "rt-0", "rt-1", kNow + kRefreshLifetime), RotationVerdict::kInvalid);
  // None of that used the token up.
  EXPECT_FALSE((*store_->FindRefreshToken(Digest("rt-0")))->rotated_at.has_value());
  EXPECT_FALSE(FamilyRevoked("fam"));
  EXPECT_EQ(Rotate("app", "rt-0", "rt-1", kNow + kRefreshLifetime - 1), RotationVerdict::kRotated);

  // Nor does an expired rotated token count as reuse.
  EXPECT_EQ(Rotate("app", "rt-0", "rt-9", kNow + kRefreshLifetime), RotationVerdict::kInvalid);
  EXPECT_FALSE(FamilyRevoked("fam"));

  // A revoked family rotates no more; revoking is idempotent and missing families are fine.
  ASSERT_TRUE(Ok(store_->RevokeFamily("fam", kNow + 50)));
  ASSERT_TRUE(Ok(store_->RevokeFamily("fam", kNow + 60)));
  ASSERT_TRUE(Ok(store_->RevokeFamily("ghost", kNow + 60)));
  EXPECT_EQ((*store_->FindFamily("fam"))->revoked_at, kNow + 50);
  EXPECT_EQ(Rotate("app", "rt-1", "rt-2"), RotationVerdict::kInvalid);
  EXPECT_TRUE(FamilyRevoked("ghost"));  // unknown validates nothing

  // A family's tokens end with it, however long they were meant to live.
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("short", "app"))));
  ASSERT_EQ(Consume(Digest("short"), kNow), CodeVerdict::kRedeemed);
  TokenFamily brief = MakeFamily("brief", "app");
  brief.expires_at = kNow + 100;
  ASSERT_TRUE(Ok(store_->CreateTokenFamily(brief, MakeRefresh("brief-0"),
                                           GrantType::kAuthorizationCode, Digest("short"))));
  EXPECT_EQ((*store_->FindRefreshToken(Digest("brief-0")))->expires_at, kNow + 100);
  EXPECT_EQ(Rotate("app", "brief-0", "brief-1", kNow + 100), RotationVerdict::kInvalid);
}

TEST_P(OAuthStoreConformance, ConcurrentRotationsOfOneTokenRevokeTheFamily) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  auto replica = Open();
  ASSERT_TRUE(replica);
  OAuthStore* stores[] = {store_.get(), replica.get()};
  for (int threads : {2, 8}) {
    const std::string family = "fam-" + std::to_string(threads);
    ASSERT_TRUE(StartFamily("app", family, "bob", family + "-rt"));
    std::vector<std::string> winners(threads);
    const Tally tally = Race(threads, [&](int i) -> std::string {
      const std::string next = family + "-next-" + std::to_string(i);
      auto r = stores[i % 2]->RotateRefreshToken("app", Digest(family + "-rt"), Digest(next),
                                                 kNow + 5, kNow + 5 + kRefreshLifetime);
      if (!r) return r.error().message();
      if (r->verdict != RotationVerdict::kRotated) {
        return r->verdict == RotationVerdict::kReused ? "reused" : "invalid";
      }
      winners[i] = next;
      return "rotated";
    });
    EXPECT_EQ(tally, (Tally{{"reused", threads - 1}, {"rotated", 1}})) << threads << " threads";
    EXPECT_TRUE(FamilyRevoked(family));
    // The token the winner got belongs to the revoked family.
    for (const std::string& winner : winners) {
      if (!winner.empty()) {
        EXPECT_EQ(Rotate("app", winner, winner + "+"), RotationVerdict::kInvalid);
      }
    }
  }
}

// --- revocation

TEST_P(OAuthStoreConformance, RevokingAClientOrUserStopsWhatIsIssuedAndUnderway) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("tool"))));
  ASSERT_TRUE(StartFamily("app", "app-bob", "bob", "r1"));
  ASSERT_TRUE(StartFamily("app", "app-eve", "eve", "r2"));
  ASSERT_TRUE(StartFamily("tool", "tool-bob", "bob", "r3"));
  // Underway for bob: a code not redeemed yet, one redeemed without tokens yet, an approved
  // device authorization.
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("unredeemed", "tool", "bob"))));
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("redeemed", "tool", "bob"))));
  ASSERT_EQ(Consume(Digest("redeemed"), kNow), CodeVerdict::kRedeemed);
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "BOBB-CODE", "tool"))));
  ASSERT_TRUE(Ok(store_->ApproveDeviceAuthorization("BOBB-CODE", "bob", "operator", kNow)));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc2", "PEND-INGX", "tool"))));

  auto revoked = store_->RevokeFamiliesOfUser("bob", kNow + 1);
  ASSERT_TRUE(Ok(revoked));
  EXPECT_EQ(*revoked, 2);
  EXPECT_TRUE(FamilyRevoked("app-bob"));
  EXPECT_TRUE(FamilyRevoked("tool-bob"));
  EXPECT_FALSE(FamilyRevoked("app-eve"));
  EXPECT_EQ(Consume(Digest("unredeemed"), kNow + 2), CodeVerdict::kInvalid);
  EXPECT_TRUE(
      FailsWith(store_->CreateTokenFamily(MakeFamily("late", "tool"), std::nullopt,
                                          GrantType::kAuthorizationCode, Digest("redeemed")),
                ErrorCode::kConflict));
  EXPECT_EQ(Poll("tool", "dc", kNow + 2), PollVerdict::kDenied);
  EXPECT_EQ(Poll("tool", "dc2", kNow + 2), PollVerdict::kPending);  // nobody's yet
  EXPECT_EQ(*store_->RevokeFamiliesOfUser("bob", kNow + 3), 0);
  EXPECT_TRUE(FailsWith(store_->RevokeFamiliesOfUser("", kNow), ErrorCode::kInvalidInput));

  revoked = store_->RevokeFamiliesOf("app", kNow + 4);
  ASSERT_TRUE(Ok(revoked));
  EXPECT_EQ(*revoked, 1);
  EXPECT_TRUE(FamilyRevoked("app-eve"));
  EXPECT_EQ((*store_->FindFamily("app-bob"))->revoked_at, kNow + 1);
  revoked = store_->RevokeFamiliesOf("tool", kNow + 5);
  ASSERT_TRUE(Ok(revoked));
  EXPECT_EQ(*revoked, 0);
  EXPECT_EQ(Poll("tool", "dc2", kNow + 20), PollVerdict::kDenied);
  EXPECT_TRUE(store_->FindClient("app")->has_value());  // the clients themselves stay
}

TEST_P(OAuthStoreConformance, RevokedAccessTokensAreRememberedUntilTheyExpire) {
  EXPECT_FALSE(*store_->IsAccessTokenRevoked("jti-1"));
  ASSERT_TRUE(Ok(store_->RevokeAccessToken("jti-1", kNow + 300)));
  ASSERT_TRUE(Ok(store_->RevokeAccessToken("jti-1", kNow + 100)));  // keeps the later expiry
  ASSERT_TRUE(Ok(store_->RevokeAccessToken("jti-2", kNow + 100)));
  EXPECT_TRUE(*store_->IsAccessTokenRevoked("jti-1"));
  EXPECT_FALSE(*store_->IsAccessTokenRevoked("jti-3"));
  EXPECT_TRUE(FailsWith(store_->RevokeAccessToken("", kNow), ErrorCode::kInvalidInput));
  EXPECT_TRUE(
      FailsWith(store_->RevokeAccessToken(std::string(1025, 'j'), kNow), ErrorCode::kLimit));

  auto purged = store_->PurgeExpired(kNow + 100);
  ASSERT_TRUE(Ok(purged));
  EXPECT_EQ(*purged, 1);
  EXPECT_TRUE(*store_->IsAccessTokenRevoked("jti-1"));
  EXPECT_FALSE(*store_->IsAccessTokenRevoked("jti-2"));
  ASSERT_TRUE(Ok(store_->PurgeExpired(kNow + 300)));
  EXPECT_FALSE(*store_->IsAccessTokenRevoked("jti-1"));
}

// --- device authorization

TEST_P(OAuthStoreConformance, DeviceFlowPendsSlowsDownAndIsRedeemedOnce) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("cli", OAuthClientType::kPublic))));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "wdjb-mjht", "cli"))));
  DeviceAuthorization expected = MakeDeviceAuthorization("dc", "WDJBMJHT", "cli");
  for (const char* typed : {"WDJBMJHT", "wdjb-mjht", " Wdjb Mjht\t"}) {
    auto found = store_->FindDeviceAuthorization(typed);
    ASSERT_TRUE(Ok(found));
    ASSERT_TRUE(found->has_value()) << typed;
    EXPECT_EQ(Describe(**found), Describe(expected));
  }

  auto poll = store_->PollDeviceCode("cli", Digest("dc"), kNow + 5);
  ASSERT_TRUE(Ok(poll));
  EXPECT_EQ(poll->verdict, PollVerdict::kPending);
  EXPECT_EQ(poll->authorization.last_polled_at, kNow + 5);
  poll = store_->PollDeviceCode("cli", Digest("dc"), kNow + 7);  // 2 s after: too soon
  ASSERT_TRUE(Ok(poll));
  EXPECT_EQ(poll->verdict, PollVerdict::kSlowDown);
  EXPECT_EQ(poll->authorization.interval, 10);
  EXPECT_EQ(Poll("cli", "dc", kNow + 16), PollVerdict::kSlowDown);  // 9 s < 10 s
  EXPECT_EQ((*store_->FindDeviceAuthorization("WDJBMJHT"))->interval, 15);
  EXPECT_EQ(Poll("cli", "dc", kNow + 31), PollVerdict::kPending);
  EXPECT_EQ((*store_->FindDeviceAuthorization("WDJBMJHT"))->interval, 15);

  ASSERT_TRUE(Ok(store_->ApproveDeviceAuthorization("wdjb mjht", "bob", "operator", kNow + 40)));
  auto approved = store_->FindDeviceAuthorization("WDJBMJHT");
  EXPECT_EQ((*approved)->state, DeviceAuthorizationState::kApproved);
  EXPECT_EQ((*approved)->user, "bob");
  EXPECT_EQ((*approved)->role, "operator");
  // An approval is handed out even to a poll that comes too soon.
  poll = store_->PollDeviceCode("cli", Digest("dc"), kNow + 41);
  ASSERT_TRUE(Ok(poll));
  EXPECT_EQ(poll->verdict, PollVerdict::kApproved);
  EXPECT_EQ(poll->authorization.state, DeviceAuthorizationState::kRedeemed);
  EXPECT_EQ(poll->authorization.user, "bob");
  EXPECT_EQ(poll->authorization.role, "operator");
  EXPECT_EQ(poll->authorization.scope, "fleet:read");
  EXPECT_EQ(Poll("cli", "dc", kNow + 60), PollVerdict::kInvalid);

  ASSERT_TRUE(Ok(store_->CreateTokenFamily(MakeFamily("fam", "cli"), MakeRefresh("rt"),
                                           GrantType::kDeviceCode, Digest("dc"))));
  EXPECT_EQ((*store_->FindDeviceAuthorization("WDJBMJHT"))->family_id, "fam");
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam-2", "cli"), std::nullopt,
                                                  GrantType::kDeviceCode, Digest("dc")),
                        ErrorCode::kConflict));
}

TEST_P(OAuthStoreConformance, DeviceAuthorizationRefusals) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("cli", OAuthClientType::kPublic))));
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("other", OAuthClientType::kPublic))));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "AAAA-BBBB", "cli"))));

  // Creation: codes are unique while alive; everything else is checked.
  EXPECT_TRUE(FailsWith(
      store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc-2", "aaaabbbb", "cli")),
      ErrorCode::kConflict));
  EXPECT_TRUE(FailsWith(
      store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "CCCC-DDDD", "cli")),
      ErrorCode::kConflict));
  EXPECT_TRUE(
      FailsWith(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc-3", " - ", "cli")),
                ErrorCode::kInvalidInput));
  EXPECT_TRUE(
      FailsWith(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc-3", "EEEE", "ghost")),
                ErrorCode::kNotFound));
  DeviceAuthorization no_interval = MakeDeviceAuthorization("dc-3", "EEEE", "cli");
  no_interval.interval = 0;
  EXPECT_TRUE(FailsWith(store_->CreateDeviceAuthorization(no_interval), ErrorCode::kInvalidInput));
  DeviceAuthorization clear = MakeDeviceAuthorization("dc-3", "EEEE", "cli");
  clear.device_code_digest = "device code in clear";
  EXPECT_TRUE(FailsWith(store_->CreateDeviceAuthorization(clear), ErrorCode::kInvalidInput));

  // Polls that are not the client's, or not of a known code, learn nothing and change nothing.
  EXPECT_EQ(Poll("other", "dc", kNow + 1), PollVerdict::kInvalid);
  EXPECT_EQ(Poll("cli", "unknown", kNow + 1), PollVerdict::kInvalid);
  EXPECT_FALSE((*store_->FindDeviceAuthorization("AAAABBBB"))->last_polled_at.has_value());

  // Decisions: once, while pending and alive.
  EXPECT_TRUE(FailsWith(store_->ApproveDeviceAuthorization("ZZZZ-ZZZZ", "bob", "op", kNow),
                        ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store_->ApproveDeviceAuthorization("AAAA-BBBB", "", "op", kNow),
                        ErrorCode::kInvalidInput));
  ASSERT_TRUE(Ok(store_->DenyDeviceAuthorization("aaaa-bbbb", kNow + 2)));
  EXPECT_TRUE(FailsWith(store_->ApproveDeviceAuthorization("AAAA-BBBB", "bob", "op", kNow + 3),
                        ErrorCode::kConflict));
  EXPECT_TRUE(
      FailsWith(store_->DenyDeviceAuthorization("AAAA-BBBB", kNow + 3), ErrorCode::kConflict));
  EXPECT_EQ(Poll("cli", "dc", kNow + 4), PollVerdict::kDenied);
  EXPECT_EQ(Poll("cli", "dc", kNow + 20), PollVerdict::kDenied);
  EXPECT_TRUE(FailsWith(store_->CreateTokenFamily(MakeFamily("fam", "cli"), std::nullopt,
                                                  GrantType::kDeviceCode, Digest("dc")),
                        ErrorCode::kConflict));

  // Expiry: polls say so, decisions find nothing, and the user code is free again.
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc-4", "FFFF-GGGG", "cli"))));
  const std::int64_t expiry = kNow + kDeviceLifetime;
  EXPECT_TRUE(FailsWith(store_->ApproveDeviceAuthorization("FFFFGGGG", "bob", "op", expiry),
                        ErrorCode::kNotFound));
  EXPECT_EQ(Poll("cli", "dc-4", expiry), PollVerdict::kExpired);
  ASSERT_TRUE(Ok(store_->CreateDeviceAuthorization(
      MakeDeviceAuthorization("dc-5", "FFFF-GGGG", "other", expiry))));
  EXPECT_EQ((*store_->FindDeviceAuthorization("FFFFGGGG"))->client_id, "other");
  EXPECT_EQ(Poll("cli", "dc-4", expiry + 1), PollVerdict::kInvalid);
}

TEST_P(OAuthStoreConformance, ConcurrentDecisionsAndPollsOfOneAuthorizationHaveOneWinner) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("cli", OAuthClientType::kPublic))));
  auto replica = Open();
  ASSERT_TRUE(replica);
  OAuthStore* stores[] = {store_.get(), replica.get()};
  for (int round = 0; round < 3; ++round) {
    const std::string seed = "dc-" + std::to_string(round);
    const std::string user_code = "ROUND-" + std::to_string(round);
    ASSERT_TRUE(
        Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization(seed, user_code, "cli"))));
    const Tally decisions = Race(8, [&](int i) {
      const std::string user = "user-" + std::to_string(i);
      return Outcome(
          i % 4 == 3 ? stores[i % 2]->DenyDeviceAuthorization(user_code, kNow + 1)
                     : stores[i % 2]->ApproveDeviceAuthorization(user_code, user, "op", kNow + 1),
          ErrorCode::kConflict);
    });
    EXPECT_EQ(decisions, (Tally{{"conflict", 7}, {"ok", 1}})) << "round " << round;
    auto decision = store_->FindDeviceAuthorization(user_code);
    ASSERT_TRUE(Ok(decision));
    if ((*decision)->state != DeviceAuthorizationState::kApproved) {
      ASSERT_TRUE(Ok(store_->CreateDeviceAuthorization(
          MakeDeviceAuthorization(seed + "+", user_code + "+", "cli"))));
      ASSERT_TRUE(Ok(store_->ApproveDeviceAuthorization(user_code + "+", "bob", "op", kNow + 1)));
    }
    const std::string approved =
        (*decision)->state == DeviceAuthorizationState::kApproved ? seed : seed + "+";

    const Tally polls = Race(8, [&](int i) -> std::string {
      auto poll = stores[i % 2]->PollDeviceCode("cli", Digest(approved), kNow + 2);
      if (!poll) return poll.error().message();
      if (poll->verdict == PollVerdict::kApproved) return "approved";
      return poll->verdict == PollVerdict::kInvalid ? "invalid" : "other";
    });
    EXPECT_EQ(polls, (Tally{{"approved", 1}, {"invalid", 7}})) << "round " << round;
  }
}

// --- signing keys

TEST_P(OAuthStoreConformance, SigningKeysRotateCurrentPreviousRetired) {
  auto keys = store_->ActiveSigningKeys();
  ASSERT_TRUE(Ok(keys));
  EXPECT_TRUE(keys->empty());
  EXPECT_TRUE(FailsWith(store_->RotateSigningKey("k1", "PEM 1", 10, "k0"), ErrorCode::kConflict));
  ASSERT_TRUE(Ok(store_->RotateSigningKey("k1", "PEM 1", 10, "")));
  EXPECT_EQ(DescribeKeys(), (std::vector<std::string>{Describe(
                                SigningKey{"k1", "PEM 1", 10, SigningKeyState::kCurrent})}));
  ASSERT_TRUE(Ok(store_->RotateSigningKey("k2", "PEM 2", 20, "k1")));
  ASSERT_TRUE(Ok(store_->RotateSigningKey("k3", "PEM 3", 30, "k2")));
  EXPECT_EQ(DescribeKeys(),
            (std::vector<std::string>{
                Describe(SigningKey{"k3", "PEM 3", 30, SigningKeyState::kCurrent}),
                Describe(SigningKey{"k2", "PEM 2", 20, SigningKeyState::kPrevious})}));

  // A stale rotation, a kid used before (even a retired one) and bad input change nothing.
  EXPECT_TRUE(FailsWith(store_->RotateSigningKey("k4", "PEM 4", 40, "k2"), ErrorCode::kConflict));
  EXPECT_TRUE(FailsWith(store_->RotateSigningKey("k1", "PEM 1", 40, "k3"), ErrorCode::kConflict));
  EXPECT_TRUE(FailsWith(store_->RotateSigningKey("k4", "", 40, "k3"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->RotateSigningKey("", "PEM", 40, "k3"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(store_->RotateSigningKey("k4", std::string("PE\0M", 4), 40, "k3"),
                        ErrorCode::kInvalidInput));
  EXPECT_EQ(Field(*store_->ActiveSigningKeys(), &SigningKey::kid),
            (std::vector<std::string>{"k3", "k2"}));
}

TEST_P(OAuthStoreConformance, ConcurrentSigningKeyRotationsRotateOnce) {
  auto replica = Open();
  ASSERT_TRUE(replica);
  OAuthStore* stores[] = {store_.get(), replica.get()};
  std::string current;
  for (int round = 0; round < 3; ++round) {
    const Tally tally = Race(8, [&](int i) {
      const std::string kid = "r" + std::to_string(round) + "-" + std::to_string(i);
      return Outcome(stores[i % 2]->RotateSigningKey(kid, "PEM " + kid, 10 + round, current),
                     ErrorCode::kConflict);
    });
    EXPECT_EQ(tally, (Tally{{"conflict", 7}, {"ok", 1}})) << "round " << round;
    auto keys = store_->ActiveSigningKeys();
    ASSERT_TRUE(Ok(keys));
    ASSERT_EQ(keys->size(), round == 0 ? 1u : 2u);
    if (round > 0) {
      EXPECT_EQ((*keys)[1].kid, current);
    }
    current = (*keys)[0].kid;
  }
}

// --- housekeeping

TEST_P(OAuthStoreConformance, PurgeExpiredForgetsOnlyTheDead) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  const std::int64_t later = kNow + 1000;  // codes and device codes of kNow have expired
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("old unused", "app"))));
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("fresh", "app", "bob", later))));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("old dc", "OLDC-ODEX", "app"))));
  ASSERT_TRUE(Ok(
      store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "NEWC-ODEX", "app", later))));
  ASSERT_TRUE(StartFamily("app", "live", "bob", "live-0"));    // its code: 1 more expired
  ASSERT_TRUE(StartFamily("app", "revoked", "bob", "rev-0"));  // and another
  ASSERT_EQ(Rotate("app", "live-0", "live-1"), RotationVerdict::kRotated);
  ASSERT_EQ(Rotate("app", "rev-0", "rev-1"), RotationVerdict::kRotated);
  ASSERT_TRUE(Ok(store_->RevokeFamily("revoked", kNow + 20)));
  ASSERT_TRUE(Ok(store_->RevokeAccessToken("dead jti", later)));
  ASSERT_TRUE(Ok(store_->RevokeAccessToken("live jti", later + 1)));

  // 3 codes, 1 device authorization, the revoked family's 2 refresh tokens, 1 jti.
  auto purged = store_->PurgeExpired(later);
  ASSERT_TRUE(Ok(purged));
  EXPECT_EQ(*purged, 7);
  EXPECT_EQ(Consume(Digest("old unused"), later), CodeVerdict::kInvalid);
  EXPECT_EQ(Consume(Digest("code of live"), later), CodeVerdict::kInvalid);
  EXPECT_EQ(Consume(Digest("fresh"), later), CodeVerdict::kRedeemed);
  EXPECT_FALSE(store_->FindDeviceAuthorization("OLDCODEX")->has_value());
  EXPECT_TRUE(store_->FindDeviceAuthorization("NEWCODEX")->has_value());
  EXPECT_FALSE(store_->FindRefreshToken(Digest("rev-1"))->has_value());
  EXPECT_TRUE(FamilyRevoked("revoked"));  // kept until it expires
  EXPECT_FALSE(*store_->IsAccessTokenRevoked("dead jti"));
  EXPECT_TRUE(*store_->IsAccessTokenRevoked("live jti"));
  // A live family keeps its rotated tokens, so that their reuse is still caught.
  EXPECT_TRUE(store_->FindRefreshToken(Digest("live-0"))->has_value());
  EXPECT_EQ(Rotate("app", "live-0", "live-x", later), RotationVerdict::kReused);

  // Past the families' expiry, they go with their tokens; unknown means revoked.
  ASSERT_TRUE(StartFamily("app", "young", "bob", "young-0", later));
  purged = store_->PurgeExpired(kNow + kFamilyLifetime);
  ASSERT_TRUE(Ok(purged));
  // 2 codes ("fresh" and young's), 1 device authorization, 3 refresh tokens that expired by
  // themselves, 2 families, 1 jti.
  EXPECT_EQ(*purged, 9);
  EXPECT_FALSE(store_->FindFamily("live")->has_value());
  EXPECT_TRUE(FamilyRevoked("live"));
  EXPECT_FALSE(FamilyRevoked("young"));
  EXPECT_FALSE(store_->FindRefreshToken(Digest("young-0"))->has_value());
}

// --- sharing, schema, replicas

TEST_P(OAuthStoreConformance, SharesOneDatabaseWithTheFleetStore) {
  auto db = database_->Connect();
  ASSERT_TRUE(Ok(db));
  std::shared_ptr<SqlDb> shared = std::move(*db);
  ExpectStoresShare(shared);
  EXPECT_TRUE(store_->FindClient("app")->has_value());

  // Each store versions its own tables: a newer OAuth schema stops only the OAuth store.
  store_.reset();
  ASSERT_TRUE(Ok(database_->Execute("UPDATE schema_version SET version = 99 WHERE id = 2")));
  auto refused = OpenOAuthStore(shared);
  ASSERT_TRUE(FailsWith(refused, ErrorCode::kConflict));
  EXPECT_NE(refused.error().message().find("99"), std::string::npos) << refused.error().message();
  auto reopened = OpenFleetStore(shared);
  ASSERT_TRUE(Ok(reopened));
  EXPECT_TRUE((*reopened)->FindDevice("dev-1")->has_value());
}

TEST_P(OAuthStoreConformance, ConcurrentFirstOpensAllSucceed) {
  auto fresh = GetParam().make_database();
  ASSERT_TRUE(Ok(fresh));
  constexpr int kReplicas = 4;
  std::vector<std::unique_ptr<OAuthStore>> stores(kReplicas);
  std::vector<std::string> errors(kReplicas);
  RunTogether(kReplicas, [&](int i) {
    auto db = (*fresh)->Connect();
    if (!db) {
      errors[i] = db.error().message();
      return;
    }
    // Half open the fleet's tables first, as a director does.
    if (i % 2 == 1) {
      auto fleet = OpenFleetStore(*db);
      if (!fleet) errors[i] = fleet.error().message();
    }
    auto store = OpenOAuthStore(std::move(*db));
    if (store) {
      stores[i] = std::move(*store);
    } else {
      errors[i] = store.error().message();
    }
  });
  for (int i = 0; i < kReplicas; ++i) ASSERT_TRUE(stores[i]) << errors[i];
  ASSERT_TRUE(Ok(stores[0]->CreateClient(MakeClient("app"))));
  for (auto& store : stores) EXPECT_TRUE(store->FindClient("app")->has_value());
}

TEST_P(OAuthStoreConformance, EverythingSurvivesReopening) {
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(StartFamily("app", "fam", "bob", "rt-0"));
  ASSERT_EQ(Rotate("app", "rt-0", "rt-1"), RotationVerdict::kRotated);
  ASSERT_TRUE(Ok(store_->CreateCode(MakeCode("code", "app"))));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "KEEP-CODE", "app"))));
  ASSERT_TRUE(Ok(store_->ApproveDeviceAuthorization("KEEPCODE", "bob", "op", kNow)));
  ASSERT_TRUE(Ok(store_->RevokeAccessToken("jti", kNow + 60)));
  ASSERT_TRUE(Ok(store_->RotateSigningKey("k1", "PEM", kNow, "")));

  Reopen();
  EXPECT_EQ(Describe(**store_->FindClient("app")), Describe(MakeClient("app")));
  EXPECT_EQ(Rotate("app", "rt-0", "rt-x"), RotationVerdict::kReused);
  EXPECT_EQ(Consume(Digest("code"), kNow + 1), CodeVerdict::kRedeemed);
  EXPECT_EQ(Poll("app", "dc", kNow + 1), PollVerdict::kApproved);
  EXPECT_TRUE(*store_->IsAccessTokenRevoked("jti"));
  EXPECT_EQ(Field(*store_->ActiveSigningKeys(), &SigningKey::kid), std::vector<std::string>{"k1"});
}

// --- hostile text

TEST_P(OAuthStoreConformance, HostileTextRoundTripsOrIsRefused) {
  const std::vector<std::string> hostile = {
      "'; DROP TABLE oauth_clients; --",
      "? $1 ?? %s {} \\x00 \\",
      "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93 \xf0\x9f\x8c\xa1",
      std::string(1000, '\''),
  };
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    const std::string& text = hostile[i];
    OAuthClient c = MakeClient(text);
    c.name = text + std::string(100000, 'n');
    c.redirect_uris = {text};
    c.scopes = {text, "plain"};
    c.role = text;
    ASSERT_TRUE(Ok(store_->CreateClient(c))) << i;
    auto found = store_->FindClient(text);
    ASSERT_TRUE(Ok(found));
    ASSERT_TRUE(found->has_value()) << i;
    std::sort(c.scopes.begin(), c.scopes.end());
    EXPECT_TRUE(Describe(**found) == Describe(c)) << i;
    ASSERT_TRUE(StartFamily(text, "fam " + std::to_string(i), text, "rt " + std::to_string(i)));
    EXPECT_EQ(*store_->RevokeFamiliesOfUser(text, kNow), 1) << i;
  }
  EXPECT_EQ(store_->ListClients()->size(), hostile.size());

  const std::vector<std::string> refused = {
      std::string("na\0me", 5), "\xff\xfe", "half \xe2\x9c", "\xc0\xaf", "\xed\xa0\x80",
  };
  ASSERT_TRUE(Ok(store_->CreateClient(MakeClient("app"))));
  ASSERT_TRUE(
      Ok(store_->CreateDeviceAuthorization(MakeDeviceAuthorization("dc", "HOST-ILE", "app"))));
  for (std::size_t i = 0; i < refused.size(); ++i) {
    const std::string& text = refused[i];
    OAuthClient named = MakeClient("x");
    named.name = text;
    EXPECT_TRUE(FailsWith(store_->CreateClient(named), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->CreateClient(MakeClient(text)), ErrorCode::kInvalidInput)) << i;
    OAuthClient uri = MakeClient("app");
    uri.redirect_uris = {"https://ok.example/cb", text};
    EXPECT_TRUE(FailsWith(store_->UpdateClient(uri), ErrorCode::kInvalidInput)) << i;
    OAuthClient scope = MakeClient("app");
    scope.scopes = {"ok", text};
    EXPECT_TRUE(FailsWith(store_->UpdateClient(scope), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->FindClient(text), ErrorCode::kInvalidInput)) << i;
    AuthorizationCode code = MakeCode("code " + std::to_string(i), "app");
    code.user = text;
    EXPECT_TRUE(FailsWith(store_->CreateCode(code), ErrorCode::kInvalidInput)) << i;
    code = MakeCode("code " + std::to_string(i), "app");
    code.redirect_uri = text;
    EXPECT_TRUE(FailsWith(store_->CreateCode(code), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->ApproveDeviceAuthorization("HOSTILE", text, "op", kNow),
                          ErrorCode::kInvalidInput))
        << i;
    EXPECT_TRUE(FailsWith(store_->FindDeviceAuthorization(text), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->RevokeAccessToken(text, kNow), ErrorCode::kInvalidInput)) << i;
    EXPECT_TRUE(FailsWith(store_->RevokeFamiliesOfUser(text, kNow), ErrorCode::kInvalidInput)) << i;
    auto poll = store_->PollDeviceCode(text, Digest("dc"), kNow);
    ASSERT_TRUE(Ok(poll)) << i;
    EXPECT_EQ(poll->verdict, PollVerdict::kInvalid) << i;
    EXPECT_EQ(Consume(text, kNow), CodeVerdict::kInvalid) << i;
  }
  // Nothing of a refused write landed.
  EXPECT_EQ(store_->ListClients()->size(), hostile.size() + 1);
  EXPECT_EQ(Describe(**store_->FindClient("app")), Describe(MakeClient("app")));
  EXPECT_EQ((*store_->FindDeviceAuthorization("HOSTILE"))->state,
            DeviceAuthorizationState::kPending);
  EXPECT_EQ(Consume(Digest("code 0"), kNow), CodeVerdict::kInvalid);
}

}  // namespace fogkeep::director::conformance
