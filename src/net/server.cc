#include "net/server.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/log.h"
#include "net/body_pipe.h"
#include "net/stream.h"
#include "net/wire.h"
#include "net/worker_pool.h"

namespace fogkeep::net {

// The server's side of a DeferredResponse, kept out of its public interface.
class detail::DeferredControl {
 public:
  static void Attach(DeferredResponse& d, std::function<void()> wake) { d.Attach(std::move(wake)); }
  static void Detach(DeferredResponse& d) { d.Detach(); }
  static std::optional<Result<Response>> Take(DeferredResponse& d) { return d.Take(); }
  static bool Cancel(DeferredResponse& d) { return d.Cancel(); }
};

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using detail::Stream;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// Bytes read from the socket per step of a streamed request body.
constexpr std::size_t kBodyChunkBytes = 64 * 1024;
// After an early answer (error before the body was read), unread input is drained for this
// long or this many bytes before closing, so the client can read the answer instead of
// getting a reset for the bytes it was still sending.
constexpr std::chrono::milliseconds kLingerTime{2'000};
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kTlsShutdownTimeout{1'000};
// Bytes read per step while watching a connection whose response is deferred: normally none
// arrive, a pipelined request is kept for after the answer.
constexpr std::size_t kWatchBytes = 4 * 1024;

// Resumes a coroutine from any thread. Shared: a wake posted from a worker may run after the
// coroutine that waited has finished.
class Waker : public std::enable_shared_from_this<Waker> {
 public:
  explicit Waker(asio::any_io_executor executor) : timer_(std::move(executor)) {}

  // Returns after Wake() or spuriously: callers re-check what they wait for. Only on the
  // executor's strand.
  asio::awaitable<void> Wait() {
    timer_.expires_at(asio::steady_timer::time_point::max());
    co_await timer_.async_wait(kAsTuple);
  }
  // Any thread. Only schedules: the wake runs on the strand after the current step there.
  void Wake() {
    asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  }
  std::function<void()> WakeFunction() {
    return [self = shared_from_this()] { self->Wake(); };
  }

 private:
  asio::steady_timer timer_;
};

// One accepted connection. Shared by its coroutine, Stop() and RemoveUnixListener (through the
// registry) and, during a streamed response, the hang-up watcher.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::unique_ptr<Stream> stream, Peer peer, std::uint64_t listener_id = 0)
      : stream(std::move(stream)), peer(std::move(peer)), listener_id(listener_id) {}
  // Any thread: closes the socket on the connection's strand, failing whatever is pending, then
  // calls `closed` (if set) there.
  void Close(std::function<void()> closed = nullptr) {
    asio::post(stream->get_executor(), [self = shared_from_this(), closed = std::move(closed)] {
      self->stream->close();
      if (closed) closed();
    });
  }

  const std::unique_ptr<Stream> stream;
  Peer peer;
  // The UnixListener::id it was accepted on; 0 for TCP.
  const std::uint64_t listener_id;
};

// One Unix listening socket. Shared by the server's listener map and its accept coroutine.
struct UnixListener {
  UnixListener(asio::io_context& io, UnixListenerOptions options, std::uint64_t id)
      : options(std::move(options)), id(id), acceptor(asio::make_strand(io)) {}

  const UnixListenerOptions options;
  const std::uint64_t id;  // unique within the server, never reused
  // Once serving, used only on its own strand (its executor), where the accept coroutine runs:
  // closing it there orders the close with the coroutine's steps.
  local::acceptor acceptor;
  // Set on the acceptor's strand when the listener is removed or the server stops; an accept
  // that completed before then but resumes after is dropped.
  bool closed = false;
  // The socket file this listener bound (st_dev, st_ino), so that it removes its own file and
  // never one that has replaced it. Written by the thread that binds, before serving.
  bool bound = false;
  dev_t file_device = 0;
  ino_t file_inode = 0;
};

// Whether `options` lets a peer with `uid` in.
bool AdmitsUid(const UnixListenerOptions& options, std::uint32_t uid) {
  if (uid == 0 && options.allow_root) return true;
  const auto& uids = options.allowed_uids;
  if (std::find(uids.begin(), uids.end(), uid) != uids.end()) return true;
  for (const UidRange& range : options.allowed_uid_ranges) {
    // Written so that first + count cannot overflow.
    if (uid >= range.first && uid - range.first < range.count) return true;
  }
  return false;
}

Status ValidateUnixListener(const UnixListenerOptions& options) {
  const std::string& path = options.path;
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Fail(ErrorCode::kInvalidInput, "Unix socket path is empty or too long: " + path);
  }
  if ((options.mode & ~std::uint32_t{0777}) != 0) {
    return Fail(ErrorCode::kInvalidInput,
                fmt::format("Unix socket mode {:#o} has more than permission bits", options.mode));
  }
  return {};
}

// Removes the socket file `listener` bound, unless the path now names another file.
void UnlinkOwnSocket(UnixListener& listener) {
  if (!listener.bound) return;
  listener.bound = false;
  const std::string& path = listener.options.path;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode) || st.st_dev != listener.file_device ||
      st.st_ino != listener.file_inode) {
    return;
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    log::Warn("{}", ErrnoMessage("remove socket " + path, errno));
  }
}

// Runs `fn` on `executor` and returns once it has run. The executor's threads must be running
// and the caller must not be one of them.
template <class F>
void RunAndWait(const asio::any_io_executor& executor, F fn) {
  // Shared: the waiter may return and unwind while set_value is still finishing.
  auto ran = std::make_shared<std::promise<void>>();
  std::future<void> done = ran->get_future();
  asio::post(executor, [&fn, ran] {
    fn();
    ran->set_value();
  });
  done.wait();
}

Result<Response> InvokeHandler(const Route& route, Request& request) {
  try {
    return route.handler(request);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("handler threw: ") + e.what());
  } catch (...) {
    return Fail(ErrorCode::kInternal, "handler threw a non-standard exception");
  }
}

