// fogkeep fleet: the operator's commands for fogkeep-director, thin over FleetClient
// (cli/fleet_client.h). Devices and their tags, enrollment tokens, the package catalog, fleet
// policies, deployments rolled out in waves, and the director's OAuth clients. Each command
// reaches the director named by --director (or FOGKEEP_DIRECTOR, or the one director logged in
// to) as a user logged in with `fogkeep fleet login` or `fogkeep login --director` (OAuth), or
// with an API token (--token).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <thread>

#include "api/director.h"
#include "cli/alerts.h"
#include "cli/cli.h"
#include "cli/fleet_client.h"
#include "cli/login.h"
#include "cli/output.h"
#include "cli/trust_files.h"
#include "core/fs.h"
#include "crypto/x509.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

// How often `deploy --wait` asks for the deployment's progress, and how many failed asks in a
// row it puts up with (a director restarting) before it gives up.
constexpr auto kPollInterval = std::chrono::seconds(2);
constexpr int kPollAttempts = 5;
// The most of a --config file sent as the app's package_config.ini.
constexpr std::size_t kMaxConfigBytes = 1 << 20;

// Every fleet command's arguments; one command runs per process.
struct FleetArgs {
  NodeTarget target;
  std::string id;       // device, token or deployment id
  std::string name;     // new device name; catalog package name
  std::string version;  // catalog or deployment version
  std::string app;
  std::string file;
  std::vector<std::string> tags;
  std::vector<std::string> devices;
  DeviceQuery query;
  std::string ttl = "24h";
  // policy set
  bool require_signed = false;
  bool allow_unsigned = false;
  std::vector<std::string> trust;
  std::vector<std::string> crls;
  std::vector<std::string> capabilities;
  std::vector<std::string> profiles;
  // deploy
  std::string config;
  std::string wave_size;
  std::string pause;
  std::string failure_threshold;
  bool no_auto_rollback = false;
  bool wait = false;
  // oauth-clients create
  bool public_client = false;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grants;
  std::vector<std::string> scopes;
  std::string role;
};

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

// Options that do not fit together: exit 2 with the reason, like CLI11's own usage errors.
Status UsageError(std::string_view command, std::string_view message) {
  ReportUsageError("fleet " + std::string(command), message);
  return {};
}

// A CLI11 check from one of fleet_client.h's parsers: its error is the usage error.
template <typename Parse>
CLI::Validator Checked(Parse parse, std::string name) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        const auto parsed = parse(text);
        return parsed ? std::string() : parsed.error().message();
      },
      std::move(name));
}
CLI::Validator TagValidator() { return Checked(CheckTag, "TAG"); }
CLI::Validator DurationValidator() { return Checked(ParseDuration, "DURATION"); }

std::int64_t UnixNow() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Joined(const std::vector<std::string>& items, std::string_view none = "-") {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + Printable(item);
  return out.empty() ? std::string(none) : out;
}

std::string Or(const std::string& text, std::string_view fallback = "-") {
  return text.empty() ? std::string(fallback) : Printable(text);
}

// ---- devices and tags ----------------------------------------------------------------------

std::string AppsCell(const std::vector<api::DeviceApp>& apps) {
  std::vector<std::string> cells;
  for (const api::DeviceApp& app : apps) {
    std::string cell = app.name + "@" + app.version;
    if (app.state != "RUNNING") cell += "(" + app.state + ")";
    cells.push_back(cell);
  }
  return Joined(cells);
}

// "d-1 (press-7)", how messages name a device.
std::string Named(const api::DeviceInfo& device) {
  return Printable(device.id) + (device.name.empty() ? "" : " (" + Printable(device.name) + ")");
}

Status RunDevices(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeviceList list = FK_TRY(client.ListDevices(a.query));
  if (a.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  if (list.devices.empty()) {
    const bool filtered = !a.query.tag.empty() || !a.query.status.empty() || !a.query.app.empty();
    std::cout << (filtered ? "no devices match"
                           : "no devices: enroll one with a token from "
                             "`fogkeep fleet tokens create`")
              << "\n";
    return {};
  }
  const std::int64_t now = UnixNow();
  std::vector<std::vector<std::string>> rows{
      {"ID", "NAME", "STATUS", "TAGS", "AGENT", "HEALTH", "LAST-SEEN", "APPS"}};
  for (const api::DeviceInfo& d : list.devices) {
    rows.push_back({Printable(d.id), Or(d.name), Printable(d.status), Joined(d.tags),
                    Or(d.agent_version), Or(d.health), Ago(d.last_seen, now), AppsCell(d.apps)});
  }
  PrintTable(rows);
  return {};
}

void PrintDevice(const api::DeviceInfo& d) {
  const std::int64_t now = UnixNow();
  auto when = [&](std::int64_t t) {
    return t == 0 ? std::string("never") : FormatUnixTime(t) + " (" + Ago(t, now) + ")";
  };
  PrintTable({{"ID", Printable(d.id)},
              {"Name", Or(d.name)},
              {"Status", Printable(d.status)},
              {"Tags", Joined(d.tags)},
              {"fogkeepd", Or(d.agent_version)},
              {"Health", Or(d.health)},
              {"Last seen", when(d.last_seen)},
              {"Last report", when(d.last_report_at)},
              {"Enrolled", FormatUnixTime(d.enrolled_at)},
              {"Certificate", "serial " + Or(d.cert_serial) + ", valid until " +
                                  FormatUnixTime(d.cert_not_after)}});
  if (d.apps.empty()) {
    std::cout << "\nNo apps reported.\n";
    return;
  }
  std::cout << "\n";
  std::vector<std::vector<std::string>> rows{{"APP", "NAME", "VERSION", "STATE", "ERROR"}};
  for (const api::DeviceApp& app : d.apps) {
    rows.push_back({Printable(app.id), Printable(app.name), Printable(app.version),
                    Printable(app.state), Or(app.error, "")});
  }
  PrintTable(rows);
}

Status RunDeviceShow(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeviceInfo device = FK_TRY(client.GetDevice(a.id));
  if (a.target.json) {
    PrintJson(api::ToJson(device));
  } else {
    PrintDevice(device);
  }
  return {};
}

Status RunDecommission(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeviceInfo device = FK_TRY(client.Decommission(a.id));
  if (a.target.json) {
    PrintJson(api::ToJson(device));
  } else {
    std::cout << "Decommissioned device " << Named(device)
              << ": its certificate is revoked, and the director refuses the node from its next "
                 "request\n";
  }
  return {};
}

Status RunRename(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeviceInfo device = FK_TRY(client.Rename(a.id, a.name));
  if (a.target.json) {
    PrintJson(api::ToJson(device));
  } else {
    std::cout << "Renamed device " << Printable(device.id) << " to " << Printable(device.name)
              << "\n";
  }
  return {};
}

// Read-modify-write: the director takes a device's whole tag list. A change made by someone
// else between the read and the write is overwritten.
Status RunTags(const FleetArgs& a, TagChange change) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeviceInfo before = FK_TRY(client.GetDevice(a.id));
  const std::vector<std::string> tags = ChangeTags(before.tags, change, a.tags);
  const api::DeviceInfo after = tags == before.tags ? before : FK_TRY(client.SetTags(a.id, tags));
  if (a.target.json) {
    PrintJson(api::ToJson(after));
  } else {
    std::cout << "Tags of device " << Named(after) << ": " << Joined(after.tags, "(none)")
              << (tags == before.tags ? " (unchanged)" : "") << "\n";
  }
  return {};
}

