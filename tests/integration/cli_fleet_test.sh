#!/usr/bin/env bash
# `fogkeep fleet` against a real fogkeep-director on SQLite: a network-manager logs in with a
# password read from stdin (the tokens land in a private cache under $HOME, beside node logins
# and apart from them), creates, lists and deletes enrollment tokens, lists the devices before
# and after a node enrolls with `fogkeepd enroll` (fogkeepd itself is not started), tags,
# renames and decommissions the node; an app-manager's API token is refused what its role may
# not do, with one line and exit 1; usage errors exit 2 before any request; every --json answer
# parses with jq. The catalog, policy and deployment commands are driven end to end when the
# director serves their routes, and only their argument checks otherwise.
# Environment: FOGKEEP_DIRECTOR is fogkeep-director ($1 is fogkeep); FOGKEEPD is fogkeepd, for
# the enrollment. Exit 77 = the enrollment part was skipped (needs root and FOGKEEPD).
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }

# The login cache goes to $HOME/.config/fogkeep; nothing from the caller's environment leaks in.
export HOME=$WORK/home
unset XDG_CONFIG_HOME FOGKEEP_TOKEN FOGKEEP_NODE FOGKEEP_DIRECTOR
mkdir -p "$HOME"
CRED=$HOME/.config/fogkeep/credentials.json
director_pid=
cleanup() {
  set +e
  [ -n "$director_pid" ] && kill -TERM "$director_pid" 2>/dev/null && wait "$director_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

DDATA=$WORK/director
start_director "$DDATA"

PASSWORD='fleet password 7'
printf '%s\n' "$PASSWORD" >"$WORK/password"
expect_ok "user add alice" "$DIRECTOR" user add alice --role network-manager --password-stdin \
  --data-dir "$DDATA" <"$WORK/password"
AM=$("$DIRECTOR" --data-dir "$DDATA" token create --role app-manager 2>/dev/null)
ADMIN=$("$DIRECTOR" --data-dir "$DDATA" token create --role admin 2>/dev/null)
[ -n "$AM" ] && [ -n "$ADMIN" ] || fail "token create printed no token"
# fleet AS-TOKEN ARGS...: a fleet command with an API token instead of the cached login.
fleet_as() { local token=$1; shift; "$FOGKEEP" fleet "$@" --director "$URL" --ca "$CA" --token "$token"; }

# ---- usage errors: exit 2, before any request ---------------------------------------------
expect_usage() {
  local desc=$1 pattern=$2; shift 2
  local rc=0
  "$FOGKEEP" "$@" >"$WORK/.stdout" 2>"$WORK/.stderr" || rc=$?
  [ "$rc" -eq 2 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected exit 2, got $rc"; }
  grep -qE -- "$pattern" "$WORK/.stderr" || { cat "$WORK/.stderr" >&2; fail "$desc: stderr does not match '$pattern'"; }
  pass
}
expect_usage "ttl without a unit" 'duration "24" is not a whole number with a unit' \
  fleet tokens create --ttl 24
expect_usage "fractional ttl" 'duration "1.5h"' fleet tokens create --ttl 1.5h
expect_usage "compound pause" 'duration "1m30s"' fleet deploy hello 1.0.0 --tag a --pause 1m30s
expect_usage "upper-case tag" 'tag "Plant-A": a tag is 1 to 64 characters' \
  fleet tokens create --tag Plant-A
expect_usage "tag on tags add" 'tag "_x"' fleet tags add d-1 ok _x
expect_usage "wave size 0" 'wave size "0"' fleet deploy hello 1.0.0 --tag a --wave-size 0
expect_usage "wave size 150%" 'wave size "150%"' fleet deploy hello 1.0.0 --tag a --wave-size 150%
expect_usage "failure threshold" 'percentage "101"' \
  fleet deploy hello 1.0.0 --tag a --failure-threshold 101
expect_usage "deploy nowhere" 'at least one' fleet deploy hello 1.0.0 --director "$URL" --ca "$CA"
expect_usage "deploy without a version" 'version is required' fleet deploy hello --tag a
expect_usage "signed and unsigned" 'excludes' fleet policy set '*' --require-signed --allow-unsigned
expect_usage "policy tag" 'a policy.s tag is "\*"' fleet policy set 'Lab*'
expect_usage "missing trust file" 'File does not exist' fleet policy set lab --trust "$WORK/none.pem"
expect_usage "missing package" 'File does not exist' fleet catalog upload "$WORK/none.tar"
expect_usage "rollout action without id" 'id is required' fleet rollouts pause
expect_usage "device status" 'not in' fleet devices --status gone
expect_usage "login without user" 'user is required' fleet login --director "$URL"

# ---- login ---------------------------------------------------------------------------------
expect_refused "login with a wrong password" '^fogkeep: login failed: invalid credentials$' \
  "$FOGKEEP" fleet login --director "$URL" --user alice --password-stdin --ca "$CA" <<<"wrong"
expect_ok "login" "$FOGKEEP" fleet login --director "$URL" --user alice --password-stdin --ca "$CA" \
  <"$WORK/password"
grep -q "^logged in to $URL as alice (role network-manager); session expires at " "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "login: unexpected message"; }
if grep -qE 'fk[ar]_' "$WORK/.stdout" "$WORK/.stderr"; then fail "login printed a token"; fi
pass
[ "$(stat -c %a "$CRED")" = 600 ] || fail "credentials.json has mode $(stat -c %a "$CRED")"
[ "$(jq -r '.logins[0].server' "$CRED")" = director ] || fail "the login is not filed as a director's"
pass
# A node logout leaves the director's login alone.
expect_ok "node logout" "$FOGKEEP" logout
grep -qx "not logged in to any node; nothing to do" "$WORK/.stdout" || fail "node logout touched the fleet login"
pass

# ---- devices: none yet; the cached login and the only director serve --------------------------
expect_ok "devices, empty" "$FOGKEEP" fleet devices
grep -q "^no devices" "$WORK/.stdout" || { cat "$WORK/.stdout" >&2; fail "devices: unexpected empty listing"; }
pass
expect_ok "devices --json, empty" "$FOGKEEP" fleet devices --json --director "$URL"
[ "$(jq '.devices | length' "$WORK/.stdout")" = 0 ] || fail "devices --json is not an empty list"
pass
expect_refused "an unknown device" 'device d-0*: .*no device' "$FOGKEEP" fleet devices show d-00000000

# ---- enrollment tokens -----------------------------------------------------------------------
expect_ok "tokens create" "$FOGKEEP" fleet tokens create --tag plant-a --tag line-2 --ttl 10m
grep -q "^  fogkeepd enroll --director $URL --token " "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "tokens create: no enroll command"; }
grep -q -- "--ca-fingerprint $FP" "$WORK/.stdout" || fail "tokens create: not the fleet CA's fingerprint"
pass
SHOWN=$(sed -n '3s/^  //p' "$WORK/.stdout")
SHOWN_ID=${SHOWN%%.*}
[ -n "$SHOWN_ID" ] && [ "$SHOWN_ID" != "$SHOWN" ] || fail "tokens create: no token line"
pass
expect_ok "tokens list" "$FOGKEEP" fleet tokens list
grep -qE "^$SHOWN_ID +unused +line-2, plant-a +alice " "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "tokens list: the new token is not listed"; }
if grep -q "$SHOWN" "$WORK/.stdout"; then fail "tokens list shows a token's secret"; fi
pass
expect_ok "tokens delete" "$FOGKEEP" fleet tokens delete "$SHOWN_ID"
expect_ok "tokens list --json" "$FOGKEEP" fleet tokens list --json
[ "$(jq --arg id "$SHOWN_ID" '[.tokens[] | select(.id == $id)] | length' "$WORK/.stdout")" = 0 ] ||
  fail "the deleted token is still listed"
pass

# Roles: an app-manager's API token may look but not create tokens; one line, exit 1.
expect_refused "an app-manager creates a token" \
  '^fogkeep: create an enrollment token: .*(forbidden|permission|not allowed|lacks|enroll)' \
  fleet_as "$AM" tokens create --tag x
expect_ok "an app-manager lists devices" fleet_as "$AM" devices --json
jq -e '.devices' "$WORK/.stdout" >/dev/null || fail "devices --json with a token"
pass
expect_refused "a wrong API token" '401|invalid|unauthenticated|expired' \
  fleet_as "fkt_not-a-token" devices

# ---- catalog, policies, deployments: end to end when the director serves them ----------------
served() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $ADMIN" \
    "$URL$1")" = 200 ]
}
FLEET_ROUTES=
if served /api/v1/catalog && served /api/v1/policies && served /api/v1/deployments; then
  FLEET_ROUTES=yes
  expect_ok "policy list, empty" fleet_as "$ADMIN" policy list --json
  jq -e '.policies' "$WORK/.stdout" >/dev/null || fail "policy list --json"
  pass
  "$FOGKEEP" pki init --dir "$WORK/pki" >/dev/null 2>&1 || fail "pki init"
  expect_ok "policy set" fleet_as "$ADMIN" policy set '*' --trust "$WORK/pki/ca.pem" \
    --allow-capability NET_RAW
  grep -q "Policy of every device (\*) replaced" "$WORK/.stdout" || fail "policy set: unexpected message"
  pass
  expect_ok "policy list" fleet_as "$ADMIN" policy list --json
  [ "$(jq -r '.policies[] | select(.tag == "*") | .require_signed' "$WORK/.stdout")" = true ] ||
    fail "the * policy does not require signatures"
  pass
  # The hello app's manifest over a one-file rootfs: the director stores packages, it does not
  # run them.
  mkdir -p "$WORK/hello/rootfs/app"
  cp "$SRC/examples/hello/package.yaml" "$SRC/examples/hello/package_config.ini" "$WORK/hello/"
  cp "$SRC/examples/hello/app/hello.sh" "$WORK/hello/rootfs/app/"
  "$FOGKEEP" package build "$WORK/hello" -o "$WORK/hello.tar" >/dev/null 2>&1 &&
    "$FOGKEEP" package sign "$WORK/hello.tar" --key "$WORK/pki/signer.key" \
      --cert "$WORK/pki/signer.pem" -o "$WORK/hello-signed.tar" >/dev/null 2>&1 ||
    fail "cannot build and sign the sample package"
  expect_ok "catalog upload" fleet_as "$ADMIN" catalog upload "$WORK/hello-signed.tar" --json
  APP=$(jq -r .name "$WORK/.stdout"); VERSION=$(jq -r .version "$WORK/.stdout")
  [ -n "$APP" ] && [ "$APP" != null ] || fail "catalog upload --json: no name"
  pass
  expect_ok "catalog list" fleet_as "$ADMIN" catalog list
  grep -qE "^$APP +$VERSION " "$WORK/.stdout" || fail "catalog list: the upload is not listed"
  pass
  expect_refused "deploy to nobody" "deploy $APP $VERSION" \
    fleet_as "$ADMIN" deploy "$APP" "$VERSION" --tag no-such-tag --wave-size 1 --pause 0s
  expect_ok "rollouts, json" fleet_as "$ADMIN" rollouts --json
  jq -e '.deployments' "$WORK/.stdout" >/dev/null || fail "rollouts --json"
  pass
  expect_ok "policy delete" fleet_as "$ADMIN" policy delete '*'
