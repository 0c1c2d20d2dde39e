// Access tokens: issuing and validating, and one forged or broken token for every rule of
// ValidateAccessToken (RFC 8725's attacks among them: alg none, algorithm confusion with the
// public key as an HMAC secret, keys named or carried by the token's header).
#include "oauth/access_token.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "crypto/hash.h"
#include "support/support.h"

namespace fogkeep::oauth {
namespace {

using fogkeep::testing::Must;

constexpr std::string_view kIssuer = "https://director.example";
constexpr std::string_view kAudience = "fogkeepd";
constexpr std::int64_t kNow = 1'700'000'000;

// JSON members as name and value text, so tests can write what no JSON library would.
using Members = std::vector<std::pair<std::string, std::string>>;

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string Object(const Members& members) {
  std::string out = "{";
  for (const auto& [name, value] : members) {
    out += (out.size() > 1 ? "," : "") + Quoted(name) + ":" + value;
  }
  return out + "}";
}

// `members` with `name` set to `value` (replaced where it is, or appended).
Members With(Members members, std::string_view name, std::string value) {
  for (auto& member : members) {
    if (member.first == name) {
      member.second = std::move(value);
      return members;
    }
  }
  members.emplace_back(name, std::move(value));
  return members;
}

Members Without(Members members, std::string_view name) {
  std::erase_if(members, [&](const auto& member) { return member.first == name; });
  return members;
}

Members Header() {
  return {{"alg", Quoted("ES256")}, {"typ", Quoted("at+jwt")}, {"kid", Quoted("k1")}};
}

Members Claims() {
  return {{"iss", Quoted(kIssuer)},
          {"sub", Quoted("alice")},
          {"aud", Quoted(kAudience)},
          {"exp", std::to_string(kNow + 300)},
          {"iat", std::to_string(kNow)},
          {"jti", Quoted("jti-1")},
          {"client_id", Quoted("fogkeep-cli")},
          {"scope", Quoted("apps:read apps:write")},
          {"role", Quoted("app-manager")}};
}

std::string SigningInput(std::string_view header, std::string_view claims) {
  return crypto::Base64UrlEncode(header) + "." + crypto::Base64UrlEncode(claims);
}

// A token whose signature is `signature` (raw bytes) over header and claims as given.
std::string WithSignature(std::string_view header, std::string_view claims,
                          std::string_view signature) {
  return SigningInput(header, claims) + "." + crypto::Base64UrlEncode(signature);
}

// A token with header and claims as given, ES256-signed by `key`.
std::string Es256Token(std::string_view header, std::string_view claims,
                       const crypto::PrivateKey& key) {
  const std::string der = Must(key.Sign(SigningInput(header, claims)), "sign");
  return WithSignature(header, claims, Must(crypto::EcdsaP256SignatureToRaw(der), "raw"));
}

class AccessTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    director_key_ = new crypto::PrivateKey(
        Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "director key"));
    attacker_key_ = new crypto::PrivateKey(
        Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "attacker key"));
  }
  static void TearDownTestSuite() {
    delete director_key_;
    delete attacker_key_;
  }

  void SetUp() override { Must(keys_.Add(Must(Jwk::Es256("k1", director_key_->Public())))); }

  static AccessTokenClaims UserClaims() {
    return {.issuer = std::string(kIssuer),
            .subject = "alice",
            .audiences = {std::string(kAudience)},
            .expires_at = kNow + 300,
            .issued_at = kNow,
            .token_id = "jti-1",
            .client_id = "fogkeep-cli",
            .scopes = {"apps:read", "apps:write"},
            .role = "app-manager"};
  }
  static AccessTokenPolicy Policy() {
    return {.issuer = std::string(kIssuer), .audiences = {std::string(kAudience)}, .now = kNow};
  }
  static SigningKey DirectorKey() { return {"k1", *director_key_}; }

  std::string Issue(const AccessTokenClaims& claims) {
    return Must(IssueAccessToken(DirectorKey(), claims), "issue");
  }
  std::string Forge(const Members& header, const Members& claims) {
    return Es256Token(Object(header), Object(claims), *director_key_);
  }
  Result<AccessTokenClaims> Validate(std::string_view token,
                                     const AccessTokenPolicy& policy = Policy()) {
    return ValidateAccessToken(token, keys_, policy);
  }
  void ExpectValid(std::string_view token, const AccessTokenPolicy& policy = Policy()) {
    auto claims = Validate(token, policy);
    EXPECT_TRUE(claims) << claims.error().message();
  }
  void ExpectRefused(std::string_view token, std::string_view message,
                     const AccessTokenPolicy& policy = Policy()) {
    auto claims = Validate(token, policy);
    ASSERT_FALSE(claims) << "accepted " << token;
    EXPECT_EQ(claims.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_EQ(claims.error().message(), message);
  }

  static crypto::PrivateKey* director_key_;
  static crypto::PrivateKey* attacker_key_;
  JwkSet keys_;
};

