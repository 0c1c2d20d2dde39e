// Requests on an app's secure-storage socket come from the app: code the node runs but does not
// trust. This drives the socket's real handlers (node/sss/routes.h) over a real store with
// fuzzed requests: the first byte picks a route, the bytes up to the first newline are the
// record name, the rest is the body.
// Invariants beyond "no crash": hostile input is never an internal error (500), and no answer
// but an object's own bytes ever carries a PEM private key, whatever was imported before.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/fs.h"
#include "net/router.h"
#include "node/sss/file_key_sealer.h"
#include "node/sss/routes.h"

namespace {

using namespace fogkeep;
using net::Method;

constexpr char kApp[] = "fuzz-app";

struct Target {
  Method method;
  std::string_view prefix;  // then the name, then `suffix`
  std::string_view suffix;
};
constexpr Target kTargets[] = {
    {Method::kGet, "/v1/objects", ""},        {Method::kPut, "/v1/objects/", ""},
    {Method::kGet, "/v1/objects/", ""},       {Method::kDelete, "/v1/objects/", ""},
    {Method::kGet, "/v1/certificates", ""},   {Method::kPut, "/v1/certificates/", ""},
    {Method::kGet, "/v1/certificates/", ""},  {Method::kDelete, "/v1/certificates/", ""},
    {Method::kGet, "/v1/keys", ""},           {Method::kPut, "/v1/keys/", ""},
    {Method::kGet, "/v1/keys/", ""},          {Method::kDelete, "/v1/keys/", ""},
    {Method::kPost, "/v1/keys/", "/sign"},    {Method::kPost, "/v1/keys/", "/verify"},
    {Method::kPost, "/v1/keys/", "/encrypt"}, {Method::kPost, "/v1/keys/", "/decrypt"},
};

struct Service {
  net::Router router;
  std::shared_ptr<node::sss::StorageServices> services;
  std::string identity;  // the app socket listener's
};

// One store for the whole run, in a scratch directory (tmpfs when there is one: every write
// is fsynced).
Service& TheService() {
  static Service* service = [] {
    char dir[] = "/dev/shm/fuzz-sss-XXXXXX";
    char fallback[] = "/tmp/fuzz-sss-XXXXXX";
    const char* made = ::mkdtemp(dir);
    if (made == nullptr) made = ::mkdtemp(fallback);
    if (made == nullptr) std::abort();
    static const std::string root(made);
    std::atexit([] { (void)fs::RemoveTree(root); });
    auto sealer = node::sss::FileKeySealer::Open(root + "/sealing.key");
    if (!sealer) std::abort();
    auto store = node::sss::SecureStore::Open(
        root + "/store.db", *sealer,
        {.max_records = 64, .max_total_bytes = 1 << 20, .max_record_bytes = 64 << 10});
    if (!store) std::abort();
    auto* s = new Service;
    s->services = std::make_shared<node::sss::StorageServices>(std::move(*store));
    s->identity = node::sss::SocketIdentity(kApp, s->services->gate.Open(kApp));
    if (!node::sss::RegisterAppStorageRoutes(s->router, s->services)) std::abort();
    return s;
  }();
  return *service;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Service& service = TheService();
  static unsigned calls = 0;
  // Now and then the app is uninstalled, so the quotas do not end the exploration.
  if (++calls % 256 == 0) {
    (void)service.services->gate.Close(kApp,
                                       [&] { return service.services->store->DestroyApp(kApp); });
    service.identity = node::sss::SocketIdentity(kApp, service.services->gate.Open(kApp));
  }

  const Target& target = kTargets[data[0] % std::size(kTargets)];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t newline = rest.find('\n');
  const std::string_view name = rest.substr(0, std::min(newline, rest.size()));
  const std::string_view body = newline == std::string_view::npos ? "" : rest.substr(newline + 1);

  std::string path(target.prefix);
  if (target.prefix.back() == '/') path += std::string(name) + std::string(target.suffix);
  auto parsed = net::ParseTarget(path);
  if (!parsed) return 0;  // the server answers 400 before any handler
  const net::Router::Match match = service.router.Find(target.method, parsed->segments);
  if (match.route == nullptr) return 0;
  if (body.size() > match.route->options.max_body_bytes) return 0;  // 413 before the handler

  net::Request request;
  request.method = target.method;
  request.target = path;
  request.path = parsed->path;
  request.segments = parsed->segments;
  request.path_params = match.params;
  request.body = std::string(body);
  request.peer.transport = net::Peer::Transport::kUnix;
  request.peer.listener_identity = service.identity;
  request.principal = net::Principal{.id = kApp, .mechanism = "socket", .roles = {}};
  Result<net::Response> response = match.route->handler(request);
  if (!response) {
    if (response.error().code() == ErrorCode::kInternal) {
      std::fprintf(stderr, "internal error from hostile input: %s\n",
                   response.error().message().c_str());
      std::abort();
    }
    return 0;
  }
  // An object holds whatever the app put there; every other answer is the service's own.
  const bool object_bytes = target.method == Method::kGet && target.prefix == "/v1/objects/";
  if (!object_bytes && response->body.find("PRIVATE KEY") != std::string::npos) {
    std::fprintf(stderr, "private key material in an answer: %s\n", response->body.c_str());
    std::abort();
  }
  return 0;
}
