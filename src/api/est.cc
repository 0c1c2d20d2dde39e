#include "api/est.h"

#include "crypto/hash.h"
#include "crypto/pkcs7.h"

namespace fogkeep::api::est {
namespace {

constexpr std::size_t kLineLength = 64;

bool IsBase64Character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

// The bytes a base64 body carries. Line breaks are dropped wherever they are; any other
// character outside the alphabet is refused with its offset in the body, and padding rules
// are crypto::Base64Decode's (strict).
Result<std::string> DecodeBody(std::string_view body, std::size_t max_bytes) {
  if (body.size() > max_bytes) {
    return Fail(ErrorCode::kLimit, "body of " + std::to_string(body.size()) +
                                       " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  std::string text;
  text.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\r' || c == '\n') continue;
    if (!IsBase64Character(c)) {
      return Fail(ErrorCode::kInvalidInput,
                  "body is not base64: unexpected character at offset " + std::to_string(i));
    }
    text.push_back(c);
  }
  if (text.empty()) return Fail(ErrorCode::kInvalidInput, "empty body");
  return FK_TRY_CTX(crypto::Base64Decode(text), "body");
}

std::string EncodeBody(std::string_view der) {
  const std::string text = crypto::Base64Encode(der);
  std::string body;
  body.reserve(text.size() + text.size() / kLineLength + 1);
  for (std::size_t i = 0; i < text.size(); i += kLineLength) {
    body.append(text, i, kLineLength);
    body.push_back('\n');
  }
  return body;
}

}  // namespace

Result<crypto::CertificateRequest> ParseEnrollRequestBody(std::string_view body) {
  const std::string der =
      FK_TRY_CTX(DecodeBody(body, kMaxEnrollRequestBodyBytes), "enrollment request");
  return FK_TRY_CTX(crypto::CertificateRequest::FromDer(der), "enrollment request");
}

std::string EncodeEnrollRequestBody(const crypto::CertificateRequest& request) {
  return EncodeBody(request.ToDer());
}

Result<std::string> EncodeCertsOnlyBody(const std::vector<crypto::Certificate>& certificates) {
  return EncodeBody(FK_TRY(crypto::EncodeCertsOnly(certificates)));
}

Result<std::vector<crypto::Certificate>> ParseCertsOnlyBody(std::string_view body) {
  const std::string der =
      FK_TRY_CTX(DecodeBody(body, kMaxCertsOnlyBodyBytes), "certs-only response");
  return FK_TRY_CTX(crypto::DecodeCertsOnly(der), "certs-only response");
}

}  // namespace fogkeep::api::est
