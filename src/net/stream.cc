#include "net/stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>
#include <vector>

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

using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// Largest TLS record payload: small buffers of one gathered write are sent as one record.
constexpr std::size_t kRecordBytes = 16 * 1024;

// A BIO on the socket's descriptor. Not OpenSSL's socket BIO: that one writes with write(),
// which raises SIGPIPE when the peer has reset, and a library must not rely on its process
// ignoring the signal. `data` points at the descriptor, set to -1 when the socket closes, so
// a descriptor number the kernel has since given to another connection is never touched.
int SocketBioRead(BIO* bio, char* out, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n =
      ::recv(*static_cast<const int*>(BIO_get_data(bio)), out, static_cast<std::size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(n);
}

int SocketBioWrite(BIO* bio, const char* in, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(*static_cast<const int*>(BIO_get_data(bio)), in,
                           static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

// Records go straight to the socket: there is nothing to flush.
long SocketBioCtrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

// Built once, kept for the process.
const BIO_METHOD* SocketBioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fogkeep socket");
    if (m != nullptr) {
      BIO_meth_set_read(m, SocketBioRead);
      BIO_meth_set_write(m, SocketBioWrite);
      BIO_meth_set_ctrl(m, SocketBioCtrl);
    }
    return m;
  }();
  return method;
}

// What one call into OpenSSL came to: done (with an error or a byte count), or it must wait
// until the socket can be read or written.
enum class Want { kNothing, kRead, kWrite };
struct Attempt {
  Want want = Want::kNothing;
  beast::error_code ec;
  std::size_t bytes = 0;
};

// The state of a TLS connection that outlives the stream while an operation is pending: each
// pending handler holds it, so a timer or a wait that completes after the stream is gone
// finds it still there.
struct TlsCore {
  // The deadline timer of one direction. `generation` tells a timer that fired for an
  // operation that has ended since apart from one still waiting.
  struct Side {
    explicit Side(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    std::uint64_t generation = 0;
    bool timed_out = false;
  };

  TlsCore(tcp::socket s, asio::ssl::context& context)
      : socket(std::move(s)),
        fd(socket.native_handle()),
        reader(socket.get_executor()),
        writer(socket.get_executor()) {
    beast::error_code ignored;
    socket.non_blocking(true, ignored);
    ssl = SSL_new(context.native_handle());
    BIO* bio = SocketBioMethod() != nullptr ? BIO_new(SocketBioMethod()) : nullptr;
    if (ssl == nullptr || bio == nullptr) {
      BIO_free(bio);
      return;  // every operation fails with no_memory
    }
    BIO_set_data(bio, &fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    // Buffers are released when empty (idle connections hold none); a partial write reports
    // what went, and may be retried from another buffer holding the same bytes.
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  ~TlsCore() { SSL_free(ssl); }
  TlsCore(const TlsCore&) = delete;
  TlsCore& operator=(const TlsCore&) = delete;

  void Close() {
    fd = -1;
    beast::error_code ignored;
    socket.close(ignored);
    reader.timer.cancel();
    writer.timer.cancel();
  }

  // Calls into OpenSSL once. `call` returns SSL's result and the bytes it moved.
  template <class Call>
  Attempt Try(Call call) {
    if (ssl == nullptr) return {.ec = asio::error::no_memory};
    if (fd < 0) return {.ec = asio::error::bad_descriptor};
    ERR_clear_error();
    errno = 0;
    const auto [result, bytes] = call();
    const int saved_errno = errno;
    if (result == 1) return {.bytes = bytes};
    switch (SSL_get_error(ssl, result)) {
      case SSL_ERROR_WANT_READ:
        return {.want = Want::kRead};
      case SSL_ERROR_WANT_WRITE:
        return {.want = Want::kWrite};
      case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
        return {.ec = asio::error::eof};
      case SSL_ERROR_SYSCALL:
        if (const unsigned long e = ERR_get_error(); e != 0) return {.ec = SslError(e)};
        if (saved_errno != 0) return {.ec = {saved_errno, boost::system::system_category()}};
        return {.ec = asio::ssl::error::stream_truncated};
      default:
        return {.ec = SslError(ERR_get_error())};
    }
  }

  static beast::error_code SslError(unsigned long e) {
    // A failure OpenSSL did not explain must still fail: a read that "succeeded" with no
    // bytes would be retried forever.
    if (e == 0) return asio::ssl::error::unspecified_system_error;
    // A TCP end without close_notify: Asio's name for it, which callers already know.
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      return asio::ssl::error::stream_truncated;
    }
    return {static_cast<int>(e), asio::error::get_ssl_category()};
  }

  Attempt Read(asio::mutable_buffer buffer) {
    if (buffer.size() == 0) return {};
    return Try([&] {
      std::size_t n = 0;
      const int result = SSL_read_ex(ssl, buffer.data(), buffer.size(), &n);
      return std::pair{result, n};
    });
  }

  // Sends the first buffer alone when it fills a record or stands alone; otherwise gathers
  // the buffers (a response's header and a small body) into one record. A retry after
  // WANT_WRITE gathers the same bytes again, which SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows.
  Attempt Write(const WriteBuffers& buffers) {
    const asio::const_buffer first = buffers[0];
    if (first.size() == 0) return {};
    std::vector<char> gathered;
    const void* data = first.data();
    std::size_t size = first.size();
    if (first.size() < kRecordBytes && buffers[1].size() > 0) {
      std::size_t total = 0;
      for (const asio::const_buffer& b : buffers) total += b.size();
      gathered.reserve(std::min(total, kRecordBytes));
      for (const asio::const_buffer& b : buffers) {
        const std::size_t take = std::min(b.size(), kRecordBytes - gathered.size());
        const char* bytes = static_cast<const char*>(b.data());
        gathered.insert(gathered.end(), bytes, bytes + take);
        if (gathered.size() == kRecordBytes) break;
      }
      data = gathered.data();
      size = gathered.size();
    }
    return Try([&] {
      std::size_t n = 0;
      const int result = SSL_write_ex(ssl, data, size, &n);
      return std::pair{result, n};
    });
  }

  Attempt Handshake() {
    return Try([&] { return std::pair{SSL_do_handshake(ssl), std::size_t{0}}; });
  }

  // Sends close_notify, then waits for the peer's: closing with its close_notify unread
  // would make the kernel answer with a reset, which can destroy the last response in
  // flight.
  Attempt Shutdown() {
    return Try([&] {
      int result = SSL_shutdown(ssl);
      if (result == 0) result = SSL_shutdown(ssl);
      return std::pair{result == 0 ? -1 : result, std::size_t{0}};
    });
  }

  tcp::socket socket;
  int fd;
  SSL* ssl = nullptr;
  Clock::time_point deadline = Clock::time_point::max();
  Side reader;  // reads, handshakes, shutdowns, readiness waits
  Side writer;
};

// One operation on a TlsCore: calls `attempt` until it is done, waiting for the socket in
// between, under the core's deadline. `attempt(core, waited)` is told whether the socket has
// just been reported ready. `complete(ec, bytes)` runs on the socket's executor, never inside
// the initiating call.
template <class AttemptFn, class CompleteFn>
class TlsOperation {
 public:
  TlsOperation(std::shared_ptr<TlsCore> core, TlsCore::Side& side, AttemptFn attempt,
               CompleteFn complete)
      : core_(std::move(core)),
        side_(&side),
        attempt_(std::move(attempt)),
        complete_(std::move(complete)) {}

  static void Start(TlsOperation op) { op.Run(/*initiating=*/true, /*waited=*/false); }

 private:
  void Run(bool initiating, bool waited) {
    const Attempt result = attempt_(*core_, waited);
    if (result.want == Want::kNothing) return Finish(initiating, result);
    if (Clock::now() >= core_->deadline) {
      core_->Close();
      return Finish(initiating, {.ec = beast::error::timeout});
    }
    const std::uint64_t generation = ++side_->generation;
    side_->timed_out = false;
    if (core_->deadline != Clock::time_point::max()) {
      side_->timer.expires_at(core_->deadline);
      side_->timer.async_wait(
          [core = core_, side = side_, generation](const beast::error_code& ec) {
            if (ec || side->generation != generation) return;
            side->timed_out = true;
            core->Close();
          });
    }
    TlsCore& core = *core_;
    core.socket.async_wait(
        result.want == Want::kRead ? tcp::socket::wait_read : tcp::socket::wait_write,
        [op = std::move(*this)](const beast::error_code& ec) mutable { op.Resume(ec); });
  }

  void Resume(const beast::error_code& ec) {
    ++side_->generation;  // this wait's timer, if it fires now, is stale
    side_->timer.cancel();
    if (ec) return Finish(false, {.ec = side_->timed_out ? beast::error::timeout : ec});
    Run(/*initiating=*/false, /*waited=*/true);
  }

  void Finish(bool initiating, const Attempt& result) {
    if (!initiating) return std::move(complete_)(result.ec, result.bytes);
    asio::post(core_->socket.get_executor(), [complete = std::move(complete_), result]() mutable {
      std::move(complete)(result.ec, result.bytes);
    });
  }

  std::shared_ptr<TlsCore> core_;
  TlsCore::Side* side_;
  AttemptFn attempt_;
  CompleteFn complete_;
};

template <class AttemptFn, class CompleteFn>
void StartTls(const std::shared_ptr<TlsCore>& core, TlsCore::Side& side, AttemptFn attempt,
              CompleteFn complete) {
  TlsOperation<AttemptFn, CompleteFn>::Start(
      TlsOperation<AttemptFn, CompleteFn>(core, side, std::move(attempt), std::move(complete)));
}

// A completion without a byte count, for the operations that move none.
auto WithoutBytes(DoneHandler handler) {
  return [handler = std::move(handler)](beast::error_code ec, std::size_t) mutable {
    std::move(handler)(ec);
  };
}

// TLS over a TCP socket that OpenSSL reads and writes itself (through the BIO above, on the
// non-blocking descriptor), while the reactor only reports readiness when OpenSSL asks to read
// or to write. Asio's ssl::stream keeps a BIO pair and two 17 KiB vectors per connection for
// as long as it lives; with SSL_MODE_RELEASE_BUFFERS an idle connection here holds little more
// than its SSL object, which is what lets a director keep ten thousand nodes' connections.
//
// Deadlines follow Beast's basic_stream: expires_after applies to operations started after
// it (reads and writes each have their own timer); one that passes closes the socket and
// completes its operation with beast::error::timeout.
class TlsTransport final : public Stream {
 public:
  TlsTransport(tcp::socket socket, asio::ssl::context& context)
      : core_(std::make_shared<TlsCore>(std::move(socket), context)) {}
  ~TlsTransport() override { core_->Close(); }

  executor_type get_executor() override { return core_->socket.get_executor(); }
  void expires_after(std::chrono::steady_clock::duration d) override {
    core_->deadline = Clock::now() + d;
  }
  void expires_never() override { core_->deadline = Clock::time_point::max(); }
  bool is_open() override { return core_->socket.is_open(); }
  void close() override { core_->Close(); }
  void cancel() override {
    beast::error_code ignored;
    core_->socket.cancel(ignored);
  }
  void shutdown_send() override {
    beast::error_code ignored;
    core_->socket.shutdown(asio::socket_base::shutdown_send, ignored);
  }
  int native_handle() override { return core_->socket.native_handle(); }
  void* native_ssl() override { return core_->ssl; }

 protected:
  void ReadSome(asio::mutable_buffer buffer, IoHandler handler) override {
    StartTls(
        core_, core_->reader, [buffer](TlsCore& core, bool) { return core.Read(buffer); },
        std::move(handler));
  }
  void WriteSome(WriteBuffers buffers, IoHandler handler) override {
    StartTls(
        core_, core_->writer, [buffers](TlsCore& core, bool) { return core.Write(buffers); },
        std::move(handler));
  }
  // Bytes OpenSSL already holds need no wait; otherwise the socket's readiness is the answer.
  void WaitReadable(DoneHandler handler) override {
    StartTls(
        core_, core_->reader,
        [](TlsCore& core, bool waited) {
          const bool ready = waited || (core.ssl != nullptr && SSL_has_pending(core.ssl) == 1);
          return ready ? Attempt{} : Attempt{.want = Want::kRead};
        },
        WithoutBytes(std::move(handler)));
  }
  void Handshake(bool server, DoneHandler handler) override {
    if (core_->ssl != nullptr) {
      if (server) {
        SSL_set_accept_state(core_->ssl);
      } else {
        SSL_set_connect_state(core_->ssl);
      }
    }
    StartTls(
        core_, core_->reader, [](TlsCore& core, bool) { return core.Handshake(); },
        WithoutBytes(std::move(handler)));
  }
  void Shutdown(DoneHandler handler) override {
    StartTls(
        core_, core_->reader, [](TlsCore& core, bool) { return core.Shutdown(); },
        WithoutBytes(std::move(handler)));
  }

 private:
  const std::shared_ptr<TlsCore> core_;
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
  // Nothing to negotiate, and nothing held while idle: complete through the executor, never
  // inside the initiation.
  void WaitReadable(DoneHandler handler) override { CompleteLater(std::move(handler)); }
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
  return std::make_unique<TlsTransport>(tcp.release_socket(), context);
}

std::unique_ptr<Stream> MakeUnixStream(UnixSocketStream unix_stream) {
  return std::make_unique<UnixTransport>(std::move(unix_stream));
}

}  // namespace fogkeep::net::detail
