// Long-poll support: tells waiters when the fleet's desired-state generation
// (FleetStore::Generation) moves past the one a node already has, without a thread per waiter.
// One thread of the watch's own reads the store once per poll interval while anyone waits, at
// once after Changed() (writes made through this replica), and fires every waiter whose
// generation moved or whose time is up. Writes made by another replica sharing the database are
// seen within one interval. The store is read at most once per interval however many nodes
// wait (plus once per Changed()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/error.h"
#include "director/store.h"

namespace fogkeep::director {

class GenerationWatch {
 public:
  // Names one WhenBeyond waiter, for Forget. Never 0 for a waiter that was registered.
  using Ticket = std::uint64_t;
  // Called once with the generation (or the error reading it). Runs on the watch's thread: it
  // may block briefly (a store read) but holds up every other waiter while it does, and must
  // not throw.
  using Done = std::function<void(Result<std::int64_t>)>;

  // The thread starts with the first WhenBeyond.
  GenerationWatch(std::shared_ptr<FleetStore> store,
                  std::chrono::milliseconds poll = std::chrono::milliseconds(500));
  ~GenerationWatch();  // Stop()
  GenerationWatch(const GenerationWatch&) = delete;
  GenerationWatch& operator=(const GenerationWatch&) = delete;

  // The generation, read from the store unless read less than one interval ago.
  Result<std::int64_t> Current();
  // Calls `done` once, on the watch's thread and never inside this call: as soon as the
  // generation differs from `seen` (with the new one), or after `timeout` with the generation
  // then (possibly still `seen`). A failed store read ends every wait with its error, as a
  // blocked caller would have seen it. Stop() ends every wait at once with the last generation
  // read. After Stop(), `done` runs at once on the calling thread instead, and 0 is returned.
  Ticket WhenBeyond(std::int64_t seen, std::chrono::milliseconds timeout, Done done);
  // Drops a waiter: its `done` is not called, unless it is already running (or ran). Does not
  // wait for a running `done`. Any thread; 0 and unknown tickets are ignored.
  void Forget(Ticket ticket);
  // A write through this replica changed some desired state: the next Current() and the
  // watch's thread read the store again.
  void Changed();
  // Ends every wait, as described at WhenBeyond, and joins the watch's thread (server
  // shutdown). Idempotent. From inside a `done` it ends the waits without joining.
  void Stop();

 private:
  // Everything the watch's thread uses, shared with it: the thread may outlive this object
  // when the last reference goes inside a `done`, and then ends on its own.
  struct State;
  static void Run(std::shared_ptr<State> state);

  const std::shared_ptr<State> state_;
};

}  // namespace fogkeep::director