// ---- enrollment tokens ---------------------------------------------------------------------

// The fingerprint `fogkeepd enroll --ca-fingerprint` wants: the SHA-256 of the fleet CA in the
// file the director was verified against; "" when there is no such CA certificate.
std::string FleetCaFingerprint(const std::string& ca_file) {
  if (ca_file.empty()) return {};
  Result<std::string> pem = fs::ReadFile(ca_file, 1 << 20);
  if (!pem) return {};
  Result<std::vector<crypto::Certificate>> certs = crypto::Certificate::BundleFromPem(*pem);
  if (!certs || certs->empty() || !certs->front().IsCa()) return {};
  return certs->front().Fingerprint();
}

Status RunTokenCreate(const FleetArgs& a) {
  const seconds ttl = FK_TRY(ParseDuration(a.ttl));  // checked by DurationValidator
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::EnrollmentTokenInfo token = FK_TRY(
      client.CreateToken(api::EnrollmentTokenRequest{.tags = a.tags, .ttl_seconds = ttl.count()}));
  if (a.target.json) {
    PrintJson(api::ToJson(token));
    return {};
  }
  const std::string fingerprint = FleetCaFingerprint(client.ca());
  std::cout << "Enrollment token " << Printable(token.id) << " (tags " << Joined(token.tags, "none")
            << "; one use, until " << FormatUnixTime(token.expires_at) << "):\n\n"
            << "  " << Printable(token.token) << "\n\n"
            << "It is shown only now. On the node, as root:\n\n"
            << "  fogkeepd enroll --director " << client.url() << " --token "
            << Printable(token.token) << " \\\n      --ca-fingerprint "
            << (fingerprint.empty() ? "<sha256 of the fleet CA, printed by fogkeep-director>"
                                    : fingerprint)
            << " [--name NAME]\n";
  return {};
}

