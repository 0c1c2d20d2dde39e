// fogkeep alerts, fogkeep fleet alerts: security alerts, thin over the node's and the director's
// GET /api/v1/alerts.
#include "cli/alerts.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "api/node.h"
#include "cli/cli.h"
#include "cli/node_client.h"
#include "cli/output.h"

namespace fogkeep::cli {
namespace {

struct AlertArgs {
  NodeTarget target;
  AlertQueryArgs query;
};

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

std::string Target(const AlertQueryArgs& a, bool fleet) {
  std::string out = "/api/v1/alerts?limit=" + std::to_string(a.limit);
  auto add = [&](std::string_view name, const std::string& value) {
    if (!value.empty()) out += "&" + std::string(name) + "=" + EncodeComponent(value);
  };
  if (a.since) out += "&since=" + std::to_string(*a.since);
  add("detector", a.detector);
  if (a.min_severity > 0) out += "&min_severity=" + std::to_string(a.min_severity);
  if (fleet) {
    add("device", a.device);
    add("tag", a.tag);
  } else {
    add("app", a.app);
  }
  return out;
}

std::string Endpoint(std::string_view ip, int port) {
  if (ip.empty()) return port >= 0 ? ":" + std::to_string(port) : "?";
  const bool v6 = ip.find(':') != std::string_view::npos;
  std::string out = v6 && port >= 0 ? "[" + std::string(ip) + "]" : std::string(ip);
  if (port >= 0) out += ":" + std::to_string(port);
  return out;
}

// The sensor's timestamp to the second ("2026-11-26T14:03:07"), or the node's reception time.
std::string TimeCell(const api::Alert& alert, std::int64_t received_at) {
  if (alert.timestamp.size() >= 19) return Printable(alert.timestamp.substr(0, 19));
  return FormatUnixTime(received_at);
}

Status Run(const AlertArgs& a, bool fleet) {
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  const std::string target = fleet ? FleetAlertsTarget(a.query) : NodeAlertsTarget(a.query);
  const net::Response answer = FK_TRY_CTX(client.Call(net::Method::kGet, target), "list alerts");
  const api::AlertList list = FK_TRY_CTX(api::FromJsonText<api::AlertList>(answer.body),
                                         fleet ? "the director's answer" : "the node's answer");
  if (a.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  if (list.alerts.empty()) {
    std::cout << "no alerts" << (a.query.since ? " after " + std::to_string(*a.query.since) : "")
              << "\n";
  } else {
    PrintTable(AlertTableRows(list, fleet));
    std::cout << "\nnext: --since " << list.next << "\n";
  }
  for (const api::AlertDrops& d : list.dropped) {
    std::cout << "warning: " << Printable(d.source) << " lost alerts: " << d.rate_limited
              << " over its rate limit, " << d.pruned << " pruned by the node's bounds\n";
  }
  return {};
}

void AddFilters(CLI::App* cmd, AlertArgs& args) {
  cmd->add_option("--since", args.query.since,
                  "Only alerts after this cursor (the `next` of an earlier answer), oldest first; "
                  "without it, the newest");
  cmd->add_option("--limit", args.query.limit, "At most this many alerts (1 to 1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--detector", args.query.detector, "Only this detector's alerts (modbus-write)")
      ->check(CLI::Validator(
          [](std::string& text) {
            Status ok = api::CheckDetector(text);
            return ok ? std::string() : ok.error().message();
          },
          "DETECTOR"));
  cmd->add_option("--min-severity", args.query.min_severity,
                  "Only alerts at least this severe: 1 high, 2 high and medium, 3 all")
      ->check(CLI::Range(1, 3));
}

}  // namespace

std::string NodeAlertsTarget(const AlertQueryArgs& args) { return Target(args, false); }
std::string FleetAlertsTarget(const AlertQueryArgs& args) { return Target(args, true); }

std::string AlertFlow(const api::Alert& alert) {
  if (alert.src_ip.empty() && alert.dest_ip.empty()) return "-";
  return Printable(Endpoint(alert.src_ip, alert.src_port)) + " → " +
         Printable(Endpoint(alert.dest_ip, alert.dest_port));
}

std::vector<std::vector<std::string>> AlertTableRows(const api::AlertList& list, bool fleet) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"TIME", "SOURCE", "SEVERITY", "DETECTOR", "FLOW", "SIGNATURE"};
  if (fleet) header.insert(header.begin() + 1, "DEVICE");
  rows.push_back(std::move(header));
  for (const api::AlertRecord& record : list.alerts) {
    std::vector<std::string> row;
    if (Result<api::Alert> alert = api::ParseAlertText(record.alert_json)) {
      row = {TimeCell(*alert, record.received_at),
             Printable(record.source),
             std::string(api::SeverityName(alert->severity)),
             Printable(alert->detector),
             AlertFlow(*alert),
             Printable(alert->signature)};
    } else {
      row = {FormatUnixTime(record.received_at),
             Printable(record.source),
             "-",
             "-",
             "-",
             "(not a valid alert: " + Printable(alert.error().message()) + ")"};
    }
    if (fleet) row.insert(row.begin() + 1, Printable(record.device));
    rows.push_back(std::move(row));
  }
  return rows;
}