// Runs `fn` on `pool` and resumes the calling coroutine on its own executor with the result.
// `fn` lives in the caller's frame, which stays suspended (alive) until the result is posted.
template <class F>
asio::awaitable<std::invoke_result_t<F&>> OnWorker(WorkerPool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  auto initiation = [&pool, &fn](auto handler) {
    pool.Submit([&fn, handler = std::move(handler)]() mutable {
      R result = fn();
      auto executor = asio::get_associated_executor(handler);
      asio::post(executor, [handler = std::move(handler), result = std::move(result)]() mutable {
        std::move(handler)(std::move(result));
      });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      initiation, asio::use_awaitable);
}

bool ExpectsContinue(const http::request_header<>& header) {
  auto it = header.find(http::field::expect);
  return it != header.end() &&
         EqualsIgnoreCase(std::string_view(it->value().data(), it->value().size()), "100-continue");
}

void LogCompletion(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::Error("{} ended by an exception: {}", what, ex.what());
  } catch (...) {
    log::Error("{} ended by a non-standard exception", what);
  }
}

std::string PeerName(const Peer& peer) {
  if (peer.transport == Peer::Transport::kUnix) {
    return peer.credentials ? "unix:uid=" + std::to_string(peer.credentials->uid) : "unix";
  }
  return peer.address + ":" + std::to_string(peer.port);
}

// What a connection learns while its response is deferred. Strand only.
struct DeferredWatch {
  bool gone = false;      // the client went away (or the connection was closed)
  bool stopping = false;  // the waiter cancelled the read: not a hang-up
  bool ended = false;     // the watching read is over; the stream is free again
};

// Reads while a response is deferred. The client should send nothing before its answer, so an
// error or end of stream means it has gone (a half-close included: HTTP/1.1 cannot answer
// after it reliably, and a long-poll must not outlive its client). Bytes that do arrive (a
// pipelined request) go to `buffer` for after the answer; once it is full, hang-ups go
// unnoticed until the answer is written. `buffer` outlives this: the waiter waits for `ended`.
asio::awaitable<void> WatchWhileDeferred(std::shared_ptr<Connection> conn,
                                         beast::flat_buffer& buffer,
                                         std::shared_ptr<DeferredWatch> watch,
                                         std::shared_ptr<Waker> waker) {
  // `stopping` is checked before each read: a read that completed just before the waiter
  // cancelled it must not be followed by one that nothing would cancel.
  while (!watch->stopping) {
    const std::size_t room = buffer.max_size() - buffer.size();
    if (room == 0) break;
    // No read buffer is held while nothing arrives: a long poll may wait minutes.
    auto [wait_ec] = co_await conn->stream->async_wait_readable(kAsTuple);
    if (wait_ec) {
      if (!(watch->stopping && wait_ec == asio::error::operation_aborted)) watch->gone = true;
      break;
    }
    if (watch->stopping) break;
    auto [ec, n] = co_await conn->stream->async_read_some(
        buffer.prepare(std::min(room, kWatchBytes)), kAsTuple);
    buffer.commit(n);
    if (ec) {
      if (!(watch->stopping && ec == asio::error::operation_aborted)) watch->gone = true;
      break;
    }
  }
  watch->ended = true;
  waker->Wake();
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, Router r, std::shared_ptr<Authenticator> authn,
       std::shared_ptr<Authorizer> authz)
      : options(std::move(o)),
        router(std::move(r)),
        authenticator(std::move(authn)),
        authorizer(std::move(authz)),
        workers(options.limits.worker_threads, "fk-worker"),
        streamers(options.limits.max_streaming_responses, "fk-stream") {
    parser_limits.max_header_bytes = options.limits.max_header_bytes;
  }

  // One connection's registration in `connections`; unregisters when destroyed.
  class Registration {
   public:
    Registration(Impl* impl, std::uint64_t id) : impl_(impl), id_(id) {}
    Registration(Registration&& other) noexcept
        : impl_(other.impl_), id_(std::exchange(other.id_, 0)) {}
    Registration& operator=(Registration&&) = delete;
    ~Registration() {
      if (id_ != 0) impl_->Unregister(id_);
    }

   private:
    Impl* impl_;
    std::uint64_t id_;
  };

  Status Start();
  void Stop();
  Status AddUnixListener(UnixListenerOptions listener_options);
  Status RemoveUnixListener(const std::string& path);

  // Binds and listens; on failure nothing stays bound. Called with listeners_mu held.
  Status BindUnix(UnixListener& listener);
  void SpawnAcceptUnix(std::shared_ptr<UnixListener> listener);
  // Closes the acceptor on its strand and waits for that; io threads must be running.
  void CloseAcceptor(UnixListener& listener);
  // Closes every connection accepted on listener `id` and waits until each close has run on
  // the connection's strand.
  void CloseConnectionsOf(std::uint64_t listener_id);
  // AddUnixListener and RemoveUnixListener wait for the I/O threads, or for a thread that does.
  Status RefuseOnIoThread(std::string_view what);

  // Null when the server's connection limit is reached, or `listener_limit` (when not 0)
  // connections of the same Unix listener are open.
  std::optional<Registration> Register(std::weak_ptr<Connection> connection,
                                       std::size_t listener_limit = 0);
  void Unregister(std::uint64_t id);
  // At most one line a second however fast connections are refused.
  void WarnConnectionLimit();

  asio::awaitable<void> AcceptTcp();
  asio::awaitable<void> AcceptUnix(std::shared_ptr<UnixListener> listener);
  // Handshakes (unless `handshaken`: a connection coming back from idle) and serves requests
  // until the connection ends or idles.
  asio::awaitable<void> ServeTls(std::shared_ptr<Connection> conn, Registration registration,
                                 bool handshaken = false);
  // An idle TLS connection holds no coroutine frame, no read buffer and no OpenSSL buffer:
  // only a wait for the next request's first byte, bounded by limits.idle_timeout, which
  // starts ServeTls again. What lets the director keep ten thousand nodes' connections open.
  void AwaitNextRequest(std::shared_ptr<Connection> conn, Registration registration);
  asio::awaitable<void> ServeUnix(std::shared_ptr<Connection> conn, Registration registration);
  // Serves requests: false when the connection has ended, true when a TCP connection has
  // answered all it was sent and may idle (AwaitNextRequest).
  asio::awaitable<bool> ServeHttp(std::shared_ptr<Connection> conn);
  asio::awaitable<bool> ServeOne(std::shared_ptr<Connection> conn, beast::flat_buffer& buffer);
  asio::awaitable<Result<Response>> RunStreamedBody(std::shared_ptr<Connection> conn,
                                                    beast::flat_buffer& buffer,
                                                    http::request_parser<http::empty_body>& head,
                                                    const Route& route, Request& request,
                                                    bool* must_close);
  asio::awaitable<bool> WriteResponse(std::shared_ptr<Connection> conn, Response response,
                                      bool keep_alive, unsigned version, bool head_only);
  asio::awaitable<void> WriteStream(std::shared_ptr<Connection> conn, Response response,
                                    unsigned version);
  asio::awaitable<void> WriteContinue(std::shared_ptr<Connection> conn, unsigned version);
  // Waits, holding no thread, for `deferred` to be completed, and returns its answer; nullopt
  // when the connection ended first (the response is then cancelled). Sets *must_close when
  // the client was seen going away. Refuses (cancels) past max_deferred_responses with 503.
  asio::awaitable<std::optional<Result<Response>>> AwaitDeferred(
      std::shared_ptr<Connection> conn, beast::flat_buffer& buffer,
      std::shared_ptr<DeferredResponse> deferred, bool* must_close);
  asio::awaitable<void> Linger(std::shared_ptr<Connection> conn);

  // Authentication and authorization of a non-public route.
  Status Admit(const Route& route, Request& request);
  // Reports `event` to options.audit on a worker thread (the sink may flush to disk).
  asio::awaitable<void> Audit(AuditEvent event);

  // Constant after construction.
  const ServerOptions options;
  const Router router;
  const std::shared_ptr<Authenticator> authenticator;
  const std::shared_ptr<Authorizer> authorizer;
  wire::ParserLimits parser_limits;

  // Declared before everything that posts to it, so it is destroyed last.
  asio::io_context io;
  std::optional<asio::ssl::context> tls_context;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> refused_connections{0};
  std::atomic<std::int64_t> last_refusal_warning{0};
  // Deferred responses waiting for their answer (ServerLimits::max_deferred_responses).
  std::atomic<std::size_t> pending_deferred{0};
  std::atomic<std::uint64_t> refused_deferred{0};
  std::atomic<std::int64_t> last_deferred_warning{0};
  bool started = false;  // Start/Stop run on the owner's thread
  bool stopped = false;

  WorkerPool workers;
  WorkerPool streamers;

  std::mutex mu;
  std::condition_variable drained;
  // Guarded by mu.
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::uint64_t next_connection_id = 0;
  bool refusing = false;  // set by Stop: no new registrations

  // Where Unix listeners are in their life; Start and Stop move it forward.
  enum class ListenerPhase { kRecording, kServing, kStopped };
  // Held across a whole AddUnixListener, RemoveUnixListener, Start's binding and Stop's taking
  // of the listeners, so that these never interleave. Never taken on an I/O thread, which
  // these wait for.
  std::mutex listeners_mu;
  // Guarded by listeners_mu. Declared after `io`, whose strands the acceptors use.
  ListenerPhase listener_phase = ListenerPhase::kRecording;
  std::map<std::string, std::shared_ptr<UnixListener>> listeners;  // by path
  std::uint64_t next_listener_id = 0;
};

