#!/usr/bin/env bash
# Peak check-ins per second of fogkeep-director: NODES simulated nodes (fogkeep-fleetsim, one
# I/O thread, each node one keep-alive mutual-TLS connection) send GET /api/v1/node/desired
# with If-None-Match of their current ETag as fast as the answers come (plain polling, no
# wait), so every answer is 304. Each round measures DURATION s after a 2 s warm-up; the
# figure is the median of ROUNDS rounds. Target: at least 5,000 check-ins/s on SQLite.
#
# Baseline, in the same run and on the same 2 cores: nginx (one worker process) answering 304
# for a static file of the same size as a node's desired state, over TLS with the director's
# certificate, cipher policy and optional client verification, keep-alive, twice:
#   - driven by wrk (one thread) with the same number of connections and the same
#     If-None-Match conditional GET, but no client certificate (wrk cannot present one);
#   - driven by the same fogkeep-fleetsim as the director, with the same identities (mutual
#     TLS), so load generator and TLS are the same on both sides.
# Rounds alternate between the servers. What the director does and nginx does not: each
# check-in is authenticated (the client certificate is looked up in the store: a device row
# per request) and routed through the director's worker pool; nginx serves a file it has
# cached. The CPU each load generator used is printed beside the rates: on 2 shared cores a
# busier generator leaves less for its server.
#
# With --store postgres the same rounds also run against a director on a PostgreSQL started
# here (its server's CPU is counted with the director's), printed beside SQLite.
#
# Usage: bench/director_checkins.sh BUILD_DIR [--store postgres]
#        (NODES=128 DURATION=20 ROUNDS=3; BUILD_DIR defaults to $FOGKEEP_BUILD)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/director_lib.sh"
director_args "$@"
nodes=${NODES:-128}
duration=${DURATION:-20}
rounds=${ROUNDS:-3}
warm=2
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
director_setup
trap director_cleanup EXIT
ulimit -n "$(ulimit -Hn)"

for store in $STORES; do
  director_start "$store"
  "$FLEETSIM" --director "${D_URL[$store]}" --ca "${D_DATA[$store]}/ca/ca.crt" --nodes "$nodes" \
    --token "${D_NM[$store]}" --identities "$WORK/ids-$store.json" --duration 0 \
    >"$WORK/enroll-$store.out" 2>&1 || { cat "$WORK/enroll-$store.out" >&2; exit 1; }
done

# The baseline serves what a node gets: its desired state, fetched with a node's certificate.
node_pem "$WORK/ids-sqlite.json" 0 "$WORK/node0"
curl -sf --cacert "${D_DATA[sqlite]}/ca/ca.crt" --cert "$WORK/node0/chain.pem" \
  --key "$WORK/node0/key.pem" -o "$WORK/desired.json" "${D_URL[sqlite]}/api/v1/node/desired" ||
  { echo "cannot fetch a desired state" >&2; exit 1; }
nginx_start "$WORK/desired.json" "${D_DATA[sqlite]}" "$nodes"
nginx_etag=$NGINX_ETAG

# sim_round TARGET: one fleetsim round against a director (sqlite, postgres) or nginx
# (nginx-fleetsim); prints "checkins/s server-cpu% sim-cpu% errors".
sim_round() {
  local store=$1 out=$WORK/round.json err=$WORK/round.err sim t0 t1 s0 s1 w0 w1 servers
  local url=${D_URL[$1]:-} ca=${D_DATA[$1]:-}/ca/ca.crt ids=$WORK/ids-$1.json
  if [ "$store" = nginx-fleetsim ]; then
    url=$NGINX_URL ca=${D_DATA[sqlite]}/ca/ca.crt ids=$WORK/ids-sqlite.json
  fi
  "$FLEETSIM" --director "$url" --ca "$ca" --nodes "$nodes" \
    --identities "$ids" --poll-interval 0 --report-interval 0 \
    --duration $((duration + warm + 3)) --warmup "$warm" --stats-interval 0 --json \
    >"$out" 2>"$err" &
  sim=$!
  BG_PIDS=("$sim")
  for _ in $(seq 1 200); do grep -q '^loaded ' "$err" && break; sleep 0.05; done
  if [ "$store" = nginx-fleetsim ]; then servers=($(nginx_pids)); else servers=("${D_PID[$store]}"); fi
  sleep "$warm"
  w0=$(now_s); t0=$(cpu_ticks "${servers[@]}"); s0=$(cpu_ticks "$sim")
  [ "$store" = postgres ] && t0=$((t0 + $(cpu_ticks --children $(postgres_pids))))
  sleep "$duration"
  w1=$(now_s); t1=$(cpu_ticks "${servers[@]}"); s1=$(cpu_ticks "$sim")
  [ "$store" = postgres ] && t1=$((t1 + $(cpu_ticks --children $(postgres_pids))))
  wait "$sim" || { cat "$err" >&2; echo "fleetsim failed" >&2; exit 1; }
  BG_PIDS=()
  echo "$(jq '.window.checkins_per_second | floor' "$out")" \
    "$(percent $((t1 - t0)) "$(elapsed "$w0" "$w1")")" \
    "$(percent $((s1 - s0)) "$(elapsed "$w0" "$w1")")" "$(jq .window.errors "$out")"
}