crypto::PrivateKey* AccessTokenTest::director_key_ = nullptr;
crypto::PrivateKey* AccessTokenTest::attacker_key_ = nullptr;

std::vector<std::string> Segments(std::string_view token) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t dot = token.find('.'); dot != std::string_view::npos;
       dot = token.find('.', start)) {
    out.emplace_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  out.emplace_back(token.substr(start));
  return out;
}

// ---- issuing and the round trip ----

TEST_F(AccessTokenTest, IssuedTokenValidatesToTheSameClaims) {
  const std::string token = Issue(UserClaims());
  const std::vector<std::string> parts = Segments(token);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(Must(crypto::Base64UrlDecode(parts[0])),
            R"({"alg":"ES256","typ":"at+jwt","kid":"k1"})");
  EXPECT_EQ(Must(crypto::Base64UrlDecode(parts[1])),
            R"({"iss":"https://director.example","sub":"alice","aud":"fogkeepd","exp":1700000300,)"
            R"("iat":1700000000,"jti":"jti-1","client_id":"fogkeep-cli",)"
            R"("scope":"apps:read apps:write","role":"app-manager"})");
  EXPECT_EQ(Must(crypto::Base64UrlDecode(parts[2])).size(), 64u);
  auto claims = Validate(token);
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(*claims, UserClaims());
}

TEST_F(AccessTokenTest, SeveralAudiencesNotBeforeAndSessionRoundTrip) {
  AccessTokenClaims claims = UserClaims();
  claims.audiences = {"https://director.example/api", std::string(kAudience)};
  claims.not_before = kNow + 10;
  claims.session_id = "family-7";
  const std::string token = Issue(claims);
  const std::string payload = Must(crypto::Base64UrlDecode(Segments(token)[1]));
  EXPECT_NE(payload.find(R"("aud":["https://director.example/api","fogkeepd"])"),
            std::string::npos);
  EXPECT_NE(payload.find(R"("sid":"family-7")"), std::string::npos);
  AccessTokenPolicy later = Policy();
  later.now = kNow + 10;
  auto validated = Validate(token, later);
  ASSERT_TRUE(validated) << validated.error().message();
  EXPECT_EQ(*validated, claims);
}

TEST_F(AccessTokenTest, ClientActingForItselfHasNoRole) {
  AccessTokenClaims claims = UserClaims();
  claims.subject = claims.client_id;
  claims.role.clear();
  claims.scopes.clear();
  const std::string token = Issue(claims);
  const std::string payload = Must(crypto::Base64UrlDecode(Segments(token)[1]));
  EXPECT_EQ(payload.find("\"role\""), std::string::npos);
  EXPECT_EQ(payload.find("\"scope\""), std::string::npos);
  auto validated = Validate(token);
  ASSERT_TRUE(validated) << validated.error().message();
  EXPECT_EQ(*validated, claims);
}

TEST_F(AccessTokenTest, TokensOfEveryKeyOfTheSetValidate) {
  auto next = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  Must(keys_.Add(Must(Jwk::Es256("k2", next.Public()))));
  ExpectValid(Must(IssueAccessToken({"k2", next}, UserClaims())));
  ExpectValid(Issue(UserClaims()));
}

TEST_F(AccessTokenTest, IssuerRefusesWhatValidationWouldRefuse) {
  auto refused = [&](const AccessTokenClaims& claims, const SigningKey& key = DirectorKey()) {
    auto token = IssueAccessToken(key, claims);
    return !token && token.error().code() == ErrorCode::kInvalidInput;
  };
  AccessTokenClaims c = UserClaims();
  c.expires_at = c.issued_at + kMaxAccessTokenLifetime.count() + 1;
  EXPECT_TRUE(refused(c));
  c.expires_at = c.issued_at + kMaxAccessTokenLifetime.count();
  EXPECT_FALSE(refused(c));
  c = UserClaims();
  c.expires_at = c.issued_at;
  EXPECT_TRUE(refused(c));
  for (std::string AccessTokenClaims::*field :
       {&AccessTokenClaims::issuer, &AccessTokenClaims::subject, &AccessTokenClaims::token_id,
        &AccessTokenClaims::client_id}) {
    c = UserClaims();
    c.*field = "";
    EXPECT_TRUE(refused(c));
  }
  c = UserClaims();
  c.audiences.clear();
  EXPECT_TRUE(refused(c));
  c.audiences = {"fogkeepd", ""};
  EXPECT_TRUE(refused(c));
  c = UserClaims();
  c.scopes = {"apps read"};
  EXPECT_TRUE(refused(c));
  c.scopes = {"apps\"read"};
  EXPECT_TRUE(refused(c));
  c = UserClaims();
  c.role.clear();  // a user's token without a role
  EXPECT_TRUE(refused(c));
  c = UserClaims();
  c.not_before = c.issued_at - 1;
  EXPECT_TRUE(refused(c));
  c.not_before = c.expires_at;
  EXPECT_TRUE(refused(c));
  c = UserClaims();
  c.issued_at = -5;
  c.expires_at = 5;
  EXPECT_TRUE(refused(c));

  EXPECT_TRUE(refused(UserClaims(), {"", *director_key_}));
  EXPECT_TRUE(refused(UserClaims(), {"k 1", *director_key_}));
  auto ed25519 = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEd25519));
  EXPECT_TRUE(refused(UserClaims(), {"k1", ed25519}));
}