std::optional<Server::Impl::Registration> Server::Impl::Register(
    std::weak_ptr<Connection> connection, std::size_t listener_limit) {
  std::lock_guard lock(mu);
  if (refusing || connections.size() >= options.limits.max_connections) return std::nullopt;
  if (listener_limit > 0) {
    const std::shared_ptr<Connection> self = connection.lock();
    std::size_t same_listener = 0;
    for (const auto& [id, weak] : connections) {
      const std::shared_ptr<Connection> other = weak.lock();
      if (self && other && other->listener_id == self->listener_id) ++same_listener;
    }
    if (same_listener >= listener_limit) return std::nullopt;
  }
  const std::uint64_t id = ++next_connection_id;
  connections.emplace(id, std::move(connection));
  return Registration(this, id);
}

void Server::Impl::Unregister(std::uint64_t id) {
  std::lock_guard lock(mu);
  connections.erase(id);
  if (connections.empty()) drained.notify_all();
}

void Server::Impl::WarnConnectionLimit() {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  ++refused_connections;
  if (last_refusal_warning.exchange(second) != second) {
    log::Warn("connection limit of {} reached: {} connections refused so far",
              options.limits.max_connections, refused_connections.load());
  }
}

Status Server::Impl::Admit(const Route& route, Request& request) {
  Result<Principal> principal = authenticator->Authenticate(request);
  if (!principal) return Fail(std::move(principal).error());
  request.principal = std::move(*principal);
  if (authorizer) {
    FK_TRY(authorizer->Authorize(*request.principal, route.options.permission, request));
  }
  // A change the trail cannot record is refused before it happens.
  if (options.audit && IsAudited(request.method, route.options)) FK_TRY(options.audit->Ready());
  return {};
}

asio::awaitable<void> Server::Impl::Audit(AuditEvent event) {
  Status recorded = co_await OnWorker(workers, [&] { return options.audit->Record(event); });
  if (!recorded) {
    log::Error("audit trail: {} {}: {}", MethodName(event.request.method), event.request.path,
               recorded.error().message());
  }
}

Status Server::Impl::Start() {
  if (started) return Fail(ErrorCode::kConflict, "the server was already started");
  {
    std::lock_guard lock(listeners_mu);
    if (listener_phase == ListenerPhase::kStopped) {
      return Fail(ErrorCode::kConflict, "the server was stopped");
    }
  }
  boost::system::error_code ec;
  if (options.tcp) {
    const asio::ip::address address = asio::ip::make_address(options.tcp->address, ec);
    if (ec) {
      return Fail(ErrorCode::kInvalidInput,
                  "listen address " + options.tcp->address + ": " + ec.message());
    }
    const tcp::endpoint endpoint(address, options.tcp->port);
    const std::string where = options.tcp->address + ":" + std::to_string(options.tcp->port);
    tcp_acceptor.emplace(io);
    tcp_acceptor->open(endpoint.protocol(), ec);
    if (!ec) tcp_acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) tcp_acceptor->bind(endpoint, ec);
    if (!ec) tcp_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Fail(ErrorCode::kUnavailable, "listen on " + where + ": " + ec.message());
    bound_port = tcp_acceptor->local_endpoint(ec).port();
    log::Info("listening on {}:{} (TLS)", options.tcp->address, bound_port.load());
  }
  {
    // Start and Stop run on the owner's thread, so the phase is still kRecording here.
    std::lock_guard lock(listeners_mu);
    std::vector<UnixListener*> bound;
    for (auto& [path, listener] : listeners) {
      if (Status status = BindUnix(*listener); !status) {
        for (UnixListener* undo : bound) {
          boost::system::error_code ignored;
          undo->acceptor.close(ignored);
          UnlinkOwnSocket(*undo);
        }
        return status;
      }
      bound.push_back(listener.get());
    }
    if (!tcp_acceptor && listeners.empty() && !options.allow_no_listener) {
      return Fail(ErrorCode::kInvalidInput, "the server has no listener configured");
    }

    started = true;
    listener_phase = ListenerPhase::kServing;
    work.emplace(io.get_executor());
    if (tcp_acceptor) {
      asio::co_spawn(io, AcceptTcp(), [](std::exception_ptr e) { LogCompletion("TCP accept", e); });
    }
    for (auto& [path, listener] : listeners) SpawnAcceptUnix(listener);
  }
  const std::size_t threads = std::max<std::size_t>(options.io_threads, 1);
  for (std::size_t i = 0; i < threads; ++i) {
    io_threads.emplace_back([this] {
      pthread_setname_np(pthread_self(), "fk-io");
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {
          log::Error("I/O thread: unexpected exception: {}", e.what());
        }
      }
    });
  }
  return {};
}

