#include "director/generation_watch.h"

#include <algorithm>

namespace fogkeep::director {

GenerationWatch::GenerationWatch(std::shared_ptr<FleetStore> store, std::chrono::milliseconds poll)
    : store_(std::move(store)), poll_(poll) {}

Result<std::int64_t> GenerationWatch::CurrentLocked(std::unique_lock<std::mutex>& lock,
                                                    bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && generation_ >= 0 && now - read_at_ < poll_) return generation_;
  // The read happens without the lock, so waiters are not held up by a slow database.
  lock.unlock();
  Result<std::int64_t> read = store_->Generation();
  lock.lock();
  if (!read) return read;
  if (*read != generation_) changed_.notify_all();
  generation_ = std::max(generation_, *read);
  read_at_ = now;
  return generation_;
}

Result<std::int64_t> GenerationWatch::Current() {
  std::unique_lock lock(mu_);
  return CurrentLocked(lock, false);
}

Result<std::int64_t> GenerationWatch::WaitBeyond(std::int64_t seen,
                                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    const std::int64_t current = FK_TRY(CurrentLocked(lock, false));
    if (current != seen || stopping_) return current;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return current;
    changed_.wait_until(lock, std::min(deadline, now + poll_));
  }
}

void GenerationWatch::Changed() {
  std::unique_lock lock(mu_);
  // The next Current() reads the store again; waiters wake to do so.
  read_at_ = {};
  (void)CurrentLocked(lock, true);  // a failed read is retried by the next waiter
  changed_.notify_all();
}

void GenerationWatch::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  changed_.notify_all();
}

}  // namespace fogkeep::director
