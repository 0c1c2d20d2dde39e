#include "api/est.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/fs.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "support/support.h"

namespace fogkeep::api::est {
namespace {

using fogkeep::testing::Must;

const crypto::PrivateKey& NodeKey() {
  static const crypto::PrivateKey* key =
      new crypto::PrivateKey(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256)));
  return *key;
}

const crypto::CertificateRequest& Request() {
  static const crypto::CertificateRequest* csr =
      new crypto::CertificateRequest(Must(crypto::CertificateRequest::Create(NodeKey(), "node 1")));
  return *csr;
}

std::vector<crypto::Certificate> Chain() {
  crypto::IssueOptions ca;
  ca.common_name = "fleet";
  ca.is_ca = true;
  crypto::Certificate root =
      Must(crypto::IssueCertificate(NodeKey().Public(), ca, nullptr, NodeKey()));
  crypto::IssueOptions leaf;
  leaf.common_name = "node-1";
  leaf.extended_key_usages = {crypto::ExtendedKeyUsage::kClientAuth};
  crypto::Certificate node =
      Must(crypto::IssueCertificate(NodeKey().Public(), leaf, &root, NodeKey()));
  return {node, root};
}

// `text` broken into lines of `width` characters, each ended by `eol`.
std::string Wrap(std::string_view text, std::size_t width, std::string_view eol) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += width) {
    out.append(text.substr(i, width));
    out.append(eol);
  }
  return out;
}

template <typename T>
::testing::AssertionResult FailsWith(const Result<T>& r, ErrorCode code,
                                     std::string_view fragment = "") {
  if (r) return ::testing::AssertionFailure() << "succeeded";
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

TEST(EstTest, ContentTypesAndPaths) {
  EXPECT_EQ(kPkcs10ContentType, "application/pkcs10");
  EXPECT_EQ(kCertsOnlyContentType, "application/pkcs7-mime; smime-type=certs-only");
  EXPECT_EQ(kCaCertsContentType, "application/pkcs7-mime");
  EXPECT_EQ(kTransferEncoding, "base64");
  EXPECT_EQ(kCaCertsPath, "/.well-known/est/cacerts");
  EXPECT_EQ(kSimpleEnrollPath, "/.well-known/est/simpleenroll");
  EXPECT_EQ(kSimpleReenrollPath, "/.well-known/est/simplereenroll");
}

TEST(EstTest, EnrollRequestBodyRoundTrip) {
  const std::string body = EncodeEnrollRequestBody(Request());
  ASSERT_TRUE(body.ends_with("\n"));
  std::size_t start = 0;
  for (std::size_t nl; (nl = body.find('\n', start)) != std::string::npos; start = nl + 1) {
    EXPECT_LE(nl - start, 64u);
    if (nl + 1 < body.size()) {
      EXPECT_EQ(nl - start, 64u);  // only the last line is shorter
    }
  }
  auto parsed = ParseEnrollRequestBody(body);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->ToDer(), Request().ToDer());
  EXPECT_EQ(parsed->CommonName(), "node 1");
  EXPECT_TRUE(parsed->VerifySignature());
}

TEST(EstTest, AcceptsBase64WithAnyLineBreaks) {
  const std::string text = crypto::Base64Encode(Request().ToDer());
  for (const std::string& body :
       {text, text + "\n", text + "\r\n", Wrap(text, 64, "\r\n"), Wrap(text, 76, "\n"),
        Wrap(text, 5, "\n"), Wrap(text, 3, "\r"), "\r\n" + text, Wrap(text, 1, "\r\n\r\n")}) {
    auto parsed = ParseEnrollRequestBody(body);
    ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << body;
    EXPECT_EQ(parsed->ToDer(), Request().ToDer());
  }
}

