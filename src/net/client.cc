#include "net/client.h"

#include <poll.h>
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <exception>
#include <utility>

#include "crypto/hash.h"
#include "net/stream.h"
#include "net/wire.h"

namespace fogkeep::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using detail::Stream;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kUploadChunkBytes = 64 * 1024;
constexpr std::size_t kErrorBodyBytes = 64 * 1024;
constexpr std::string_view kUserAgent = "fogkeep/0.1";

// What one call sends and how it wants the answer.
struct Outgoing {
  Method method = Method::kGet;
  std::string_view target;
  const Headers* headers = nullptr;
  std::string_view body;                // when source is null
  BodySource* source = nullptr;         // streamed upload
  std::optional<std::uint64_t> length;  // of `source`; nullopt: chunked
  const ChunkCallback* on_chunk = nullptr;
  std::chrono::milliseconds idle_timeout{0};  // downloads; zero: none
  bool replayable = true;                     // may be sent again on a fresh connection
};

// Where in an exchange a failure happened: a retry is safe only if the server cannot have seen
// a complete request or produced any answer.
struct ExchangeFailure {
  bool before_answer = false;
};

Status CheckTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "request target must start with '/'");
  }
  for (char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return Fail(ErrorCode::kInvalidInput, "request target must be percent-encoded visible ASCII");
    }
  }
  return {};
}

std::string NormalizeFingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// A kept-alive connection is reused only if nothing is waiting on it: readable means the
// server closed it (or sent something unasked), and either way it is not fit for a request.
bool IsQuiet(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return poll(&p, 1, 0) == 0;
}

template <class Message>
void CopyHeadersIn(const Headers* headers, Message& message) {
  if (headers != nullptr) wire::CopyHeaders(*headers, message);
}

Response ToResponse(const http::response_header<>& header) {
  Response response;
  response.status = static_cast<int>(header.result_int());
  response.headers = wire::FromFields(header);
  return response;
}

}  // namespace

struct Client::Impl {
  enum class Kind { kTls, kUnix };

  Result<Response> Perform(const Outgoing& out);
  asio::awaitable<Result<Response>> PerformAsync(const Outgoing& out);
  asio::awaitable<Status> Connect();
  asio::awaitable<Result<Response>> Exchange(const Outgoing& out, ExchangeFailure* failure);
  asio::awaitable<Result<Response>> ReadAnswer(const Outgoing& out,
                                               http::response_parser<http::empty_body>& head);
  asio::awaitable<Status> SendBody(const Outgoing& out);
  bool Connected() const { return stream && stream->is_open(); }
  void Drop();
  // Zero: no deadline.
  void SetDeadline(std::chrono::milliseconds timeout) {
    if (timeout.count() > 0) {
      stream->expires_after(timeout);
    } else {
      stream->expires_never();
    }
  }
  Status VerifyServer();

  // Constant after construction.
  Kind kind = Kind::kTls;
  std::string host;
  std::uint16_t port = 0;
  std::string socket_path;
  ClientTlsOptions tls;
  ClientOptions options;

  asio::io_context io;
  std::optional<asio::ssl::context> ssl_context;
  std::unique_ptr<Stream> stream;  // the current connection, if any
  beast::flat_buffer buffer;
  std::optional<crypto::Certificate> server_certificate;
};

void Client::Impl::Drop() {
  stream.reset();
  buffer.clear();
}

Status Client::Impl::VerifyServer() {
  server_certificate = crypto::PeerCertificate(stream->native_ssl());
  if (tls.insecure && !tls.trust && !tls.pinned_fingerprint) return {};
  if (!server_certificate) {
    return Fail(ErrorCode::kIntegrity, "the server presented no certificate");
  }
  const std::string& name = tls.server_name.empty() ? host : tls.server_name;
  if (tls.trust) FK_TRY(crypto::CheckCertificateHost(*server_certificate, name));
  if (tls.pinned_fingerprint) {
    const std::string presented = server_certificate->Fingerprint();
    if (presented != NormalizeFingerprint(*tls.pinned_fingerprint)) {
      return Fail(ErrorCode::kIntegrity, "the server certificate fingerprint " + presented +
                                             " does not match the pinned one");
    }
  }
  return {};
}

