// Checking an audit log: every record's hash against its content, and the chain of records
// against each other (seq and prev), with each break located by line.
//
// The verifier treats its input as hostile: any bytes give a report, never a crash, in time
// and memory linear in the input (a fuzz target, fuzz/fuzz_audit_verify.cc, holds it to that).
//
// What it finds without help: a record edited in place (its hash no longer matches; or, when
// the editor recomputed that hash, the next record no longer chains to it), records deleted
// anywhere but at the very end (a gap in seq, or a first record other than seq 1 from the
// genesis value), lines inserted (nothing chains to them, or their neighbours chain to each
// other around them), records reordered or duplicated, unparsable lines, and an incomplete
// last line (an interrupted write, reported as such and not as tampering).
//
// What needs an anchor (the last seq and hash, taken earlier and kept apart from the log —
// audit.log.head beside it, or better a copy off the node): records deleted from the end, and
// the last record rewritten with a recomputed hash. Even then a writer of the log can append
// well-formed records after the anchor, and anyone able to rewrite the whole log and its head
// consistently (root on the node) defeats a chain that holds no secret; only an anchor kept
// where they cannot write (the director, an operator's notes) catches that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::audit {

// A record the log must contain: seq and its hash (a chain head seen earlier).
struct Anchor {
  std::uint64_t seq = 0;
  std::string hash;
};

// "SEQ:HASH", the form the CLI prints and accepts (--anchor) and the API sends.
std::string FormatAnchor(const Anchor& anchor);
// kInvalidInput unless `text` is a positive seq, ":", and 64 lowercase hex digits.
Result<Anchor> ParseAnchor(std::string_view text);

enum class FindingKind {
  kUnparsable,      // a complete line that is not a record
  kModified,        // a record whose hash does not match its content, or not in canonical form
  kDeleted,         // a gap in seq: records missing before this line
  kInserted,        // a line that does not belong to the chain
  kReordered,       // a record that comes after a record with a higher seq
  kDuplicate,       // a second copy of a record
  kBrokenChain,     // a record whose prev is not the hash of the record before it
  kTruncated,       // the log ends before the anchor's seq: records removed from the end
  kAnchorMismatch,  // the anchor's seq holds a different record
  kPartialTail,     // the last line has no newline: a write interrupted by a crash
};
std::string_view FindingKindName(FindingKind kind);  // "modified", "partial-tail", ...

struct Finding {
  FindingKind kind;
  std::size_t line = 0;   // 1-based; for kTruncated the line after the last one
  std::uint64_t seq = 0;  // the record's seq when known, else 0
  std::string message;
};

struct VerifyOptions {
  // Records the log must hold: its head file, a head kept off the node, ...
  std::vector<Anchor> anchors;
  // The text is the tail of a log (from some offset): its first line is skipped as possibly
  // cut, and the start of the chain (seq 1, genesis) is not checked. Line numbers then count
  // from the start of the text.
  bool starts_mid_log = false;
  // Findings beyond this are counted in `omitted`, not kept.
  std::size_t max_findings = 1000;
};

struct VerifyReport {
  std::vector<Finding> findings;  // sorted by line
  std::size_t omitted = 0;
  // Observations that are not findings ("no anchor: ...", "1 record after the anchor").
  std::vector<std::string> notes;
  std::size_t lines = 0;      // complete lines
  std::uint64_t records = 0;  // lines holding a record whose hash matches
  // Bytes up to the end of the last complete line: where an incomplete tail starts.
  std::size_t complete_bytes = 0;
  // Where the chain continues: the last record in the log (seq and stored hash), if any.
  std::optional<Anchor> head;

  // No findings at all.
  bool ok() const { return findings.empty() && omitted == 0; }
  // A finding other than kPartialTail.
  bool tampered() const;
};

VerifyReport VerifyText(std::string_view text, const VerifyOptions& options = {});

// Reads the log (at most `max_bytes`, else kLimit) and verifies it.
Result<VerifyReport> VerifyFile(const std::string& path, const VerifyOptions& options = {},
                                std::size_t max_bytes = std::size_t{1} << 30);

}  // namespace fogkeep::audit
