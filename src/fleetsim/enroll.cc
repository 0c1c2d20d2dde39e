#include "fleetsim/enroll.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "api/director.h"
#include "api/est.h"
#include "api/node.h"
#include "core/fs.h"
#include "crypto/csr.h"
#include "crypto/keys.h"

namespace fogkeep::fleetsim {
namespace {

constexpr int kAttempts = 3;
// An enrollment token lives long enough for its node to use it at once, with room for a slow
// director; the director refuses lifetimes under a minute.
constexpr std::int64_t kTokenLifetimeSeconds = 3600;
constexpr std::chrono::milliseconds kEnrollTimeout{60'000};
// The identities file: about 1.5 KiB per node.
constexpr std::size_t kMaxIdentitiesBytes = 256 << 20;

// Maps an unexpected answer to an error: a 4xx is a refusal (retrying cannot help), anything
// else may pass.
Error AnswerError(const HttpAnswer& answer, std::string_view what) {
  ErrorCode code = ErrorCode::kUnavailable;
  if (answer.status == 401) {
    code = ErrorCode::kUnauthenticated;
  } else if (answer.status == 403) {
    code = ErrorCode::kForbidden;
  } else if (answer.status >= 400 && answer.status < 500) {
    code = ErrorCode::kInvalidInput;
  }
  return Error(code, std::string(what) + ": " + AnswerMessage(answer));
}

bool Transient(const Error& error) {
  return error.code() == ErrorCode::kUnavailable || error.code() == ErrorCode::kInternal;
}

struct EnrollRun {
  const DirectorEndpoint& where;
  TlsClient& tls;
  const crypto::Certificate& ca;
  const SimOptions& options;
  FleetStats& stats;
  std::string token_request;  // the JSON body of every token creation

  std::vector<std::optional<NodeIdentity>> enrolled;  // slot i written only by its worker
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::optional<Error> fatal;  // guarded by mu: the first error that ends the run

  void Fatal(Error error) {
    std::lock_guard lock(mu);
    if (!fatal) fatal = std::move(error);
    stopping = true;
  }
};

asio::awaitable<Result<std::string>> CreateEnrollmentToken(EnrollRun& run,
                                                           HttpsConnection& connection) {
  HttpCall call{.verb = Verb::kPost,
                .target = "/api/v1/enrollment-tokens",
                .headers = {{"Authorization", "Bearer " + run.options.token},
                            {"Content-Type", "application/json"}},
                .body = run.token_request};
  Result<HttpAnswer> answer = co_await connection.Exchange(call, kEnrollTimeout);
  if (!answer) co_return std::unexpected(std::move(answer).error());
  if (answer->status == 401 || answer->status == 403) {
    co_return std::unexpected(AnswerError(*answer, "the director refused --token"));
  }
  if (answer->status != 201) {
    co_return std::unexpected(AnswerError(*answer, "creating an enrollment token"));
  }
  Result<api::EnrollmentTokenInfo> info = api::FromJsonText<api::EnrollmentTokenInfo>(answer->body);
  if (!info) co_return std::unexpected(info.error().With("enrollment token answer"));
  if (info->token.empty()) {
    co_return Fail(ErrorCode::kInvalidInput, "the enrollment token answer holds no token");
  }
  co_return std::move(info->token);
}

asio::awaitable<Result<NodeIdentity>> EnrollOne(EnrollRun& run, HttpsConnection& connection,
                                                std::size_t index) {
  Result<std::string> token = co_await CreateEnrollmentToken(run, connection);
  if (!token) co_return std::unexpected(std::move(token).error());

  Result<crypto::PrivateKey> key = crypto::PrivateKey::Generate(api::est::kNodeFileKeyType);
  if (!key) co_return std::unexpected(std::move(key).error());
  const std::string name = run.options.name_prefix + "-" + std::to_string(index);
  Result<crypto::CertificateRequest> csr = crypto::CertificateRequest::Create(*key, name);
  if (!csr) co_return std::unexpected(std::move(csr).error());

  HttpCall call{
      .verb = Verb::kPost,
      .target = std::string(api::est::kSimpleEnrollPath),
      .headers = {{"Authorization", "Bearer " + *token},
                  {"Content-Type", std::string(api::est::kPkcs10ContentType)},
                  {"Content-Transfer-Encoding", std::string(api::est::kTransferEncoding)}},
      .body = api::est::EncodeEnrollRequestBody(*csr)};
  Result<HttpAnswer> answer = co_await connection.Exchange(call, kEnrollTimeout);
  if (!answer) co_return std::unexpected(std::move(answer).error());
  if (answer->status != 200) co_return std::unexpected(AnswerError(*answer, "enrollment"));

  Result<std::vector<crypto::Certificate>> chain = api::est::ParseCertsOnlyBody(answer->body);
  if (!chain) co_return std::unexpected(chain.error().With("enrollment answer"));
  const crypto::Certificate& leaf = chain->front();
  Result<std::string> ours = key->Public().ToPem();
  Result<std::string> certified = leaf.Key().ToPem();
  if (!ours || !certified || *ours != *certified) {
    co_return Fail(ErrorCode::kIntegrity, "enrollment: the director certified another key");
  }
  crypto::TrustStore trust;
  trust.AddAnchor(run.ca);
  if (Status verified = trust.Verify(leaf, {}, crypto::ExtendedKeyUsage::kClientAuth); !verified) {
    co_return std::unexpected(verified.error().With("enrollment: the issued certificate"));
  }
  NodeIdentity identity{.device_id = leaf.CommonName(),
                        .tls = crypto::TlsIdentity{std::move(*key), std::move(*chain)}};
  co_return identity;
}

asio::awaitable<void> EnrollWorker(EnrollRun& run) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  HttpsConnection connection(executor, run.where, run.tls, nullptr);
  asio::steady_timer pause(executor);
  while (!run.stopping) {
    const std::size_t index = run.next.fetch_add(1);
    if (index >= run.options.nodes) break;
    std::optional<Error> failure;
    for (int attempt = 1; attempt <= kAttempts && !run.stopping; ++attempt) {
      Result<NodeIdentity> identity = co_await EnrollOne(run, connection, index);
      if (identity) {
        run.enrolled[index] = std::move(*identity);
        run.stats.CountEnrolled();
        failure.reset();
        break;
      }
      failure = std::move(identity).error();
      if (!Transient(*failure)) break;
      pause.expires_after(std::chrono::milliseconds(500) * attempt);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (failure) {
      // A refused API token is the same for every node: say it once, without a node number.
      if (failure->code() == ErrorCode::kUnauthenticated ||
          failure->code() == ErrorCode::kForbidden) {
        run.Fatal(std::move(*failure));
      } else {
        run.Fatal(std::move(*failure).With("enrolling node " + std::to_string(index)));
      }
    }
  }
  connection.Close();
}

}  // namespace

Result<std::vector<NodeIdentity>> EnrollFleet(asio::io_context& io, const DirectorEndpoint& where,
                                              TlsClient& tls, const crypto::Certificate& ca,
                                              const SimOptions& options, FleetStats& stats) {
  EnrollRun run{.where = where, .tls = tls, .ca = ca, .options = options, .stats = stats};
  run.token_request = api::ToJsonText(
      api::EnrollmentTokenRequest{.tags = options.tags, .ttl_seconds = kTokenLifetimeSeconds});
  run.enrolled.resize(options.nodes);
  const std::size_t workers = std::max<std::size_t>(
      1, std::min(options.enroll_concurrency, std::max<std::size_t>(options.nodes, 1)));
  for (std::size_t i = 0; i < workers; ++i) {
    asio::co_spawn(asio::make_strand(io), EnrollWorker(run), [&run](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        run.Fatal(Error(ErrorCode::kInternal, std::string("enrollment: ") + ex.what()));
      } catch (...) {
        run.Fatal(Error(ErrorCode::kInternal, "enrollment: unexpected exception"));
      }
    });
  }
  std::vector<std::thread> helpers;
  for (std::size_t i = 1; i < options.threads; ++i) helpers.emplace_back([&io] { io.run(); });
  io.run();
  for (std::thread& helper : helpers) helper.join();
  io.restart();