TEST_F(AccessTokenTest, PolicyWithoutIssuerOrAudienceAcceptsNothing) {
  const std::string token = Issue(UserClaims());
  AccessTokenPolicy policy = Policy();
  policy.issuer.clear();
  auto r = Validate(token, policy);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
  policy = Policy();
  policy.audiences.clear();
  r = Validate(token, policy);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
}

// ---- the shape of the token ----

TEST_F(AccessTokenTest, RefusesAnythingButThreeSegments) {
  const std::string token = Issue(UserClaims());
  const std::vector<std::string> parts = Segments(token);
  ExpectRefused(token + "." + parts[2], "token is not three dot-separated segments");
  ExpectRefused(parts[0] + "." + parts[1], "token is not three dot-separated segments");
  ExpectRefused(parts[0], "token is not three dot-separated segments");
  ExpectRefused("", "token is not three dot-separated segments");
  ExpectRefused("..", "token header: invalid JSON: incomplete JSON");
}

TEST_F(AccessTokenTest, RefusesPaddingAndOtherAlphabets) {
  const std::vector<std::string> parts = Segments(Issue(UserClaims()));
  ASSERT_EQ(parts[2].size(), 86u);  // 64 bytes: 85 and a third characters
  ExpectRefused(parts[0] + "=." + parts[1] + "." + parts[2], "token header is not base64url");
  ExpectRefused(parts[0] + "." + parts[1] + "." + parts[2] + "==",
                "token signature is not base64url");
  std::string standard = parts[0] + "." + parts[1] + "." + parts[2];
  std::string with_plus = parts[2];
  with_plus[0] = '+';
  ExpectRefused(parts[0] + "." + parts[1] + "." + with_plus, "token signature is not base64url");
  ExpectRefused(" " + standard, "token header is not base64url");
}

TEST_F(AccessTokenTest, RefusesOversizedTokensBeforeParsing) {
  const std::string token =
      Forge(Header(), With(Claims(), "padding", Quoted(std::string(9000, 'x'))));
  ASSERT_GT(token.size(), kMaxAccessTokenBytes);
  ExpectRefused(token, "token too large");
  AccessTokenPolicy generous = Policy();
  generous.max_token_bytes = 16 * 1024;
  ExpectValid(token, generous);
}

TEST_F(AccessTokenTest, RefusesHeadersThatAreNotObjects) {
  for (const char* header : {R"(["ES256"])", R"("ES256")", "null", "42"}) {
    ExpectRefused(Es256Token(header, Object(Claims()), *director_key_),
                  "token header: not a JSON object");
  }
  ExpectRefused(Es256Token("{\"alg\":\"ES256\"", Object(Claims()), *director_key_),
                "token header: invalid JSON: incomplete JSON");
}

