#!/usr/bin/env bash
# What a fleet of idle nodes costs fogkeep-director: NODES simulated nodes (fogkeep-fleetsim,
# one I/O thread) enrolled through EST, then each sending GET /api/v1/node/desired with
# If-None-Match every INTERVAL s (±10 % jitter, starts spread over one interval; plain
# polling, no long poll) over mutual TLS, answered 304. After WARMUP s (every node has polled
# and holds its connection), the director's CPU share is taken from /proc/PID/stat
# (utime + stime, all its threads) over WINDOW s, and its resident memory (VmRSS at the end,
# VmHWM: the peak since the director was restarted for this measurement, so enrollment's peak
# is not in it). Targets: < 10 % of one core and < 200 MiB.
#
# Connection modes (MODES), each measured on a freshly restarted director:
#   keep-alive  a node keeps one connection and reuses it, as fogkeepd's director link does;
#               when the director has closed it (idle longer than its 90 s idle timeout) the
#               node opens a new one
#   close       a new connection, TLS handshake included, for every poll: nodes whose idle
#               connections do not last (a NAT that drops them, a proxy that closes them)
# Routine reports are left out (REPORT_INTERVAL=0: each node reports once at its start, in the
# warm-up), so the figures are the cost of polling alone.
#
# Baseline, in the same run and under the same load: nginx (one worker process) standing in
# for the director's node routes, a static file of the same size as a node's desired state
# (its ETag answered 304) and 204 for reports, over TLS with the director's certificate,
# cipher policy and client verification (mutual TLS against the fleet CA), idle keep-alive
# connections closed after 90 s like the director's. The same fogkeep-fleetsim, with the same
# identities, polls it: same nodes, rate, jitter, connection mode and TLS. What nginx does
# not do is the director's per-request work: authenticating the node against the store and
# routing the request through its worker pool. nginx's figures are its master plus worker.
#
# With --store postgres the director also runs on a PostgreSQL started here, beside SQLite;
# PostgreSQL's own CPU is printed apart ("store CPU %").
#
# Usage: bench/director_poll.sh BUILD_DIR [--store postgres]
#        (NODES=10000 INTERVAL=30 WARMUP=40 WINDOW=90 MODES="keep-alive close"
#         REPORT_INTERVAL=0 ENROLL_CONCURRENCY=64; BUILD_DIR defaults to $FOGKEEP_BUILD)
# Takes about (WARMUP + WINDOW + 15) s per mode and server, plus enrollment.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/director_lib.sh"
director_args "$@"
nodes=${NODES:-10000}
interval=${INTERVAL:-30}
warmup=${WARMUP:-40}
window=${WINDOW:-90}
modes=${MODES:-keep-alive close}
report_interval=${REPORT_INTERVAL:-0}
enroll_concurrency=${ENROLL_CONCURRENCY:-64}
director_setup
trap director_cleanup EXIT
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((nodes + 100)) ] || {
  echo "the descriptor limit ($(ulimit -n)) is too low for $nodes connections" >&2; exit 1; }

declare -A enroll_line
for store in $STORES; do
  director_start "$store"
  "$FLEETSIM" --director "${D_URL[$store]}" --ca "${D_DATA[$store]}/ca/ca.crt" --nodes "$nodes" \
    --token "${D_NM[$store]}" --identities "$WORK/ids-$store.json" --duration 0 \
    --enroll-concurrency "$enroll_concurrency" >"$WORK/enroll-$store.out" 2>&1 ||
    { cat "$WORK/enroll-$store.out" >&2; exit 1; }
  enroll_line[$store]=$(grep '^enrolled ' "$WORK/enroll-$store.out")
done

node_pem "$WORK/ids-sqlite.json" 0 "$WORK/node0"
curl -sf --cacert "${D_DATA[sqlite]}/ca/ca.crt" --cert "$WORK/node0/chain.pem" \
  --key "$WORK/node0/key.pem" -o "$WORK/desired.json" "${D_URL[sqlite]}/api/v1/node/desired" ||
  { echo "cannot fetch a desired state" >&2; exit 1; }
