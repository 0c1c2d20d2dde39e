#include "director/routes.h"

#include <charconv>
#include <limits>

#include "access/audit_api.h"
#include "access/auth_token.h"
#include "api/alert.h"
#include "api/director.h"
#include "api/est.h"
#include "api/node.h"
#include "auth/roles.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "director/device_auth.h"
#include "director/oauth_routes.h"

namespace fogkeep::director {
namespace {

using net::Method;
using net::Request;
using net::Response;
using net::RouteOptions;

// A report carries up to api::kMaxReportAlerts alerts, about 1 MiB of them (node/alerts/
// forwarding.h), beside the apps.
constexpr std::size_t kMaxReportBytes = 2 << 20;
constexpr std::int64_t kMaxAlertListLimit = 1000;
constexpr std::int64_t kDefaultAlertListLimit = 100;

std::string_view StatusName(DeviceStatus status) {
  return status == DeviceStatus::kEnrolled ? "enrolled" : "decommissioned";
}

api::DeviceInfo ToWire(const Device& d) {
  api::DeviceInfo info{.id = d.id,
                       .name = d.name,
                       .tags = d.tags,
                       .status = std::string(StatusName(d.status)),
                       .cert_serial = d.cert_serial,
                       .cert_not_after = d.cert_not_after,
                       .enrolled_at = d.enrolled_at,
                       .agent_version = d.agent_version,
                       .health = d.health,
                       .last_seen = d.last_seen,
                       .last_report_at = d.last_report_at};
  // The report was checked when it arrived; one that no longer parses shows no apps.
  if (!d.report_json.empty()) {
    if (Result<api::NodeReport> report = api::FromJsonText<api::NodeReport>(d.report_json)) {
      info.apps = std::move(report->apps);
    }
  }
  return info;
}

api::EnrollmentTokenInfo ToWire(const EnrollmentToken& t) {
  return api::EnrollmentTokenInfo{.id = t.id,
                                  .tags = t.tags,
                                  .created_by = t.created_by,
                                  .created_at = t.created_at,
                                  .expires_at = t.expires_at,
                                  .used_by = t.used_by,
                                  .used_at = t.used_at};
}

// The answer of an EST exchange: base64 of a certs-only PKCS#7 (RFC 7030 §4.1.3, §4.2.3).
Result<Response> CertsOnly(const std::vector<crypto::Certificate>& chain,
                           std::string_view content_type) {
  Response response = Response::Text(FK_TRY(api::est::EncodeCertsOnlyBody(chain)));
  response.headers.Set("Content-Type", content_type);
  response.headers.Set("Content-Transfer-Encoding", api::est::kTransferEncoding);
  return response;
}

// A PKCS#10 body, refused unless it says it is one (RFC 7030 §4.2.1).
Result<crypto::CertificateRequest> EnrollRequest(const Request& request) {
  const std::optional<std::string_view> type = request.headers.Get("Content-Type");
  if (!type ||
      type->substr(0, api::est::kPkcs10ContentType.size()) != api::est::kPkcs10ContentType) {
    return Fail(ErrorCode::kInvalidInput, "an enrollment request must be application/pkcs10");
  }
  return api::est::ParseEnrollRequestBody(request.body);
}

Result<std::int64_t> WaitSeconds(const Request& request, std::chrono::seconds max) {
  const std::optional<std::string_view> text = request.Query("wait");
  if (!text) return 0;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || value < 0) {
    return Fail(ErrorCode::kInvalidInput, "wait must be a number of seconds");
  }
  return std::min<std::int64_t>(value, max.count());
}

// A desired state's ETag: its generation and, with OAuth, the key that signs access tokens
// now, so that a node holding older keys gets the new ones at its next request.
std::string ETag(std::int64_t generation, std::string_view key_id) {
  std::string tag = "\"g" + std::to_string(generation);
  if (!key_id.empty()) tag += "-" + std::string(key_id);
  return tag + "\"";
}

class DirectorApi : public std::enable_shared_from_this<DirectorApi> {
 public:
  explicit DirectorApi(DirectorServices services) : s_(std::move(services)) {}

  Result<Response> Health(Request&) {
    return net::JsonResponse(api::Health{.status = "ok", .version = s_.version});
  }

  Result<Response> CaCerts(Request&) {
    return CertsOnly({s_.enrollment->ca().certificate()}, api::est::kCaCertsContentType);
  }

