// fogkeep app: install and run apps on a node, through its API (api/node.h wire types).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "api/node.h"
#include "cli/cli.h"
#include "cli/node_client.h"
#include "cli/output.h"
#include "core/fs.h"

namespace fogkeep::cli {
namespace {

using net::Method;

constexpr std::string_view kAppsPath = "/api/v1/apps";

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

std::string AppPath(std::string_view id) {
  return std::string(kAppsPath) + "/" + EncodeComponent(id);
}

Result<api::App> ParseApp(const net::Response& response) {
  return FK_TRY_CTX(api::FromJsonText<api::App>(response.body), "node answer");
}

void PrintAppJson(const api::App& app) { PrintJson(api::ToJson(app)); }

std::string Describe(const api::App& app) {
  std::string out = app.id + " (" + app.name + " " + app.version + "): " + app.state;
  return out;
}

Result<api::App> Install(NodeClient& client, const std::string& file, const std::string& id) {
  std::string target(kAppsPath);
  if (!id.empty()) target += "?id=" + EncodeComponent(id);
  net::Response response =
      FK_TRY_CTX(client.UploadFile(Method::kPost, target, file), "install " + file);
  return ParseApp(response);
}

Result<api::App> Act(NodeClient& client, const std::string& id, std::string_view action) {
  net::Response response =
      FK_TRY_CTX(client.Call(Method::kPost, AppPath(id) + "/" + std::string(action)),
                 std::string(action) + " " + id);
  return ParseApp(response);
}

struct Shared {
  NodeTarget target;
  std::string file;
  std::string id;
  std::size_t tail = 0;
  bool follow = false;
};

Status RunInstall(Shared& s, bool and_start) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  api::App app = FK_TRY(Install(client, s.file, s.id));
  if (!s.target.json) {
    std::cout << "Installed " << app.name << " " << app.version << " as " << app.id
              << (app.signer.empty() ? " (unsigned)" : " (signed by " + app.signer + ")") << "\n";
  }
  if (and_start) {
    app = FK_TRY(Act(client, app.id, "activate"));
    if (!s.target.json) std::cout << "Activated " << app.id << "\n";
    app = FK_TRY(Act(client, app.id, "start"));
    if (!s.target.json) std::cout << "Started " << Describe(app) << "\n";
  }
  if (s.target.json) PrintAppJson(app);
  return {};
}

Status RunAction(Shared& s, std::string_view action) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  api::App app = FK_TRY(Act(client, s.id, action));
  if (s.target.json) {
    PrintAppJson(app);
  } else {
    std::cout << Describe(app) << "\n";
  }
  return {};
}

Status RunUpgrade(Shared& s) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  net::Response response = FK_TRY_CTX(
      client.UploadFile(Method::kPost, AppPath(s.id) + "/upgrade", s.file), "upgrade " + s.id);
  api::App app = FK_TRY(ParseApp(response));
  if (s.target.json) {
    PrintAppJson(app);
  } else {
    std::cout << "Upgraded " << Describe(app) << "\n";
  }
  return {};
}

Status RunUninstall(Shared& s) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  FK_TRY_CTX(client.Call(Method::kDelete, AppPath(s.id)), "uninstall " + s.id);
  if (s.target.json) {
    PrintJson(boost::json::object{{"id", s.id}, {"uninstalled", true}});
  } else {
    std::cout << "Uninstalled " << s.id << "\n";
  }
  return {};
}

Status RunList(Shared& s) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  net::Response response = FK_TRY(client.Call(Method::kGet, kAppsPath));
  api::AppList list = FK_TRY_CTX(api::FromJsonText<api::AppList>(response.body), "node answer");
  if (s.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "VERSION", "STATE", "PROFILE"}};
  for (const auto& app : list.apps) {
    rows.push_back({app.id, app.name, app.version, app.state, app.profile});
  }
  PrintTable(rows);
  return {};
}

Status RunStatus(Shared& s) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  api::App app = FK_TRY(ParseApp(FK_TRY(client.Call(Method::kGet, AppPath(s.id)))));
  if (s.target.json) {
    PrintAppJson(app);
    return {};
  }
  auto time = [](std::int64_t t) {
    return t == 0 ? std::string("-")
                  : FormatTime(std::chrono::system_clock::time_point(std::chrono::seconds(t)));
  };
  std::string ports;
  for (const auto& p : app.ports) ports += (ports.empty() ? "" : ", ") + p;
  PrintTable({{"ID", app.id},
              {"Name", app.name},
              {"Version", app.version},
              {"State", app.state},
              {"Type", app.type},
              {"Signer", app.signer.empty() ? "(unsigned)" : app.signer},
              {"Profile", app.profile + " (" + std::to_string(app.memory_mb) + " MB, " +
                              std::to_string(app.cpu_units) + " CPU units)"},
              {"Network", app.network.empty() ? "none" : app.network},
              {"Ports", ports.empty() ? "-" : ports},
              {"Installed", time(app.installed_at)},
              {"Updated", time(app.updated_at)},
              {"Restarts", std::to_string(app.restarts)}});
  if (app.last_exit) {
    const auto& e = *app.last_exit;
    std::string what = e.signal != 0 ? "signal " + std::to_string(e.signal)
                                     : "exit code " + std::to_string(e.exit_code);
    if (e.oom_killed) what += ", OOM-killed";
    if (!e.error.empty()) what += ", " + e.error;
    std::cout << "Last exit  " << what << " at " << time(e.finished_at) << "\n";
  }
  return {};
}

