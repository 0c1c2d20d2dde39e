// Fuzzes the server's request parsing path on hostile bytes: Beast's request parser configured
// exactly as the server configures it (wire::ConfigureRequestParser: header limit, no eager
// body), the translation into net::Request (wire::FillRequest: version, method, origin-form
// target, percent-decoding, query, header fields), routing with path parameters, and the body
// parser the matched route would use (buffered under its limit, or streamed through a bounded
// buffer). Invariants beyond "no crash": a routed request never carries a dot or encoded-slash
// segment, and a buffered body never exceeds its route's limit.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/router.h"
#include "net/wire.h"

namespace {

namespace http = boost::beast::http;
using namespace fogkeep;
using namespace fogkeep::net;

const Router& FuzzRouter() {
  static const Router* router = [] {
    auto* r = new Router();
    auto ok = [](Request&) -> Result<Response> { return Response::Text("ok"); };
    RouteOptions small;
    small.permission = "apps.write";
    small.max_body_bytes = 4096;
    RouteOptions streamed = small;
    streamed.body = BodyMode::kStreamed;
    streamed.max_body_bytes = 1 << 20;
    RouteOptions open;
    open.is_public = true;
    bool added = r->Add(Method::kGet, "/api/v1/apps", small, ok) &&
                 r->Add(Method::kGet, "/api/v1/apps/{id}", small, ok) &&
                 r->Add(Method::kPost, "/api/v1/apps/{id}/start", small, ok) &&
                 r->Add(Method::kPut, "/api/v1/apps/{id}/package", streamed, ok) &&
                 r->Add(Method::kPost, "/api/v1/apps", streamed, ok) &&
                 r->Add(Method::kGet, "/ui/{file...}", open, ok) &&
                 r->Add(Method::kGet, "/", open, ok);
    if (!added) std::abort();
    return r;
  }();
  return *router;
}

void CheckRouted(const Request& request) {
  for (const std::string& segment : request.segments) {
    if (segment == "." || segment == ".." || segment.find('/') != std::string::npos) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  http::request_parser<http::empty_body> head;
  wire::ConfigureRequestParser(head, wire::ParserLimits{});
  boost::beast::error_code ec;
  // The server offers whatever has arrived; with everything offered at once, need_more means
  // the header never completes.
  std::size_t used = head.put(boost::asio::buffer(input.data(), input.size()), ec);
  if (ec || !head.is_header_done()) return 0;
  input.remove_prefix(used);

  Request request;
  if (!wire::FillRequest(head.get(), request)) return 0;
  Router::Match match = FuzzRouter().Find(request.method, request.segments);
  if (match.route == nullptr) return 0;
  request.path_params = std::move(match.params);
  CheckRouted(request);
  const RouteOptions& route = match.route->options;
  const boost::optional<std::uint64_t> declared = head.content_length();
  if (head.is_done() || (declared && *declared > route.max_body_bytes)) return 0;

  if (route.body == BodyMode::kBuffered) {
    http::request_parser<http::string_body> full(std::move(head));
    full.body_limit(route.max_body_bytes);
    while (!full.is_done() && !input.empty()) {
      std::size_t n = full.put(boost::asio::buffer(input.data(), input.size()), ec);
      if (ec == http::error::need_more) ec = {};
      if (ec || n == 0) break;
      input.remove_prefix(n);
    }
    if (!ec && !full.is_done()) full.put_eof(ec);
    if (full.get().body().size() > route.max_body_bytes) std::abort();
    return 0;
  }

  http::request_parser<http::buffer_body> body(std::move(head));
  body.body_limit(route.max_body_bytes);
  char chunk[4096];
  std::uint64_t total = 0;
  while (!body.is_done() && !input.empty()) {
    body.get().body().data = chunk;
    body.get().body().size = sizeof(chunk);
    std::size_t n = body.put(boost::asio::buffer(input.data(), input.size()), ec);
    if (ec == http::error::need_buffer || ec == http::error::need_more) ec = {};
    if (ec) break;
    const std::size_t got = sizeof(chunk) - body.get().body().size;
    total += got;
    if (n == 0 && got == 0) break;
    input.remove_prefix(n);
  }
  if (total > route.max_body_bytes) std::abort();
  return 0;
}