  Result<Response> SimpleEnroll(Request& request) {
    // Public route: the token is the credential, checked here (and audited as the principal's
    // claim, so a wrong guess is on the record with its token id).
    const Result<std::string_view> token = access::BearerToken(request);
    if (!token) return Fail(ErrorCode::kUnauthenticated, "an enrollment token is required");
    request.audit_note = "token " + std::string(token->substr(0, token->find('.')));
    const crypto::CertificateRequest csr = FK_TRY(EnrollRequest(request));
    const Enrollment::Issued issued = FK_TRY(s_.enrollment->Enroll(*token, csr));
    request.principal = net::Principal{.id = issued.device_id, .mechanism = "enrollment-token"};
    s_.generations->Changed();
    return CertsOnly(issued.chain, api::est::kCertsOnlyContentType);
  }

  Result<Response> SimpleReenroll(Request& request) {
    const crypto::CertificateRequest csr = FK_TRY(EnrollRequest(request));
    const Enrollment::Issued issued = FK_TRY(s_.enrollment->Reenroll(request.principal->id, csr));
    return CertsOnly(issued.chain, api::est::kCertsOnlyContentType);
  }

  // A node whose ETag is current waits (?wait=S) for the next generation without holding a
  // thread: the answer is deferred until the watch sees the generation move (the new desired
  // state) or the wait ends (304, same ETag).
  Result<Response> Desired(Request& request) {
    const std::int64_t wait = FK_TRY(WaitSeconds(request, s_.max_poll_wait));
    const std::int64_t generation = FK_TRY(s_.generations->Current());
    const std::optional<std::string_view> known = request.headers.Get("If-None-Match");
    if (!known || *known != ETag(generation, FK_TRY(KeyId()))) {
      return DesiredAnswer(request.principal->id, generation);
    }
    if (wait == 0) return NotModified(generation);
    auto deferred = std::make_shared<net::DeferredResponse>();
    // Runs on the watch's thread, which may block on the store. The routes are held weakly:
    // the watch may outlive them.
    const GenerationWatch::Ticket ticket = s_.generations->WhenBeyond(
        generation, std::chrono::seconds(wait),
        [api = weak_from_this(), device_id = request.principal->id, generation,
         deferred](Result<std::int64_t> now) {
          if (deferred->Cancelled()) return;
          const std::shared_ptr<DirectorApi> self = api.lock();
          if (!self) {
            deferred->Complete(Fail(ErrorCode::kUnavailable, "the director is stopping"));
            return;
          }
          deferred->Complete(self->AfterWait(device_id, generation, std::move(now)));
        });
    // A node that hangs up stops being waited for.
    deferred->OnCancel([watch = std::weak_ptr(s_.generations), ticket] {
      if (const std::shared_ptr<GenerationWatch> alive = watch.lock()) alive->Forget(ticket);
    });
    return Response::Deferred(std::move(deferred));
  }

  // The answer to a node that waited at generation `seen`.
  Result<Response> AfterWait(const std::string& device_id, std::int64_t seen,
                             Result<std::int64_t> now) {
    const std::int64_t generation = FK_TRY(std::move(now));
    if (generation == seen) return NotModified(generation);
    return DesiredAnswer(device_id, generation);
  }

  Result<Response> NotModified(std::int64_t generation) {
    Response unchanged;
    unchanged.status = 304;
    unchanged.headers.Set("ETag", ETag(generation, FK_TRY(KeyId())));
    return unchanged;
  }

  // The id of the key that signs access tokens now; "" without OAuth.
  Result<std::string> KeyId() {
    if (!s_.oauth) return std::string();
    return s_.oauth->CurrentKeyId();
  }

  // The desired state of `device_id` at `generation`, signed by the director: the body's
  // signature (X-Fogkeep-Signature, base64) by the key of the director's certificate
  // (X-Fogkeep-Signer, base64 DER), which chains to the fleet CA with serverAuth. A node
  // checks both, so a desired state is the director's even where TLS ends before the node.
  Result<Response> DesiredAnswer(const std::string& device_id, std::int64_t generation) {
    const std::optional<Device> device = FK_TRY(s_.store->FindDevice(device_id));
    if (!device) return Fail(ErrorCode::kNotFound, "no device " + device_id);
    // Not inside the aggregate: an early return from its initializer would leak what it built.
    std::vector<api::DesiredApp> apps = FK_TRY(s_.rollouts->DesiredApps(device->id));
    api::FleetPolicyDoc policy = FK_TRY(s_.catalog->PolicyFor(device->tags));
    api::DesiredState desired{.device_id = device->id,
                              .generation = generation,
                              .tags = device->tags,
                              .apps = std::move(apps),
                              .policy = std::move(policy)};
    std::string key_id;
    if (s_.oauth) {
      // The node validates the director's access tokens offline with these.
      key_id = FK_TRY(KeyId());
      std::string jwks = FK_TRY(s_.oauth->Keys()).ToJson();
      desired.oauth = api::OAuthTrust{s_.oauth->options().issuer, std::move(jwks)};
    }
    Response response = net::JsonResponse(desired);
    response.headers.Set("ETag", ETag(generation, key_id));
    response.headers.Set("X-Fogkeep-Signature",
                         crypto::Base64Encode(FK_TRY(s_.signer->key.Sign(response.body))));
    response.headers.Set("X-Fogkeep-Signer",
                         crypto::Base64Encode(s_.signer->chain.front().ToDer()));
    return response;
  }

