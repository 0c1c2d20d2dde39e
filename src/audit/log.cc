#include "audit/log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <exception>

#include "core/log.h"

namespace fogkeep::audit {
namespace {

namespace json = boost::json;

// How much of a large log Open reads to find and check its chain head.
constexpr std::uint64_t kTailWindow = 256 * 1024;
// Findings quoted in the detail of an "audit.verify-failed" record.
constexpr std::size_t kQuotedFindings = 5;

Event SystemEvent(std::string action, std::string target, std::string result, std::string detail) {
  return Event{.actor = "fogkeepd",
               .role = "system",
               .source = "local",
               .action = std::move(action),
               .target = std::move(target),
               .result = std::move(result),
               .detail = std::move(detail)};
}

std::string BaseName(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("write", errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::string> ReadAt(int fd, std::uint64_t offset, std::size_t size) {
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("read", errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

// Replaces the head file atomically: written under one fixed temporary name (only the holder of
// the log's lock writes it, and a crash leaves no litter but that one file), then renamed; with
// kSync also flushed before the rename and the directory after it. Without the flushes a power
// cut may leave it stale or empty, which Open reports.
Status WriteHead(const std::string& path, const Anchor& head, Durability durability) {
  const std::string text =
      "{\"seq\":" + std::to_string(head.seq) + ",\"hash\":\"" + head.hash + "\"}\n";
  const std::string tmp = path + ".tmp";
  {
    fs::UniqueFd fd(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return FailErrno("create " + tmp, errno);
    FK_TRY_CTX(WriteAll(fd.get(), text), tmp);
    if (durability == Durability::kSync && ::fsync(fd.get()) != 0) {
      return FailErrno("fsync " + tmp, errno);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return FailErrno("rename to " + path, errno);
  if (durability == Durability::kSync) {
    const std::size_t slash = path.rfind('/');
    return fs::FsyncDir(slash == std::string::npos ? "."
                        : slash == 0               ? "/"
                                                   : path.substr(0, slash));
  }
  return {};
}

std::string Quote(const std::vector<Finding>& findings) {
  std::string out;
  std::size_t quoted = 0;
  for (const Finding& f : findings) {
    if (f.kind == FindingKind::kPartialTail) continue;
    if (quoted == kQuotedFindings) {
      out += "; ...";
      break;
    }
    if (!out.empty()) out += "; ";
    out += "line " + std::to_string(f.line) + ": " + std::string(FindingKindName(f.kind)) + ": " +
           f.message;
    ++quoted;
  }
  return out;
}

}  // namespace

std::string HeadPath(const std::string& log_path) { return log_path + ".head"; }

Result<Anchor> ReadHeadFile(const std::string& path) {
  const std::string text = FK_TRY(fs::ReadFile(path, 4096));
  boost::system::error_code ec;
  json::value value;
  try {
    value = json::parse(text, ec);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidInput, path + ": " + e.what());
  }
  const json::object* object = ec ? nullptr : value.if_object();
  const json::value* seq = object == nullptr ? nullptr : object->if_contains("seq");
  const json::value* hash = object == nullptr ? nullptr : object->if_contains("hash");
  Anchor head;
  bool valid_seq = false;
  if (seq != nullptr && seq->is_int64() && seq->as_int64() >= 0) {
    head.seq = static_cast<std::uint64_t>(seq->as_int64());
    valid_seq = true;
  } else if (seq != nullptr && seq->is_uint64()) {
    head.seq = seq->as_uint64();
    valid_seq = true;
  }
  if (hash != nullptr && hash->is_string()) head.hash = std::string(hash->as_string());
  if (!valid_seq || head.hash.size() != 64 ||
      head.hash.find_first_not_of("0123456789abcdef") != std::string::npos ||
      (head.seq == 0 && head.hash != kGenesisHash)) {
    return Fail(ErrorCode::kInvalidInput,
                path + ": not a head file ({\"seq\":N,\"hash\":\"<64 hex digits>\"})");
  }
  return head;
}

AuditLog::AuditLog(std::string path, LogOptions options, fs::UniqueFd fd)
    : path_(std::move(path)),
      head_path_(HeadPath(path_)),
      options_(std::move(options)),
      fd_(std::move(fd)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, LogOptions options) {
  fs::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return FailErrno("open audit log " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidInput, "audit log " + path + " is not a regular file");
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Fail(ErrorCode::kConflict, "audit log " + path + " is in use by another writer");
    }
    return FailErrno("lock " + path, errno);
  }
  if ((st.st_mode & 0777) != 0600 && ::fchmod(fd.get(), 0600) != 0) {
    return FailErrno("chmod " + path, errno);
  }
  std::unique_ptr<AuditLog> log(new AuditLog(path, std::move(options), std::move(fd)));
  {
    std::lock_guard lock(log->mu_);
    FK_TRY_CTX(log->RecoverLocked(), "audit log " + path);
  }
  return log;
}

Status AuditLog::RecoverLocked() {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return FailErrno("stat", errno);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const bool full = size <= options_.verify_on_open_bytes;
  const std::uint64_t offset = full || size <= kTailWindow ? 0 : size - kTailWindow;
  const std::string text = FK_TRY(ReadAt(fd_.get(), offset, size - offset));

  std::vector<Event> events;
  Result<Anchor> head_file = ReadHeadFile(head_path_);
  VerifyOptions verify;
  verify.starts_mid_log = offset > 0;
  if (head_file) verify.anchors.push_back(*head_file);
  const VerifyReport report = VerifyText(text, verify);
  open_report_.findings = report.findings;
  open_report_.records_verified = report.records;
  open_report_.verified_in_full = offset == 0;

  // An incomplete last line is a record whose write a crash interrupted; it was never
  // acknowledged, so removing it loses nothing anyone was told about.
  size_ = offset + report.complete_bytes;
  if (size_ < size) {
    open_report_.partial_tail_bytes = size - size_;
    if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) {
      return FailErrno("remove the incomplete last line", errno);
    }
    if (options_.durability == Durability::kSync && ::fdatasync(fd_.get()) != 0) {
      return FailErrno("fdatasync", errno);
    }
    const std::string message = "removed an incomplete last line of " +
                                std::to_string(open_report_.partial_tail_bytes) +
                                " bytes (a write interrupted by a crash)";
    open_report_.problems.push_back(message);
    events.push_back(SystemEvent("audit.recovered", BaseName(path_), "repaired", message));
  }

  if (report.head) {
    seq_ = report.head->seq;
    hash_ = report.head->hash;
  } else if (size_ > 0 && offset > 0) {
    return Fail(ErrorCode::kIntegrity,
                "no record in its last " + std::to_string(kTailWindow) +
                    " bytes, so the chain cannot be continued; archive it and its head file "
                    "to start a new chain");
  }

  std::vector<Finding> tampering;
  bool truncated = false;
  for (const Finding& f : report.findings) {
    if (f.kind == FindingKind::kTruncated) {
      truncated = true;
    } else if (f.kind == FindingKind::kAnchorMismatch) {
      open_report_.problems.push_back(f.message);
      events.push_back(SystemEvent("audit.head-mismatch", BaseName(path_), "detected", f.message));
    } else if (f.kind != FindingKind::kPartialTail) {
      tampering.push_back(f);
    }
  }
  if (!tampering.empty()) {
    const std::string detail = std::to_string(tampering.size()) + " finding(s)" +
                               (report.omitted > 0 ? " and more" : "") + ": " + Quote(tampering);
    open_report_.problems.push_back("verification failed: " + detail);
    events.push_back(SystemEvent("audit.verify-failed", BaseName(path_), "detected", detail));
  }

  if (!head_file) {
    if (head_file.error().code() != ErrorCode::kNotFound) {
      open_report_.problems.push_back(head_file.error().message());
      events.push_back(SystemEvent("audit.head-invalid", BaseName(head_path_), "detected",
                                   head_file.error().message()));
    } else if (seq_ > 0) {
      const std::string message =
          BaseName(head_path_) +
          " is missing: records removed from the end of the log before now cannot be detected";
      open_report_.problems.push_back(message);
      events.push_back(
          SystemEvent("audit.head-missing", BaseName(head_path_), "detected", message));
    }
  } else if (truncated) {
    // Records the head knew of are gone from the end. Continue the chain from the head, so the
    // missing seqs stay visible as a gap to every later verification, head or not.
    const std::string message = "the log ends at seq " + std::to_string(seq_) +
                                " but its head says seq " + std::to_string(head_file->seq) +
                                ": records were removed from the end";
    open_report_.problems.push_back(message);
    events.push_back(SystemEvent("audit.truncated", BaseName(path_), "detected", message));
    seq_ = head_file->seq;
    hash_ = head_file->hash;
  } else if (seq_ > head_file->seq + 1) {
    // One record past the head is the crash window between the two writes; more is not.
    const std::string message = "the head says seq " + std::to_string(head_file->seq) +
                                " but the log continues to seq " + std::to_string(seq_);
    open_report_.problems.push_back(message);
    events.push_back(SystemEvent("audit.head-behind", BaseName(head_path_), "detected", message));
  }

  // Best effort: a full or failing log must not keep the node from starting (Ready() then
  // refuses state-changing calls instead).
  for (const Event& event : events) {
    if (Result<Record> appended = AppendLocked(event); !appended) {
      open_report_.problems.push_back("cannot record " + event.action + ": " +
                                      appended.error().message());
      log::Error("audit log {}: cannot record {}: {}", path_, event.action,
                 appended.error().message());
    }
  }
  // A new log gets its head at once (seq 0, the genesis value), so that a crash right after
  // its first record looks like any other crash between a record and its head.
  if (events.empty() && (!head_file || head_file->seq != seq_ || head_file->hash != hash_)) {
    FK_TRY_CTX(WriteHead(head_path_, Anchor{seq_, hash_}, options_.durability), "write head");
  }
  return {};
}

Result<Record> AuditLog::Append(const Event& event) {
  std::lock_guard lock(mu_);
  return AppendLocked(event);
}

Result<Record> AuditLog::AppendLocked(const Event& event) {
  if (failure_) return Fail(ErrorCode::kUnavailable, "audit log unusable: " + *failure_);
  Record r;
  r.seq = seq_ + 1;
  r.time = FormatTime(options_.clock ? options_.clock() : std::chrono::system_clock::now());
  r.actor = CleanField(event.actor, kMaxShortField);
  r.role = CleanField(event.role, kMaxShortField);
  r.source = CleanField(event.source, kMaxShortField);
  r.action = CleanField(event.action, kMaxShortField);
  r.target = CleanField(event.target, kMaxTargetBytes);
  r.result = CleanField(event.result, kMaxShortField);
  r.detail = CleanField(event.detail, kMaxDetailBytes);
  r.prev = hash_;
  r.hash = ComputeHash(r);
  const std::string line = SerializeLine(r) + "\n";
  if (size_ + line.size() > options_.max_bytes) {
    return Fail(ErrorCode::kLimit, "audit log full (" + std::to_string(size_) + " of " +
                                       std::to_string(options_.max_bytes) +
                                       " bytes): archive it and its head file");
  }
  if (Status written = WriteAll(fd_.get(), line); !written) {
    // Take back whatever part of the line landed, so the log stays whole lines; if even that
    // fails, the file's end is unknown and nothing more may be appended.
    if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) {
      failure_ = written.error().message() + ", and removing the partial line failed";
    }
    return Fail(std::move(written).error().With("append to " + path_));
  }
  if (options_.durability == Durability::kSync && ::fdatasync(fd_.get()) != 0) {
    // After a failed flush the kernel may have dropped the dirty pages: what the file holds is
    // unknown, so the log stops here (reopening re-verifies it).
    failure_ = ErrnoMessage("fdatasync", errno);
    return Fail(ErrorCode::kUnavailable, "audit log " + path_ + ": " + *failure_);
  }
  seq_ = r.seq;
  hash_ = r.hash;
  size_ += line.size();
  if (Status head = WriteHead(head_path_, Anchor{seq_, hash_}, options_.durability); !head) {
    // The record itself is durable; only the anchor lags. Stop, so the gap stays one record.
    failure_ = "head file: " + head.error().message();
    log::Error("audit log {}: {}", path_, *failure_);
  }
  return r;
}

Status AuditLog::Ready() const {
  std::lock_guard lock(mu_);
  if (failure_) return Fail(ErrorCode::kUnavailable, "audit log unusable: " + *failure_);
  if (size_ + kReserveBytes > options_.max_bytes) {
    return Fail(ErrorCode::kUnavailable,
                "audit log full (" + std::to_string(size_) + " of " +
                    std::to_string(options_.max_bytes) +
                    " bytes): archive audit.log and audit.log.head and restart fogkeepd");
  }
  return {};
}

std::optional<Anchor> AuditLog::head() const {
  std::lock_guard lock(mu_);
  if (seq_ == 0) return std::nullopt;
  return Anchor{seq_, hash_};
}

Snapshot AuditLog::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot s;
  s.bytes = size_;
  if (seq_ > 0) s.head = Anchor{seq_, hash_};
  return s;
}

Result<std::string> AuditLog::Read(std::uint64_t offset, std::size_t max_bytes) const {
  return ReadAt(fd_.get(), offset, max_bytes);
}

}  // namespace fogkeep::audit
