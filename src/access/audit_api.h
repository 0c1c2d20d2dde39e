// The audit trail at an API edge (fogkeepd's and the director's): the net::AuditSink through
// which the HTTP server records every state-changing call and every refused authentication into
// the server's audit::AuditLog, and GET /api/v1/audit, which reads it back.
//
// GET /api/v1/audit (permission audit.read):
//   ?since=&until=&actor=&action=&result=&limit=   {"matched":N,"records":[...]}: the last
//       `limit` (default 100, at most 10000) matching records, oldest first, each with the
//       fields of its log line (audit/query.h for the filters)
//   ?format=raw   the log's complete lines exactly as stored (application/x-ndjson), for
//       verification elsewhere; header X-Fogkeep-Audit-Head: SEQ:HASH of the last line sent
#pragma once

#include <cstddef>
#include <memory>

#include "audit/log.h"
#include "core/error.h"
#include "net/router.h"

namespace fogkeep::access {

struct AuditSinkOptions {
  // Refused requests (bad or missing token, missing permission, calls answered 401, 403 or
  // 429 such as failed or throttled logins, and failures of public routes) are recorded at most
  // `refusal_burst` at once and `refusals_per_second` after that, so a client hammering the server
  // cannot flood the trail or keep the disk flushing; the number left out is added to the next
  // refusal recorded. Other state-changing calls are always recorded.
  std::size_t refusal_burst = 50;
  double refusals_per_second = 5;
};

// Where a request came from, as the audit trail and the login throttle name it: the peer's
// IP address, or "unix:uid=N" on the Unix socket.
std::string SourceOf(const net::Peer& peer);

// Records into `log`: actor (the principal's id, "-" when unauthenticated), role (its roles),
// source (peer IP, or "unix:uid=N"), action (the route's audit_action, else "METHOD pattern";
// "auth.failed" and "auth.denied" for refusals), target (the {id} path parameter, the install's
// new app id, else the path; "METHOD path" for refusals), result (the HTTP status) and detail
// (the error message, if any, then the handler's Request::audit_note).
std::shared_ptr<net::AuditSink> MakeAuditSink(std::shared_ptr<audit::AuditLog> log,
                                              AuditSinkOptions options = {});

// Registers GET /api/v1/audit over `log`.
Status RegisterAuditApi(net::Router& router, std::shared_ptr<audit::AuditLog> log);

}  // namespace fogkeep::access