asio::awaitable<Status> Client::Impl::Connect() {
  Drop();
  if (kind == Kind::kUnix) {
    detail::UnixSocketStream unix_stream(io);
    unix_stream.expires_after(options.connect_timeout);
    auto [ec] = co_await unix_stream.async_connect(local::endpoint(socket_path), kAsTuple);
    if (ec) {
      co_return Fail(ErrorCode::kUnavailable, "connect to " + socket_path + ": " + ec.message());
    }
    stream = detail::MakeUnixStream(std::move(unix_stream));
    co_return Status{};
  }

  const std::string where = host + ":" + std::to_string(port);
  tcp::resolver resolver(io);
  auto [resolve_ec, endpoints] =
      co_await resolver.async_resolve(host, std::to_string(port), kAsTuple);
  if (resolve_ec) {
    co_return Fail(ErrorCode::kUnavailable, "resolve " + host + ": " + resolve_ec.message());
  }
  beast::tcp_stream connection(io);
  connection.expires_after(options.connect_timeout);
  auto [connect_ec, endpoint] = co_await connection.async_connect(endpoints, kAsTuple);
  if (connect_ec) {
    co_return Fail(ErrorCode::kUnavailable, "connect to " + where + ": " + connect_ec.message());
  }
  boost::system::error_code ignored;
  connection.socket().set_option(tcp::no_delay(true), ignored);
  stream = detail::MakeTlsStream(std::move(connection), *ssl_context);
  const std::string& name = tls.server_name.empty() ? host : tls.server_name;
  Status sni = crypto::SetServerNameIndication(stream->native_ssl(), name);
  if (!sni) {
    Drop();
    co_return sni;
  }
  stream->expires_after(options.connect_timeout);
  auto [handshake_ec] = co_await stream->async_handshake(/*server=*/false, kAsTuple);
  if (handshake_ec) {
    std::optional<std::string> refusal;
    if (tls.trust) refusal = crypto::PeerVerificationError(stream->native_ssl());
    Drop();
    if (refusal) {
      co_return Fail(ErrorCode::kIntegrity,
                     "TLS with " + where + ": server certificate refused: " + *refusal);
    }
    co_return Fail(ErrorCode::kUnavailable,
                   "TLS handshake with " + where + ": " + handshake_ec.message());
  }
  Status verified = VerifyServer();
  if (!verified) {
    Drop();
    co_return Fail(std::move(verified).error().With("TLS with " + where));
  }
  co_return Status{};
}

asio::awaitable<Status> Client::Impl::SendBody(const Outgoing& out) {
  std::string chunk(kUploadChunkBytes, '\0');
  std::uint64_t sent = 0;
  for (;;) {
    Result<std::size_t> n = out.source->Read(chunk.data(), chunk.size());
    if (!n) co_return Fail(std::move(n).error().With("reading the upload"));
    if (*n == 0) break;
    sent += *n;
    if (out.length && sent > *out.length) {
      co_return Fail(ErrorCode::kInvalidInput, "the upload is longer than its declared " +
                                                   std::to_string(*out.length) + " bytes");
    }
    SetDeadline(options.timeout);
    boost::system::error_code ec;
    if (out.length) {
      auto [write_ec, written] =
          co_await asio::async_write(*stream, asio::buffer(chunk.data(), *n), kAsTuple);
      ec = write_ec;
    } else {
      auto [write_ec, written] = co_await asio::async_write(
          *stream, http::make_chunk(asio::buffer(chunk.data(), *n)), kAsTuple);
      ec = write_ec;
    }
    if (ec) co_return Fail(ErrorCode::kUnavailable, "sending the upload: " + ec.message());
  }
  if (out.length && sent != *out.length) {
    co_return Fail(ErrorCode::kInvalidInput, "the upload ended after " + std::to_string(sent) +
                                                 " of its declared " + std::to_string(*out.length) +
                                                 " bytes");
  }
  if (!out.length) {
    SetDeadline(options.timeout);
    auto [ec, written] = co_await asio::async_write(*stream, http::make_chunk_last(), kAsTuple);
    if (ec) co_return Fail(ErrorCode::kUnavailable, "sending the upload: " + ec.message());
  }
  co_return Status{};
}