Status RunTokenList(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::EnrollmentTokenList list = FK_TRY(client.ListTokens());
  if (a.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  if (list.tokens.empty()) {
    std::cout << "no enrollment tokens\n";
    return {};
  }
  const std::int64_t now = UnixNow();
  std::vector<std::vector<std::string>> rows{
      {"ID", "STATE", "TAGS", "CREATED-BY", "CREATED", "EXPIRES", "USED-BY"}};
  for (const api::EnrollmentTokenInfo& t : list.tokens) {
    const std::string state = !t.used_by.empty()    ? "used"
                              : t.expires_at <= now ? "expired"
                                                    : "unused";
    rows.push_back({Printable(t.id), state, Joined(t.tags), Or(t.created_by),
                    FormatUnixTime(t.created_at), FormatUnixTime(t.expires_at), Or(t.used_by)});
  }
  PrintTable(rows);
  return {};
}

Status RunTokenDelete(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  FK_TRY(client.DeleteToken(a.id));
  if (a.target.json) {
    PrintJson(json::object{{"id", a.id}, {"deleted", true}});
  } else {
    std::cout << "Deleted enrollment token " << Printable(a.id) << "\n";
  }
  return {};
}

// ---- catalog -------------------------------------------------------------------------------

Status RunCatalogUpload(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::CatalogPackage package = FK_TRY(client.UploadPackage(a.file));
  if (a.target.json) {
    PrintJson(api::ToJson(package));
  } else {
    std::cout << "Uploaded " << Printable(package.name) << " " << Printable(package.version) << " ("
              << package.size << " bytes, sha256 " << Printable(package.sha256) << ", "
              << (package.signer.empty() ? std::string("unsigned")
                                         : "signed by " + Printable(package.signer))
              << ")\n";
  }
  return {};
}

Status RunCatalogList(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::CatalogList list = FK_TRY(client.ListCatalog());
  if (a.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  if (list.packages.empty()) {
    std::cout << "the catalog is empty: add a package with `fogkeep fleet catalog upload`\n";
    return {};
  }
  std::vector<std::vector<std::string>> rows{
      {"NAME", "VERSION", "SIZE", "SIGNER", "SHA256", "UPLOADED-BY", "UPLOADED"}};
  for (const api::CatalogPackage& p : list.packages) {
    rows.push_back({Printable(p.name), Printable(p.version), std::to_string(p.size),
                    Or(p.signer, "(unsigned)"), Printable(p.sha256.substr(0, 16)),
                    Or(p.uploaded_by), FormatUnixTime(p.uploaded_at)});
  }
  PrintTable(rows);
  return {};
}

Status RunCatalogDelete(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  FK_TRY(client.DeletePackage(a.name, a.version));
  if (a.target.json) {
    PrintJson(json::object{{"name", a.name}, {"version", a.version}, {"deleted", true}});
  } else {
    std::cout << "Deleted " << Printable(a.name) << " " << Printable(a.version)
              << " from the catalog\n";
  }
  return {};
}

// ---- policies ------------------------------------------------------------------------------

std::string CapabilitiesCell(const api::FleetPolicyDoc& p) {
  return Joined(p.allowed_capabilities, "none");
}
std::string ProfilesCell(const api::FleetPolicyDoc& p) { return Joined(p.allowed_profiles, "any"); }

Status RunPolicySet(const FleetArgs& a) {
  const api::TrustMaterial trust = FK_TRY(ReadTrustFiles(a.trust, a.crls));
  api::FleetPolicyDoc policy{.tag = a.id,
                             .require_signed = !a.allow_unsigned,
                             .trust_anchors = trust.anchors,
                             .crls = trust.crls,
                             .allowed_capabilities = a.capabilities,
                             .allowed_profiles = a.profiles};
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::FleetPolicyDoc set = FK_TRY(client.SetPolicy(policy));
  if (a.target.json) {
    PrintJson(api::ToJson(set));
    return {};
  }
  std::cout << "Policy of "
            << (set.tag == "*" ? std::string("every device (*)") : "tag " + Printable(set.tag))
            << " replaced:\n";
  PrintTable({{"  Signatures", set.require_signed ? "required" : "NOT required (warning)"},
              {"  Trust anchors", std::to_string(set.trust_anchors.size())},
              {"  CRLs", std::to_string(set.crls.size())},
              {"  Capabilities", CapabilitiesCell(set)},
              {"  Profiles", ProfilesCell(set)}});
  return {};
}

Status RunPolicyList(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::FleetPolicyList list = FK_TRY(client.ListPolicies());
  if (a.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  if (list.policies.empty()) {
    std::cout << "no fleet policies: devices follow their own platform policy\n";
    return {};
  }
  std::vector<std::vector<std::string>> rows{
      {"TAG", "SIGNED", "TRUST", "CRLS", "CAPABILITIES", "PROFILES", "UPDATED-BY", "UPDATED"}};
  for (const api::FleetPolicyDoc& p : list.policies) {
    rows.push_back({Printable(p.tag), p.require_signed ? "required" : "NOT REQUIRED",
                    std::to_string(p.trust_anchors.size()), std::to_string(p.crls.size()),
                    CapabilitiesCell(p), ProfilesCell(p), Or(p.updated_by),
                    FormatUnixTime(p.updated_at)});
  }
  PrintTable(rows);
  return {};
}

Status RunPolicyDelete(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  FK_TRY(client.DeletePolicy(a.id));
  if (a.target.json) {
    PrintJson(json::object{{"tag", a.id}, {"deleted", true}});
  } else {
    std::cout << "Deleted the policy of tag " << Printable(a.id) << "\n";
  }
  return {};
}

// ---- deployments ---------------------------------------------------------------------------

std::string Progress(const api::DeploymentInfo& d) {
  return "wave " + std::to_string(d.wave) + "/" + std::to_string(d.waves) + ": " +
         std::to_string(d.running) + " running, " + std::to_string(d.failed) + " failed, " +
         std::to_string(d.assigned) + " assigned, " + std::to_string(d.pending) + " pending (" +
         Printable(d.state) + ")";
}

std::string Outcome(const api::DeploymentInfo& d) {
  return "deployment " + Printable(d.id) + " of " + Printable(d.app) + " " + Printable(d.version) +
         " " + Printable(d.state) + (d.reason.empty() ? "" : ": " + Printable(d.reason));
}

// Polls the deployment until it reaches a final state, printing a line whenever its progress
// changes (nothing with --json). Fails unless it completed.
Status WaitForDeployment(FleetClient& client, api::DeploymentInfo d, bool json) {
  std::string last;
  int failures = 0;
  while (true) {
    const std::string line = Progress(d);
    if (!json && line != last) {
      std::cout << FormatTime(std::chrono::system_clock::now()) << "  " << line << std::endl;
      last = line;
    }
    if (IsFinalDeploymentState(d.state)) break;
    std::this_thread::sleep_for(kPollInterval);
    Result<api::DeploymentInfo> next = client.GetDeployment(d.id);
    if (!next) {
      if (next.error().code() != ErrorCode::kUnavailable || ++failures >= kPollAttempts) {
        return Fail(std::move(next).error().With("waiting"));
      }
      continue;
    }
    failures = 0;
    d = std::move(*next);
  }
  if (json) PrintJson(api::ToJson(d));
  if (d.state != "completed") return Fail(ErrorCode::kConflict, Outcome(d));
  if (!json) std::cout << Outcome(d) << "\n";
  return {};
}

Status RunDeploy(const FleetArgs& a) {
  if (a.tags.empty() && a.devices.empty()) {
    return UsageError("deploy", "say where: --tag TAG or --device ID, at least one");
  }
  api::DeploymentRequest request{
      .app = a.app, .version = a.version, .tags = a.tags, .devices = a.devices};
  if (!a.config.empty()) {
    request.config_ini = FK_TRY_CTX(fs::ReadFile(a.config, kMaxConfigBytes), a.config);
  }
  // Each checked by its validator; the contract's defaults stand for what is not given.
  if (!a.wave_size.empty()) request.rollout.wave_size = FK_TRY(ParseWaveSize(a.wave_size));
  if (!a.pause.empty()) request.rollout.pause_seconds = FK_TRY(ParseDuration(a.pause)).count();
  if (!a.failure_threshold.empty()) {
    request.rollout.failure_threshold_percent = FK_TRY(ParsePercent(a.failure_threshold));
  }
  request.rollout.auto_rollback = !a.no_auto_rollback;

  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeploymentInfo d = FK_TRY(client.Deploy(request));
  if (!a.target.json) {
    std::cout << "Deployment " << Printable(d.id) << ": " << Printable(d.app) << " "
              << Printable(d.version) << " to " << (d.pending + d.assigned + d.running + d.failed)
              << " device(s) in " << d.waves << " wave(s) of "
              << Printable(d.spec.rollout.wave_size) << ", " << Printable(d.state) << "\n";
  }
  if (!a.wait) {
    if (a.target.json) {
      PrintJson(api::ToJson(d));
    } else {
      std::cout << "Follow it with `fogkeep fleet rollouts " << Printable(d.id)
                << "`, or deploy with --wait\n";
    }
    return {};
  }
  if (!a.target.json) {
    std::cout << "Waiting for it to finish (Ctrl-C stops waiting, not the rollout)\n";
  }
  return WaitForDeployment(client, d, a.target.json);
}

Status RunRollouts(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  if (!a.id.empty()) {
    const api::DeploymentInfo d = FK_TRY(client.GetDeployment(a.id));
    if (a.target.json) {
      PrintJson(api::ToJson(d));
      return {};
    }
    std::string where = Joined(d.spec.tags, "");
    if (!d.spec.devices.empty()) {
      where += (where.empty() ? "devices " : "; devices ") + Joined(d.spec.devices);
    } else if (!where.empty()) {
      where = "tags " + where;
    }
    PrintTable(
        {{"ID", Printable(d.id)},
         {"App",
          Printable(d.app) + " " + Printable(d.version) +
              (d.previous_version.empty() ? ""
                                          : " (previously " + Printable(d.previous_version) + ")")},
         {"State", Printable(d.state) + (d.reason.empty() ? "" : ": " + Printable(d.reason))},
         {"Progress", Progress(d)},
         {"Targets", where.empty() ? "-" : where},
         {"Rollout",
          "waves of " + Printable(d.spec.rollout.wave_size) + ", pause " +
              FormatDuration(seconds(d.spec.rollout.pause_seconds)) + ", halt above " +
              std::to_string(d.spec.rollout.failure_threshold_percent) + "% failed, " +
              (d.spec.rollout.auto_rollback ? "then roll back" : "no automatic rollback")},
         {"Created", FormatUnixTime(d.created_at) + " by " + Or(d.created_by)},
         {"Updated", FormatUnixTime(d.updated_at)}});
    if (d.targets.empty()) return {};
    std::cout << "\n";
    std::vector<std::vector<std::string>> rows{{"DEVICE", "WAVE", "STATE", "UPDATED", "DETAIL"}};
    for (const api::DeploymentTargetInfo& t : d.targets) {
      rows.push_back({Printable(t.device), std::to_string(t.wave), Printable(t.state),
                      FormatUnixTime(t.updated_at), Or(t.detail, "")});
    }
    PrintTable(rows);
    return {};
  }
  const api::DeploymentList list = FK_TRY(client.ListDeployments());
  if (a.target.json) {
    PrintJson(api::ToJson(list));
    return {};
  }
  if (list.deployments.empty()) {
    std::cout << "no deployments: start one with `fogkeep fleet deploy`\n";
    return {};
  }
  std::vector<std::vector<std::string>> rows{{"ID", "APP", "VERSION", "STATE", "WAVE", "RUNNING",
                                              "FAILED", "PENDING", "CREATED-BY", "CREATED"}};
  for (const api::DeploymentInfo& d : list.deployments) {
    rows.push_back({Printable(d.id), Printable(d.app), Printable(d.version), Printable(d.state),
                    std::to_string(d.wave) + "/" + std::to_string(d.waves),
                    std::to_string(d.running), std::to_string(d.failed),
                    std::to_string(d.pending + d.assigned), Or(d.created_by),
                    FormatUnixTime(d.created_at)});
  }
  PrintTable(rows);
  return {};
}

Status RunRolloutAction(const FleetArgs& a, std::string_view action) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const api::DeploymentInfo d = FK_TRY(client.ActOnDeployment(a.id, action));
  if (a.target.json) {
    PrintJson(api::ToJson(d));
  } else {
    std::cout << "Deployment " << Printable(d.id) << " of " << Printable(d.app) << " "
              << Printable(d.version) << ": " << Printable(d.state)
              << (d.reason.empty() ? "" : " (" + Printable(d.reason) + ")") << "\n";
  }
  return {};
}

// ---- OAuth clients ---------------------------------------------------------------------------

std::string ClientState(const OAuthClientInfo& c) { return c.disabled ? "disabled" : "enabled"; }

void PrintOAuthClient(const OAuthClientInfo& c) {
  PrintTable({{"Client ID", Printable(c.client_id)},
              {"Name", Or(c.name)},
              {"Type", Or(c.type)},
              {"Grants", Joined(c.grant_types)},
              {"Scopes", Joined(c.scopes)},
              {"Role", Or(c.role)},
              {"Redirect URIs", Joined(c.redirect_uris)},
              {"State", ClientState(c)},
              {"Created", FormatUnixTime(c.created_at) + " by " + Or(c.created_by)}});
}

// A client secret, printed once: the director keeps only its digest.
void PrintSecret(const std::string& client_id, const std::string& secret) {
  std::cout << "\nClient secret:\n\n  " << Printable(secret)
            << "\n\nIt is shown only now and cannot be shown again (the director keeps only its "
               "digest): store it where the client reads it. The client authenticates with HTTP "
               "Basic (client_secret_basic); `fogkeep fleet oauth-clients rotate-secret "
            << Printable(client_id) << "` replaces the secret.\n";
}

void WarnSecretInJson() {
  std::cerr << "fogkeep: warning: the client secret in this answer is shown only now and "
               "cannot be shown again\n";
}

Status RunOAuthClientList(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const std::vector<OAuthClientInfo> clients = FK_TRY(client.ListOAuthClients());
  if (a.target.json) {
    json::array list;
    for (const OAuthClientInfo& c : clients) list.push_back(api::ToJson(c));
    PrintJson(json::object{{"clients", std::move(list)}});
    return {};
  }
  if (clients.empty()) {
    std::cout << "no OAuth clients: add one with `fogkeep fleet oauth-clients create`\n";
    return {};
  }
  std::vector<std::vector<std::string>> rows{
      {"CLIENT-ID", "NAME", "TYPE", "GRANTS", "SCOPES", "ROLE", "STATE", "CREATED-BY", "CREATED"}};
  for (const OAuthClientInfo& c : clients) {
    rows.push_back({Printable(c.client_id), Or(c.name), Or(c.type), Joined(c.grant_types),
                    std::to_string(c.scopes.size()), Or(c.role), ClientState(c), Or(c.created_by),
                    FormatUnixTime(c.created_at)});
  }
  PrintTable(rows);
  return {};
}

Status RunOAuthClientShow(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const OAuthClientInfo c = FK_TRY(client.GetOAuthClient(a.id));
  if (a.target.json) {
    PrintJson(api::ToJson(c));
  } else {
    PrintOAuthClient(c);
  }
  return {};
}

Status RunOAuthClientCreate(const FleetArgs& a) {
  OAuthClientInfo request{.client_id = a.id,
                          .name = a.name,
                          .type = a.public_client ? "public" : "confidential",
                          .redirect_uris = a.redirect_uris,
                          .grant_types = {},
                          .scopes = SplitScopes(a.scopes),
                          .role = a.role};
  for (const std::string& grant : a.grants) {
    request.grant_types.push_back(FK_TRY(ParseGrantType(grant)));  // checked by its validator
  }
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const OAuthClientInfo c = FK_TRY(client.CreateOAuthClient(request));
  if (a.target.json) {
    if (!c.client_secret.empty()) WarnSecretInJson();
    PrintJson(api::ToJson(c));
    return {};
  }
  std::cout << "Created OAuth client " << Printable(c.client_id) << ":\n";
  PrintOAuthClient(c);
  if (!c.client_secret.empty()) PrintSecret(c.client_id, c.client_secret);
  return {};
}

Status RunOAuthClientDelete(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  FK_TRY(client.DeleteOAuthClient(a.id));
  if (a.target.json) {
    PrintJson(json::object{{"client_id", a.id}, {"deleted", true}});
  } else {
    std::cout << "Deleted OAuth client " << Printable(a.id)
              << "; the director revoked its tokens\n";
  }
  return {};
}

Status RunOAuthClientRotate(const FleetArgs& a) {
  FleetClient client = FK_TRY(FleetClient::Connect(a.target));
  const std::string secret = FK_TRY(client.RotateOAuthClientSecret(a.id));
  if (a.target.json) {
    WarnSecretInJson();
    PrintJson(json::object{{"client_id", a.id}, {"client_secret", secret}});
    return {};
  }
  std::cout << "New secret for OAuth client " << Printable(a.id)
            << "; the old one no longer authenticates.\n";
  PrintSecret(a.id, secret);
  return {};
}

// ---- registration ----------------------------------------------------------------------------

// A fleet command: the director's options, `help` and the examples of `footer`, and `run` as
// its action.
CLI::App* Command(CLI::App* parent, const std::string& name, const std::string& help,
                  const std::string& footer, const std::shared_ptr<FleetArgs>& args,
                  std::function<Status(const FleetArgs&)> run) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  AddDirectorTargetOptions(*cmd, &args->target);
  if (!footer.empty()) cmd->footer(footer);
  cmd->callback([args, run = std::move(run)] { Check(run(*args)); });
  return cmd;
}

// The same for a command that also groups subcommands: `run` only when none was given.
CLI::App* GroupCommand(CLI::App* parent, const std::string& name, const std::string& help,
                       const std::shared_ptr<FleetArgs>& args,
                       std::function<Status(const FleetArgs&)> run) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  AddDirectorTargetOptions(*cmd, &args->target);
  cmd->require_subcommand(0, 1);
  cmd->callback([cmd, args, run = std::move(run)] {
    if (cmd->get_subcommands().empty()) Check(run(*args));
  });
  return cmd;
}