  Result<Response> Report(Request& request) {
    api::NodeReport report = FK_TRY(api::FromJsonText<api::NodeReport>(request.body));
    // The alerts first: a failure leaves the report unacknowledged, and the node sends both
    // again. They are kept on their own, not in the device's last report.
    FK_TRY(RecordAlerts(request.principal->id, report.alerts));
    report.alerts.clear();
    DeviceReport indexed{.agent_version = report.agent_version,
                         .health = report.health,
                         .report_json = api::ToJsonText(report),
                         .at = s_.clock()};
    for (const api::DeviceApp& app : report.apps) indexed.apps.push_back(app.name);
    FK_TRY(s_.store->RecordReport(request.principal->id, indexed));
    FK_TRY(s_.rollouts->OnReport(request.principal->id, report));
    return NoContent();
  }

  // Keeps a report's alerts. The node checked each when it took it; one that fails the same
  // check here (a node of another version, or one that misbehaves) is left out and logged,
  // so that it cannot hold back every report after it.
  Status RecordAlerts(const std::string& device, const std::vector<api::AlertRecord>& records) {
    if (records.empty()) return {};
    if (records.size() > api::kMaxReportAlerts) {
      return Fail(ErrorCode::kLimit,
                  "a report carries at most " + std::to_string(api::kMaxReportAlerts) + " alerts");
    }
    std::vector<FleetAlert> alerts;
    std::size_t refused = 0;
    std::string reason;
    for (const api::AlertRecord& record : records) {
      Result<api::Alert> alert = api::ParseAlertText(record.alert_json);
      Status source = api::CheckAlertSource(record.source);
      if (!alert || !source || record.seq < 1) {
        ++refused;
        if (reason.empty()) {
          reason = !alert    ? alert.error().message()
                   : !source ? source.error().message()
                             : "seq must be positive";
        }
        continue;
      }
      alerts.push_back(FleetAlert{.id = 0,
                                  .device_id = device,
                                  .seq = record.seq,
                                  .received_at = record.received_at,
                                  .source = record.source,
                                  .detector = alert->detector,
                                  .severity = alert->severity,
                                  .alert_json = std::move(alert->json)});
    }
    if (refused > 0) {
      log::Warn("device {}: {} alert(s) of its report left out: {}", device, refused, reason);
    }
    FK_TRY(s_.store->RecordAlerts(device, alerts, s_.alerts_per_device));
    return {};
  }

  Result<Response> ListAlerts(Request& request) {
    AlertFilter filter = FK_TRY(ParseAlertFilter(request));
    if (auto device = request.Query("device")) filter.device_id = std::string(*device);
    if (auto tag = request.Query("tag")) filter.tag = std::string(*tag);
    return AlertAnswer(filter);
  }

  Result<Response> DeviceAlerts(Request& request) {
    AlertFilter filter = FK_TRY(ParseAlertFilter(request));
    filter.device_id = FK_TRY(Find(request)).id;
    return AlertAnswer(filter);
  }

  Result<Response> CreateToken(Request& request) {
    const auto wanted = FK_TRY(api::FromJsonText<api::EnrollmentTokenRequest>(request.body));
    api::EnrollmentTokenInfo created =
        FK_TRY(s_.enrollment->CreateToken(wanted, request.principal->id));
    request.audit_note = "token " + created.id;
    return net::JsonResponse(created, 201);
  }

  Result<Response> ListTokens(Request&) {
    api::EnrollmentTokenList list;
    for (const EnrollmentToken& t : FK_TRY(s_.store->ListEnrollmentTokens())) {
      list.tokens.push_back(ToWire(t));
    }
    return net::JsonResponse(list);
  }

