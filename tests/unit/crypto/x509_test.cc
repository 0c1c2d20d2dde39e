#include "crypto/x509.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "crypto/hash.h"
#include "crypto_test_util.h"
#include "support/support.h"

namespace fogkeep::crypto {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;
using test::CachedKey;
using test::CaOptions;
using test::CodeSigningOptions;
using test::Issued;
using test::MakeIssued;
using test::MakeRoot;
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

// `t` is within `tolerance` of `expected`.
::testing::AssertionResult Near(system_clock::time_point t, system_clock::time_point expected,
                                seconds tolerance = seconds(30)) {
  auto diff = t > expected ? t - expected : expected - t;
  if (diff <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "off by " << std::chrono::duration_cast<seconds>(diff).count() << " s";
}

class IssueTest : public ::testing::TestWithParam<KeyType> {};

INSTANTIATE_TEST_SUITE_P(AllTypes, IssueTest, ::testing::ValuesIn(kAllTypes), TypeParamName);

TEST_P(IssueTest, SelfSignedCaHasRequestedFields) {
  const PrivateKey& key = CachedKey(GetParam());
  IssueOptions options = CaOptions("fleet root");
  options.lifetime = hours(24 * 10);
  auto now = system_clock::now();
  auto cert = IssueCertificate(key.Public(), options, nullptr, key);
  ASSERT_TRUE(cert) << cert.error().message();

  EXPECT_EQ(cert->Subject(), "CN=fleet root,O=fogkeep");
  EXPECT_EQ(cert->Issuer(), cert->Subject());
  EXPECT_EQ(cert->CommonName(), "fleet root");
  EXPECT_TRUE(cert->IsCa());
  EXPECT_FALSE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kCodeSigning));
  EXPECT_TRUE(Near(cert->NotBefore(), now - minutes(5)));
  EXPECT_TRUE(Near(cert->NotAfter(), now + hours(24 * 10)));
  EXPECT_EQ(cert->Key().type(), GetParam());
  EXPECT_EQ(cert->Key().Fingerprint(), key.Public().Fingerprint());
  EXPECT_EQ(cert->Fingerprint(), Sha256Hex(cert->ToDer()));
  EXPECT_EQ(cert->Fingerprint().size(), 64u);

  // A positive serial of at most 128 bits, lowercase hex, different every time.
  std::string serial = cert->SerialHex();
  EXPECT_LE(serial.size(), 32u);
  EXPECT_GE(serial.size(), 16u);  // 2^-64 chance of a false failure
  EXPECT_EQ(serial.find_first_not_of("0123456789abcdef"), std::string::npos) << serial;
  auto again = IssueCertificate(key.Public(), options, nullptr, key);
  ASSERT_TRUE(again);
  EXPECT_NE(again->SerialHex(), serial);
}

