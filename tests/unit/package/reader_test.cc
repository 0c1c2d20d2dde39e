// The package reader against hostile packages: every refusal has a clear reason, and nothing
// is ever written outside the staging directory.
#include "package/reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>

#include "core/fs.h"
#include "crypto/hash.h"
#include "crypto/x509.h"
#include "package/manifest.h"
#include "support/support.h"
#include "support/tar_builder.h"

namespace fogkeep::package {
namespace {

using crypto::Certificate;
using crypto::ExtendedKeyUsage;
using crypto::IssueOptions;
using crypto::KeyType;
using crypto::PrivateKey;
using testing::GzipStream;
using testing::TarBuilder;

constexpr char kDescriptor[] = R"(descriptor-schema-version: "2.2"
info:
  name: hello
  version: "1.0"
app:
  type: docker
  cpuarch: x86_64
  resources:
    profile: c1.tiny
  startup:
    rootfs: rootfs.tar
    target: ["/bin/sh", "/app/run.sh"]
)";

struct Signer {
  PrivateKey key;
  Certificate cert;
};

// One CA and a family of signers, good and bad, made once for the suite.
struct Pki {
  PrivateKey ca_key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  Certificate ca = Issue(ca_key.Public(), CaOptions("test CA"), nullptr, ca_key);
  PrivateKey other_ca_key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  Certificate other_ca = Issue(other_ca_key.Public(), CaOptions("other CA"), nullptr, other_ca_key);

  Signer good = MakeSigner("good signer", {ExtendedKeyUsage::kCodeSigning});
  Signer no_eku = MakeSigner("server only", {ExtendedKeyUsage::kServerAuth});
  Signer expired = MakeSigner("expired", {ExtendedKeyUsage::kCodeSigning}, -48, -24);
  Signer future = MakeSigner("future", {ExtendedKeyUsage::kCodeSigning}, 24, 48);
  Signer revoked = MakeSigner("revoked", {ExtendedKeyUsage::kCodeSigning});
  Signer foreign = [this] {
    auto key = *PrivateKey::Generate(KeyType::kEd25519);
    IssueOptions o;
    o.common_name = "foreign";
    o.extended_key_usages = {ExtendedKeyUsage::kCodeSigning};
    return Signer{key, Issue(key.Public(), o, &other_ca, other_ca_key)};
  }();

  crypto::TrustStore Trust() const {
    crypto::TrustStore store;
    store.AddAnchor(ca);
    store.AddCrl(*crypto::IssueCrl(ca, ca_key, {revoked.cert}));
    return store;
  }

 private:
  static IssueOptions CaOptions(std::string name) {
    IssueOptions o;
    o.common_name = std::move(name);
    o.is_ca = true;
    return o;
  }
  static Certificate Issue(const crypto::PublicKey& key, const IssueOptions& o,
                           const Certificate* issuer, const PrivateKey& issuer_key) {
    auto cert = crypto::IssueCertificate(key, o, issuer, issuer_key);
    if (!cert) std::abort();
    return *cert;
  }
  Signer MakeSigner(std::string name, std::vector<ExtendedKeyUsage> ekus, int from_hours = 0,
                    int to_hours = 0) {
    auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
    IssueOptions o;
    o.common_name = std::move(name);
    o.extended_key_usages = std::move(ekus);
    if (from_hours != 0 || to_hours != 0) {
      auto now = std::chrono::system_clock::now();
      o.not_before = now + std::chrono::hours(from_hours);
      o.not_after = now + std::chrono::hours(to_hours);
    }
    return Signer{key, Issue(key.Public(), o, &ca, ca_key)};
  }
};

const Pki& TestPki() {
  static const Pki* pki = new Pki();
  return *pki;
}

std::string RootfsTar() {
  return TarBuilder()
      .Dir("bin")
      .File("bin/busybox", std::string(4096, 'b'), 0755)
      .Symlink("bin/sh", "/bin/busybox")
      .Dir("app")
      .File("app/run.sh", "#!/bin/sh\necho hi\n", 0755)
      .Finish();
}

std::string Artifacts(const std::string& rootfs_tar) {
  return testing::Gzip(TarBuilder().File("rootfs.tar", rootfs_tar).Finish());
}

// A package described member by member; Signed() adds package.mf, .sig and .cert.
struct PackageSpec {
  std::vector<std::pair<std::string, std::string>> members{
      {"package.yaml", kDescriptor}, {"artifacts.tar.gz", Artifacts(RootfsTar())}};

  std::string Manifest() const {
    std::vector<ManifestEntry> entries;
    for (const auto& [name, data] : members) {
      if (name != "package.mf" && name != "package.sig" && name != "package.cert") {
        entries.push_back({name, ManifestDigest::kSha256, crypto::Sha256Hex(data)});
      }
    }
    return Manifest::FromEntries(entries)->Serialize();
  }

