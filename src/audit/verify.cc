#include "audit/verify.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "audit/record.h"
#include "core/fs.h"

namespace fogkeep::audit {
namespace {

// A complete line and what it turned out to be.
struct Entry {
  enum class Role {
    kTrusted,   // a record whose hash matches: its seq and prev are what was written
    kWildcard,  // unparsable or modified: it occupies a place, but its fields prove nothing
    kRemoved,   // a duplicate or an inserted record: left out of the chain walk
  };
  std::size_t line = 0;
  bool parsed = false;
  Record record;
  Role role = Role::kWildcard;
  std::size_t finding = SIZE_MAX;  // index of this line's own finding, for reclassification
};

std::string SeqRanges(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  constexpr std::size_t kShown = 8;
  std::string out;
  for (std::size_t i = 0; i < ranges.size() && i < kShown; ++i) {
    if (!out.empty()) out += ", ";
    out += std::to_string(ranges[i].first);
    if (ranges[i].second != ranges[i].first) out += ".." + std::to_string(ranges[i].second);
  }
  if (ranges.size() > kShown) out += ", ...";
  return out;
}

std::string LineRef(const Entry* entry) {
  return entry == nullptr ? std::string("the start of the log")
                          : "line " + std::to_string(entry->line) + " (seq " +
                                std::to_string(entry->record.seq) + ")";
}

class Verifier {
 public:
  Verifier(std::string_view text, const VerifyOptions& options) : text_(text), options_(options) {}

  VerifyReport Run() {
    Split();
    RemoveDuplicates();
    RemoveForgedSeqClaims();
    WalkChain();
    CheckAnchors();
    FindHead();
    Finish();
    return std::move(report_);
  }

 private:
  std::size_t Add(FindingKind kind, std::size_t line, std::uint64_t seq, std::string message) {
    findings_.push_back(Finding{kind, line, seq, std::move(message)});
    return findings_.size() - 1;
  }

  void Split() {
    std::size_t pos = 0;
    std::size_t line = 0;
    if (options_.starts_mid_log) {
      const std::size_t nl = text_.find('\n');
      if (nl == std::string_view::npos) {
        report_.complete_bytes = 0;
        report_.notes.push_back("no complete line in the text");
        return;
      }
      pos = nl + 1;
      line = 1;
    }
    for (;;) {
      const std::size_t nl = text_.find('\n', pos);
      if (nl == std::string_view::npos) break;
      ++line;
      ++report_.lines;
      ParseEntry(line, text_.substr(pos, nl - pos));
      pos = nl + 1;
    }
    report_.complete_bytes = pos;
    if (pos < text_.size()) {
      Add(FindingKind::kPartialTail, line + 1, 0,
          "incomplete last line (" + std::to_string(text_.size() - pos) +
              " bytes without a newline): a write interrupted by a crash, not tampering; "
              "fogkeepd removes it when it next opens the log");
    }
  }

  void ParseEntry(std::size_t line, std::string_view text) {
    Entry entry;
    entry.line = line;
    Result<Record> parsed = ParseLine(text);
    if (!parsed) {
      entry.finding = Add(FindingKind::kUnparsable, line, 0,
                          "not an audit record: " + parsed.error().message());
      entries_.push_back(std::move(entry));
      return;
    }
    entry.parsed = true;
    entry.record = std::move(*parsed);
    const bool hash_ok = ComputeHash(entry.record) == entry.record.hash;
    const bool canonical = hash_ok && SerializeLine(entry.record) == text;
    if (hash_ok && canonical) {
      entry.role = Entry::Role::kTrusted;
      ++report_.records;
    } else {
      entry.finding =
          Add(FindingKind::kModified, line, entry.record.seq,
              hash_ok ? "record seq " + std::to_string(entry.record.seq) +
                            " is not in canonical form: the line was edited after it was written"
                      : "record seq " + std::to_string(entry.record.seq) +
                            ": its hash does not match its content (edited after it was "
                            "written)");
    }
    entries_.push_back(std::move(entry));
  }

  // An exact copy of an earlier record (same hash, which covers everything) is a duplicate.
  void RemoveDuplicates() {
    std::unordered_map<std::string_view, const Entry*> seen;
    for (Entry& e : entries_) {
      if (e.role != Entry::Role::kTrusted) continue;
      auto [it, fresh] = seen.emplace(e.record.hash, &e);
      if (fresh) continue;
      e.role = Entry::Role::kRemoved;
      Add(FindingKind::kDuplicate, e.line, e.record.seq,
          "a copy of " + LineRef(it->second) + ", inserted a second time");
    }
  }