else
  echo "note: the director does not serve the catalog, policy and deployment routes yet;" \
    "only their argument checks ran"
fi

# ---- a node enrolls; then tags, rename, decommission -----------------------------------------
if [ "$(id -u)" != 0 ] || [ -z "${FOGKEEPD:-}" ]; then
  done_checks
  echo "SKIP: the enrollment part needs root and FOGKEEPD"
  exit 77
fi
expect_ok "tokens create --json" "$FOGKEEP" fleet tokens create --tag plant-a --json
TOKEN=$(jq -r .token "$WORK/.stdout")
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || fail "tokens create --json: no token"
pass
NODE_DATA=$WORK/node
expect_ok "enroll" "$FOGKEEPD" enroll --data-dir "$NODE_DATA" --director "$URL" --token "$TOKEN" \
  --ca-fingerprint "$FP" --name press-7
DEVICE=$(sed -n 's/^enrolled as device //p' "$WORK/.stdout")
[ -n "$DEVICE" ] || fail "no device id printed"
pass

expect_ok "devices" "$FOGKEEP" fleet devices
head -1 "$WORK/.stdout" | grep -qE '^ID +NAME +STATUS +TAGS +AGENT +HEALTH +LAST-SEEN +APPS$' ||
  { cat "$WORK/.stdout" >&2; fail "devices: unexpected header"; }
