#include "net/stream.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <utility>

namespace fogkeep::net::detail {
namespace {

// Completes a type-erased handler on the stream's executor. Beast 1.81 requires
// blocking.never of a handler's associated executor, which any_completion_handler's executor
// does not offer. The stream's executor is the strand the waiting coroutine runs on, so
// completing there is what the original handler asked for.
template <class Handler>
class OnStreamExecutor {
 public:
  using executor_type = asio::any_io_executor;
  OnStreamExecutor(executor_type executor, Handler handler)
      : executor_(std::move(executor)), handler_(std::move(handler)) {}
  executor_type get_executor() const noexcept { return executor_; }
  template <class... Args>
  void operator()(Args&&... args) {
    std::move(handler_)(std::forward<Args>(args)...);
  }

 private:
  executor_type executor_;
  Handler handler_;
};

template <class Handler>
OnStreamExecutor<Handler> Bind(asio::any_io_executor executor, Handler handler) {
  return OnStreamExecutor<Handler>(std::move(executor), std::move(handler));
}

class TlsTransport final : public Stream {
 public:
  TlsTransport(beast::tcp_stream tcp, asio::ssl::context& context)
      : stream_(std::move(tcp), context) {}

  executor_type get_executor() override { return stream_.get_executor(); }
  void expires_after(std::chrono::steady_clock::duration d) override { lowest().expires_after(d); }
  void expires_never() override { lowest().expires_never(); }
  bool is_open() override { return lowest().socket().is_open(); }
  void close() override { lowest().close(); }
  void cancel() override { lowest().cancel(); }
  void shutdown_send() override {
    beast::error_code ignored;
    lowest().socket().shutdown(asio::socket_base::shutdown_send, ignored);
  }
  int native_handle() override { return lowest().socket().native_handle(); }
  void* native_ssl() override { return stream_.native_handle(); }

 protected:
  void ReadSome(asio::mutable_buffer buffer, IoHandler handler) override {
    stream_.async_read_some(buffer, Bind(get_executor(), std::move(handler)));
  }
  void WriteSome(WriteBuffers buffers, IoHandler handler) override {
    stream_.async_write_some(buffers, Bind(get_executor(), std::move(handler)));
  }
  void Handshake(bool server, DoneHandler handler) override {
    stream_.async_handshake(
        server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
        Bind(get_executor(), std::move(handler)));
  }
  void Shutdown(DoneHandler handler) override {
    stream_.async_shutdown(Bind(get_executor(), std::move(handler)));
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  beast::ssl_stream<beast::tcp_stream> stream_;
};

class UnixTransport final : public Stream {
 public:
  explicit UnixTransport(UnixSocketStream stream) : stream_(std::move(stream)) {}

  executor_type get_executor() override { return stream_.get_executor(); }
  void expires_after(std::chrono::steady_clock::duration d) override { stream_.expires_after(d); }
  void expires_never() override { stream_.expires_never(); }
  bool is_open() override { return stream_.socket().is_open(); }
  void close() override { stream_.close(); }
  void cancel() override { stream_.cancel(); }
  void shutdown_send() override {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::socket_base::shutdown_send, ignored);
  }
  int native_handle() override { return stream_.socket().native_handle(); }
  void* native_ssl() override { return nullptr; }

 protected:
  void ReadSome(asio::mutable_buffer buffer, IoHandler handler) override {
    stream_.async_read_some(buffer, Bind(get_executor(), std::move(handler)));
  }
  void WriteSome(WriteBuffers buffers, IoHandler handler) override {
    stream_.async_write_some(buffers, Bind(get_executor(), std::move(handler)));
  }
  // Nothing to negotiate: complete through the executor, never inside the initiation.
  void Handshake(bool /*server*/, DoneHandler handler) override {
    CompleteLater(std::move(handler));
  }
  void Shutdown(DoneHandler handler) override { CompleteLater(std::move(handler)); }

 private:
  void CompleteLater(DoneHandler handler) {
    asio::post(stream_.get_executor(), [handler = std::move(handler)]() mutable {
      std::move(handler)(beast::error_code());
    });
  }

  UnixSocketStream stream_;
};

}  // namespace

std::unique_ptr<Stream> MakeTlsStream(beast::tcp_stream tcp, asio::ssl::context& context) {
  return std::make_unique<TlsTransport>(std::move(tcp), context);
}

std::unique_ptr<Stream> MakeUnixStream(UnixSocketStream unix_stream) {
  return std::make_unique<UnixTransport>(std::move(unix_stream));
}

}  // namespace fogkeep::net::detail