# measure TARGET MODE: the fleet polls TARGET (sqlite, postgres: a director restarted for the
# measurement; nginx: the baseline, restarted too) in MODE; prints "cpu% store-cpu% rss-kib
# hwm-kib fds req/s 304/s errors load-cpu%" with CPU and memory of the target's processes.
measure() {
  local target=$1 mode=$2 out=$WORK/poll.json err=$WORK/poll.err url ca ids pids sim
  local t0 t1 p0=0 p1=0 s0 s1 w0 w1 rss hwm fds=0 pid seconds
  if [ "$target" = nginx ]; then
    nginx_stop
    nginx_start "$WORK/desired.json" "${D_DATA[sqlite]}" "$nodes"
    url=$NGINX_URL ca=${D_DATA[sqlite]}/ca/ca.crt ids=$WORK/ids-sqlite.json
  else
    director_stop_one "$target"
    director_start "$target"
    url=${D_URL[$target]} ca=${D_DATA[$target]}/ca/ca.crt ids=$WORK/ids-$target.json
  fi
  "$FLEETSIM" --director "$url" --ca "$ca" --nodes "$nodes" --identities "$ids" \
    --poll-interval "$interval" --report-interval "$report_interval" --connection "$mode" \
    --duration $((warmup + window + 60)) --warmup "$warmup" --stats-interval 10 --json \
    >"$out" 2>"$err" &
  sim=$!
  BG_PIDS=("$sim")
  for _ in $(seq 1 600); do grep -q '^loaded ' "$err" && break; sleep 0.1; done
  sleep "$warmup"
  if [ "$target" = nginx ]; then pids=$(nginx_pids); else pids=${D_PID[$target]}; fi
  w0=$(now_s); t0=$(cpu_ticks $pids); s0=$(cpu_ticks "$sim")
  [ "$target" = postgres ] && p0=$(cpu_ticks --children $(postgres_pids))
  sleep "$window"
  w1=$(now_s); t1=$(cpu_ticks $pids); s1=$(cpu_ticks "$sim")
  [ "$target" = postgres ] && p1=$(cpu_ticks --children $(postgres_pids))
  rss=$(mem_kib_sum VmRSS $pids)
  hwm=$(mem_kib_sum VmHWM $pids)
  for pid in $pids; do fds=$((fds + $(ls "/proc/$pid/fd" | wc -l))); done
  kill -INT "$sim"
  wait "$sim" || true
  BG_PIDS=()
  jq -e .window "$out" >/dev/null 2>&1 || { cat "$err" >&2; echo "fleetsim failed" >&2; exit 1; }
  cp "$err" "$WORK/poll-$target-$mode.log"
  cp "$out" "$WORK/poll-$target-$mode.json"
  seconds=$(elapsed "$w0" "$w1")
  echo "$(percent $((t1 - t0)) "$seconds") $(percent $((p1 - p0)) "$seconds") $rss $hwm $fds" \
    "$(jq '.window.requests_per_second * 10 | floor / 10' "$out")" \
    "$(jq '.window.checkins_per_second * 10 | floor / 10' "$out")" "$(jq .window.errors "$out")" \
    "$(percent $((s1 - s0)) "$seconds")"
  if [ "$(jq .window.errors "$out")" != 0 ]; then
    echo "  $target $mode errors: $(jq -c .error_kinds "$out"); last: $(jq -r .last_error "$out")" \
      >>"$WORK/errors.txt"
  fi
}

label() {
  case $1 in
    sqlite) echo "director, SQLite (fleetsim, mTLS)" ;;
    postgres) echo "director, PostgreSQL (fleetsim, mTLS)" ;;
    nginx) echo "nginx, static file (fleetsim, mTLS)" ;;
  esac
}

echo "Polling: $nodes nodes, GET /api/v1/node/desired + If-None-Match every $interval s ±10 %" \
  "(no long poll); ${window} s measured after ${warmup} s warm-up; $(nproc) cores"
for store in $STORES; do echo "enrollment ($store): ${enroll_line[$store]}"; done
for mode in $modes; do
  declare -A line=()
  for target in $STORES nginx; do
    measure "$target" "$mode" >"$WORK/line"
    line[$target]=$(cat "$WORK/line")
  done
  echo
  echo "mode: $mode"
  printf '%-38s %8s %9s %10s %10s %6s %8s %8s %7s %9s\n' "" "CPU %" "store CPU" "VmRSS MiB" \
    "VmHWM MiB" "fds" "req/s" "304/s" "errors" "load CPU%"
  for target in $STORES nginx; do
    read -r cpu store_cpu rss hwm fds rps checkins errors load <<<"${line[$target]}"
    printf '%-38s %8s %9s %10s %10s %6s %8s %8s %7s %9s\n' "$(label "$target")" "$cpu" \
      "$store_cpu" "$(mib "$rss")" "$(mib "$hwm")" "$fds" "$rps" "$checkins" "$errors" "$load"
  done
  read -r ncpu _ nrss _ <<<"${line[nginx]}"
  for store in $STORES; do
    read -r cpu _ rss hwm _ <<<"${line[$store]}"
    cpu_ok=$(awk -v c="$cpu" 'BEGIN {print (c < 10 ? "yes" : "NO")}')
    mem_ok=$(awk -v h="$hwm" 'BEGIN {print (h < 200 * 1024 ? "yes" : "NO")}')
    echo "ratio $store director / nginx ($mode): CPU $(ratio "$cpu" "$(awk -v c="$ncpu" 'BEGIN {print (c > 0 ? c : 0.1)}')")," \
      "RSS $(ratio "$rss" "$nrss"); targets: CPU < 10 % of one core: $cpu_ok ($cpu %)," \
      "memory < 200 MiB: $mem_ok (peak $(mib "$hwm") MiB)"
  done
done
[ -f "$WORK/errors.txt" ] && { echo; echo "errors seen by the fleet:"; cat "$WORK/errors.txt"; }
echo "load average at the end (other work on this machine competes): $(cut -d' ' -f1-3 /proc/loadavg)"