  // Two well-formed records claiming one seq: the one another record chains to (or the anchor
  // names) is genuine; the other was inserted by someone who could compute a hash.
  void RemoveForgedSeqClaims() {
    std::unordered_set<std::string_view> chained_to;
    std::map<std::uint64_t, std::vector<Entry*>> by_seq;
    for (Entry& e : entries_) {
      if (e.role != Entry::Role::kTrusted) continue;
      chained_to.insert(e.record.prev);
      by_seq[e.record.seq].push_back(&e);
    }
    for (auto& [seq, claims] : by_seq) {
      if (claims.size() < 2) continue;
      Entry* genuine = nullptr;
      for (Entry* e : claims) {
        if (genuine == nullptr && chained_to.contains(e->record.hash)) genuine = e;
      }
      for (const Anchor& anchor : options_.anchors) {
        if (genuine != nullptr || anchor.seq != seq) continue;
        for (Entry* e : claims) {
          if (genuine == nullptr && e->record.hash == anchor.hash) genuine = e;
        }
      }
      if (genuine == nullptr) genuine = claims.front();
      for (Entry* e : claims) {
        if (e == genuine) continue;
        e->role = Entry::Role::kRemoved;
        Add(FindingKind::kInserted, e->line, seq,
            "claims seq " + std::to_string(seq) + ", which " + LineRef(genuine) +
                " holds, and no record chains to it: inserted");
      }
    }
  }

  void WalkChain() {
    // Every seq some line claims, so that a gap whose records sit elsewhere in the file is
    // told apart (reordering) from one whose records are gone (deletion).
    std::unordered_map<std::uint64_t, const Entry*> trusted_by_seq;
    std::vector<Entry*> order;  // the lines that take part, in file order
    for (Entry& e : entries_) {
      if (e.role == Entry::Role::kRemoved) continue;
      order.push_back(&e);
      if (e.parsed) present_.insert(e.record.seq);
      if (e.role == Entry::Role::kTrusted) trusted_by_seq.emplace(e.record.seq, &e);
    }
    const Entry* before_prev = nullptr;
    const Entry* prev = nullptr;
    bool have_prev = !options_.starts_mid_log;  // the genesis stands before the first record
    std::vector<Entry*> between;
    for (std::size_t i = 0; i < order.size(); ++i) {
      Entry& e = *order[i];
      if (e.role == Entry::Role::kWildcard) {
        between.push_back(&e);
        continue;
      }
      if (have_prev && between.empty() && !Continues(prev, e)) {
        // A detour: `e` does not follow `prev`, but the next record does. Then `e` is a record
        // of another place (its predecessor exists elsewhere), or one that belongs nowhere.
        const Entry* next = i + 1 < order.size() ? order[i + 1] : nullptr;
        if (next != nullptr && next->role == Entry::Role::kTrusted && Continues(prev, *next)) {
          auto predecessor = trusted_by_seq.find(e.record.seq - 1);
          const bool placed_elsewhere = e.record.seq > 1 && predecessor != trusted_by_seq.end() &&
                                        predecessor->second->record.hash == e.record.prev;
          const bool first_elsewhere = e.record.seq == 1 && e.record.prev == kGenesisHash;
          if (placed_elsewhere || first_elsewhere) {
            Add(FindingKind::kReordered, e.line, e.record.seq,
                "record seq " + std::to_string(e.record.seq) + " is out of place: " +
                    LineRef(next) + " continues the chain from " + LineRef(prev));
          } else {
            e.role = Entry::Role::kRemoved;
            Add(FindingKind::kInserted, e.line, e.record.seq,
                "record seq " + std::to_string(e.record.seq) +
                    " is not part of the chain: " + LineRef(next) + " chains directly to " +
                    LineRef(prev) + ", and nothing chains to it");
          }
          continue;
        }
      }
      if (have_prev) CheckPair(before_prev, prev, between, e);
      before_prev = prev;
      prev = &e;
      have_prev = true;
      between.clear();
    }
  }

  // Whether `b` is the record right after `a` (null: the genesis).
  static bool Continues(const Entry* a, const Entry& b) {
    const std::uint64_t a_seq = a == nullptr ? 0 : a->record.seq;
    const std::string_view a_hash = a == nullptr ? kGenesisHash : std::string_view(a->record.hash);
    return b.record.seq == a_seq + 1 && b.record.prev == a_hash;
  }

