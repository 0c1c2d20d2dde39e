// fogkeep audit: verify a node's audit trail (a copy of its audit.log, or fetched through the
// node's API) and list its records. Exit codes: 0 verified, 1 findings (or a failure), 2 usage.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <iostream>
#include <memory>

#include "api/node.h"
#include "audit/log.h"
#include "audit/query.h"
#include "audit/record.h"
#include "audit/verify.h"
#include "cli/cli.h"
#include "cli/node_client.h"
#include "cli/output.h"
#include "core/fs.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using net::Method;

constexpr std::string_view kAuditPath = "/api/v1/audit";
// A log larger than the largest the node keeps is not one.
constexpr std::size_t kMaxLogBytes = std::size_t{1} << 30;

struct AuditArgs {
  NodeTarget target;
  std::string file;
  std::string head;  // --head; default: FILE.head when it exists
  bool no_head = false;
  std::vector<std::string> anchors;
  std::string since, until, actor, action, result;
  std::size_t limit = audit::kDefaultQueryLimit;
};

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

// "30m", "2h", "7d" before now, or a time NormalizeTime accepts.
Result<std::string> TimeArgument(const std::string& text, std::string_view flag) {
  if (text.size() >= 2) {
    const char unit = text.back();
    const std::string digits = text.substr(0, text.size() - 1);
    if ((unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') &&
        digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 9) {
      long long n = 0;
      std::from_chars(digits.data(), digits.data() + digits.size(), n);  // at most 9 digits
      const long long seconds = n * (unit == 's'   ? 1
                                     : unit == 'm' ? 60
                                     : unit == 'h' ? 3600
                                                   : 86400);
      return audit::FormatTime(std::chrono::system_clock::now() - std::chrono::seconds(seconds));
    }
  }
  return FK_TRY_CTX(audit::NormalizeTime(text), std::string(flag));
}

json::object FindingJson(const audit::Finding& f) {
  return json::object{{"kind", std::string(audit::FindingKindName(f.kind))},
                      {"line", f.line},
                      {"seq", f.seq},
                      {"message", f.message}};
}

void Report(const std::string& where, const audit::VerifyReport& report, bool as_json) {
  if (as_json) {
    json::array findings;
    for (const auto& f : report.findings) findings.push_back(FindingJson(f));
    json::array notes;
    for (const auto& n : report.notes) notes.push_back(json::string(n));
    PrintJson(json::object{
        {"source", where},
        {"ok", report.ok()},
        {"tampered", report.tampered()},
        {"lines", report.lines},
        {"records", report.records},
        {"head", report.head ? json::value(audit::FormatAnchor(*report.head)) : json::value()},
        {"findings", std::move(findings)},
        {"omitted", report.omitted},
        {"notes", std::move(notes)}});
  } else {
    for (const auto& f : report.findings) {
      std::cout << where << ":" << f.line << ": " << audit::FindingKindName(f.kind) << ": "
                << Printable(f.message) << "\n";
    }
    if (report.omitted > 0) std::cout << where << ": " << report.omitted << " more finding(s)\n";
    for (const auto& n : report.notes) std::cout << where << ": note: " << n << "\n";
    if (report.ok()) {
      std::cout << where << ": OK: " << report.records << " record(s) verified";
    } else {
      std::cout << where << ": FAILED: " << report.findings.size() + report.omitted
                << " finding(s) in " << report.lines << " line(s)";
    }
    if (report.head) std::cout << "; head " << audit::FormatAnchor(*report.head);
    std::cout << "\n";
  }
  if (!report.ok()) SetExitCode(1);
}

Status Verify(const AuditArgs& a) {
  if (!a.file.empty() && !a.target.node.empty()) {
    std::cerr << "fogkeep: audit verify takes FILE or --node, not both\n";
    SetExitCode(2);
    return {};
  }
  audit::VerifyOptions options;
  for (const std::string& text : a.anchors) {
    options.anchors.push_back(FK_TRY_CTX(audit::ParseAnchor(text), "--anchor"));
  }
  std::string text;
  std::string where;
  if (!a.file.empty()) {
    where = a.file;
    text = FK_TRY_CTX(fs::ReadFile(a.file, kMaxLogBytes), a.file);
    if (!a.no_head) {
      const std::string head_path = a.head.empty() ? audit::HeadPath(a.file) : a.head;
      Result<audit::Anchor> head = audit::ReadHeadFile(head_path);
      if (head) {
        options.anchors.push_back(*head);
      } else if (!a.head.empty() || head.error().code() != ErrorCode::kNotFound) {
        return Fail(std::move(head).error().With("head file"));
      }
    }
  } else {
    where = a.target.node.empty() ? "unix:" + a.target.socket : a.target.node;
    NodeClient client = FK_TRY(NodeClient::Connect(a.target));
    net::Response response = FK_TRY(client.Download(
        std::string(kAuditPath) + "?format=raw", [&](std::string_view chunk) -> Status {
          if (text.size() + chunk.size() > kMaxLogBytes) {
            return Fail(ErrorCode::kLimit, "audit log larger than 1 GiB");
          }
          text.append(chunk);
          return {};
        }));
    // The node's own head: it catches records lost between the node's log and what was sent.
    // A node that lies consistently is caught only by an --anchor kept elsewhere.
    if (auto head = response.headers.Get(audit::kHeadHeader)) {
      options.anchors.push_back(FK_TRY_CTX(audit::ParseAnchor(*head), "node answer"));
    }
  }
  Report(where, audit::VerifyText(text, options), a.target.json);
  return {};
}

Status List(const AuditArgs& a) {
  std::string query = "?limit=" + std::to_string(a.limit);
  auto add = [&](std::string_view name, const std::string& value) {
    if (!value.empty()) query += "&" + std::string(name) + "=" + EncodeComponent(value);
  };
  if (!a.since.empty()) add("since", FK_TRY(TimeArgument(a.since, "--since")));
  if (!a.until.empty()) add("until", FK_TRY(TimeArgument(a.until, "--until")));
  add("actor", a.actor);
  add("action", a.action);
  add("result", a.result);
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  net::Response response = FK_TRY(client.Call(Method::kGet, std::string(kAuditPath) + query));
  json::value parsed = FK_TRY_CTX(api::ParseJson(response.body), "node answer");
  const json::object* object = parsed.if_object();
  const json::value* records = object == nullptr ? nullptr : object->if_contains("records");
  if (records == nullptr || !records->is_array()) {
    return Fail(ErrorCode::kInvalidInput, "node answer: no \"records\" array");
  }
  if (a.target.json) {
    PrintJson(parsed);
    return {};
  }
  std::vector<std::vector<std::string>> rows = {
      {"SEQ", "TIME", "ACTOR", "ROLE", "SOURCE", "ACTION", "TARGET", "RESULT", "DETAIL"}};
  for (const json::value& value : records->as_array()) {
    audit::Record r = FK_TRY_CTX(audit::RecordFromJson(value), "node answer");
    rows.push_back({std::to_string(r.seq), r.time, Printable(r.actor), Printable(r.role),
                    Printable(r.source), Printable(r.action), Printable(r.target),
                    Printable(r.result), Printable(r.detail)});
  }
  PrintTable(rows);
  const json::value* matched = object->if_contains("matched");
  if (matched != nullptr && matched->is_number() &&
      matched->to_number<double>() > static_cast<double>(rows.size() - 1)) {
    std::cout << "(the last " << rows.size() - 1 << " of " << matched->to_number<double>()
              << " matching records; --limit shows more)\n";
  }
  return {};
}

}  // namespace