asio::awaitable<Result<Response>> Client::Impl::ReadAnswer(
    const Outgoing& out, http::response_parser<http::empty_body>& head) {
  Response response = ToResponse(head.get());
  const bool keep_alive = head.get().keep_alive();
  const bool streamed = out.on_chunk != nullptr && response.status >= 200 && response.status < 300;
  if (head.is_done()) {
    if (!keep_alive) Drop();
    co_return response;
  }
  if (!streamed) {
    http::response_parser<http::string_body> full(std::move(head));
    full.body_limit(out.on_chunk != nullptr ? kErrorBodyBytes : options.max_response_bytes);
    if (out.on_chunk != nullptr || out.source != nullptr) SetDeadline(options.timeout);
    auto [ec, n] = co_await http::async_read(*stream, buffer, full, kAsTuple);
    if (ec) {
      Drop();
      co_return Fail(wire::ReadError(ec, "reading the response body"));
    }
    response.body = std::move(full.get().body());
    if (!keep_alive) Drop();
    co_return response;
  }

  http::response_parser<http::buffer_body> body(std::move(head));
  body.body_limit(boost::none);  // the callback decides what is too much
  std::string chunk(kUploadChunkBytes, '\0');
  while (!body.is_done()) {
    body.get().body().data = chunk.data();
    body.get().body().size = chunk.size();
    SetDeadline(out.idle_timeout);
    // read_some: hand over what has arrived (a followed log line) instead of waiting for a
    // full buffer.
    auto [ec, n] = co_await http::async_read_some(*stream, buffer, body, kAsTuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      Drop();
      co_return Fail(wire::ReadError(ec, "reading the response body"));
    }
    const std::size_t got = chunk.size() - body.get().body().size;
    if (got > 0) {
      Status accepted = (*out.on_chunk)(std::string_view(chunk.data(), got));
      if (!accepted) {
        Drop();
        co_return Fail(std::move(accepted).error());
      }
    }
  }
  if (!keep_alive) Drop();
  co_return response;
}

