#include "net/body_pipe.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace fogkeep::net {

BodyPipe::BodyPipe(std::size_t capacity, std::function<void()> wake_io)
    : capacity_(capacity), wake_io_(std::move(wake_io)) {}

Result<std::size_t> BodyPipe::Read(char* buf, std::size_t size) {
  if (size == 0) return 0;
  bool wake = false;
  std::size_t copied = 0;
  {
    std::unique_lock lock(mu_);
    readable_.wait(lock, [this] { return queued_ > 0 || ended_ || error_.has_value(); });
    if (queued_ == 0) {
      if (error_) return Fail(*error_);
      return 0;
    }
    while (copied < size && !chunks_.empty()) {
      const std::string& front = chunks_.front();
      const std::size_t n = std::min(size - copied, front.size() - front_offset_);
      std::memcpy(buf + copied, front.data() + front_offset_, n);
      copied += n;
      front_offset_ += n;
      if (front_offset_ == front.size()) {
        chunks_.pop_front();
        front_offset_ = 0;
      }
    }
    queued_ -= copied;
    if (io_waiting_ && queued_ < capacity_) {
      io_waiting_ = false;
      wake = true;
    }
  }
  if (wake) wake_io_();
  return copied;
}

bool BodyPipe::ReserveRoom() {
  std::lock_guard lock(mu_);
  if (queued_ < capacity_) return true;
  io_waiting_ = true;
  return false;
}

void BodyPipe::Push(std::string chunk) {
  if (chunk.empty()) return;
  {
    std::lock_guard lock(mu_);
    queued_ += chunk.size();
    pushed_ += chunk.size();
    chunks_.push_back(std::move(chunk));
  }
  readable_.notify_one();
}

void BodyPipe::End() {
  {
    std::lock_guard lock(mu_);
    ended_ = true;
  }
  readable_.notify_all();
}

void BodyPipe::Abort(Error e) {
  {
    std::lock_guard lock(mu_);
    if (!ended_ && !error_) error_ = std::move(e);
  }
  readable_.notify_all();
}

std::uint64_t BodyPipe::pushed() const {
  std::lock_guard lock(mu_);
  return pushed_;
}

StreamPipe::StreamPipe(std::size_t capacity, std::function<void()> wake_io)
    : capacity_(capacity), wake_io_(std::move(wake_io)) {}

Status StreamPipe::Write(std::string_view data) {
  if (data.empty()) return {};
  bool wake = false;
  {
    std::unique_lock lock(mu_);
    writable_.wait(lock, [this] { return cancelled_ || queued_.size() < capacity_; });
    if (cancelled_) return Fail(ErrorCode::kUnavailable, "the client has gone");
    queued_.append(data);
    wake = std::exchange(io_waiting_, false);
  }
  if (wake) wake_io_();
  return {};
}

bool StreamPipe::Cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void StreamPipe::Finish(Status status) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    finish_ = std::move(status);
    wake = std::exchange(io_waiting_, false);
  }
  if (wake) wake_io_();
}

StreamPipe::Taken StreamPipe::Take() {
  Taken taken;
  {
    std::lock_guard lock(mu_);
    taken.data.swap(queued_);
    if (taken.data.empty()) {
      if (finish_) {
        taken.finish = *finish_;
      } else {
        io_waiting_ = true;
      }
    }
  }
  if (!taken.data.empty()) writable_.notify_all();
  return taken;
}

void StreamPipe::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  writable_.notify_all();
}

}  // namespace fogkeep::net