grep -qE "^$DEVICE +press-7 +enrolled +plant-a +" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "devices: the node is not listed"; }
pass
expect_ok "devices --tag" "$FOGKEEP" fleet devices --tag plant-a --status enrolled --json
[ "$(jq -r '.devices[0].id' "$WORK/.stdout")" = "$DEVICE" ] || fail "devices --tag plant-a"
pass
expect_ok "devices --tag other" "$FOGKEEP" fleet devices --tag plant-b --json
[ "$(jq '.devices | length' "$WORK/.stdout")" = 0 ] || fail "devices --tag plant-b"
pass
expect_ok "devices show" "$FOGKEEP" fleet devices show "$DEVICE"
grep -qE "^Name +press-7$" "$WORK/.stdout" && grep -qE "^Last report +never$" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "devices show: unexpected"; }
pass

tags() { "$FOGKEEP" fleet devices show "$DEVICE" --json | jq -c .tags; }
expect_ok "tags add" "$FOGKEEP" fleet tags add "$DEVICE" canary line-3 plant-a
grep -qx "Tags of device $DEVICE (press-7): canary, line-3, plant-a" "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "tags add: unexpected message"; }
[ "$(tags)" = '["canary","line-3","plant-a"]' ] || fail "tags after add: $(tags)"
pass
expect_ok "tags remove" "$FOGKEEP" fleet tags remove "$DEVICE" canary absent --json
[ "$(jq -c .tags "$WORK/.stdout")" = '["line-3","plant-a"]' ] || fail "tags remove --json"
[ "$(tags)" = '["line-3","plant-a"]' ] || fail "tags after remove: $(tags)"
pass
expect_ok "tags set" "$FOGKEEP" fleet tags set "$DEVICE" plant-b devices
[ "$(tags)" = '["devices","plant-b"]' ] || fail "tags after set: $(tags)"
pass
expect_refused "an app-manager sets tags" "set the tags of device $DEVICE" \
  fleet_as "$AM" tags add "$DEVICE" x
