#include "crypto/csr.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "crypto/hash.h"
#include "crypto_test_util.h"
#include "support/support.h"
#include "support/swtpm.h"

namespace fogkeep::crypto {
namespace {

using test::CachedKey;
using test::Quote;
using test::ReadFile;
using test::RunCommand;
using test::WriteFile;

constexpr KeyType kAllTypes[] = {KeyType::kRsa, KeyType::kEcdsaP256, KeyType::kEd25519};

std::string TypeParamName(const ::testing::TestParamInfo<KeyType>& info) {
  return info.param == KeyType::kRsa         ? "Rsa"
         : info.param == KeyType::kEcdsaP256 ? "EcdsaP256"
                                             : "Ed25519";
}

// The DER inside the first PEM block of `pem`.
std::string PemBody(const std::string& pem) {
  std::size_t begin = pem.find('\n') + 1;
  std::size_t end = pem.find("-----END");
  std::string text;
  for (char c : pem.substr(begin, end - begin)) {
    if (c != '\n') text.push_back(c);
  }
  return testing::Must(Base64Decode(text), "PEM body");
}

// `der` with the first occurrence of `from` replaced by `to` (of the same length).
std::string Patch(std::string der, std::string_view from, std::string_view to) {
  std::size_t at = der.find(from);
  if (at == std::string::npos || from.size() != to.size()) std::abort();
  der.replace(at, from.size(), to);
  return der;
}

::testing::AssertionResult FailsWith(const Result<CertificateRequest>& r, ErrorCode code,
                                     std::string_view fragment = "") {
  if (r) return ::testing::AssertionFailure() << "parsed";
  if (r.error().code() != code) {
    return ::testing::AssertionFailure()
           << "code " << ErrorCodeName(r.error().code()) << ": " << r.error().message();
  }
  if (r.error().message().find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "message lacks \"" << fragment << "\": " << r.error().message();
  }
  return ::testing::AssertionSuccess();
}

class CsrTypeTest : public ::testing::TestWithParam<KeyType> {};

INSTANTIATE_TEST_SUITE_P(AllTypes, CsrTypeTest, ::testing::ValuesIn(kAllTypes), TypeParamName);

TEST_P(CsrTypeTest, RoundTripsThroughDerAndPem) {
  const PrivateKey& key = CachedKey(GetParam());
  auto csr = CertificateRequest::Create(key, "gateway 7");
  ASSERT_TRUE(csr) << csr.error().message();
  EXPECT_EQ(csr->CommonName(), "gateway 7");
  EXPECT_EQ(csr->Key().type(), GetParam());
  EXPECT_EQ(csr->Key().Fingerprint(), key.Public().Fingerprint());
  EXPECT_TRUE(csr->VerifySignature());

  auto from_der = CertificateRequest::FromDer(csr->ToDer());
  ASSERT_TRUE(from_der) << from_der.error().message();
  EXPECT_EQ(from_der->ToDer(), csr->ToDer());
  EXPECT_EQ(from_der->CommonName(), "gateway 7");
  EXPECT_EQ(from_der->Key().Fingerprint(), key.Public().Fingerprint());
  EXPECT_TRUE(from_der->VerifySignature());

  const std::string pem = csr->ToPem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n")) << pem;
  auto from_pem = CertificateRequest::FromPem(pem);
  ASSERT_TRUE(from_pem) << from_pem.error().message();
  EXPECT_EQ(from_pem->ToDer(), csr->ToDer());
  EXPECT_TRUE(from_pem->VerifySignature());
}

TEST_P(CsrTypeTest, ForgedSignatureIsRefused) {
  const PrivateKey& key = CachedKey(GetParam());
  const std::string der = CertificateRequest::Create(key, "node-A")->ToDer();

  // The last byte of the DER is the last byte of the signature.
  std::string flipped = der;
  flipped.back() = static_cast<char>(flipped.back() ^ 0x01);
  auto parsed = CertificateRequest::FromDer(flipped);
  ASSERT_TRUE(parsed) << parsed.error().message();
  auto verified = parsed->VerifySignature();
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code(), ErrorCode::kIntegrity);

