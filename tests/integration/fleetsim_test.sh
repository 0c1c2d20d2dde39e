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
start_director "$DDATA"
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

# Applying a desired state, injected failures and --until-running, against nginx standing in
# for the director's node routes (a fixed desired state naming one app, 204 for reports) with
# the director's certificate and mutual TLS against its fleet CA: the same nodes and wire, a
# desired state this test controls.
if command -v nginx >/dev/null; then
  chmod 711 "$WORK"
  mkdir -p "$WORK/nginx/tmp" "$WORK/www/api/v1/node"
  chmod 755 "$WORK/www" "$WORK/www/api" "$WORK/www/api/v1" "$WORK/www/api/v1/node"
  jq -n '{device_id: "d", generation: 2, tags: [], apps: [{name: "probe", version: "2.0",
    sha256: "", package_url: "", state: "RUNNING", config_ini: "", deployment: "t"}]}' \
    >"$WORK/www/api/v1/node/desired"
  chmod 644 "$WORK/www/api/v1/node/desired"
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
  NPORT=
  for candidate in $(shuf -i 10000-$((low - 1)) -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then NPORT=$candidate; break; fi
  done
  [ -n "$NPORT" ] || fail "no free port for nginx"
  cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $DDATA/tls/director.pem;
    ssl_certificate_key $DDATA/tls/director.key;
    ssl_verify_client on;
    ssl_client_certificate $CA;
    root $WORK/www;
    location = /api/v1/node/report { return 204; }
  }
}
EOF
  nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx.err" &
  nginx_pid=$!
  trap 'kill -QUIT "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; cleanup' EXIT
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$NPORT") 2>/dev/null && break; sleep 0.1; done
  NGINX=https://127.0.0.1:$NPORT
  sim() {
    "$FLEETSIM" --director "$NGINX" --ca "$CA" --nodes 50 --identities "$WORK/ids.json" \
      --poll-interval 0.3 --apply-ms 100 --until-running probe 2.0 --json "$@"
  }

  expect_ok "until running" sim --duration 20
  U=$WORK/.stdout
  [ "$(jq .until_running.reached "$U")" = true ] || fail "not every node ran probe 2.0: $(cat "$U")"; pass
  [ "$(jq '.running["probe@2.0"]' "$U")" = 50 ] || fail "running counts: $(jq -c .running "$U")"; pass
  [ "$(jq .totals.reports "$U")" -ge 100 ] || fail "no report after applying"; pass

  # 10 % of the nodes fail 2.0: 5 of 50, chosen by the seed; --until-running is not reached,
  # which ends the run with status 1 and says so last (statistics lines precede it on stderr).
  rc=0
  sim --duration 3 --fail-percent 10 --fail-version 2.0 --seed 3 >"$WORK/failing.json" \
    2>"$WORK/failing.err" || rc=$?
  [ "$rc" = 1 ] || fail "injected failures: exit $rc"; pass
  [ "$(tail -1 "$WORK/failing.err")" = \
    "fogkeep-fleetsim: not every node runs probe@2.0 by the end of --duration" ] ||
    fail "injected failures: $(cat "$WORK/failing.err")"; pass
  [ "$(jq '.running["probe@2.0"]' "$WORK/failing.json")" = 45 ] ||
    fail "running with 10 % failing: $(jq -c .running "$WORK/failing.json")"; pass
  # Failing another version fails nothing here.
  expect_ok "failures of another version" sim --duration 20 --fail-percent 10 --fail-version 1.0
  [ "$(jq '.running["probe@2.0"]' "$WORK/.stdout")" = 50 ] || fail "another version failed"; pass
else
  echo "nginx is not installed: applying desired states not checked"
fi
done_checks
