// OAuthTrust: how fogkeepd accepts the director's OAuth access tokens on its own API, offline.
//
// The director puts its issuer and JWK Set in every desired state it signs (api/director.h,
// OAuthTrust); the director link hands each one here, and it is kept in
// data-dir/director/oauth.json (written atomically), so a restarted node validates tokens
// before it reaches the director again. A token is accepted when it validates against that
// key set (oauth/access_token.h: ES256 only, typ at+jwt, the issuer, a lifetime of at most
// 10 minutes, 60 s of clock skew) and names this node as an audience:
//   urn:fogkeep:node:<device id>   this node
//   urn:fogkeep:tag:<tag>          every node carrying the tag (the tags of the desired state)
// Tokens for the director itself, for other nodes or other tags are refused. A node cannot
// learn of a revocation offline: it relies on the tokens' short lifetime.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/director.h"
#include "core/error.h"
#include "oauth/access_token.h"
#include "oauth/jwk.h"

namespace fogkeep::node {

inline constexpr std::string_view kNodeAudiencePrefix = "urn:fogkeep:node:";
inline constexpr std::string_view kTagAudiencePrefix = "urn:fogkeep:tag:";

class OAuthTrust {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix seconds

  // Trust kept at `path`; a missing file means none yet (every token refused until the
  // director sends some). kInvalidInput for a file that cannot be read as trust.
  static Result<std::unique_ptr<OAuthTrust>> Open(std::string path, Clock clock = {});

  // Takes the trust of a desired state (already signature-checked) for `device_id` with
  // `tags`, and keeps it on disk. kInvalidInput for a key set that does not parse; the trust
  // held before stays.
  Status Update(const api::OAuthTrust& trust, const std::string& device_id,
                const std::vector<std::string>& tags);

  // The claims of `token` when it is an access token for this node; kUnauthenticated
  // otherwise (kUnauthenticated "no OAuth trust from the director yet" before the first).
  Result<oauth::AccessTokenClaims> Validate(std::string_view token) const;

 private:
  struct Held {
    std::string issuer;
    oauth::JwkSet keys;
    std::vector<std::string> audiences;
  };
  static Result<Held> Build(const api::OAuthTrust& trust, const std::string& device_id,
                            const std::vector<std::string>& tags);

  OAuthTrust(std::string path, Clock clock) : path_(std::move(path)), clock_(std::move(clock)) {}

  // Constant after construction.
  const std::string path_;
  const Clock clock_;

  mutable std::mutex mu_;
  // Replaced whole, never changed: Validate works on its copy of the pointer without the lock.
  std::shared_ptr<const Held> held_;  // guarded by mu_
};

}  // namespace fogkeep::node
