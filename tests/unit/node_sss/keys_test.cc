#include "node/sss/keys.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "crypto/keys.h"
#include "node/sss/file_key_sealer.h"
#include "sss_test_util.h"
#include "support/support.h"

namespace fogkeep::node::sss {
namespace {

using test::Must;

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    keys_.reset();
    store_.reset();
    store_ = Must(SecureStore::Open(db_path_, Must(FileKeySealer::Open(dir_ / "sealing.key"))));
    keys_ = std::make_unique<KeyService>(*store_);
  }

  testing::TempDir dir_;
  const std::string db_path_ = dir_ / "sss.db";
  std::unique_ptr<SecureStore> store_;
  std::unique_ptr<KeyService> keys_;
};

// The base64 lines of a PEM block, each long enough not to occur by chance.
std::vector<std::string> PemBodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < pem.size()) {
    std::size_t end = pem.find('\n', start);
    if (end == std::string::npos) end = pem.size();
    std::string line = pem.substr(start, end - start);
    if (line.size() >= 40 && line.find("-----") == std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

TEST_F(KeyServiceTest, EachSigningAlgorithmSignsAndVerifies) {
  for (KeyAlgorithm algorithm :
       {KeyAlgorithm::kRsa, KeyAlgorithm::kEcdsaP256, KeyAlgorithm::kEd25519}) {
    std::string name(KeyAlgorithmName(algorithm));
    SCOPED_TRACE(name);
    KeyInfo info = Must(keys_->Generate("app1", name, algorithm));
    EXPECT_EQ(info.algorithm, algorithm);
    std::string signature = Must(keys_->Sign("app1", name, "the message"));
    EXPECT_TRUE(Must(keys_->Verify("app1", name, "the message", signature)));
    // A signature that does not verify is an answer, not an error.
    EXPECT_FALSE(Must(keys_->Verify("app1", name, "the messagE", signature)));
    EXPECT_FALSE(Must(keys_->Verify("app1", name, "the message", test::FlipBit(signature, 5))));

    // Anyone can check the signature with the exported public key and plain crypto.
    auto public_key = Must(crypto::PublicKey::FromPem(info.public_key_pem));
    EXPECT_TRUE(public_key.Verify("the message", signature));
    if (algorithm == KeyAlgorithm::kRsa) {
      EXPECT_EQ(public_key.bits(), 3072);
    }
    EXPECT_EQ(Must(keys_->Describe("app1", name)).public_key_pem, info.public_key_pem);
  }
  auto list = Must(keys_->List("app1"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "ecdsa-p256");
}

TEST_F(KeyServiceTest, AesKeyEncryptsAndDecrypts) {
  KeyInfo info = Must(keys_->Generate("app1", "data", KeyAlgorithm::kAes256));
  EXPECT_TRUE(info.public_key_pem.empty());
  std::string sealed = Must(keys_->Encrypt("app1", "data", "hello", "aad-1"));
  EXPECT_EQ(sealed.size(), 12u + 5u + 16u);
  EXPECT_NE(Must(keys_->Encrypt("app1", "data", "hello", "aad-1")), sealed);
  EXPECT_EQ(Must(keys_->Decrypt("app1", "data", sealed, "aad-1")), "hello");

  auto wrong_aad = keys_->Decrypt("app1", "data", sealed, "aad-2");
  ASSERT_FALSE(wrong_aad);
  EXPECT_EQ(wrong_aad.error().code(), ErrorCode::kIntegrity);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto tampered = keys_->Decrypt("app1", "data", test::FlipBit(sealed, i), "aad-1");
    ASSERT_FALSE(tampered) << "byte " << i;
    EXPECT_EQ(tampered.error().code(), ErrorCode::kIntegrity);
  }
  // Another AES key of the same app does not open it either.
  Must(keys_->Generate("app1", "other", KeyAlgorithm::kAes256));
  EXPECT_EQ(keys_->Decrypt("app1", "other", sealed, "aad-1").error().code(), ErrorCode::kIntegrity);
}

TEST_F(KeyServiceTest, OperationsMustFitTheAlgorithm) {
  Must(keys_->Generate("app1", "aes", KeyAlgorithm::kAes256));
  Must(keys_->Generate("app1", "ec", KeyAlgorithm::kEcdsaP256));
  EXPECT_EQ(keys_->Sign("app1", "aes", "m").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(keys_->Verify("app1", "aes", "m", "s").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(keys_->Encrypt("app1", "ec", "m", "").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(keys_->Decrypt("app1", "ec", "m", "").error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(keys_->Sign("app1", "missing", "m").error().code(), ErrorCode::kNotFound);
}

TEST_F(KeyServiceTest, AKeyIsNeverReplacedByAccident) {
  Must(keys_->Generate("app1", "k", KeyAlgorithm::kEd25519));
  std::string signature = Must(keys_->Sign("app1", "k", "m"));
  EXPECT_EQ(keys_->Generate("app1", "k", KeyAlgorithm::kEd25519).error().code(),
            ErrorCode::kConflict);
  auto pem = Must(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEd25519)).ToPem());
  EXPECT_EQ(keys_->Import("app1", "k", pem).error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(Must(keys_->Verify("app1", "k", "m", signature)));
  ASSERT_TRUE(keys_->Delete("app1", "k"));
  EXPECT_EQ(keys_->Sign("app1", "k", "m").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(keys_->Generate("app1", "k", KeyAlgorithm::kEd25519));
}

// An RSA key of `bits` from the openssl CLI (crypto generates only the sizes fogkeep uses).
std::string OpensslRsaPem(int bits) {
  const std::string command =
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:" + std::to_string(bits) +
      " 2>/dev/null";
  std::string pem;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return pem;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) pem.append(buffer, n);
  ::pclose(pipe);
  return pem;
}

TEST_F(KeyServiceTest, RsaImportsAreBetween2048And4096Bits) {
  for (int bits : {1024, 4160}) {
    const std::string pem = OpensslRsaPem(bits);
    ASSERT_NE(pem.find("PRIVATE KEY"), std::string::npos) << "openssl genpkey " << bits;
    auto imported = keys_->Import("app1", "rsa" + std::to_string(bits), pem);
    ASSERT_FALSE(imported) << bits;
    EXPECT_EQ(imported.error().code(), ErrorCode::kInvalidInput);
    EXPECT_NE(imported.error().message().find(std::to_string(bits) + " bits"), std::string::npos)
        << imported.error().message();
  }
  EXPECT_TRUE(keys_->Import("app1", "rsa4096", OpensslRsaPem(4096)));
}

TEST_F(KeyServiceTest, ImportedKeysSignLikeTheOriginal) {
  for (crypto::KeyType type : {crypto::KeyType::kEcdsaP256, crypto::KeyType::kEd25519}) {
    auto original = Must(crypto::PrivateKey::Generate(type));
    std::string name = "imported-" + std::string(crypto::KeyTypeName(type));
    KeyInfo info = Must(keys_->Import("app1", name, Must(original.ToPem())));
    EXPECT_EQ(info.public_key_pem, Must(original.Public().ToPem()));
    EXPECT_TRUE(original.Public().Verify("m", Must(keys_->Sign("app1", name, "m"))));
  }
}

TEST_F(KeyServiceTest, MalformedImportsAreRefusedClearly) {
  struct Case {
    std::string pem;
    std::string says;
  };
  std::string ec_pem =
      Must(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256)).ToPem());
  std::string truncated = ec_pem.substr(0, ec_pem.size() / 2) + "\n-----END PRIVATE KEY-----\n";
  std::vector<Case> cases = {
      {"", "no PEM private key"},
      {"hello", "no PEM private key"},
      {truncated, "no PEM private key"},
      {"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
       "encrypted private keys are not supported"},
      {Must(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256)).Public().ToPem()),
       "no PEM private key"},
  };
  for (const Case& c : cases) {
    auto imported = keys_->Import("app1", "k", c.pem);
    ASSERT_FALSE(imported) << c.pem;
    EXPECT_EQ(imported.error().code(), ErrorCode::kInvalidInput);
    EXPECT_NE(imported.error().message().find(c.says), std::string::npos)
        << imported.error().message();
    // The message is short and says which key: no OpenSSL error-queue dump.
    EXPECT_NE(imported.error().message().find("key 'k' of app 'app1'"), std::string::npos);
    EXPECT_EQ(imported.error().message().find("error:"), std::string::npos)
        << imported.error().message();
  }
  EXPECT_TRUE(Must(keys_->List("app1")).empty());
}

TEST_F(KeyServiceTest, PrivateKeyMaterialNeverComesOut) {
  auto original = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  std::string private_pem = Must(original.ToPem());
  std::vector<std::string> secrets = PemBodyLines(private_pem);
  ASSERT_FALSE(secrets.empty());

  std::vector<std::string> returned;
  KeyInfo imported = Must(keys_->Import("app1", "k", private_pem));
  returned.push_back(imported.name + imported.public_key_pem);
  KeyInfo described = Must(keys_->Describe("app1", "k"));
  returned.push_back(described.name + described.public_key_pem);
  for (const RecordInfo& info : Must(keys_->List("app1"))) returned.push_back(info.name);
  returned.push_back(Must(keys_->Sign("app1", "k", "m")));
  for (const std::string& value : returned) {
    for (const std::string& secret : secrets) {
      EXPECT_EQ(value.find(secret), std::string::npos) << "returned: " << value;
    }
  }
  // The store hands key records to nobody else...
  EXPECT_EQ(store_->Get("app1", RecordKind::kKey, "k").error().code(), ErrorCode::kForbidden);
  // ...and keeps them encrypted on disk.
  Reopen();
  for (const std::string& secret : secrets) {
    EXPECT_FALSE(test::FileContains(db_path_, secret));
    EXPECT_FALSE(test::FileContains(db_path_ + "-wal", secret));
  }
  EXPECT_TRUE(original.Public().Verify("m", Must(keys_->Sign("app1", "k", "m"))));
}

TEST_F(KeyServiceTest, KeysPersistAndDieWithTheirApp) {
  Must(keys_->Generate("app1", "aes", KeyAlgorithm::kAes256));
  std::string sealed = Must(keys_->Encrypt("app1", "aes", "kept", ""));
  Reopen();
  EXPECT_EQ(Must(keys_->Decrypt("app1", "aes", sealed, "")), "kept");
  ASSERT_TRUE(store_->DestroyApp("app1"));
  EXPECT_EQ(keys_->Decrypt("app1", "aes", sealed, "").error().code(), ErrorCode::kNotFound);
  Must(keys_->Generate("app1", "aes", KeyAlgorithm::kAes256));
  EXPECT_EQ(keys_->Decrypt("app1", "aes", sealed, "").error().code(), ErrorCode::kIntegrity);
}

TEST(KeyAlgorithmTest, NamesRoundTrip) {
  for (KeyAlgorithm algorithm : {KeyAlgorithm::kRsa, KeyAlgorithm::kEcdsaP256,
                                 KeyAlgorithm::kEd25519, KeyAlgorithm::kAes256}) {
    EXPECT_EQ(Must(ParseKeyAlgorithm(KeyAlgorithmName(algorithm))), algorithm);
  }
  EXPECT_EQ(ParseKeyAlgorithm("dsa").error().code(), ErrorCode::kInvalidInput);
}

}  // namespace
}  // namespace fogkeep::node::sss