// A repeatable option taking one value per occurrence ("--tag a --tag b"), so that it never
// swallows the positional arguments after it.
CLI::Option* Repeated(CLI::App* cmd, const std::string& name, std::vector<std::string>& into,
                      const std::string& help) {
  return cmd->add_option(name, into, help)->allow_extra_args(false);
}

void AddDeviceCommands(CLI::App* fleet, const std::shared_ptr<FleetArgs>& args) {
  auto id = [&](CLI::App* cmd) {
    cmd->add_option("id", args->id, "Device id (d-..., from `fogkeep fleet devices`)")->required();
  };
  CLI::App* devices = GroupCommand(fleet, "devices",
                                   "List the fleet's devices, or show, rename or decommission one",
                                   args, RunDevices);
  devices->add_option("--tag", args->query.tag, "Only devices carrying this tag")
      ->check(TagValidator());
  devices->add_option("--status", args->query.status, "Only enrolled or decommissioned devices")
      ->check(CLI::IsMember({"enrolled", "decommissioned"}));
  devices->add_option("--app", args->query.app, "Only devices that report this app");

  CLI::App* show =
      Command(devices, "show", "One device: its tags, certificate, last report and apps",
              "Example:\n  fogkeep fleet devices show d-4f1c2a9b", args, RunDeviceShow);
  id(show);

  CLI::App* rename =
      Command(devices, "rename", "Give a device a new display name",
              "Example:\n  fogkeep fleet devices rename d-4f1c2a9b press-7", args, RunRename);
  id(rename);
  rename->add_option("name", args->name, "The new name: 1 to 128 characters")->required();

  CLI::App* decommission = Command(
      devices, "decommission",
      "Retire a device for good: the director revokes its certificate and refuses it from its "
      "next request (enroll it again, with a new token, to bring it back)",
      "Example:\n  fogkeep fleet devices decommission d-4f1c2a9b", args, RunDecommission);
  id(decommission);

  devices->footer(
      "The table shows each device's ID, NAME, STATUS (enrolled or decommissioned), TAGS, "
      "AGENT (its fogkeepd version), HEALTH and LAST-SEEN from its last report, and the APPS it "
      "runs (name@version, with the state when not RUNNING).\n\n"
      "Examples:\n"
      "  fogkeep fleet devices\n"
      "  fogkeep fleet devices --tag plant-a --status enrolled\n"
      "  fogkeep fleet devices --app hello --json | jq -r '.devices[].id'\n"
      "  fogkeep fleet devices show d-4f1c2a9b");

  CLI::App* tags = fleet->add_subcommand(
      "tags",
      "Change a device's tags (they choose its deployments and fleet policies): set replaces "
      "them, add and remove change some");
  tags->require_subcommand(1);
  const std::vector<std::tuple<std::string, TagChange, std::string>> changes = {
      {"set", TagChange::kSet, "Replace a device's tags"},
      {"add", TagChange::kAdd, "Add tags to a device"},
      {"remove", TagChange::kRemove, "Remove tags from a device"}};
  for (const auto& [name, change, help] : changes) {
    CLI::App* cmd = Command(tags, name, help,
                            "Example:\n  fogkeep fleet tags " + name + " d-4f1c2a9b plant-a line-2",
                            args, [change](const FleetArgs& a) { return RunTags(a, change); });
    id(cmd);
    cmd->add_option("tags", args->tags,
                    "Tags: 1 to 64 characters of a-z 0-9 . _ : -, starting with a letter or digit")
        ->required()
        ->check(TagValidator());
  }
  tags->footer(
      "A tag is 1 to 64 characters of a-z 0-9 . _ : -, starting with a letter or digit. The "
      "director keeps them sorted. The change reads the device's tags and writes them back "
      "whole: run one change at a time per device.\n\n"
      "Examples:\n"
      "  fogkeep fleet tags add d-4f1c2a9b canary\n"
      "  fogkeep fleet tags remove d-4f1c2a9b canary\n"
      "  fogkeep fleet tags set d-4f1c2a9b plant-a line-2");
}

