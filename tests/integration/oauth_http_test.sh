#!/usr/bin/env bash
# Attacks on fogkeep-director's OAuth 2.0 authorization server over HTTP, against a real
# director (THREATS.md "token forgery and misuse": RFC 8725, RFC 9700), with curl, jq and
# openssl only:
#   - the authorization page cannot be framed, cached or read cross-origin;
#   - a redirect URI that is not exactly a registered one gets an error page, never a redirect;
#     a request without PKCE S256 is sent back with invalid_request; a form without the CSRF
#     cookie is refused;
#   - a code is single use (its second use revokes what the first gave), needs its verifier;
#     bad client authentication is 401 invalid_client with WWW-Authenticate;
#   - the device grant answers authorization_pending, slow_down (RFC 8628 3.5), expired_token,
#     and a token once approved through the verification page;
#   - the director's API refuses forged and foreign access tokens: alg none, HS256 keyed with
#     the published public key, RS256, an unknown kid, a real kid with another key's
#     signature, jku and jwk headers naming an attacker's key (the jku URL is never fetched),
#     a token for a node's audience, the token of a second director claiming the same issuer;
#     and, signed with the director's own key read from its store (as only someone with its
#     disk could), tokens that break one rule each: no typ, another typ, expired, another iss,
#     another aud, too long a lifetime, a crit header, no kid. A token made the same way with
#     every rule kept is accepted, so each refusal is the rule's and not the forging's.
#   - a user name locked out by wrong passwords gets 429 with Retry-After (whole seconds) on
#     the sign-in page and on the device verification page.
# Environment: FOGKEEP_DIRECTOR is fogkeep-director ($1 is fogkeep). sqlite3 (for the store
# checks: expired device code, tokens signed with the director's key) is optional; without it
# those checks are skipped and say so.
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
for tool in jq curl openssl basenc od; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool"; exit 77; }
done
have_sqlite=1
command -v sqlite3 >/dev/null || have_sqlite=0

