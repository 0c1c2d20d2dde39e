#!/usr/bin/env bash
# fogkeep-director's OAuth 2.0 authorization server against independent code: the npm packages
# openid-client and jose, at the exact versions of tests/integration/oauth/package-lock.json,
# installed here with `npm ci` into a temporary directory (the registry must be reachable: an
# unreachable one fails the test, it is never skipped). oauth/interop.mjs runs discovery, the
# authorization code grant with PKCE S256 through the director's sign-in and consent forms,
# refresh with rotation and reuse detection, introspection, revocation and client credentials,
# and checks every access token with jose against the JWK Set; see its header.
# Environment: FOGKEEP_DIRECTOR is fogkeep-director ($1 is fogkeep). Needs Node.js >= 20 and npm.
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "needs Node.js >= 20 and npm (openid-client 6 does not run on older Node.js)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "needs Node.js >= 20, found $(node --version)"

director_pid=
cleanup() {
  set +e
  [ -n "$director_pid" ] && kill -TERM "$director_pid" 2>/dev/null && wait "$director_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The packages first: without them nothing below can run.
NODE_DIR=$WORK/node
mkdir -p "$NODE_DIR"
cp "$SRC/tests/integration/oauth/package.json" "$SRC/tests/integration/oauth/package-lock.json" \
  "$SRC/tests/integration/oauth/interop.mjs" "$NODE_DIR/"
# Install scripts off: nothing from the registry runs but the code under test's clients.
(cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier \
  --cache "${FOGKEEP_NPM_CACHE:-$WORK/npm-cache}" >"$WORK/npm.out" 2>&1) ||
  { cat "$WORK/npm.out" >&2; fail "npm ci failed (is the npm registry reachable?)"; }
version_of() { jq -r .version "$NODE_DIR/node_modules/$1/package.json"; }
echo "npm ci: openid-client $(version_of openid-client), jose $(version_of jose)"
pass

DDATA=$WORK/director
start_director "$DDATA"
ISSUER=$(curl -sf --cacert "$CA" "$URL/.well-known/oauth-authorization-server" | jq -r .issuer)
[ "$ISSUER" = "https://localhost:$DPORT" ] || fail "unexpected issuer '$ISSUER'"
pass

USER_NAME=olive
PASSWORD='interop password 3'
printf '%s\n' "$PASSWORD" >"$WORK/password"
expect_ok "user add $USER_NAME" "$DIRECTOR" user add "$USER_NAME" --role app-manager \
  --password-stdin --data-dir "$DDATA" <"$WORK/password"
ADMIN=$("$DIRECTOR" --data-dir "$DDATA" token create --role admin 2>/dev/null)
[ -n "$ADMIN" ] || fail "token create printed no token"

WEB_REDIRECT=https://interop-client.example/callback
WEB_SECRET=$(register_oauth_client "$ADMIN" '{"client_id":"interop-web","name":"Interop web app",
  "type":"confidential","redirect_uris":["'"$WEB_REDIRECT"'"],
  "grant_types":["authorization_code","refresh_token"],
  "scopes":["devices.read","deployments.read"]}')
SVC_SECRET=$(register_oauth_client "$ADMIN" '{"client_id":"interop-svc","name":"Interop service",
  "type":"confidential","grant_types":["client_credentials"],
  "scopes":["devices.read","deployments.read"],"role":"auditor"}')
pass

# The director's certificate names localhost and 127.0.0.1 and is issued by its fleet CA.
NODE_EXTRA_CA_CERTS=$CA FK_ISSUER=$ISSUER FK_USER=$USER_NAME FK_PASSWORD=$PASSWORD \
  FK_WEB_ID=interop-web FK_WEB_SECRET=$WEB_SECRET FK_WEB_REDIRECT=$WEB_REDIRECT \
  FK_SVC_ID=interop-svc FK_SVC_SECRET=$SVC_SECRET \
  node "$NODE_DIR/interop.mjs" || { cat "$DDATA.err" >&2; fail "interop.mjs failed"; }
pass
done_checks
