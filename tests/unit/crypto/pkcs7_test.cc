#include "crypto/pkcs7.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/hash.h"
#include "crypto_test_util.h"
#include "support/support.h"

namespace fogkeep::crypto {
namespace {

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

IssueOptions ClientOptions(std::string cn) {
  IssueOptions options;
  options.common_name = std::move(cn);
  options.extended_key_usages = {ExtendedKeyUsage::kClientAuth};
  return options;
}

::testing::AssertionResult FailsWith(const Result<std::vector<Certificate>>& r, ErrorCode code,
                                     std::string_view fragment = "") {
  if (r) return ::testing::AssertionFailure() << "decoded " << r->size() << " certificates";
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

class CertsOnlyTest : public ::testing::Test {
 protected:
  std::vector<Certificate> Leaves(int n) {
    std::vector<Certificate> certs;
    for (int i = 0; i < n; ++i) {
      certs.push_back(MakeIssued(root_, ClientOptions("node " + std::to_string(i)),
                                 CachedKey(KeyType::kEd25519))
                          .cert);
    }
    return certs;
  }

  // DER of `openssl crl2pkcs7` over the PEM of `certs`, plus `extra` arguments.
  std::string OpensslCertsOnly(const std::vector<Certificate>& certs,
                               const std::string& extra = "-nocrl") {
    std::string bundle;
    for (const Certificate& cert : certs) bundle += cert.ToPem();
    std::string command = "openssl crl2pkcs7 " + extra + " -outform DER -out " + Quote(dir_ / "p7");
    if (!certs.empty()) {
      WriteFile(dir_ / "bundle.pem", bundle);
      command += " -certfile " + Quote(dir_ / "bundle.pem");
    }
    auto made = RunCommand(command);
    EXPECT_EQ(made.exit_code, 0) << made.output;
    return ReadFile(dir_ / "p7");
  }

  Issued root_ = MakeRoot(CaOptions("fleet root"), CachedKey(KeyType::kEcdsaP256));
  Issued leaf_ = MakeIssued(root_, ClientOptions("node-1"), CachedKey(KeyType::kEd25519));
  testing::TempDir dir_;
};

TEST_F(CertsOnlyTest, RoundTripKeepsOrder) {
  for (const std::vector<Certificate>& certs :
       {std::vector<Certificate>{leaf_.cert}, std::vector<Certificate>{leaf_.cert, root_.cert},
        std::vector<Certificate>{root_.cert, leaf_.cert}, Leaves(kMaxCertsOnlyCertificates)}) {
    auto der = EncodeCertsOnly(certs);
    ASSERT_TRUE(der) << der.error().message();
    auto decoded = DecodeCertsOnly(*der);
    ASSERT_TRUE(decoded) << decoded.error().message();
    ASSERT_EQ(decoded->size(), certs.size());
    for (std::size_t i = 0; i < certs.size(); ++i) {
      EXPECT_EQ((*decoded)[i].ToDer(), certs[i].ToDer()) << i;
    }
  }
}

TEST_F(CertsOnlyTest, EncodeRefusesNoneAndTooMany) {
  auto none = EncodeCertsOnly({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kInvalidInput);
  auto many = EncodeCertsOnly(Leaves(kMaxCertsOnlyCertificates + 1));
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code(), ErrorCode::kLimit);
}

TEST_F(CertsOnlyTest, OpensslReadsOurEncoding) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  WriteFile(dir_ / "ours.p7", EncodeCertsOnly({leaf_.cert, root_.cert}).value());
  auto printed =
      RunCommand("openssl pkcs7 -print_certs -noout -inform DER -in " + Quote(dir_ / "ours.p7"));
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  const std::size_t leaf_at = printed.output.find("subject=O = fogkeep, CN = node-1");
  const std::size_t root_at = printed.output.find("subject=O = fogkeep, CN = fleet root");
  ASSERT_NE(leaf_at, std::string::npos) << printed.output;
  ASSERT_NE(root_at, std::string::npos) << printed.output;
  EXPECT_LT(leaf_at, root_at) << printed.output;
}

TEST_F(CertsOnlyTest, OpensslEncodingDecodesAndMatchesOurs) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  const std::vector<Certificate> certs = {leaf_.cert, root_.cert};
  const std::string theirs = OpensslCertsOnly(certs);
  auto decoded = DecodeCertsOnly(theirs);
  ASSERT_TRUE(decoded) << decoded.error().message();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].ToDer(), leaf_.cert.ToDer());
  EXPECT_EQ((*decoded)[1].ToDer(), root_.cert.ToDer());
  // The same bytes: the encoding is the one the header documents.
  EXPECT_EQ(ToHex(EncodeCertsOnly(certs).value()), ToHex(theirs));
}

