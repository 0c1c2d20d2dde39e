// TrustStore: chain building, validity, EKU and CRL checks, and loading from files.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/fs.h"
#include "crypto/x509.h"
#include "crypto_test_util.h"
#include "support/support.h"

namespace fogkeep::crypto {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;
using test::CachedKey;
using test::CaOptions;
using test::CodeSigningOptions;
using test::Issued;
using test::MakeIssued;
using test::MakeRoot;
using test::WriteFile;

constexpr auto kCodeSigning = ExtendedKeyUsage::kCodeSigning;

// Fails the test unless `status` is a kIntegrity error whose message contains every one of
// `fragments`.
::testing::AssertionResult RefusedWith(const Status& status,
                                       std::initializer_list<std::string_view> fragments) {
  if (status) return ::testing::AssertionFailure() << "accepted";
  if (status.error().code() != ErrorCode::kIntegrity) {
    return ::testing::AssertionFailure() << "wrong code: " << status.error().message();
  }
  for (std::string_view fragment : fragments) {
    if (status.error().message().find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "\"" << status.error().message() << "\" lacks \"" << fragment << "\"";
    }
  }
  return ::testing::AssertionSuccess() << status.error().message();
}

::testing::AssertionResult Accepted(const Status& status) {
  if (status) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status.error().message();
}

// CAs valid since a week ago, so leaves may be checked at past times.
IssueOptions BackdatedCa(std::string cn) {
  IssueOptions options = CaOptions(std::move(cn));
  options.backdate = hours(24 * 7);
  return options;
}

// root (anchor) -> intermediate -> leaf with codeSigning, of the key types given.
class ChainFixture {
 public:
  explicit ChainFixture(KeyType root_type = KeyType::kEcdsaP256,
                        KeyType intermediate_type = KeyType::kEcdsaP256,
                        KeyType leaf_type = KeyType::kEd25519)
      : root_(MakeRoot(BackdatedCa("fleet root"), CachedKey(root_type, 0))),
        intermediate_(
            MakeIssued(root_, BackdatedCa("signing ca"), CachedKey(intermediate_type, 1))),
        leaf_(
            MakeIssued(intermediate_, CodeSigningOptions("dev signer"), CachedKey(leaf_type, 2))) {
    store_.AddAnchor(root_.cert);
  }

  Issued Leaf(const IssueOptions& options) {
    return MakeIssued(intermediate_, options, CachedKey(KeyType::kEd25519, 2));
  }

  Issued root_;
  Issued intermediate_;
  Issued leaf_;
  TrustStore store_;
};

class TrustStoreTest : public ::testing::Test, public ChainFixture {};

class TrustStoreKeyTypesTest : public ::testing::TestWithParam<KeyType> {};

INSTANTIATE_TEST_SUITE_P(AllTypes, TrustStoreKeyTypesTest,
                         ::testing::Values(KeyType::kRsa, KeyType::kEcdsaP256, KeyType::kEd25519),
                         [](const auto& info) -> std::string {
                           return info.param == KeyType::kRsa         ? "Rsa"
                                  : info.param == KeyType::kEcdsaP256 ? "EcdsaP256"
                                                                      : "Ed25519";
                         });

TEST_P(TrustStoreKeyTypesTest, ChainOfOneKeyTypeVerifies) {
  ChainFixture chain(GetParam(), GetParam(), GetParam());
  EXPECT_TRUE(
      Accepted(chain.store_.Verify(chain.leaf_.cert, {chain.intermediate_.cert}, kCodeSigning)));
  // CRLs signed with this key type are checked too.
  chain.store_.AddCrl(
      *IssueCrl(chain.intermediate_.cert, chain.intermediate_.key, {chain.leaf_.cert}));
  EXPECT_TRUE(
      RefusedWith(chain.store_.Verify(chain.leaf_.cert, {chain.intermediate_.cert}, kCodeSigning),
                  {"revoked"}));
}

TEST_F(TrustStoreTest, MixedKeyTypeChainVerifies) {
  ChainFixture chain(KeyType::kRsa, KeyType::kEd25519, KeyType::kEcdsaP256);
  EXPECT_TRUE(
      Accepted(chain.store_.Verify(chain.leaf_.cert, {chain.intermediate_.cert}, kCodeSigning)));
}

TEST_F(TrustStoreTest, ChainFromAPackageCertBundleVerifies) {
  // package.cert: the signer first, then the intermediates.
  auto bundle = Certificate::BundleFromPem(leaf_.cert.ToPem() + intermediate_.cert.ToPem());
  ASSERT_TRUE(bundle);
  std::vector<Certificate> intermediates(bundle->begin() + 1, bundle->end());
  EXPECT_TRUE(Accepted(store_.Verify(bundle->front(), intermediates, kCodeSigning)));
}

TEST_F(TrustStoreTest, FailsWithoutTheIntermediate) {
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {}, kCodeSigning),
                          {"CN=dev signer,O=fogkeep", "unable to get local issuer certificate"}));
}

