#!/usr/bin/env bash
# Two fogkeep-director replicas on one real PostgreSQL serve one fleet: they share the fleet
# CA (one CA directory) and the database, nothing else. A node enrolled through one replica is
# served by the other; a package uploaded and a deployment made through one are in the
# desired state the other serves; a report to the second moves the rollout the first shows;
# and a device decommissioned through one is refused by the other. Needs root (PostgreSQL
# runs as the postgres user) and FOGKEEPD (for `fogkeepd enroll`); exit 77 = skipped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
FOGKEEPD=${FOGKEEPD:?path to fogkeepd}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  postgres_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
postgres_start -c fsync=off  # a test server: durability is not what is tested here

# start_replica NAME: a director on the shared database and CA; sets REPLICA_URL[NAME] and
# REPLICA_TOKEN[NAME] (an admin's API token; tokens and logins are each replica's own).
declare -A REPLICA_URL REPLICA_TOKEN
start_replica() {
  DPORT=
  start_director "$WORK/$1" --ca-dir "$WORK/ca" --store postgres --postgres "$PG_CONNINFO"
  pids+=("$director_pid")
  REPLICA_URL[$1]=$URL
  REPLICA_TOKEN[$1]=$("$DIRECTOR" --data-dir "$WORK/$1" token create --role admin 2>/dev/null)
}
start_replica a
start_replica b  # after a: it finds the CA a made
grep -q "(store postgres)" "$WORK/b.out" || fail "replica b is not on PostgreSQL"; pass
[ "$(sed -n 's/.*fleet CA sha256 \([0-9a-f]*\).*/\1/p' "$WORK/a.out")" = \
  "$(sed -n 's/.*fleet CA sha256 \([0-9a-f]*\).*/\1/p' "$WORK/b.out")" ] || fail "two fleet CAs"; pass

# call REPLICA METHOD PATH [CURL ARGS...]: prints the status; the body goes to $WORK/body.
call() {
  local r=$1 method=$2 path=$3; shift 3
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$WORK/ca/ca.crt" \
    -H "Authorization: Bearer ${REPLICA_TOKEN[$r]}" -X "$method" "$@" "${REPLICA_URL[$r]}$path"
}
# as_node REPLICA METHOD PATH [CURL ARGS...]: the same with the node's fleet certificate.
as_node() {
  local r=$1 method=$2 path=$3; shift 3
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$WORK/ca/ca.crt" \
    --cert "$WORK/node/director/node.pem" --key "$WORK/node/director/node.key" \
    -X "$method" "$@" "${REPLICA_URL[$r]}$path"
}

# Enrolled through a, known to b.
[ "$(call a POST /api/v1/enrollment-tokens -H 'Content-Type: application/json' \
  --data '{"tags":["plant-a"]}')" = 201 ] || fail "token: $(cat "$WORK/body")"
expect_ok "enroll through a" "$FOGKEEPD" enroll --data-dir "$WORK/node" --director "${REPLICA_URL[a]}" \
  --token "$(jq -r .token "$WORK/body")" --ca-file "$WORK/ca/ca.crt"
DEVICE=$(sed -n 's/^enrolled as device //p' "$WORK/.stdout")
[ "$(as_node b GET /api/v1/node/desired)" = 200 ] || fail "b does not know the node"; pass
[ "$(jq -r .device_id "$WORK/body")" = "$DEVICE" ] || fail "b served another device"; pass

# A package and a deployment made through a are in the desired state b serves.
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
"$SRC/examples/hello/make-rootfs.sh" hello >/dev/null
expect_ok "build" "$FOGKEEP" package build hello -o hello.tar
expect_ok "sign" "$FOGKEEP" package sign hello.tar --key pki/signer.key --cert pki/signer.pem -o signed.tar
[ "$(call b PUT /api/v1/policies/%2A -H 'Content-Type: application/json' \
  --data "{\"trust_anchors\":[$(jq -Rs . pki/ca.pem)]}")" = 200 ] || fail "policy through b"; pass
[ "$(call a POST /api/v1/catalog --data-binary @signed.tar)" = 201 ] || fail "upload through a"; pass
[ "$(call a POST /api/v1/deployments -H 'Content-Type: application/json' \
  --data '{"app":"hello","version":"1.0.0","tags":["plant-a"]}')" = 201 ] || fail "deploy through a"
DEPLOYMENT=$(jq -r .id "$WORK/body")
[ "$(as_node b GET /api/v1/node/desired -D "$WORK/headers")" = 200 ] || fail "desired from b"
[ "$(jq -r '.apps[0].name + " " + .apps[0].version' "$WORK/body")" = "hello 1.0.0" ] ||
  fail "b does not serve the deployment: $(cat "$WORK/body")"; pass
grep -qi '^x-fogkeep-signature: ' "$WORK/headers" || fail "b's desired state is not signed"; pass
[ "$(jq -r '.policy.trust_anchors | length' "$WORK/body")" = 1 ] || fail "policy not in the desired state"; pass
# The package b serves is the one a took in.
[ "$(as_node b GET /api/v1/node/packages/hello/1.0.0)" = 200 ] || fail "package from b"
cmp -s "$WORK/body" signed.tar || fail "b served other bytes"; pass

# A report to b completes the rollout that a shows (whichever replica holds the lease).
[ "$(as_node b POST /api/v1/node/report -H 'Content-Type: application/json' \
  --data '{"agent_version":"0.1.0","apps":[{"id":"hello","name":"hello","version":"1.0.0","state":"RUNNING"}]}')" = 204 ] ||
  fail "report to b"
for _ in $(seq 1 100); do
  call a GET "/api/v1/deployments/$DEPLOYMENT" >/dev/null
  [ "$(jq -r .state "$WORK/body")" = completed ] && break
  sleep 0.1
done
[ "$(jq -r .state "$WORK/body")" = completed ] || fail "rollout not completed: $(cat "$WORK/body")"; pass
[ "$(call a GET "/api/v1/devices/$DEVICE")" = 200 ] && [ "$(jq -r '.apps[0].state' "$WORK/body")" = RUNNING ] ||
  fail "a does not show b's report"; pass

# A long poll waiting on a wakes for a change made through b (seen within a poll interval).
as_node a GET /api/v1/node/desired -D "$WORK/headers" >/dev/null
ETAG=$(sed -n 's/^[Ee][Tt]ag: *\([^\r]*\).*/\1/p' "$WORK/headers")
( sleep 1; curl -s -o /dev/null --cacert "$WORK/ca/ca.crt" -H "Authorization: Bearer ${REPLICA_TOKEN[b]}" \
  -X PATCH --data '{"tags":["plant-a","line-9"]}' "${REPLICA_URL[b]}/api/v1/devices/$DEVICE" ) &
patch_pid=$!
[ "$(as_node a GET '/api/v1/node/desired?wait=20' -H "If-None-Match: $ETAG")" = 200 ] ||
  fail "a's long poll did not see b's change"; pass
wait "$patch_pid"
[ "$(jq -c .tags "$WORK/body")" = '["line-9","plant-a"]' ] || fail "tags from b"; pass

# Decommissioned through b, refused by a.
[ "$(call b POST "/api/v1/devices/$DEVICE/decommission")" = 200 ] || fail "decommission through b"
[ "$(as_node a GET /api/v1/node/desired)" = 401 ] || fail "a still serves a decommissioned node"; pass
done_checks