void AddTokenCommands(CLI::App* fleet, const std::shared_ptr<FleetArgs>& args) {
  CLI::App* tokens = fleet->add_subcommand(
      "tokens", "One-time enrollment tokens: each lets one node join the fleet");
  tokens->require_subcommand(1);
  CLI::App* create = Command(
      tokens, "create",
      "Create an enrollment token; it is printed once, with the `fogkeepd enroll` command that "
      "uses it",
      "The node that enrolls with the token gets its tags. Needs the enroll permission "
      "(network-manager or admin).\n\n"
      "Examples:\n"
      "  fogkeep fleet tokens create --tag plant-a --tag line-2\n"
      "  fogkeep fleet tokens create --ttl 30m --json | jq -r .token",
      args, RunTokenCreate);
  Repeated(create, "--tag", args->tags, "Tag for the device that enrolls with it (repeatable)")
      ->check(TagValidator());
  create
      ->add_option("--ttl", args->ttl,
                   "How long the token stays valid: 60s to 30d, e.g. 3600s, 30m, 24h, 7d")
      ->capture_default_str()
      ->check(DurationValidator());
  Command(tokens, "list", "List enrollment tokens: unused, used (and by which device) or expired",
          "", args, RunTokenList);
  CLI::App* del = Command(tokens, "delete", "Delete a token, so that no node can enroll with it",
                          "Example:\n  fogkeep fleet tokens delete 3f2a9c01", args, RunTokenDelete);
  del->add_option("id", args->id, "Token id (the part before the dot)")->required();
}

