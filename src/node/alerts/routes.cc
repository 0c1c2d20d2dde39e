#include "node/alerts/routes.h"

#include <limits>
#include <string>
#include <utility>

#include "api/node.h"
#include "auth/roles.h"

namespace fogkeep::node::alerts {
namespace {

using net::Method;
using net::Request;
using net::Response;

constexpr std::int64_t kMaxSeq = std::numeric_limits<std::int64_t>::max();

// 201 with what was stored, or 429 with Retry-After when the source is over its rate.
Result<Response> Answer(Request& request, std::string_view source, const PostOutcome& outcome) {
  if (outcome.retry_after_seconds) {
    const std::string seconds = std::to_string(*outcome.retry_after_seconds);
    request.audit_note = "alerts of " + std::string(source) + " over the rate limit";
    Response response = net::ErrorResponse(
        Error(ErrorCode::kLimit, "alerts from " + std::string(source) +
                                     " are over their rate limit; retry in " + seconds + " s"));
    response.status = 429;
    response.headers.Set("Retry-After", seconds);
    return response;
  }
  return net::JsonResponse(outcome.accepted, 201);
}

Result<AlertQuery> ParseQuery(const Request& request) {
  AlertQuery query;
  query.limit = kDefaultListLimit;
  if (auto since = request.Query("since")) {
    query.since = FK_TRY(api::ParseAlertQueryNumber("since", *since, 0, kMaxSeq));
  }
  if (auto limit = request.Query("limit")) {
    query.limit = static_cast<std::size_t>(FK_TRY(
        api::ParseAlertQueryNumber("limit", *limit, 1, static_cast<std::int64_t>(kMaxListLimit))));
  }
  if (auto detector = request.Query("detector")) {
    FK_TRY(api::CheckDetector(*detector));
    query.detector = std::string(*detector);
  }
  if (auto app = request.Query("app")) {
    FK_TRY(api::CheckAlertSource(*app));
    query.source = std::string(*app);
  }
  if (auto severity = request.Query("min_severity")) {
    query.min_severity =
        static_cast<int>(FK_TRY(api::ParseAlertQueryNumber("min_severity", *severity, 1, 3)));
  }
  return query;
}

api::AlertRecord ToWire(const StoredAlert& a) {
  return api::AlertRecord{.id = 0,
                          .device = "",
                          .seq = a.seq,
                          .received_at = a.received_at,
                          .source = a.source,
                          .alert_json = a.alert_json};
}

}  // namespace

Status RegisterAlertRoutes(net::Router& router, std::shared_ptr<AlertIntake> intake) {
  if (!intake) return Fail(ErrorCode::kInvalidInput, "alert routes need an alert intake");
  // A host sensor posts alerts as routine machine traffic, many a minute: like a node's report
  // to its director, not one audit record each. Refusals are still recorded.
  net::RouteOptions post{.permission = std::string(auth::kPermissionAlertsWrite),
                         .max_body_bytes = api::kMaxAlertBodyBytes,
                         .audit_action = "alerts.post",
                         .audit_changes = false};
  FK_TRY(router.Add(Method::kPost, "/api/v1/alerts", std::move(post),
                    [intake](Request& request) -> Result<Response> {
                      const PostOutcome outcome =
                          FK_TRY(intake->Post(api::kHostAlertSource, request.body));
                      return Answer(request, api::kHostAlertSource, outcome);
                    }));
  net::RouteOptions get{.permission = std::string(auth::kPermissionAlertsRead),
                        .max_body_bytes = 0};
  FK_TRY(router.Add(Method::kGet, "/api/v1/alerts", std::move(get),
                    [intake](Request& request) -> Result<Response> {
                      const AlertQuery query = FK_TRY(ParseQuery(request));
                      api::AlertList list;
                      for (const StoredAlert& a : FK_TRY(intake->store().List(query))) {
                        list.alerts.push_back(ToWire(a));
                      }
                      list.next =
                          list.alerts.empty() ? query.since.value_or(0) : list.alerts.back().seq;
                      list.dropped = FK_TRY(intake->Drops());
                      return net::JsonResponse(list);
                    }));
  return {};
}

Status RegisterAppAlertRoute(net::Router& router, std::shared_ptr<AlertIntake> intake,
                             std::string_view permission) {
  if (!intake) return Fail(ErrorCode::kInvalidInput, "the app alert route needs an alert intake");
  net::RouteOptions post{.permission = std::string(permission),
                         .max_body_bytes = api::kMaxAlertBodyBytes};
  FK_TRY(router.Add(
      Method::kPost, "/v1/alerts", std::move(post), [intake](Request& request) -> Result<Response> {
        // The listener's authenticator named the app; nothing the app sends can change it.
        if (!request.principal || request.principal->id.empty()) {
          return Fail(ErrorCode::kUnauthenticated, "this socket belongs to no app");
        }
        const std::string& app = request.principal->id;
        if (app == api::kHostAlertSource) {
          return Fail(ErrorCode::kForbidden, "an app called \"" +
                                                 std::string(api::kHostAlertSource) +
                                                 "\" cannot post alerts: the name stands for "
                                                 "the host's own sensor");
        }
        const PostOutcome outcome = FK_TRY(intake->Post(app, request.body));
        return Answer(request, app, outcome);
      }));
  return {};
}

}  // namespace fogkeep::node::alerts