asio::awaitable<Result<Response>> Client::Impl::Exchange(const Outgoing& out,
                                                         ExchangeFailure* failure) {
  const std::string host_header = kind == Kind::kUnix ? std::string("localhost") : host;
  const http::verb verb = http::string_to_verb(
      beast::string_view(MethodName(out.method).data(), MethodName(out.method).size()));
  const beast::string_view target(out.target.data(), out.target.size());

  // Buffered responses share one deadline for the whole exchange.
  SetDeadline(options.timeout);
  failure->before_answer = true;
  if (out.source == nullptr) {
    http::request<http::string_body> request(verb, target, 11);
    CopyHeadersIn(out.headers, request);
    request.set(http::field::host, host_header);
    request.set(http::field::user_agent, kUserAgent);
    request.body().assign(out.body.data(), out.body.size());
    request.prepare_payload();
    auto [ec, n] = co_await http::async_write(*stream, request, kAsTuple);
    if (ec) co_return Fail(ErrorCode::kUnavailable, "sending the request: " + ec.message());
  } else {
    http::request<http::empty_body> request(verb, target, 11);
    CopyHeadersIn(out.headers, request);
    request.set(http::field::host, host_header);
    request.set(http::field::user_agent, kUserAgent);
    request.set(http::field::expect, "100-continue");
    if (out.length) {
      request.content_length(*out.length);
    } else {
      request.chunked(true);
    }
    http::request_serializer<http::empty_body> serializer(request);
    auto [ec, n] = co_await http::async_write_header(*stream, serializer, kAsTuple);
    if (ec) co_return Fail(ErrorCode::kUnavailable, "sending the request: " + ec.message());
  }

  http::response_parser<http::empty_body> head;
  head.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  head.body_limit(boost::none);
  head.skip(out.method == Method::kHead);
  if (out.source != nullptr) SetDeadline(options.timeout);
  auto [ec, n] = co_await http::async_read_header(*stream, buffer, head, kAsTuple);
  if (ec) {
    failure->before_answer = ec == http::error::end_of_stream ||
                             ec == asio::error::connection_reset || ec == asio::error::eof;
    co_return Fail(wire::ReadError(ec, "reading the response"));
  }
  failure->before_answer = false;

  if (out.source != nullptr && head.get().result() == http::status::continue_) {
    Status sent = co_await SendBody(out);
    if (!sent) {
      // The server may have answered and closed while the body was still going out.
      Drop();
      co_return Fail(std::move(sent).error());
    }
    http::response_parser<http::empty_body> final_head;
    final_head.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    final_head.body_limit(boost::none);
    SetDeadline(options.timeout);
    auto [final_ec, final_n] =
        co_await http::async_read_header(*stream, buffer, final_head, kAsTuple);
    if (final_ec) co_return Fail(wire::ReadError(final_ec, "reading the response"));
    Result<Response> answer = co_await ReadAnswer(out, final_head);
    co_return answer;
  }
  Result<Response> answer = co_await ReadAnswer(out, head);
  // Refused before the body was sent: the server closes such connections.
  if (out.source != nullptr) Drop();
  co_return answer;
}

asio::awaitable<Result<Response>> Client::Impl::PerformAsync(const Outgoing& out) {
  for (int attempt = 0;; ++attempt) {
    const bool reused = Connected() && IsQuiet(stream->native_handle());
    if (!reused) {
      Status connected = co_await Connect();
      if (!connected) co_return Fail(std::move(connected).error());
    }
    ExchangeFailure failure;
    Result<Response> result = co_await Exchange(out, &failure);
    if (!result) {
      Drop();
      if (reused && failure.before_answer && out.replayable && attempt == 0 &&
          result.error().code() == ErrorCode::kUnavailable) {
        continue;
      }
    }
    co_return result;
  }
}