TEST_F(TrustStoreTest, FailsAgainstAnotherCa) {
  Issued other_root = MakeRoot(CaOptions("other root"), CachedKey(KeyType::kEcdsaP256, 3));
  TrustStore other;
  other.AddAnchor(other_root.cert);
  EXPECT_TRUE(RefusedWith(other.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=signing ca,O=fogkeep", "unable to get local issuer certificate"}));
}

TEST_F(TrustStoreTest, FailsForAnImpostorIntermediateWithTheSameName) {
  // Same subject as the real intermediate, another key, signed by an untrusted root of the same
  // name as the anchor: names match all the way, signatures do not.
  Issued fake_root = MakeRoot(CaOptions("fleet root"), CachedKey(KeyType::kEcdsaP256, 4));
  Issued fake_intermediate =
      MakeIssued(fake_root, CaOptions("signing ca"), CachedKey(KeyType::kEcdsaP256, 5));
  Issued fake_leaf = MakeIssued(fake_intermediate, CodeSigningOptions("dev signer"),
                                CachedKey(KeyType::kEd25519, 2));
  EXPECT_FALSE(store_.Verify(fake_leaf.cert, {fake_intermediate.cert}, kCodeSigning));
  EXPECT_FALSE(store_.Verify(fake_leaf.cert, {intermediate_.cert}, kCodeSigning));
  EXPECT_FALSE(store_.Verify(leaf_.cert, {fake_intermediate.cert}, kCodeSigning));
}

TEST_F(TrustStoreTest, SelfSignedLeafIsRefused) {
  const PrivateKey& key = CachedKey(KeyType::kEd25519, 2);
  auto self = IssueCertificate(key.Public(), CodeSigningOptions("me"), nullptr, key);
  ASSERT_TRUE(self);
  EXPECT_TRUE(RefusedWith(store_.Verify(*self, {}, kCodeSigning), {"CN=me,O=fogkeep"}));
}

TEST_F(TrustStoreTest, EmptyStoreRefusesEverything) {
  TrustStore empty;
  EXPECT_TRUE(
      RefusedWith(empty.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning), {"no anchors"}));
}

// ---- Validity periods ----

TEST_F(TrustStoreTest, ExpiredLeafIsRefused) {
  IssueOptions options = CodeSigningOptions("expired signer");
  options.not_before = system_clock::now() - hours(48);
  options.not_after = system_clock::now() - hours(24);
  Issued expired = Leaf(options);
  EXPECT_TRUE(RefusedWith(store_.Verify(expired.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=expired signer,O=fogkeep", "certificate has expired"}));
  // Checked at a time inside its validity, it verifies: `at` is honoured.
  EXPECT_TRUE(Accepted(store_.Verify(expired.cert, {intermediate_.cert}, kCodeSigning,
                                     system_clock::now() - hours(36))));
}

TEST_F(TrustStoreTest, NotYetValidLeafIsRefused) {
  IssueOptions options = CodeSigningOptions("future signer");
  options.not_before = system_clock::now() + hours(24);
  options.not_after = system_clock::now() + hours(48);
  Issued future = Leaf(options);
  EXPECT_TRUE(RefusedWith(store_.Verify(future.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=future signer,O=fogkeep", "certificate is not yet valid"}));
  EXPECT_TRUE(Accepted(store_.Verify(future.cert, {intermediate_.cert}, kCodeSigning,
                                     system_clock::now() + hours(36))));
}

TEST_F(TrustStoreTest, ValidLeafIsRefusedAtATimeAfterItsExpiry) {
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning,
                                        system_clock::now() + hours(24 * 400)),
                          {"certificate has expired"}));
}

TEST_F(TrustStoreTest, ExpiredIntermediateIsRefusedAndNamed) {
  IssueOptions options = CaOptions("old ca");
  options.not_before = system_clock::now() - hours(48);
  options.not_after = system_clock::now() - hours(24);
  Issued old_ca = MakeIssued(root_, options, CachedKey(KeyType::kEcdsaP256, 1));
  IssueOptions leaf_options = CodeSigningOptions("signer");
  leaf_options.not_before = system_clock::now() - hours(47);
  Issued leaf = MakeIssued(old_ca, leaf_options, CachedKey(KeyType::kEd25519, 2));
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf.cert, {old_ca.cert}, kCodeSigning),
                          {"CN=old ca,O=fogkeep", "certificate has expired"}));
}

// ---- Extended key usage ----

TEST_F(TrustStoreTest, LeafWithoutCodeSigningIsRefused) {
  IssueOptions server = CodeSigningOptions("web server");
  server.extended_key_usages = {ExtendedKeyUsage::kServerAuth};
  Issued web = Leaf(server);
  EXPECT_TRUE(RefusedWith(
      store_.Verify(web.cert, {intermediate_.cert}, kCodeSigning),
      {"CN=web server,O=fogkeep", "certificate lacks the codeSigning extended key usage"}));
  EXPECT_TRUE(
      Accepted(store_.Verify(web.cert, {intermediate_.cert}, ExtendedKeyUsage::kServerAuth)));
  EXPECT_TRUE(
      RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, ExtendedKeyUsage::kServerAuth),
                  {"lacks the serverAuth extended key usage"}));

  // No EKU extension at all does not make a code signer either.
  IssueOptions bare;
  bare.common_name = "bare";
  EXPECT_TRUE(RefusedWith(store_.Verify(Leaf(bare).cert, {intermediate_.cert}, kCodeSigning),
                          {"lacks the codeSigning"}));
}