TEST_P(IssueTest, LeafSignedByCaHasExtensions) {
  Issued root = MakeRoot(CaOptions("root"), CachedKey(GetParam()));
  IssueOptions options = CodeSigningOptions("dev signer");
  options.organization = "Acme Corp";
  options.extended_key_usages.push_back(ExtendedKeyUsage::kClientAuth);
  options.dns_names = {"node1.example.com", "*.fog.example"};
  options.ip_addresses = {"10.0.0.1", "fd00::1"};
  const PrivateKey& leaf_key = CachedKey(KeyType::kEcdsaP256, 1);
  auto leaf = IssueCertificate(leaf_key.Public(), options, &root.cert, root.key);
  ASSERT_TRUE(leaf) << leaf.error().message();

  EXPECT_EQ(leaf->Subject(), "CN=dev signer,O=Acme Corp");
  EXPECT_EQ(leaf->Issuer(), "CN=root,O=fogkeep");
  EXPECT_FALSE(leaf->IsCa());
  EXPECT_TRUE(leaf->HasExtendedKeyUsage(ExtendedKeyUsage::kCodeSigning));
  EXPECT_TRUE(leaf->HasExtendedKeyUsage(ExtendedKeyUsage::kClientAuth));
  EXPECT_FALSE(leaf->HasExtendedKeyUsage(ExtendedKeyUsage::kServerAuth));
  EXPECT_EQ(leaf->Key().Fingerprint(), leaf_key.Public().Fingerprint());

  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  testing::TempDir dir;
  WriteFile(dir / "root.pem", root.cert.ToPem());
  WriteFile(dir / "leaf.pem", leaf->ToPem());
  auto text = RunCommand("openssl x509 -noout -text -in " + Quote(dir / "leaf.pem"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* expected : {
           "Version: 3 (0x2)",
           "X509v3 Basic Constraints: critical",
           "CA:FALSE",
           "X509v3 Key Usage: critical",
           "Digital Signature",
           "Code Signing, TLS Web Client Authentication",
           "DNS:node1.example.com, DNS:*.fog.example, IP Address:10.0.0.1, "
           "IP Address:FD00:0:0:0:0:0:0:1",
           "X509v3 Subject Key Identifier",
           "X509v3 Authority Key Identifier",
       }) {
    EXPECT_NE(text.output.find(expected), std::string::npos) << expected << "\n" << text.output;
  }
  const char* algorithm = GetParam() == KeyType::kRsa         ? "sha256WithRSAEncryption"
                          : GetParam() == KeyType::kEcdsaP256 ? "ecdsa-with-SHA256"
                                                              : "ED25519";
  EXPECT_NE(text.output.find(std::string("Signature Algorithm: ") + algorithm), std::string::npos)
      << text.output;
  // The CLI accepts the chain, strictly.
  auto verified = RunCommand("openssl verify -x509_strict -purpose any -CAfile " +
                             Quote(dir / "root.pem") + " " + Quote(dir / "leaf.pem"));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

TEST(IssueCertificateTest, AuthorityKeyIdentifierIsTheIssuerSubjectKeyIdentifier) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  Issued root = MakeRoot(CaOptions("root"), CachedKey(KeyType::kEcdsaP256));
  Issued leaf = MakeIssued(root, CodeSigningOptions("leaf"), CachedKey(KeyType::kEd25519));
  testing::TempDir dir;
  auto extension = [&](const Certificate& cert, const char* name) {
    WriteFile(dir / "c.pem", cert.ToPem());
    auto r = RunCommand("openssl x509 -noout -ext " + std::string(name) + " -in " +
                        Quote(dir / "c.pem"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    // The value is the last line: "    AB:CD:..." (possibly prefixed "keyid:").
    std::string value = r.output.substr(r.output.find('\n') + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (value.starts_with("keyid:")) value.erase(0, 6);
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
    return value;
  };
  std::string root_ski = extension(root.cert, "subjectKeyIdentifier");
  EXPECT_EQ(root_ski.size(), 59u) << root_ski;  // 20 bytes as AB:CD:...
  EXPECT_EQ(extension(root.cert, "authorityKeyIdentifier"), root_ski);
  EXPECT_EQ(extension(leaf.cert, "authorityKeyIdentifier"), root_ski);
  EXPECT_NE(extension(leaf.cert, "subjectKeyIdentifier"), root_ski);
}

// A compact leaf (what the fleet CA gives nodes) has keyUsage, extendedKeyUsage and the
// authorityKeyIdentifier alone. It is still no CA, and it verifies strictly, with TrustStore
// and with the OpenSSL CLI.
TEST(IssueCertificateTest, CompactLeafLeavesOutBasicConstraintsAndItsKeyIdentifier) {
  Issued root = MakeRoot(CaOptions("root"), CachedKey(KeyType::kEcdsaP256));
  IssueOptions options;
  options.common_name = "dev-1";
  options.organization.clear();
  options.extended_key_usages = {ExtendedKeyUsage::kClientAuth};
  options.compact = true;
  Issued leaf = MakeIssued(root, options, CachedKey(KeyType::kEd25519));
  EXPECT_FALSE(leaf.cert.IsCa());
  EXPECT_EQ(leaf.cert.Subject(), "CN=dev-1");
  TrustStore trust;
  trust.AddAnchor(root.cert);
  Status verified = trust.Verify(leaf.cert, {}, ExtendedKeyUsage::kClientAuth);
  EXPECT_TRUE(verified) << verified.error().message();
  EXPECT_FALSE(trust.Verify(leaf.cert, {}, ExtendedKeyUsage::kCodeSigning));

  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  testing::TempDir dir;
  WriteFile(dir / "root.pem", root.cert.ToPem());
  WriteFile(dir / "leaf.pem", leaf.cert.ToPem());
  auto text = RunCommand("openssl x509 -noout -text -in " + Quote(dir / "leaf.pem"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* expected : {"X509v3 Key Usage: critical", "TLS Web Client Authentication",
                               "X509v3 Authority Key Identifier"}) {
    EXPECT_NE(text.output.find(expected), std::string::npos) << expected << "\n" << text.output;
  }
  for (const char* absent : {"Basic Constraints", "Subject Key Identifier"}) {
    EXPECT_EQ(text.output.find(absent), std::string::npos) << absent << "\n" << text.output;
  }
  auto cli = RunCommand("openssl verify -x509_strict -purpose sslclient -CAfile " +
                        Quote(dir / "root.pem") + " " + Quote(dir / "leaf.pem"));
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
}

TEST(IssueCertificateTest, CaPathLengthAndValidityOverrides) {
  const PrivateKey& key = CachedKey(KeyType::kEcdsaP256);
  IssueOptions options = CaOptions("constrained");
  options.path_length = 0;
  auto not_before = system_clock::now() - hours(48);
  auto not_after = system_clock::now() - hours(24);
  options.not_before = not_before;
  options.not_after = not_after;
  auto cert = IssueCertificate(key.Public(), options, nullptr, key);
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_TRUE(Near(cert->NotBefore(), not_before, seconds(1)));
  EXPECT_TRUE(Near(cert->NotAfter(), not_after, seconds(1)));

  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  testing::TempDir dir;
  WriteFile(dir / "c.pem", cert->ToPem());
  auto text =
      RunCommand("openssl x509 -noout -ext basicConstraints,keyUsage -in " + Quote(dir / "c.pem"));
  EXPECT_NE(text.output.find("CA:TRUE, pathlen:0"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("Certificate Sign, CRL Sign"), std::string::npos) << text.output;
}

TEST(IssueCertificateTest, RefusesBadRequests) {
  const PrivateKey& key = CachedKey(KeyType::kEcdsaP256);
  const PrivateKey& other = CachedKey(KeyType::kEcdsaP256, 1);
  Issued root = MakeRoot(CaOptions("root"), key);
  Issued leaf = MakeIssued(root, CodeSigningOptions("leaf"), other);

  auto expect_invalid = [](Result<Certificate> r, std::string_view mentions) {
    ASSERT_FALSE(r) << mentions;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << r.error().message();
    EXPECT_NE(r.error().message().find(mentions), std::string::npos) << r.error().message();
  };
  IssueOptions options = CodeSigningOptions("x");

  options.common_name = "";
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "common name");
  options.common_name = std::string(65, 'x');  // ub-common-name is 64
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "CN");
  options.common_name = "x";

  // Names go into typed structures: text that looks like OpenSSL config syntax stays data or
  // is refused, it never adds a name.
  options.dns_names = {"a.example,IP:1.2.3.4"};
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "DNS name");
  options.dns_names = {""};
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "DNS name");
  options.dns_names = {};
  for (const char* ip : {"999.1.1.1", "10.0.0", "localhost", "1.2.3.4,DNS:evil"}) {
    options.ip_addresses = {ip};
    expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "IP address");
  }
  options.ip_addresses = {};

  options.lifetime = hours(24 * 365 * 1000);
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "lifetime");
  options.lifetime = seconds(0);
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "lifetime");
  options.lifetime = hours(1);
  options.backdate = seconds(-1);
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "backdate");
  options.backdate = seconds(0);

  options.not_before = system_clock::now();
  options.not_after = system_clock::now() - hours(1);
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, root.key), "notAfter");
  options.not_before.reset();
  options.not_after.reset();

  expect_invalid(IssueCertificate(other.Public(), options, nullptr, key), "self-signed");
  expect_invalid(IssueCertificate(other.Public(), options, &leaf.cert, other), "not a CA");
  expect_invalid(IssueCertificate(other.Public(), options, &root.cert, other), "does not match");

  ASSERT_TRUE(IssueCertificate(other.Public(), options, &root.cert, root.key));
}