  // Members in signing order: package.mf, package.sig, package.cert, then the rest.
  std::vector<std::pair<std::string, std::string>> Signed(const Signer& signer) const {
    std::string mf = Manifest();
    std::vector<std::pair<std::string, std::string>> out{
        {"package.mf", mf},
        {"package.sig", crypto::Base64Encode(*signer.key.Sign(mf)) + "\n"},
        {"package.cert", signer.cert.ToPem()}};
    out.insert(out.end(), members.begin(), members.end());
    return out;
  }
};

std::string Tar(const std::vector<std::pair<std::string, std::string>>& members) {
  TarBuilder tar;
  for (const auto& [name, data] : members) tar.File(name, data);
  return tar.Finish();
}

std::string& Member(std::vector<std::pair<std::string, std::string>>& members,
                    std::string_view name) {
  for (auto& [n, data] : members) {
    if (n == name) return data;
  }
  std::abort();
}

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(staging_.c_str(), 0755), 0);
  }

  // Installs into a fresh, empty staging directory (as the node does for each install).
  Result<VerifiedPackage> Install(const std::string& bytes, bool require_signed = true) {
    if (!fs::RemoveTree(staging_) || ::mkdir(staging_.c_str(), 0755) != 0) std::abort();
    X509Verifier verifier(TestPki().Trust(), SignaturePolicy{require_signed});
    MemorySource source(bytes);
    return VerifyAndExtract(source, verifier, staging_, ExtractOptions{}, limits_);
  }

  // Installs and expects a refusal whose message contains `reason`.
  void ExpectRefused(const std::string& bytes, std::string_view reason,
                     bool require_signed = true) {
    auto result = Install(bytes, require_signed);
    ASSERT_FALSE(result) << "accepted a package that should fail with: " << reason;
    EXPECT_NE(result.error().message().find(reason), std::string::npos)
        << "message was: " << result.error().message();
    ExpectNothingOutsideStaging();
  }

  void ExpectNothingOutsideStaging() {
    int entries = 0;
    ASSERT_TRUE(fs::Walk(outside_, [&](const std::string&, const struct stat&) -> Status {
      ++entries;
      return {};
    }));
    EXPECT_EQ(entries, 0) << "something was written outside the staging directory";
    std::vector<std::string> top;
    ASSERT_TRUE(fs::Walk(dir_.path(), [&](const std::string& rel, const struct stat&) -> Status {
      if (rel.find('/') == std::string::npos) top.push_back(rel);
      return {};
    }));
    EXPECT_EQ(top.size(), 2u);
  }

  PackageLimits limits_;
  testing::TempDir dir_;
  std::string outside_ = dir_ / "outside";
  std::string staging_ = dir_ / "staging";
};

TEST_F(ReaderTest, SignedPackageVerifiesAndExtracts) {
  auto result = Install(Tar(PackageSpec().Signed(TestPki().good)));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(result->verdict.trusted);
  EXPECT_NE(result->verdict.reason.find("CN=good signer"), std::string::npos);
  EXPECT_EQ(result->report.descriptor->name, "hello");
  EXPECT_EQ(result->rootfs.entries, 5u);
  char target[64] = {};
  ASSERT_GT(::readlink((staging_ + "/rootfs/bin/sh").c_str(), target, sizeof(target)), 0);
  EXPECT_STREQ(target, "/bin/busybox");
  EXPECT_EQ(*fs::ReadFile(staging_ + "/package.yaml"), kDescriptor);
  EXPECT_EQ(::access((staging_ + "/.artifacts.spool").c_str(), F_OK), -1);
  ExpectNothingOutsideStaging();
}

TEST_F(ReaderTest, MembersInAnyOrderAreSpooledAndStillVerified) {
  auto members = PackageSpec().Signed(TestPki().good);
  std::reverse(members.begin(), members.end());
  auto result = Install(Tar(members));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(::access((staging_ + "/rootfs/app/run.sh").c_str(), F_OK), 0);
  EXPECT_EQ(::access((staging_ + "/.artifacts.spool").c_str(), F_OK), -1);

  std::reverse(members.begin(), members.end());
  Member(members, "artifacts.tar.gz") = Artifacts(TarBuilder().File("evil", "x").Finish());
  std::reverse(members.begin(), members.end());
  ExpectRefused(Tar(members), "artifacts.tar.gz does not match package.mf");
}

TEST_F(ReaderTest, WholePackageMayBeGzipped) {
  auto result = Install(testing::Gzip(Tar(PackageSpec().Signed(TestPki().good))));
  ASSERT_TRUE(result) << result.error().message();
}

