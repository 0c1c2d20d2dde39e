// Long-poll support: waits until the fleet's desired-state generation (FleetStore::Generation)
// moves past the one a node already has. Writes made through this replica wake waiters at
// once (Changed()); writes made by another replica sharing the database are seen within one
// poll interval. The store is read at most once per interval however many nodes wait.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "director/store.h"

namespace fogkeep::director {

class GenerationWatch {
 public:
  GenerationWatch(std::shared_ptr<FleetStore> store,
                  std::chrono::milliseconds poll = std::chrono::milliseconds(500));

  // The generation, read from the store unless read less than one interval ago.
  Result<std::int64_t> Current();
  // Returns as soon as the generation differs from `seen`, or after `timeout` with the
  // generation then (possibly still `seen`). Stop() ends every wait at once.
  Result<std::int64_t> WaitBeyond(std::int64_t seen, std::chrono::milliseconds timeout);
  // A write through this replica changed some desired state.
  void Changed();
  // Ends every wait (server shutdown).
  void Stop();

 private:
  Result<std::int64_t> CurrentLocked(std::unique_lock<std::mutex>& lock, bool force);

  const std::shared_ptr<FleetStore> store_;
  const std::chrono::milliseconds poll_;
  std::mutex mu_;
  std::condition_variable changed_;
  // Guarded by mu_.
  std::int64_t generation_ = -1;
  std::chrono::steady_clock::time_point read_at_{};
  bool stopping_ = false;
};

}  // namespace fogkeep::director
