#!/usr/bin/env bash
# fogkeep-fleetsim against a real fogkeep-director on SQLite: 50 simulated nodes enroll through
# EST with one-time tokens the simulator creates with a network-manager's API token, then poll
# (ETag) and report over mutual TLS. The director's inventory must list all 50 with the tag and
# their reports, and agree with the simulator's summary; a second run reuses the saved
# identities without enrolling anything; a refused --token ends the simulator with one line.
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
FLEETSIM=${FOGKEEP_FLEETSIM:?path to fogkeep-fleetsim}
director_pid=
cleanup() {
  [ -n "$director_pid" ] && kill -TERM "$director_pid" 2>/dev/null && wait "$director_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

DDATA=$WORK/director
"$DIRECTOR" --data-dir "$DDATA" --listen 127.0.0.1:0 >"$WORK/director.out" 2>"$WORK/director.err" &
director_pid=$!
DPORT=
for _ in $(seq 1 100); do
  DPORT=$(sed -n 's|^fogkeep-director: listening on https://127.0.0.1:\([0-9]*\) .*|\1|p' "$WORK/director.out")
  [ -n "$DPORT" ] && break
  kill -0 "$director_pid" 2>/dev/null || { cat "$WORK/director.err" >&2; fail "director exited"; }
  sleep 0.1
done
[ -n "$DPORT" ] || fail "director did not report its address"
URL=https://127.0.0.1:$DPORT
CA=$DDATA/ca/ca.crt
NM=$("$DIRECTOR" --data-dir "$DDATA" token create --role network-manager 2>/dev/null)
AUDITOR=$("$DIRECTOR" --data-dir "$DDATA" token create --role auditor 2>/dev/null)
TAG=sim-$$

# devices [QUERY]: the director's device list as the auditor sees it.
devices() {
  curl -sf --cacert "$CA" -H "Authorization: Bearer $AUDITOR" "$URL/api/v1/devices${1:-}"
}

# 50 nodes, polling twice a second and reporting every second, for 4 s after enrollment.
expect_ok "fleetsim run" "$FLEETSIM" --director "$URL" --ca "$CA" --nodes 50 --token "$NM" \
  --tag "$TAG" --poll-interval 0.5 --report-interval 1 --duration 4 --stats-interval 1 \
  --identities "$WORK/ids.json" --json
cp "$WORK/.stdout" "$WORK/summary.json"
cp "$WORK/.stderr" "$WORK/lines.txt"
S=$WORK/summary.json
jq -e . "$S" >/dev/null || fail "the summary is not JSON: $(cat "$S")"; pass
[ "$(jq .nodes "$S")" = 50 ] && [ "$(jq .enrolled "$S")" = 50 ] || fail "summary: $(cat "$S")"; pass
[ "$(jq .totals.errors "$S")" = 0 ] || fail "the run saw errors: $(jq -c '.error_kinds, .last_error' "$S")"; pass
# Every node fetched its desired state once (200), then checked in with its ETag (304).
[ "$(jq .totals.desired_200 "$S")" -ge 50 ] || fail "fewer than 50 desired states fetched"; pass
[ "$(jq .totals.desired_304 "$S")" -ge 50 ] || fail "no check-ins answered 304: $(cat "$S")"; pass
[ "$(jq .totals.reports "$S")" -ge 50 ] || fail "fewer than 50 reports"; pass
[ "$(jq .totals.handshakes "$S")" -ge 50 ] || fail "fewer handshakes than nodes"; pass
[ "$(jq .totals.requests "$S")" = "$(jq '.totals.desired_200 + .totals.desired_304 + .totals.reports' "$S")" ] ||
  fail "requests do not add up: $(jq -c .totals "$S")"; pass
grep -q '^enrolled 50 nodes in ' "$WORK/lines.txt" || fail "no enrollment line: $(cat "$WORK/lines.txt")"; pass
grep -q '^t=[0-9.]*s enrolled=50/50 req/s=' "$WORK/lines.txt" || fail "no statistics lines"; pass
[ "$(stat -c %a "$WORK/ids.json")" = 600 ] || fail "the identities file is not 0600"; pass
[ "$(jq length "$WORK/ids.json")" = 50 ] || fail "the identities file does not hold 50 nodes"; pass

# The director's side: 50 enrolled devices with the tag, each reported by the simulator.
devices "?tag=$TAG" >"$WORK/devices.json" || fail "device list"
D=$WORK/devices.json
[ "$(jq '.devices | length' "$D")" = 50 ] || fail "$(jq '.devices | length' "$D") devices have the tag"; pass
[ "$(jq '[.devices[] | select(.status == "enrolled")] | length' "$D")" = 50 ] || fail "not all enrolled"; pass
[ "$(jq '[.devices[] | select(.last_report_at > 0)] | length' "$D")" = 50 ] ||
  fail "not every device has reported"; pass
[ "$(jq -r '[.devices[].agent_version] | unique | join(",")' "$D")" = fleetsim/0.1.0 ] ||
  fail "agent versions: $(jq -c '[.devices[].agent_version] | unique' "$D")"; pass
[ "$(jq -r '[.devices[].name] | unique | length' "$D")" = 50 ] || fail "device names repeat"; pass
jq -e '[.devices[].name] | all(test("^fleetsim-[0-9]+$"))' "$D" >/dev/null || fail "device names"; pass
# The same 50 devices as the simulator holds identities for.
[ "$(jq -r '.[].device_id' "$WORK/ids.json" | sort | tr '\n' ' ')" = \
  "$(jq -r '.devices[].id' "$D" | sort | tr '\n' ' ')" ] || fail "the identities are not the tagged devices"; pass
[ "$(devices | jq '.devices | length')" = 50 ] || fail "devices beyond the simulated ones"; pass

# A second run loads the identities: no enrollment, no new device, the same nodes report.
before=$(jq '[.devices[].last_report_at] | max' "$D")
sleep 1.1
# Starts are spread over one poll interval (1 s); 4 s leave every node time to report.
expect_ok "fleetsim rerun" "$FLEETSIM" --director "$URL" --ca "$CA" --nodes 50 \
  --identities "$WORK/ids.json" --poll-interval 1 --duration 4 --json
R=$WORK/.stdout
[ "$(jq .identities_loaded "$R")" = true ] || fail "identities not loaded"; pass
[ "$(jq .totals.errors "$R")" = 0 ] || fail "the rerun saw errors: $(cat "$R")"; pass
[ "$(jq .totals.reports "$R")" = 50 ] || fail "the rerun's nodes did not all report: $(cat "$R")"; pass
[ "$(devices | jq '.devices | length')" = 50 ] || fail "the rerun enrolled devices"; pass
[ "$(devices "?tag=$TAG" | jq "[.devices[] | select(.last_report_at >= $before)] | length")" = 50 ] ||
  fail "the director did not record the rerun's reports"; pass

# A refused API token: exit 1 and one line saying so; nothing enrolled.
expect_refused "bad token" "fogkeep-fleetsim: .*refused --token.*401" \
  "$FLEETSIM" --director "$URL" --ca "$CA" --nodes 5 --token not-a-token --duration 1
[ "$(devices | jq '.devices | length')" = 50 ] || fail "a refused token enrolled devices"; pass
# An app-manager may not create enrollment tokens: refused the same way.
AM=$("$DIRECTOR" --data-dir "$DDATA" token create --role app-manager 2>/dev/null)
expect_refused "app-manager token" "fogkeep-fleetsim: .*refused --token.*403" \
  "$FLEETSIM" --director "$URL" --ca "$CA" --nodes 5 --token "$AM" --duration 1
done_checks
