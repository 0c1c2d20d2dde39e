#include "crypto/keys.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"
#include "crypto_test_util.h"
#include "support/support.h"

namespace fogkeep::crypto {
namespace {

using test::CachedKey;
using test::Quote;
using test::ReadFile;
using test::RunCommand;
using test::WriteFile;

constexpr KeyType kAllTypes[] = {KeyType::kRsa, KeyType::kEcdsaP256, KeyType::kEd25519};

std::string TypeParamName(const ::testing::TestParamInfo<KeyType>& info) {
  switch (info.param) {
    case KeyType::kRsa:
      return "Rsa";
    case KeyType::kEcdsaP256:
      return "EcdsaP256";
    case KeyType::kEd25519:
      return "Ed25519";
  }
  return "Unknown";
}

std::string FlipBit(std::string s, std::size_t byte) {
  s[byte % s.size()] ^= 0x01;
  return s;
}

TEST(KeyTypeTest, NamesRoundTrip) {
  for (KeyType type : kAllTypes) EXPECT_EQ(*ParseKeyType(KeyTypeName(type)), type);
  EXPECT_EQ(KeyTypeName(KeyType::kEcdsaP256), "ecdsa-p256");
  auto unknown = ParseKeyType("dsa");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(ParseKeyType("RSA"));
}

class KeysTest : public ::testing::TestWithParam<KeyType> {};

INSTANTIATE_TEST_SUITE_P(AllTypes, KeysTest, ::testing::ValuesIn(kAllTypes), TypeParamName);

TEST_P(KeysTest, GenerateHasTypeAndSize) {
  const PrivateKey& key = CachedKey(GetParam());
  EXPECT_EQ(key.type(), GetParam());
  EXPECT_EQ(key.Public().type(), GetParam());
  switch (GetParam()) {
    case KeyType::kRsa:
      EXPECT_EQ(key.Public().bits(), 3072);
      break;
    case KeyType::kEcdsaP256:
      EXPECT_EQ(key.Public().bits(), 256);
      break;
    case KeyType::kEd25519:
      EXPECT_GE(key.Public().bits(), 253);
      break;
  }
  // Two generations give two keys.
  if (GetParam() != KeyType::kRsa) {
    auto other = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(other);
    EXPECT_NE(other->Public().Fingerprint(), key.Public().Fingerprint());
  }
}

TEST_P(KeysTest, PemRoundTrip) {
  const PrivateKey& key = CachedKey(GetParam());
  auto pem = key.ToPem();
  ASSERT_TRUE(pem) << pem.error().message();
  EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----\n")) << *pem;  // PKCS#8
  auto loaded = PrivateKey::FromPem(*pem);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->type(), GetParam());
  EXPECT_EQ(*loaded->ToPem(), *pem);
  EXPECT_EQ(loaded->Public().Fingerprint(), key.Public().Fingerprint());

  auto pub_pem = key.Public().ToPem();
  ASSERT_TRUE(pub_pem);
  EXPECT_TRUE(pub_pem->starts_with("-----BEGIN PUBLIC KEY-----\n"));
  EXPECT_EQ(pub_pem->find("PRIVATE"), std::string::npos);
  auto pub = PublicKey::FromPem(*pub_pem);
  ASSERT_TRUE(pub) << pub.error().message();
  EXPECT_EQ(pub->type(), GetParam());
  EXPECT_EQ(pub->Fingerprint(), key.Public().Fingerprint());
  EXPECT_EQ(pub->Fingerprint().size(), 64u);