  Result<Response> DeleteToken(Request& request) {
    FK_TRY(s_.store->DeleteEnrollmentToken(std::string(request.Param("id"))));
    return NoContent();
  }

  Result<Response> ListDevices(Request& request) {
    DeviceFilter filter;
    if (auto tag = request.Query("tag")) filter.tag = std::string(*tag);
    if (auto app = request.Query("app")) filter.app = std::string(*app);
    if (auto status = request.Query("status")) {
      if (*status == "enrolled") {
        filter.status = DeviceStatus::kEnrolled;
      } else if (*status == "decommissioned") {
        filter.status = DeviceStatus::kDecommissioned;
      } else {
        return Fail(ErrorCode::kInvalidInput, "status must be enrolled or decommissioned");
      }
    }
    api::DeviceList list;
    for (const Device& d : FK_TRY(s_.store->ListDevices(filter))) list.devices.push_back(ToWire(d));
    return net::JsonResponse(list);
  }

  Result<Response> GetDevice(Request& request) {
    return net::JsonResponse(ToWire(FK_TRY(Find(request))));
  }

  Result<Response> UpdateDevice(Request& request) {
    const Device device = FK_TRY(Find(request));
    const DeviceChanges parsed = FK_TRY(ParseUpdate(request.body));
    if (parsed.name) FK_TRY(s_.store->SetDeviceName(device.id, *parsed.name));
    if (parsed.tags) {
      FK_TRY(s_.store->SetDeviceTags(device.id, FK_TRY(NormalizeTags(*parsed.tags))));
      s_.generations->Changed();
    }
    return net::JsonResponse(ToWire(FK_TRY(Find(request))));
  }

  Result<Response> Decommission(Request& request) {
    const Device device = FK_TRY(Find(request));
    FK_TRY(s_.enrollment->Decommission(device.id));
    s_.generations->Changed();
    return net::JsonResponse(ToWire(FK_TRY(Find(request))));
  }

  Result<Response> NodePackage(Request& request) {
    const std::string name(request.Param("name")), version(request.Param("version"));
    Response response;
    response.body = FK_TRY(s_.store->ReadPackage(name, version));
    response.headers.Set("Content-Type", "application/octet-stream");
    return response;
  }

  Result<Response> UploadPackage(Request& request) {
    api::CatalogPackage added = FK_TRY(s_.catalog->Upload(request.body, request.principal->id));
    request.audit_note = added.name + " " + added.version + " sha256 " + added.sha256;
    return net::JsonResponse(added, 201);
  }

  Result<Response> ListPackages(Request&) {
    return net::JsonResponse(api::CatalogList{FK_TRY(s_.catalog->List())});
  }

  Result<Response> DeletePackage(Request& request) {
    FK_TRY(s_.catalog->Delete(std::string(request.Param("name")),
                              std::string(request.Param("version"))));
    s_.generations->Changed();
    return NoContent();
  }

  Result<Response> PutPolicy(Request& request) {
    api::FleetPolicyDoc doc = FK_TRY(api::FromJsonText<api::FleetPolicyDoc>(request.body));
    doc.tag = std::string(request.Param("tag"));
    api::FleetPolicyDoc stored =
        FK_TRY(s_.catalog->SetPolicy(std::move(doc), request.principal->id));
    s_.generations->Changed();
    return net::JsonResponse(stored);
  }

  Result<Response> ListPolicies(Request&) {
    return net::JsonResponse(api::FleetPolicyList{FK_TRY(s_.catalog->Policies())});
  }

  Result<Response> DeletePolicy(Request& request) {
    FK_TRY(s_.store->DeletePolicy(std::string(request.Param("tag"))));
    s_.generations->Changed();
    return NoContent();
  }

  Result<Response> CreateDeployment(Request& request) {
    const auto wanted = FK_TRY(api::FromJsonText<api::DeploymentRequest>(request.body));
    api::DeploymentInfo created = FK_TRY(s_.rollouts->Create(wanted, request.principal->id));
    request.audit_note = created.id + ": " + created.app + " " + created.version;
    s_.generations->Changed();
    return net::JsonResponse(created, 201);
  }

  Result<Response> ListDeployments(Request&) {
    return net::JsonResponse(api::DeploymentList{FK_TRY(s_.rollouts->List())});
  }

  Result<Response> GetDeployment(Request& request) {
    const std::string id(request.Param("id"));
    std::optional<api::DeploymentInfo> found = FK_TRY(s_.rollouts->Get(id));
    if (!found) return Fail(ErrorCode::kNotFound, "no deployment " + id);
    return net::JsonResponse(*found);
  }