TEST_F(CertsOnlyTest, RefusesAnythingButCertsOnly) {
  if (!test::HaveOpensslCli()) GTEST_SKIP() << "openssl CLI not installed";
  // Nine certificates.
  EXPECT_TRUE(FailsWith(DecodeCertsOnly(OpensslCertsOnly(Leaves(kMaxCertsOnlyCertificates + 1))),
                        ErrorCode::kLimit, "at most 8"));
  // No certificate at all.
  EXPECT_TRUE(
      FailsWith(DecodeCertsOnly(OpensslCertsOnly({})), ErrorCode::kInvalidInput, "no certificate"));
  // A CRL beside the certificates.
  WriteFile(dir_ / "crl.pem", IssueCrl(root_.cert, root_.key, {})->ToPem());
  EXPECT_TRUE(
      FailsWith(DecodeCertsOnly(OpensslCertsOnly({leaf_.cert}, "-in " + Quote(dir_ / "crl.pem"))),
                ErrorCode::kInvalidInput, "CRLs"));

  // A signedData with a signer (and content).
  Issued signer =
      MakeIssued(root_, CodeSigningOptions("signer"), CachedKey(KeyType::kEcdsaP256, 1));
  WriteFile(dir_ / "signer.pem", signer.cert.ToPem());
  WriteFile(dir_ / "signer.key", signer.key.ToPem().value());
  WriteFile(dir_ / "msg", "hello");
  auto made = RunCommand("openssl cms -sign -nodetach -binary -in " + Quote(dir_ / "msg") +
                         " -signer " + Quote(dir_ / "signer.pem") + " -inkey " +
                         Quote(dir_ / "signer.key") + " -outform DER -out " + Quote(dir_ / "s"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(
      FailsWith(DecodeCertsOnly(ReadFile(dir_ / "s")), ErrorCode::kInvalidInput, "has signers"));
  // The same detached: still a signer.
  made = RunCommand("openssl cms -sign -binary -in " + Quote(dir_ / "msg") + " -signer " +
                    Quote(dir_ / "signer.pem") + " -inkey " + Quote(dir_ / "signer.key") +
                    " -outform DER -out " + Quote(dir_ / "d"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(
      FailsWith(DecodeCertsOnly(ReadFile(dir_ / "d")), ErrorCode::kInvalidInput, "has signers"));

  // Another content type altogether.
  made = RunCommand("openssl cms -data_create -binary -in " + Quote(dir_ / "msg") +
                    " -outform DER -out " + Quote(dir_ / "data"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(FailsWith(DecodeCertsOnly(ReadFile(dir_ / "data")), ErrorCode::kInvalidInput,
                        "not a certs-only signedData"));
}

TEST_F(CertsOnlyTest, RefusesMalformedInput) {
  const std::string der = EncodeCertsOnly({leaf_.cert, root_.cert}).value();
  EXPECT_TRUE(FailsWith(DecodeCertsOnly(""), ErrorCode::kInvalidInput, "empty"));
  EXPECT_TRUE(FailsWith(DecodeCertsOnly("garbage"), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(DecodeCertsOnly(RandomBytes(500)), ErrorCode::kInvalidInput));
  for (std::size_t size = 1; size < der.size(); size += 13) {
    EXPECT_TRUE(FailsWith(DecodeCertsOnly(der.substr(0, size)), ErrorCode::kInvalidInput)) << size;
  }
  EXPECT_TRUE(
      FailsWith(DecodeCertsOnly(der + std::string(1, '\0')), ErrorCode::kInvalidInput, "trailing"));
  EXPECT_TRUE(FailsWith(DecodeCertsOnly(std::string(kMaxCertsOnlyDerBytes + 1, '\x30')),
                        ErrorCode::kLimit));
  // A bare certificate is not a PKCS#7 message.
  EXPECT_TRUE(FailsWith(DecodeCertsOnly(leaf_.cert.ToDer()), ErrorCode::kInvalidInput));
}

}  // namespace
}  // namespace fogkeep::crypto
