#include "access/oauth_bearer.h"

#include <algorithm>

#include "access/auth_token.h"

namespace fogkeep::access {

bool LooksLikeJwt(std::string_view token) {
  // base64url of '{"' starts every JOSE header.
  return token.starts_with("eyJ") && std::ranges::count(token, '.') == 2;
}

namespace {

bool CarriesJwt(const net::Request& request) {
  Result<std::string_view> token = BearerToken(request);
  return token && LooksLikeJwt(*token);
}

}  // namespace

bool AccessTokenAuthenticator::MayBlock(const net::Request& request) const {
  return CarriesJwt(request) ? validation_blocks_ : fallback_->MayBlock(request);
}

Result<net::Principal> AccessTokenAuthenticator::Authenticate(const net::Request& request) {
  Result<std::string_view> token = BearerToken(request);
  if (!token || !LooksLikeJwt(*token)) return fallback_->Authenticate(request);
  oauth::AccessTokenClaims claims = FK_TRY(validate_(*token));
  net::Principal principal{.id = claims.subject, .mechanism = std::string(kMechanismOAuth)};
  if (!claims.role.empty()) principal.roles = {claims.role};
  principal.scopes = std::move(claims.scopes);
  return principal;
}

}  // namespace fogkeep::access
