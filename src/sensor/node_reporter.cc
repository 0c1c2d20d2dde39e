#include "sensor/node_reporter.h"

#include <algorithm>
#include <vector>

#include "api/alert.h"
#include "core/log.h"
#include "net/client.h"

namespace fogkeep::sensor {
namespace {

constexpr auto kBatchWait = std::chrono::milliseconds(200);
constexpr auto kFirstRetry = std::chrono::milliseconds(250);
constexpr auto kLongestRetry = std::chrono::seconds(5);
constexpr auto kDrainOnStop = std::chrono::seconds(5);

std::string BatchBody(const std::vector<std::string>& lines) {
  std::string body = "{\"alerts\":[";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) body += ',';
    body += lines[i];
  }
  body += "]}";
  return body;
}

}  // namespace

NodeReporter::NodeReporter(NodeTarget target)
    : target_(std::move(target)), thread_([this] { Run(); }) {}

NodeReporter::~NodeReporter() {
  Drain(kDrainOnStop);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void NodeReporter::OnAlert(const Alert& alert) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      queue_.pop_front();
      ++counters_.dropped;
    }
    queue_.push_back(FormatEveAlert(alert));
  }
  wake_.notify_one();
}

bool NodeReporter::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return drained_.wait_for(lock, timeout, [this] { return queue_.empty() && in_flight_ == 0; });
}

NodeReporterCounters NodeReporter::counters() const {
  std::lock_guard lock(mu_);
  NodeReporterCounters out = counters_;
  out.pending = queue_.size() + in_flight_;
  return out;
}

void NodeReporter::Run() {
  std::unique_ptr<net::Client> client;
  std::chrono::milliseconds retry = kFirstRetry;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    // A moment for more alerts to join the batch (a scan raises several at once).
    wake_.wait_for(lock, kBatchWait,
                   [this] { return stopping_ || queue_.size() >= api::kMaxAlertBatch; });
    const std::size_t count = std::min(queue_.size(), api::kMaxAlertBatch);
    std::vector<std::string> batch(std::make_move_iterator(queue_.begin()),
                                   std::make_move_iterator(queue_.begin() + count));
    queue_.erase(queue_.begin(), queue_.begin() + count);
    in_flight_ = count;
    lock.unlock();

    net::Headers headers;
    headers.Set("Content-Type", "application/json");
    Result<net::Response> answer = [&]() -> Result<net::Response> {
      if (!client) client = FK_TRY(net::Client::Unix(target_.socket_path));
      return client->Request(net::Method::kPost, target_.route, headers, BatchBody(batch));
    }();
    const bool delivered = answer && answer->status / 100 == 2;
    const bool refused = answer && answer->status / 100 == 4;
    if (!delivered && !refused) {
      log::Warn("alerts to the node ({}): {}; trying again in {} ms", target_.socket_path,
                answer ? "status " + std::to_string(answer->status) : answer.error().message(),
                retry.count());
      client.reset();
    } else if (refused) {
      log::Warn("the node refused {} alerts: {}", batch.size(), answer->body.substr(0, 200));
    }

    lock.lock();
    in_flight_ = 0;
    if (delivered) {
      counters_.sent += batch.size();
      retry = kFirstRetry;
    } else if (refused) {
      counters_.refused += batch.size();
    } else {
      ++counters_.failures;
      // Back to the front, in order, within the queue's bound.
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
        if (queue_.size() >= kMaxQueued) {
          ++counters_.dropped;
          continue;
        }
        queue_.push_front(std::move(*it));
      }
      wake_.wait_for(lock, retry, [this] { return stopping_; });
      retry = std::min<std::chrono::milliseconds>(retry * 2, kLongestRetry);
    }
    if (queue_.empty()) drained_.notify_all();
  }
}

}  // namespace fogkeep::sensor
