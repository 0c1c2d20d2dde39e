// A small pool of threads for work that blocks (handlers that install packages or call runc,
// streamed response producers), so the I/O thread never does.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fogkeep::net {

class WorkerPool {
 public:
  using Task = std::move_only_function<void()>;

  // Threads are started on demand, up to `max_threads` (at least 1), and then kept.
  WorkerPool(std::size_t max_threads, std::string name);
  // Shutdown().
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; it runs once a thread is free. Tasks submitted after Shutdown() are dropped.
  void Submit(Task task);
  // Runs `task` only if a thread can take it at once (an idle one, or a new one under the
  // limit); otherwise returns false and leaves `task` untouched. For long-lived tasks that
  // must be refused rather than wait behind each other.
  bool TrySubmit(Task& task);
  // Runs the tasks already queued, then joins every thread. Idempotent.
  void Shutdown();

 private:
  void Run();
  void StartThreadLocked();

  const std::size_t max_threads_;
  const std::string name_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  std::deque<Task> queue_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fogkeep::net