void Server::Impl::Stop() {
  std::map<std::string, std::shared_ptr<UnixListener>> closing;
  {
    std::lock_guard lock(listeners_mu);
    listener_phase = ListenerPhase::kStopped;
    closing.swap(listeners);
  }
  if (!started || stopped) return;
  stopped = true;
  stopping = true;
  asio::post(io, [this] {
    boost::system::error_code ignored;
    if (tcp_acceptor) tcp_acceptor->close(ignored);
  });
  for (auto& [path, listener] : closing) {
    asio::post(listener->acceptor.get_executor(), [listener] {
      listener->closed = true;
      boost::system::error_code ignored;
      listener->acceptor.close(ignored);
    });
  }
  {
    std::unique_lock lock(mu);
    refusing = true;
    for (auto& [id, weak] : connections) {
      if (auto connection = weak.lock()) connection->Close();
    }
    // Connections end once their handlers and producers have returned.
    drained.wait(lock, [this] { return connections.empty(); });
  }
  work.reset();
  io.stop();
  for (std::thread& t : io_threads) t.join();
  io_threads.clear();
  workers.Shutdown();
  streamers.Shutdown();
  for (auto& [path, listener] : closing) UnlinkOwnSocket(*listener);
}

Status Server::Impl::RefuseOnIoThread(std::string_view what) {
  if (io.get_executor().running_in_this_thread()) {
    return Fail(ErrorCode::kInternal,
                std::string(what) + " called on one of the server's own I/O threads");
  }
  return {};
}

Status Server::Impl::AddUnixListener(UnixListenerOptions listener_options) {
  FK_TRY(RefuseOnIoThread("AddUnixListener"));
  FK_TRY(ValidateUnixListener(listener_options));
  std::lock_guard lock(listeners_mu);
  const std::string path = listener_options.path;
  if (listener_phase == ListenerPhase::kStopped) {
    return Fail(ErrorCode::kUnavailable, "the server has stopped; not listening on " + path);
  }
  if (listeners.contains(path)) {
    return Fail(ErrorCode::kConflict, "the server already listens on " + path);
  }
  auto listener =
      std::make_shared<UnixListener>(io, std::move(listener_options), ++next_listener_id);
  if (listener_phase == ListenerPhase::kServing) {
    FK_TRY(BindUnix(*listener));
    SpawnAcceptUnix(listener);
  }
  listeners.emplace(path, std::move(listener));
  return {};
}

Status Server::Impl::RemoveUnixListener(const std::string& path) {
  FK_TRY(RefuseOnIoThread("RemoveUnixListener"));
  std::lock_guard lock(listeners_mu);
  auto it = listeners.find(path);
  if (it == listeners.end()) return Fail(ErrorCode::kNotFound, "no Unix listener on " + path);
  std::shared_ptr<UnixListener> listener = std::move(it->second);
  listeners.erase(it);
  if (listener_phase != ListenerPhase::kServing) return {};  // recorded only: nothing bound
  // Once the close has run on the acceptor's strand, every connection the listener will ever
  // produce is registered, so the sweep below finds them all.
  CloseAcceptor(*listener);
  UnlinkOwnSocket(*listener);
  CloseConnectionsOf(listener->id);
  log::Info("stopped listening on unix:{}", path);
  return {};
}

Status Server::Impl::BindUnix(UnixListener& listener) {
  const std::string& path = listener.options.path;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Fail(ErrorCode::kConflict, path + " exists and is not a socket");
    }
    if (unlink(path.c_str()) != 0) return FailErrno("remove stale socket " + path, errno);
  }
  boost::system::error_code ec;
  local::acceptor& acceptor = listener.acceptor;
  acceptor.open(local(), ec);
  if (!ec) acceptor.bind(local::endpoint(path), ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return Fail(ErrorCode::kUnavailable, "bind " + path + ": " + ec.message());
  }
  // From here on the file is ours to remove, whatever fails.
  if (lstat(path.c_str(), &st) == 0) {
    listener.bound = true;
    listener.file_device = st.st_dev;
    listener.file_inode = st.st_ino;
  }
  auto undo = [&] {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    UnlinkOwnSocket(listener);
  };
  // Nobody can connect between bind and listen, so setting the mode here leaves no window in
  // which the umask's mode applies to a listening socket.
  if (chmod(path.c_str(), static_cast<mode_t>(listener.options.mode)) != 0) {
    const int err = errno;
    undo();
    return FailErrno("chmod " + path, err);
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    undo();
    return Fail(ErrorCode::kUnavailable, "listen on " + path + ": " + ec.message());
  }
  log::Info("listening on unix:{}", path);
  return {};
}

void Server::Impl::SpawnAcceptUnix(std::shared_ptr<UnixListener> listener) {
  asio::any_io_executor strand = listener->acceptor.get_executor();
  asio::co_spawn(strand, AcceptUnix(std::move(listener)),
                 [](std::exception_ptr e) { LogCompletion("Unix accept", e); });
}

void Server::Impl::CloseAcceptor(UnixListener& listener) {
  RunAndWait(listener.acceptor.get_executor(), [&listener] {
    listener.closed = true;
    boost::system::error_code ignored;
    listener.acceptor.close(ignored);
  });
}

void Server::Impl::CloseConnectionsOf(std::uint64_t listener_id) {
  std::vector<std::shared_ptr<Connection>> closing;
  {
    std::lock_guard lock(mu);
    for (auto& [id, weak] : connections) {
      std::shared_ptr<Connection> connection = weak.lock();
      if (connection && connection->listener_id == listener_id) {
        closing.push_back(std::move(connection));
      }
    }
  }
  if (closing.empty()) return;
  // Shared: the waiter may return and unwind while the last count_down is still finishing.
  auto closed = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(closing.size()));
  for (const std::shared_ptr<Connection>& connection : closing) {
    connection->Close([closed] { closed->count_down(); });
  }
  closed->wait();
}