// ---- Parsing ----

class ParseTest : public ::testing::Test {
 protected:
  Issued root_ = MakeRoot(CaOptions("root"), CachedKey(KeyType::kEcdsaP256));
  Issued leaf_ = MakeIssued(root_, CodeSigningOptions("leaf"), CachedKey(KeyType::kEd25519));
};

TEST_F(ParseTest, PemAndDerRoundTrip) {
  std::string pem = leaf_.cert.ToPem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
  auto from_pem = Certificate::FromPem(pem);
  ASSERT_TRUE(from_pem);
  EXPECT_EQ(from_pem->Fingerprint(), leaf_.cert.Fingerprint());
  EXPECT_EQ(from_pem->SerialHex(), leaf_.cert.SerialHex());
  EXPECT_EQ(from_pem->Subject(), leaf_.cert.Subject());

  auto from_der = Certificate::FromDer(leaf_.cert.ToDer());
  ASSERT_TRUE(from_der);
  EXPECT_EQ(from_der->ToPem(), pem);
  EXPECT_EQ(from_der->NotAfter(), leaf_.cert.NotAfter());

  // FromPem takes the first certificate of a bundle.
  auto first = Certificate::FromPem(pem + root_.cert.ToPem());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->CommonName(), "leaf");
}

TEST_F(ParseTest, BundleKeepsOrderAndSkipsOtherBlocks) {
  std::string bundle = leaf_.cert.ToPem() + *CachedKey(KeyType::kEd25519).Public().ToPem() +
                       "comment line\n" + root_.cert.ToPem();
  auto certs = Certificate::BundleFromPem(bundle);
  ASSERT_TRUE(certs) << certs.error().message();
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[0].CommonName(), "leaf");
  EXPECT_EQ((*certs)[1].CommonName(), "root");
}

