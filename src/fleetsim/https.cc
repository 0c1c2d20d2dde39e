#include "fleetsim/https.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

#include <charconv>
#include <exception>

namespace fogkeep::fleetsim {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// Answers the simulator reads: desired states and error bodies. A desired state of many apps
// with policies stays far below this.
constexpr std::uint64_t kMaxAnswerBytes = 8 << 20;
constexpr std::uint32_t kMaxAnswerHeaderBytes = 64 << 10;

std::string HostHeader(const DirectorEndpoint& where) {
  const bool v6 = where.host.find(':') != std::string::npos;
  return (v6 ? "[" + where.host + "]" : where.host) + ":" + std::to_string(where.port);
}

}  // namespace

Result<DirectorEndpoint> ParseDirectorUrl(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  auto invalid = [url](std::string_view why) {
    return Fail(ErrorCode::kInvalidInput,
                "--director " + std::string(url) + ": " + std::string(why));
  };
  if (url.substr(0, kScheme.size()) != kScheme) return invalid("must start with https://");
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return invalid("must be https://host[:port] without a path or user");
  }
  DirectorEndpoint where;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return invalid("unterminated [IPv6 address]");
    where.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after the address");
      port_text = after.substr(1);
      if (port_text.empty()) return invalid("empty port");
    }
  } else {
    const std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos) {
      return invalid("an IPv6 address must be written in brackets");
    }
    where.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return invalid("empty port");
    }
  }
  if (where.host.empty()) return invalid("no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return invalid("the port must be a number from 1 to 65535");
    }
    where.port = static_cast<std::uint16_t>(port);
  }
  return where;
}

Status Resolve(DirectorEndpoint& where) {
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto results = resolver.resolve(where.host, std::to_string(where.port), ec);
  if (ec || results.empty()) {
    return Fail(ErrorCode::kUnavailable,
                "cannot resolve " + where.host + ": " + (ec ? ec.message() : "no address"));
  }
  where.addresses.clear();
  for (const auto& entry : results) where.addresses.push_back(entry.endpoint());
  return {};
}

Result<std::unique_ptr<TlsClient>> TlsClient::Create(const crypto::Certificate& ca) {
  std::unique_ptr<TlsClient> client;
  try {
    client.reset(new TlsClient());
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("creating the TLS context: ") + e.what());
  }
  crypto::TrustStore trust;
  trust.AddAnchor(ca);
  FK_TRY_CTX(
      crypto::ConfigureClientTls(client->context_.native_handle(),
                                 crypto::ClientTlsSettings{.server_trust = std::move(trust)}),
      "TLS configuration");
  return client;
}

std::string AnswerMessage(const HttpAnswer& answer) {
  std::string message = "HTTP " + std::to_string(answer.status);
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(answer.body, ec);
  if (ec || !doc.is_object()) return message;
  const boost::json::value* error = doc.as_object().if_contains("error");
  if (error == nullptr || !error->is_object()) return message;
  const boost::json::value* text = error->as_object().if_contains("message");
  if (text != nullptr && text->is_string()) {
    message += ": " + std::string(text->as_string());
  }
  return message;
}

HttpsConnection::HttpsConnection(asio::any_io_executor executor, const DirectorEndpoint& where,
                                 TlsClient& tls, const crypto::TlsIdentity* identity)
    : executor_(std::move(executor)),
      where_(where),
      tls_(tls),
      identity_(identity),
      host_header_(HostHeader(where)) {}

std::string_view HttpsConnection::Kind(const Error& error) {
  const std::string& message = error.message();
  return std::string_view(message).substr(0, message.find(':'));
}

void HttpsConnection::Close() {
  if (!stream_) return;
  beast::get_lowest_layer(*stream_).close();
  stream_.reset();
  buffer_.clear();
}

void HttpsConnection::Cancel() {
  cancelled_ = true;
  if (stream_) beast::get_lowest_layer(*stream_).close();
}