TEST_F(ReaderTest, TamperedMembersAreRefused) {
  auto members = PackageSpec().Signed(TestPki().good);
  Member(members, "artifacts.tar.gz").back() ^= 1;
  ExpectRefused(Tar(members), "artifacts.tar.gz does not match package.mf");

  members = PackageSpec().Signed(TestPki().good);
  Member(members, "package.yaml") += "# changed\n";
  ExpectRefused(Tar(members), "package.yaml does not match package.mf");

  members = PackageSpec().Signed(TestPki().good);
  Member(members, "package.mf")[10] ^= 1;
  ExpectRefused(Tar(members), "package.sig does not verify against package.cert");
}

TEST_F(ReaderTest, ManifestMustCoverExactlyTheMembers) {
  auto members = PackageSpec().Signed(TestPki().good);
  members.emplace_back("extra.txt", "smuggled");
  ExpectRefused(Tar(members), "extra.txt not listed in package.mf");

  PackageSpec with_config;
  with_config.members.emplace_back("package_config.ini", "[a]\n");
  members = with_config.Signed(TestPki().good);
  members.pop_back();  // listed in package.mf, but absent
  ExpectRefused(Tar(members), "package.mf lists package_config.ini, which is missing");

  members = PackageSpec().Signed(TestPki().good);
  members.push_back(members.back());
  ExpectRefused(Tar(members), "duplicate member 'artifacts.tar.gz'");
}

TEST_F(ReaderTest, SignerTrustFailures) {
  const Pki& pki = TestPki();
  PackageSpec spec;
  ExpectRefused(Tar(spec.Signed(pki.foreign)), "unable to get local issuer certificate");
  ExpectRefused(Tar(spec.Signed(pki.expired)), "expired");
  ExpectRefused(Tar(spec.Signed(pki.future)), "not yet valid");
  ExpectRefused(Tar(spec.Signed(pki.no_eku)), "codeSigning");
  ExpectRefused(Tar(spec.Signed(pki.revoked)), "revoked");

  // A signature by a key that is not the certificate's.
  auto members = spec.Signed(pki.good);
  auto by_other_key = spec.Signed(pki.revoked);
  Member(members, "package.sig") = Member(by_other_key, "package.sig");
  ExpectRefused(Tar(members), "package.sig does not verify against package.cert");
  // Half a signature.
  members = spec.Signed(pki.good);
  members.erase(members.begin() + 2);
  ExpectRefused(Tar(members), "package.cert is missing");
}

TEST_F(ReaderTest, UnsignedPackagesNeedAnExplicitPolicy) {
  PackageSpec spec;
  auto members = spec.members;
  members.insert(members.begin(), {"package.mf", spec.Manifest()});
  ExpectRefused(Tar(members), "unsigned");
  auto allowed = Install(Tar(members), /*require_signed=*/false);
  ASSERT_TRUE(allowed) << allowed.error().message();
  EXPECT_FALSE(allowed->verdict.signer);
}

TEST_F(ReaderTest, LegacySha1ManifestCannotBeSigned) {
  PackageSpec spec;
  std::string sha1_mf;
  for (const auto& [name, data] : spec.members) {
    crypto::Digest d(crypto::DigestAlgorithm::kSha1);
    d.Update(data);
    sha1_mf += "SHA1(" + name + ")= " + d.HexFinal() + "\n";
  }
  std::sort(spec.members.begin(), spec.members.end());
  auto members = spec.members;
  members.insert(members.begin(),
                 {{"package.mf", sha1_mf},
                  {"package.sig", crypto::Base64Encode(*TestPki().good.key.Sign(sha1_mf))},
                  {"package.cert", TestPki().good.cert.ToPem()}});
  ExpectRefused(Tar(members), "SHA-256 manifest");
}

TEST_F(ReaderTest, OuterMembersMustBePlainFilesAtTheRoot) {
  auto base = PackageSpec().Signed(TestPki().good);
  auto with = [&](auto add) {
    TarBuilder tar;
    for (const auto& [name, data] : base) tar.File(name, data);
    add(tar);
    return tar.Finish();
  };
  ExpectRefused(with([](TarBuilder& t) { t.Dir("rootfs"); }), "is a directory");
  ExpectRefused(with([](TarBuilder& t) { t.Symlink("link", "/etc/passwd"); }), "is a symlink");
  ExpectRefused(with([](TarBuilder& t) { t.Hardlink("hard", "package.yaml"); }), "is a hard link");
  ExpectRefused(with([](TarBuilder& t) { t.CharDevice("null"); }), "character device");
  ExpectRefused(with([](TarBuilder& t) { t.BlockDevice("sda"); }), "block device");
  ExpectRefused(with([](TarBuilder& t) { t.Fifo("fifo"); }), "FIFO");
  ExpectRefused(with([](TarBuilder& t) { t.File("/etc/cron.d/x", "x"); }), "absolute path");
  ExpectRefused(with([](TarBuilder& t) { t.File("../escape", "x"); }), "contains '..'");
  ExpectRefused(with([](TarBuilder& t) { t.File("sub/file", "x"); }), "not at the root");
}