// ---- the header: typ, crit, kid and alg ----

TEST_F(AccessTokenTest, TypeMustBeAtJwt) {
  ExpectRefused(Forge(Without(Header(), "typ"), Claims()), "token header has no typ");
  ExpectRefused(Forge(With(Header(), "typ", Quoted("JWT")), Claims()), "token type is not at+jwt");
  ExpectRefused(Forge(With(Header(), "typ", Quoted("at+jwt ")), Claims()),
                "token type is not at+jwt");
  ExpectRefused(Forge(With(Header(), "typ", "1"), Claims()), "token header typ must be a string");
  // RFC 9068 section 4, and media types compare ignoring case (RFC 7515 section 4.1.9).
  ExpectValid(Forge(With(Header(), "typ", Quoted("AT+JWT")), Claims()));
  ExpectValid(Forge(With(Header(), "typ", Quoted("application/at+jwt")), Claims()));
  ExpectValid(Forge(With(Header(), "typ", Quoted("Application/AT+JWT")), Claims()));
}

TEST_F(AccessTokenTest, RefusesCriticalExtensions) {
  ExpectRefused(Forge(With(With(Header(), "crit", R"(["exp"])"), "exp", "1"), Claims()),
                "token header has crit: no extension is supported");
  ExpectRefused(Forge(With(Header(), "crit", "[]"), Claims()),
                "token header has crit: no extension is supported");
}

TEST_F(AccessTokenTest, AlgNoneIsRefused) {
  // RFC 8725 section 2.1: an unsigned token, with and without a kid.
  const Members none = With(Header(), "alg", Quoted("none"));
  ExpectRefused(WithSignature(Object(none), Object(Claims()), ""),
                "algorithm not allowed for this key");
  ExpectRefused(WithSignature(Object(Without(none, "kid")), Object(Claims()), ""),
                "token header has no kid");
  ExpectRefused(WithSignature(Object(With(none, "alg", Quoted("None"))), Object(Claims()), ""),
                "algorithm not allowed for this key");
}

TEST_F(AccessTokenTest, Hs256WithThePublicKeyAsSecretIsRefused) {
  // RFC 8725 section 2.1: a verifier that lets the header pick the algorithm would use the
  // public key (which anyone has) as the HMAC secret.
  const std::string header = Object(With(Header(), "alg", Quoted("HS256")));
  const std::string claims = Object(Claims());
  const std::string pem = Must(director_key_->Public().ToPem());
  const std::string jwk = keys_.Find("k1")->ToJson();
  for (const std::string& secret : {pem, jwk, keys_.ToJson()}) {
    const std::string mac = crypto::HmacSha256(secret, SigningInput(header, claims));
    ExpectRefused(WithSignature(header, claims, mac), "algorithm not allowed for this key");
  }
}

TEST_F(AccessTokenTest, OtherAlgorithmsThanTheKeysAreRefused) {
  auto rsa = Must(crypto::PrivateKey::Generate(crypto::KeyType::kRsa));
  const std::string rs256 = Object(With(Header(), "alg", Quoted("RS256")));
  const std::string claims = Object(Claims());
  // PKCS#1 v1.5 with SHA-256 is RS256.
  ExpectRefused(WithSignature(rs256, claims, Must(rsa.Sign(SigningInput(rs256, claims)))),
                "algorithm not allowed for this key");
  for (const char* alg : {"ES384", "ES512", "es256", "PS256", "EdDSA", ""}) {
    ExpectRefused(Forge(With(Header(), "alg", Quoted(alg)), Claims()),
                  "algorithm not allowed for this key");
  }
  ExpectRefused(Forge(Without(Header(), "alg"), Claims()), "token header has no alg");
  ExpectRefused(Forge(With(Header(), "alg", R"(["ES256"])"), Claims()),
                "token header alg must be a string");
}

TEST_F(AccessTokenTest, KeyIdMustNameAKeyOfTheSet) {
  ExpectRefused(Forge(Without(Header(), "kid"), Claims()), "token header has no kid");
  ExpectRefused(Forge(With(Header(), "kid", Quoted("k9")), Claims()), "unknown key id");
  ExpectRefused(Forge(With(Header(), "kid", Quoted("K1")), Claims()), "unknown key id");
  ExpectRefused(Forge(With(Header(), "kid", Quoted("")), Claims()), "unknown key id");
  ExpectRefused(Forge(With(Header(), "kid", "1"), Claims()), "token header kid must be a string");
}

