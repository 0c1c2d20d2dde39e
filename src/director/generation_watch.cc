#include "director/generation_watch.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace fogkeep::director {

struct GenerationWatch::State {
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Waiter {
    std::int64_t seen;
    TimePoint deadline;
    Done done;
  };
  using Fired = std::vector<std::pair<Done, Result<std::int64_t>>>;

  State(std::shared_ptr<FleetStore> s, std::chrono::milliseconds p)
      : store(std::move(s)), poll(p) {}

  // The generation, read again when `force` or when the last read is one interval old. The
  // read happens without the lock, so registering and firing waiters is not held up by a slow
  // database.
  Result<std::int64_t> CurrentLocked(std::unique_lock<std::mutex>& lock, bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && generation >= 0 && now - read_at < poll) return generation;
    lock.unlock();
    Result<std::int64_t> read = store->Generation();
    lock.lock();
    if (!read) return read;
    if (*read > generation) {
      generation = *read;
      // Found on a handler's thread, perhaps: the watch's thread fires the waiters.
      kicked = true;
      wake.notify_one();
    }
    read_at = now;
    return generation;
  }

  // What a waiter gets from the last read: the generation, or an error when there was none.
  Result<std::int64_t> LastReadLocked() const {
    if (generation < 0) {
      return Fail(ErrorCode::kUnavailable, "the desired-state generation was never read");
    }
    return generation;
  }

  // Removes the waiters in `tickets` that are still there, pairing each `done` with `result`.
  void TakeLocked(const std::vector<Ticket>& tickets, const Result<std::int64_t>& result,
                  Fired* fired) {
    for (Ticket ticket : tickets) {
      auto it = waiters.find(ticket);
      if (it == waiters.end()) continue;
      deadlines.erase({it->second.deadline, ticket});
      fired->emplace_back(std::move(it->second.done), result);
      waiters.erase(it);
    }
  }

  // Constant after construction.
  const std::shared_ptr<FleetStore> store;
  const std::chrono::milliseconds poll;

  std::mutex mu;
  std::condition_variable wake;  // the watch's thread waits on it
  // Guarded by mu.
  std::int64_t generation = -1;  // the highest read so far; -1 before the first read
  TimePoint read_at{};           // when `generation` was read; {} makes the next read due
  bool read_now = false;         // Changed(): the thread reads at once
  bool kicked = false;           // something new for the thread to look at
  bool stopping = false;
  Ticket next_ticket = 0;
  std::map<Ticket, Waiter> waiters;
  std::set<std::pair<TimePoint, Ticket>> deadlines;  // the same waiters, soonest first
  std::thread thread;                                // started by the first WhenBeyond
};

GenerationWatch::GenerationWatch(std::shared_ptr<FleetStore> store, std::chrono::milliseconds poll)
    : state_(std::make_shared<State>(std::move(store), poll)) {}

GenerationWatch::~GenerationWatch() {
  Stop();
  // Still there only when this runs inside a `done`: the thread cannot join itself, so it is
  // let go and ends on its own, holding the state it uses.
  std::lock_guard lock(state_->mu);
  if (state_->thread.joinable()) state_->thread.detach();
}

Result<std::int64_t> GenerationWatch::Current() {
  std::unique_lock lock(state_->mu);
  return state_->CurrentLocked(lock, false);
}

GenerationWatch::Ticket GenerationWatch::WhenBeyond(std::int64_t seen,
                                                    std::chrono::milliseconds timeout, Done done) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  if (s.stopping) {
    Result<std::int64_t> last = s.LastReadLocked();
    lock.unlock();
    done(std::move(last));
    return 0;
  }
  const State::TimePoint now = std::chrono::steady_clock::now();
  // Already moved past `seen`: due at once.
  const State::TimePoint deadline =
      (s.generation >= 0 && s.generation != seen) ? now : now + timeout;
  const Ticket ticket = ++s.next_ticket;
  s.waiters.emplace(ticket,
                    State::Waiter{.seen = seen, .deadline = deadline, .done = std::move(done)});
  s.deadlines.emplace(deadline, ticket);
  if (!s.thread.joinable()) s.thread = std::thread(&GenerationWatch::Run, state_);
  s.kicked = true;
  s.wake.notify_one();
  return ticket;
}

void GenerationWatch::Forget(Ticket ticket) {
  Done dropped;  // destroyed after the lock is released
  std::lock_guard lock(state_->mu);
  auto it = state_->waiters.find(ticket);
  if (it == state_->waiters.end()) return;
  state_->deadlines.erase({it->second.deadline, ticket});
  dropped = std::move(it->second.done);
  state_->waiters.erase(it);
}

void GenerationWatch::Changed() {
  std::lock_guard lock(state_->mu);
  state_->read_at = {};
  state_->read_now = true;
  state_->kicked = true;
  state_->wake.notify_one();
}

void GenerationWatch::Stop() {
  std::thread thread;
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    state_->kicked = true;
    state_->wake.notify_one();
    // Inside a `done` the thread cannot join itself; it ends once the callback returns.
    if (state_->thread.get_id() == std::this_thread::get_id()) return;
    thread = std::move(state_->thread);
  }
  if (thread.joinable()) thread.join();
}

void GenerationWatch::Run(std::shared_ptr<State> state) {
  State& s = *state;
  std::unique_lock lock(s.mu);
  // The generation the waiters were last compared with.
  std::int64_t compared = s.generation;
  State::Fired fired;
  std::vector<Ticket> due;
  while (!s.stopping) {
    // Whatever happens while the lock is released below (for the read) sets it again, so the
    // wait at the end does not sleep through it.
    s.kicked = false;
    if (!s.waiters.empty() &&
        (s.read_now || std::chrono::steady_clock::now() - s.read_at >= s.poll)) {
      s.read_now = false;
      Result<std::int64_t> read = s.CurrentLocked(lock, /*force=*/true);
      if (!read) {
        for (const auto& [ticket, waiter] : s.waiters) due.push_back(ticket);
        s.TakeLocked(due, read, &fired);
        due.clear();
      }
    }
    if (s.generation != compared) {
      compared = s.generation;
      for (const auto& [ticket, waiter] : s.waiters) {
        if (waiter.seen != s.generation) due.push_back(ticket);
      }
    }
    const State::TimePoint now = std::chrono::steady_clock::now();
    for (auto it = s.deadlines.begin(); it != s.deadlines.end() && it->first <= now; ++it) {
      due.push_back(it->second);
    }
    if (!due.empty()) {
      s.TakeLocked(due, s.LastReadLocked(), &fired);
      due.clear();
    }
    if (!fired.empty()) {
      lock.unlock();
      for (auto& [done, result] : fired) done(std::move(result));
      fired.clear();  // the callbacks, and what they hold, go without the lock
      lock.lock();
      continue;
    }
    auto woken = [&s] { return s.stopping || s.kicked; };
    if (s.waiters.empty()) {
      s.wake.wait(lock, woken);
    } else {
      s.wake.wait_until(lock, std::min(s.deadlines.begin()->first, s.read_at + s.poll), woken);
    }
  }
  for (const auto& [ticket, waiter] : s.waiters) due.push_back(ticket);
  s.TakeLocked(due, s.LastReadLocked(), &fired);
  lock.unlock();
  for (auto& [done, result] : fired) done(std::move(result));
}

}  // namespace fogkeep::director
