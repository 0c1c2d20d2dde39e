// The director's OAuth 2.0 endpoints (AuthorizationServer on the wire), and the bearer
// authentication that lets its own API accept the access tokens it issues.
//
//   GET  /.well-known/oauth-authorization-server  public  RFC 8414 metadata
//   GET  /oauth2/jwks                             public  the JWK Set (current + previous key)
//   GET  /oauth2/authorize                        public  RFC 6749 4.1.1 + PKCE: the sign-in page
//   POST /oauth2/authorize                        public  the sign-in form (step "login"), then
//                                                         the consent form (step "consent") →
//                                                         303 to the redirect URI
//   POST /oauth2/token                            public  every grant; client_secret_basic or a
//                                                         public client's client_id
//   POST /oauth2/device_authorization             public  RFC 8628 3.1
//   GET  /oauth2/device                           public  the device verification page
//   POST /oauth2/device                           public  sign in, then approve or deny
//   POST /oauth2/introspect                       public  RFC 7662 (confidential clients)
//   POST /oauth2/revoke                           public  RFC 7009
//   GET    /api/v1/oauth/clients                  oauth-clients.manage (admins)
//   POST   /api/v1/oauth/clients                  oauth-clients.manage → 201, the secret once
//   GET    /api/v1/oauth/clients/{id}             oauth-clients.manage
//   DELETE /api/v1/oauth/clients/{id}             oauth-clients.manage → 204; revokes its tokens
//   POST   /api/v1/oauth/clients/{id}/secret      oauth-clients.manage → a new secret
//   PUT    /api/v1/node/apps/{app}/oauth-client   node.self  api::AppOAuthClientRequest → 201
//                                                 api::AppOAuthClient: a new client for one of
//                                                 the node's apps, replacing its old one
//   DELETE /api/v1/node/apps/{app}/oauth-client   node.self  → 204, whether it had one or not
//
// Pages: server-rendered HTML without scripts, sent with a Content-Security-Policy that loads
// nothing and forbids framing (frame-ancestors 'none', X-Frame-Options DENY), no-store, no
// referrer, and no CORS headers on any of these routes. Forms carry a CSRF token that must
// equal a __Host- cookie (SameSite=Strict) set with the page; the consent step carries a
// ticket, HMAC-protected with a key every replica derives alike (AuthorizationServer::FormKey),
// binding the signed-in user, the request and that cookie, and living 5 minutes.
#pragma once

#include <memory>

#include "auth/login.h"
#include "core/error.h"
#include "director/oauth_server.h"
#include "net/router.h"

namespace fogkeep::director {

Status RegisterOAuthRoutes(net::Router& router, std::shared_ptr<AuthorizationServer> server,
                           std::shared_ptr<auth::LoginService> login);

}  // namespace fogkeep::director