TEST_F(AccessTokenTest, KeysNamedOrCarriedByTheHeaderAreIgnored) {
  // RFC 8725 section 3.10: jku and x5u are never fetched; jwk and x5c never trusted.
  const std::string attacker_jwk = Must(Jwk::Es256("k1", attacker_key_->Public())).ToJson();
  Members pointing_elsewhere = With(Header(), "jku", Quoted("https://attacker.example/jwks"));
  pointing_elsewhere = With(pointing_elsewhere, "x5u", Quoted("https://attacker.example/cert"));
  pointing_elsewhere = With(pointing_elsewhere, "x5c", R"(["MIIBattacker"])");
  pointing_elsewhere = With(pointing_elsewhere, "jwk", attacker_jwk);
  // Signed by the director's key: valid, whatever the header points at.
  ExpectValid(Forge(pointing_elsewhere, Claims()));
  // Signed by the attacker's key that the header carries: refused, with the set's kid or not.
  const std::string claims = Object(Claims());
  ExpectRefused(Es256Token(Object(pointing_elsewhere), claims, *attacker_key_),
                "token signature does not verify");
  const Members own_kid = With(pointing_elsewhere, "kid", Quoted("attacker"));
  ExpectRefused(Es256Token(Object(own_kid), claims, *attacker_key_), "unknown key id");
}

TEST_F(AccessTokenTest, AnotherIssuersKeyWithTheSameKidIsRefused) {
  // Another authorization server names its key "k1" too.
  auto other = Must(IssueAccessToken({"k1", *attacker_key_}, UserClaims()));
  ExpectRefused(other, "token signature does not verify");
}

TEST_F(AccessTokenTest, DuplicateMemberNamesAreRefused) {
  // Boost.JSON alone would keep the last one: alg none would win here.
  const std::string header = R"({"alg":"ES256","typ":"at+jwt","kid":"k1","alg":"none"})";
  ExpectRefused(Es256Token(header, Object(Claims()), *director_key_),
                "token header: a member name appears twice");
  Members twice = Claims();
  twice.emplace_back("sub", Quoted("admin"));
  ExpectRefused(Forge(Header(), twice), "token claims: a member name appears twice");
  twice = Claims();
  twice.emplace_back("aud", Quoted("director"));
  ExpectRefused(Forge(Header(), twice), "token claims: a member name appears twice");
  // Also in nested objects, and across the escapes of one name.
  ExpectRefused(Forge(Header(), With(Claims(), "cnf", R"({"a":1,"a":2})")),
                "token claims: a member name appears twice");
  ExpectRefused(Forge(Header(), With(Claims(), "s\\u0075b", Quoted("admin"))),
                "token claims: a member name appears twice");
  // The same name in different objects is fine.
  ExpectValid(Forge(Header(), With(Claims(), "cnf", R"({"sub":1})")));
}

// ---- the signature ----

TEST_F(AccessTokenTest, DerSignatureIsRefused) {
  const std::string header = Object(Header());
  const std::string claims = Object(Claims());
  const std::string der = Must(director_key_->Sign(SigningInput(header, claims)));
  ASSERT_NE(der.size(), 64u);
  ExpectRefused(WithSignature(header, claims, der),
                "token signature is not 64 bytes (ES256 is raw r || s)");
}

TEST_F(AccessTokenTest, AlteredBytesAreRefused) {
  const std::string token = Issue(UserClaims());
  const std::vector<std::string> parts = Segments(token);
  // A claim changed by someone without the key.
  std::string payload = Must(crypto::Base64UrlDecode(parts[1]));
  const std::size_t alice = payload.find("alice");
  ASSERT_NE(alice, std::string::npos);
  payload.replace(alice, 5, "admin");
  ExpectRefused(parts[0] + "." + crypto::Base64UrlEncode(payload) + "." + parts[2],
                "token signature does not verify");
  // Any one character of the payload or signature, replaced by another base64url character.
  for (std::size_t segment : {1u, 2u}) {
    for (std::size_t i = 0; i + 1 < parts[segment].size(); i += 7) {
      std::vector<std::string> altered = parts;
      altered[segment][i] = altered[segment][i] == 'A' ? 'B' : 'A';
      ExpectRefused(altered[0] + "." + altered[1] + "." + altered[2],
                    "token signature does not verify");
    }
  }
  // The signature of the header with other claims.
  const std::string other = Issue([] {
    AccessTokenClaims c = UserClaims();
    c.token_id = "jti-2";
    return c;
  }());
  ExpectRefused(parts[0] + "." + parts[1] + "." + Segments(other)[2],
                "token signature does not verify");
}