  // Signatures made by the reloaded key verify under the original public key and vice versa.
  auto sig = loaded->Sign("message");
  ASSERT_TRUE(sig);
  EXPECT_TRUE(key.Public().Verify("message", *sig));
  EXPECT_TRUE(pub->Verify("message", *key.Sign("message")));
}

TEST_P(KeysTest, SaveWritesMode0600AndLoadReadsBack) {
  testing::TempDir dir;
  const PrivateKey& key = CachedKey(GetParam());
  std::string path = dir / "signer.key";
  ASSERT_TRUE(key.Save(path));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = PrivateKey::Load(path);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->type(), GetParam());
  EXPECT_EQ(loaded->Public().Fingerprint(), key.Public().Fingerprint());
  // Overwriting keeps the mode.
  ASSERT_TRUE(key.Save(path));
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_P(KeysTest, SignAndVerify) {
  const PrivateKey& key = CachedKey(GetParam());
  PublicKey pub = key.Public();
  const std::string message = "SHA256(package.yaml)= 0123\n";
  auto sig = key.Sign(message);
  ASSERT_TRUE(sig) << sig.error().message();
  EXPECT_TRUE(pub.Verify(message, *sig));

  switch (GetParam()) {
    case KeyType::kRsa:
      EXPECT_EQ(sig->size(), 384u);
      break;
    case KeyType::kEcdsaP256:
      EXPECT_EQ(static_cast<unsigned char>((*sig)[0]), 0x30);  // DER SEQUENCE
      break;
    case KeyType::kEd25519:
      EXPECT_EQ(sig->size(), 64u);
      EXPECT_EQ(*key.Sign(message), *sig);  // deterministic
      break;
  }

  for (const std::string& bad_message : {FlipBit(message, 3), message + "x", std::string()}) {
    auto r = pub.Verify(bad_message, *sig);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  }
  for (const std::string& bad_sig :
       {FlipBit(*sig, 0), FlipBit(*sig, sig->size() / 2), FlipBit(*sig, sig->size() - 1),
        sig->substr(0, sig->size() - 1), *sig + "x", std::string()}) {
    auto r = pub.Verify(message, bad_sig);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  }
  // Another key of the same type does not verify it.
  auto r = CachedKey(GetParam(), 1).Public().Verify(message, *sig);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message().find("does not verify"), std::string::npos) << r.error().message();
}

TEST_P(KeysTest, SignsEmptyAndLargeMessages) {
  const PrivateKey& key = CachedKey(GetParam());
  std::string large(3 << 20, 'z');
  for (const std::string& message : {std::string(), large}) {
    auto sig = key.Sign(message);
    ASSERT_TRUE(sig);
    EXPECT_TRUE(key.Public().Verify(message, *sig));
  }
}

TEST_P(KeysTest, VerifyUsesTheSchemeOfTheKeyItself) {
  const PrivateKey& key = CachedKey(GetParam());
  auto sig = key.Sign("m");
  ASSERT_TRUE(sig);
  // A PublicKey whose label disagrees with the key object is refused, whatever the label.
  auto pub = std::make_shared<PublicKey>(key.Public());
  KeyType wrong = GetParam() == KeyType::kEd25519 ? KeyType::kRsa : KeyType::kEd25519;
  PublicKey mislabeled(std::shared_ptr<evp_pkey_st>(pub, pub->native()), wrong);
  auto r = mislabeled.Verify("m", *sig);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  // A signature of another key type never verifies.
  for (KeyType other : kAllTypes) {
    if (other == GetParam()) continue;
    auto other_sig = CachedKey(other).Sign("m");
    ASSERT_TRUE(other_sig);
    EXPECT_FALSE(key.Public().Verify("m", *other_sig));
  }
}

// ---- Interoperability with the openssl command line ----

class OpensslCliTest : public ::testing::TestWithParam<KeyType> {
 protected:
  void SetUp() override {
    if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  }

  // The openssl command verifying `sig_path` over `msg_path` with `pub_path`.
  static std::string VerifyCommand(KeyType type, const std::string& pub_path,
                                   const std::string& msg_path, const std::string& sig_path) {
    if (type == KeyType::kEd25519) {
      return "openssl pkeyutl -verify -pubin -inkey " + Quote(pub_path) + " -rawin -in " +
             Quote(msg_path) + " -sigfile " + Quote(sig_path);
    }
    return "openssl dgst -sha256 -verify " + Quote(pub_path) + " -signature " + Quote(sig_path) +
           " " + Quote(msg_path);
  }

  static std::string SignCommand(KeyType type, const std::string& key_path,
                                 const std::string& msg_path, const std::string& sig_path) {
    if (type == KeyType::kEd25519) {
      return "openssl pkeyutl -sign -inkey " + Quote(key_path) + " -rawin -in " + Quote(msg_path) +
             " -out " + Quote(sig_path);
    }
    return "openssl dgst -sha256 -sign " + Quote(key_path) + " -out " + Quote(sig_path) + " " +
           Quote(msg_path);
  }