void AddAlertCommands(CLI::App& app) {
  auto args = std::make_shared<AlertArgs>();
  CLI::App* cmd = app.add_subcommand(
      "alerts",
      "Security alerts a node holds: from its apps (POST /v1/alerts on each app's socket) and "
      "from a traffic sensor on the host (POST /api/v1/alerts)");
  AddNodeTargetOptions(*cmd, &args->target);
  AddFilters(cmd, *args);
  cmd->add_option("--app", args->query.app, "Only this app's alerts (\"host\": the host sensor's)");
  cmd->callback([args] { Check(Run(*args, false)); });
  cmd->footer(
      "The table shows each alert's TIME (as the sensor stamped it), SOURCE (the app that "
      "posted it, or host), SEVERITY (high, medium, low), DETECTOR, FLOW (source → "
      "destination) and SIGNATURE, oldest first. `next` is the cursor for --since. A warning "
      "follows when a source lost alerts to its rate limit or to the node's bounds (the node "
      "keeps its newest 10000, at most 2500 per source). Needs alerts.read (every role).\n\n"
      "Examples:\n"
      "  fogkeep alerts                                # the newest 50, on this node\n"
      "  fogkeep alerts --detector modbus-write --min-severity 1\n"
      "  fogkeep alerts --since 1200 --limit 500 --json | jq '.alerts[].alert.src_ip'\n"
      "  fogkeep alerts --node https://gw-7:8443 --ca gw-7.pem");
}

void AddFleetAlertCommand(CLI::App& fleet) {
  auto args = std::make_shared<AlertArgs>();
  CLI::App* cmd =
      fleet.add_subcommand("alerts", "Security alerts the fleet's devices reported, newest last");
  AddDirectorTargetOptions(*cmd, &args->target);
  AddFilters(cmd, *args);
  cmd->add_option("--device", args->query.device, "Only this device's alerts (d-...)");
  cmd->add_option("--tag", args->query.tag, "Only alerts of devices carrying this tag");
  cmd->callback([args] { Check(Run(*args, true)); });
  cmd->footer(
      "Nodes forward their alerts in their reports to the director, which keeps each once, up "
      "to 10000 per device. The table shows TIME, DEVICE, SOURCE (app or host), SEVERITY, "
      "DETECTOR, FLOW and SIGNATURE; `next` is the cursor for --since. Needs alerts.read.\n\n"
      "Examples:\n"
      "  fogkeep fleet alerts --min-severity 1\n"
      "  fogkeep fleet alerts --device d-4f1c2a9b --detector port-scan\n"
      "  fogkeep fleet alerts --tag plant-a --since 90412 --json");
}

}  // namespace fogkeep::cli