Status RunLogs(Shared& s) {
  // Following waits for output indefinitely: no read timeout.
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  std::string target = AppPath(s.id) + "/logs?tail=" + std::to_string(s.tail);
  if (s.follow) {
    return client.Follow(target + "&follow=1", [](std::string_view chunk) -> Status {
      std::cout << chunk << std::flush;
      if (!std::cout) return Fail(ErrorCode::kUnavailable, "stdout closed");
      return {};
    });
  }
  net::Response response = FK_TRY(client.Call(Method::kGet, target));
  if (s.target.json) {
    PrintJson(boost::json::object{{"id", s.id}, {"logs", response.body}});
  } else {
    std::cout << response.body << std::flush;
  }
  return {};
}

Status RunMetrics(Shared& s) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  net::Response response = FK_TRY(client.Call(Method::kGet, AppPath(s.id) + "/metrics"));
  api::AppMetrics m = FK_TRY_CTX(api::FromJsonText<api::AppMetrics>(response.body), "node answer");
  if (s.target.json) {
    PrintJson(api::ToJson(m));
    return {};
  }
  auto mib = [](std::uint64_t bytes) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1 << 20) << " MiB";
    return out.str();
  };
  std::ostringstream cpu;
  cpu << std::fixed << std::setprecision(2) << m.cpu_seconds << " s";
  PrintTable({{"App", m.id},
              {"State", m.state},
              {"CPU", cpu.str()},
              {"Memory", mib(m.memory_bytes) + " of " + mib(m.memory_limit_bytes)},
              {"Processes", std::to_string(m.pids)},
              {"OOM kills", std::to_string(m.oom_kills)},
              {"Restarts", std::to_string(m.restarts)}});
  return {};
}

Status RunConfigGet(Shared& s) {
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  net::Response response = FK_TRY(client.Call(Method::kGet, AppPath(s.id) + "/config"));
  if (s.target.json) {
    PrintJson(boost::json::object{{"id", s.id}, {"config", response.body}});
  } else {
    std::cout << response.body << std::flush;
  }
  return {};
}

Status RunConfigSet(Shared& s) {
  const std::string ini = FK_TRY_CTX(fs::ReadFile(s.file, 1 << 20), s.file);
  NodeClient client = FK_TRY(NodeClient::Connect(s.target));
  FK_TRY(client.Call(Method::kPut, AppPath(s.id) + "/config", ini, "text/plain; charset=utf-8"));
  if (s.target.json) {
    PrintJson(boost::json::object{{"id", s.id}, {"config", ini}});
  } else {
    std::cout << "Configuration of " << s.id << " replaced; it takes effect at the next start\n";
  }
  return {};
}

}  // namespace

void AddAppCommands(CLI::App& app) {
  auto shared = std::make_shared<Shared>();
  auto* group = app.add_subcommand(
      "app",
      "Install and run apps on a node: the local fogkeepd by default, or --node https://host:8443 "
      "--token T --ca node.pem");
  group->require_subcommand(1);
  AddNodeTargetOptions(*group, &shared->target);

  auto id_arg = [&](CLI::App* cmd) { cmd->add_option("id", shared->id, "App id")->required(); };
  auto* install = group->add_subcommand("install", "Install a package (streamed upload)");
  install->add_option("package", shared->file, "Package file")
      ->required()
      ->check(CLI::ExistingFile);
  install->add_option("--id", shared->id, "App id (default: the package's name)");
  install->callback([shared] { Check(RunInstall(*shared, false)); });

  auto* run = group->add_subcommand("run", "Install, activate and start a package");
  run->add_option("package", shared->file, "Package file")->required()->check(CLI::ExistingFile);
  run->add_option("--id", shared->id, "App id (default: the package's name)");
  run->callback([shared] { Check(RunInstall(*shared, true)); });

  for (std::string_view action : {"activate", "start", "stop", "restart", "deactivate"}) {
    const std::string name(action);
    auto* cmd = group->add_subcommand(name, name + " an app");
    id_arg(cmd);
    cmd->callback([shared, name] { Check(RunAction(*shared, name)); });
  }

  auto* upgrade = group->add_subcommand("upgrade", "Replace an app's version, keeping /data");
  id_arg(upgrade);
  upgrade->add_option("package", shared->file, "Package file")
      ->required()
      ->check(CLI::ExistingFile);
  upgrade->callback([shared] { Check(RunUpgrade(*shared)); });

  auto* uninstall = group->add_subcommand("uninstall", "Remove a deployed app and its data");
  id_arg(uninstall);
  uninstall->callback([shared] { Check(RunUninstall(*shared)); });

  group->add_subcommand("list", "List apps")->callback([shared] { Check(RunList(*shared)); });

  auto* status = group->add_subcommand("status", "Show one app");
  id_arg(status);
  status->callback([shared] { Check(RunStatus(*shared)); });

  auto* logs = group->add_subcommand("logs", "Show an app's output");
  id_arg(logs);
  logs->add_option("--tail,-n", shared->tail, "Only the last N lines (0: all kept)");
  logs->add_flag("--follow,-f", shared->follow, "Keep printing new output");
  logs->callback([shared] { Check(RunLogs(*shared)); });

  auto* metrics = group->add_subcommand("metrics", "Resource use of an app");
  id_arg(metrics);
  metrics->callback([shared] { Check(RunMetrics(*shared)); });

  auto* config = group->add_subcommand("config", "An app's package_config.ini");
  config->require_subcommand(1);
  auto* get = config->add_subcommand("get", "Print the configuration");
  id_arg(get);
  get->callback([shared] { Check(RunConfigGet(*shared)); });
  auto* set = config->add_subcommand("set", "Replace the configuration from FILE");
  id_arg(set);
  set->add_option("file", shared->file, "package_config.ini")->required()->check(CLI::ExistingFile);
  set->callback([shared] { Check(RunConfigSet(*shared)); });
}

}  // namespace fogkeep::cli