TEST_F(TrustStoreTest, IntermediateRestrictedToOtherUsagesIsRefused) {
  IssueOptions options = CaOptions("tls ca");
  options.extended_key_usages = {ExtendedKeyUsage::kServerAuth};
  Issued tls_ca = MakeIssued(root_, options, CachedKey(KeyType::kEcdsaP256, 1));
  Issued leaf = MakeIssued(tls_ca, CodeSigningOptions("signer"), CachedKey(KeyType::kEd25519, 2));
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf.cert, {tls_ca.cert}, kCodeSigning),
                          {"CN=tls ca,O=fogkeep", "codeSigning"}));

  options.extended_key_usages = {ExtendedKeyUsage::kCodeSigning};
  Issued code_ca = MakeIssued(root_, options, CachedKey(KeyType::kEcdsaP256, 1));
  leaf = MakeIssued(code_ca, CodeSigningOptions("signer"), CachedKey(KeyType::kEd25519, 2));
  EXPECT_TRUE(Accepted(store_.Verify(leaf.cert, {code_ca.cert}, kCodeSigning)));
}

// ---- Revocation ----

TEST_F(TrustStoreTest, LeafRevokedByItsIssuerIsRefused) {
  store_.AddCrl(*IssueCrl(intermediate_.cert, intermediate_.key, {leaf_.cert}));
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=dev signer,O=fogkeep", "certificate is revoked"}));
}

TEST_F(TrustStoreTest, CrlRevokingAnotherSerialIsAccepted) {
  Issued other = Leaf(CodeSigningOptions("other signer"));
  store_.AddCrl(*IssueCrl(intermediate_.cert, intermediate_.key, {other.cert}));
  store_.AddCrl(*IssueCrl(root_.cert, root_.key, {}));
  EXPECT_TRUE(Accepted(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning)));
  EXPECT_TRUE(RefusedWith(store_.Verify(other.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=other signer,O=fogkeep", "revoked"}));
}

TEST_F(TrustStoreTest, RevokedIntermediateIsRefused) {
  store_.AddCrl(*IssueCrl(root_.cert, root_.key, {intermediate_.cert}));
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=signing ca,O=fogkeep", "certificate is revoked"}));
}

TEST_F(TrustStoreTest, CrlOfAnotherKeyWithTheIssuerNameDoesNotApply) {
  // Same issuer name as the intermediate but another key: its CRL is not the intermediate's
  // (the authority key identifiers differ), so it neither revokes nor blocks the leaf.
  Issued impostor = MakeIssued(root_, CaOptions("signing ca"), CachedKey(KeyType::kEcdsaP256, 5));
  store_.AddCrl(*IssueCrl(impostor.cert, impostor.key, {leaf_.cert}));
  EXPECT_TRUE(Accepted(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning)));
  store_.AddCrl(*IssueCrl(intermediate_.cert, intermediate_.key, {leaf_.cert}));
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning),
                          {"certificate is revoked"}));
}

TEST_F(TrustStoreTest, TamperedCrlIsRefused) {
  std::string pem = IssueCrl(intermediate_.cert, intermediate_.key, {})->ToPem();
  // A character inside the last bytes of the signature value.
  std::size_t pos = pem.find("\n-----END") - 10;
  pem[pos] = pem[pos] == 'A' ? 'B' : 'A';
  auto tampered = Crl::FromPem(pem);
  ASSERT_TRUE(tampered) << tampered.error().message();
  store_.AddCrl(*tampered);
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=dev signer,O=fogkeep", "CRL signature failure"}));
}