TEST_F(ParseTest, MalformedInputIsInvalid) {
  auto expect_invalid = [](auto r) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << r.error().message();
  };
  expect_invalid(Certificate::FromPem(""));
  expect_invalid(Certificate::FromPem("garbage"));
  expect_invalid(
      Certificate::FromPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
  expect_invalid(Certificate::FromDer(""));
  expect_invalid(Certificate::FromDer("\x30\x03\x02\x01\x01"));
  std::string der = leaf_.cert.ToDer();
  expect_invalid(Certificate::FromDer(der + "x"));  // trailing bytes
  expect_invalid(Certificate::FromDer(der.substr(0, der.size() - 1)));
  expect_invalid(Certificate::BundleFromPem(""));
  expect_invalid(Certificate::BundleFromPem("no certificates here\n"));

  // A damaged certificate in the middle of a bundle fails the bundle.
  std::string damaged = root_.cert.ToPem();
  damaged[damaged.size() / 2] = '!';
  expect_invalid(Certificate::BundleFromPem(leaf_.cert.ToPem() + damaged));
}

TEST_F(ParseTest, CertificateWithoutExtendedKeyUsageHasNone) {
  IssueOptions options;
  options.common_name = "plain";
  Issued plain = MakeIssued(root_, options, CachedKey(KeyType::kEd25519));
  for (auto eku : {ExtendedKeyUsage::kCodeSigning, ExtendedKeyUsage::kServerAuth,
                   ExtendedKeyUsage::kClientAuth}) {
    EXPECT_FALSE(plain.cert.HasExtendedKeyUsage(eku)) << ExtendedKeyUsageName(eku);
  }
  EXPECT_EQ(ExtendedKeyUsageName(ExtendedKeyUsage::kCodeSigning), "codeSigning");
}

