#include "net/wire.h"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "core/log.h"

namespace fogkeep::net::wire {
namespace {

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

bool IsSafeValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

void ConfigureRequestParser(http::request_parser<http::empty_body>& parser,
                            const ParserLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  // Beast would refuse a Content-Length over its default 1 MB while parsing the header; each
  // route has its own limit, applied once the route is known.
  parser.body_limit(boost::none);
  parser.eager(false);
}

Status FillRequest(const http::request_header<>& header, Request& out) {
  const std::string_view method_name(header.method_string().data(), header.method_string().size());
  if (header.version() != 10 && header.version() != 11) {
    return Fail(ErrorCode::kInvalidInput, "unsupported HTTP version");
  }
  std::optional<Method> method = ParseMethod(method_name);
  if (!method) return Fail(ErrorCode::kInvalidInput, "unsupported method");
  out.method = *method;
  out.target.assign(header.target().data(), header.target().size());
  Target target = FK_TRY(ParseTarget(out.target));
  out.path = std::move(target.path);
  out.segments = std::move(target.segments);
  out.query = std::move(target.query);
  out.headers = FromFields(header);
  return {};
}

bool IsProtocolError(const boost::beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  // Ends of input are not protocol errors: the peer closed or stopped sending.
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_more && ec != http::error::need_buffer;
}

Error ReadError(const boost::beast::error_code& ec, std::string_view what) {
  const std::string prefix(what);
  if (ec == http::error::body_limit) {
    return Error(ErrorCode::kLimit, prefix + ": the body exceeds the limit of this endpoint");
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return Error(ErrorCode::kInvalidInput, prefix + ": the request header is too large");
  }
  if (ec == boost::beast::error::timeout) {
    return Error(ErrorCode::kUnavailable, prefix + ": timed out");
  }
  if (IsProtocolError(ec)) {
    return Error(ErrorCode::kInvalidInput, prefix + ": malformed HTTP: " + ec.message());
  }
  return Error(ErrorCode::kUnavailable, prefix + ": " + ec.message());
}

void CopyHeaders(const Headers& headers, http::fields& fields) {
  for (const auto& [name, value] : headers.fields()) {
    if (!IsToken(name) || !IsSafeValue(value)) {
      log::Warn("dropping a response header field with an unsafe name or value");
      continue;
    }
    fields.insert(name, value);
  }
}

Headers FromFields(const http::fields& fields) {
  Headers out;
  for (const auto& field : fields) {
    out.Add(std::string_view(field.name_string().data(), field.name_string().size()),
            std::string_view(field.value().data(), field.value().size()));
  }
  return out;
}

}  // namespace fogkeep::net::wire
