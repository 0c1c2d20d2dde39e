#include "node/sss/app_gate.h"

#include <utility>

namespace fogkeep::node::sss {

AppGate::Pass::Pass(AppGate* gate, std::shared_ptr<Entry> entry)
    : gate_(gate), entry_(std::move(entry)), hold_(entry_->operations) {}

AppGate::Pass::~Pass() {
  if (!entry_) return;  // moved from
  hold_ = {};
  std::lock_guard lock(gate_->mu_);
  --entry_->in_flight;
}

bool AppGate::Refuses(const Entry& entry, std::optional<std::uint64_t> epoch) {
  // An opening's epoch is never 0: 0 marks an app not open.
  return entry.closed || (epoch && (entry.epoch == 0 || *epoch != entry.epoch));
}

std::shared_ptr<AppGate::Entry> AppGate::EntryLocked(const std::string& app) {
  std::shared_ptr<Entry>& entry = entries_[app];
  if (!entry) entry = std::make_shared<Entry>();
  return entry;
}

std::uint64_t AppGate::Open(const std::string& app) {
  std::lock_guard lock(mu_);
  std::shared_ptr<Entry> entry = EntryLocked(app);
  entry->closed = false;
  if (entry->epoch == 0) entry->epoch = ++last_epoch_;
  return entry->epoch;
}

Result<AppGate::Pass> AppGate::Enter(const std::string& app, std::optional<std::uint64_t> epoch,
                                     std::size_t max_in_flight) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    entry = EntryLocked(app);
    if (Refuses(*entry, epoch)) return Fail(ErrorCode::kNotFound, "app " + app + " is uninstalled");
    if (max_in_flight > 0 && entry->in_flight >= max_in_flight) {
      return Fail(ErrorCode::kUnavailable, "app " + app + " already has " +
                                               std::to_string(max_in_flight) +
                                               " storage requests in progress; retry later");
    }
    ++entry->in_flight;
  }
  // Waits only while a Close destroys the app; then the check below refuses the operation.
  Pass pass(this, entry);
  std::lock_guard lock(mu_);
  if (Refuses(*entry, epoch)) return Fail(ErrorCode::kNotFound, "app " + app + " is uninstalled");
  return pass;
}

Status AppGate::Close(const std::string& app, const std::function<Status()>& destroy) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    entry = EntryLocked(app);
    entry->closed = true;
    entry->epoch = 0;
  }
  std::unique_lock destroying(entry->operations);  // the passes already admitted end first
  return destroy();
}

}  // namespace fogkeep::node::sss