void AddCatalogCommands(CLI::App* fleet, const std::shared_ptr<FleetArgs>& args) {
  CLI::App* catalog = fleet->add_subcommand(
      "catalog", "The director's catalog of packages, from which deployments install");
  catalog->require_subcommand(1);
  CLI::App* upload = Command(
      catalog, "upload",
      "Upload a package (streamed); the director verifies it against the \"*\" fleet policy",
      "Example:\n  fogkeep fleet catalog upload hello-signed.tar", args, RunCatalogUpload);
  upload->add_option("file", args->file, "Package file (fogkeep package build / sign)")
      ->required()
      ->check(CLI::ExistingFile);
  Command(catalog, "list", "List the catalog's packages", "", args, RunCatalogList);
  CLI::App* del =
      Command(catalog, "delete", "Delete a package from the catalog (refused while it is deployed)",
              "Example:\n  fogkeep fleet catalog delete hello 1.0.0", args, RunCatalogDelete);
  del->add_option("name", args->name, "Package name")->required();
  del->add_option("version", args->version, "Package version")->required();
}

void AddPolicyCommands(CLI::App* fleet, const std::shared_ptr<FleetArgs>& args) {
  CLI::App* policy = fleet->add_subcommand(
      "policy",
      "Fleet policies, per tag (\"*\": every device): which packages a device accepts. A "
      "device follows the strictest of its tags' policies");
  policy->require_subcommand(1);
  CLI::App* set =
      Command(policy, "set",
              "Replace a tag's policy. What is not given takes its secure default: signatures "
              "required, no trust anchors, no capabilities, any profile",
              "Examples:\n"
              "  fogkeep fleet policy set '*' --trust pki/ca.pem\n"
              "  fogkeep fleet policy set plant-a --trust pki/ca.pem --crl pki/ca.crl \\\n"
              "      --allow-capability NET_RAW --allow-profile c1.small\n"
              "  fogkeep fleet policy set lab --allow-unsigned",
              args, RunPolicySet);
  set->add_option("tag", args->id, "Device tag, or \"*\" for every device")
      ->required()
      ->check(Checked(CheckPolicyTag, "TAG"));
  auto* require = set->add_flag("--require-signed", args->require_signed,
                                "Accept signed packages only (the default)");
  set->add_flag("--allow-unsigned", args->allow_unsigned, "Accept unsigned packages too (unsafe)")
      ->excludes(require);
  Repeated(set, "--trust", args->trust,
           "CA certificate PEM file whose signers are trusted (repeatable; a file may hold "
           "several)")
      ->check(CLI::ExistingFile);
  Repeated(set, "--crl", args->crls, "CRL PEM file of those CAs (repeatable)")
      ->check(CLI::ExistingFile);
  Repeated(set, "--allow-capability", args->capabilities,
           "Linux capability an app may ask for (repeatable)");
  Repeated(set, "--allow-profile", args->profiles,
           "IOx resource profile an app may use (repeatable; none given: any)");
  Command(policy, "list", "List the fleet policies", "", args, RunPolicyList);
  CLI::App* del = Command(policy, "delete", "Delete a tag's policy",
                          "Example:\n  fogkeep fleet policy delete lab", args, RunPolicyDelete);
  del->add_option("tag", args->id, "Device tag, or \"*\"")
      ->required()
      ->check(Checked(CheckPolicyTag, "TAG"));
}

