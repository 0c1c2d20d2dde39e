#!/usr/bin/env bash
# Resident memory of fogkeepd idle with no apps (target <= 8 MiB), of fogkeepd with 20 running
# apps (target <= 12 MiB), and of each fogkeep-shim (target <= 1 MiB). The targets compare
# RSS: every page mapped into the process, shared library pages included, as `ps` and `top`
# show it. PSS (shared pages divided among the processes mapping them) and private memory
# (Private_Clean + Private_Dirty, what the process alone costs) come from smaps_rollup and are
# shown beside it. Baselines, measured here in the same run: an idle nginx (master + one
# worker, plain HTTP on loopback, Debian's build) and an idle `sleep` (the floor of any
# dynamically linked C program).
# "Idle" is a fogkeepd started again on its data directory (node identity and trust store in
# place, no apps), after SETTLE seconds. Medians of RUNS samples (restarts for idle, samples a
# second apart with apps, the 20 shims for the shim).
# Usage: bench/node_memory.sh   (APPS=20 RUNS=5 SETTLE=2; FOGKEEP_BUILD=build dir; needs root)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
apps=${APPS:-20}
settle=${SETTLE:-2}
node_setup
nginx_pid=
sleep_pid=
cleanup() {
  set +e
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  [ -n "$sleep_pid" ] && kill "$sleep_pid" 2>/dev/null && wait "$sleep_pid" 2>/dev/null
  node_cleanup
}
trap cleanup EXIT

# Median of the three columns of "rss pss private" lines on stdin: "rss pss private".
median3() {
  local rows
  rows=$(cat)
  echo "$(cut -d' ' -f1 <<<"$rows" | median) $(cut -d' ' -f2 <<<"$rows" | median)" \
    "$(cut -d' ' -f3 <<<"$rows" | median)"
}

# First start: node identity, trust store, the signed package. Then idle samples, each from a
# fresh start of fogkeepd on that data directory.
node_start_daemon
node_make_package
node_stop_daemon
idle_samples=()
for _ in $(seq "$RUNS"); do
  node_start_daemon
  sleep "$settle"
  idle_samples+=("$(mem_kib "$FKD_PID")")
  idle_threads=$(awk '/^Threads:/ {print $2}' "/proc/$FKD_PID/status")
  node_stop_daemon
done
idle=$(printf '%s\n' "${idle_samples[@]}" | median3)

node_start_daemon
for i in $(seq "$apps"); do node_install "bench-mem-$$-$i" start; done
running=$(fk_local app list --json | jq '[.apps[] | select(.state == "RUNNING")] | length')
[ "$running" -eq "$apps" ] || { echo "only $running of $apps apps are RUNNING" >&2; exit 1; }
sleep "$settle"
busy_samples=()
for _ in $(seq "$RUNS"); do
  busy_samples+=("$(mem_kib "$FKD_PID")")
  sleep 1
done
busy=$(printf '%s\n' "${busy_samples[@]}" | median3)
busy_threads=$(awk '/^Threads:/ {print $2}' "/proc/$FKD_PID/status")
shim_samples=()
for id in "${NODE_APPS[@]}"; do
  shim_samples+=("$(mem_kib "$(cat "$DATA/apps/$id/state/shim.pid")")")
done
shim=$(printf '%s\n' "${shim_samples[@]}" | median3)
shim_max=$(printf '%s\n' "${shim_samples[@]}" | cut -d' ' -f1 | sort -n | tail -1)

# Baselines. nginx: its own prefix and config, one worker, on a free loopback port.
port=
for candidate in $(shuf -i 20000-60000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "no free loopback port" >&2; exit 1; }
mkdir -p "$WORK/nginx/tmp" "$WORK/nginx/www"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server { listen 127.0.0.1:$port; root $WORK/nginx/www; }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 50); do [ -n "$(pgrep -P "$nginx_pid")" ] && break; sleep 0.1; done
sleep "$settle"
nginx_worker=$(pgrep -P "$nginx_pid" | head -1)
[ -n "$nginx_worker" ] || { cat "$WORK/nginx/error.log" >&2; echo "nginx did not start" >&2; exit 1; }
read -r m_rss m_pss m_priv <<<"$(mem_kib "$nginx_pid")"
read -r w_rss w_pss w_priv <<<"$(mem_kib "$nginx_worker")"
nginx_mem="$((m_rss + w_rss)) $((m_pss + w_pss)) $((m_priv + w_priv))"
sleep 1000 &
sleep_pid=$!
sleep 0.5
sleep_mem=$(mem_kib "$sleep_pid")

row() {  # what, "rss pss private", target KiB (or "-")
  local what=$1 target=$3 rss pss priv met="-"
  read -r rss pss priv <<<"$2"
  if [ "$target" != "-" ]; then
    met=$([ "$rss" -le "$target" ] && echo yes || echo NO)
    target="<= $target"
  fi
  printf '%-40s %9s %9s %9s %12s %5s\n' "$what" "$rss" "$pss" "$priv" "$target" "$met"
}
echo "resident memory in KiB (medians of $RUNS samples; the target compares RSS)"
printf '%-40s %9s %9s %9s %12s %5s\n' "" RSS PSS Private "target RSS" met
row "fogkeepd idle, no apps ($idle_threads threads)" "$idle" 8192
row "fogkeepd, $apps running apps ($busy_threads threads)" "$busy" 12288
row "fogkeep-shim, median of $apps (max RSS $shim_max)" "$shim" 1024
row "baseline: nginx master + 1 worker, idle" "$nginx_mem" -
row "baseline: sleep (coreutils)" "$sleep_mem" -
echo "ratio (fogkeepd idle RSS / nginx master + worker RSS): $(ratio "${idle%% *}" "${nginx_mem%% *}")"
