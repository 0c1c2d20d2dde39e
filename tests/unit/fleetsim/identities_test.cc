#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "fleetsim/enroll.h"
#include "support/support.h"

namespace fogkeep::fleetsim {
namespace {

using fogkeep::testing::Must;
using fogkeep::testing::TempDir;

NodeIdentity Make(const std::string& name) {
  crypto::PrivateKey key = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  crypto::IssueOptions options;
  options.common_name = name;
  options.extended_key_usages = {crypto::ExtendedKeyUsage::kClientAuth};
  crypto::Certificate cert = Must(crypto::IssueCertificate(key.Public(), options, nullptr, key));
  return NodeIdentity{.device_id = name, .tls = crypto::TlsIdentity{key, {cert}}};
}

TEST(IdentitiesTest, SavedIdentitiesLoadBackPrivately) {
  TempDir dir;
  const std::string path = dir / "ids.json";
  const std::vector<NodeIdentity> saved = {Make("d-1"), Make("d-2"), Make("d-3")};
  ASSERT_TRUE(SaveIdentities(path, saved));
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Result<std::vector<NodeIdentity>> loaded = LoadIdentities(path, 2);
  ASSERT_TRUE(loaded) << loaded.error().message();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[1].device_id, "d-2");
  EXPECT_EQ((*loaded)[1].tls.chain.front().Fingerprint(), saved[1].tls.chain.front().Fingerprint());
  EXPECT_EQ(Must((*loaded)[1].tls.key.Public().ToPem()), Must(saved[1].tls.key.Public().ToPem()));
}

TEST(IdentitiesTest, TooFewOrMalformedIsRefused) {
  TempDir dir;
  const std::string path = dir / "ids.json";
  ASSERT_TRUE(SaveIdentities(path, {Make("d-1")}));
  Result<std::vector<NodeIdentity>> loaded = LoadIdentities(path, 2);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message().find("holds 1 identities"), std::string::npos);

  ASSERT_TRUE(fs::WriteFileAtomic(path, R"([{"device_id":"d","key":"x","chain":"y"}])", 0600));
  EXPECT_FALSE(LoadIdentities(path, 1));
  ASSERT_TRUE(fs::WriteFileAtomic(path, "{}", 0600));
  EXPECT_FALSE(LoadIdentities(path, 1));
  EXPECT_FALSE(LoadIdentities(dir / "missing.json", 1));
}

}  // namespace
}  // namespace fogkeep::fleetsim