# nginx_round: one wrk round; prints "304/s server-cpu% wrk-cpu% errors".
nginx_round() {
  local out=$WORK/wrk.out w t0 t1 s0 s1 w0 w1 total not2xx errors
  wrk -t1 -c"$nodes" -d"$((duration + 3))s" -H "If-None-Match: $nginx_etag" \
    "$NGINX_URL/api/v1/node/desired" >"$out" 2>&1 &
  w=$!
  BG_PIDS=("$w")
  sleep 1
  w0=$(now_s); t0=$(cpu_ticks $(nginx_pids)); s0=$(cpu_ticks "$w")
  sleep "$((duration - 1))"
  w1=$(now_s); t1=$(cpu_ticks $(nginx_pids)); s1=$(cpu_ticks "$w")
  wait "$w" || { cat "$out" >&2; exit 1; }
  BG_PIDS=()
  errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
  wrk_all_304 "$out" ||
    { cat "$out" >&2; echo "nginx answered other than 304" >&2; exit 1; }
  echo "$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$out")" \
    "$(percent $((t1 - t0)) "$(elapsed "$w0" "$w1")")" \
    "$(percent $((s1 - s0)) "$(elapsed "$w0" "$w1")")" "${errors:-0}"
}

declare -A results
wrk -t1 -c"$nodes" -d2s -H "If-None-Match: $nginx_etag" "$NGINX_URL/api/v1/node/desired" >/dev/null
for round in $(seq "$rounds"); do
  for target in $STORES nginx-fleetsim nginx; do
    if [ "$target" = nginx ]; then nginx_round >"$WORK/line"; else sim_round "$target" >"$WORK/line"; fi
    results[$target]+="$(cat "$WORK/line")"$'\n'
  done
done

column_median() { awk -v c="$2" 'NF {print $c}' <<<"${results[$1]}" | median; }
column_list() { awk -v c="$2" 'NF {print $c}' <<<"${results[$1]}" | paste -sd' '; }
label() {
  case $1 in
    sqlite) echo "director, SQLite (fleetsim, mTLS)" ;;
    postgres) echo "director, PostgreSQL (fleetsim, mTLS)" ;;
    nginx-fleetsim) echo "nginx, static 304 (fleetsim, mTLS)" ;;
    nginx) echo "nginx, static 304 (wrk, TLS)" ;;
  esac
}

echo "Check-ins: GET /api/v1/node/desired + If-None-Match -> 304; $nodes keep-alive connections;" \
  "${duration} s rounds after ${warm} s warm-up; median of $rounds rounds; $(nproc) cores"
printf '%-40s %10s  %-26s %11s %10s %7s\n' "" "304/s" "rounds" "server CPU%" "load CPU%" "errors"
for target in $STORES nginx-fleetsim nginx; do
  printf '%-40s %10s  %-26s %11s %10s %7s\n' "$(label "$target")" "$(column_median "$target" 1)" \
    "$(column_list "$target" 1)" "$(column_median "$target" 2)" "$(column_median "$target" 3)" \
    "$(column_median "$target" 4)"
done
for store in $STORES; do
  rate=$(column_median "$store" 1)
  met=$(awk -v r="$rate" 'BEGIN {print (r >= 5000 ? "yes" : "NO")}')
  echo "ratio $store director / nginx: $(ratio "$rate" "$(column_median nginx-fleetsim 1)")" \
    "(both driven by fleetsim), $(ratio "$rate" "$(column_median nginx 1)") (nginx driven by" \
    "wrk); target >= 5000 check-ins/s: $met ($rate/s)"
done
echo "load average at the end (other work on this machine competes): $(cut -d' ' -f1-3 /proc/loadavg)"