director_pid=
other_pid=
jku_pid=
cleanup() {
  set +e
  local pid
  for pid in "$jku_pid" "$other_pid" "$director_pid"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

ok() { echo "ok - $*"; pass; }
skip_check() { echo "skip - $*"; }

# --- encoding and JWS ------------------------------------------------------------------------
b64u() { basenc --base64url -w0 | tr -d '='; }
unb64u() {
  local s=$1
  case $((${#s} % 4)) in 2) s+='==' ;; 3) s+='=' ;; esac
  printf '%s' "$s" | basenc --base64url -d
}
hex() { od -An -v -tx1 | tr -d ' \n'; }
unhex() { printf '%b' "$(sed 's/../\\x&/g' <<<"$1")"; }
urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

# es256 KEY_PEM INPUT: the JWS signature of INPUT, raw r || s (RFC 7518 3.4), base64url.
es256() {
  local i out=
  printf '%s' "$2" | openssl dgst -sha256 -sign "$1" -binary >"$WORK/sig.der"
  for i in $(openssl asn1parse -inform DER -in "$WORK/sig.der" | sed -n 's/.*INTEGER *://p'); do
    i=$(sed 's/^0*//' <<<"$i")
    while [ ${#i} -lt 64 ]; do i=0$i; done
    out+=$i
  done
  unhex "$out" | b64u
}

# jws HEADER_JSON CLAIMS_JSON SIGNER: a compact JWS. SIGNER: none, es256:KEY_PEM,
# rs256:KEY_PEM, or hs256:SECRET_FILE (the file's bytes are the HMAC key).
jws() {
  local input
  input=$(printf '%s' "$1" | b64u).$(printf '%s' "$2" | b64u)
  case $3 in
    none) printf '%s.' "$input" ;;
    es256:*) printf '%s.%s' "$input" "$(es256 "${3#es256:}" "$input")" ;;
    rs256:*) printf '%s.%s' "$input" \
               "$(printf '%s' "$input" | openssl dgst -sha256 -sign "${3#rs256:}" -binary | b64u)" ;;
    hs256:*) printf '%s.%s' "$input" "$(printf '%s' "$input" |
               openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hex <"${3#hs256:}")" -binary | b64u)" ;;
    *) fail "jws: unknown signer $3" ;;
  esac
}

# jwk_of KEY_PEM KID: the public JWK (ES256) of an EC P-256 private key.
jwk_of() {
  local xy
  xy=$(openssl pkey -in "$1" -pubout -outform DER | tail -c 64 | hex)
  jq -cn --arg kid "$2" --arg x "$(unhex "${xy:0:64}" | b64u)" --arg y "$(unhex "${xy:64}" | b64u)" \
    '{kty: "EC", crv: "P-256", x: $x, y: $y, kid: $kid, alg: "ES256", use: "sig"}'
}

# --- HTTP --------------------------------------------------------------------------------------
# fetch METHOD PATH [CURL ARGS...]: a request to the director; STATUS, $WORK/body, $WORK/hdr.
fetch() {
  local method=$1 path=$2
  shift 2
  STATUS=$(curl -s -X "$method" -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' --cacert "$CA" \
    "$@" "$URL$path")
}
# header NAME: the first value of that response header ("" when absent).
header() { tr -d '\r' <"$WORK/hdr" | { grep -i "^$1:" || true; } | head -1 | sed 's/^[^:]*: *//'; }
has_header() { tr -d '\r' <"$WORK/hdr" | grep -qi "^$1:"; }
body_error() { jq -r '.error // empty' "$WORK/body" 2>/dev/null || true; }

# query KEY=VALUE...: a percent-encoded query string.
query() {
  local out='' kv
  for kv in "$@"; do
    out+=${out:+&}${kv%%=*}=$(jq -rn --arg v "${kv#*=}" '$v | @uri')
  done
  printf '%s' "$out"
}
# qparam URL NAME: the decoded value of NAME in URL's query ("" when absent).
qparam() {
  local q=${1#*\?} kv
  q=${q%%#*}
  IFS='&' read -ra kvs <<<"$q"
  for kv in "${kvs[@]}"; do
    [ "${kv%%=*}" = "$2" ] && { urldecode "${kv#*=}"; return 0; }
  done
  return 0
}

# form PATH CSRF_COOKIE FIELD=VALUE...: POST a form, with the CSRF cookie unless it is "".
form() {
  local path=$1 cookie=$2 args=() f
  shift 2
  for f in "$@"; do args+=(--data-urlencode "$f"); done
  fetch POST "$path" ${cookie:+-H "Cookie: __Host-fogkeep-oauth=$cookie"} "${args[@]}"
}
csrf_cookie() { header Set-Cookie | sed -n 's/^__Host-fogkeep-oauth=\([^;]*\).*/\1/p'; }
hidden() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" "$WORK/body"; }

# token AUTH FIELD=VALUE...: POST /oauth2/token with HTTP Basic AUTH ("id:secret", or "" for
# none); the answer in STATUS and $WORK/body.
token() {
  local auth=$1 args=() f
  shift
  for f in "$@"; do args+=(--data-urlencode "$f"); done
  fetch POST /oauth2/token ${auth:+-u "$auth"} "${args[@]}"
}
expect_oauth_error() {  # DESC STATUS ERROR
  [ "$STATUS" = "$2" ] && [ "$(body_error)" = "$3" ] ||
    { cat "$WORK/body" >&2; fail "$1: expected $2 $3, got $STATUS $(body_error)"; }
}
# api TOKEN: the status of GET /api/v1/devices with TOKEN as bearer.
api() {
  curl -s -o "$WORK/api.out" -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $1" \
    "$URL/api/v1/devices"
}
expect_api() {  # DESC STATUS TOKEN
  local got
  got=$(api "$3")
  [ "$got" = "$2" ] || { cat "$WORK/api.out" >&2; fail "$1: the director API answered $got, not $2"; }
  ok "$1: GET /api/v1/devices $2"
}

new_pkce() {
  VERIFIER=$(openssl rand 48 | b64u)
  CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64u)
}

# ---- the director, a user, clients ------------------------------------------------------------
# A user name is locked out at its second failure (the default waits for the tenth, with
# growing delays between): the sign-in pages' lockout is checked below with a user no other
# check signs in as.
LOCKOUT_SECONDS=900
printf 'auth:\n  lockout:\n    user: {free-failures: 1, lockout-failures: 2, lockout-seconds: %s}\n' \
  "$LOCKOUT_SECONDS" >"$WORK/director.yaml"
DDATA=$WORK/director
start_director "$DDATA" --config "$WORK/director.yaml"
fetch GET /.well-known/oauth-authorization-server
ISSUER=$(jq -r .issuer "$WORK/body")
[ "$ISSUER" = "https://localhost:$DPORT" ] || fail "unexpected issuer '$ISSUER'"
USER_NAME=mallory-target
PASSWORD='http test password 5'
printf '%s\n' "$PASSWORD" >"$WORK/password"
expect_ok "user add" "$DIRECTOR" user add "$USER_NAME" --role app-manager --password-stdin \
  --data-dir "$DDATA" <"$WORK/password"
ADMIN=$("$DIRECTOR" --data-dir "$DDATA" token create --role admin 2>/dev/null)
[ -n "$ADMIN" ] || fail "token create printed no token"

REDIRECT=https://client.example/cb
WEB_SECRET=$(register_oauth_client "$ADMIN" '{"client_id":"web","type":"confidential",
  "redirect_uris":["'"$REDIRECT"'"],"grant_types":["authorization_code","refresh_token"],
  "scopes":["devices.read","deployments.read"]}')
SVC_SECRET=$(register_oauth_client "$ADMIN" '{"client_id":"svc","type":"confidential",
  "grant_types":["client_credentials"],"scopes":["devices.read"],"role":"auditor"}')
register_oauth_client "$ADMIN" '{"client_id":"tv","type":"public",
  "grant_types":["urn:ietf:params:oauth:grant-type:device_code"],"scopes":["devices.read"]}' >/dev/null
WEB=web:$WEB_SECRET
SVC=svc:$SVC_SECRET

# The authorization request of client web, as KEY=VALUE words (STATE and CHALLENGE set).
request_params() {
  printf '%s\n' response_type=code client_id=web "redirect_uri=$REDIRECT" \
    "scope=devices.read deployments.read" "state=$STATE" "code_challenge=$CHALLENGE" \
    code_challenge_method=S256
}

# get_code: a fresh authorization of client web through the sign-in and consent forms; sets
# CODE, VERIFIER and STATE.
get_code() {
  local params csrf ticket location
  new_pkce
  STATE=$(openssl rand -hex 8)
  mapfile -t params < <(request_params)
  fetch GET "/oauth2/authorize?$(query "${params[@]}")"
  [ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "authorization page: $STATUS"; }
  csrf=$(csrf_cookie)
  [ -n "$csrf" ] && [ "$(hidden fk_csrf)" = "$csrf" ] || fail "no CSRF cookie, or the form's differs"
  form /oauth2/authorize "$csrf" "${params[@]}" fk_step=login "fk_csrf=$csrf" \
    "fk_user=$USER_NAME" "fk_password=$PASSWORD"
  [ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "sign-in: $STATUS"; }
  ticket=$(hidden fk_ticket)
  [ -n "$ticket" ] || fail "the consent page has no ticket"
  form /oauth2/authorize "$csrf" "${params[@]}" fk_step=consent "fk_csrf=$csrf" \
    "fk_ticket=$ticket" fk_decision=approve
  location=$(header Location)
  [ "$STATUS" = 303 ] && [[ $location == "$REDIRECT?"* ]] ||
    { cat "$WORK/body" >&2; fail "consent: $STATUS to '$location'"; }
  [ "$(qparam "$location" state)" = "$STATE" ] || fail "the callback's state differs"
  [ "$(qparam "$location" iss)" = "$ISSUER" ] || fail "the callback's iss is not $ISSUER"
  CODE=$(qparam "$location" code)
  [ -n "$CODE" ] || fail "no code in $location"
}

# ---- the authorization page: no framing, no caching, no CORS ----------------------------------
new_pkce
STATE=s1
mapfile -t PARAMS < <(request_params)
fetch GET "/oauth2/authorize?$(query "${PARAMS[@]}")" -H 'Origin: https://evil.example'
[ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "authorization page: $STATUS"; }
[[ $(header Content-Security-Policy) == *"frame-ancestors 'none'"* ]] ||
  fail "Content-Security-Policy '$(header Content-Security-Policy)' lacks frame-ancestors 'none'"
ok "authorize page: Content-Security-Policy with frame-ancestors 'none'"
[ "$(header X-Frame-Options)" = DENY ] || fail "X-Frame-Options is '$(header X-Frame-Options)'"
ok "authorize page: X-Frame-Options: DENY"
[[ $(header Cache-Control) == *no-store* ]] || fail "Cache-Control is '$(header Cache-Control)'"
ok "authorize page: Cache-Control: no-store"
! has_header Access-Control-Allow-Origin && ! has_header Access-Control-Allow-Credentials ||
  fail "the authorize page answers an Origin with CORS headers"
ok "authorize page: no Access-Control-Allow-Origin for Origin: https://evil.example"
fetch OPTIONS "/oauth2/authorize" -H 'Origin: https://evil.example' \
  -H 'Access-Control-Request-Method: POST'
! has_header Access-Control-Allow-Origin || fail "a preflight to /oauth2/authorize is allowed"
ok "authorize preflight (OPTIONS, Origin): no Access-Control-Allow-Origin ($STATUS)"
fetch GET "/oauth2/authorize?$(query "${PARAMS[@]}")"
cookie=$(header Set-Cookie)
for attribute in Secure HttpOnly SameSite=Strict Path=/; do
  [[ $cookie == *"; $attribute"* ]] || fail "the CSRF cookie lacks $attribute: $cookie"
done
ok "the CSRF cookie is __Host-, Secure, HttpOnly, SameSite=Strict"

# ---- redirect URIs: an error page, never a redirect -------------------------------------------
for bad in "$REDIRECT?x=1" "$REDIRECT&x=1" https://client.example/other http://client.example/cb \
  "$REDIRECT/" https://client.example.evil.example/cb https://evil.example/cb "$REDIRECT#f" \
  HTTPS://client.example/cb; do
  fetch GET "/oauth2/authorize?$(query response_type=code client_id=web "redirect_uri=$bad" \
    scope=devices.read state=s "code_challenge=$CHALLENGE" code_challenge_method=S256)"
  [ "$STATUS" = 400 ] && ! has_header Location ||
    fail "redirect_uri $bad: expected a 400 page without Location, got $STATUS to '$(header Location)'"
  [[ $(header Content-Type) == text/html* ]] || fail "redirect_uri $bad: not an HTML page"
  ok "redirect_uri $bad: 400 error page, no Location"
done
fetch GET "/oauth2/authorize?$(query response_type=code client_id=web scope=devices.read \
  "code_challenge=$CHALLENGE" code_challenge_method=S256)"
[ "$STATUS" = 400 ] && ! has_header Location || fail "no redirect_uri: $STATUS"
ok "no redirect_uri: 400 error page, no Location"
fetch GET "/oauth2/authorize?$(query response_type=code client_id=nobody "redirect_uri=$REDIRECT" \
  scope=devices.read "code_challenge=$CHALLENGE" code_challenge_method=S256)"
[ "$STATUS" = 400 ] && ! has_header Location || fail "unknown client: $STATUS"
ok "unknown client_id: 400 error page, no Location"
form /oauth2/authorize "" response_type=code client_id=web "redirect_uri=$REDIRECT?x=1" \
  scope=devices.read "code_challenge=$CHALLENGE" code_challenge_method=S256 fk_step=login
[ "$STATUS" = 400 ] && ! has_header Location || fail "POST with a bad redirect_uri: $STATUS"
ok "POST /oauth2/authorize with an added query on redirect_uri: 400 page, no Location"

# ---- PKCE is required, S256 only: sent back with invalid_request -------------------------------
expect_pkce_refused() {  # DESC PARAMS...
  local desc=$1 location
  shift
  fetch GET "/oauth2/authorize?$(query response_type=code client_id=web "redirect_uri=$REDIRECT" \
    scope=devices.read state=pkce-state "$@")"
  location=$(header Location)
  [ "$STATUS" = 303 ] && [[ $location == "$REDIRECT?"* ]] || fail "$desc: $STATUS to '$location'"
  [ "$(qparam "$location" error)" = invalid_request ] && [ "$(qparam "$location" state)" = pkce-state ] &&
    [ "$(qparam "$location" iss)" = "$ISSUER" ] && [ -z "$(qparam "$location" code)" ] ||
    fail "$desc: redirected to $location"
  ok "$desc: 303 to the client with error=invalid_request, state and iss, no code"
}
expect_pkce_refused "no code_challenge" code_challenge_method=S256
expect_pkce_refused "code_challenge_method plain" "code_challenge=$VERIFIER" code_challenge_method=plain
expect_pkce_refused "no code_challenge_method" "code_challenge=$CHALLENGE"

# ---- CSRF: the form must echo the cookie ------------------------------------------------------
form /oauth2/authorize "" "${PARAMS[@]}" fk_step=login fk_csrf=guess "fk_user=$USER_NAME" \
  "fk_password=$PASSWORD"
[ "$STATUS" = 403 ] && ! has_header Location && [[ $(header Content-Type) == text/html* ]] ||
  fail "sign-in without the CSRF cookie: $STATUS"
ok "sign-in POST without the CSRF cookie: 403 page"
form /oauth2/authorize other-cookie "${PARAMS[@]}" fk_step=login fk_csrf=guess \
  "fk_user=$USER_NAME" "fk_password=$PASSWORD"
[ "$STATUS" = 403 ] || fail "sign-in with a CSRF field that differs from the cookie: $STATUS"
ok "sign-in POST with fk_csrf differing from the cookie: 403 page"
form /oauth2/authorize "" "${PARAMS[@]}" fk_step=consent fk_csrf=x fk_ticket=x fk_decision=approve
[ "$STATUS" = 403 ] && ! has_header Location || fail "consent without the CSRF cookie: $STATUS"
ok "consent POST without the CSRF cookie: 403 page, no redirect"

# ---- codes: single use, bound to their verifier -----------------------------------------------
get_code
token "$WEB" grant_type=authorization_code "code=$CODE" "redirect_uri=$REDIRECT" \
  "code_verifier=$VERIFIER"
[ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "code exchange: $STATUS"; }
[ "$(header Cache-Control)" = no-store ] || fail "the token answer is cacheable"
FIRST_ACCESS=$(jq -r .access_token "$WORK/body")
ok "authorization code + PKCE S256 through the forms: tokens, Cache-Control: no-store"
expect_api "the access token of that code" 200 "$FIRST_ACCESS"
token "$WEB" grant_type=authorization_code "code=$CODE" "redirect_uri=$REDIRECT" \
  "code_verifier=$VERIFIER"
expect_oauth_error "the code used twice" 400 invalid_grant
ok "the same code again: 400 invalid_grant"
expect_api "the access token of the first use, after the code's reuse" 401 "$FIRST_ACCESS"

get_code
token "$WEB" grant_type=authorization_code "code=$CODE" "redirect_uri=$REDIRECT"
expect_oauth_error "no code_verifier" 400 invalid_grant
ok "code without code_verifier: 400 invalid_grant"
token "$WEB" grant_type=authorization_code "code=$CODE" "redirect_uri=$REDIRECT" \
  "code_verifier=$VERIFIER"
expect_oauth_error "the right verifier after a refused try" 400 invalid_grant
ok "that code afterwards, with its right verifier: 400 invalid_grant (a refused try spends it)"
get_code
new_pkce
token "$WEB" grant_type=authorization_code "code=$CODE" "redirect_uri=$REDIRECT" \
  "code_verifier=$VERIFIER"
expect_oauth_error "a wrong code_verifier" 400 invalid_grant
ok "code with a wrong code_verifier: 400 invalid_grant"
get_code
token "$WEB" grant_type=authorization_code "code=$CODE" "redirect_uri=$REDIRECT/other" \
  "code_verifier=$VERIFIER"
expect_oauth_error "another redirect_uri at the token endpoint" 400 invalid_grant
ok "code with another redirect_uri at the token endpoint: 400 invalid_grant"

# ---- client authentication -------------------------------------------------------------------
expect_invalid_client() {  # DESC AUTH FIELDS...
  local desc=$1 auth=$2
  shift 2
  token "$auth" grant_type=client_credentials "$@"
  expect_oauth_error "$desc" 401 invalid_client
  [[ $(header WWW-Authenticate) == Basic* ]] || fail "$desc: no WWW-Authenticate: Basic"
  ok "$desc: 401 invalid_client with WWW-Authenticate: $(header WWW-Authenticate)"
}
expect_invalid_client "wrong client secret" "svc:${SVC_SECRET}x"
wrong_secret_body=$(cat "$WORK/body")
expect_invalid_client "unknown client" "nobody:$SVC_SECRET"
[ "$(cat "$WORK/body")" = "$wrong_secret_body" ] || fail "an unknown client is answered differently"
ok "an unknown client gets the same answer as a wrong secret"
expect_invalid_client "confidential client without its secret" "" client_id=svc
expect_invalid_client "client_secret_post" "" client_id=svc "client_secret=$SVC_SECRET"
expect_invalid_client "a public client presenting a secret" "tv:anything"

# ---- device authorization grant (RFC 8628) ----------------------------------------------------
device_start() {
  fetch POST /oauth2/device_authorization --data-urlencode client_id=tv \
    --data-urlencode scope=devices.read
  [ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "device authorization: $STATUS"; }
  DEVICE_CODE=$(jq -r .device_code "$WORK/body")
  USER_CODE=$(jq -r .user_code "$WORK/body")
}
device_poll() {
  token "" grant_type=urn:ietf:params:oauth:grant-type:device_code "device_code=$DEVICE_CODE" \
    client_id=tv
}
device_start
[ "$(jq -r .interval "$WORK/body")" -ge 1 ] &&
  [ "$(jq -r .verification_uri "$WORK/body")" = "$ISSUER/oauth2/device" ] ||
  fail "device authorization answer: $(cat "$WORK/body")"
device_poll
expect_oauth_error "first poll" 400 authorization_pending
ok "device grant, first poll: authorization_pending"
device_poll
expect_oauth_error "second poll at once" 400 slow_down
ok "device grant, a poll faster than the interval: slow_down"
if [ "$have_sqlite" = 1 ]; then
  # The director has no setting for the device code's lifetime (10 min): the test ages it in
  # the store instead of waiting.
  digest=$(printf '%s' "$DEVICE_CODE" | openssl dgst -sha256 -r | cut -d' ' -f1)
  [ "$(sqlite3 -cmd '.timeout 10000' "$DDATA/fleet.db" "UPDATE oauth_device_authorizations
      SET expires_at = strftime('%s','now') - 1 WHERE device_code_digest = '$digest';
      SELECT changes();")" = 1 ] || fail "the device authorization is not in the store"
  device_poll
  expect_oauth_error "expired device code" 400 expired_token
  ok "device grant, a device code past its lifetime (aged in the store): expired_token"
else
  skip_check "expired_token: needs sqlite3 to age the device code (the director has no lifetime setting)"
fi
device_start
fetch GET "/oauth2/device?user_code=$USER_CODE"
csrf=$(csrf_cookie)
[ "$STATUS" = 200 ] && [ -n "$csrf" ] || fail "verification page: $STATUS"
form /oauth2/device "$csrf" fk_step=login "fk_csrf=$csrf" "user_code=$USER_CODE" \
  "fk_user=$USER_NAME" "fk_password=$PASSWORD"
ticket=$(hidden fk_ticket)
[ "$STATUS" = 200 ] && [ -n "$ticket" ] || { cat "$WORK/body" >&2; fail "device sign-in: $STATUS"; }
form /oauth2/device "" fk_step=consent fk_csrf=x "fk_ticket=$ticket" "user_code=$USER_CODE" \
  fk_decision=approve
[ "$STATUS" = 403 ] || fail "device approval without the CSRF cookie: $STATUS"
ok "device approval without the CSRF cookie: 403 page"
form /oauth2/device "$csrf" fk_step=consent "fk_csrf=$csrf" "fk_ticket=$ticket" \
  "user_code=$USER_CODE" fk_decision=approve
[ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "device approval: $STATUS"; }
device_poll
[ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "device poll after approval: $STATUS"; }
ok "device grant approved on the verification page: the next poll gets tokens"
expect_api "the device grant's access token" 200 "$(jq -r .access_token "$WORK/body")"
device_poll
expect_oauth_error "a redeemed device code" 400 invalid_grant
ok "device grant, the redeemed device code polled again: invalid_grant"

# ---- forged and foreign access tokens at the director's API -----------------------------------
token "$SVC" grant_type=client_credentials scope=devices.read
[ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "client credentials: $STATUS"; }
REAL=$(jq -r .access_token "$WORK/body")
expect_api "a genuine client-credentials token (control)" 200 "$REAL"
REAL_HEADER=$(unb64u "$(cut -d. -f1 <<<"$REAL")")
CLAIMS=$(unb64u "$(cut -d. -f2 <<<"$REAL")")
KID=$(jq -r .kid <<<"$REAL_HEADER")
[ "$(jq -r .alg <<<"$REAL_HEADER")" = ES256 ] && [ "$(jq -r .typ <<<"$REAL_HEADER")" = at+jwt ] ||
  fail "unexpected header $REAL_HEADER"
fetch GET /oauth2/jwks
JWK=$(jq -c --arg kid "$KID" '.keys[] | select(.kid == $kid)' "$WORK/body")
[ -n "$JWK" ] || fail "kid $KID is not in the JWK Set"
# The director's public key as PEM, from its JWK (what an attacker has).
{ printf '3059301306072a8648ce3d020106082a8648ce3d030107034200'; printf '04'
  unb64u "$(jq -r .x <<<"$JWK")" | hex; unb64u "$(jq -r .y <<<"$JWK")" | hex; } >"$WORK/pub.hex"
unhex "$(cat "$WORK/pub.hex")" >"$WORK/pub.der"
openssl pkey -pubin -inform DER -in "$WORK/pub.der" -out "$WORK/pub.pem"
printf '%s' "$JWK" >"$WORK/jwk.json"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/attacker.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/attacker-rsa.pem" 2>/dev/null
ATTACKER_JWK=$(jwk_of "$WORK/attacker.pem" attacker-key)
h() { jq -cn "$@"; }  # a header from jq arguments

expect_api "alg none, the real kid, no signature" 401 \
  "$(jws "$(h --arg k "$KID" '{alg: "none", typ: "at+jwt", kid: $k}')" "$CLAIMS" none)"
expect_api "alg none, no kid" 401 "$(jws '{"alg":"none","typ":"at+jwt"}' "$CLAIMS" none)"
expect_api "HS256 keyed with the director's public key as PEM" 401 \
  "$(jws "$(h --arg k "$KID" '{alg: "HS256", typ: "at+jwt", kid: $k}')" "$CLAIMS" "hs256:$WORK/pub.pem")"
expect_api "HS256 keyed with the director's JWK text" 401 \
  "$(jws "$(h --arg k "$KID" '{alg: "HS256", typ: "at+jwt", kid: $k}')" "$CLAIMS" "hs256:$WORK/jwk.json")"
expect_api "RS256 with an attacker's RSA key, the real kid" 401 \
  "$(jws "$(h --arg k "$KID" '{alg: "RS256", typ: "at+jwt", kid: $k}')" "$CLAIMS" \
    "rs256:$WORK/attacker-rsa.pem")"
expect_api "ES256 with an unknown kid" 401 \
  "$(jws '{"alg":"ES256","typ":"at+jwt","kid":"attacker-key"}' "$CLAIMS" "es256:$WORK/attacker.pem")"
expect_api "ES256, the real kid, an attacker's signature" 401 \
  "$(jws "$(h --arg k "$KID" '{alg: "ES256", typ: "at+jwt", kid: $k}')" "$CLAIMS" "es256:$WORK/attacker.pem")"
expect_api "the real header and claims with a signature of other bytes" 401 \
  "$(cut -d. -f1,2 <<<"$REAL").$(cut -d. -f3 <<<"$(jws "$REAL_HEADER" '{"x":1}' "es256:$WORK/attacker.pem")")"
expect_api "an embedded jwk header with the attacker's key" 401 \
  "$(jws "$(h --argjson j "$ATTACKER_JWK" '{alg: "ES256", typ: "at+jwt", kid: "attacker-key", jwk: $j}')" \
    "$CLAIMS" "es256:$WORK/attacker.pem")"

# jku: the attacker's JWK Set on a TLS server that accepts two connections, one of them ours.
mkdir -p "$WORK/jku"
jq -cn --argjson j "$ATTACKER_JWK" '{keys: [$j]}' >"$WORK/jku/jwks.json"
openssl req -x509 -new -key "$WORK/attacker.pem" -subj /CN=127.0.0.1 -days 1 \
  -addext subjectAltName=IP:127.0.0.1 -out "$WORK/attacker.crt" 2>/dev/null
(cd "$WORK/jku" && exec openssl s_server -accept 127.0.0.1:0 -cert "$WORK/attacker.crt" \
  -key "$WORK/attacker.pem" -WWW -naccept 2 >"$WORK/jku.log" 2>&1) &
jku_pid=$!
jku_port=
for _ in $(seq 50); do
  jku_port=$(sed -n 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/jku.log")
  [ -n "$jku_port" ] && break
  sleep 0.1
done
[ -n "$jku_port" ] || fail "the attacker's JWK Set server did not start: $(cat "$WORK/jku.log")"
JKU=https://127.0.0.1:$jku_port/jwks.json
curl -sf --cacert "$WORK/attacker.crt" "$JKU" | jq -e '.keys[0].kid == "attacker-key"' >/dev/null ||
  fail "the attacker's JWK Set is not served"
expect_api "jku naming the attacker's JWK Set, the attacker's kid" 401 \
  "$(jws "$(h --arg u "$JKU" '{alg: "ES256", typ: "at+jwt", kid: "attacker-key", jku: $u}')" \
    "$CLAIMS" "es256:$WORK/attacker.pem")"
expect_api "jku naming the attacker's JWK Set, the real kid" 401 \
  "$(jws "$(h --arg u "$JKU" --arg k "$KID" '{alg: "ES256", typ: "at+jwt", kid: $k, jku: $u}')" \
    "$CLAIMS" "es256:$WORK/attacker.pem")"
sleep 0.5
kill -0 "$jku_pid" 2>/dev/null || fail "the director connected to the jku URL"
ok "the director never connected to the jku URL"
kill -TERM "$jku_pid" 2>/dev/null
wait "$jku_pid" 2>/dev/null || true
jku_pid=

token "$SVC" grant_type=client_credentials scope=devices.read resource=urn:fogkeep:node:x
[ "$STATUS" = 200 ] || { cat "$WORK/body" >&2; fail "a token for urn:fogkeep:node:x: $STATUS"; }
NODE_TOKEN=$(jq -r .access_token "$WORK/body")
[ "$(unb64u "$(cut -d. -f2 <<<"$NODE_TOKEN")" | jq -r .aud)" = urn:fogkeep:node:x ] ||
  fail "the node token's aud is not urn:fogkeep:node:x"
expect_api "a genuine token whose aud is urn:fogkeep:node:x" 401 "$NODE_TOKEN"

# A second director, its own fleet and keys, announcing the first one's issuer.
A_PID=$director_pid A_URL=$URL A_CA=$CA A_DPORT=$DPORT
other_data=$WORK/other
DPORT='' start_director "$other_data" --oauth-issuer "$ISSUER"
other_pid=$director_pid
director_pid=$A_PID
O_URL=$URL O_CA=$CA
URL=$A_URL CA=$A_CA DPORT=$A_DPORT
o_admin=$("$DIRECTOR" --data-dir "$other_data" token create --role admin 2>/dev/null)
curl -s -o "$WORK/client.json" --cacert "$O_CA" -H "Authorization: Bearer $o_admin" \
  -H 'Content-Type: application/json' "$O_URL/api/v1/oauth/clients" \
  --data '{"client_id":"svc","type":"confidential","grant_types":["client_credentials"],
           "scopes":["devices.read"],"role":"auditor"}'
o_secret=$(jq -er .client_secret "$WORK/client.json") || fail "client on the second director"
FOREIGN=$(curl -sf --cacert "$O_CA" -u "svc:$o_secret" -d grant_type=client_credentials \
  -d scope=devices.read "$O_URL/oauth2/token" | jq -r .access_token)
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$O_CA" -H "Authorization: Bearer $FOREIGN" \
  "$O_URL/api/v1/devices")" = 200 ] || fail "the second director refuses its own token"
[ "$(unb64u "$(cut -d. -f2 <<<"$FOREIGN")" | jq -r '.iss + " " + .aud')" = "$ISSUER $ISSUER" ] ||
  fail "the second director's token does not claim $ISSUER"
expect_api "a second director's token with the same iss and aud (its own key)" 401 "$FOREIGN"

# Tokens signed with the director's own key, read from its store, each breaking one rule.
if [ "$have_sqlite" = 1 ]; then
  sqlite3 -cmd '.timeout 10000' "$DDATA/fleet.db" \
    "SELECT private_key_pem FROM oauth_signing_keys WHERE state = 'current' AND kid = '$KID'" \
    >"$WORK/director-key.pem"
  [ "$(openssl pkey -in "$WORK/director-key.pem" -pubout)" = "$(cat "$WORK/pub.pem")" ] ||
    fail "the stored key is not the published one"
  now=$(date +%s)
  good_header=$(h --arg k "$KID" '{alg: "ES256", typ: "at+jwt", kid: $k}')
  # claims JQ_FILTER: the genuine claims, fresh (new jti, issued now), changed by the filter.
  claims() {
    jq -c --argjson now "$now" --arg jti "$(openssl rand -hex 16)" \
      ".jti = \$jti | .iat = \$now | .exp = \$now + 300 | $1" <<<"$CLAIMS"
  }
  own() { jws "$1" "$2" "es256:$WORK/director-key.pem"; }
  expect_api "signed with the director's key, every rule kept (control)" 200 \
    "$(own "$good_header" "$(claims .)")"
  expect_api "typ application/at+jwt (RFC 9068 allows it)" 200 \
    "$(own "$(h --arg k "$KID" '{alg: "ES256", typ: "application/at+jwt", kid: $k}')" "$(claims .)")"
  expect_api "no typ" 401 "$(own "$(h --arg k "$KID" '{alg: "ES256", kid: $k}')" "$(claims .)")"
  expect_api "typ JWT" 401 "$(own "$(h --arg k "$KID" '{alg: "ES256", typ: "JWT", kid: $k}')" "$(claims .)")"
  expect_api "no kid" 401 "$(own '{"alg":"ES256","typ":"at+jwt"}' "$(claims .)")"
  expect_api "a crit header" 401 \
    "$(own "$(h --arg k "$KID" '{alg: "ES256", typ: "at+jwt", kid: $k, crit: ["exp"]}')" "$(claims .)")"
  expect_api "alg ES384 with the ES256 key" 401 \
    "$(own "$(h --arg k "$KID" '{alg: "ES384", typ: "at+jwt", kid: $k}')" "$(claims .)")"
  expect_api "expired (exp 2 min ago)" 401 \
    "$(own "$good_header" "$(claims '.iat = $now - 400 | .exp = $now - 120')")"
  expect_api "not yet valid (nbf in 10 min)" 401 "$(own "$good_header" "$(claims '.nbf = $now + 600')")"
  expect_api "issued in the future (iat in 10 min)" 401 \
    "$(own "$good_header" "$(claims '.iat = $now + 600 | .exp = $now + 900')")"
  expect_api "a lifetime of one hour" 401 "$(own "$good_header" "$(claims '.exp = $now + 3600')")"
  expect_api "another iss" 401 "$(own "$good_header" "$(claims '.iss = "https://attacker.example"')")"
  expect_api "iss with a trailing slash" 401 "$(own "$good_header" "$(claims ".iss = \"$ISSUER/\"")")"
  expect_api "aud urn:fogkeep:node:x" 401 "$(own "$good_header" "$(claims '.aud = "urn:fogkeep:node:x"')")"
  expect_api "aud of another director URL" 401 \
    "$(own "$good_header" "$(claims '.aud = "https://127.0.0.1:1"')")"
  expect_api "no aud" 401 "$(own "$good_header" "$(claims 'del(.aud)')")"
  expect_api "no exp" 401 "$(own "$good_header" "$(claims 'del(.exp)')")"
  expect_api "exp as a string" 401 "$(own "$good_header" "$(claims '.exp = (.exp | tostring)')")"
  expect_api "repeated member in the claims (a second iss)" 401 \
    "$(own "$good_header" "$(claims . | sed 's/^{/{"iss":"https:\/\/attacker.example",/')")"
else
  skip_check "tokens signed with the director's own key: needs sqlite3 to read it from the store"
fi

# ---- lockout on the sign-in pages: 429 with Retry-After -----------------------------------------
# expect_retry_after DESC: a 429 whose Retry-After is whole seconds, at most the lockout.
expect_retry_after() {
  local retry
  retry=$(header Retry-After)
  [ "$STATUS" = 429 ] || { cat "$WORK/body" >&2; fail "$1: expected 429, got $STATUS"; }
  [[ $retry =~ ^[1-9][0-9]*$ ]] && [ "$retry" -le "$LOCKOUT_SECONDS" ] ||
    fail "$1: Retry-After is '$retry', not whole seconds from 1 to $LOCKOUT_SECONDS"
  ok "$1: 429 with Retry-After: $retry"
}
new_pkce
STATE=lockout
mapfile -t PARAMS < <(request_params)
fetch GET "/oauth2/authorize?$(query "${PARAMS[@]}")"
csrf=$(csrf_cookie)
[ "$STATUS" = 200 ] && [ -n "$csrf" ] || fail "authorization page: $STATUS"
for attempt in 1 2; do
  form /oauth2/authorize "$csrf" "${PARAMS[@]}" fk_step=login "fk_csrf=$csrf" \
    fk_user=locked-out "fk_password=wrong $attempt"
  [ "$STATUS" = 401 ] && ! has_header Retry-After ||
    fail "wrong password $attempt: expected 401 without Retry-After, got $STATUS"
done
ok "two wrong passwords on the sign-in page: 401 without Retry-After"
form /oauth2/authorize "$csrf" "${PARAMS[@]}" fk_step=login "fk_csrf=$csrf" \
  fk_user=locked-out "fk_password=wrong 3"
expect_retry_after "sign-in page, the user locked out"
fetch GET /oauth2/device
csrf=$(csrf_cookie)
[ "$STATUS" = 200 ] && [ -n "$csrf" ] || fail "verification page: $STATUS"
form /oauth2/device "$csrf" fk_step=login "fk_csrf=$csrf" user_code=WDJBMJHT \
  fk_user=locked-out "fk_password=wrong 4"
expect_retry_after "device verification page, the user locked out"

# Both directors still answer (no crash on any of the above).
fetch GET /oauth2/jwks
[ "$STATUS" = 200 ] || fail "the director stopped answering"
kill -0 "$other_pid" 2>/dev/null || fail "the second director exited"
done_checks