  Result<Response> ActOnDeployment(Request& request) {
    api::DeploymentInfo after =
        FK_TRY(s_.rollouts->Act(std::string(request.Param("id")), request.Param("action")));
    s_.generations->Changed();
    return net::JsonResponse(after);
  }

 private:
  static Response NoContent() {
    Response done;
    done.status = 204;
    return done;
  }

  // Which fields a PATCH names: an absent field keeps its value.
  struct DeviceChanges {
    std::optional<std::string> name;
    std::optional<std::vector<std::string>> tags;
  };
  static Result<DeviceChanges> ParseUpdate(std::string_view body) {
    const boost::json::value json = FK_TRY(api::ParseJson(body));
    api::DeviceUpdate update;
    FK_TRY(api::FromJson(json, &update));
    DeviceChanges out;
    const boost::json::object& object = json.as_object();  // FromJson checked it is one
    if (object.contains("name")) {
      if (update.name.empty() || update.name.size() > 128) {
        return Fail(ErrorCode::kInvalidInput, "name must be 1 to 128 characters");
      }
      for (char c : update.name) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          return Fail(ErrorCode::kInvalidInput, "name must not hold control characters");
        }
      }
      out.name = update.name;
    }
    if (object.contains("tags")) out.tags = update.tags;
    return out;
  }

  static Result<AlertFilter> ParseAlertFilter(const Request& request) {
    AlertFilter filter{.limit = kDefaultAlertListLimit};
    if (auto since = request.Query("since")) {
      filter.since = FK_TRY(
          api::ParseAlertQueryNumber("since", *since, 0, std::numeric_limits<std::int64_t>::max()));
    }
    if (auto limit = request.Query("limit")) {
      filter.limit = FK_TRY(api::ParseAlertQueryNumber("limit", *limit, 1, kMaxAlertListLimit));
    }
    if (auto detector = request.Query("detector")) {
      FK_TRY(api::CheckDetector(*detector));
      filter.detector = std::string(*detector);
    }
    if (auto severity = request.Query("min_severity")) {
      filter.min_severity = FK_TRY(api::ParseAlertQueryNumber("min_severity", *severity, 1, 3));
    }
    return filter;
  }

  Result<Response> AlertAnswer(const AlertFilter& filter) {
    api::AlertList list;
    for (FleetAlert& a : FK_TRY(s_.store->ListAlerts(filter))) {
      list.alerts.push_back(api::AlertRecord{.id = a.id,
                                             .device = std::move(a.device_id),
                                             .seq = a.seq,
                                             .received_at = a.received_at,
                                             .source = std::move(a.source),
                                             .alert_json = std::move(a.alert_json)});
    }
    list.next = list.alerts.empty() ? filter.since.value_or(0) : list.alerts.back().id;
    return net::JsonResponse(list);
  }

  Result<Device> Find(const Request& request) {
    const std::string id(request.Param("id"));
    std::optional<Device> device = FK_TRY(s_.store->FindDevice(id));
    if (!device) return Fail(ErrorCode::kNotFound, "no device " + id);
    return std::move(*device);
  }

  const DirectorServices s_;
};

}  // namespace

