// fogkeep-director's authorization server driven by code written elsewhere: openid-client (an
// OAuth 2.0 client certified for OpenID Connect) performs discovery, the authorization code
// grant with PKCE S256, refresh, introspection, revocation and client credentials; jose checks
// every access token on its own against the JWK Set (RFC 9068: typ at+jwt, ES256, iss, aud).
// The director's sign-in and consent forms are filled in the way a browser would: fetch with
// redirects off and a cookie jar of one cookie.
//
// Run by oauth_interop_test.sh, which starts the director and passes, in the environment:
//   FK_ISSUER                       the issuer the director announces
//   FK_USER, FK_PASSWORD            a user of role app-manager
//   FK_WEB_ID, FK_WEB_SECRET        a confidential client: authorization_code, refresh_token
//   FK_WEB_REDIRECT                 its registered redirect URI
//   FK_SVC_ID, FK_SVC_SECRET        a confidential client: client_credentials, role auditor
// and NODE_EXTRA_CA_CERTS, the director's fleet CA. Prints one line per check; the first
// failure ends the run with exit 1.
import * as client from 'openid-client';
import * as jose from 'jose';

const env = (name) => {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
};

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

let checks = 0;
function ok(message) {
  checks += 1;
  console.log(`ok ${checks} - ${message}`);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

// Runs `call`, which must throw ResponseBodyError with `error` (an OAuth error code).
async function expectOAuthError(error, call, what) {
  try {
    await call();
  } catch (e) {
    if (e instanceof client.ResponseBodyError && e.error === error) return e;
    fail(`${what}: expected ${error}, got ${e?.name}: ${e?.error ?? ''} ${e?.message}`);
  }
  fail(`${what}: expected ${error}, but it succeeded`);
}

const issuer = env('FK_ISSUER');
const user = env('FK_USER');
const password = env('FK_PASSWORD');
const web = { id: env('FK_WEB_ID'), secret: env('FK_WEB_SECRET'), redirect: env('FK_WEB_REDIRECT') };
const svc = { id: env('FK_SVC_ID'), secret: env('FK_SVC_SECRET') };
const userScopes = 'devices.read deployments.read';

// --- discovery (RFC 8414)

const webConfig = await client.discovery(
  new URL(issuer), web.id, { redirect_uris: [web.redirect] },
  client.ClientSecretBasic(web.secret), { algorithm: 'oauth2' });
const svcConfig = await client.discovery(
  new URL(issuer), svc.id, {}, client.ClientSecretBasic(svc.secret), { algorithm: 'oauth2' });
const as = webConfig.serverMetadata();
expect(as.issuer === issuer, `metadata issuer ${as.issuer} is not ${issuer}`);
expect(as.code_challenge_methods_supported?.includes('S256'), 'S256 is not announced');
expect(!as.code_challenge_methods_supported?.includes('plain'), 'plain PKCE is announced');
expect(as.authorization_response_iss_parameter_supported === true,
  'RFC 9207 iss is not announced');
expect(as.jwks_uri && as.introspection_endpoint && as.revocation_endpoint,
  'the metadata lacks jwks_uri, introspection_endpoint or revocation_endpoint');
ok(`discovery of ${issuer}/.well-known/oauth-authorization-server`);

// --- independent access-token validation

const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));

// The claims of `token` when jose accepts it as an access token for the director.
async function verifyAccessToken(token, what) {
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
      issuer,
      audience: issuer,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
    });
    expect(protectedHeader.kid, `${what}: no kid in the header`);
    expect(payload.exp - payload.iat > 0 && payload.exp - payload.iat <= 600,
      `${what}: lifetime ${payload.exp - payload.iat} s is outside (0, 600]`);
    ok(`jose verifies the ${what} (ES256, typ at+jwt, kid ${protectedHeader.kid}, ` +
      `sub ${payload.sub}, scope "${payload.scope}")`);
    return payload;
  } catch (e) {
    fail(`jose refuses the ${what}: ${e.code ?? e.name}: ${e.message}`);
  }
}