  // A signed field changed after signing.
  parsed = CertificateRequest::FromDer(Patch(der, "node-A", "node-B"));
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->CommonName(), "node-B");
  verified = parsed->VerifySignature();
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code(), ErrorCode::kIntegrity);

  // Someone else's key in a request signed by this one: no proof of possession.
  const PrivateKey& other = CachedKey(GetParam(), 1);
  const std::string own_spki = PemBody(key.Public().ToPem().value());
  const std::string other_spki = PemBody(other.Public().ToPem().value());
  ASSERT_EQ(own_spki.size(), other_spki.size());
  parsed = CertificateRequest::FromDer(Patch(der, own_spki, other_spki));
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->Key().Fingerprint(), other.Public().Fingerprint());
  verified = parsed->VerifySignature();
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code(), ErrorCode::kIntegrity);
}

TEST(CsrTest, CommonNameRules) {
  const PrivateKey& key = CachedKey(KeyType::kEcdsaP256);
  EXPECT_TRUE(CertificateRequest::Create(key, std::string(64, 'n')));
  EXPECT_TRUE(FailsWith(CertificateRequest::Create(key, ""), ErrorCode::kInvalidInput, "empty"));
  EXPECT_TRUE(FailsWith(CertificateRequest::Create(key, std::string(65, 'n')),
                        ErrorCode::kInvalidInput, "longer than 64"));
  for (std::string_view bad : {std::string_view("a\nb"), std::string_view("a\0b", 3),
                               std::string_view("caf\xc3\xa9"), std::string_view("tab\there")}) {
    EXPECT_TRUE(FailsWith(CertificateRequest::Create(key, bad), ErrorCode::kInvalidInput,
                          "printable ASCII"))
        << bad;
  }
  // The same rule holds for a request made elsewhere: a control character patched into the
  // name is refused before any signature check.
  const std::string der = CertificateRequest::Create(key, "nodeX")->ToDer();
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(Patch(der, "nodeX", "node\x01")),
                        ErrorCode::kInvalidInput, "printable ASCII"));
}

TEST(CsrTest, DegenerateRsaKeysAreRefused) {
  const std::string der = CertificateRequest::Create(CachedKey(KeyType::kRsa), "n")->ToDer();
  // The SubjectPublicKeyInfo ends with the exponent 65537: INTEGER 01 00 01.
  const std::string exponent("\x02\x03\x01\x00\x01", 5);
  const std::size_t at = der.find(exponent);
  ASSERT_NE(at, std::string::npos);
  std::string even_exponent = der;
  even_exponent[at + 4] = '\x00';
  EXPECT_TRUE(
      FailsWith(CertificateRequest::FromDer(even_exponent), ErrorCode::kInvalidInput, "exponent"));
  std::string even_modulus = der;
  even_modulus[at - 1] = static_cast<char>(even_modulus[at - 1] & ~1);
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(even_modulus), ErrorCode::kInvalidInput,
                        "modulus is even"));
}

TEST(CsrTest, MalformedDerIsRefused) {
  const std::string der = CertificateRequest::Create(CachedKey(KeyType::kEd25519), "n")->ToDer();
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(""), ErrorCode::kInvalidInput, "empty"));
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer("garbage"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(RandomBytes(300)), ErrorCode::kInvalidInput));
  for (std::size_t size = 0; size < der.size(); size += 7) {
    EXPECT_TRUE(
        FailsWith(CertificateRequest::FromDer(der.substr(0, size)), ErrorCode::kInvalidInput))
        << size;
  }
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(der.substr(0, der.size() - 1)),
                        ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(der + std::string(1, '\0')),
                        ErrorCode::kInvalidInput, "trailing bytes"));
  EXPECT_TRUE(
      FailsWith(CertificateRequest::FromDer(der + der), ErrorCode::kInvalidInput, "trailing"));
  EXPECT_TRUE(FailsWith(
      CertificateRequest::FromDer(std::string(CertificateRequest::kMaxDerBytes + 1, '\x30')),
      ErrorCode::kLimit));
  // A certificate is not a request.
  auto cert = IssueCertificate(CachedKey(KeyType::kEd25519).Public(), test::CaOptions("ca"),
                               nullptr, CachedKey(KeyType::kEd25519));
  ASSERT_TRUE(cert);
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(cert->ToDer()), ErrorCode::kInvalidInput));
}