asio::awaitable<void> Server::Impl::AcceptTcp() {
  for (;;) {
    asio::any_io_executor strand = asio::make_strand(io);
    auto [ec, socket] = co_await tcp_acceptor->async_accept(strand, kAsTuple);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      log::Warn("TCP accept failed: {}", ec.message());
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(io, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    boost::system::error_code ignored;
    Peer peer;
    peer.transport = Peer::Transport::kTcp;
    peer.tls = true;
    const tcp::endpoint remote = socket.remote_endpoint(ignored);
    peer.address = remote.address().to_string();
    peer.port = remote.port();
    socket.set_option(tcp::no_delay(true), ignored);
    auto conn = std::make_shared<Connection>(
        detail::MakeTlsStream(beast::tcp_stream(std::move(socket)), *tls_context), std::move(peer));
    std::optional<Registration> registration = Register(conn);
    if (!registration) {
      WarnConnectionLimit();
      conn->stream->close();
      continue;
    }
    asio::co_spawn(strand, ServeTls(conn, std::move(*registration)),
                   [](std::exception_ptr e) { LogCompletion("TLS connection", e); });
  }
}

// Runs on the listener's strand (its acceptor's executor), as does every close of the acceptor.
asio::awaitable<void> Server::Impl::AcceptUnix(std::shared_ptr<UnixListener> listener) {
  const UnixListenerOptions& listening = listener->options;
  for (;;) {
    asio::any_io_executor strand = asio::make_strand(io);
    auto [ec, socket] = co_await listener->acceptor.async_accept(strand, kAsTuple);
    // A connection accepted just before the listener closed is dropped: the sweep of its
    // connections has already run or is about to, and must not miss one registered later.
    if (listener->closed || stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log::Warn("Unix accept on {} failed: {}", listening.path, ec.message());
      asio::steady_timer pause(io, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    ucred cred{};
    socklen_t length = sizeof(cred);
    if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
      log::Warn("Unix peer credentials unavailable on {}: {}", listening.path,
                ErrnoMessage("SO_PEERCRED", errno));
      continue;  // the socket closes as it goes out of scope
    }
    if (!AdmitsUid(listening, cred.uid)) {
      log::Warn("refusing Unix peer uid {} pid {} on {}: uid not allowed", cred.uid, cred.pid,
                listening.path);
      continue;
    }
    Peer peer;
    peer.transport = Peer::Transport::kUnix;
    peer.address = listening.path;
    peer.credentials = UnixCredentials{cred.uid, cred.gid, cred.pid};
    peer.listener_identity = listening.identity;
    auto conn = std::make_shared<Connection>(
        detail::MakeUnixStream(detail::UnixSocketStream(std::move(socket))), std::move(peer),
        listener->id);
    std::optional<Registration> registration = Register(conn, listening.max_connections);
    if (!registration) {
      WarnConnectionLimit();
      conn->stream->close();
      continue;
    }
    asio::co_spawn(strand, ServeUnix(conn, std::move(*registration)),
                   [](std::exception_ptr e) { LogCompletion("Unix connection", e); });
  }
}

// `registration` is held for the connection's lifetime and unregisters it on the way out.
asio::awaitable<void> Server::Impl::ServeTls(std::shared_ptr<Connection> conn,
                                             Registration registration, bool handshaken) {
  Stream& stream = *conn->stream;
  if (!handshaken) {
    stream.expires_after(options.limits.handshake_timeout);
    auto [ec] = co_await stream.async_handshake(/*server=*/true, kAsTuple);
    if (ec) {
      log::Debug("TLS handshake with {} failed: {}", PeerName(conn->peer), ec.message());
      co_return;
    }
    if (std::optional<crypto::Certificate> cert = crypto::PeerCertificate(stream.native_ssl())) {
      conn->peer.certificate =
          ClientCertificate{cert->Subject(), cert->CommonName(), cert->Fingerprint()};
    }
  }
  if (co_await ServeHttp(conn)) {
    AwaitNextRequest(std::move(conn), std::move(registration));
    co_return;
  }
  if (stream.is_open()) {
    stream.expires_after(kTlsShutdownTimeout);
    auto [shutdown_ec] = co_await stream.async_shutdown(kAsTuple);
    (void)shutdown_ec;  // the peer may well have closed first
    stream.close();
  }
}

void Server::Impl::AwaitNextRequest(std::shared_ptr<Connection> conn, Registration registration) {
  if (stopping) return;
  Stream& stream = *conn->stream;
  stream.expires_after(options.limits.idle_timeout);
  stream.async_wait_readable(
      [this, conn, registration = std::move(registration)](beast::error_code ec) mutable {
        // Idle too long (the deadline closed the socket), closed by Stop, or gone: the
        // connection ends as this handler does.
        if (ec || stopping || !conn->stream->is_open()) return;
        asio::any_io_executor strand = conn->stream->get_executor();
        asio::co_spawn(strand, ServeTls(std::move(conn), std::move(registration), true),
                       [](std::exception_ptr e) { LogCompletion("TLS connection", e); });
      });
}

asio::awaitable<void> Server::Impl::ServeUnix(std::shared_ptr<Connection> conn,
                                              [[maybe_unused]] Registration registration) {
  co_await ServeHttp(conn);
  conn->stream->close();
}

asio::awaitable<bool> Server::Impl::ServeHttp(std::shared_ptr<Connection> conn) {
  // Room for a full header plus one body read; the parser enforces the header limit itself.
  beast::flat_buffer buffer(options.limits.max_header_bytes + kBodyChunkBytes);
  for (;;) {
    const bool again = co_await ServeOne(conn, buffer);
    if (!again || stopping) co_return false;
    // Everything sent has been answered. A TCP connection idles without a coroutine (see
    // AwaitNextRequest); a Unix one, local and one of few, waits for its next header here.
    if (buffer.size() == 0 && conn->peer.transport == Peer::Transport::kTcp) co_return true;
  }
}

asio::awaitable<bool> Server::Impl::ServeOne(std::shared_ptr<Connection> conn,
                                             beast::flat_buffer& buffer) {
  Stream& stream = *conn->stream;
  http::request_parser<http::empty_body> head;
  wire::ConfigureRequestParser(head, parser_limits);
  stream.expires_after(options.limits.header_timeout);
  auto [read_ec, header_bytes] =
      co_await http::async_read_header(*conn->stream, buffer, head, kAsTuple);
  // Closed (RemoveUnixListener, Stop) after the header arrived but before this step ran: the
  // connection takes no new request.
  if (!read_ec && !stream.is_open()) co_return false;
  if (read_ec) {
    if (wire::IsProtocolError(read_ec)) {
      Error error = wire::ReadError(read_ec, "request");
      log::Debug("{}: {}", PeerName(conn->peer), error.message());
      Response answer = ErrorResponse(error);
      co_await WriteResponse(conn, std::move(answer), false, 11, false);
      co_await Linger(conn);
    }
    co_return false;
  }

  const unsigned version = head.get().version();
  const bool keep_alive = head.get().keep_alive();
  const bool has_body = !head.is_done();
  const bool expects_continue = ExpectsContinue(head.get());
  // An answer given before the body is read leaves that body on the connection, where it
  // would be taken for the next request: such answers close the connection.
  const bool early_keep_alive = keep_alive && !has_body;

  Request request;
  request.peer = conn->peer;
  Status filled = wire::FillRequest(head.get(), request);
  if (!filled) {
    Response answer = ErrorResponse(filled.error());
    co_await WriteResponse(conn, std::move(answer), false, version, false);
    co_await Linger(conn);
    co_return false;
  }
  const bool head_only = request.method == Method::kHead;

  Router::Match match = router.Find(request.method, request.segments);
  if (match.route == nullptr) {
    Response answer;
    if (match.allowed.empty()) {
      answer = ErrorResponse(Error(ErrorCode::kNotFound, "no such endpoint: " + request.path));
    } else {
      answer =
          ErrorResponse(Error(ErrorCode::kInvalidInput, std::string(MethodName(request.method)) +
                                                            " is not allowed on " + request.path));
      answer.status = 405;
      answer.headers.Set("Allow", Router::AllowHeader(match.allowed));
    }
    log::Debug("{} {} {} -> {}", PeerName(conn->peer), MethodName(request.method), request.target,
               answer.status);
    const bool sent =
        co_await WriteResponse(conn, std::move(answer), early_keep_alive, version, head_only);
    if (!early_keep_alive) co_await Linger(conn);
    co_return sent&& early_keep_alive;
  }
  const Route& route = *match.route;
  request.path_params = std::move(match.params);

  // A request without a body for a worker route is admitted and handled in one trip to the
  // worker pool: no body to read and no length to check lie between the two steps, and each
  // trip costs two thread switches.
  // An inline route's request stays on the I/O thread only if authenticating it cannot block.
  const bool inline_admission =
      !route.options.is_public && route.options.execution == Execution::kInline &&
      route.options.body == BodyMode::kBuffered && !authenticator->MayBlock(request);
  const bool one_trip = !has_body && route.options.body == BodyMode::kBuffered && !inline_admission;
  std::optional<Result<Response>> handled;
  if (!route.options.is_public) {
    Status admitted;
    if (inline_admission) {
      admitted = Admit(route, request);
    } else if (one_trip) {
      admitted = co_await OnWorker(workers, [&]() -> Status {
        FK_TRY(Admit(route, request));
        handled = InvokeHandler(route, request);
        return {};
      });
    } else {
      admitted = co_await OnWorker(workers, [&] { return Admit(route, request); });
    }
    if (!admitted) {
      // Debug only: a client can send these as fast as it likes; the audit sink records them.
      log::Debug("{} {} {} refused: {}", PeerName(conn->peer), MethodName(request.method),
                 request.target, admitted.error().message());
      Response answer = ErrorResponse(admitted.error());
      const ErrorCode refusal = admitted.error().code();
      if (options.audit &&
          (refusal == ErrorCode::kUnauthenticated || refusal == ErrorCode::kForbidden)) {
        co_await Audit(AuditEvent{.kind = refusal == ErrorCode::kForbidden
                                              ? AuditEvent::Kind::kForbidden
                                              : AuditEvent::Kind::kUnauthenticated,
                                  .request = request,
                                  .route = route,
                                  .status = answer.status,
                                  .error = admitted.error().message()});
      }
      const bool sent =
          co_await WriteResponse(conn, std::move(answer), early_keep_alive, version, head_only);
      if (!early_keep_alive) co_await Linger(conn);
      co_return sent&& early_keep_alive;
    }
  }

  const boost::optional<std::uint64_t> declared = head.content_length();
  if (declared && *declared > route.options.max_body_bytes) {
    Response answer =
        ErrorResponse(Error(ErrorCode::kLimit, "request body of " + std::to_string(*declared) +
                                                   " bytes exceeds the limit of " +
                                                   std::to_string(route.options.max_body_bytes)));
    co_await WriteResponse(conn, std::move(answer), false, version, head_only);
    co_await Linger(conn);
    co_return false;
  }

  bool must_close = false;
  Result<Response> result = Fail(ErrorCode::kInternal, "no response");
  if (route.options.body == BodyMode::kStreamed) {
    if (has_body && expects_continue) co_await WriteContinue(conn, version);
    result = co_await RunStreamedBody(conn, buffer, head, route, request, &must_close);
  } else {
    if (has_body) {
      if (expects_continue) co_await WriteContinue(conn, version);
      http::request_parser<http::string_body> full(std::move(head));
      full.body_limit(route.options.max_body_bytes);
      stream.expires_after(options.limits.body_timeout);
      auto [body_ec, body_bytes] = co_await http::async_read(*conn->stream, buffer, full, kAsTuple);
      if (body_ec) {
        Error error = wire::ReadError(body_ec, "request body");
        if (error.code() != ErrorCode::kUnavailable) {
          Response answer = ErrorResponse(error);
          co_await WriteResponse(conn, std::move(answer), false, version, head_only);
          co_await Linger(conn);
        }
        co_return false;
      }
      request.body = std::move(full.get().body());
    }
    if (handled) {
      result = std::move(*handled);
    } else if (route.options.execution == Execution::kInline) {
      result = InvokeHandler(route, request);
    } else {
      result = co_await OnWorker(workers, [&] { return InvokeHandler(route, request); });
    }
  }

  if (result && result->deferred) {
    std::optional<Result<Response>> later =
        co_await AwaitDeferred(conn, buffer, std::move(result->deferred), &must_close);
    if (!later) {
      // Nothing will be sent, but the handler ran: the trail still hears of the request.
      if (options.audit && IsAudited(request.method, route.options)) {
        const Error gone(ErrorCode::kUnavailable,
                         "the connection ended before the deferred response was ready");
        const Response unsent = ErrorResponse(gone);
        co_await Audit(AuditEvent{.kind = AuditEvent::Kind::kStateChange,
                                  .request = request,
                                  .route = route,
                                  .status = unsent.status,
                                  .error = gone.message(),
                                  .response = &unsent});
      }
      co_return false;
    }
    result = std::move(*later);
    if (result && result->deferred) {
      detail::DeferredControl::Cancel(*result->deferred);
      result = Fail(ErrorCode::kInternal, "a deferred response was completed with another");
    }
  }

  Response response = result ? std::move(*result) : ErrorResponse(result.error());
  if (options.audit && IsAudited(request.method, route.options)) {
    co_await Audit(AuditEvent{.kind = AuditEvent::Kind::kStateChange,
                              .request = request,
                              .route = route,
                              .status = response.status,
                              .error = result ? std::string_view() : result.error().message(),
                              .response = &response});
  }
  if (log::Enabled(log::Level::kDebug)) {  // every request passes here: no PeerName otherwise
    log::Debug("{} {} {} -> {}", PeerName(conn->peer), MethodName(request.method), request.target,
               response.status);
  }
  if (response.stream && !head_only) {
    co_await WriteStream(conn, std::move(response), version);
    co_return false;
  }
  const bool reuse = keep_alive && !must_close && !stopping;
  const bool sent = co_await WriteResponse(conn, std::move(response), reuse, version, head_only);
  co_return sent&& reuse;
}

asio::awaitable<Result<Response>> Server::Impl::RunStreamedBody(
    std::shared_ptr<Connection> conn, beast::flat_buffer& buffer,
    http::request_parser<http::empty_body>& head, const Route& route, Request& request,
    bool* must_close) {
  Stream& stream = *conn->stream;
  auto waker = std::make_shared<Waker>(co_await asio::this_coro::executor);
  BodyPipe pipe(options.limits.stream_buffer_bytes, waker->WakeFunction());
  bool body_done = head.is_done();
  if (body_done) pipe.End();
  request.body_stream = &pipe;

  // The handler's outcome, set once by the worker.
  struct Outcome {
    std::mutex mu;
    std::optional<Result<Response>> result;  // guarded by mu
  } outcome;
  workers.Submit([&route, &request, &outcome, wake = waker->WakeFunction()] {
    Result<Response> result = InvokeHandler(route, request);
    {
      std::lock_guard lock(outcome.mu);
      outcome.result = std::move(result);
    }
    // `outcome` and `request` may be gone from here on; `wake` is this task's own copy.
    wake();
  });

  http::request_parser<http::buffer_body> body(std::move(head));
  body.body_limit(route.options.max_body_bytes);
  // Reads land here and are copied out at their size: the pipe's bound counts bytes, so a
  // chunk must not carry a mostly empty 64 KiB allocation with it.
  std::string scratch(kBodyChunkBytes, '\0');
  for (;;) {
    {
      std::lock_guard lock(outcome.mu);
      if (outcome.result) break;
    }
    if (body_done || !pipe.ReserveRoom()) {
      co_await waker->Wait();
      continue;
    }
    body.get().body().data = scratch.data();
    body.get().body().size = scratch.size();
    stream.expires_after(options.limits.body_timeout);
    // read_some: the handler gets what has arrived rather than waiting for a full chunk.
    auto [ec, n] = co_await http::async_read_some(*conn->stream, buffer, body, kAsTuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      pipe.Abort(wire::ReadError(ec, "request body"));
      body_done = true;
      *must_close = true;
      continue;
    }
    pipe.Push(std::string(scratch.data(), scratch.size() - body.get().body().size));
    if (body.is_done()) {
      pipe.End();
      body_done = true;
    }
  }
  if (!body_done) *must_close = true;  // the handler returned before the body ended
  request.body_stream = nullptr;
  Result<Response> result = std::move(*outcome.result);
  co_return result;
}

asio::awaitable<std::optional<Result<Response>>> Server::Impl::AwaitDeferred(
    std::shared_ptr<Connection> conn, beast::flat_buffer& buffer,
    std::shared_ptr<DeferredResponse> deferred, bool* must_close) {
  using Control = detail::DeferredControl;
  if (pending_deferred.fetch_add(1) >= options.limits.max_deferred_responses) {
    pending_deferred.fetch_sub(1);
    Control::Cancel(*deferred);
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(now).count();
    ++refused_deferred;
    if (last_deferred_warning.exchange(second) != second) {
      log::Warn("deferred response limit of {} reached: {} refused so far",
                options.limits.max_deferred_responses, refused_deferred.load());
    }
    co_return Result<Response>(
        Fail(ErrorCode::kUnavailable, "too many responses waiting; try again later"));
  }
  // Released however this ends; after it, no Complete() touches this connection's executor
  // (which may be gone along with the server by the time the answer comes).
  struct Release {
    Impl* impl;
    DeferredResponse* deferred;
    ~Release() {
      Control::Detach(*deferred);
      impl->pending_deferred.fetch_sub(1);
    }
  } release{this, deferred.get()};

  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto waker = std::make_shared<Waker>(executor);
  Control::Attach(*deferred, waker->WakeFunction());
  auto watch = std::make_shared<DeferredWatch>();
  // The header's deadline must not cut the wait short; the write sets its own.
  conn->stream->expires_never();
  asio::co_spawn(executor, WatchWhileDeferred(conn, buffer, watch, waker),
                 [](std::exception_ptr e) { LogCompletion("deferred response watcher", e); });

  std::optional<Result<Response>> answer;
  for (;;) {
    answer = Control::Take(*deferred);
    if (answer || watch->gone) break;
    co_await waker->Wait();
  }
  // Completed in the meantime: the answer stands and is written (or fails to be) below.
  if (!answer && !Control::Cancel(*deferred)) answer = Control::Take(*deferred);
  if (!watch->ended) {
    watch->stopping = true;
    conn->stream->cancel();
    while (!watch->ended) co_await waker->Wait();
  }
  if (watch->gone) *must_close = true;
  co_return answer;
}

asio::awaitable<bool> Server::Impl::WriteResponse(std::shared_ptr<Connection> conn,
                                                  Response response, bool keep_alive,
                                                  unsigned version, bool head_only) {
  if (response.status < 200 || response.status > 599) {
    log::Error("handler answered with invalid status {}", response.status);
    response = ErrorResponse(Error(ErrorCode::kInternal, "invalid status code"));
  }
  http::response<http::string_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(response.status));
  wire::CopyHeaders(response.headers, out);
  if (out.find("X-Content-Type-Options") == out.end()) {
    out.set("X-Content-Type-Options", "nosniff");
  }
  if (out.find(http::field::cache_control) == out.end()) {
    out.set(http::field::cache_control, "no-store");
  }
  out.keep_alive(keep_alive);
  out.body() = std::move(response.body);
  out.prepare_payload();
  conn->stream->expires_after(options.limits.write_timeout);
  boost::system::error_code ec;
  if (head_only) {
    http::response_serializer<http::string_body> serializer(out);
    auto [header_ec, n] = co_await http::async_write_header(*conn->stream, serializer, kAsTuple);
    ec = header_ec;
  } else {
    auto [write_ec, n] = co_await http::async_write(*conn->stream, out, kAsTuple);
    ec = write_ec;
  }
  if (ec) log::Debug("writing a response to {} failed: {}", PeerName(conn->peer), ec.message());
  co_return !ec;
}

asio::awaitable<void> Server::Impl::WriteContinue(std::shared_ptr<Connection> conn,
                                                  unsigned version) {
  http::response<http::empty_body> interim(http::status::continue_, version);
  conn->stream->expires_after(options.limits.write_timeout);
  auto [ec, n] = co_await http::async_write(*conn->stream, interim, kAsTuple);
  (void)ec;  // a dead connection shows up on the next read
}

// Reads and drops whatever the client still sends, briefly, then half-closes; the connection
// is closed by the caller.
asio::awaitable<void> Server::Impl::Linger(std::shared_ptr<Connection> conn) {
  Stream& stream = *conn->stream;
  if (!stream.is_open()) co_return;
  // A TCP half-close would cut TLS short; a plain stream can signal the end of the answer.
  if (stream.native_ssl() == nullptr) stream.shutdown_send();
  stream.expires_after(kLingerTime);
  std::string sink(16 * 1024, '\0');
  std::size_t drained = 0;
  while (drained < kLingerBytes) {
    auto [ec, n] = co_await conn->stream->async_read_some(asio::buffer(sink), kAsTuple);
    if (ec) break;
    drained += n;
  }
  stream.close();
}

namespace {

// Watches a connection during a streamed response: the client sends nothing more, so a
// completed read means it has gone (or broke the protocol); either way the producer stops.
asio::awaitable<void> WatchForHangup(std::shared_ptr<Connection> conn,
                                     std::shared_ptr<StreamPipe> pipe,
                                     std::shared_ptr<Waker> waker) {
  std::string sink(512, '\0');
  for (;;) {
    auto [ec, n] = co_await conn->stream->async_read_some(asio::buffer(sink), kAsTuple);
    if (ec) break;
  }
  pipe->Cancel();
  waker->Wake();
}

}  // namespace

asio::awaitable<void> Server::Impl::WriteStream(std::shared_ptr<Connection> conn, Response response,
                                                unsigned version) {
  Stream& stream = *conn->stream;
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto waker = std::make_shared<Waker>(executor);
  auto pipe =
      std::make_shared<StreamPipe>(options.limits.stream_buffer_bytes, waker->WakeFunction());
  WorkerPool::Task task = [producer = std::move(response.stream), pipe] {
    Status status;
    try {
      status = producer(*pipe);
    } catch (const std::exception& e) {
      status = Fail(ErrorCode::kInternal, std::string("stream producer threw: ") + e.what());
    } catch (...) {
      status = Fail(ErrorCode::kInternal, "stream producer threw");
    }
    pipe->Finish(std::move(status));
  };
  if (!streamers.TrySubmit(task)) {
    Response busy =
        ErrorResponse(Error(ErrorCode::kUnavailable, "too many streamed responses in progress"));
    co_await WriteResponse(conn, std::move(busy), false, version, false);
    co_return;
  }

  http::response<http::empty_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(response.status));
  wire::CopyHeaders(response.headers, out);
  out.set("X-Content-Type-Options", "nosniff");
  out.set(http::field::cache_control, "no-store");
  out.keep_alive(false);
  out.chunked(true);
  http::response_serializer<http::empty_body> serializer(out);
  stream.expires_after(options.limits.write_timeout);
  auto [header_ec, header_bytes] =
      co_await http::async_write_header(*conn->stream, serializer, kAsTuple);
  bool failed = static_cast<bool>(header_ec);
  if (failed) {
    pipe->Cancel();
  } else {
    stream.expires_never();  // the watcher's read must not time out while the stream idles
    asio::co_spawn(executor, WatchForHangup(conn, pipe, waker),
                   [](std::exception_ptr e) { LogCompletion("stream watcher", e); });
  }

  std::optional<Status> finish;
  for (;;) {
    StreamPipe::Taken taken = pipe->Take();
    if (!taken.data.empty()) {
      if (failed) continue;
      // A read is pending (the watcher), so this sets only the write deadline.
      stream.expires_after(options.limits.write_timeout);
      auto [ec, n] = co_await asio::async_write(
          *conn->stream, http::make_chunk(asio::buffer(taken.data)), kAsTuple);
      if (ec) {
        failed = true;
        pipe->Cancel();
      }
      continue;
    }
    if (taken.finish) {
      finish = std::move(taken.finish);
      break;
    }
    co_await waker->Wait();
  }
  if (!failed && *finish) {
    stream.expires_after(options.limits.write_timeout);
    auto [ec, n] = co_await asio::async_write(*conn->stream, http::make_chunk_last(), kAsTuple);
    (void)ec;
  } else if (!*finish) {
    log::Warn("streamed response to {} ended early: {}", PeerName(conn->peer),
              finish->error().message());
  }
  // Closing also ends the watcher's read.
  stream.close();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, Router router,
                                               std::shared_ptr<Authenticator> authenticator,
                                               std::shared_ptr<Authorizer> authorizer) {
  if (!options.tcp && !options.unix_socket && !options.allow_no_listener) {
    return Fail(ErrorCode::kInvalidInput, "the server has no listener configured");
  }
  if (!authenticator) {
    for (const Route* route : router.routes()) {
      if (!route->options.is_public) {
        return Fail(ErrorCode::kInvalidInput,
                    "route " + route->pattern + " needs authentication but no authenticator");
      }
    }
  }
  if (options.limits.max_connections == 0 || options.limits.stream_buffer_bytes == 0) {
    return Fail(ErrorCode::kInvalidInput, "server limits must be positive");
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(router),
                                     std::move(authenticator), std::move(authorizer));
  if (impl->options.tcp) {
    try {
      impl->tls_context.emplace(asio::ssl::context::tls_server);
    } catch (const std::exception& e) {
      return Fail(ErrorCode::kInternal, std::string("creating the TLS context: ") + e.what());
    }
    FK_TRY_CTX(
        crypto::ConfigureServerTls(impl->tls_context->native_handle(), impl->options.tcp->tls),
        "TLS configuration");
  }
  // The first listener, recorded for Start to bind.
  if (impl->options.unix_socket) FK_TRY(impl->AddUnixListener(*impl->options.unix_socket));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Start() { return impl_->Start(); }

Status Server::AddUnixListener(UnixListenerOptions options) {
  return impl_->AddUnixListener(std::move(options));
}

Status Server::RemoveUnixListener(const std::string& path) {
  return impl_->RemoveUnixListener(path);
}

void Server::Stop() {
  if (impl_) impl_->Stop();
}

std::uint16_t Server::tcp_port() const { return impl_->bound_port; }

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Fail(ErrorCode::kInvalidInput,
                "listen address must be host:port, not \"" + std::string(text) + "\"");
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return Fail(ErrorCode::kInvalidInput, "listen port must be a number from 0 to 65535, not \"" +
                                              std::string(port_text) + "\"");
  }
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(port)};
}

}  // namespace fogkeep::net