void AddDeployCommands(CLI::App* fleet, const std::shared_ptr<FleetArgs>& args) {
  CLI::App* deploy = Command(
      fleet, "deploy",
      "Roll a catalog package out to devices chosen by tag or id, in waves; a wave that fails "
      "too often halts the rollout (and rolls it back, by default)",
      "With --wait, prints the progress until the rollout ends, and exits 0 only when it "
      "completed (1 when it halted, rolled back, or was cancelled or undeployed).\n\n"
      "Examples:\n"
      "  fogkeep fleet deploy hello 1.2.0 --tag plant-a\n"
      "  fogkeep fleet deploy hello 1.2.0 --tag plant-a --tag plant-b --wave-size 25% \\\n"
      "      --pause 5m --failure-threshold 10 --wait\n"
      "  fogkeep fleet deploy hello 1.2.0 --device d-4f1c2a9b --config hello.ini",
      args, RunDeploy);
  deploy->add_option("app", args->app, "Package name in the catalog")->required();
  deploy->add_option("version", args->version, "Package version in the catalog")->required();
  Repeated(deploy, "--tag", args->tags, "Deploy to the devices carrying this tag (repeatable)")
      ->check(TagValidator());
  Repeated(deploy, "--device", args->devices, "Deploy to this device too (repeatable)");
  deploy
      ->add_option("--config", args->config,
                   "The app's package_config.ini (default: the package's)")
      ->check(CLI::ExistingFile);
  deploy
      ->add_option("--wave-size", args->wave_size,
                   "Devices per wave, \"10\", or a share of the targets, \"25%\" (default 100%)")
      ->check(Checked(ParseWaveSize, "N|P%"));
  deploy
      ->add_option("--pause", args->pause,
                   "Wait between a wave's success and the next wave, e.g. 30s, 5m (default 0s)")
      ->check(DurationValidator());
  deploy
      ->add_option("--failure-threshold", args->failure_threshold,
                   "Halt when more than this percentage of the devices so far failed (default 0)")
      ->check(Checked(ParsePercent, "PERCENT"));
  deploy->add_flag("--no-auto-rollback", args->no_auto_rollback,
                   "When the rollout halts, leave the devices as they are instead of rolling back");
  deploy->add_flag("--wait", args->wait, "Follow the rollout until it ends");

  CLI::App* rollouts =
      GroupCommand(fleet, "rollouts", "List deployments, show one with its devices, or steer one",
                   args, RunRollouts);
  rollouts->add_option("id", args->id, "Show this deployment and each of its devices");
  const std::vector<std::pair<std::string, std::string>> actions = {
      {"pause", "Pause a rollout after its current wave"},
      {"resume", "Resume a paused rollout"},
      {"cancel", "Stop a rollout where it is; devices keep what they run"},
      {"rollback", "Return the deployment's devices to the previous version"},
      {"undeploy", "Remove the deployment's app from its devices"}};
  for (const auto& [action, help] : actions) {
    CLI::App* cmd = Command(rollouts, action, help,
                            "Example:\n  fogkeep fleet rollouts " + action + " dep-1a2b3c", args,
                            [action](const FleetArgs& a) { return RunRolloutAction(a, action); });
    cmd->add_option("id", args->id, "Deployment id")->required();
  }
  rollouts->footer(
      "Examples:\n"
      "  fogkeep fleet rollouts\n"
      "  fogkeep fleet rollouts dep-1a2b3c\n"
      "  fogkeep fleet rollouts pause dep-1a2b3c");
}

