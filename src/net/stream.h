// Private to net/: one byte-stream type for every transport (TLS over TCP, plain Unix socket).
//
// Beast's HTTP algorithms are templates over the stream type; instantiating them for each
// transport in each translation unit made server.cc and client.cc the slowest files of the
// build. Stream erases the transport behind a few virtual operations, so the HTTP code is
// instantiated once, and the TLS transport (OpenSSL on the socket, stream.cc) lives in one
// file.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>

namespace boost::asio::ssl {
class context;
}

namespace fogkeep::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

using UnixSocketStream = beast::basic_stream<asio::local::stream_protocol>;
using IoHandler = asio::any_completion_handler<void(beast::error_code, std::size_t)>;
using DoneHandler = asio::any_completion_handler<void(beast::error_code)>;
// The first buffers of a gathered write; write_some may send less than offered anyway.
using WriteBuffers = std::array<asio::const_buffer, 16>;

// Meets Asio's AsyncReadStream and AsyncWriteStream. Like the streams it wraps: one read and
// one write may be outstanding at a time, from the stream's executor (strand).
class Stream {
 public:
  using executor_type = asio::any_io_executor;

  virtual ~Stream() = default;
  virtual executor_type get_executor() = 0;

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    asio::mutable_buffer first;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      if (asio::mutable_buffer(*it).size() > 0) {
        first = *it;
        break;
      }
    }
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this, first](auto handler) { ReadSome(first, IoHandler(std::move(handler))); }, token);
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    WriteBuffers gathered{};
    std::size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers) && n < gathered.size(); ++it) {
      if (asio::const_buffer(*it).size() > 0) gathered[n++] = *it;
    }
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this, gathered](auto handler) { WriteSome(gathered, IoHandler(std::move(handler))); },
        token);
  }

  // Completes when a read may find bytes, holding no read buffer meanwhile: how an idle
  // keep-alive connection waits for its next request. TLS streams wait for the socket (or
  // complete at once when OpenSSL holds received bytes); plain streams complete at once. The
  // deadline applies as to a read.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return asio::async_initiate<Token, void(beast::error_code)>(
        [this](auto handler) { WaitReadable(DoneHandler(std::move(handler))); }, token);
  }
  // TLS handshake (server or client side); plain streams complete at once.
  template <class Token>
  auto async_handshake(bool server, Token&& token) {
    return asio::async_initiate<Token, void(beast::error_code)>(
        [this, server](auto handler) { Handshake(server, DoneHandler(std::move(handler))); },
        token);
  }
  // TLS close_notify exchange; plain streams complete at once.
  template <class Token>
  auto async_shutdown(Token&& token) {
    return asio::async_initiate<Token, void(beast::error_code)>(
        [this](auto handler) { Shutdown(DoneHandler(std::move(handler))); }, token);
  }

  // Deadlines of the socket underneath (Beast's basic_stream semantics: they apply to the next
  // read and the next write; when one passes, the socket is closed).
  virtual void expires_after(std::chrono::steady_clock::duration d) = 0;
  virtual void expires_never() = 0;
  virtual bool is_open() = 0;
  virtual void close() = 0;
  // Ends the pending read and write, which complete with operation_aborted; the stream stays
  // usable (a TLS record read in part stays buffered for the next read).
  virtual void cancel() = 0;
  virtual void shutdown_send() = 0;
  virtual int native_handle() = 0;
  // The SSL* of a TLS stream, null for plain ones.
  virtual void* native_ssl() = 0;

 protected:
  virtual void ReadSome(asio::mutable_buffer buffer, IoHandler handler) = 0;
  virtual void WriteSome(WriteBuffers buffers, IoHandler handler) = 0;
  virtual void WaitReadable(DoneHandler handler) = 0;
  virtual void Handshake(bool server, DoneHandler handler) = 0;
  virtual void Shutdown(DoneHandler handler) = 0;
};

// TLS over a connected TCP stream, with `context` (which must outlive the stream).
std::unique_ptr<Stream> MakeTlsStream(beast::tcp_stream tcp, asio::ssl::context& context);
// Plain bytes over a connected Unix socket.
std::unique_ptr<Stream> MakeUnixStream(UnixSocketStream unix_stream);

}  // namespace fogkeep::net::detail