[ "$(tags)" = '["devices","plant-b"]' ] || fail "a refused change changed the tags"
pass

expect_ok "rename" "$FOGKEEP" fleet devices rename "$DEVICE" press-8
grep -qx "Renamed device $DEVICE to press-8" "$WORK/.stdout" || fail "rename: unexpected message"
[ "$("$FOGKEEP" fleet devices show "$DEVICE" --json | jq -r .name)" = press-8 ] || fail "rename"
pass

# ---- a deployment to the enrolled node (fogkeepd does not run: the rollout stays open) ------
if [ -n "$FLEET_ROUTES" ]; then
  expect_ok "deploy" fleet_as "$ADMIN" deploy "$APP" "$VERSION" --device "$DEVICE" --pause 30s
  grep -qE "^Deployment [^ ]+: $APP $VERSION to 1 device\(s\) in 1 wave\(s\) of 100%, rolling$" \
    "$WORK/.stdout" || { cat "$WORK/.stdout" >&2; fail "deploy: unexpected message"; }
  DEP=$(sed -n 's/^Deployment \([^ ]*\): .*/\1/p' "$WORK/.stdout")
  pass
  expect_ok "rollouts" fleet_as "$ADMIN" rollouts
  grep -qE "^$DEP +$APP +$VERSION +rolling +" "$WORK/.stdout" ||
    { cat "$WORK/.stdout" >&2; fail "rollouts: the deployment is not listed"; }
  pass
  expect_ok "rollouts ID" fleet_as "$ADMIN" rollouts "$DEP"
  grep -qE "^Rollout +waves of 100%, pause 30s, halt above 0% failed, then roll back$" \
    "$WORK/.stdout" && grep -qE "^$DEVICE +[0-9]+ +[a-z-]+ " "$WORK/.stdout" ||
    { cat "$WORK/.stdout" >&2; fail "rollouts ID: unexpected"; }
  pass
  expect_ok "rollouts ID --json" fleet_as "$ADMIN" rollouts "$DEP" --json
  [ "$(jq -r '.targets[0].device' "$WORK/.stdout")" = "$DEVICE" ] || fail "rollouts ID --json"
  pass
  expect_refused "delete a deployed package" "delete $APP $VERSION from the catalog" \
    fleet_as "$ADMIN" catalog delete "$APP" "$VERSION"
  expect_ok "pause" fleet_as "$ADMIN" rollouts pause "$DEP"
  grep -qx "Deployment $DEP of $APP $VERSION: paused (pause requested)" "$WORK/.stdout" ||
    { cat "$WORK/.stdout" >&2; fail "pause: unexpected message"; }
  pass
  expect_refused "pause twice" "pause deployment $DEP: cannot pause a deployment that is paused" \
    fleet_as "$ADMIN" rollouts pause "$DEP"
  expect_ok "resume" fleet_as "$ADMIN" rollouts resume "$DEP" --json
  [ "$(jq -r .state "$WORK/.stdout")" = rolling ] || fail "resume --json"
  pass
  expect_ok "cancel" fleet_as "$ADMIN" rollouts cancel "$DEP"

  # --wait follows a rollout until it ends, and exits 1 (one line) when it did not complete.
  fleet_as "$ADMIN" deploy "$APP" "$VERSION" --tag plant-b --wait >"$WORK/wait.out" 2>"$WORK/wait.err" &
  wait_pid=$!
  DEP2=
  for _ in $(seq 1 100); do
    DEP2=$(fleet_as "$ADMIN" rollouts --json |
      jq -r --arg old "$DEP" '[.deployments[] | select(.id != $old and .state == "rolling")][0].id // empty')
    [ -n "$DEP2" ] && break
    sleep 0.1
  done
  [ -n "$DEP2" ] || fail "deploy --wait: no rolling deployment appeared"
  expect_ok "cancel the awaited one" fleet_as "$ADMIN" rollouts cancel "$DEP2"
  rc=0; wait "$wait_pid" || rc=$?
  [ "$rc" = 1 ] || { cat "$WORK/wait.out" "$WORK/wait.err" >&2; fail "deploy --wait: exit $rc, not 1"; }
  [ "$(wc -l <"$WORK/wait.err")" = 1 ] &&
    grep -qx "fogkeep: deployment $DEP2 of $APP $VERSION cancelled: cancel requested" "$WORK/wait.err" ||
    { cat "$WORK/wait.err" >&2; fail "deploy --wait: unexpected error line"; }
  grep -qE "wave [0-9]+/1: .*\(rolling\)$" "$WORK/wait.out" ||
    { cat "$WORK/wait.out" >&2; fail "deploy --wait: no progress line"; }
  pass