TEST_F(ParseTest, CertificateFromOpensslCli) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  testing::TempDir dir;
  auto made = RunCommand(
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + Quote(dir / "k.pem") + " -out " +
      Quote(dir / "c.pem") +
      " -days 2 -subj '/C=DE/O=Example, Inc./CN=cli root' -addext extendedKeyUsage=serverAuth");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto cert = Certificate::FromPem(ReadFile(dir / "c.pem"));
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_EQ(cert->Subject(), "CN=cli root,O=Example\\, Inc.,C=DE");
  EXPECT_EQ(cert->CommonName(), "cli root");
  EXPECT_TRUE(cert->IsCa());  // req -x509 adds basicConstraints CA:TRUE
  EXPECT_TRUE(cert->HasExtendedKeyUsage(ExtendedKeyUsage::kServerAuth));
  EXPECT_TRUE(Near(cert->NotAfter(), system_clock::now() + hours(48)));
  EXPECT_EQ(cert->Key().type(), KeyType::kRsa);
  EXPECT_EQ(cert->Key().bits(), 2048);

  auto fingerprint =
      RunCommand("openssl x509 -noout -fingerprint -sha256 -in " + Quote(dir / "c.pem"));
  std::string expected = fingerprint.output.substr(fingerprint.output.find('=') + 1);
  std::erase(expected, ':');
  std::erase(expected, '\n');
  for (char& c : expected) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(cert->Fingerprint(), expected);

  auto serial = RunCommand("openssl x509 -noout -serial -in " + Quote(dir / "c.pem"));
  std::string expected_serial = serial.output.substr(serial.output.find('=') + 1);
  std::erase(expected_serial, '\n');
  for (char& c : expected_serial) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(cert->SerialHex(), expected_serial);
}

TEST_F(ParseTest, FarFutureValiditySaturates) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  // Beyond 2262, the end of what a nanosecond system_clock can hold.
  testing::TempDir dir;
  auto made =
      RunCommand("openssl req -x509 -newkey ed25519 -nodes -keyout " + Quote(dir / "k.pem") +
                 " -out " + Quote(dir / "c.pem") + " -days 2900000 -subj /CN=forever");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto cert = Certificate::FromPem(ReadFile(dir / "c.pem"));
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_EQ(cert->NotAfter(), system_clock::time_point::max());
  EXPECT_TRUE(Near(cert->NotBefore(), system_clock::now()));
  TrustStore store;
  store.AddAnchor(*cert);
  // The chain itself is fine (valid now); only the missing EKU refuses it.
  auto verified = store.Verify(*cert, {}, ExtendedKeyUsage::kCodeSigning);
  ASSERT_FALSE(verified);
  EXPECT_NE(verified.error().message().find("lacks the codeSigning"), std::string::npos)
      << verified.error().message();
}

// ---- CRLs ----

class CrlTest : public ::testing::Test {
 protected:
  Issued root_ = MakeRoot(CaOptions("root"), CachedKey(KeyType::kEcdsaP256));
  Issued revoked_ = MakeIssued(root_, CodeSigningOptions("revoked"), CachedKey(KeyType::kEd25519));
  Issued kept_ = MakeIssued(root_, CodeSigningOptions("kept"), CachedKey(KeyType::kEd25519));
};

TEST_F(CrlTest, ListsRevokedCertificatesOnly) {
  auto crl = IssueCrl(root_.cert, root_.key, {revoked_.cert});
  ASSERT_TRUE(crl) << crl.error().message();
  EXPECT_EQ(crl->Issuer(), root_.cert.Subject());
  EXPECT_TRUE(crl->Lists(revoked_.cert));
  EXPECT_FALSE(crl->Lists(kept_.cert));
  EXPECT_FALSE(crl->Lists(root_.cert));

  auto empty = IssueCrl(root_.cert, root_.key, {});
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->Lists(revoked_.cert));
}