asio::awaitable<Status> HttpsConnection::Connect(std::chrono::milliseconds timeout) {
  Close();
  if (cancelled_) co_return Fail(ErrorCode::kUnavailable, "connect: cancelled");
  try {
    stream_.emplace(executor_, tls_.context());
  } catch (const std::exception& e) {
    co_return Fail(ErrorCode::kInternal,
                   std::string("connect: creating a TLS stream: ") + e.what());
  }
  void* ssl = stream_->native_handle();
  if (identity_ != nullptr) {
    if (Status used = crypto::UseConnectionIdentity(ssl, *identity_); !used) {
      Close();
      co_return Fail(used.error().With("connect"));
    }
  }
  if (Status named = crypto::SetServerNameIndication(ssl, where_.host); !named) {
    Close();
    co_return Fail(named.error().With("connect"));
  }
  beast::tcp_stream& socket = beast::get_lowest_layer(*stream_);
  socket.expires_after(timeout);
  auto [connect_ec, endpoint] = co_await socket.async_connect(where_.addresses, kAsTuple);
  if (connect_ec) {
    Close();
    co_return Fail(ErrorCode::kUnavailable,
                   "connect: " + host_header_ + ": " +
                       (connect_ec == beast::error::timeout ? "timed out" : connect_ec.message()));
  }
  boost::system::error_code ignored;
  socket.socket().set_option(tcp::no_delay(true), ignored);
  auto [handshake_ec] = co_await stream_->async_handshake(asio::ssl::stream_base::client, kAsTuple);
  if (handshake_ec) {
    std::string reason = crypto::PeerVerificationError(ssl).value_or(
        handshake_ec == beast::error::timeout ? "timed out" : handshake_ec.message());
    Close();
    co_return Fail(ErrorCode::kUnavailable, "TLS handshake: " + reason);
  }
  const std::optional<crypto::Certificate> director = crypto::PeerCertificate(ssl);
  if (!director) {
    Close();
    co_return Fail(ErrorCode::kIntegrity, "TLS handshake: the director sent no certificate");
  }
  if (Status named = crypto::CheckCertificateHost(*director, where_.host); !named) {
    Close();
    co_return Fail(named.error().With("TLS handshake"));
  }
  ++handshakes_;
  co_return Status();
}

asio::awaitable<Result<HttpAnswer>> HttpsConnection::Once(const HttpCall& call,
                                                          std::chrono::milliseconds timeout,
                                                          bool* retry) {
  *retry = false;
  const bool reused = stream_.has_value();
  if (reused) {
    beast::get_lowest_layer(*stream_).expires_after(timeout);
  } else if (Status connected = co_await Connect(timeout); !connected) {
    co_return std::unexpected(std::move(connected).error());
  }

  http::request<http::string_body> request(
      call.verb == Verb::kGet ? http::verb::get : http::verb::post, call.target, 11);
  request.set(http::field::host, host_header_);
  request.set(http::field::user_agent, "fogkeep-fleetsim");
  for (const auto& [name, value] : call.headers) request.set(name, value);
  if (call.verb == Verb::kPost) request.body() = call.body;
  request.keep_alive(!call.close);
  request.prepare_payload();
  auto [write_ec, written] = co_await http::async_write(*stream_, request, kAsTuple);
  if (write_ec) {
    Close();
    *retry = reused && write_ec != beast::error::timeout;
    co_return Fail(ErrorCode::kUnavailable,
                   "request: " + (write_ec == beast::error::timeout ? std::string("timed out")
                                                                    : write_ec.message()));
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  parser.header_limit(kMaxAnswerHeaderBytes);
  auto [read_ec, read] = co_await http::async_read(*stream_, buffer_, parser, kAsTuple);
  if (read_ec) {
    const bool nothing = !parser.got_some();
    Close();
    *retry = reused && nothing && read_ec != beast::error::timeout;
    co_return Fail(ErrorCode::kUnavailable,
                   "answer: " + (read_ec == beast::error::timeout ? std::string("timed out")
                                                                  : read_ec.message()));
  }
  http::response<http::string_body>& response = parser.get();
  HttpAnswer answer{.status = response.result_int()};
  if (auto etag = response.find(http::field::etag); etag != response.end()) {
    answer.etag = std::string(etag->value());
  }
  answer.body = std::move(response.body());
  if (call.close || !response.keep_alive()) Close();
  co_return answer;
}

asio::awaitable<Result<HttpAnswer>> HttpsConnection::Exchange(const HttpCall& call,
                                                              std::chrono::milliseconds timeout) {
  bool retry = false;
  Result<HttpAnswer> first = co_await Once(call, timeout, &retry);
  if (first || !retry) co_return first;
  co_return co_await Once(call, timeout, &retry);
}

}  // namespace fogkeep::fleetsim
