#include "access/audit_api.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <utility>

#include "audit/query.h"
#include "auth/roles.h"

namespace fogkeep::access {
namespace {

using net::AuditEvent;
using net::Method;
using net::Request;
using net::Response;

constexpr std::size_t kRawPieceBytes = 64 * 1024;

// The route's audit_action with each "{name}" replaced by that path parameter.
std::string ActionOf(const net::Route& route, const Request& request) {
  const std::string& pattern = route.options.audit_action;
  if (pattern.empty()) return std::string(net::MethodName(request.method)) + " " + route.pattern;
  std::string out;
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    const std::size_t open = pattern.find('{', pos);
    const std::size_t close =
        open == std::string::npos ? std::string::npos : pattern.find('}', open);
    if (close == std::string::npos) {
      out.append(pattern, pos, std::string::npos);
      break;
    }
    out.append(pattern, pos, open - pos);
    out.append(request.Param(std::string_view(pattern).substr(open + 1, close - open - 1)));
    pos = close + 1;
  }
  return out;
}

std::string TargetOf(const AuditEvent& event) {
  const Request& request = event.request;
  if (std::string_view id = request.Param("id"); !id.empty()) return std::string(id);
  // (The install's ?id=; anyone may call a public route, so theirs is not taken.)
  if (auto id = request.Query("id"); id && !id->empty() && !event.route.options.is_public) {
    return std::string(*id);
  }
  if (event.response != nullptr) {
    if (auto location = event.response->headers.Get("Location")) {
      const std::size_t slash = location->rfind('/');
      if (slash != std::string_view::npos && slash + 1 < location->size()) {
        return std::string(location->substr(slash + 1));
      }
    }
  }
  return request.path;
}

class LogAuditSink : public net::AuditSink {
 public:
  LogAuditSink(std::shared_ptr<audit::AuditLog> log, AuditSinkOptions options)
      : log_(std::move(log)),
        options_(options),
        tokens_(static_cast<double>(options.refusal_burst)),
        refilled_(std::chrono::steady_clock::now()) {}

  Status Ready() override { return log_->Ready(); }

  Status Record(const AuditEvent& event) override {
    const Request& request = event.request;
    audit::Event record;
    record.actor = request.principal ? request.principal->id : "-";
    if (request.principal) {
      for (const std::string& role : request.principal->roles) {
        record.role += (record.role.empty() ? "" : ",") + role;
      }
    }
    record.source = SourceOf(request.peer);
    record.result = std::to_string(event.status);
    record.detail = std::string(event.error);
    if (!request.audit_note.empty()) {
      record.detail += (record.detail.empty() ? "" : "; ") + request.audit_note;
    }
    // Refusals come as fast as a client sends them: those of the server's checks, those a
    // handler answers (a wrong password is 401, a throttled login 429), and any failure of a
    // public route, which anyone may call without logging in.
    const bool refusal = event.kind != AuditEvent::Kind::kStateChange || event.status == 401 ||
                         event.status == 403 || event.status == 429 ||
                         (event.route.options.is_public && event.status >= 400);
    if (refusal) {
      std::uint64_t left_out = 0;
      if (!AdmitRefusal(&left_out)) return {};
      if (left_out > 0) {
        record.detail +=
            " (" + std::to_string(left_out) + " earlier refusal(s) not recorded: rate limit)";
      }
    }
    if (event.kind == AuditEvent::Kind::kStateChange) {
      record.action = ActionOf(event.route, request);
      record.target = TargetOf(event);
    } else {
      record.action = event.kind == AuditEvent::Kind::kForbidden ? "auth.denied" : "auth.failed";
      record.target = std::string(net::MethodName(request.method)) + " " + request.path;
    }
    if (Result<audit::Record> appended = log_->Append(record); !appended) {
      return Fail(std::move(appended).error());
    }
    return {};
  }

 private:
  // Token bucket over refusals. On admission, *left_out is the number dropped since the last
  // admitted one.
  bool AdmitRefusal(std::uint64_t* left_out) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min(static_cast<double>(options_.refusal_burst),
                       tokens_ + elapsed * options_.refusals_per_second);
    if (tokens_ < 1) {
      ++dropped_;
      return false;
    }
    tokens_ -= 1;
    *left_out = std::exchange(dropped_, 0);
    return true;
  }

  const std::shared_ptr<audit::AuditLog> log_;
  const AuditSinkOptions options_;

  std::mutex mu_;
  // Guarded by mu_.
  double tokens_;
  std::chrono::steady_clock::time_point refilled_;
  std::uint64_t dropped_ = 0;
};

class AuditApi {
 public:
  explicit AuditApi(std::shared_ptr<audit::AuditLog> log) : log_(std::move(log)) {}

  Result<Response> Get(Request& request) {
    const std::string_view format = request.Query("format").value_or("json");
    if (format == "raw") return Raw();
    if (format != "json") {
      return Fail(ErrorCode::kInvalidInput, "format must be json or raw");
    }
    const audit::QueryFilter filter = FK_TRY(audit::QueryFilter::FromParams(request.query));
    const audit::QueryResult result = FK_TRY(audit::QueryLog(*log_, filter));
    std::string body = "{\"matched\":" + std::to_string(result.matched) + ",\"records\":[";
    for (std::size_t i = 0; i < result.lines.size(); ++i) {
      if (i > 0) body.push_back(',');
      body += result.lines[i];  // each line is one JSON object
    }
    body += "]}";
    return Response::Json(std::move(body));
  }

 private:
  // The stored bytes up to the snapshot, streamed: the log may be far larger than a response
  // worth buffering, and the bytes below a snapshot never change.
  Result<Response> Raw() {
    const audit::Snapshot snapshot = log_->snapshot();
    auto log = log_;
    Response response = Response::Stream(
        "application/x-ndjson", [log, bytes = snapshot.bytes](net::BodySink& sink) -> Status {
          std::uint64_t offset = 0;
          while (offset < bytes && !sink.Cancelled()) {
            const auto want =
                static_cast<std::size_t>(std::min<std::uint64_t>(kRawPieceBytes, bytes - offset));
            const std::string piece = FK_TRY(log->Read(offset, want));
            if (piece.empty())
              return Fail(ErrorCode::kInternal, "audit log shorter than its snapshot");
            FK_TRY(sink.Write(piece));
            offset += piece.size();
          }
          return {};
        });
    if (snapshot.head) {
      response.headers.Set(audit::kHeadHeader, audit::FormatAnchor(*snapshot.head));
    }
    return response;
  }

  const std::shared_ptr<audit::AuditLog> log_;
};

}  // namespace

std::string SourceOf(const net::Peer& peer) {
  if (peer.transport == net::Peer::Transport::kUnix) {
    return peer.credentials ? "unix:uid=" + std::to_string(peer.credentials->uid) : "unix";
  }
  return peer.address;
}

std::shared_ptr<net::AuditSink> MakeAuditSink(std::shared_ptr<audit::AuditLog> log,
                                              AuditSinkOptions options) {
  return std::make_shared<LogAuditSink>(std::move(log), options);
}

Status RegisterAuditApi(net::Router& router, std::shared_ptr<audit::AuditLog> log) {
  auto api = std::make_shared<AuditApi>(std::move(log));
  return router.Add(Method::kGet, "/api/v1/audit",
                    net::RouteOptions{.permission = std::string(auth::kPermissionAuditRead)},
                    [api](Request& request) { return api->Get(request); });
}

}  // namespace fogkeep::access