// ---- the claims ----

TEST_F(AccessTokenTest, IssuerAndAudienceMustBeAccepted) {
  AccessTokenClaims c = UserClaims();
  c.issuer = "https://director.example/";  // compared exactly
  ExpectRefused(Issue(c), "token issuer not accepted");
  c = UserClaims();
  c.audiences = {"director"};
  ExpectRefused(Issue(c), "token audience not accepted");
  c.audiences = {"director", "FOGKEEPD"};
  ExpectRefused(Issue(c), "token audience not accepted");
  c.audiences = {"director", std::string(kAudience)};
  ExpectValid(Issue(c));
  AccessTokenPolicy either = Policy();
  either.audiences = {"director", "other"};
  ExpectValid(Issue(c), either);
  // The authorization server itself accepts its tokens for any audience, not of any issuer.
  AccessTokenPolicy any = Policy();
  any.audiences.clear();
  any.any_audience = true;
  c.audiences = {"somewhere-else"};
  ExpectValid(Issue(c), any);
  c.issuer = "https://other.example";
  ExpectRefused(Issue(c), "token issuer not accepted", any);
  ExpectRefused(Forge(Header(), With(Claims(), "aud", "[]")),
                "token claims: aud must be one or more non-empty strings");
  ExpectRefused(Forge(Header(), With(Claims(), "aud", R"(["fogkeepd",""])")),
                "token claims: aud must be one or more non-empty strings");
  ExpectRefused(Forge(Header(), With(Claims(), "aud", R"(["fogkeepd",1])")),
                "token claim aud must hold only strings");
  ExpectRefused(Forge(Header(), With(Claims(), "aud", "7")),
                "token claim aud must be a string or an array of strings");
  ExpectRefused(Forge(Header(), Without(Claims(), "aud")), "token claim aud is missing");
  ExpectRefused(Forge(Header(), With(Claims(), "iss", "null")), "token claim iss must be a string");
}

TEST_F(AccessTokenTest, ExpiryWithSkew) {
  AccessTokenClaims c = UserClaims();
  c.issued_at = kNow - 400;
  c.expires_at = kNow - 61;
  ExpectRefused(Issue(c), "token expired");
  c.expires_at = kNow - 60;
  ExpectRefused(Issue(c), "token expired");
  c.expires_at = kNow - 59;  // within the allowed skew
  ExpectValid(Issue(c));
  AccessTokenPolicy strict = Policy();
  strict.skew = std::chrono::seconds(0);
  ExpectRefused(Issue(c), "token expired", strict);
  ExpectRefused(Forge(Header(), Without(Claims(), "exp")), "token claim exp is missing");
}

TEST_F(AccessTokenTest, NotBeforeAndIssuedAtInTheFuture) {
  AccessTokenClaims c = UserClaims();
  c.not_before = kNow + 61;
  ExpectRefused(Issue(c), "token not yet valid");
  c.not_before = kNow + 60;
  ExpectValid(Issue(c));
  c = UserClaims();
  c.issued_at = kNow + 61;
  c.expires_at = kNow + 300;
  ExpectRefused(Issue(c), "token issued in the future");
  c.issued_at = kNow + 60;
  ExpectValid(Issue(c));
  ExpectRefused(Forge(Header(), Without(Claims(), "iat")), "token claim iat is missing");
}

TEST_F(AccessTokenTest, LifetimeIsCapped) {
  ExpectRefused(Forge(Header(), With(Claims(), "exp", std::to_string(kNow + 601))),
                "token claims: the lifetime exp - iat exceeds 600 seconds");
  ExpectRefused(Forge(Header(), With(Claims(), "exp", std::to_string(kNow))),
                "token claims: exp is not after iat");
  AccessTokenPolicy longer = Policy();
  longer.max_lifetime = std::chrono::hours(1);
  ExpectValid(Forge(Header(), With(Claims(), "exp", std::to_string(kNow + 601))), longer);
}

