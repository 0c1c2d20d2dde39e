#include "node/api.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <thread>
#include <utility>

#include "api/node.h"
#include "core/fs.h"
#include "core/log.h"
#include "net/prometheus.h"

namespace fogkeep::node {
namespace {

using net::JsonResponse;
using net::Method;
using net::Request;
using net::Response;
using net::RouteOptions;

api::App ToWire(const AppInfo& info) {
  api::App app;
  app.id = info.id;
  app.name = info.name;
  app.version = info.version;
  app.state = std::string(AppStateName(info.state));
  app.type = info.type;
  app.signer = info.signer;
  app.profile = info.profile;
  app.memory_mb = info.memory_mb;
  app.cpu_units = info.cpu_units;
  app.ports = info.ports;
  app.network = info.network;
  app.installed_at = info.installed_at;
  app.updated_at = info.updated_at;
  app.restarts = info.restarts;
  if (info.last_exit) {
    app.last_exit =
        api::AppExit{info.last_exit->exit_code, info.last_exit->signal, info.last_exit->oom_killed,
                     info.last_exit->finished_at, info.last_exit->error};
  }
  return app;
}

api::AppMetrics ToWire(const AppMetrics& m) {
  return api::AppMetrics{m.id,
                         std::string(AppStateName(m.state)),
                         m.cpu_seconds,
                         m.memory_bytes,
                         m.memory_limit_bytes,
                         m.pids,
                         m.oom_kills,
                         m.restarts};
}

// Feeds a streamed request body to the package reader, remembering why the body failed (if
// it did): the reader wraps source errors in its own context, but a body over the limit must
// still answer 413 and a vanished client is no fault of the package.
class UploadSource : public package::ByteSource {
 public:
  explicit UploadSource(Request& request) : request_(request) {}

  Result<std::size_t> Read(char* buf, std::size_t size) override {
    if (request_.body_stream == nullptr) {  // a buffered body (never for upload routes)
      const std::size_t n = std::min(size, request_.body.size() - offset_);
      std::copy_n(request_.body.data() + offset_, n, buf);
      offset_ += n;
      return n;
    }
    Result<std::size_t> n = request_.body_stream->Read(buf, size);
    if (!n && !failure_) failure_ = n.error();
    return n;
  }

  // The error to report for a failed install: the body's own failure when there was one.
  Error Explain(Error install_error) const {
    if (failure_ &&
        (failure_->code() == ErrorCode::kLimit || failure_->code() == ErrorCode::kUnavailable ||
         failure_->code() == ErrorCode::kInvalidInput)) {
      return failure_->With("upload");
    }
    return install_error;
  }

