// The append-only writer of a node's audit trail (data-dir/audit.log) and its head file.
//
// Durability policy. With Durability::kSync (the default) Append returns only after the record
// is on stable storage: the line is written with one write(2) to an O_APPEND descriptor, then
// fdatasync(2), then the head file is replaced atomically (temporary file, fsync, rename, fsync
// of the directory). fogkeepd appends the record of an API call before it sends the answer, so
// a change a client saw acknowledged is in the trail even if the node loses power right after.
// That costs about three flushes per state-changing call, which are rare on a node. A crash can
// leave at most one incomplete line at the end (the record being written, never acknowledged);
// Open removes it and records that it did. A crash between the record and the head leaves the
// head one record behind, which Open accepts and repairs.
//
// The head file (<log>.head) holds the seq and hash of the last record (seq 0 and the genesis
// value while the log is empty: Open creates it with the log). It anchors the chain
// against the one change the chain cannot show by itself: whole records removed from the end.
// Whoever can rewrite both files consistently (root on the node) is not stopped by either;
// export the head off the node (`fogkeep audit verify` prints it) to catch that.
//
// Failure policy. A failed write or flush leaves the log in an unknown state: the log turns
// unusable (Ready and Append fail with kUnavailable) until it is reopened, and fogkeepd then
// refuses state-changing calls rather than perform them unrecorded. The same holds when the
// log reaches LogOptions::max_bytes ("audit log full"): archive the log and its head
// (stop fogkeepd, move audit.log and audit.log.head away, start it again) to begin a new chain.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/record.h"
#include "audit/verify.h"
#include "core/error.h"
#include "core/fs.h"

namespace fogkeep::audit {

enum class Durability {
  kSync,  // each record (and the head) is flushed to stable storage before Append returns
  kNone,  // write-back is left to the kernel: a power loss may lose the last records (tests)
};

struct LogOptions {
  Durability durability = Durability::kSync;
  // Appends that would grow the log past this fail with kLimit; Ready() fails kUnavailable
  // once less than kReserveBytes remain, so the record of a call admitted still fits.
  std::uint64_t max_bytes = std::uint64_t{128} << 20;
  // Logs up to this size are verified in full by Open; larger ones only in their last
  // kTailWindow bytes.
  std::uint64_t verify_on_open_bytes = std::uint64_t{16} << 20;
  // The clock records are stamped with; null: the system clock.
  std::function<std::chrono::system_clock::time_point()> clock;
};

// Field limits applied by Append (CleanField), which keep a record far below kMaxLineBytes.
inline constexpr std::size_t kMaxShortField = 256;  // actor, role, source, action, result
inline constexpr std::size_t kMaxTargetBytes = 1024;
inline constexpr std::size_t kMaxDetailBytes = 4096;
inline constexpr std::uint64_t kReserveBytes = 64 * 1024;

// The path of the head file of the log at `log_path`.
std::string HeadPath(const std::string& log_path);
// Reads a head file: {"seq":N,"hash":"<64 hex>"}, N = 0 only with the genesis value (an empty
// log). kNotFound when it does not exist, kInvalidInput when it is malformed.
Result<Anchor> ReadHeadFile(const std::string& path);

// What Open found and did, for the daemon's log and for tests.
struct OpenReport {
  std::uint64_t records_verified = 0;
  bool verified_in_full = false;
  std::uint64_t partial_tail_bytes = 0;  // bytes of an incomplete last line that were removed
  std::vector<Finding> findings;         // of the verification (the partial tail included)
  // Each problem found (and recorded in the log), in words: a removed incomplete line, failed
  // verification, a head file missing, unreadable, behind or ahead of the log.
  std::vector<std::string> problems;
};

// The log's content as of one moment: complete lines only, and the head matching them.
struct Snapshot {
  std::uint64_t bytes = 0;
  std::optional<Anchor> head;
};

class AuditLog {
 public:
  // Opens (creating it 0600 when missing) the log at `path`, takes an exclusive lock on it
  // (kConflict when another open log holds it, in this process or another), verifies it (in
  // full or its tail, see LogOptions) and its head file, removes an incomplete last line, and
  // appends a record of each problem found (action "audit.recovered", "audit.verify-failed",
  // "audit.head-mismatch", ...) so the trail itself tells what happened to it. Problems never
  // stop Open: a node must keep working, and keep recording, with a damaged trail. Only a log
  // whose chain head cannot be found (no record in the verified part) is kIntegrity.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path, LogOptions options = {});
  ~AuditLog() = default;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends a record of `event` (fields cleaned with CleanField) and returns it. Safe to call
  // from any thread; records are ordered by the lock. kLimit when the log is full,
  // kUnavailable when a write or flush failed now or earlier.
  Result<Record> Append(const Event& event);

  // Whether an Append would be accepted now: kUnavailable when the log failed or is within
  // kReserveBytes of max_bytes. Never blocks for long (takes the lock only).
  Status Ready() const;

  // The last record's seq and hash; nullopt while the log is empty.
  std::optional<Anchor> head() const;
  Snapshot snapshot() const;
  // Up to `max_bytes` of the file from `offset` (fewer at its end). Bytes below
  // snapshot().bytes never change while the log is open.
  Result<std::string> Read(std::uint64_t offset, std::size_t max_bytes) const;
  const std::string& path() const { return path_; }
  const OpenReport& open_report() const { return open_report_; }

 private:
  AuditLog(std::string path, LogOptions options, fs::UniqueFd fd);
  Result<Record> AppendLocked(const Event& event);
  Status RecoverLocked();

  // Constant after construction.
  const std::string path_;
  const std::string head_path_;
  const LogOptions options_;
  const fs::UniqueFd fd_;  // O_APPEND, holding the flock

  mutable std::mutex mu_;
  // Guarded by mu_.
  std::uint64_t seq_ = 0;               // of the last record; 0 when empty
  std::string hash_{kGenesisHash};      // of the last record, or the genesis value
  std::uint64_t size_ = 0;              // bytes in the file, all complete lines
  std::optional<std::string> failure_;  // why the log became unusable
  OpenReport open_report_;              // written by Open only, before the log is shared
};

}  // namespace fogkeep::audit
