#include "net/worker_pool.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

namespace fogkeep::net {

WorkerPool::WorkerPool(std::size_t max_threads, std::string name)
    : max_threads_(std::max<std::size_t>(max_threads, 1)), name_(std::move(name)) {}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::StartThreadLocked() {
  threads_.emplace_back([this] { Run(); });
  // Linux limits thread names to 15 characters.
  pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
}

void WorkerPool::Submit(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
    if (idle_ < queue_.size() && threads_.size() < max_threads_) StartThreadLocked();
  }
  // After unlocking: a worker woken while the lock is still held would only block on it.
  cv_.notify_one();
}

bool WorkerPool::TrySubmit(Task& task) {
  std::unique_lock lock(mu_);
  if (stopping_) return false;
  if (idle_ <= queue_.size()) {
    if (threads_.size() >= max_threads_) return false;
    StartThreadLocked();
  }
  queue_.push_back(std::move(task));
  lock.unlock();
  cv_.notify_one();
  return true;
}

void WorkerPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

void WorkerPool::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping, nothing left
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // release captured state before taking the lock again
    lock.lock();
  }
}

}  // namespace fogkeep::net
