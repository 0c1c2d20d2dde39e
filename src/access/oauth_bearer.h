// OAuth 2.0 access tokens as bearer credentials of an API (a resource server, RFC 6750): the
// JWTs the director's authorization server issues (oauth/access_token.h), beside sessions and
// API tokens. The resource server supplies the validation (its issuer, audience, keys, and,
// at the director, the revocation state); this turns a valid token into the principal:
//
//   id         the token's sub (a user, or the client acting for itself)
//   mechanism  "oauth"
//   roles      the token's role, none when it has none
//   scopes     the token's scopes: RoleAuthorizer grants only permissions among them that the
//              role also holds, so a token never does more than its user's role allows
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "net/router.h"
#include "oauth/access_token.h"

namespace fogkeep::access {

inline constexpr std::string_view kMechanismOAuth = "oauth";

// Whether a bearer token has the shape of a JWT (three dot-separated parts, a JSON header),
// so that other tokens go to the other authenticators.
bool LooksLikeJwt(std::string_view token);

class AccessTokenAuthenticator : public net::Authenticator {
 public:
  using Validator = std::function<Result<oauth::AccessTokenClaims>(std::string_view token)>;

  // `validation_blocks` says whether `validate` may wait on I/O (the director checks
  // revocations in its store); a node validates against keys held in memory, so its inline
  // routes stay on the I/O thread.
  AccessTokenAuthenticator(Validator validate, bool validation_blocks,
                           std::shared_ptr<net::Authenticator> fallback)
      : validate_(std::move(validate)),
        validation_blocks_(validation_blocks),
        fallback_(std::move(fallback)) {}

  // A JWT-shaped bearer token is validated and never passed on: a refused one is
  // kUnauthenticated. Any other request goes to the fallback.
  Result<net::Principal> Authenticate(const net::Request& request) override;
  bool MayBlock(const net::Request& request) const override;

 private:
  const Validator validate_;
  const bool validation_blocks_;
  const std::shared_ptr<net::Authenticator> fallback_;
};

}  // namespace fogkeep::access