  // `a` (null: the genesis) and `b` are consecutive well-formed records in file order, with
  // the lines in `between` (unparsable or modified) in between.
  void CheckPair(const Entry* before_a, const Entry* a, const std::vector<Entry*>& between,
                 const Entry& b) {
    const std::uint64_t a_seq = a == nullptr ? 0 : a->record.seq;
    const std::string_view a_hash = a == nullptr ? kGenesisHash : std::string_view(a->record.hash);
    if (b.record.seq <= a_seq) {
      // Out of order. When `b` continues the chain from the record before `a`, `a` is the
      // misplaced one; otherwise `b` is.
      if (a != nullptr && before_a != nullptr && Continues(before_a, b)) {
        Add(FindingKind::kReordered, a->line, a_seq,
            "record seq " + std::to_string(a_seq) + " is out of place: " + LineRef(&b) +
                " continues the chain from " + LineRef(before_a));
      } else {
        Add(FindingKind::kReordered, b.line, b.record.seq,
            "record seq " + std::to_string(b.record.seq) + " comes after " + LineRef(a) +
                ": records were reordered");
      }
      return;
    }
    const std::uint64_t slots = b.record.seq - a_seq - 1;
    if (slots == 0) {
      if (b.record.prev == a_hash) {
        // The neighbours chain to each other: whatever lies between them was added.
        for (Entry* w : between) {
          if (!w->parsed || w->finding == SIZE_MAX) continue;
          findings_[w->finding].kind = FindingKind::kInserted;
          findings_[w->finding].message = "not part of the chain: " + LineRef(&b) +
                                          " chains directly to " + LineRef(a) +
                                          ", so this line was inserted";
        }
        return;
      }
      if (!between.empty()) return;  // the modified record between them explains the break
      if (a == nullptr) {
        Add(FindingKind::kBrokenChain, b.line, b.record.seq,
            "the first record does not start from the genesis value: records before it were "
            "removed and the chain rewritten, or it was forged");
      } else {
        Add(FindingKind::kBrokenChain, b.line, b.record.seq,
            "record seq " + std::to_string(b.record.seq) + " does not chain to " + LineRef(a) +
                ": line " + std::to_string(a->line) +
                " was rewritten with a recomputed hash (or this one forged)");
      }
      return;
    }
    // A gap: seqs a_seq+1 .. b.seq-1 that no line of the file claims are missing.
    const std::uint64_t lo = a_seq + 1;
    const std::uint64_t hi = b.record.seq - 1;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> missing;
    std::uint64_t missing_count = 0;
    std::uint64_t next = lo;
    for (auto it = present_.lower_bound(lo); it != present_.end() && *it <= hi; ++it) {
      if (*it > next) {
        missing.emplace_back(next, *it - 1);
        missing_count += *it - next;
      }
      next = *it + 1;
    }
    if (next <= hi) {
      missing.emplace_back(next, hi);
      missing_count += hi - next + 1;
    }
    // Unparsable lines, and modified records whose claimed seq is outside the gap, may be
    // some of the missing records damaged beyond recognition.
    std::uint64_t damaged = 0;
    for (const Entry* w : between) {
      if (!w->parsed || w->record.seq < lo || w->record.seq > hi) ++damaged;
    }
    if (missing_count <= damaged) return;
    const std::uint64_t gone = missing_count - damaged;
    Add(FindingKind::kDeleted, b.line, b.record.seq,
        std::to_string(gone) + " record(s) missing between " + LineRef(a) + " and this line: seq " +
            SeqRanges(missing) + (damaged > 0 ? " (some may be the damaged lines between)" : ""));
  }

  void CheckAnchors() {
    if (options_.anchors.empty() && !options_.starts_mid_log) {
      report_.notes.push_back(
          "no anchor (head) given: records removed from the end cannot be detected");
    }
    for (const Anchor& anchor : options_.anchors) CheckAnchor(anchor);
  }

  void CheckAnchor(const Anchor& anchor) {
    const Entry* at = nullptr;
    std::uint64_t beyond = 0;
    std::uint64_t max_seq = 0;
    const Entry* last = nullptr;
    for (const Entry& e : entries_) {
      if (e.role == Entry::Role::kRemoved || !e.parsed) continue;
      if (e.role == Entry::Role::kTrusted) {
        if (e.record.seq == anchor.seq) at = &e;
        if (e.record.seq > anchor.seq) ++beyond;
      }
      if (e.record.seq >= max_seq) {
        max_seq = e.record.seq;
        last = &e;
      }
    }
    if (at != nullptr) {
      if (at->record.hash != anchor.hash) {
        Add(FindingKind::kAnchorMismatch, at->line, anchor.seq,
            "record seq " + std::to_string(anchor.seq) + " has hash " +
                at->record.hash.substr(0, 16) + "..., but the anchor says " +
                anchor.hash.substr(0, 16) + "...: it was rewritten with a recomputed hash");
      }
    } else if (max_seq < anchor.seq) {
      Add(FindingKind::kTruncated, report_.lines + 1, anchor.seq,
          (last == nullptr ? std::string("the log holds no record")
                           : "the log ends at " + LineRef(last)) +
              ", but the anchor says seq " + std::to_string(anchor.seq) + ": seq " +
              std::to_string(max_seq + 1) +
              (max_seq + 1 == anchor.seq ? "" : ".." + std::to_string(anchor.seq)) +
              " removed from the end");
    }
    if (beyond == 1) {
      report_.notes.push_back("1 record after the anchor (seq " + std::to_string(anchor.seq) +
                              "): appended after the anchor was taken");
    } else if (beyond > 1) {
      report_.notes.push_back(std::to_string(beyond) + " records after the anchor (seq " +
                              std::to_string(anchor.seq) + ")");
    }
  }