TEST(CsrTest, PemNeedsExactlyOneRequestBlock) {
  auto csr = CertificateRequest::Create(CachedKey(KeyType::kEcdsaP256), "pem node");
  ASSERT_TRUE(csr);
  const std::string pem = csr->ToPem();
  EXPECT_TRUE(CertificateRequest::FromPem("some text before\n" + pem + "and after\n"));
  std::string old_style = pem;
  old_style.replace(old_style.find("BEGIN "), 6, "BEGIN NEW ");
  old_style.replace(old_style.find("END "), 4, "END NEW ");
  EXPECT_TRUE(CertificateRequest::FromPem(old_style)) << old_style;

  EXPECT_TRUE(
      FailsWith(CertificateRequest::FromPem(pem + pem), ErrorCode::kInvalidInput, "more than one"));
  EXPECT_TRUE(FailsWith(CertificateRequest::FromPem(""), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(CertificateRequest::FromPem(CachedKey(KeyType::kEcdsaP256).ToPem().value()),
                        ErrorCode::kInvalidInput, "found PRIVATE KEY"));
  EXPECT_TRUE(
      FailsWith(CertificateRequest::FromPem(std::string(64 << 10, 'A')), ErrorCode::kLimit));
}

class CsrOpensslTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  }

  // A request made by `openssl req` for a new key made by `genpkey_args`, as DER.
  std::string OpensslRequest(const std::string& genpkey_args, const std::string& req_args = "") {
    const std::string key = dir_ / "key.pem";
    const std::string out = dir_ / "req.der";
    auto made = RunCommand("openssl genpkey " + genpkey_args + " -out " + Quote(key));
    EXPECT_EQ(made.exit_code, 0) << made.output;
    made = RunCommand("openssl req -new -key " + Quote(key) + " -subj '/CN=openssl node' " +
                      req_args + " -outform DER -out " + Quote(out));
    EXPECT_EQ(made.exit_code, 0) << made.output;
    return ReadFile(out);
  }

  testing::TempDir dir_;
};

TEST_F(CsrOpensslTest, RequestsFromTheOpensslCliParseAndVerify) {
  for (const char* args :
       {"-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
        "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "-algorithm ED25519"}) {
    auto csr = CertificateRequest::FromDer(OpensslRequest(args));
    ASSERT_TRUE(csr) << args << ": " << csr.error().message();
    EXPECT_EQ(csr->CommonName(), "openssl node");
    EXPECT_TRUE(csr->VerifySignature()) << args;
    // And as the PEM the CLI writes by default.
    auto pem = RunCommand("openssl req -inform DER -in " + Quote(dir_ / "req.der"));
    ASSERT_EQ(pem.exit_code, 0) << pem.output;
    auto from_pem = CertificateRequest::FromPem(pem.output);
    ASSERT_TRUE(from_pem) << from_pem.error().message();
    EXPECT_EQ(from_pem->ToDer(), csr->ToDer());
  }
}

TEST_F(CsrOpensslTest, OpensslVerifiesOurRequests) {
  for (KeyType type : kAllTypes) {
    auto csr = CertificateRequest::Create(CachedKey(type), "our node");
    ASSERT_TRUE(csr);
    WriteFile(dir_ / "ours.der", csr->ToDer());
    auto checked = RunCommand("openssl req -inform DER -in " + Quote(dir_ / "ours.der") +
                              " -verify -noout -text");
    EXPECT_EQ(checked.exit_code, 0) << checked.output;
    EXPECT_NE(checked.output.find("verify OK"), std::string::npos) << checked.output;
    EXPECT_NE(checked.output.find("Subject: CN = our node"), std::string::npos) << checked.output;
  }
}

TEST_F(CsrOpensslTest, UnsupportedKeysAreRefused) {
  struct Case {
    const char* genpkey;
    const char* fragment;
  };
  for (const Case& c : {
           Case{"-algorithm EC -pkeyopt ec_paramgen_curve:P-384", "only P-256"},
           Case{"-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1", "only P-256"},
           Case{"-algorithm ED448", "unsupported key type"},
           Case{"-algorithm RSA -pkeyopt rsa_keygen_bits:1024", "too small"},
           Case{"-algorithm RSA -pkeyopt rsa_keygen_bits:4160", "too large"},
       }) {
    EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(OpensslRequest(c.genpkey)),
                          ErrorCode::kInvalidInput, c.fragment))
        << c.genpkey;
  }
}

