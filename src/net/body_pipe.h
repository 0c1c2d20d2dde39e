// Bounded byte pipes between a connection's I/O coroutine, which must never block, and a thread
// that does (a handler pulling an upload, a producer pushing a streamed response).
//
// The I/O side never waits on these objects: it polls their state and, when it has to wait,
// flags that it is waiting and suspends on an asynchronous event of its own. The blocking side
// calls `wake_io` (outside the lock) when it changes something the flagged I/O side waits for;
// `wake_io` must only schedule work onto the I/O thread, never run it inline.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/error.h"
#include "net/http.h"

namespace fogkeep::net {

// Request body: the I/O side pushes chunks read from the socket, the handler reads them.
class BodyPipe : public BodySource {
 public:
  BodyPipe(std::size_t capacity, std::function<void()> wake_io);

  // Handler side. Blocks until data, the end, or a failure.
  Result<std::size_t> Read(char* buf, std::size_t size) override;

  // I/O side. Never blocks.
  // False when `capacity` bytes are queued; the I/O side is then flagged as waiting and
  // `wake_io` runs once the handler has drained the pipe below capacity.
  bool ReserveRoom();
  void Push(std::string chunk);
  void End();           // the body is complete
  void Abort(Error e);  // the body cannot be completed; Read returns `e` after queued data
  // Total bytes pushed.
  std::uint64_t pushed() const;

 private:
  const std::size_t capacity_;
  const std::function<void()> wake_io_;

  mutable std::mutex mu_;
  std::condition_variable readable_;
  // Guarded by mu_.
  std::deque<std::string> chunks_;
  std::size_t front_offset_ = 0;  // bytes of chunks_.front() already read
  std::size_t queued_ = 0;        // unread bytes
  std::uint64_t pushed_ = 0;
  bool ended_ = false;
  std::optional<Error> error_;
  bool io_waiting_ = false;
};

// Streamed response body: a producer thread writes, the I/O side takes and sends.
class StreamPipe : public BodySink {
 public:
  StreamPipe(std::size_t capacity, std::function<void()> wake_io);

  // Producer side.
  Status Write(std::string_view data) override;
  bool Cancelled() const override;
  // Called once when the producer returns.
  void Finish(Status status);

  // I/O side. Never blocks.
  struct Taken {
    std::string data;              // may be empty
    std::optional<Status> finish;  // set once the producer finished and everything was taken
  };
  // Everything queued; when there is nothing and the producer is still running, flags the I/O
  // side as waiting so that the next Write or Finish runs `wake_io`.
  Taken Take();
  // The client is gone: Writes fail from now on and waiting producers wake.
  void Cancel();

 private:
  const std::size_t capacity_;
  const std::function<void()> wake_io_;

  mutable std::mutex mu_;
  std::condition_variable writable_;
  // Guarded by mu_.
  std::string queued_;
  std::optional<Status> finish_;
  bool cancelled_ = false;
  bool io_waiting_ = false;
};

}  // namespace fogkeep::net