TEST_F(AccessTokenTest, TimesAreNonNegativeIntegers) {
  for (const char* bad : {"\"1700000300\"", "1700000300.0", "1.7000003e9", "-1", "true", "null",
                          "18446744073709551615"}) {
    ExpectRefused(Forge(Header(), With(Claims(), "exp", bad)),
                  "token claim exp must be a non-negative integer");
  }
  ExpectRefused(Forge(Header(), With(Claims(), "nbf", "\"soon\"")),
                "token claim nbf must be a non-negative integer");
  // exp far in the future and iat at zero: the lifetime is computed without overflow.
  ExpectRefused(Forge(Header(), With(With(Claims(), "exp", "9223372036854775807"), "iat", "0")),
                "token claims: the lifetime exp - iat exceeds 600 seconds");
}

TEST_F(AccessTokenTest, IdentifiersAreRequiredStrings) {
  for (const char* claim : {"jti", "sub", "client_id"}) {
    const std::string message = "token claim " + std::string(claim) + " must be a non-empty string";
    ExpectRefused(Forge(Header(), Without(Claims(), claim)), message);
    ExpectRefused(Forge(Header(), With(Claims(), claim, Quoted(""))), message);
    ExpectRefused(Forge(Header(), With(Claims(), claim, "5")),
                  "token claim " + std::string(claim) + " must be a string");
  }
}

TEST_F(AccessTokenTest, ScopeIsScopeTokensJoinedBySingleSpaces) {
  for (const char* bad : {"", " apps:read", "apps:read ", "apps:read  apps:write",
                          "apps:read\\tapps:write", "apps\\\"read", "apps\\\\read", "caf\\u00e9"}) {
    ExpectRefused(Forge(Header(), With(Claims(), "scope", Quoted(bad))),
                  "token claim scope must be scope-tokens joined by single spaces");
  }
  ExpectRefused(Forge(Header(), With(Claims(), "scope", R"(["apps:read"])")),
                "token claim scope must be a string");
  auto claims = Validate(Forge(Header(), With(Claims(), "scope", Quoted("a !#[]~ b"))));
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->scopes, (std::vector<std::string>{"a", "!#[]~", "b"}));
  claims = Validate(Forge(Header(), Without(Claims(), "scope")));
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_TRUE(claims->scopes.empty());
}

TEST_F(AccessTokenTest, WithoutRoleTheSubjectIsTheClient) {
  ExpectRefused(Forge(Header(), Without(Claims(), "role")),
                "token claims: without a role the token is its client's own: sub must equal "
                "client_id");
  ExpectRefused(Forge(Header(), With(Claims(), "role", Quoted(""))),
                "token claim role must not be empty");
  ExpectRefused(Forge(Header(), With(Claims(), "role", "[]")), "token claim role must be a string");
  ExpectValid(Forge(Header(), With(Without(Claims(), "role"), "sub", Quoted("fogkeep-cli"))));
}

TEST_F(AccessTokenTest, SessionIdIsOptionalButNeverEmpty) {
  ExpectRefused(Forge(Header(), With(Claims(), "sid", Quoted(""))),
                "token claim sid must not be empty");
  ExpectRefused(Forge(Header(), With(Claims(), "sid", "3")), "token claim sid must be a string");
  auto claims = Validate(Forge(Header(), With(Claims(), "sid", Quoted("family-1"))));
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->session_id, "family-1");
}

TEST_F(AccessTokenTest, ClaimsMustBeAnObject) {
  ExpectRefused(Es256Token(Object(Header()), "[1]", *director_key_),
                "token claims: not a JSON object");
  ExpectRefused(Es256Token(Object(Header()), "", *director_key_),
                "token claims: invalid JSON: incomplete JSON");
  ExpectRefused(Es256Token(Object(Header()), "{\"sub\":\"\xff\"}", *director_key_),
                "token claims: invalid JSON: syntax error");
}

TEST(NewTokenIdTest, RandomAndUrlSafe) {
  const std::string a = NewTokenId();
  const std::string b = NewTokenId();
  EXPECT_EQ(a.size(), 22u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(crypto::Base64UrlDecode(a));
}

}  // namespace
}  // namespace fogkeep::oauth