Result<Response> Client::Impl::Perform(const Outgoing& out) {
  FK_TRY(CheckTarget(out.target));
  std::optional<Result<Response>> outcome;
  asio::co_spawn(io, PerformAsync(out), [&outcome](std::exception_ptr e, Result<Response> r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        outcome = Fail(ErrorCode::kInternal, std::string("HTTP client: ") + ex.what());
      } catch (...) {
        outcome = Fail(ErrorCode::kInternal, "HTTP client: unknown exception");
      }
      return;
    }
    outcome = std::move(r);
  });
  io.restart();
  try {
    io.run();
  } catch (const std::exception& e) {
    Drop();
    return Fail(ErrorCode::kInternal, std::string("HTTP client: ") + e.what());
  }
  if (!outcome) return Fail(ErrorCode::kInternal, "HTTP client: the exchange did not finish");
  return std::move(*outcome);
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Https(std::string host, std::uint16_t port,
                                              ClientTlsOptions tls, ClientOptions options) {
  if (!tls.trust && !tls.pinned_fingerprint && !tls.insecure) {
    return Fail(ErrorCode::kInvalidInput,
                "no way to verify the server: give a trust store, a pinned fingerprint, or "
                "ask for an insecure connection explicitly");
  }
  if (tls.pinned_fingerprint) {
    const std::string pin = NormalizeFingerprint(*tls.pinned_fingerprint);
    if (pin.size() != 64 || pin.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput, "a pinned fingerprint is 64 hex digits (SHA-256)");
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->kind = Impl::Kind::kTls;
  impl->host = std::move(host);
  impl->port = port;
  impl->options = options;
  try {
    impl->ssl_context.emplace(asio::ssl::context::tls_client);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("creating the TLS context: ") + e.what());
  }
  crypto::ClientTlsSettings settings;
  settings.server_trust = tls.trust;
  settings.identity = tls.identity;
  FK_TRY_CTX(crypto::ConfigureClientTls(impl->ssl_context->native_handle(), settings),
             "TLS configuration");
  impl->tls = std::move(tls);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<std::unique_ptr<Client>> Client::Unix(std::string socket_path, ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->kind = Impl::Kind::kUnix;
  impl->socket_path = std::move(socket_path);
  impl->options = options;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<Response> Client::Request(Method method, std::string_view target, const Headers& headers,
                                 std::string_view body) {
  Outgoing out;
  out.method = method;
  out.target = target;
  out.headers = &headers;
  out.body = body;
  return impl_->Perform(out);
}

Result<Response> Client::UploadFile(Method method, std::string_view target, const Headers& headers,
                                    const std::string& path) {
  // A small adapter: the file is read as it is sent, never held in memory.
  class FileBody : public BodySource {
   public:
    explicit FileBody(std::FILE* file) : file_(file) {}
    ~FileBody() override { std::fclose(file_); }
    Result<std::size_t> Read(char* buf, std::size_t size) override {
      const std::size_t n = std::fread(buf, 1, size, file_);
      if (n == 0 && std::ferror(file_)) return FailErrno("read upload file", errno);
      return n;
    }

   private:
    std::FILE* file_;
  };
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr) return FailErrno("open " + path, errno);
  FileBody body(file);
  struct stat st {};
  if (fstat(fileno(file), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kInvalidInput, path + " is not a file");
  return Upload(method, target, headers, body, static_cast<std::uint64_t>(st.st_size));
}

Result<Response> Client::Upload(Method method, std::string_view target, const Headers& headers,
                                BodySource& body, std::optional<std::uint64_t> length) {
  Outgoing out;
  out.method = method;
  out.target = target;
  out.headers = &headers;
  out.source = &body;
  out.length = length;
  out.replayable = false;
  return impl_->Perform(out);
}

Result<Response> Client::Download(Method method, std::string_view target, const Headers& headers,
                                  const ChunkCallback& on_chunk,
                                  std::chrono::milliseconds idle_timeout) {
  Outgoing out;
  out.method = method;
  out.target = target;
  out.headers = &headers;
  out.on_chunk = &on_chunk;
  out.idle_timeout = idle_timeout;
  return impl_->Perform(out);
}

std::optional<crypto::Certificate> Client::server_certificate() const {
  return impl_->server_certificate;
}

void Client::Close() { impl_->Drop(); }

Result<HttpsEndpoint> ParseHttpsUrl(std::string_view url, std::uint16_t default_port,
                                    std::string_view what) {
  const std::string name(what);
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) {
    return Fail(ErrorCode::kInvalidInput,
                name + " must be an https:// URL (https://host:port), not " + std::string(url));
  }
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput, name + " must not carry a path: " + std::string(url));
  }
  HttpsEndpoint out{.port = default_port};
  std::string_view port_text;
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidInput, name + ": unterminated [IPv6] address");
    }
    out.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return Fail(ErrorCode::kInvalidInput, name + ": bad port");
      port_text = rest.substr(close + 2);
    }
  } else {
    const std::size_t colon = rest.rfind(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (out.host.empty()) return Fail(ErrorCode::kInvalidInput, name + ": missing host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return Fail(ErrorCode::kInvalidInput, name + ": bad port " + std::string(port_text));
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

}  // namespace fogkeep::net
