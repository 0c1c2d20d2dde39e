#include "node/sss/routes.h"

#include <charconv>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "api/node.h"
#include "api/sss.h"
#include "auth/roles.h"
#include "crypto/hash.h"

namespace fogkeep::node::sss {
namespace {

using net::JsonResponse;
using net::Method;
using net::Request;
using net::Response;

// JSON bodies carry at most one record (quotas().max_record_bytes) in base64, plus a little.
std::uint64_t JsonBodyLimit(const Quotas& quotas) { return quotas.max_record_bytes / 3 * 4 + 4096; }
constexpr std::uint64_t kPemBodyLimit = 64 * 1024;
constexpr std::uint64_t kNoBody = 0;

Response NoContent() {
  Response response;
  response.status = 204;
  return response;
}

template <typename T>
Result<T> ParseBody(const Request& request) {
  return api::FromJsonText<T>(request.body);
}

// A base64 field of a request: kInvalidInput naming it when it does not decode.
Result<std::string> Decode(std::string_view text, std::string_view field) {
  auto bytes = crypto::Base64Decode(text);
  if (!bytes) {
    return Fail(ErrorCode::kInvalidInput, std::string(field) + " must be standard base64");
  }
  return bytes;
}

api::SssRecordList ToWire(RecordKind kind, const std::vector<RecordInfo>& records) {
  api::SssRecordList list{.kind = std::string(RecordKindName(kind)), .records = {}};
  for (const RecordInfo& r : records) list.records.push_back({r.name, r.version, r.size});
  return list;
}

api::SssCertificate ToWire(const CertificateInfo& c) {
  return api::SssCertificate{.name = c.name,
                             .pem = c.pem,
                             .subject = c.subject,
                             .issuer = c.issuer,
                             .serial = c.serial_hex,
                             .fingerprint_sha256 = c.fingerprint,
                             .not_before = api::UnixSeconds(c.not_before),
                             .not_after = api::UnixSeconds(c.not_after),
                             .valid_now = c.valid_now};
}

api::SssKey ToWire(const KeyInfo& k) {
  return api::SssKey{.name = k.name,
                     .algorithm = std::string(KeyAlgorithmName(k.algorithm)),
                     .public_key_pem = k.public_key_pem};
}

// ---- the operations, each on one app's records ------------------------------------------

using Operation = Result<Response> (*)(StorageServices&, const std::string& app, Request&);

Result<Response> ListObjects(StorageServices& s, const std::string& app, Request&) {
  return JsonResponse(ToWire(RecordKind::kObject, FK_TRY(s.store->List(app, RecordKind::kObject))));
}

Result<Response> PutObject(StorageServices& s, const std::string& app, Request& request) {
  RecordInfo stored =
      FK_TRY(s.store->Put(app, RecordKind::kObject, request.Param("name"), request.body));
  return JsonResponse(api::SssRecord{stored.name, stored.version, stored.size});
}

Result<Response> GetObject(StorageServices& s, const std::string& app, Request& request) {
  Response response;
  response.body = FK_TRY(s.store->Get(app, RecordKind::kObject, request.Param("name")));
  response.headers.Set("Content-Type", "application/octet-stream");
  return response;
}

Result<Response> DeleteObject(StorageServices& s, const std::string& app, Request& request) {
  FK_TRY(s.store->Delete(app, RecordKind::kObject, request.Param("name")));
  return NoContent();
}

Result<Response> ListCertificates(StorageServices& s, const std::string& app, Request&) {
  return JsonResponse(ToWire(RecordKind::kCertificate, FK_TRY(s.certificates.List(app))));
}

Result<Response> PutCertificate(StorageServices& s, const std::string& app, Request& request) {
  return JsonResponse(ToWire(FK_TRY(s.certificates.Put(app, request.Param("name"), request.body))));
}

Result<Response> GetCertificate(StorageServices& s, const std::string& app, Request& request) {
  return JsonResponse(ToWire(FK_TRY(s.certificates.Get(app, request.Param("name")))));
}

Result<Response> DeleteCertificate(StorageServices& s, const std::string& app, Request& request) {
  FK_TRY(s.certificates.Delete(app, request.Param("name")));
  return NoContent();
}

Result<Response> ListKeys(StorageServices& s, const std::string& app, Request&) {
  return JsonResponse(ToWire(RecordKind::kKey, FK_TRY(s.keys.List(app))));
}

// Generates or imports: exactly one of the two fields says which.
Result<Response> PutKey(StorageServices& s, const std::string& app, Request& request) {
  // The body, and the field parsed from it, may hold a private key: wiped on every path out.
  const crypto::WipeOnExit wipe(request.body);
  auto body = FK_TRY(ParseBody<api::SssKeyRequest>(request));
  const crypto::WipeOnExit wipe_pem(body.private_key_pem);
  const std::string_view name = request.Param("name");
  if (body.algorithm.empty() == body.private_key_pem.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "give either \"algorithm\" (to generate a key) or \"private_key_pem\" (to "
                "import one), not both or neither");
  }
  if (!body.algorithm.empty()) {
    const KeyAlgorithm algorithm = FK_TRY(ParseKeyAlgorithm(body.algorithm));
    return JsonResponse(ToWire(FK_TRY(s.keys.Generate(app, name, algorithm))), 201);
  }
  return JsonResponse(ToWire(FK_TRY(s.keys.Import(app, name, body.private_key_pem))), 201);
}

Result<Response> GetKey(StorageServices& s, const std::string& app, Request& request) {
  return JsonResponse(ToWire(FK_TRY(s.keys.Describe(app, request.Param("name")))));
}

Result<Response> DeleteKey(StorageServices& s, const std::string& app, Request& request) {
  FK_TRY(s.keys.Delete(app, request.Param("name")));
  return NoContent();
}

Result<Response> Sign(StorageServices& s, const std::string& app, Request& request) {
  auto body = FK_TRY(ParseBody<api::SssSignRequest>(request));
  const std::string data = FK_TRY(Decode(body.data, "data"));
  const std::string signature = FK_TRY(s.keys.Sign(app, request.Param("name"), data));
  return JsonResponse(api::SssSignature{crypto::Base64Encode(signature)});
}

Result<Response> Verify(StorageServices& s, const std::string& app, Request& request) {
  auto body = FK_TRY(ParseBody<api::SssVerifyRequest>(request));
  const std::string data = FK_TRY(Decode(body.data, "data"));
  const std::string signature = FK_TRY(Decode(body.signature, "signature"));
  return JsonResponse(
      api::SssVerification{FK_TRY(s.keys.Verify(app, request.Param("name"), data, signature))});
}

Result<Response> Encrypt(StorageServices& s, const std::string& app, Request& request) {
  // The body, its parsed field and the decoded bytes all hold the plaintext.
  const crypto::WipeOnExit wipe(request.body);
  auto body = FK_TRY(ParseBody<api::SssEncryptRequest>(request));
  const crypto::WipeOnExit wipe_field(body.plaintext);
  std::string plaintext = FK_TRY(Decode(body.plaintext, "plaintext"));
  const crypto::WipeOnExit wipe_plaintext(plaintext);
  const std::string aad = FK_TRY(Decode(body.aad, "aad"));
  const std::string sealed = FK_TRY(s.keys.Encrypt(app, request.Param("name"), plaintext, aad));
  return JsonResponse(api::SssCiphertext{crypto::Base64Encode(sealed)});
}

Result<Response> Decrypt(StorageServices& s, const std::string& app, Request& request) {
  auto body = FK_TRY(ParseBody<api::SssDecryptRequest>(request));
  const std::string sealed = FK_TRY(Decode(body.ciphertext, "ciphertext"));
  const std::string aad = FK_TRY(Decode(body.aad, "aad"));
  std::string plaintext = FK_TRY(s.keys.Decrypt(app, request.Param("name"), sealed, aad));
  const crypto::WipeOnExit wipe_plaintext(plaintext);
  return JsonResponse(api::SssPlaintext{crypto::Base64Encode(plaintext)});
}

// ---- the route table ----------------------------------------------------------------------

enum class Audience {
  kEveryone,  // the app on its socket, and administrators in the node API
  kAppOnly,   // uses a key: only the app that owns it
};

enum class BodyLimit { kNone, kRecord, kPem, kJson };

struct OperationRoute {
  Method method;
  std::string_view path;  // below the prefix
  Operation operation;
  BodyLimit body;
  Audience audience;
};

constexpr OperationRoute kRoutes[] = {
    {Method::kGet, "/objects", ListObjects, BodyLimit::kNone, Audience::kEveryone},
    {Method::kPut, "/objects/{name}", PutObject, BodyLimit::kRecord, Audience::kEveryone},
    {Method::kGet, "/objects/{name}", GetObject, BodyLimit::kNone, Audience::kEveryone},
    {Method::kDelete, "/objects/{name}", DeleteObject, BodyLimit::kNone, Audience::kEveryone},
    {Method::kGet, "/certificates", ListCertificates, BodyLimit::kNone, Audience::kEveryone},
    {Method::kPut, "/certificates/{name}", PutCertificate, BodyLimit::kPem, Audience::kEveryone},
    {Method::kGet, "/certificates/{name}", GetCertificate, BodyLimit::kNone, Audience::kEveryone},
    {Method::kDelete, "/certificates/{name}", DeleteCertificate, BodyLimit::kNone,
     Audience::kEveryone},
    {Method::kGet, "/keys", ListKeys, BodyLimit::kNone, Audience::kEveryone},
    {Method::kPut, "/keys/{name}", PutKey, BodyLimit::kPem, Audience::kEveryone},
    {Method::kGet, "/keys/{name}", GetKey, BodyLimit::kNone, Audience::kEveryone},
    {Method::kDelete, "/keys/{name}", DeleteKey, BodyLimit::kNone, Audience::kEveryone},
    {Method::kPost, "/keys/{name}/sign", Sign, BodyLimit::kJson, Audience::kAppOnly},
    {Method::kPost, "/keys/{name}/verify", Verify, BodyLimit::kJson, Audience::kAppOnly},
    {Method::kPost, "/keys/{name}/encrypt", Encrypt, BodyLimit::kJson, Audience::kAppOnly},
    {Method::kPost, "/keys/{name}/decrypt", Decrypt, BodyLimit::kJson, Audience::kAppOnly},
};

// "sss.objects.list", "sss.keys.get", "sss.certificates.put", ...
std::string AuditAction(const OperationRoute& route) {
  const std::string_view path = route.path.substr(1);
  const std::string_view kind = path.substr(0, path.find('/'));
  std::string_view verb = "get";
  if (route.method == Method::kPut) verb = "put";
  if (route.method == Method::kDelete) verb = "delete";
  if (route.method == Method::kGet && kind.size() == path.size()) verb = "list";
  return "sss." + std::string(kind) + "." + std::string(verb);
}

std::uint64_t MaxBody(BodyLimit limit, const Quotas& quotas) {
  switch (limit) {
    case BodyLimit::kNone:
      return kNoBody;
    case BodyLimit::kRecord:
      return quotas.max_record_bytes;
    case BodyLimit::kPem:
      return kPemBodyLimit;
    case BodyLimit::kJson:
      return JsonBodyLimit(quotas);
  }
  return kNoBody;
}

// The app a request is for, admitted by the gate (held until the operation returns).
struct Admitted {
  std::string app;
  AppGate::Pass pass;
};
using Admit = std::function<Result<Admitted>(StorageServices&, const Request&)>;

// Registers every route of `audience` under `prefix`, each running `operation` for the app
// `admit` names and admits.
Status Register(net::Router& router, const std::shared_ptr<StorageServices>& services,
                std::string_view prefix, bool admin, const Admit& admit) {
  if (!services) return Fail(ErrorCode::kInvalidInput, "no storage service to serve");
  for (const OperationRoute& route : kRoutes) {
    if (admin && route.audience == Audience::kAppOnly) continue;
    net::RouteOptions options;
    options.max_body_bytes = MaxBody(route.body, services->store->quotas());
    if (admin) {
      options.permission =
          std::string(net::IsStateChanging(route.method) ? auth::kPermissionStorageWrite
                                                         : auth::kPermissionStorageRead);
      // An operator reading an app's secrets is on the record as much as one changing them.
      options.audit_reads = true;
      options.audit_action = AuditAction(route);
    } else {
      options.permission = std::string(kAppSocketPermission);
    }
    const Operation operation = route.operation;
    FK_TRY(router.Add(route.method, std::string(prefix) + std::string(route.path),
                      std::move(options),
                      [services, operation, admit](Request& request) -> Result<Response> {
                        // Which record, for the audit trail (an app's own calls are not
                        // audited; the note goes nowhere then).
                        if (!request.Param("name").empty()) {
                          request.audit_note = "name=" + std::string(request.Param("name"));
                        }
                        const Admitted admitted = FK_TRY(admit(*services, request));
                        return operation(*services, admitted.app, request);
                      }));
  }
  return {};
}

// "<app>@<epoch>" → (app, epoch); nullopt for anything else.
std::optional<std::pair<std::string, std::uint64_t>> ParseSocketIdentity(std::string_view text) {
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  std::uint64_t epoch = 0;
  const std::string_view digits = text.substr(at + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), epoch);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return std::pair{std::string(text.substr(0, at)), epoch};
}

}  // namespace