TEST_F(CrlTest, PemRoundTrip) {
  auto crl = IssueCrl(root_.cert, root_.key, {revoked_.cert, kept_.cert});
  ASSERT_TRUE(crl);
  std::string pem = crl->ToPem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN X509 CRL-----\n"));
  auto parsed = Crl::FromPem(pem);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_TRUE(parsed->Lists(revoked_.cert));
  EXPECT_TRUE(parsed->Lists(kept_.cert));
  EXPECT_EQ(parsed->ToPem(), pem);

  for (const char* bad :
       {"", "garbage", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"}) {
    auto r = Crl::FromPem(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_FALSE(Crl::FromPem(root_.cert.ToPem()));
}

TEST_F(CrlTest, OpensslAcceptsTheCrl) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  auto crl = IssueCrl(root_.cert, root_.key, {revoked_.cert}, hours(24 * 7));
  ASSERT_TRUE(crl);
  testing::TempDir dir;
  WriteFile(dir / "crl.pem", crl->ToPem());
  WriteFile(dir / "root.pem", root_.cert.ToPem());
  auto checked = RunCommand("openssl crl -noout -text -CAfile " + Quote(dir / "root.pem") +
                            " -in " + Quote(dir / "crl.pem"));
  ASSERT_EQ(checked.exit_code, 0) << checked.output;
  for (std::string expected :
       {std::string("verify OK"), std::string("Version 2 (0x1)"), std::string("X509v3 CRL Number"),
        std::string("X509v3 Authority Key Identifier"),
        std::string("Issuer: O = fogkeep, CN = root")}) {
    EXPECT_NE(checked.output.find(expected), std::string::npos) << expected << "\n"
                                                                << checked.output;
  }
  std::string serial = revoked_.cert.SerialHex();
  for (char& c : serial) c = static_cast<char>(std::toupper(c));
  EXPECT_NE(checked.output.find("Serial Number: " + serial), std::string::npos) << serial << "\n"
                                                                                << checked.output;
}

TEST_F(CrlTest, ListsSerialsGivenAsHex) {
  std::string upper = kept_.cert.SerialHex();
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  auto crl = IssueCrlForSerials(root_.cert, root_.key, {revoked_.cert.SerialHex(), upper});
  ASSERT_TRUE(crl) << crl.error().message();
  EXPECT_EQ(crl->Issuer(), root_.cert.Subject());
  EXPECT_TRUE(crl->Lists(revoked_.cert));
  EXPECT_TRUE(crl->Lists(kept_.cert));
  EXPECT_FALSE(crl->Lists(root_.cert));
  auto one = IssueCrlForSerials(root_.cert, root_.key, {revoked_.cert.SerialHex()}, hours(1));
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->Lists(revoked_.cert));
  EXPECT_FALSE(one->Lists(kept_.cert));
  EXPECT_TRUE(IssueCrlForSerials(root_.cert, root_.key, {}));

  for (const char* bad : {"", "0", "00", "-1", "+1", "0x12", "12 34", "xyz", "12\n",
                          "1234567890123456789012345678901234567890a"}) {
    auto r = IssueCrlForSerials(root_.cert, root_.key, {revoked_.cert.SerialHex(), bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << bad;
  }
  // The checks of IssueCrl on the CA hold here too.
  EXPECT_FALSE(IssueCrlForSerials(kept_.cert, kept_.key, {}));
  EXPECT_FALSE(IssueCrlForSerials(root_.cert, root_.key, {}, seconds(0)));
}

TEST_F(CrlTest, RefusesBadRequests) {
  Issued other_root = MakeRoot(CaOptions("other root"), CachedKey(KeyType::kEcdsaP256, 1));
  Issued foreign =
      MakeIssued(other_root, CodeSigningOptions("foreign"), CachedKey(KeyType::kEd25519));
  auto r = IssueCrl(root_.cert, root_.key, {foreign.cert});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(r.error().message().find("not issued by"), std::string::npos) << r.error().message();

  r = IssueCrl(root_.cert, other_root.key, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos);
  r = IssueCrl(kept_.cert, kept_.key, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not a CA"), std::string::npos);
  EXPECT_FALSE(IssueCrl(root_.cert, root_.key, {}, seconds(0)));
  EXPECT_FALSE(IssueCrl(root_.cert, root_.key, {}, hours(24 * 365 * 1000)));
}

}  // namespace
}  // namespace fogkeep::crypto
