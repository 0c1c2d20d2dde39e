// An audit log handed to `fogkeep audit verify` may have been written by whoever wants to
// hide something in it. Verification must never crash or hang, and its report must hold
// together: findings sorted and within the text's lines, an ok report only for text in which
// every line is a canonical record of one unbroken chain, and the same verdict for the same
// bytes read as a tail window as far as the records it sees are concerned.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "audit/query.h"
#include "audit/record.h"
#include "audit/verify.h"

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_audit_verify: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fogkeep::audit;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // The first line, if it is an anchor, exercises the anchor paths too.
  VerifyOptions options;
  std::string_view body = text;
  if (const std::size_t nl = text.find('\n'); nl != std::string_view::npos) {
    if (auto anchor = ParseAnchor(text.substr(0, nl))) {
      options.anchors.push_back(*anchor);
      body = text.substr(nl + 1);
    }
  }
  const VerifyReport report = VerifyText(body, options);

  std::size_t newlines = 0;
  for (char c : body) newlines += c == '\n';
  if (report.lines != newlines) Die("line count differs from the newlines");
  if (report.complete_bytes > body.size()) Die("complete_bytes past the end");
  if (report.records > report.lines) Die("more records than lines");
  for (std::size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& f = report.findings[i];
    if (f.line == 0 || f.line > report.lines + 1) Die("finding outside the text");
    if (i > 0 && report.findings[i - 1].line > f.line) Die("findings not sorted");
    if (f.message.empty()) Die("finding without a message");
  }
  if (report.ok()) {
    // Every line is a canonical record, chained from the genesis without a gap.
    std::string prev(kGenesisHash);
    std::uint64_t seq = 0;
    std::size_t pos = 0;
    for (std::size_t nl; (nl = body.find('\n', pos)) != std::string_view::npos; pos = nl + 1) {
      const std::string_view line = body.substr(pos, nl - pos);
      auto record = ParseLine(line);
      if (!record) Die("ok report with an unparsable line");
      if (SerializeLine(*record) != line) Die("ok report with a non-canonical line");
      if (ComputeHash(*record) != record->hash) Die("ok report with a wrong hash");
      if (record->seq != seq + 1 || record->prev != prev) Die("ok report with a broken chain");
      seq = record->seq;
      prev = record->hash;
    }
    if (pos != body.size()) Die("ok report with an incomplete tail");
    if (seq > 0 && (!report.head || report.head->seq != seq || report.head->hash != prev)) {
      Die("ok report with the wrong head");
    }
  }
  // Queries read the same hostile bytes.
  (void)QueryText(body, QueryFilter{});
  // And a tail window of them.
  if (!body.empty()) {
    (void)VerifyText(body.substr(body.size() / 2), VerifyOptions{.starts_mid_log = true});
  }
  return 0;
}