// The status of GET /api/v1/devices with `token` as bearer.
async function apiStatus(token) {
  const response = await fetch(new URL('/api/v1/devices', issuer), {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}

async function introspect(config, token) {
  return client.tokenIntrospection(config, token);
}

// --- the director's sign-in and consent forms, as a browser fills them

const entities = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
const unescape = (text) => text.replace(/&(amp|lt|gt|quot|#39);/g, (m) => entities[m]);

function hiddenFields(html) {
  const fields = new URLSearchParams();
  const input = /<input type="hidden" name="([^"]*)" value="([^"]*)">/g;
  for (const [, name, value] of html.matchAll(input)) fields.append(unescape(name), unescape(value));
  return fields;
}

// Follows an authorization URL through sign-in and consent; the callback URL the director
// redirects to (never fetched: the client's host does not exist).
async function signInAndApprove(authorizationUrl) {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  expect(page.status === 200, `the authorization page answered ${page.status}: ${html}`);
  const cookie = page.headers.getSetCookie().find((c) => c.startsWith('__Host-fogkeep-oauth='));
  expect(cookie, 'the authorization page set no __Host-fogkeep-oauth cookie');
  const jar = cookie.split(';')[0];
  const login = hiddenFields(html);
  expect(login.get('fk_step') === 'login', 'the sign-in form has no fk_step=login');
  expect(login.get('fk_csrf') === jar.split('=')[1], 'fk_csrf differs from the cookie');
  login.set('fk_user', user);
  login.set('fk_password', password);
  const post = (body) => fetch(new URL('/oauth2/authorize', issuer), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar },
    body,
  });
  const consentPage = await post(login);
  const consentHtml = await consentPage.text();
  expect(consentPage.status === 200, `sign-in answered ${consentPage.status}: ${consentHtml}`);
  const consent = hiddenFields(consentHtml);
  expect(consent.get('fk_step') === 'consent' && consent.get('fk_ticket'),
    'the consent form has no fk_step=consent or fk_ticket');
  consent.set('fk_decision', 'approve');
  const approved = await post(consent);
  await approved.arrayBuffer();
  expect(approved.status === 303, `consent answered ${approved.status}, not 303`);
  return new URL(approved.headers.get('location'));
}

// One authorization: code + PKCE S256, through the forms, redeemed by the library.
async function authorize(what) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(webConfig, {
    redirect_uri: web.redirect,
    scope: userScopes,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const callback = await signInAndApprove(url);
  expect(callback.href.startsWith(`${web.redirect}?`), `redirected to ${callback.href}`);
  expect(callback.searchParams.get('iss') === issuer, 'the callback carries no RFC 9207 iss');

  // The library checks state and iss itself: a changed one is refused before the code is used.
  const forged = new URL(callback);
  forged.searchParams.set('iss', 'https://attacker.example');
  try {
    await client.authorizationCodeGrant(webConfig, forged,
      { pkceCodeVerifier: verifier, expectedState: state });
    fail(`${what}: openid-client accepted a callback with another iss`);
  } catch (e) {
    expect(!(e instanceof client.ResponseBodyError), `${what}: the forged iss reached the server`);
  }
  try {
    await client.authorizationCodeGrant(webConfig, callback,
      { pkceCodeVerifier: verifier, expectedState: client.randomState() });
    fail(`${what}: openid-client accepted a callback with another state`);
  } catch (e) {
    expect(!(e instanceof client.ResponseBodyError), `${what}: the wrong state reached the server`);
  }

  const tokens = await client.authorizationCodeGrant(webConfig, callback,
    { pkceCodeVerifier: verifier, expectedState: state });
  expect(tokens.token_type?.toLowerCase() === 'bearer', `token_type ${tokens.token_type}`);
  expect(tokens.access_token && tokens.refresh_token, 'no access or refresh token');
  expect(tokens.expiresIn() > 0, 'no expires_in');
  ok(`${what}: authorization code + PKCE S256 through sign-in and consent; openid-client ` +
    'checked state, iss and redeemed the code (a changed iss or state was refused first)');
  return tokens;
}

// --- authorization code, refresh with rotation, reuse detection

const first = await authorize('first authorization');
const claims = await verifyAccessToken(first.access_token, 'access token of the code grant');
expect(claims.sub === user && claims.client_id === web.id,
  `sub ${claims.sub} / client_id ${claims.client_id}`);
expect(claims.role === 'app-manager', `role ${claims.role}`);
expect(claims.scope.split(' ').sort().join(' ') === userScopes.split(' ').sort().join(' '),
  `scope ${claims.scope}`);
ok('its claims name the user, the client, the role and the requested scopes');
expect(await apiStatus(first.access_token) === 200, 'the director API refuses the access token');
ok('the director API accepts it (GET /api/v1/devices 200)');

let info = await introspect(webConfig, first.access_token);
expect(info.active === true && info.client_id === web.id && info.sub === user &&
  info.token_type === 'access_token', `introspection: ${JSON.stringify(info)}`);
info = await introspect(webConfig, first.refresh_token);
expect(info.active === true && info.token_type === 'refresh_token',
  `refresh introspection: ${JSON.stringify(info)}`);
ok('introspection: access and refresh token active');

const refreshed = await client.refreshTokenGrant(webConfig, first.refresh_token);
expect(refreshed.refresh_token && refreshed.refresh_token !== first.refresh_token,
  'the refresh token was not rotated');
expect(refreshed.access_token !== first.access_token, 'the same access token came back');
ok('refresh: new access token, rotated refresh token');
await verifyAccessToken(refreshed.access_token, 'access token of the refresh');
info = await introspect(webConfig, first.refresh_token);
expect(info.active === false, 'the rotated refresh token is still active');
ok('introspection: the rotated refresh token is inactive');

await expectOAuthError('invalid_grant',
  () => client.refreshTokenGrant(webConfig, first.refresh_token), 'reuse of the rotated token');
ok('the rotated refresh token presented again: invalid_grant');
await expectOAuthError('invalid_grant',
  () => client.refreshTokenGrant(webConfig, refreshed.refresh_token), 'refresh after reuse');
ok('after that reuse the newest refresh token is refused too: invalid_grant (family revoked)');
info = await introspect(webConfig, refreshed.access_token);
expect(info.active === false, 'the family\'s access token is still active');
expect(await apiStatus(refreshed.access_token) === 401, 'the director API still accepts it');
ok('the family\'s access token: introspection inactive, director API 401');

// --- revocation (RFC 7009)

const second = await authorize('second authorization');
await verifyAccessToken(second.access_token, 'access token of the second code grant');
info = await introspect(webConfig, second.access_token);
expect(info.active === true, 'the new access token is inactive');
await client.tokenRevocation(webConfig, second.access_token);
info = await introspect(webConfig, second.access_token);
expect(info.active === false, 'the revoked access token is still active');
expect(await apiStatus(second.access_token) === 401, 'the director API accepts a revoked token');
ok('access token revoked: introspection active true → false, director API 401');
await client.tokenRevocation(webConfig, second.refresh_token);
info = await introspect(webConfig, second.refresh_token);
expect(info.active === false, 'the revoked refresh token is still active');
await expectOAuthError('invalid_grant',
  () => client.refreshTokenGrant(webConfig, second.refresh_token), 'refresh after revocation');
ok('refresh token revoked: introspection inactive, refresh invalid_grant');

// --- client credentials

const service = await client.clientCredentialsGrant(svcConfig, { scope: 'devices.read' });
expect(!service.refresh_token, 'client credentials returned a refresh token');
const serviceClaims = await verifyAccessToken(service.access_token,
  'access token of the client credentials grant');
expect(serviceClaims.sub === svc.id && serviceClaims.client_id === svc.id &&
  serviceClaims.scope === 'devices.read', `claims ${JSON.stringify(serviceClaims)}`);
expect(await apiStatus(service.access_token) === 200, 'the director API refuses it');
info = await introspect(svcConfig, service.access_token);
expect(info.active === true && info.client_id === svc.id, `introspection ${JSON.stringify(info)}`);
ok('client credentials: sub = client_id, scope devices.read, no refresh token, API 200, active');
await client.tokenRevocation(svcConfig, service.access_token);
info = await introspect(svcConfig, service.access_token);
expect(info.active === false, 'the revoked token is still active');
expect(await apiStatus(service.access_token) === 401, 'the director API accepts it after revocation');
ok('client credentials token revoked: inactive, director API 401');

// jose itself refuses a token for another audience: the checks above are not vacuous.
const other = await client.clientCredentialsGrant(svcConfig,
  { scope: 'devices.read', resource: 'urn:fogkeep:node:interop' });
try {
  await jose.jwtVerify(other.access_token, jwks,
    { issuer, audience: issuer, typ: 'at+jwt', algorithms: ['ES256'] });
  fail('jose accepted a token for urn:fogkeep:node:interop as one for the director');
} catch (e) {
  expect(e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'aud',
    `unexpected refusal ${e.code}`);
}
await jose.jwtVerify(other.access_token, jwks,
  { issuer, audience: 'urn:fogkeep:node:interop', typ: 'at+jwt', algorithms: ['ES256'] });
expect(await apiStatus(other.access_token) === 401, 'the director API accepts a node token');
ok('a token for resource urn:fogkeep:node:interop: jose accepts it only for that audience; ' +
  'the director API answers 401');

console.log(`interop.mjs: ${checks} checks passed`);
