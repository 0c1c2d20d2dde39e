#!/usr/bin/env bash
# Enrollment end to end with the real binaries: a fogkeep-director on SQLite and a fogkeepd
# that enrolls with a one-time token (EST over HTTPS, the fleet CA pinned by fingerprint),
# then reports over mutual TLS. Checks the roles (a network-manager enrolls, an app-manager
# cannot), that a token works once and a forged one never, that the node's certificate opens
# only the node routes, the desired state's ETag long-poll, and that a decommissioned node is
# refused from its next request.
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
prepare_node_test
director_pid=
cleanup() {
  stop_daemon
  [ -n "$director_pid" ] && kill -TERM "$director_pid" 2>/dev/null && wait "$director_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

DDATA=$WORK/director
start_director "$DDATA"
NM=$("$DIRECTOR" --data-dir "$DDATA" token create --role network-manager 2>/dev/null)
AM=$("$DIRECTOR" --data-dir "$DDATA" token create --role app-manager 2>/dev/null)

# call TOKEN METHOD PATH [BODY]: prints the status, the body goes to $WORK/body.
call() {
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -X "$2" ${4:+--data "$4"} "$URL$3"
}
# as_node DATA-DIR METHOD PATH [CURL ARGS...]: the same with the node's fleet certificate.
as_node() {
  local dir=$1/director method=$2 path=$3; shift 3
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$dir/ca.pem" --cert "$dir/node.pem" \
    --key "$dir/node.key" -X "$method" "$@" "$URL$path"
}

[ "$(call "$AM" POST /api/v1/enrollment-tokens '{"tags":["x"]}')" = 403 ] ||
  fail "an app-manager created an enrollment token"; pass
[ "$(call "$NM" POST /api/v1/enrollment-tokens '{"tags":["plant-a","line-2"],"ttl_seconds":600}')" = 201 ] ||
  fail "a network-manager could not create a token: $(cat "$WORK/body")"; pass
TOKEN=$(jq -r .token "$WORK/body")
TOKEN_ID=$(jq -r .id "$WORK/body")
[ "${TOKEN%%.*}" = "$TOKEN_ID" ] || fail "the token does not start with its id"; pass

# A forged secret and a wrong CA fingerprint are refused and leave the token unused.
expect_refused "forged token" "invalid enrollment token|401|enrollment" \
  "$FOGKEEPD" enroll --data-dir "$WORK/forged" --director "$URL" --token "$TOKEN_ID.AAAA" \
  --ca-fingerprint "$FP"
expect_refused "wrong CA fingerprint" "fingerprint" \
  "$FOGKEEPD" enroll --data-dir "$WORK/wrongca" --director "$URL" --token "$TOKEN" \
  --ca-fingerprint "$(printf '0%.0s' $(seq 1 64))"

expect_ok "enroll" "$FOGKEEPD" enroll --data-dir "$DATA" --director "$URL" --token "$TOKEN" \
  --ca-fingerprint "$FP" --name press-7
DEVICE=$(sed -n 's/^enrolled as device //p' "$WORK/.stdout")
[ -n "$DEVICE" ] || fail "no device id printed"; pass
[ "$(stat -c %a "$DATA/director/node.key")" = 600 ] || fail "node key not 0600"; pass
openssl verify -CAfile "$CA" -purpose sslclient "$DATA/director/node.pem" >/dev/null ||
  fail "node certificate does not verify for client auth"; pass
openssl x509 -in "$DATA/director/node.pem" -noout -subject | grep -q "CN *= *$DEVICE" ||
  fail "the certificate does not name the device"; pass

expect_refused "reused token" "invalid enrollment token|401|enrollment" \
  "$FOGKEEPD" enroll --data-dir "$WORK/second" --director "$URL" --token "$TOKEN" --ca-fingerprint "$FP"
expect_refused "enrolled twice" "already enrolled" \
  "$FOGKEEPD" enroll --data-dir "$DATA" --director "$URL" --token "$TOKEN" --ca-fingerprint "$FP"

[ "$(call "$NM" GET /api/v1/enrollment-tokens)" = 200 ] || fail "token list"
[ "$(jq -r ".tokens[] | select(.id==\"$TOKEN_ID\") | .used_by" "$WORK/body")" = "$DEVICE" ] ||
  fail "the token is not marked used by the device"; pass
[ "$(jq -r '.tokens[0].token // "none"' "$WORK/body")" = none ] || fail "a list shows a token secret"; pass

# The node reports once fogkeepd runs.
start_daemon
for _ in $(seq 1 100); do
  call "$AM" GET "/api/v1/devices/$DEVICE" >/dev/null
  [ "$(jq -r .last_report_at "$WORK/body")" != 0 ] && break
  sleep 0.1
done
[ "$(jq -r .agent_version "$WORK/body")" = 0.1.0 ] || fail "no report: $(cat "$WORK/body")"; pass
[ "$(jq -r .name "$WORK/body")" = press-7 ] || fail "device name"; pass
[ "$(jq -c .tags "$WORK/body")" = '["line-2","plant-a"]' ] || fail "token tags not applied"; pass
[ "$(call "$AM" GET '/api/v1/devices?tag=plant-a')" = 200 ] && [ "$(jq '.devices | length' "$WORK/body")" = 1 ] ||
  fail "search by tag"; pass
[ "$(call "$AM" GET '/api/v1/devices?tag=plant-b')" = 200 ] && [ "$(jq '.devices | length' "$WORK/body")" = 0 ] ||
  fail "search by another tag"; pass

# The node's certificate opens the node routes and nothing else.
[ "$(as_node "$DATA" GET /api/v1/node/desired -D "$WORK/headers")" = 200 ] || fail "desired state"; pass
[ "$(jq -r .device_id "$WORK/body")" = "$DEVICE" ] || fail "desired state of another device"; pass
ETAG=$(sed -n 's/^[Ee][Tt]ag: *\([^\r]*\).*/\1/p' "$WORK/headers")
[ -n "$ETAG" ] || fail "no ETag"; pass
start=$(date +%s%N)
[ "$(as_node "$DATA" GET '/api/v1/node/desired?wait=1' -H "If-None-Match: $ETAG")" = 304 ] ||
  fail "unchanged desired state not 304"; pass
[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 900 ] || fail "the long poll did not wait"; pass
[ "$(as_node "$DATA" GET /api/v1/devices)" = 403 ] || fail "a node listed the devices"; pass
[ "$(call "$NM" GET /api/v1/node/desired)" = 403 ] || fail "a person called a node route"; pass
# A tag change wakes a waiting long poll at once.
( sleep 1
  curl -s -o /dev/null --cacert "$CA" -H "Authorization: Bearer $NM" -X PATCH \
    --data '{"tags":["plant-a","line-3"]}' "$URL/api/v1/devices/$DEVICE" ) &
patch_pid=$!
start=$(date +%s%N)
[ "$(as_node "$DATA" GET '/api/v1/node/desired?wait=20' -H "If-None-Match: $ETAG")" = 200 ] ||
  fail "the long poll did not see the change"; pass
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 10000 ] || fail "the long poll was not woken"; pass
[ "$(jq -c .tags "$WORK/body")" = '["line-3","plant-a"]' ] || fail "new tags not in the desired state"; pass
wait "$patch_pid"

# Roles on devices; then decommissioning refuses the node from its next request.
[ "$(call "$AM" POST "/api/v1/devices/$DEVICE/decommission")" = 403 ] ||
  fail "an app-manager decommissioned a device"; pass
[ "$(call "$NM" POST "/api/v1/devices/$DEVICE/decommission")" = 200 ] || fail "decommission"; pass
[ "$(jq -r .status "$WORK/body")" = decommissioned ] || fail "status after decommission"; pass
[ "$(as_node "$DATA" GET /api/v1/node/desired)" = 401 ] || fail "a decommissioned node was served"; pass
[ "$(as_node "$DATA" POST /.well-known/est/simplereenroll)" = 401 ] ||
  fail "a decommissioned node may renew"; pass

grep -q '"action":"node.enroll"' "$DDATA/audit.log" || fail "enrollment not audited"; pass
grep -q '"action":"device.decommission"' "$DDATA/audit.log" || fail "decommission not audited"; pass
done_checks
