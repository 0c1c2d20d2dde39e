#include "node/oauth_trust.h"

#include <boost/json.hpp>

#include <chrono>

#include "core/fs.h"
#include "core/log.h"

namespace fogkeep::node {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxTrustFileBytes = 256 * 1024;

std::int64_t SystemSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The file: {"issuer": ..., "jwks": {...}, "device_id": ..., "tags": [...]}.
std::string FileText(const api::OAuthTrust& trust, const std::string& device_id,
                     const std::vector<std::string>& tags) {
  json::array tag_list;
  for (const std::string& tag : tags) tag_list.emplace_back(tag);
  boost::system::error_code ec;
  json::value jwks = json::parse(trust.jwks, ec);
  return json::serialize(json::object{{"issuer", trust.issuer},
                                      {"jwks", ec ? json::value() : std::move(jwks)},
                                      {"device_id", device_id},
                                      {"tags", std::move(tag_list)}}) +
         "\n";
}

}  // namespace

Result<OAuthTrust::Held> OAuthTrust::Build(const api::OAuthTrust& trust,
                                           const std::string& device_id,
                                           const std::vector<std::string>& tags) {
  if (trust.issuer.empty()) return Fail(ErrorCode::kInvalidInput, "OAuth trust without issuer");
  if (device_id.empty()) return Fail(ErrorCode::kInvalidInput, "OAuth trust without device");
  // Not inside the aggregate: an early return from its initializer would leak what it built.
  oauth::JwkSet keys = FK_TRY_CTX(oauth::JwkSet::Parse(trust.jwks), "director key set");
  Held held{trust.issuer, std::move(keys), {}};
  held.audiences.push_back(std::string(kNodeAudiencePrefix) + device_id);
  for (const std::string& tag : tags)
    held.audiences.push_back(std::string(kTagAudiencePrefix) + tag);
  return held;
}

Result<std::unique_ptr<OAuthTrust>> OAuthTrust::Open(std::string path, Clock clock) {
  std::unique_ptr<OAuthTrust> out(new OAuthTrust(std::move(path), clock ? clock : SystemSeconds));
  Result<std::string> text = fs::ReadFile(out->path_, kMaxTrustFileBytes);
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound) return out;
    return std::unexpected(text.error());
  }
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const auto bad = [&] { return Fail(ErrorCode::kInvalidInput, out->path_ + ": not OAuth trust"); };
  if (o == nullptr) return bad();
  const json::value* issuer = o->if_contains("issuer");
  const json::value* jwks = o->if_contains("jwks");
  const json::value* device = o->if_contains("device_id");
  const json::value* tags = o->if_contains("tags");
  if (issuer == nullptr || !issuer->is_string() || jwks == nullptr || !jwks->is_object() ||
      device == nullptr || !device->is_string() || tags == nullptr || !tags->is_array()) {
    return bad();
  }
  std::vector<std::string> tag_list;
  for (const json::value& tag : tags->get_array()) {
    if (!tag.is_string()) return bad();
    tag_list.emplace_back(tag.get_string());
  }
  out->held_ = std::make_shared<const Held>(
      FK_TRY_CTX(Build({std::string(issuer->get_string()), json::serialize(*jwks)},
                       std::string(device->get_string()), tag_list),
                 out->path_));
  return out;
}

Status OAuthTrust::Update(const api::OAuthTrust& trust, const std::string& device_id,
                          const std::vector<std::string>& tags) {
  auto held = std::make_shared<const Held>(FK_TRY(Build(trust, device_id, tags)));
  const std::string text = FileText(trust, device_id, tags);
  std::lock_guard lock(mu_);
  Result<std::string> stored = fs::ReadFile(path_, kMaxTrustFileBytes);
  if (!stored || *stored != text) FK_TRY(fs::WriteFileAtomic(path_, text, 0600));
  held_ = std::move(held);
  return {};
}

Result<oauth::AccessTokenClaims> OAuthTrust::Validate(std::string_view token) const {
  std::shared_ptr<const Held> held;
  {
    std::lock_guard lock(mu_);
    held = held_;
  }
  if (!held) return Fail(ErrorCode::kUnauthenticated, "no OAuth trust from the director yet");
  oauth::AccessTokenPolicy policy;
  policy.issuer = held->issuer;
  policy.audiences = held->audiences;
  policy.now = clock_();
  return oauth::ValidateAccessToken(token, held->keys, policy);
}

}  // namespace fogkeep::node