  testing::TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(AllTypes, OpensslCliTest, ::testing::ValuesIn(kAllTypes), TypeParamName);

TEST_P(OpensslCliTest, OurSignatureVerifiesWithOpenssl) {
  const PrivateKey& key = CachedKey(GetParam());
  const std::string message = "SHA256(artifacts.tar.gz)= " + Sha256Hex("x") + "\n";
  std::string pub = dir_ / "pub.pem", msg = dir_ / "msg", sig = dir_ / "sig";
  WriteFile(pub, *key.Public().ToPem());
  WriteFile(msg, message);
  WriteFile(sig, *key.Sign(message));

  auto ok = RunCommand(VerifyCommand(GetParam(), pub, msg, sig));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("Verified"), std::string::npos) << ok.output;

  // The CLI really checks: a changed message fails.
  WriteFile(msg, message + " ");
  auto bad = RunCommand(VerifyCommand(GetParam(), pub, msg, sig));
  EXPECT_NE(bad.exit_code, 0) << bad.output;
}

TEST_P(OpensslCliTest, OpensslSignatureVerifiesWithUs) {
  const PrivateKey& key = CachedKey(GetParam());
  const std::string message = "package.mf bytes\n";
  std::string key_path = dir_ / "key.pem", msg = dir_ / "msg", sig = dir_ / "sig";
  ASSERT_TRUE(key.Save(key_path));
  WriteFile(msg, message);
  auto signed_ = RunCommand(SignCommand(GetParam(), key_path, msg, sig));
  ASSERT_EQ(signed_.exit_code, 0) << signed_.output;

  std::string signature = ReadFile(sig);
  auto r = key.Public().Verify(message, signature);
  EXPECT_TRUE(r) << r.error().message();
  EXPECT_FALSE(key.Public().Verify(message + " ", signature));
  EXPECT_FALSE(key.Public().Verify(message, FlipBit(signature, 10)));
}

TEST_P(OpensslCliTest, KeysGeneratedByOpensslLoadInEveryPemForm) {
  // PKCS#8 from genpkey, and the traditional "RSA PRIVATE KEY" / "EC PRIVATE KEY" forms.
  std::vector<std::string> commands;
  std::string key_path = dir_ / "cli.key";
  switch (GetParam()) {
    case KeyType::kRsa:
      commands = {
          "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + Quote(key_path),
          "openssl genrsa -traditional -out " + Quote(key_path) + " 2048"};
      break;
    case KeyType::kEcdsaP256:
      commands = {
          "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + Quote(key_path),
          "openssl ecparam -name prime256v1 -genkey -noout -out " + Quote(key_path)};
      break;
    case KeyType::kEd25519:
      commands = {"openssl genpkey -algorithm ed25519 -out " + Quote(key_path)};
      break;
  }
  for (const std::string& command : commands) {
    SCOPED_TRACE(command);
    auto generated = RunCommand(command);
    ASSERT_EQ(generated.exit_code, 0) << generated.output;
    auto key = PrivateKey::Load(key_path);
    ASSERT_TRUE(key) << key.error().message();
    EXPECT_EQ(key->type(), GetParam());

    // Sign with the loaded key, verify with the public key the CLI derives.
    std::string pub = dir_ / "cli.pub", msg = dir_ / "msg", sig = dir_ / "sig";
    auto derived =
        RunCommand("openssl pkey -in " + Quote(key_path) + " -pubout -out " + Quote(pub));
    ASSERT_EQ(derived.exit_code, 0) << derived.output;
    WriteFile(msg, "interop");
    WriteFile(sig, *key->Sign("interop"));
    auto verified = RunCommand(VerifyCommand(GetParam(), pub, msg, sig));
    EXPECT_EQ(verified.exit_code, 0) << verified.output;
    auto pub_key = PublicKey::FromPem(ReadFile(pub));
    ASSERT_TRUE(pub_key);
    EXPECT_EQ(pub_key->Fingerprint(), key->Public().Fingerprint());
  }
}

class UnsupportedKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  }
  // Runs "openssl <command> -out k.pem <trailing>" and returns the PEM written.
  std::string Generate(const std::string& command, const std::string& trailing = "") {
    std::string path = dir_ / "k.pem";
    auto r = RunCommand("openssl " + command + " -out " + Quote(path) + " " + trailing);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadFile(path);
  }
  testing::TempDir dir_;
};

TEST_F(UnsupportedKeysTest, OtherTypesAndCurvesAreRefused) {
  struct Case {
    const char* args;
    const char* mentions;
  };
  const Case kCases[] = {
      {"genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384", "secp384r1"},
      {"genpkey -algorithm ed448", "ED448"},
      {"genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048", "RSA-PSS"},
      {"genpkey -algorithm x25519", "X25519"},
  };
  for (const Case& c : kCases) {
    std::string pem = Generate(c.args);
    auto key = PrivateKey::FromPem(pem);
    ASSERT_FALSE(key) << c.args;
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidInput);
    EXPECT_NE(key.error().message().find(c.mentions), std::string::npos) << key.error().message();

    std::string pub_path = dir_ / "k.pub";
    ASSERT_EQ(
        RunCommand("openssl pkey -in " + Quote(dir_ / "k.pem") + " -pubout -out " + Quote(pub_path))
            .exit_code,
        0);
    auto pub = PublicKey::FromPem(ReadFile(pub_path));
    ASSERT_FALSE(pub) << c.args;
    EXPECT_EQ(pub.error().code(), ErrorCode::kInvalidInput);
  }
}

TEST_F(UnsupportedKeysTest, SmallRsaKeysNeitherSignNorVerify) {
  std::string pem = Generate("genrsa", "1024");
  auto key = PrivateKey::FromPem(pem);
  ASSERT_TRUE(key) << key.error().message();
  auto sig = key->Sign("m");
  ASSERT_FALSE(sig);
  EXPECT_EQ(sig.error().code(), ErrorCode::kInvalidInput);

  // A signature the CLI made with the weak key is refused even though it is mathematically
  // valid.
  std::string msg = dir_ / "msg", sig_path = dir_ / "sig";
  WriteFile(msg, "m");
  ASSERT_EQ(RunCommand("openssl dgst -sha256 -sign " + Quote(dir_ / "k.pem") + " -out " +
                       Quote(sig_path) + " " + Quote(msg))
                .exit_code,
            0);
  auto r = key->Public().Verify("m", ReadFile(sig_path));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message().find("too small"), std::string::npos) << r.error().message();
}

TEST_F(UnsupportedKeysTest, EncryptedKeysAreRefusedWithoutPrompting) {
  for (auto [command, trailing] :
       {std::pair{"genpkey -algorithm ed25519 -aes-128-cbc -pass pass:secret", ""},
        std::pair{"genrsa -traditional -aes128 -passout pass:secret", "2048"}}) {
    std::string pem = Generate(command, trailing);
    auto key = PrivateKey::FromPem(pem);
    ASSERT_FALSE(key) << command;
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidInput);
    EXPECT_NE(key.error().message().find("encrypted"), std::string::npos) << key.error().message();
  }
}

TEST(KeysPemTest, MalformedInputIsInvalid) {
  for (const char* bad :
       {"", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}) {
    auto key = PrivateKey::FromPem(bad);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidInput);
    auto pub = PublicKey::FromPem(bad);
    ASSERT_FALSE(pub);
    EXPECT_EQ(pub.error().code(), ErrorCode::kInvalidInput);
  }
  // A public key is not a private key, and the other way round.
  auto pub_pem = CachedKey(KeyType::kEd25519).Public().ToPem();
  EXPECT_FALSE(PrivateKey::FromPem(*pub_pem));
  EXPECT_FALSE(PublicKey::FromPem(*CachedKey(KeyType::kEd25519).ToPem()));
}

TEST(KeysPemTest, LoadReportsMissingFileWithPath) {
  testing::TempDir dir;
  auto key = PrivateKey::Load(dir / "missing.key");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(key.error().message().find("missing.key"), std::string::npos);

  WriteFile(dir / "garbage.key", "garbage");
  key = PrivateKey::Load(dir / "garbage.key");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(key.error().message().find("garbage.key"), std::string::npos);
}

}  // namespace
}  // namespace fogkeep::crypto
