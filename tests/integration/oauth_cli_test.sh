#!/usr/bin/env bash
# `fogkeep login --director` (OAuth 2.0) against a real fogkeep-director on SQLite, the
# browser's part played by curl on the director's own pages:
#   - the director's issuer must be the --director URL (https://localhost:PORT here, not
#     127.0.0.1); usage errors exit 2;
#   - device grant: the login runs in the background, prints a code; curl signs in on the
#     verification page and approves it; the login ends, the cache file is 0600 and marks the
#     login as OAuth, `fogkeep fleet devices --json` works with the JWT, an expired access
#     token is refreshed with rotation; a network-manager may not manage OAuth clients;
#     `fogkeep fleet logout` revokes the grant (the old refresh token then fails);
#   - an auditor's login with --scope gets only what the role holds; its token is refused a
#     write (403), through fogkeep and through curl;
#   - a denied device code ends the login with exit 1 and a clear message;
#   - browser grant: the printed authorization URL is driven through sign-in and consent, and
#     curl follows the director's 303 to fogkeep's loopback listener; a denial there is exit 1;
#   - an admin creates a confidential client with `fogkeep fleet oauth-clients create`, gets a
#     client_credentials token with curl and HTTP Basic; rotate-secret makes the old secret
#     fail; delete ends the client; `fogkeep logout --director` revokes the admin's login.
#   - `fogkeep-director user set-role|passwd|del`, run while the director runs, revoke the
#     user's grants: the refresh token is invalid_grant, the access token gets 401 from the API
#     and introspects {"active": false}; the user may log in again with the new role.
# Environment: FOGKEEP_DIRECTOR is fogkeep-director ($1 is fogkeep).
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }

# The login cache goes to $HOME/.config/fogkeep; nothing from the caller's environment leaks
# in, and no browser is opened (xdg-open is tried only with a display).
export HOME=$WORK/home
unset XDG_CONFIG_HOME FOGKEEP_TOKEN FOGKEEP_NODE FOGKEEP_DIRECTOR DISPLAY WAYLAND_DISPLAY
mkdir -p "$HOME"
CRED=$HOME/.config/fogkeep/credentials.json
director_pid=
login_pid=
cleanup() {
  set +e
  [ -n "$login_pid" ] && kill "$login_pid" 2>/dev/null && wait "$login_pid" 2>/dev/null
  [ -n "$director_pid" ] && kill -TERM "$director_pid" 2>/dev/null && wait "$director_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

DDATA=$WORK/director
start_director "$DDATA"
# The director's OAuth issuer, the URL to log in with, as it prints it: its first DNS name
# with its port.
OURL=$(sed -n 's|^fogkeep-director: OAuth issuer \(https://[^ ]*\) .*|\1|p' "$DDATA.out" | tail -1)
[ "$OURL" = "https://localhost:$DPORT" ] || fail "the director printed the issuer '$OURL'"

PASSWORD='oauth password 7'
printf '%s\n' "$PASSWORD" >"$WORK/password"
for pair in alice:network-manager audrey:auditor root:admin; do
  expect_ok "user add ${pair%%:*}" "$DIRECTOR" user add "${pair%%:*}" --role "${pair#*:}" \
    --password-stdin --data-dir "$DDATA" <"$WORK/password"
done

JAR=$WORK/cookies
# The hidden fields of the HTML page in file $1, as name=value lines (the director's HTML
# escaping undone).
hidden_fields() {
  grep -o '<input type="hidden" name="[^"]*" value="[^"]*">' "$1" |
    sed 's/<input type="hidden" name="\([^"]*\)" value="\([^"]*\)">/\1=\2/' |
    sed "s/&quot;/\"/g; s/&#39;/'/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\\&/g"
}
# submit URL PAGE OUT [CURL-ARGS...] -- [NAME=VALUE...]: posts the form of the page in file PAGE
# (its hidden fields and the given ones) like a browser with the cookie jar, the answer into
# OUT; prints the HTTP status (of the last answer, when curl follows redirects).
submit() {
  local url=$1 page=$2 out=$3 line
  shift 3
  local curl_args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do curl_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  local form=()
  while IFS= read -r line; do form+=(--data-urlencode "$line"); done < <(hidden_fields "$page")
  for line in "$@"; do form+=(--data-urlencode "$line"); done
  curl -sS --cacert "$CA" -b "$JAR" -c "$JAR" -o "$out" -w '%{http_code}' "${curl_args[@]}" \
    "${form[@]}" "$url"
}
# wait_for FILE PATTERN: waits up to 30 s for a line of FILE matching PATTERN (sed -n's
# address and substitution, printing the match), prints it.
wait_for() {
  local file=$1 script=$2 found
  for _ in $(seq 1 300); do
    found=$(sed -n "$script" "$file" 2>/dev/null | head -1)
    [ -n "$found" ] && { printf '%s\n' "$found"; return 0; }
    kill -0 "$login_pid" 2>/dev/null || { cat "$file" >&2; fail "the login ended early"; }
    sleep 0.1
  done
  cat "$file" >&2
  fail "nothing matched $script in $file"
}
# start_login NAME ARGS...: runs `fogkeep login --director $OURL --ca $CA ARGS...` in the
# background, its output in $WORK/NAME.out and .err.
start_login() {
  local name=$1
  shift
  rm -f "$JAR"
  "$FOGKEEP" login --director "$OURL" --ca "$CA" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  login_pid=$!
}
# finish_login NAME: waits for the background login; sets rc.
finish_login() {
  rc=0
  wait "$login_pid" || rc=$?
  login_pid=
}
# decide_device CODE USER DECISION: signs USER in on the verification page and answers the
# code's request with DECISION (approve or deny), as a browser would.
decide_device() {
  local code=$1 user=$2 decision=$3 status
  status=$(curl -sS --cacert "$CA" -b "$JAR" -c "$JAR" -o "$WORK/page1.html" -w '%{http_code}' \
    "$OURL/oauth2/device")
  [ "$status" = 200 ] || fail "verification page: HTTP $status"
  grep -q 'name="fk_csrf"' "$WORK/page1.html" || fail "verification page: no fk_csrf field"
  status=$(submit "$OURL/oauth2/device" "$WORK/page1.html" "$WORK/page2.html" -- \
    "user_code=$code" "fk_user=$user" "fk_password=$PASSWORD")
  [ "$status" = 200 ] || { cat "$WORK/page2.html" >&2; fail "device sign-in: HTTP $status"; }
  grep -q 'name="fk_ticket"' "$WORK/page2.html" || { cat "$WORK/page2.html" >&2; fail "device sign-in: no consent form"; }
  status=$(submit "$OURL/oauth2/device" "$WORK/page2.html" "$WORK/page3.html" -- \
    "fk_decision=$decision")
  [ "$status" = 200 ] || { cat "$WORK/page3.html" >&2; fail "device consent: HTTP $status"; }
  pass
}
# device_login USER DECISION [ARGS...]: the whole device login of USER in the background
# (with the login's ARGS), decided.
device_login() {
  start_login device "${@:3}"
  CODE=$(wait_for "$WORK/device.err" 's/^and enter the code  *\([A-Z]\{4\}-[A-Z]\{4\}\)$/\1/p')
  grep -q "^  $OURL/oauth2/device\$" "$WORK/device.err" || { cat "$WORK/device.err" >&2; fail "no verification URI"; }
  grep -q "^(or open $OURL/oauth2/device?user_code=$CODE)\$" "$WORK/device.err" ||
    { cat "$WORK/device.err" >&2; fail "no verification_uri_complete"; }
  [ ! -s "$WORK/device.out" ] || fail "the prompts went to stdout"
  pass
  decide_device "$CODE" "$1" "$2"
  finish_login
}
field() { jq -r --arg url "$OURL" ".logins[] | select(.node == \$url) | $1" "$CRED"; }

# ---- the issuer, and usage errors ---------------------------------------------------------
[ "$(curl -sS --cacert "$CA" "$OURL/.well-known/oauth-authorization-server" | jq -r .issuer)" = "$OURL" ] ||
  fail "the director's issuer is not $OURL"
pass
expect_refused "login under another name than the issuer" \
  "the director at $URL names itself $OURL .*--director $OURL" \
  "$FOGKEEP" login --director "$URL" --ca "$CA"
expect_usage() {
  local desc=$1 pattern=$2; shift 2
  local rc=0
  "$FOGKEEP" "$@" >"$WORK/.stdout" 2>"$WORK/.stderr" </dev/null || rc=$?
  [ "$rc" -eq 2 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected exit 2, got $rc"; }
  grep -qE -- "$pattern" "$WORK/.stderr" || { cat "$WORK/.stderr" >&2; fail "$desc: stderr does not match '$pattern'"; }
  pass
}
expect_usage "login to nothing" '--node \(a node\) or --director' login
expect_usage "OAuth with a user" 'without --user or --password-stdin' login --director "$OURL" --user alice
expect_usage "browser without director" '--browser and --scope go with --director' \
  login --node https://127.0.0.1:1 --user alice --browser
expect_usage "node and director" 'exclude each other' login --node https://127.0.0.1:1 --director "$OURL"
expect_usage "unknown grant" 'grant "password" is not one of' \
  fleet oauth-clients create --id x --grant password

# ---- device grant: a network-manager --------------------------------------------------------
device_login alice approve
[ "$rc" = 0 ] || { cat "$WORK/device.err" >&2; fail "device login: exit $rc"; }
grep -qx "logged in to $OURL as alice (role network-manager) through OAuth" "$WORK/device.out" ||
  { cat "$WORK/device.out" >&2; fail "device login: unexpected message"; }
grep -q "Device authorized" "$WORK/page3.html" || fail "the verification page did not confirm"
pass
[ "$(stat -c %a "$CRED")" = 600 ] || fail "credentials.json has mode $(stat -c %a "$CRED")"
[ "$(field .server)" = director ] && [ "$(field .oauth.client_id)" = fogkeep-cli ] &&
  [ "$(field .oauth.token_endpoint)" = "$OURL/oauth2/token" ] &&
  [ "$(field .oauth.revocation_endpoint)" = "$OURL/oauth2/revoke" ] &&
  [ "$(field .user)" = alice ] || { cat "$CRED" >&2; fail "the cached login is not an OAuth one"; }
pass
ACCESS=$(field .access_token)
REFRESH=$(field .refresh_token)
[ "$(tr -cd . <<<"$ACCESS" | wc -c)" = 2 ] || fail "the access token is not a JWT"
if grep -qF -e "$ACCESS" -e "$REFRESH" "$WORK/device.out" "$WORK/device.err"; then
  fail "the login printed a token"
fi
pass

expect_ok "devices with the OAuth login" "$FOGKEEP" fleet devices --json
jq -e '.devices | length == 0' "$WORK/.stdout" >/dev/null || fail "devices --json"
pass
# A network-manager may create enrollment tokens (enroll is in its role and in the token).
expect_ok "a network-manager enrolls" "$FOGKEEP" fleet tokens create --tag plant-a --json
jq -e '.token' "$WORK/.stdout" >/dev/null || fail "tokens create --json"
pass
expect_refused "a network-manager manages OAuth clients" \
  '^fogkeep: list OAuth clients: .*(forbidden|lacks|permission|scope)' "$FOGKEEP" fleet oauth-clients list

# An access token near its end is refreshed at the token endpoint; the rotated refresh token
# replaces the old one in the cache.
jq '.logins[0].access_expires = 1' "$CRED" >"$WORK/cred.json"
cat "$WORK/cred.json" >"$CRED"
expect_ok "devices after the access token expired" "$FOGKEEP" fleet devices --json --director "$OURL"
[ "$(field .refresh_token)" != "$REFRESH" ] && [ "$(field .access_token)" != "$ACCESS" ] ||
  fail "the tokens were not refreshed"
[ "$(field .access_expires)" -gt "$(date +%s)" ] || fail "the refreshed access token has expired"
[ "$(stat -c %a "$CRED")" = 600 ] || fail "the refresh changed the cache's mode"
pass

# `fogkeep fleet logout` revokes the grant: its refresh token no longer works, nor its JWT.
REFRESH=$(field .refresh_token)
ACCESS=$(field .access_token)
expect_ok "fleet logout" "$FOGKEEP" fleet logout
grep -qx "logged out of $OURL" "$WORK/.stdout" || { cat "$WORK/.stdout" >&2; fail "logout: unexpected message"; }
jq -e '.logins | length == 0' "$CRED" >/dev/null || fail "logout left the login cached"
pass
refresh_with() {
  curl -sS --cacert "$CA" -o "$WORK/refresh.json" -w '%{http_code}' \
    --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$1" \
    --data-urlencode client_id=fogkeep-cli "$OURL/oauth2/token"
}
[ "$(refresh_with "$REFRESH")" = 400 ] && [ "$(jq -r .error "$WORK/refresh.json")" = invalid_grant ] ||
  { cat "$WORK/refresh.json" >&2; fail "the revoked refresh token still works"; }
pass
status=$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ACCESS" \
  "$OURL/api/v1/devices")
[ "$status" = 401 ] || fail "the revoked login's access token got HTTP $status"
pass

# ---- an auditor's token may read, not write ----------------------------------------------------
# --scope asks for less; what the role lacks (enroll) is not granted whatever is asked.
device_login audrey approve --scope "devices.read enroll" --json
[ "$rc" = 0 ] || { cat "$WORK/device.err" >&2; fail "auditor login: exit $rc"; }
jq -e --arg url "$OURL" '.director == $url and .user == "audrey" and .role == "auditor" and
  .scope == "devices.read"' "$WORK/device.out" >/dev/null ||
  { cat "$WORK/device.out" >&2; fail "auditor login --json: unexpected answer"; }
pass
expect_ok "an auditor lists devices" "$FOGKEEP" fleet devices --json
expect_refused "an auditor creates an enrollment token" \
  '^fogkeep: create an enrollment token: .*(forbidden|lacks|permission|scope)' \
  "$FOGKEEP" fleet tokens create --tag x
status=$(curl -sS --cacert "$CA" -o "$WORK/write.json" -w '%{http_code}' \
  -H "Authorization: Bearer $(field .access_token)" -H 'Content-Type: application/json' \
  -d '{"tags":["x"],"ttl_seconds":600}' "$OURL/api/v1/enrollment-tokens")
[ "$status" = 403 ] || { cat "$WORK/write.json" >&2; fail "an auditor's write got HTTP $status, not 403"; }
pass

# ---- a denied device code ends the login -------------------------------------------------------
device_login alice deny
[ "$rc" = 1 ] || { cat "$WORK/device.err" >&2; fail "a denied login: exit $rc, not 1"; }
grep -q "Request denied" "$WORK/page3.html" || fail "the verification page did not confirm the denial"
tail -1 "$WORK/device.err" | grep -qx "fogkeep: login denied on the director's verification page (the user denied the request)" ||
  { cat "$WORK/device.err" >&2; fail "a denied login: unexpected message"; }
[ "$(field .user)" = audrey ] || fail "a denied login changed the cached one"
pass

# ---- browser grant: sign-in and consent, then the 303 to fogkeep's loopback listener ----------
# browser_login USER DECISION [ARGS...]: `fogkeep login --browser` with the authorization URL
# it prints driven by curl; the consent's redirect is followed to the listener.
browser_login() {
  local user=$1 decision=$2 status
  shift 2
  start_login browser --browser "$@"
  AUTHZ=$(wait_for "$WORK/browser.err" "s|^  \\($OURL/oauth2/authorize?.*\\)\$|\\1|p")
  grep -q 'redirect_uri=http%3A%2F%2F127.0.0.1%3A[0-9]*%2Fcallback' <<<"$AUTHZ" &&
    grep -q 'code_challenge_method=S256' <<<"$AUTHZ" || fail "the authorization URL: $AUTHZ"
  pass
  status=$(curl -sS --cacert "$CA" -b "$JAR" -c "$JAR" -o "$WORK/auth1.html" -w '%{http_code}' "$AUTHZ")
  [ "$status" = 200 ] || { cat "$WORK/auth1.html" >&2; fail "sign-in page: HTTP $status"; }
  status=$(submit "$OURL/oauth2/authorize" "$WORK/auth1.html" "$WORK/auth2.html" -- \
    "fk_user=$user" "fk_password=$PASSWORD")
  [ "$status" = 200 ] || { cat "$WORK/auth2.html" >&2; fail "sign-in: HTTP $status"; }
  grep -q 'name="fk_ticket"' "$WORK/auth2.html" || { cat "$WORK/auth2.html" >&2; fail "no consent form"; }
  # The director answers 303 to http://127.0.0.1:PORT/callback; curl follows it to fogkeep.
  BROWSER_STATUS=$(submit "$OURL/oauth2/authorize" "$WORK/auth2.html" "$WORK/auth3.html" -L -- \
    "fk_decision=$decision")
  finish_login
}
browser_login root approve --json
[ "$rc" = 0 ] || { cat "$WORK/browser.err" >&2; fail "browser login: exit $rc"; }
[ "$BROWSER_STATUS" = 200 ] && grep -q "Logged in" "$WORK/auth3.html" ||
  { cat "$WORK/auth3.html" >&2; fail "the listener did not answer the browser ($BROWSER_STATUS)"; }
jq -e --arg url "$OURL" '.director == $url and .user == "root" and .role == "admin" and
  .client_id == "fogkeep-cli" and (.scope | contains("oauth-clients.manage"))' "$WORK/browser.out" \
  >/dev/null || { cat "$WORK/browser.out" >&2; fail "browser login --json: unexpected answer"; }
[ "$(field .user)" = root ] && [ "$(field .oauth.client_id)" = fogkeep-cli ] || fail "the browser login is not cached"
pass
expect_ok "devices after the browser login" "$FOGKEEP" fleet devices --json
ADMIN_REFRESH=$(field .refresh_token)

# A denial in the browser: exit 1, one clear line, the cached login untouched.
browser_login alice deny
[ "$rc" = 1 ] || { cat "$WORK/browser.err" >&2; fail "a denied browser login: exit $rc, not 1"; }
[ "$BROWSER_STATUS" = 400 ] && grep -q "Login failed" "$WORK/auth3.html" || fail "the browser was not told"
tail -1 "$WORK/browser.err" | grep -qx "fogkeep: login denied in the browser (the user denied)" ||
  { cat "$WORK/browser.err" >&2; fail "a denied browser login: unexpected message"; }
[ "$(field .refresh_token)" = "$ADMIN_REFRESH" ] || fail "a denied login changed the cached one"
pass

# ---- OAuth clients: an admin's confidential client and its secret ------------------------------
expect_ok "oauth-clients create" "$FOGKEEP" fleet oauth-clients create --id inventory \
  --name "Inventory sync" --grant client_credentials --scope "devices.read catalog.read" \
  --scope alerts.read --role auditor --json
SECRET=$(jq -r .client_secret "$WORK/.stdout")
[ -n "$SECRET" ] && [ "$SECRET" != null ] || fail "create --json: no client_secret"
jq -e '.type == "confidential" and .scopes == ["alerts.read","catalog.read","devices.read"]' \
  "$WORK/.stdout" >/dev/null || { cat "$WORK/.stdout" >&2; fail "create --json: unexpected client"; }
grep -q "shown only now" "$WORK/.stderr" || fail "create --json: no warning about the secret"
pass
expect_refused "oauth-clients create without a role" "needs a role" "$FOGKEEP" fleet \
  oauth-clients create --id roleless --grant client_credentials --scope devices.read
expect_ok "oauth-clients create, human" "$FOGKEEP" fleet oauth-clients create --id reporter \
  --grant client_credentials --scope devices.read --role auditor
grep -q "It is shown only now and cannot be shown again" "$WORK/.stdout" || fail "create: no warning"
pass
expect_ok "oauth-clients list" "$FOGKEEP" fleet oauth-clients list
grep -qE '^inventory +Inventory sync +confidential +client_credentials +3 +auditor +enabled +root ' \
  "$WORK/.stdout" && grep -qE '^fogkeep-cli +fogkeep command line +public ' "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "oauth-clients list: unexpected table"; }
if grep -qF "$SECRET" "$WORK/.stdout"; then fail "the list shows a secret"; fi
pass
expect_ok "oauth-clients show" "$FOGKEEP" fleet oauth-clients show inventory --json
jq -e '.client_id == "inventory" and (has("client_secret") | not)' "$WORK/.stdout" >/dev/null ||
  fail "oauth-clients show --json"
pass

# client_credentials with HTTP Basic: a token for the client itself, with the role's reach.
client_token() {
  curl -sS --cacert "$CA" -o "$WORK/cc.json" -w '%{http_code}' -u "inventory:$1" \
    --data-urlencode grant_type=client_credentials "$OURL/oauth2/token"
}
[ "$(client_token "$SECRET")" = 200 ] || { cat "$WORK/cc.json" >&2; fail "client_credentials refused"; }
CC=$(jq -r .access_token "$WORK/cc.json")
jq -e '.token_type == "Bearer" and (has("refresh_token") | not)' "$WORK/cc.json" >/dev/null ||
  fail "client_credentials: unexpected answer"
pass
expect_ok "devices with the client's token" \
  "$FOGKEEP" fleet devices --json --director "$OURL" --ca "$CA" --token "$CC"
expect_refused "the client's token writes" 'create an enrollment token: .*(forbidden|lacks|permission|scope)' \
  "$FOGKEEP" fleet tokens create --director "$OURL" --ca "$CA" --token "$CC"

expect_ok "rotate-secret" "$FOGKEEP" fleet oauth-clients rotate-secret inventory --json
NEW_SECRET=$(jq -r .client_secret "$WORK/.stdout")
[ -n "$NEW_SECRET" ] && [ "$NEW_SECRET" != "$SECRET" ] || fail "rotate-secret: no new secret"
pass
[ "$(client_token "$SECRET")" = 401 ] && [ "$(jq -r .error "$WORK/cc.json")" = invalid_client ] ||
  { cat "$WORK/cc.json" >&2; fail "the old secret still works"; }
[ "$(client_token "$NEW_SECRET")" = 200 ] || { cat "$WORK/cc.json" >&2; fail "the new secret fails"; }
pass
expect_ok "oauth-clients delete" "$FOGKEEP" fleet oauth-clients delete inventory
[ "$(client_token "$NEW_SECRET")" = 401 ] || fail "a deleted client still gets tokens"
expect_refused "show a deleted client" 'OAuth client inventory: .*no OAuth client' \
  "$FOGKEEP" fleet oauth-clients show inventory

# ---- logout --director revokes the admin's login ----------------------------------------------
expect_ok "logout --director" "$FOGKEEP" logout --director "$OURL"
grep -qx "logged out of $OURL" "$WORK/.stdout" || { cat "$WORK/.stdout" >&2; fail "logout: unexpected message"; }
[ "$(refresh_with "$ADMIN_REFRESH")" = 400 ] || fail "the admin's refresh token survived the logout"
pass
expect_refused "devices after logout" "not logged in to $OURL" \
  "$FOGKEEP" fleet devices --director "$OURL" --ca "$CA"

# ---- a user's role or password changed, or the user removed: their grants end ------------------
# `fogkeep-director user set-role|passwd|del` on the running director's data directory revokes
# the user's OAuth grants: the refresh token is then invalid_grant, and the access token is
# refused by the API and introspects inactive. Each grant is first shown alive (refreshed once,
# accepted, active) so that each refusal is the command's doing.
ADMIN_TOKEN=$("$DIRECTOR" --data-dir "$DDATA" token create --role admin 2>/dev/null)
[ -n "$ADMIN_TOKEN" ] || fail "token create printed no token"
INTROSPECTOR=introspector:$(register_oauth_client "$ADMIN_TOKEN" '{"client_id":"introspector",
  "type":"confidential","grant_types":["client_credentials"],"scopes":["devices.read"],
  "role":"auditor"}')
# introspect TOKEN: the "active" member of the director's introspection answer.
introspect() {
  curl -sS --cacert "$CA" -u "$INTROSPECTOR" --data-urlencode "token=$1" \
    "$OURL/oauth2/introspect" | jq -r .active
}
# api_status TOKEN: the status of GET /api/v1/devices with TOKEN as bearer.
api_status() {
  curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
    "$OURL/api/v1/devices"
}
# live_grant USER: a device login of USER, refreshed once; sets ACCESS and REFRESH to the grant's
# current tokens, checked alive.
live_grant() {
  device_login "$1" approve
  [ "$rc" = 0 ] || { cat "$WORK/device.err" >&2; fail "$1's login: exit $rc"; }
  [ "$(refresh_with "$(field .refresh_token)")" = 200 ] ||
    { cat "$WORK/refresh.json" >&2; fail "$1's refresh token refused before any change"; }
  ACCESS=$(jq -r .access_token "$WORK/refresh.json")
  REFRESH=$(jq -r .refresh_token "$WORK/refresh.json")
  [ "$(api_status "$ACCESS")" = 200 ] || fail "$1's access token refused before any change"
  [ "$(introspect "$ACCESS")" = true ] || fail "$1's access token inactive before any change"
  pass
}
# expect_grant_ended DESC: ACCESS and REFRESH are dead.
expect_grant_ended() {
  local status
  status=$(refresh_with "$REFRESH")
  [ "$status" = 400 ] && [ "$(jq -r .error "$WORK/refresh.json")" = invalid_grant ] ||
    { cat "$WORK/refresh.json" >&2; fail "$1: the refresh token got HTTP $status"; }
  pass
  status=$(api_status "$ACCESS")
  [ "$status" = 401 ] || fail "$1: the access token got HTTP $status from the API"
  pass
  [ "$(introspect "$ACCESS")" = false ] || fail "$1: the access token still introspects active"
  pass
}
for pair in carol:network-manager bob:app-manager; do
  expect_ok "user add ${pair%%:*}" "$DIRECTOR" user add "${pair%%:*}" --role "${pair#*:}" \
    --password-stdin --data-dir "$DDATA" <"$WORK/password"
done

live_grant carol
expect_ok "user set-role" "$DIRECTOR" user set-role carol --role auditor --data-dir "$DDATA"
grep -qx "carol is now auditor; 0 session(s) ended, 1 grant(s) revoked" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "user set-role: unexpected message"; }
pass
expect_grant_ended "after user set-role"
# The user may log in again, with the new role.
live_grant carol
grep -qx "logged in to $OURL as carol (role auditor) through OAuth" "$WORK/device.out" ||
  { cat "$WORK/device.out" >&2; fail "the login after set-role: unexpected message"; }
pass
expect_ok "user passwd" "$DIRECTOR" user passwd carol --password-stdin --data-dir "$DDATA" \
  <"$WORK/password"
grep -qx "password of carol changed; 0 session(s) ended, 1 grant(s) revoked" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "user passwd: unexpected message"; }
pass
expect_grant_ended "after user passwd"

live_grant bob
expect_ok "user del" "$DIRECTOR" user del bob --data-dir "$DDATA"
grep -qx "removed user bob; 0 session(s) ended, 1 grant(s) revoked" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "user del: unexpected message"; }
pass
expect_grant_ended "after user del"

# A director that never ran has granted nothing: the command says so and creates no store.
FRESH=$WORK/fresh-director
expect_ok "user add on a new data directory" "$DIRECTOR" user add dave --role auditor \
  --password-stdin --data-dir "$FRESH" <"$WORK/password"
expect_ok "user del on a new data directory" "$DIRECTOR" user del dave --data-dir "$FRESH"
grep -qx "removed user dave; 0 session(s) ended, 0 grant(s) revoked" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "user del on a new data directory: unexpected message"; }
[ ! -e "$FRESH/fleet.db" ] || fail "user del created the director's store"
pass

done_checks