void AddAuditCommands(CLI::App& app) {
  auto args = std::make_shared<AuditArgs>();
  auto* group = app.add_subcommand(
      "audit", "A node's tamper-evident audit trail: verify its hash chain, list its records");
  group->require_subcommand(1);
  AddNodeTargetOptions(*group, &args->target);

  auto* verify = group->add_subcommand(
      "verify",
      "Verify an audit log: FILE (a copy of data-dir/audit.log, checked against FILE.head when "
      "present), or the node's own log through its API (--node, or the local socket). Exit 0 "
      "when it verifies, 1 with findings");
  verify->add_option("file", args->file, "audit.log file")->check(CLI::ExistingFile);
  verify->add_option("--head", args->head, "Head file to check FILE against (default FILE.head)")
      ->check(CLI::ExistingFile);
  verify->add_flag("--no-head", args->no_head, "Do not use FILE.head");
  verify->add_option("--anchor", args->anchors,
                     "SEQ:HASH of a record the log must hold (a head printed earlier)");
  verify->callback([args] { Check(Verify(*args)); });

  auto* list = group->add_subcommand("list", "List a node's audit records, newest last");
  list->add_option("--since", args->since, "From this time: RFC 3339, a date, or 30m, 2h, 7d ago");
  list->add_option("--until", args->until, "Before this time (same forms)");
  list->add_option("--actor", args->actor, "Only this actor (token:..., uid:0, -)");
  list->add_option("--action", args->action, "Only this action; apps.* for a prefix");
  list->add_option("--result", args->result, "Only this result: 201, or a class 2xx, 4xx, 5xx");
  list->add_option("--limit", args->limit, "Show the last N matching records")
      ->check(CLI::Range(std::size_t{1}, audit::kMaxQueryLimit))
      ->capture_default_str();
  list->callback([args] { Check(List(*args)); });
}

}  // namespace fogkeep::cli