std::string SocketIdentity(std::string_view app, std::uint64_t epoch) {
  return std::string(app) + "@" + std::to_string(epoch);
}

Result<net::Principal> ListenerAuthenticator::Authenticate(const net::Request& request) {
  auto identity = ParseSocketIdentity(request.peer.listener_identity);
  if (request.peer.transport != net::Peer::Transport::kUnix || !identity) {
    return Fail(ErrorCode::kUnauthenticated, "this socket belongs to no app");
  }
  return net::Principal{.id = identity->first, .mechanism = "socket", .roles = {}};
}

Status RegisterAppStorageRoutes(net::Router& router, std::shared_ptr<StorageServices> services) {
  return Register(router, services, "/v1", /*admin=*/false,
                  [](StorageServices& s, const Request& request) -> Result<Admitted> {
                    auto identity = ParseSocketIdentity(request.peer.listener_identity);
                    if (!identity) {
                      return Fail(ErrorCode::kUnauthenticated, "this socket belongs to no app");
                    }
                    auto& [app, epoch] = *identity;
                    AppGate::Pass pass =
                        FK_TRY(s.gate.Enter(app, epoch, kMaxOperationsInFlightPerApp));
                    return Admitted{std::move(app), std::move(pass)};
                  });
}

Status RegisterAdminStorageRoutes(net::Router& router, std::shared_ptr<StorageServices> services,
                                  AppExists app_exists) {
  return Register(router, services, "/api/v1/apps/{id}/sss", /*admin=*/true,
                  [app_exists = std::move(app_exists)](StorageServices& s,
                                                       const Request& request) -> Result<Admitted> {
                    std::string app(request.Param("id"));
                    // Admitted first: an uninstall that starts after the check below waits
                    // for this operation before it destroys the app.
                    AppGate::Pass pass = FK_TRY(s.gate.Enter(app, std::nullopt, 0));
                    if (app_exists) FK_TRY(app_exists(app));
                    return Admitted{std::move(app), std::move(pass)};
                  });
}

}  // namespace fogkeep::node::sss