TEST_F(TrustStoreTest, StaleCrlIsRefused) {
  store_.AddCrl(*IssueCrl(intermediate_.cert, intermediate_.key, {}, hours(24)));
  EXPECT_TRUE(Accepted(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning)));
  EXPECT_TRUE(RefusedWith(store_.Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning,
                                        system_clock::now() + hours(48)),
                          {"CRL has expired"}));
}

// ---- Loading ----

class TrustStoreLoadTest : public TrustStoreTest {
 protected:
  Issued revoked_ = Leaf(CodeSigningOptions("revoked signer"));
  std::string crl_pem_ = IssueCrl(intermediate_.cert, intermediate_.key, {revoked_.cert})->ToPem();
  testing::TempDir dir_;
};

TEST_F(TrustStoreLoadTest, FromOneFileWithCertificatesAndCrls) {
  std::string path = dir_ / "trust.pem";
  Issued second_root = MakeRoot(CaOptions("second root"), CachedKey(KeyType::kEcdsaP256, 3));
  WriteFile(path, "# fleet anchors\n" + root_.cert.ToPem() + crl_pem_ + second_root.cert.ToPem());
  auto store = TrustStore::Load(path);
  ASSERT_TRUE(store) << store.error().message();
  EXPECT_EQ(store->anchors().size(), 2u);
  EXPECT_EQ(store->crls().size(), 1u);
  EXPECT_TRUE(Accepted(store->Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning)));
  EXPECT_TRUE(
      RefusedWith(store->Verify(revoked_.cert, {intermediate_.cert}, kCodeSigning), {"revoked"}));
}

TEST_F(TrustStoreLoadTest, FromADirectoryWithACaAndACrl) {
  WriteFile(dir_ / "fleet-root.pem", root_.cert.ToPem());
  WriteFile(dir_ / "signing-ca.crl", crl_pem_);
  WriteFile(dir_ / "README.txt", "not PEM, and not read");
  ASSERT_TRUE(fs::MakeDirs(dir_ / "sub.pem"));  // a directory, even with the suffix, is skipped
  auto store = TrustStore::Load(dir_.path());
  ASSERT_TRUE(store) << store.error().message();
  EXPECT_EQ(store->anchors().size(), 1u);
  EXPECT_EQ(store->crls().size(), 1u);
  EXPECT_TRUE(Accepted(store->Verify(leaf_.cert, {intermediate_.cert}, kCodeSigning)));
  EXPECT_TRUE(RefusedWith(store->Verify(revoked_.cert, {intermediate_.cert}, kCodeSigning),
                          {"CN=revoked signer,O=fogkeep", "certificate is revoked"}));

  // A .crt with several certificates counts too.
  Issued second_root = MakeRoot(CaOptions("second root"), CachedKey(KeyType::kEcdsaP256, 3));
  WriteFile(dir_ / "more.crt", second_root.cert.ToPem() + intermediate_.cert.ToPem());
  store = TrustStore::Load(dir_.path());
  ASSERT_TRUE(store) << store.error().message();
  EXPECT_EQ(store->anchors().size(), 3u);
}

TEST_F(TrustStoreLoadTest, RefusesSourcesWithoutAnchorsOrWithGarbage) {
  auto expect = [](const Result<TrustStore>& r, ErrorCode code, std::string_view mentions) {
    ASSERT_FALSE(r) << mentions;
    EXPECT_EQ(r.error().code(), code) << r.error().message();
    EXPECT_NE(r.error().message().find(mentions), std::string::npos) << r.error().message();
  };
  expect(TrustStore::Load(dir_ / "missing.pem"), ErrorCode::kNotFound, "missing.pem");
  expect(TrustStore::Load(dir_.path()), ErrorCode::kInvalidInput, "no trust anchor");

  WriteFile(dir_ / "only.crl", crl_pem_);
  expect(TrustStore::Load(dir_.path()), ErrorCode::kInvalidInput, "no trust anchor");
  expect(TrustStore::Load(dir_ / "only.crl"), ErrorCode::kInvalidInput, "no trust anchor");

  WriteFile(dir_ / "root.pem", root_.cert.ToPem());
  WriteFile(dir_ / "broken.pem", "this is not PEM\n");
  expect(TrustStore::Load(dir_.path()), ErrorCode::kInvalidInput, "broken.pem");

  std::string damaged = root_.cert.ToPem();
  damaged[damaged.size() / 2] = '!';
  WriteFile(dir_ / "broken.pem", damaged);
  expect(TrustStore::Load(dir_.path()), ErrorCode::kInvalidInput, "broken.pem");
}

}  // namespace
}  // namespace fogkeep::crypto
