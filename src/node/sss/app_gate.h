// AppGate: which requests may still touch an app's records, so that removing an app is final.
//
// An app's records are destroyed when it is uninstalled, but requests for it may still be on
// their way: queued behind others on the server's workers, or an operator's call that checked
// the app a moment before. One that ran after the destruction would give the id a fresh data
// key and records, and a later app installed under the same id would inherit them. So every
// operation passes the gate and holds its pass while it runs; Close refuses the app's new
// operations, waits for those in flight, and destroys the app with none running.
//
// Each opening of an app (AppSockets::Prepare) has its own epoch, carried by the listener's
// identity: a request that came through an earlier socket of the app is refused even after the
// app is opened again. Passes are also counted per app, so one app cannot occupy every worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "core/error.h"

namespace fogkeep::node::sss {

class AppGate {
  struct Entry;

 public:
  // An admitted operation; the app cannot be destroyed while it lives.
  class Pass {
   public:
    Pass(Pass&&) = default;
    Pass& operator=(Pass&&) = delete;
    ~Pass();

   private:
    friend class AppGate;
    Pass(AppGate* gate, std::shared_ptr<Entry> entry);
    AppGate* gate_;
    std::shared_ptr<Entry> entry_;
    std::shared_lock<std::shared_mutex> hold_;
  };

  // Opens `app` (again, after Close), returning the epoch of this opening: the same one as long
  // as the app stays open.
  std::uint64_t Open(const std::string& app);

  // Admits an operation on `app`. kNotFound when the app was closed and not opened since, or
  // when `epoch` is given and is not its current opening. kUnavailable when `max_in_flight`
  // (0: no limit) of its operations are already admitted.
  Result<Pass> Enter(const std::string& app, std::optional<std::uint64_t> epoch,
                     std::size_t max_in_flight);

  // Closes `app`: from now on its operations are refused; once those in flight are done,
  // `destroy` runs with none running. The app stays closed even when `destroy` fails.
  Status Close(const std::string& app, const std::function<Status()>& destroy);

 private:
  struct Entry {
    std::shared_mutex operations;  // shared by passes, exclusive while destroying
    // Guarded by AppGate::mu_.
    std::uint64_t epoch = 0;  // 0: not opened since the gate began (or since Close)
    bool closed = false;
    std::size_t in_flight = 0;
  };
  std::shared_ptr<Entry> EntryLocked(const std::string& app);
  // Whether an operation for `epoch` (nullopt: any) is refused. Called with mu_ held.
  static bool Refuses(const Entry& entry, std::optional<std::uint64_t> epoch);

  std::mutex mu_;
  // Guarded by mu_. Entries are never removed: one per app id the node has served.
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;
  std::uint64_t last_epoch_ = 0;
};

}  // namespace fogkeep::node::sss