  if (run.fatal) return std::unexpected(std::move(*run.fatal));
  std::vector<NodeIdentity> identities;
  identities.reserve(options.nodes);
  for (std::optional<NodeIdentity>& identity : run.enrolled) {
    if (!identity) return Fail(ErrorCode::kInternal, "enrollment ended with a node missing");
    identities.push_back(std::move(*identity));
  }
  return identities;
}

Status SaveIdentities(const std::string& path, const std::vector<NodeIdentity>& identities) {
  boost::json::array items;
  items.reserve(identities.size());
  for (const NodeIdentity& identity : identities) {
    boost::json::object item;
    item["device_id"] = identity.device_id;
    item["key"] = FK_TRY(identity.tls.key.ToPem());
    std::string chain;
    for (const crypto::Certificate& cert : identity.tls.chain) chain += cert.ToPem();
    item["chain"] = chain;
    items.push_back(std::move(item));
  }
  return fs::WriteFileAtomic(path, boost::json::serialize(items) + "\n", 0600);
}

Result<std::vector<NodeIdentity>> LoadIdentities(const std::string& path, std::size_t count) {
  const std::string text = FK_TRY_CTX(fs::ReadFile(path, kMaxIdentitiesBytes), path);
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_array()) {
    return Fail(ErrorCode::kInvalidInput, path + ": not an identities file (a JSON array)");
  }
  const boost::json::array& items = doc.as_array();
  if (items.size() < count) {
    return Fail(ErrorCode::kInvalidInput, path + " holds " + std::to_string(items.size()) +
                                              " identities, --nodes asks for " +
                                              std::to_string(count) + "; remove it to enroll anew");
  }
  std::vector<NodeIdentity> identities;
  identities.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string where = path + ": identity " + std::to_string(i);
    const boost::json::object* item = items[i].if_object();
    const boost::json::value* id = item ? item->if_contains("device_id") : nullptr;
    const boost::json::value* key = item ? item->if_contains("key") : nullptr;
    const boost::json::value* chain = item ? item->if_contains("chain") : nullptr;
    if (!id || !id->is_string() || !key || !key->is_string() || !chain || !chain->is_string()) {
      return Fail(ErrorCode::kInvalidInput, where + ": needs device_id, key and chain strings");
    }
    crypto::PrivateKey private_key =
        FK_TRY_CTX(crypto::PrivateKey::FromPem(std::string_view(key->as_string())), where);
    std::vector<crypto::Certificate> certificates =
        FK_TRY_CTX(crypto::Certificate::BundleFromPem(std::string_view(chain->as_string())), where);
    identities.push_back(
        NodeIdentity{.device_id = std::string(id->as_string()),
                     .tls = crypto::TlsIdentity{std::move(private_key), std::move(certificates)}});
  }
  return identities;
}

}  // namespace fogkeep::fleetsim
