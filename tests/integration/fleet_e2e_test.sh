#!/usr/bin/env bash
# The fleet end to end with real binaries: a fogkeep-director on SQLite and two real fogkeepd
# nodes (real runc) enrolled into it. A signed app is uploaded to the catalog (an unsigned one
# is refused), deployed by tag in two waves and RUNNING on both nodes, upgraded, rolled back;
# a version the fleet policy refuses makes the rollout halt at its failure threshold and roll
# back by itself; and a director killed with SIGKILL in the middle of a rollout finishes it
# after a restart. Roles: an app-manager deploys but cannot enroll, a network-manager enrolls
# but cannot deploy. Needs root, runc and busybox-static (exit 77 = skipped).
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
prepare_node_test
director_pid=
node_pids=()
cleanup() {
  set +e
  local i verb
  for i in 1 2; do
    for verb in stop deactivate uninstall; do
      "$FOGKEEP" app "$verb" hello --socket "$WORK/n$i/run/fogkeepd.sock" >/dev/null 2>&1
    done
  done
  for pid in "${node_pids[@]}" $director_pid; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${node_pids[@]}" $director_pid; do wait "$pid" 2>/dev/null; done
  for i in 1 2; do
    runc --root "$WORK/n$i/data/runtime" delete -f hello >/dev/null 2>&1
    for cg in /sys/fs/cgroup/*/fogkeep-fleet-$$-$i/hello /sys/fs/cgroup/*/fogkeep-fleet-$$-$i \
      /sys/fs/cgroup/fogkeep-fleet-$$-$i/hello /sys/fs/cgroup/fogkeep-fleet-$$-$i; do
      [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# ---- three signed versions of the hello sample; from 2.0.0 it asks for an OAuth client of its
# own (IOx's access-control: oauth2), and 3.0.0 also for a capability -------------------------
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
"$SRC/examples/hello/make-rootfs.sh" hello >/dev/null
for v in 1.0.0 2.0.0 3.0.0; do
  sed -i "s/^  version: .*/  version: \"$v\"/" hello/package.yaml
  if [ "$v" = 2.0.0 ]; then
    printf '  access-control:\n    type: oauth2\n    scopes: [platform.read, apps.read]\n' \
      >>hello/package.yaml
  fi
  if [ "$v" = 3.0.0 ]; then
    printf '  security:\n    capabilities: [CAP_NET_ADMIN]\n' >>hello/package.yaml
  fi
  expect_ok "build $v" "$FOGKEEP" package build hello -o "hello-$v-unsigned.tar"
  expect_ok "sign $v" "$FOGKEEP" package sign "hello-$v-unsigned.tar" --key pki/signer.key \
    --cert pki/signer.pem -o "hello-$v.tar"
done

# ---- the director ----------------------------------------------------------------------------
# Node certificates live two minutes here, so that the nodes renew theirs during the test.
printf 'node-certificate-lifetime: 120s\n' >"$WORK/director.yaml"
start_director "$WORK/director" --config "$WORK/director.yaml"
NM=$("$DIRECTOR" --data-dir "$WORK/director" token create --role network-manager 2>/dev/null)
AM=$("$DIRECTOR" --data-dir "$WORK/director" token create --role app-manager 2>/dev/null)
# call TOKEN METHOD PATH [CURL ARGS...]: prints the status; the body goes to $WORK/body.
call() {
  local token=$1 method=$2 path=$3; shift 3
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$WORK/director/ca/ca.crt" \
    -H "Authorization: Bearer $token" -X "$method" "$@" "$URL$path"
}
json() { call "$1" "$2" "$3" -H 'Content-Type: application/json' --data "$4"; }

ANCHOR=$(jq -Rs . pki/ca.pem)
[ "$(json "$AM" PUT /api/v1/policies/%2A "{\"trust_anchors\":[$ANCHOR]}")" = 403 ] ||
  fail "an app-manager set the fleet policy"; pass
[ "$(json "$NM" PUT /api/v1/policies/%2A "{\"require_signed\":true,\"trust_anchors\":[$ANCHOR]}")" = 200 ] ||
  fail "fleet policy: $(cat "$WORK/body")"; pass

# ---- two nodes, enrolled by a network-manager's tokens -----------------------------------------
[ "$(json "$AM" POST /api/v1/enrollment-tokens '{"tags":["plant-a"]}')" = 403 ] ||
  fail "an app-manager created an enrollment token"; pass
for i in 1 2; do
  [ "$(json "$NM" POST /api/v1/enrollment-tokens '{"tags":["plant-a"]}')" = 201 ] || fail "token $i"
  mkdir -p "$WORK/n$i/run"
  printf 'network:\n  mode: none\n' >"$WORK/n$i/fogkeepd.yaml"
  expect_ok "enroll node $i" "$FOGKEEPD" enroll --data-dir "$WORK/n$i/data" --director "$URL" \
    --token "$(jq -r .token "$WORK/body")" --ca-fingerprint "$FP" --name "node-$i"
  cp "$WORK/n$i/data/director/node.pem" "$WORK/n$i/enrolled.pem"
  "$FOGKEEPD" --config "$WORK/n$i/fogkeepd.yaml" --data-dir "$WORK/n$i/data" --listen 127.0.0.1:0 \
    --socket "$WORK/n$i/run/fogkeepd.sock" --shim "$FOGKEEP_SHIM" --first-slot $((i * 10)) \
    --cgroup-parent "/fogkeep-fleet-$$-$i" >"$WORK/n$i/out" 2>"$WORK/n$i/err" &
  node_pids+=($!)
done
for _ in $(seq 1 200); do
  call "$AM" GET '/api/v1/devices?tag=plant-a' >/dev/null
  [ "$(jq '[.devices[] | select(.last_report_at > 0)] | length' "$WORK/body")" = 2 ] && break
  sleep 0.1
done
[ "$(jq '[.devices[] | select(.last_report_at > 0)] | length' "$WORK/body")" = 2 ] ||
  fail "the nodes did not report: $(cat "$WORK/body") $(cat "$WORK"/n*/err)"; pass

# ---- OAuth: the director's access tokens work on the node they name, offline ------------------
# A service client (client credentials, auditor role) gets a token for node 1 only; node 1
# validates it against the keys its desired state brought (kept in director/oauth.json).
ADMIN=$("$DIRECTOR" --data-dir "$WORK/director" token create --role admin 2>/dev/null)
[ "$(json "$ADMIN" POST /api/v1/oauth/clients '{"client_id":"node-reader","type":"confidential","grant_types":["client_credentials"],"scopes":["apps.read","apps.write","platform.read"],"role":"auditor"}')" = 201 ] ||
  fail "create an OAuth client: $(cat "$WORK/body")"
SECRET=$(jq -r .client_secret "$WORK/body")
call "$AM" GET '/api/v1/devices?tag=plant-a' >/dev/null
ID1=$(jq -r '.devices[] | select(.name == "node-1") | .id' "$WORK/body")
# oauth_token [RESOURCE]: a client-credentials access token (for the director without RESOURCE).
oauth_token() {
  curl -s --cacert "$WORK/director/ca/ca.crt" -u "node-reader:$SECRET" \
    --data-urlencode grant_type=client_credentials ${1:+--data-urlencode "resource=$1"} \
    "$URL/oauth2/token" | jq -r .access_token
}
# node_api NODE TOKEN METHOD PATH: the status of a call to a node's API with a bearer token.
node_api() {
  curl -s -o "$WORK/body" -w '%{http_code}' --unix-socket "$WORK/n$1/run/fogkeepd.sock" \
    -H "Authorization: Bearer $2" -X "$3" "http://localhost$4"
}
for i in 1 2; do
  for _ in $(seq 1 100); do [ -s "$WORK/n$i/data/director/oauth.json" ] && break; sleep 0.1; done
  [ "$(stat -c %a "$WORK/n$i/data/director/oauth.json")" = 600 ] || fail "node $i has no OAuth trust"
done
TOKEN1=$(oauth_token "urn:fogkeep:node:$ID1")
[ "$(node_api 1 "$TOKEN1" GET /api/v1/auth/whoami)" = 200 ] ||
  fail "node 1 refused its token: $(cat "$WORK/body")"
jq -e 'select(.id == "node-reader" and .mechanism == "oauth")' "$WORK/body" >/dev/null ||
  fail "node 1 took the token for $(cat "$WORK/body")"
[ "$(node_api 1 "$TOKEN1" GET /api/v1/apps)" = 200 ] || fail "apps.read refused on node 1"
# apps.write is in the token's scope, but the client's role (auditor) does not hold it.
[ "$(node_api 1 "$TOKEN1" POST /api/v1/apps/hello/stop)" = 403 ] ||
  fail "an auditor's token stopped an app"; pass
[ "$(node_api 2 "$TOKEN1" GET /api/v1/apps)" = 401 ] || fail "node 2 took node 1's token"
[ "$(node_api 1 "$(oauth_token)" GET /api/v1/apps)" = 401 ] ||
  fail "node 1 took a token for the director"
[ "$(node_api 2 "$(oauth_token urn:fogkeep:tag:plant-a)" GET /api/v1/apps)" = 200 ] ||
  fail "node 2 refused a token for its tag"
[ "$(node_api 1 "${TOKEN1%?}x" GET /api/v1/apps)" = 401 ] || fail "a forged signature passed"; pass

# ---- an alert posted on node 1's admin socket reaches the director's fleet view ------------------
ALERT='{"timestamp":"2026-11-26T14:03:07.250113+0000","event_type":"alert","src_ip":"10.9.0.7","src_port":51515,"dest_ip":"10.9.0.2","dest_port":502,"proto":"TCP","alert":{"detector":"modbus-write","signature":"Modbus write from a host not on the allow-list","category":"ics","severity":1}}'
code=$(curl -s -o "$WORK/alert.out" -w '%{http_code}' --unix-socket "$WORK/n1/run/fogkeepd.sock" \
  -H 'Content-Type: application/json' --data "$ALERT" http://localhost/api/v1/alerts)
[ "$code" = 201 ] || fail "post an alert to node 1: $code $(cat "$WORK/alert.out")"; pass
"$FOGKEEP" alerts --socket "$WORK/n1/run/fogkeepd.sock" | grep -q 'modbus-write' ||
  fail "fogkeep alerts does not show the alert"; pass

# ---- the catalog ------------------------------------------------------------------------------
[ "$(call "$AM" POST /api/v1/catalog --data-binary @hello-1.0.0-unsigned.tar)" = 422 ] ||
  fail "an unsigned package entered the catalog: $(cat "$WORK/body")"; pass
[ "$(call "$NM" POST /api/v1/catalog --data-binary @hello-1.0.0.tar)" = 403 ] ||
  fail "a network-manager uploaded a package"; pass
for v in 1.0.0 2.0.0 3.0.0; do
  [ "$(call "$AM" POST /api/v1/catalog --data-binary "@hello-$v.tar")" = 201 ] ||
    fail "upload $v: $(cat "$WORK/body")"
  [ "$(jq -r .sha256 "$WORK/body")" = "$(sha256sum "hello-$v.tar" | cut -d' ' -f1)" ] ||
    fail "catalog sha256 of $v"
done; pass

# ---- deployments --------------------------------------------------------------------------------
# deploy VERSION [ROLLOUT JSON]: prints the new deployment's id.
deploy() {
  local code
  code=$(json "$AM" POST /api/v1/deployments \
    "{\"app\":\"hello\",\"version\":\"$1\",\"tags\":[\"plant-a\"],\"rollout\":${2:-{\}}}")
  [ "$code" = 201 ] || fail "deploy $1: $code $(cat "$WORK/body")"
  jq -r .id "$WORK/body"
}
# wait_state ID STATE: waits (up to 120 s) for the deployment to reach STATE.
wait_state() {
  local state=
  for _ in $(seq 1 1200); do
    call "$AM" GET "/api/v1/deployments/$1" >/dev/null
    state=$(jq -r .state "$WORK/body")
    [ "$state" = "$2" ] && return 0
    sleep 0.1
  done
  cat "$WORK"/n*/err >&2
  fail "deployment $1 is $state, not $2: $(cat "$WORK/body")"
}
# running_on_both VERSION: both nodes run hello at VERSION, as they say themselves.
running_on_both() {
  local i
  for i in 1 2; do
    "$FOGKEEP" app list --json --socket "$WORK/n$i/run/fogkeepd.sock" >"$WORK/apps.json" ||
      fail "app list on node $i"
    jq -e --arg v "$1" '.apps[] | select(.id=="hello" and .version==$v and .state=="RUNNING")' \
      "$WORK/apps.json" >/dev/null || fail "node $i does not run hello $1: $(cat "$WORK/apps.json")"
  done
  pass
}

[ "$(json "$NM" POST /api/v1/deployments '{"app":"hello","version":"1.0.0","tags":["plant-a"]}')" = 403 ] ||
  fail "a network-manager deployed"; pass
D1=$(deploy 1.0.0 '{"wave_size":"1"}')
wait_state "$D1" completed
running_on_both 1.0.0
[ "$(jq .waves "$WORK/body")" = 2 ] || fail "two waves of one device expected"; pass
[ "$(jq '[.targets[] | select(.state=="running")] | length' "$WORK/body")" = 2 ] ||
  fail "targets not running: $(cat "$WORK/body")"; pass

D2=$(deploy 2.0.0)
wait_state "$D2" completed
running_on_both 2.0.0

# ---- 2.0.0 asks for OAuth: each node got it a client of its own, kept in its secure storage --
# (read here through the node's admin API; the app reads the same object on its own socket).
app_client() {
  local i=$1
  for _ in $(seq 1 300); do
    "$FOGKEEP" storage get hello object fogkeep.oauth-client --socket "$WORK/n$i/run/fogkeepd.sock" \
      >"$WORK/client$i.json" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "node $i did not get hello an OAuth client: $(grep -i oauth "$WORK/n$i/err")"
}
app_client 1
app_client 2
ISSUER=$(curl -s --cacert "$WORK/director/ca/ca.crt" "$URL/.well-known/oauth-authorization-server" |
  jq -r .issuer)
jq -e --arg id "app.$ID1.hello" --arg aud "urn:fogkeep:node:$ID1" --arg iss "$ISSUER" '
  select(.client_id == $id and .node_audience == $aud and .issuer == $iss and
         .token_endpoint == $iss + "/oauth2/token" and (.client_secret | length) >= 40 and
         .scopes == ["apps.read", "platform.read"] and .resources == ([$iss, $aud] | sort))' \
  "$WORK/client1.json" >/dev/null || fail "hello's client on node 1: $(cat "$WORK/client1.json")"; pass
[ "$(jq -r .client_id "$WORK/client2.json")" != "app.$ID1.hello" ] || fail "both nodes share a client"
# app_token I [RESOURCE]: what hello on node I gets from the token endpoint with its credentials.
app_token() {
  curl -s -o "$WORK/token.json" -w '%{http_code}' --cacert "$WORK/director/ca/ca.crt" \
    -u "$(jq -r '.client_id + ":" + .client_secret' "$WORK/client$1.json")" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "resource=${2:-$(jq -r .node_audience "$WORK/client$1.json")}" \
    "$(jq -r .token_endpoint "$WORK/client$1.json")"
}
[ "$(app_token 1)" = 200 ] || fail "hello's token on node 1: $(cat "$WORK/token.json")"
APP_TOKEN=$(jq -r .access_token "$WORK/token.json")
[ "$(jq -r .scope "$WORK/token.json")" = "apps.read platform.read" ] || fail "scope: $(cat "$WORK/token.json")"
[ "$(node_api 1 "$APP_TOKEN" GET /api/v1/auth/whoami)" = 200 ] ||
  fail "node 1 refused hello's token: $(cat "$WORK/body")"
jq -e --arg id "app.$ID1.hello" 'select(.id == $id and .mechanism == "oauth")' "$WORK/body" \
  >/dev/null || fail "hello's token on node 1 is $(cat "$WORK/body")"
[ "$(node_api 1 "$APP_TOKEN" GET /api/v1/apps)" = 200 ] || fail "apps.read refused to hello"
[ "$(node_api 1 "$APP_TOKEN" POST /api/v1/apps/hello/stop)" = 403 ] || fail "hello's token stopped an app"
[ "$(node_api 1 "$APP_TOKEN" GET /metrics)" = 403 ] || fail "hello read metrics it did not ask for"
[ "$(node_api 2 "$APP_TOKEN" GET /api/v1/apps)" = 401 ] || fail "node 2 took node 1's app token"; pass
# Its tokens may name its own node and the director, nothing else.
[ "$(app_token 1 "$(jq -r .node_audience "$WORK/client2.json")")" = 400 ] ||
  fail "hello on node 1 got a token for node 2: $(cat "$WORK/token.json")"
jq -e 'select(.error == "invalid_target")' "$WORK/token.json" >/dev/null || fail "$(cat "$WORK/token.json")"
[ "$(app_token 1 "$ISSUER")" = 200 ] || fail "hello's token for the director: $(cat "$WORK/token.json")"
[ "$(call "$(jq -r .access_token "$WORK/token.json")" GET /api/v1/auth/whoami)" = 200 ] ||
  fail "the director refused hello's token: $(cat "$WORK/body")"
[ "$(call "$(jq -r .access_token "$WORK/token.json")" GET /api/v1/devices)" = 403 ] ||
  fail "hello listed the fleet"; pass
grep -q '"action":"oauth.app-client.issue"' "$WORK/director/audit.log" ||
  fail "app clients not audited"; pass

# A rollback returns both nodes to the version before.
[ "$(call "$AM" POST "/api/v1/deployments/$D2/rollback")" = 200 ] || fail "rollback: $(cat "$WORK/body")"
wait_state "$D2" rolled-back
running_on_both 1.0.0
# 1.0.0 does not ask for OAuth: the node deleted hello's client at the director.
for _ in $(seq 1 300); do
  [ "$(call "$ADMIN" GET "/api/v1/oauth/clients/app.$ID1.hello")" = 404 ] && break
  sleep 0.1
done
[ "$(call "$ADMIN" GET "/api/v1/oauth/clients/app.$ID1.hello")" = 404 ] ||
  fail "hello's client outlived its OAuth: $(cat "$WORK/body")"
[ "$(app_token 1)" = 401 ] || fail "a deleted app client got a token: $(cat "$WORK/token.json")"; pass

# 3.0.0 asks for a capability the fleet allows nobody: each node refuses it, the rollout
# halts at once (threshold 0 %) and rolls back by itself.
D3=$(deploy 3.0.0 '{"failure_threshold_percent":0}')
wait_state "$D3" rolled-back
jq -r .reason "$WORK/body" | grep -q "failed (threshold 0%)" || fail "halt reason: $(jq -r .reason "$WORK/body")"; pass
running_on_both 1.0.0

# A director killed with SIGKILL between two waves finishes the rollout after a restart.
D4=$(deploy 2.0.0 '{"wave_size":"1","pause_seconds":3}')
for _ in $(seq 1 600); do
  call "$AM" GET "/api/v1/deployments/$D4" >/dev/null
  [ "$(jq '[.targets[] | select(.state=="running")] | length' "$WORK/body")" = 1 ] && break
  sleep 0.1
done
[ "$(jq -r .state "$WORK/body")" = rolling ] || fail "expected the rollout between waves: $(cat "$WORK/body")"
kill -KILL "$director_pid"; wait "$director_pid" 2>/dev/null || true
start_director "$WORK/director" --config "$WORK/director.yaml"  # on the same port
wait_state "$D4" completed
running_on_both 2.0.0

# ---- certificate renewal ----------------------------------------------------------------------
# Each node has renewed its two-minute certificate by itself (due 70 s after issue: a third of
# notBefore..notAfter left, notBefore 30 s back) and goes on with the new one; the director
# refuses the one it enrolled with from then on.
# node_call I CERT PATH: a node's own request with its key and CERT; prints the status.
node_call() {
  curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/director/ca/ca.crt" \
    --cert "$2" --key "$WORK/n$1/data/director/node.key" "$URL$3"
}
serial() { openssl x509 -in "$1" -noout -serial; }
for i in 1 2; do
  for _ in $(seq 1 1200); do
    [ "$(serial "$WORK/n$i/data/director/node.pem")" != "$(serial "$WORK/n$i/enrolled.pem")" ] && break
    sleep 0.1
  done
  [ "$(serial "$WORK/n$i/data/director/node.pem")" != "$(serial "$WORK/n$i/enrolled.pem")" ] ||
    fail "node $i did not renew its certificate"
  grep -q "certificate renewed" "$WORK/n$i/err" || fail "node $i: no renewal logged"
  [ "$(node_call "$i" "$WORK/n$i/data/director/node.pem" /api/v1/node/desired)" = 200 ] ||
    fail "node $i: the renewed certificate is refused"
  code=$(node_call "$i" "$WORK/n$i/enrolled.pem" /api/v1/node/desired)
  [ "$code" = 401 ] || [ "$code" = 000 ] || fail "node $i: the replaced certificate got $code"
done; pass
# Renewed nodes keep reporting: each report after now is newer than this moment.
since=$(date +%s)
for _ in $(seq 1 600); do
  call "$AM" GET '/api/v1/devices?tag=plant-a' >/dev/null
  [ "$(jq --argjson t "$since" '[.devices[] | select(.last_report_at >= $t)] | length' "$WORK/body")" = 2 ] && break
  sleep 0.1
done
[ "$(jq --argjson t "$since" '[.devices[] | select(.last_report_at >= $t)] | length' "$WORK/body")" = 2 ] ||
  fail "renewed nodes stopped reporting: $(cat "$WORK/body")"; pass

# The alert posted at the start was forwarded in a report (after the long-poll it came during).
for _ in $(seq 1 600); do
  "$FOGKEEP" fleet alerts --director "$URL" --ca "$WORK/director/ca/ca.crt" --token "$AM" \
    --detector modbus-write --json >"$WORK/alerts.json" 2>/dev/null &&
    [ "$(jq '.alerts | length' "$WORK/alerts.json")" = 1 ] && break
  sleep 0.1
done
jq -e '.alerts[0] | select(.source == "host" and .seq == 1 and .alert.alert.severity == 1)' \
  "$WORK/alerts.json" >/dev/null || fail "the director does not show node 1's alert: $(cat "$WORK/alerts.json")"; pass
grep -q '"action":"deployment.create"' "$WORK/director/audit.log" || fail "deployments not audited"; pass
grep -q '"action":"deployment.rollback"' "$WORK/director/audit.log" || fail "rollback not audited"; pass
done_checks