TEST(EstTest, RefusesOtherCharacters) {
  const std::string text = crypto::Base64Encode(Request().ToDer());
  for (std::string_view intruder :
       {std::string_view(" "), std::string_view("\t"), std::string_view("-"), std::string_view("_"),
        std::string_view("."), std::string_view("\0", 1), std::string_view("\xc3\xa9"),
        std::string_view("\v")}) {
    std::string body = text;
    body.insert(10, intruder);
    EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(body), ErrorCode::kInvalidInput,
                          "unexpected character at offset 10"))
        << intruder;
  }
  // base64url instead of base64.
  std::string url = text;
  for (char& c : url) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  if (url != text) {
    EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(url), ErrorCode::kInvalidInput));
  }
  // A PEM block is not an EST body.
  EXPECT_TRUE(
      FailsWith(ParseEnrollRequestBody(Request().ToPem()), ErrorCode::kInvalidInput, "not base64"));
}

TEST(EstTest, RefusesBadPaddingEmptyOversizedAndNonRequests) {
  std::string text = crypto::Base64Encode(Request().ToDer());
  if (text.ends_with("=")) {
    std::string unpadded = text;
    while (unpadded.ends_with("=")) unpadded.pop_back();
    EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(unpadded), ErrorCode::kInvalidInput));
  }
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody("AA==" + text), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(""), ErrorCode::kInvalidInput, "empty body"));
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody("\r\n\r\n"), ErrorCode::kInvalidInput, "empty"));
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(std::string(kMaxEnrollRequestBodyBytes + 1, 'A')),
                        ErrorCode::kLimit));
  // Valid base64 of a DER request beyond crypto's own limit.
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(crypto::Base64Encode(std::string(17 << 10, '\x30'))),
                        ErrorCode::kLimit));
  // Valid base64 of things that are not a request.
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(crypto::Base64Encode("garbage")),
                        ErrorCode::kInvalidInput, "enrollment request"));
  EXPECT_TRUE(FailsWith(ParseEnrollRequestBody(EncodeCertsOnlyBody(Chain()).value()),
                        ErrorCode::kInvalidInput));
}

TEST(EstTest, CertsOnlyBodyRoundTrip) {
  const std::vector<crypto::Certificate> chain = Chain();
  auto body = EncodeCertsOnlyBody(chain);
  ASSERT_TRUE(body) << body.error().message();
  EXPECT_TRUE(body->ends_with("\n"));
  EXPECT_EQ(body->find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n"),
            std::string::npos);
  auto parsed = ParseCertsOnlyBody(*body);
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].ToDer(), chain[0].ToDer());
  EXPECT_EQ((*parsed)[1].ToDer(), chain[1].ToDer());

  // Also on one line and with CRLF breaks.
  std::string one_line;
  for (char c : *body) {
    if (c != '\n') one_line.push_back(c);
  }
  EXPECT_TRUE(ParseCertsOnlyBody(one_line));
  EXPECT_TRUE(ParseCertsOnlyBody(Wrap(one_line, 76, "\r\n")));

  EXPECT_TRUE(FailsWith(EncodeCertsOnlyBody({}), ErrorCode::kInvalidInput));
  EXPECT_TRUE(FailsWith(ParseCertsOnlyBody(""), ErrorCode::kInvalidInput, "empty"));
  EXPECT_TRUE(FailsWith(ParseCertsOnlyBody("MII x"), ErrorCode::kInvalidInput, "offset 3"));
  EXPECT_TRUE(FailsWith(ParseCertsOnlyBody(EncodeEnrollRequestBody(Request())),
                        ErrorCode::kInvalidInput, "certs-only response"));
  EXPECT_TRUE(FailsWith(ParseCertsOnlyBody(std::string(kMaxCertsOnlyBodyBytes + 1, 'A')),
                        ErrorCode::kLimit));
}

TEST(EstTest, OpensslReadsTheCertsOnlyBody) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  testing::TempDir dir;
  Must(fs::WriteFileAtomic(dir / "body", EncodeCertsOnlyBody(Chain()).value(), 0600));
  const std::string command = "openssl base64 -d -in '" + (dir / "body") +
                              "' | openssl pkcs7 -inform DER -print_certs -noout > '" +
                              (dir / "out") + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << Must(fs::ReadFile(dir / "out"));
  const std::string out = Must(fs::ReadFile(dir / "out"));
  EXPECT_NE(out.find("subject=O = fogkeep, CN = node-1"), std::string::npos) << out;
  EXPECT_NE(out.find("subject=O = fogkeep, CN = fleet"), std::string::npos) << out;
}

}  // namespace
}  // namespace fogkeep::api::est