fi

expect_refused "an app-manager decommissions" "decommission device $DEVICE" \
  fleet_as "$AM" devices decommission "$DEVICE"
expect_ok "decommission" "$FOGKEEP" fleet devices decommission "$DEVICE" --json
[ "$(jq -r .status "$WORK/.stdout")" = decommissioned ] || fail "decommission --json"
pass
expect_ok "devices --status decommissioned" "$FOGKEEP" fleet devices --status decommissioned
grep -qE "^$DEVICE +press-8 +decommissioned " "$WORK/.stdout" || fail "decommissioned device not listed"
pass

# ---- logout ------------------------------------------------------------------------------------
expect_ok "logout" "$FOGKEEP" fleet logout
grep -qx "logged out of $URL" "$WORK/.stdout" || { cat "$WORK/.stdout" >&2; fail "logout: unexpected message"; }
pass
expect_refused "devices after logout" "not logged in to $URL: run \`fogkeep fleet login" \
  "$FOGKEEP" fleet devices --director "$URL" --ca "$CA"
expect_refused "devices after logout, no director" 'is required' "$FOGKEEP" fleet devices

grep -q '"action":"device.decommission"' "$DDATA/audit.log" || fail "decommission not audited"
pass
[ -n "$FLEET_ROUTES" ] || echo "note: catalog, policy and deployment commands were checked for their arguments only"
done_checks