  // The record the next one chains to: the well-formed record with the highest seq, moved on
  // over modified records that follow it in order (their stored hash is what a successor
  // already names, or will).
  void FindHead() {
    const Entry* head = nullptr;
    for (const Entry& e : entries_) {
      if (e.role == Entry::Role::kTrusted && (head == nullptr || e.record.seq > head->record.seq)) {
        head = &e;
      }
    }
    if (head == nullptr) {
      for (const Entry& e : entries_) {
        if (e.parsed && e.role != Entry::Role::kRemoved) head = &e;
      }
    } else {
      for (const Entry& e : entries_) {
        if (e.line > head->line && e.parsed && e.role == Entry::Role::kWildcard &&
            e.record.seq == head->record.seq + 1) {
          head = &e;
        }
      }
    }
    if (head != nullptr) report_.head = Anchor{head->record.seq, head->record.hash};
  }

  void Finish() {
    std::stable_sort(findings_.begin(), findings_.end(),
                     [](const Finding& x, const Finding& y) { return x.line < y.line; });
    if (findings_.size() > options_.max_findings) {
      report_.omitted = findings_.size() - options_.max_findings;
      findings_.resize(options_.max_findings);
    }
    report_.findings = std::move(findings_);
  }

  const std::string_view text_;
  const VerifyOptions& options_;
  std::vector<Entry> entries_;
  std::vector<Finding> findings_;
  std::set<std::uint64_t> present_;
  VerifyReport report_;
};

}  // namespace

std::string_view FindingKindName(FindingKind kind) {
  switch (kind) {
    case FindingKind::kUnparsable:
      return "unparsable";
    case FindingKind::kModified:
      return "modified";
    case FindingKind::kDeleted:
      return "deleted";
    case FindingKind::kInserted:
      return "inserted";
    case FindingKind::kReordered:
      return "reordered";
    case FindingKind::kDuplicate:
      return "duplicate";
    case FindingKind::kBrokenChain:
      return "broken-chain";
    case FindingKind::kTruncated:
      return "truncated";
    case FindingKind::kAnchorMismatch:
      return "anchor-mismatch";
    case FindingKind::kPartialTail:
      return "partial-tail";
  }
  return "unknown";
}

std::string FormatAnchor(const Anchor& anchor) {
  return std::to_string(anchor.seq) + ":" + anchor.hash;
}

Result<Anchor> ParseAnchor(std::string_view text) {
  const std::size_t colon = text.find(':');
  Anchor anchor;
  bool valid = colon != std::string_view::npos && colon > 0 && colon <= 20;
  for (std::size_t i = 0; valid && i < colon; ++i) {
    valid = text[i] >= '0' && text[i] <= '9';
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (valid && anchor.seq > (UINT64_MAX - digit) / 10) valid = false;
    if (valid) anchor.seq = anchor.seq * 10 + digit;
  }
  if (valid) {
    anchor.hash = std::string(text.substr(colon + 1));
    valid = anchor.seq > 0 && anchor.hash.size() == 64 &&
            anchor.hash.find_first_not_of("0123456789abcdef") == std::string::npos;
  }
  if (!valid) {
    return Fail(ErrorCode::kInvalidInput,
                "an anchor is SEQ:HASH (a record's seq and its 64-hex-digit hash), not \"" +
                    std::string(text.substr(0, 100)) + "\"");
  }
  return anchor;
}

bool VerifyReport::tampered() const {
  if (omitted > 0) return true;
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.kind != FindingKind::kPartialTail; });
}

VerifyReport VerifyText(std::string_view text, const VerifyOptions& options) {
  return Verifier(text, options).Run();
}

Result<VerifyReport> VerifyFile(const std::string& path, const VerifyOptions& options,
                                std::size_t max_bytes) {
  const std::string text = FK_TRY_CTX(fs::ReadFile(path, max_bytes), path);
  return VerifyText(text, options);
}

}  // namespace fogkeep::audit