void AddOAuthClientCommands(CLI::App* fleet, const std::shared_ptr<FleetArgs>& args) {
  CLI::App* clients = fleet->add_subcommand(
      "oauth-clients",
      "The director's OAuth clients: applications that get tokens from its authorization "
      "server (admins only)");
  clients->require_subcommand(1);
  auto id = [&](CLI::App* cmd) {
    cmd->add_option("id", args->id, "Client ID (from `fogkeep fleet oauth-clients list`)")
        ->required();
  };
  Command(clients, "list", "List the OAuth clients", "", args, RunOAuthClientList);
  CLI::App* show =
      Command(clients, "show", "One client: its grants, scopes, role and redirect URIs",
              "Example:\n  fogkeep fleet oauth-clients show fogkeep-cli", args, RunOAuthClientShow);
  id(show);
  CLI::App* create = Command(
      clients, "create",
      "Register a client; a confidential one's secret is printed once, and never again",
      "A confidential client (the default) authenticates with its secret (HTTP Basic) and may "
      "use client_credentials, acting for itself with --role's permissions (within --scope). "
      "A public client (--public, e.g. a native app) has no secret and must use PKCE. Redirect "
      "URIs are https://, or http:// on 127.0.0.1 or [::1] (any port). Scopes are fogkeep "
      "permissions such as devices.read; default: none.\n\n"
      "Examples:\n"
      "  fogkeep fleet oauth-clients create --id inventory --name \"Inventory sync\" \\\n"
      "      --grant client_credentials --scope \"devices.read catalog.read\" --role auditor\n"
      "  fogkeep fleet oauth-clients create --id dashboard --public \\\n"
      "      --redirect-uri https://dash.example/cb --grant authorization_code \\\n"
      "      --grant refresh_token --scope devices.read",
      args, RunOAuthClientCreate);
  create->add_option("--id", args->id, "Client ID: 1 to 128 characters of A-Z a-z 0-9 - _ .")
      ->required();
  create->add_option("--name", args->name,
                     "Display name shown on the consent page (default: the ID)");
  create->add_flag("--public", args->public_client,
                   "A public client: no secret (native and browser apps); PKCE is required");
  Repeated(create, "--redirect-uri", args->redirect_uris,
           "Where the authorization code grant may send the browser back (repeatable)");
  Repeated(create, "--grant", args->grants,
           "authorization_code, refresh_token, client_credentials or device_code (repeatable; "
           "at least one)")
      ->required()
      ->check(Checked(ParseGrantType, "GRANT"));
  Repeated(create, "--scope", args->scopes,
           "Permissions the client may be granted (repeatable, or several separated by spaces)");
  create->add_option("--role", args->role,
                     "The role whose permissions a client_credentials token holds (admin, "
                     "app-manager, network-manager, auditor); required with that grant");
  CLI::App* del = Command(
      clients, "delete", "Delete a client; the director revokes every token it was issued",
      "Example:\n  fogkeep fleet oauth-clients delete inventory", args, RunOAuthClientDelete);
  id(del);
  CLI::App* rotate = Command(
      clients, "rotate-secret",
      "Give a confidential client a new secret (printed once); the old one stops working at once",
      "Example:\n  fogkeep fleet oauth-clients rotate-secret inventory", args,
      RunOAuthClientRotate);
  id(rotate);
  clients->footer(
      "Needs the oauth-clients.manage permission (admin). The director registers the public "
      "client fogkeep-cli itself, for `fogkeep login --director`.\n\n"
      "Examples:\n"
      "  fogkeep fleet oauth-clients list\n"
      "  fogkeep fleet oauth-clients create --id inventory --grant client_credentials \\\n"
      "      --scope devices.read --role auditor\n"
      "  fogkeep fleet oauth-clients rotate-secret inventory\n"
      "  fogkeep fleet oauth-clients delete inventory");
}

}  // namespace

void AddFleetCommands(CLI::App& app) {
  auto args = std::make_shared<FleetArgs>();
  CLI::App* fleet = app.add_subcommand(
      "fleet",
      "Manage a fleet of nodes through fogkeep-director: devices, tags, enrollment tokens, the "
      "package catalog, fleet policies, deployments, the devices' security alerts and the "
      "director's OAuth clients");
  fleet->require_subcommand(1);
  AddLoginCommands(*fleet, ServerKind::kDirector);
  AddDeviceCommands(fleet, args);
  AddTokenCommands(fleet, args);
  AddCatalogCommands(fleet, args);
  AddPolicyCommands(fleet, args);
  AddDeployCommands(fleet, args);
  AddOAuthClientCommands(fleet, args);
  AddFleetAlertCommand(*fleet);
  // Set last: subcommands created after it would inherit it.
  fleet->footer(
      "Every command takes --director https://host:9443 (or FOGKEEP_DIRECTOR; default: the one "
      "director you are logged in to), --ca with the fleet CA (the director's "
      "data-dir/ca/ca.crt), --token (or FOGKEEP_TOKEN) with an API token from `fogkeep-director "
      "token create --role R` instead of a login, and --json. Log in with a password "
      "(`fogkeep fleet login`) or with OAuth on the director's own pages (`fogkeep login "
      "--director URL`, see `fogkeep login --help`).\n\n"
      "Typical flow:\n"
      "  fogkeep fleet login --director https://fleet.example:9443 --user alice --ca ca.crt\n"
      "  fogkeep fleet tokens create --tag plant-a       # then `fogkeepd enroll` on the node\n"
      "  fogkeep fleet devices --tag plant-a\n"
      "  fogkeep fleet policy set '*' --trust pki/ca.pem\n"
      "  fogkeep fleet catalog upload hello-signed.tar\n"
      "  fogkeep fleet deploy hello 1.0.0 --tag plant-a --wave-size 25% --wait\n"
      "  fogkeep fleet rollouts");
}

}  // namespace fogkeep::cli