Status RegisterDirectorRoutes(net::Router& router, const DirectorServices& services) {
  auto api = std::make_shared<DirectorApi>(services);
  auto bind = [api](Result<Response> (DirectorApi::*method)(Request&)) {
    return [api, method](Request& request) { return (api.get()->*method)(request); };
  };
  auto with = [](std::string_view permission, std::string_view action = {},
                 std::uint64_t max_body = 64 << 10) {
    return RouteOptions{.permission = std::string(permission),
                        .max_body_bytes = max_body,
                        .audit_action = std::string(action)};
  };
  const RouteOptions open{.is_public = true, .execution = net::Execution::kInline};
  const RouteOptions enroll{.is_public = true,
                            .max_body_bytes = api::est::kMaxEnrollRequestBodyBytes,
                            .audit_action = "node.enroll"};
  FK_TRY(router.Add(Method::kGet, "/healthz", open, bind(&DirectorApi::Health)));
  FK_TRY(router.Add(Method::kGet, api::est::kCaCertsPath, open, bind(&DirectorApi::CaCerts)));
  FK_TRY(router.Add(Method::kPost, api::est::kSimpleEnrollPath, enroll,
                    bind(&DirectorApi::SimpleEnroll)));
  FK_TRY(
      router.Add(Method::kPost, api::est::kSimpleReenrollPath,
                 with(kPermissionNodeSelf, "node.reenroll", api::est::kMaxEnrollRequestBodyBytes),
                 bind(&DirectorApi::SimpleReenroll)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/node/desired", with(kPermissionNodeSelf),
                    bind(&DirectorApi::Desired)));
  // Reports are routine traffic: not an audit record each (the device row keeps the last).
  RouteOptions report = with(kPermissionNodeSelf, "node.report", kMaxReportBytes);
  report.audit_changes = false;
  FK_TRY(router.Add(Method::kPost, "/api/v1/node/report", report, bind(&DirectorApi::Report)));

  const auto enroll_permission = auth::kPermissionEnroll;
  FK_TRY(router.Add(Method::kPost, "/api/v1/enrollment-tokens",
                    with(enroll_permission, "enrollment.token.create"),
                    bind(&DirectorApi::CreateToken)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/enrollment-tokens", with(enroll_permission),
                    bind(&DirectorApi::ListTokens)));
  FK_TRY(router.Add(Method::kDelete, "/api/v1/enrollment-tokens/{id}",
                    with(enroll_permission, "enrollment.token.delete"),
                    bind(&DirectorApi::DeleteToken)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/devices", with(auth::kPermissionDevicesRead),
                    bind(&DirectorApi::ListDevices)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/devices/{id}", with(auth::kPermissionDevicesRead),
                    bind(&DirectorApi::GetDevice)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/devices/{id}/alerts", with(auth::kPermissionAlertsRead),
                    bind(&DirectorApi::DeviceAlerts)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/alerts", with(auth::kPermissionAlertsRead),
                    bind(&DirectorApi::ListAlerts)));
  FK_TRY(router.Add(Method::kPatch, "/api/v1/devices/{id}",
                    with(auth::kPermissionDevicesWrite, "device.update"),
                    bind(&DirectorApi::UpdateDevice)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/devices/{id}/decommission",
                    with(auth::kPermissionDevicesWrite, "device.decommission"),
                    bind(&DirectorApi::Decommission)));

  FK_TRY(router.Add(Method::kGet, "/api/v1/node/packages/{name}/{version}",
                    with(kPermissionNodeSelf), bind(&DirectorApi::NodePackage)));
  FK_TRY(
      router.Add(Method::kPost, "/api/v1/catalog",
                 with(auth::kPermissionCatalogWrite, "catalog.upload", services.max_package_bytes),
                 bind(&DirectorApi::UploadPackage)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/catalog", with(auth::kPermissionCatalogRead),
                    bind(&DirectorApi::ListPackages)));
  FK_TRY(router.Add(Method::kDelete, "/api/v1/catalog/{name}/{version}",
                    with(auth::kPermissionCatalogWrite, "catalog.delete"),
                    bind(&DirectorApi::DeletePackage)));
  FK_TRY(router.Add(Method::kPut, "/api/v1/policies/{tag}",
                    with(auth::kPermissionPoliciesWrite, "policy.set", 1 << 20),
                    bind(&DirectorApi::PutPolicy)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/policies", with(auth::kPermissionPoliciesRead),
                    bind(&DirectorApi::ListPolicies)));
  FK_TRY(router.Add(Method::kDelete, "/api/v1/policies/{tag}",
                    with(auth::kPermissionPoliciesWrite, "policy.delete"),
                    bind(&DirectorApi::DeletePolicy)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/deployments",
                    with(auth::kPermissionDeploymentsWrite, "deployment.create", 1 << 20),
                    bind(&DirectorApi::CreateDeployment)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/deployments", with(auth::kPermissionDeploymentsRead),
                    bind(&DirectorApi::ListDeployments)));
  FK_TRY(router.Add(Method::kGet, "/api/v1/deployments/{id}",
                    with(auth::kPermissionDeploymentsRead), bind(&DirectorApi::GetDeployment)));
  FK_TRY(router.Add(Method::kPost, "/api/v1/deployments/{id}/{action}",
                    with(auth::kPermissionDeploymentsWrite, "deployment.{action}"),
                    bind(&DirectorApi::ActOnDeployment)));

  FK_TRY(access::RegisterAuditApi(router, services.audit));
  FK_TRY(access::RegisterAuthApi(router, services.login, services.auth_api));
  if (services.oauth) FK_TRY(RegisterOAuthRoutes(router, services.oauth, services.login));
  return {};
}

}  // namespace fogkeep::director