TEST_F(CsrOpensslTest, OnlyTheSchemeOfTheKeyTypeIsAccepted) {
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(OpensslRequest(
                            "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "-sha384")),
                        ErrorCode::kInvalidInput, "must sign with sha256WithRSAEncryption"));
  EXPECT_TRUE(FailsWith(
      CertificateRequest::FromDer(OpensslRequest("-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
                                                 "-sigopt rsa_padding_mode:pss")),
      ErrorCode::kInvalidInput, "must sign with"));
  EXPECT_TRUE(FailsWith(CertificateRequest::FromDer(OpensslRequest(
                            "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "-sha512")),
                        ErrorCode::kInvalidInput, "must sign with ecdsa-with-SHA256"));
}

TEST_F(CsrOpensslTest, SubjectNeedsExactlyOneCommonName) {
  const std::string args = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
  ASSERT_TRUE(CertificateRequest::FromDer(OpensslRequest(args)));
  // New requests for the same key with other subjects.
  auto resubject = [&](const std::string& subject) {
    auto made = RunCommand("openssl req -new -key " + Quote(dir_ / "key.pem") + " -subj " +
                           Quote(subject) + " -outform DER -out " + Quote(dir_ / "req.der"));
    EXPECT_EQ(made.exit_code, 0) << made.output;
    return CertificateRequest::FromDer(ReadFile(dir_ / "req.der"));
  };
  EXPECT_TRUE(resubject("/O=fogkeep/CN=with org"));
  EXPECT_TRUE(FailsWith(resubject("/O=fogkeep"), ErrorCode::kInvalidInput, "exactly one"));
  EXPECT_TRUE(FailsWith(resubject("/CN=a/CN=b"), ErrorCode::kInvalidInput, "exactly one"));
}

// A key held by a TPM signs requests through the same PrivateKey as a key in memory: Create
// only ever calls PrivateKey::Sign.
TEST(CsrTpmTest, TpmHeldKeyMakesAVerifiableRequest) {
  if (testing::Swtpm::FindBinary().empty()) GTEST_SKIP() << "swtpm not installed";
  testing::TempDir state;
  auto tpm = testing::Swtpm::Start(state.path());
  ASSERT_TRUE(tpm) << tpm.error().message();
  ::setenv("TPM2OPENSSL_TCTI", (*tpm)->tcti().c_str(), 1);

  // Declared in this order so that the key goes first, then the providers, then the context.
  std::unique_ptr<OSSL_LIB_CTX, void (*)(OSSL_LIB_CTX*)> libctx(OSSL_LIB_CTX_new(),
                                                                OSSL_LIB_CTX_free);
  auto unload = [](OSSL_PROVIDER* p) { OSSL_PROVIDER_unload(p); };
  std::unique_ptr<OSSL_PROVIDER, decltype(unload)> base(OSSL_PROVIDER_load(libctx.get(), "default"),
                                                        unload);
  std::unique_ptr<OSSL_PROVIDER, decltype(unload)> tpm2(OSSL_PROVIDER_load(libctx.get(), "tpm2"),
                                                        unload);
  if (!base || !tpm2) GTEST_SKIP() << "the tpm2 OpenSSL provider is not available";
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(libctx.get(), "provider=tpm2", "EC", "P-256");
  ASSERT_NE(raw, nullptr);
  PrivateKey key(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free), KeyType::kEcdsaP256);

  auto csr = CertificateRequest::Create(key, "tpm node");
  ASSERT_TRUE(csr) << csr.error().message();
  EXPECT_TRUE(csr->VerifySignature());
  auto parsed = CertificateRequest::FromDer(csr->ToDer());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->Key().Fingerprint(), key.Public().Fingerprint());
  if (test::HaveOpensslCli()) {
    testing::TempDir dir;
    WriteFile(dir / "tpm.der", csr->ToDer());
    auto checked =
        RunCommand("openssl req -inform DER -in " + Quote(dir / "tpm.der") + " -verify -noout");
    EXPECT_EQ(checked.exit_code, 0) << checked.output;
  }
}

}  // namespace
}  // namespace fogkeep::crypto