 private:
  Request& request_;
  std::size_t offset_ = 0;
  std::optional<Error> failure_;
};

Result<std::string> AppId(const Request& request) {
  std::string id(request.Param("id"));
  if (id.empty()) return Fail(ErrorCode::kInvalidInput, "missing app id");
  return id;
}

Result<std::size_t> QueryCount(const Request& request, std::string_view name) {
  std::optional<std::string_view> text = request.Query(name);
  if (!text || text->empty()) return std::size_t{0};
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return Fail(ErrorCode::kInvalidInput,
                "query parameter " + std::string(name) + " must be a non-negative integer");
  }
  return value;
}

bool QueryFlag(const Request& request, std::string_view name) {
  std::optional<std::string_view> text = request.Query(name);
  return text && (*text == "1" || *text == "true" || *text == "yes" || text->empty());
}

// The last `lines` lines of `text` (all of it when 0).
std::string_view TailLines(std::string_view text, std::size_t lines) {
  if (lines == 0) return text;
  std::size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // the final newline ends the last line
  std::size_t count = 0;
  while (end > 0) {
    std::size_t nl = text.rfind('\n', end - 1);
    if (nl == std::string_view::npos) return text;
    if (++count == lines) return text.substr(nl + 1);
    end = nl;
  }
  return text;
}

// What `next` holds beyond `prev`, where both are the app's kept output at two moments. The
// log only grows at its end and loses lines at its start (rotation), so `next` is a suffix of
// `prev` followed by new output: find the longest suffix of `prev` starting on a line boundary
// that `next` begins with. Without any overlap everything in `next` is new (more output
// arrived between two polls than the log keeps).
std::string_view NewOutput(std::string_view prev, std::string_view next) {
  if (next.starts_with(prev)) return next.substr(prev.size());
  std::size_t start = 0;
  while (start < prev.size()) {
    std::size_t nl = prev.find('\n', start);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
    std::string_view suffix = prev.substr(start);
    if (!suffix.empty() && next.starts_with(suffix)) return next.substr(suffix.size());
  }
  return next;
}

std::uint64_t ResidentBytes() {
  auto statm = fs::ReadFile("/proc/self/statm", 4096);
  if (!statm) return 0;
  std::string_view text = *statm;
  std::size_t space = text.find(' ');
  if (space == std::string_view::npos) return 0;
  text.remove_prefix(space + 1);
  std::uint64_t pages = 0;
  std::from_chars(text.data(), text.data() + text.size(), pages);
  return pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Relaxations from `before` to `after`, in words, for the warning a weakened policy earns.
std::vector<std::string> Weakenings(const PlatformPolicy& before, const PlatformPolicy& after) {
  std::vector<std::string> out;
  if (before.require_signed && !after.require_signed) out.push_back("unsigned packages allowed");
  if (!before.allow_host_network && after.allow_host_network) {
    out.push_back("host networking allowed");
  }
  if (!before.allow_downgrade && after.allow_downgrade) out.push_back("downgrades allowed");
  for (const auto& cap : after.allowed_capabilities) {
    if (std::find(before.allowed_capabilities.begin(), before.allowed_capabilities.end(), cap) ==
        before.allowed_capabilities.end()) {
      out.push_back("capability " + cap + " allowed");
    }
  }
  return out;
}

std::string Who(const Request& request) {
  return request.principal ? request.principal->id + " (" + request.principal->mechanism + ")"
                           : "unknown";
}

class NodeApi {
 public:
  NodeApi(std::shared_ptr<AppService> apps, ApiOptions options)
      : apps_(std::move(apps)),
        options_(std::move(options)),
        started_(std::chrono::steady_clock::now()) {}

  Status Register(net::Router& router, const std::shared_ptr<NodeApi>& self) {
    auto bind = [self](Result<Response> (NodeApi::*method)(Request&)) {
      return [self, method](Request& request) { return (self.get()->*method)(request); };
    };
    const RouteOptions read{.permission = std::string(kPermissionAppsRead)};
    // The list is what dashboards and directors poll. It runs on the I/O thread, sparing each
    // call two thread hand-offs: it never blocks, as it reads the store's published snapshot
    // and in-memory caches only (AppStore::ListApps, Apps::ParsedDescriptor).
    const RouteOptions list{.permission = std::string(kPermissionAppsRead),
                            .execution = net::Execution::kInline};
    const RouteOptions write{.permission = std::string(kPermissionAppsWrite)};
    const RouteOptions upload{.permission = std::string(kPermissionAppsWrite),
                              .body = net::BodyMode::kStreamed,
                              .max_body_bytes = options_.max_upload_bytes};
    const RouteOptions config_write{.permission = std::string(kPermissionAppsWrite),
                                    .max_body_bytes = options_.max_config_bytes};
    const RouteOptions platform_read{.permission = std::string(kPermissionPlatformRead)};
    const RouteOptions platform_write{.permission = std::string(kPermissionPlatformWrite),
                                      .max_body_bytes = 4 << 20};
    const RouteOptions metrics{.permission = std::string(kPermissionMetricsRead)};
    const RouteOptions health{.is_public = true, .execution = net::Execution::kInline};
    // The name a state-changing route's calls carry in the audit trail.
    auto audited = [](RouteOptions options, std::string_view action) {
      options.audit_action = std::string(action);
      return options;
    };

    FK_TRY(router.Add(Method::kGet, "/healthz", health, bind(&NodeApi::Health)));
    FK_TRY(router.Add(Method::kGet, "/metrics", metrics, bind(&NodeApi::Prometheus)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/apps", list, bind(&NodeApi::ListApps)));
    FK_TRY(router.Add(Method::kPost, "/api/v1/apps", audited(upload, "apps.install"),
                      bind(&NodeApi::Install)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/apps/{id}", read, bind(&NodeApi::GetApp)));
    FK_TRY(router.Add(Method::kDelete, "/api/v1/apps/{id}", audited(write, "apps.uninstall"),
                      bind(&NodeApi::Uninstall)));
    FK_TRY(router.Add(Method::kPost, "/api/v1/apps/{id}/upgrade", audited(upload, "apps.upgrade"),
                      bind(&NodeApi::Upgrade)));
    FK_TRY(router.Add(Method::kPost, "/api/v1/apps/{id}/{action}", audited(write, "apps.{action}"),
                      bind(&NodeApi::Action)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/apps/{id}/logs", read, bind(&NodeApi::Logs)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/apps/{id}/metrics", read,
                      bind(&NodeApi::AppMetricsRoute)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/apps/{id}/config", read, bind(&NodeApi::GetConfig)));
    FK_TRY(router.Add(Method::kPut, "/api/v1/apps/{id}/config",
                      audited(config_write, "apps.config"), bind(&NodeApi::SetConfig)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/platform/trust", platform_read,
                      bind(&NodeApi::GetTrust)));
    FK_TRY(router.Add(Method::kPut, "/api/v1/platform/trust",
                      audited(platform_write, "platform.trust"), bind(&NodeApi::SetTrust)));
    FK_TRY(router.Add(Method::kGet, "/api/v1/platform/policy", platform_read,
                      bind(&NodeApi::GetPolicy)));
    FK_TRY(router.Add(Method::kPut, "/api/v1/platform/policy",
                      audited(platform_write, "platform.policy"), bind(&NodeApi::SetPolicy)));
    return {};
  }

 private:
  Result<Response> Health(Request&) {
    return JsonResponse(api::Health{.status = "ok", .version = options_.version});
  }

  Result<Response> Prometheus(Request&) {
    net::Exposition metrics;
    auto& cpu = metrics.Counter("fogkeep_app_cpu_seconds_total", "CPU time used by the app.");
    auto& memory = metrics.Gauge("fogkeep_app_memory_bytes", "Memory used by the app.");
    auto& memory_limit =
        metrics.Gauge("fogkeep_app_memory_limit_bytes", "Memory limit of the app.");
    auto& pids = metrics.Gauge("fogkeep_app_pids", "Processes of the app.");
    auto& restarts =
        metrics.Gauge("fogkeep_app_restarts", "Automatic restarts since the app last started.");
    auto& oom = metrics.Counter("fogkeep_app_oom_kills_total", "OOM kills inside the app.");
    auto& state = metrics.Gauge("fogkeep_app_state", "1 for the state the app is in, else 0.");
    std::vector<AppInfo> apps = FK_TRY(apps_->List());
    for (const AppInfo& app : apps) {
      for (AppState s :
           {AppState::kDeployed, AppState::kActivated, AppState::kRunning, AppState::kStopped}) {
        state.Add({{"app", app.id}, {"state", std::string(AppStateName(s))}},
                  s == app.state ? 1 : 0);
      }
      Result<AppMetrics> m = apps_->Metrics(app.id);
      if (!m) continue;  // uninstalled meanwhile, or no cgroup yet
      const net::Labels labels{{"app", app.id}};
      cpu.Add(labels, m->cpu_seconds);
      memory.Add(labels, static_cast<double>(m->memory_bytes));
      memory_limit.Add(labels, static_cast<double>(m->memory_limit_bytes));
      pids.Add(labels, static_cast<double>(m->pids));
      restarts.Add(labels, m->restarts);
      oom.Add(labels, static_cast<double>(m->oom_kills));
    }
    metrics.Gauge("fogkeep_apps", "Installed apps.").Add(static_cast<double>(apps.size()));
    metrics.Gauge("fogkeepd_resident_memory_bytes", "Resident memory of fogkeepd.")
        .Add(static_cast<double>(ResidentBytes()));
    metrics.Gauge("fogkeepd_uptime_seconds", "Seconds since fogkeepd started.")
        .Add(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    if (options_.open_connections) {
      if (std::optional<std::uint64_t> open = options_.open_connections()) {
        metrics.Gauge("fogkeepd_open_connections", "Open client connections.")
            .Add(static_cast<double>(*open));
      }
    }
    Response response = Response::Text(metrics.Render());
    response.headers.Set("Content-Type", net::kPrometheusContentType);
    return response;
  }

  Result<Response> ListApps(Request&) {
    api::AppList list;
    for (const AppInfo& info : FK_TRY(apps_->List())) list.apps.push_back(ToWire(info));
    return JsonResponse(list);
  }

  Result<Response> Install(Request& request) {
    InstallOptions install;
    if (auto id = request.Query("id")) install.app_id = std::string(*id);
    UploadSource source(request);
    Result<AppInfo> info = apps_->Install(source, install);
    if (!info) return Fail(source.Explain(std::move(info).error()));
    log::Info("installed app {} {} by {}", info->id, info->version, Who(request));
    Response response = JsonResponse(ToWire(*info), 201);
    response.headers.Set("Location", "/api/v1/apps/" + info->id);
    return response;
  }

  Result<Response> Upgrade(Request& request) {
    const std::string id = FK_TRY(AppId(request));
    UploadSource source(request);
    Result<AppInfo> info = apps_->Upgrade(id, source);
    if (!info) return Fail(source.Explain(std::move(info).error()));
    log::Info("upgraded app {} to {} by {}", id, info->version, Who(request));
    return JsonResponse(ToWire(*info));
  }

  Result<Response> GetApp(Request& request) {
    return JsonResponse(ToWire(FK_TRY(apps_->Get(FK_TRY(AppId(request))))));
  }

  Result<Response> Uninstall(Request& request) {
    const std::string id = FK_TRY(AppId(request));
    FK_TRY(apps_->Uninstall(id));
    log::Info("uninstalled app {} by {}", id, Who(request));
    Response response;
    response.status = 204;
    return response;
  }

  Result<Response> Action(Request& request) {
    const std::string id = FK_TRY(AppId(request));
    const std::string_view name = request.Param("action");
    std::optional<AppAction> action = ParseAppAction(name);
    // Uninstall and upgrade have routes of their own; anything else is no route at all.
    if (!action || *action == AppAction::kUninstall || *action == AppAction::kUpgrade) {
      return Fail(ErrorCode::kNotFound, "no such app action: " + std::string(name));
    }
    AppInfo info = FK_TRY(apps_->Apply(id, *action));
    log::Info("{} app {} by {}", name, id, Who(request));
    return JsonResponse(ToWire(info));
  }

  Result<Response> Logs(Request& request) {
    const std::string id = FK_TRY(AppId(request));
    const std::size_t tail = FK_TRY(QueryCount(request, "tail"));
    if (!QueryFlag(request, "follow")) {
      return Response::Text(FK_TRY(apps_->Logs(id, tail)));
    }
    // Fetch once before streaming, so an unknown app is a 404 rather than an empty stream.
    std::string kept = FK_TRY(apps_->Logs(id, 0));
    auto apps = apps_;
    const auto interval = options_.log_poll_interval;
    return Response::Stream(
        "text/plain; charset=utf-8",
        [apps, id, tail, interval, kept = std::move(kept)](net::BodySink& sink) mutable -> Status {
          std::string_view first = TailLines(kept, tail);
          if (!first.empty()) FK_TRY(sink.Write(first));
          while (!sink.Cancelled()) {
            std::this_thread::sleep_for(interval);
            if (sink.Cancelled()) break;
            Result<std::string> next = apps->Logs(id, 0);
            if (!next) {
              if (next.error().code() == ErrorCode::kNotFound) return {};  // uninstalled
              return Fail(std::move(next).error());
            }
            std::string_view fresh = NewOutput(kept, *next);
            if (!fresh.empty()) FK_TRY(sink.Write(fresh));
            kept = std::move(*next);
          }
          return {};
        });
  }

  Result<Response> AppMetricsRoute(Request& request) {
    return JsonResponse(ToWire(FK_TRY(apps_->Metrics(FK_TRY(AppId(request))))));
  }

  Result<Response> GetConfig(Request& request) {
    return Response::Text(FK_TRY(apps_->GetConfig(FK_TRY(AppId(request)))));
  }

  Result<Response> SetConfig(Request& request) {
    const std::string id = FK_TRY(AppId(request));
    FK_TRY(apps_->SetConfig(id, request.body));
    log::Info("configuration of app {} replaced by {}", id, Who(request));
    return Response::Text(FK_TRY(apps_->GetConfig(id)));
  }

  Result<Response> GetTrust(Request&) {
    TrustMaterial trust = FK_TRY(apps_->GetTrust());
    return JsonResponse(api::TrustMaterial{trust.anchors, trust.crls});
  }

  Result<Response> SetTrust(Request& request) {
    auto wire = FK_TRY(api::FromJsonText<api::TrustMaterial>(request.body));
    FK_TRY(apps_->SetTrust(TrustMaterial{wire.anchors, wire.crls}));
    log::Info("trust store replaced by {}: {} anchors, {} CRLs", Who(request), wire.anchors.size(),
              wire.crls.size());
    return JsonResponse(wire);
  }

  Result<Response> GetPolicy(Request&) {
    PlatformPolicy p = FK_TRY(apps_->GetPolicy());
    return JsonResponse(api::PlatformPolicy{p.require_signed, p.allowed_capabilities,
                                            p.allow_host_network, p.allow_downgrade});
  }

  Result<Response> SetPolicy(Request& request) {
    auto wire = FK_TRY(api::FromJsonText<api::PlatformPolicy>(request.body));
    const PlatformPolicy next{wire.require_signed, wire.allowed_capabilities,
                              wire.allow_host_network, wire.allow_downgrade};
    const PlatformPolicy before = FK_TRY(apps_->GetPolicy());
    FK_TRY(apps_->SetPolicy(next));
    for (const std::string& weakening : Weakenings(before, next)) {
      log::Warn("platform policy weakened by {}: {}", Who(request), weakening);
    }
    return JsonResponse(wire);
  }

  const std::shared_ptr<AppService> apps_;
  const ApiOptions options_;
  const std::chrono::steady_clock::time_point started_;
};

}  // namespace

Status RegisterNodeApi(net::Router& router, std::shared_ptr<AppService> apps, ApiOptions options) {
  auto api = std::make_shared<NodeApi>(std::move(apps), std::move(options));
  return api->Register(router, api);
}

}  // namespace fogkeep::node
