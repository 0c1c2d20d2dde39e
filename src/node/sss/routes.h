// The Secure Storage Service's HTTP API (README.md, "The app API"), registered twice over one
// set of handlers:
//   - on an app's own socket (/v1/...), where the app is whoever the listener belongs to;
//   - in the node API (/api/v1/apps/{id}/sss/...), where administrators and app-managers
//     reach any app's records with storage.read / storage.write, and never a key's use or its
//     private part.
// Request bodies are hostile: sizes are bounded per route before a byte is read, JSON is
// parsed strictly, base64 is checked, names are validated by the store, and every failure is
// a clear 4xx, never a crash.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "net/router.h"
#include "node/sss/app_gate.h"
#include "node/sss/certificates.h"
#include "node/sss/keys.h"
#include "node/sss/secure_store.h"

namespace fogkeep::node::sss {

// One node's storage service: the store and the key and certificate services over it.
struct StorageServices {
  explicit StorageServices(std::shared_ptr<SecureStore> opened)
      : store(std::move(opened)), keys(*store), certificates(*store) {}
  StorageServices(const StorageServices&) = delete;
  StorageServices& operator=(const StorageServices&) = delete;

  std::shared_ptr<SecureStore> store;
  KeyService keys;
  CertificateService certificates;
  // Every operation of either API passes it; AppSockets::Remove closes an app through it.
  AppGate gate;
};

// Operations of one app, over its socket, running at once; more are answered 503, so one
// app cannot hold every worker of the node's storage service.
inline constexpr std::size_t kMaxOperationsInFlightPerApp = 2;

// The identity of an app's socket listener for its opening `epoch` (AppGate::Open):
// "<app>@<epoch>". The app routes admit a request only for the app's current opening.
std::string SocketIdentity(std::string_view app, std::uint64_t epoch);

// The permission every route of an app's socket declares. Only ListenerAuthenticator grants
// it, and the socket's server has no other authenticator: it names the route's audience
// rather than a role's right.
inline constexpr std::string_view kAppSocketPermission = "sss.app";

// Authenticates a request by the Unix listener it came through: the principal is the app its
// identity (SocketIdentity) names, mechanism "socket". kUnauthenticated without one. The
// listener itself refuses peers outside the app's uid range before any request is read.
class ListenerAuthenticator final : public net::Authenticator {
 public:
  Result<net::Principal> Authenticate(const net::Request& request) override;
  bool MayBlock(const net::Request& /*request*/) const override { return false; }
};

// /v1/objects, /v1/certificates, /v1/keys and the key operations, for the app named by the
// request's principal.
Status RegisterAppStorageRoutes(net::Router& router, std::shared_ptr<StorageServices> services);

// /api/v1/apps/{id}/sss/{objects,certificates,keys}... for the app named in the path.
// `app_exists` answers kNotFound for an id that is not installed (so a typo is not an empty
// store); null skips that check.
using AppExists = std::function<Status(const std::string& id)>;
Status RegisterAdminStorageRoutes(net::Router& router, std::shared_ptr<StorageServices> services,
                                  AppExists app_exists);

}  // namespace fogkeep::node::sss