TEST_F(ReaderTest, RootfsEscapesAreRefusedEndToEnd) {
  PackageSpec spec;
  Member(spec.members, "artifacts.tar.gz") =
      Artifacts(TarBuilder().Symlink("etc", outside_).File("etc/pwned", "x").Finish());
  ExpectRefused(Tar(spec.Signed(TestPki().good)), "passes through");

  Member(spec.members, "artifacts.tar.gz") =
      Artifacts(TarBuilder().Hardlink("passwd", "../outside/x").Finish());
  ExpectRefused(Tar(spec.Signed(TestPki().good)), "..");

  Member(spec.members, "artifacts.tar.gz") = Artifacts(TarBuilder().CharDevice("dev/mem").Finish());
  ExpectRefused(Tar(spec.Signed(TestPki().good)), "device");
}

TEST_F(ReaderTest, DecompressionBombIsStoppedByTheRatioLimit) {
  // artifacts.tar.gz = gzip(tar(rootfs.tar = tar(one 256 MiB file of zeros))), made as a stream
  // so the test never holds it.
  constexpr std::uint64_t kBomb = 256ULL << 20;
  testing::TarEntry inner;
  inner.name = "zeros";
  inner.header_size = kBomb;
  std::string inner_header = testing::TarHeaderBlock(inner);
  std::uint64_t inner_size = 512 + kBomb + 1024;
  testing::TarEntry outer;
  outer.name = "rootfs.tar";
  outer.header_size = inner_size;
  GzipStream gz;
  std::string artifacts;
  gz.Write(testing::TarHeaderBlock(outer));
  gz.Write(inner_header);
  std::string zeros(1 << 20, '\0');
  for (std::uint64_t i = 0; i < kBomb / zeros.size(); ++i) {
    gz.Write(zeros);
    artifacts += gz.Take();
  }
  gz.Write(std::string(1024 + 1024, '\0'));
  gz.Finish();
  artifacts += gz.Take();
  ASSERT_LT(artifacts.size(), kBomb / 200);
  PackageSpec spec;
  Member(spec.members, "artifacts.tar.gz") = artifacts;
  ExpectRefused(Tar(spec.Signed(TestPki().good)), "expands more than 200:1");
}

TEST_F(ReaderTest, TooManyEntriesAndLongPaths) {
  // The package limits reach the rootfs extractor (rootfs_test proves the default limit
  // against 200,000 entries; a smaller one keeps this end-to-end test quick).
  limits_.rootfs.max_entries = 5'000;
  TarBuilder many;
  for (int i = 0; i < 20'000; ++i) many.File("f" + std::to_string(i), "");
  PackageSpec spec;
  Member(spec.members, "artifacts.tar.gz") = Artifacts(many.Finish());
  ExpectRefused(Tar(spec.Signed(TestPki().good)), "entries");

  std::string deep;
  while (deep.size() < 5000) deep += "abcdefghij/";
  Member(spec.members, "artifacts.tar.gz") = Artifacts(TarBuilder().File(deep + "f", "x").Finish());
  ExpectRefused(Tar(spec.Signed(TestPki().good)), "longer than");
}

TEST_F(ReaderTest, GarbageIsAClearError) {
  ExpectRefused("this is not a tar archive at all, just text", "not a tar archive");
  auto truncated = Tar(PackageSpec().Signed(TestPki().good));
  truncated.resize(truncated.size() / 2);
  auto result = Install(truncated);
  ASSERT_FALSE(result);
  ExpectNothingOutsideStaging();
}

TEST_F(ReaderTest, ScanReportsWithoutJudging) {
  auto members = PackageSpec().Signed(TestPki().foreign);
  Member(members, "package.yaml") += "# changed\n";
  std::string bytes = Tar(members);
  MemorySource source(bytes);
  auto report = ScanPackage(source);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_TRUE(report->is_signed());
  ASSERT_FALSE(report->CheckIntegrity());
  EXPECT_EQ(report->members.size(), 5u);
  int mismatched = 0;
  for (const auto& m : report->members) mismatched += m.problem == "does not match package.mf";
  EXPECT_EQ(mismatched, 1);
  auto signature = CheckSignatureOnly(report->signed_manifest);
  EXPECT_TRUE(signature.trusted);  // the signature itself is fine; trust is another question
  EXPECT_EQ(signature.signer->CommonName(), "foreign");
}

}  // namespace
}  // namespace fogkeep::package
