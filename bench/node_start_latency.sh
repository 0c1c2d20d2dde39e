#!/usr/bin/env bash
# Start latency of an app, ACTIVATED → RUNNING, against a running fogkeepd over its local
# socket: `POST /api/v1/apps/{id}/start`, sent and timed by a client that is already running
# (bench/unix_http_timer.py), until the response, which comes once the app is RUNNING: the
# agent's latency, which the target is about; and
# `fogkeep app start`, which adds the CLI's own start-up (shown for reading). Baseline: `runc run -d` of the same bundle (a copy of the config.json fogkeepd
# wrote, with its own container id, runc root, cgroup and /data), timed until runc returns
# with the container running. Rounds alternate between the two and stop the app (untimed)
# in between. Target: the API's median at most 15 ms above runc's.
# Usage: bench/node_start_latency.sh   (ROUNDS=20; FOGKEEP_BUILD=build dir; needs root + runc)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
rounds=${ROUNDS:-20}
warmup=${WARMUP:-2}
node_setup
APP=bench-start-$$
BASE=bench-start-$$-runc
base_root=$WORK/runc-root
cleanup() {
  set +e
  runc --root "$base_root" delete -f "$BASE" >/dev/null 2>&1
  for cg in /sys/fs/cgroup/*/fogkeep/"$BASE" /sys/fs/cgroup/fogkeep/"$BASE"; do
    [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
  done
  node_cleanup
}
trap cleanup EXIT

node_start_daemon
node_make_package
node_install "$APP" activate

# The baseline's bundle: fogkeepd's config.json for this app with the baseline's own cgroup
# and its own copy of /data (same owner), so nothing it does touches the app's.
bundle=$DATA/apps/$APP/bundle
mkdir -p "$WORK/base" "$base_root"
cp -a "$DATA/apps/$APP/data" "$WORK/base/data"
jq --arg cg "/fogkeep/$BASE" --arg data "$WORK/base/data" '
  .linux.cgroupsPath = $cg
  | .mounts |= map(if .destination == "/data" then .source = $data else . end)' \
  "$bundle/config.json" >"$WORK/base/config.json"
[ "$(jq -r .linux.cgroupsPath "$WORK/base/config.json")" = "/fogkeep/$BASE" ] ||
  { echo "unexpected config.json: no linux.cgroupsPath" >&2; exit 1; }

now_us() { echo "${EPOCHREALTIME/./}"; }

fogkeep_round() {
  local t0 t1
  t0=$(now_us)
  fk_local app start "$APP" >/dev/null
  t1=$(now_us)
  fk_local app stop "$APP" >/dev/null
  echo $((t1 - t0))
}

coproc TIMER { python3 "$SRC/bench/unix_http_timer.py" "$SOCK"; }
api_round() {
  local code us
  echo "POST /api/v1/apps/$APP/start" >&"${TIMER[1]}"
  read -r code us <&"${TIMER[0]}"
  [ "$code" = 200 ] || { echo "start over the API answered HTTP $code" >&2; exit 1; }
  fk_local app stop "$APP" >/dev/null
  echo "$us"
}

runc_round() {
  local t0 t1
  t0=$(now_us)
  runc --root "$base_root" run -d --bundle "$WORK/base" --pid-file "$WORK/base/pid" "$BASE" \
    </dev/null >/dev/null 2>"$WORK/base/stderr"
  t1=$(now_us)
  [ "$(runc --root "$base_root" state "$BASE" | jq -r .status)" = running ] ||
    { cat "$WORK/base/stderr" >&2; echo "baseline container is not running" >&2; exit 1; }
  runc --root "$base_root" delete -f "$BASE" >/dev/null
  echo $((t1 - t0))
}

for _ in $(seq "$warmup"); do
  api_round >/dev/null; fogkeep_round >/dev/null; runc_round >/dev/null
done
api_us=()
fk_us=()
runc_us=()
for i in $(seq "$rounds"); do
  # Rotate which goes first, so drift on a shared machine hits all alike.
  case $((i % 3)) in
    0) api_us+=("$(api_round)"); runc_us+=("$(runc_round)"); fk_us+=("$(fogkeep_round)") ;;
    1) runc_us+=("$(runc_round)"); fk_us+=("$(fogkeep_round)"); api_us+=("$(api_round)") ;;
    2) fk_us+=("$(fogkeep_round)"); api_us+=("$(api_round)"); runc_us+=("$(runc_round)") ;;
  esac
done
# For reading the figures: the CLI's own start-up without a request, and one request that
# does no work (/healthz) from the running client.
cli_us=()
health_us=()
for _ in $(seq "$rounds"); do
  t0=$(now_us)
  "$FK" --version >/dev/null
  cli_us+=($(($(now_us) - t0)))
  echo "GET /healthz" >&"${TIMER[1]}"
  read -r _ us <&"${TIMER[0]}"
  health_us+=("$us")
done

ms() { awk -v us="$1" 'BEGIN {printf "%.1f", us / 1000}'; }
stat_line() {  # name, then microsecond samples: median, min, max in ms
  local name=$1; shift
  local med min max
  med=$(printf '%s\n' "$@" | median)
  min=$(printf '%s\n' "$@" | sort -n | head -1)
  max=$(printf '%s\n' "$@" | sort -n | tail -1)
  printf '%-44s %10s %10s %10s\n' "$name" "$(ms "$med")" "$(ms "$min")" "$(ms "$max")"
}
api_med=$(printf '%s\n' "${api_us[@]}" | median)
runc_med=$(printf '%s\n' "${runc_us[@]}" | median)
delta_ms=$(awk -v a="$api_med" -v b="$runc_med" 'BEGIN {printf "%.1f", (a - b) / 1000}')
met=$(awk -v d="$delta_ms" 'BEGIN {print (d <= 15 ? "yes" : "NO")}')

echo "start latency, ACTIVATED -> RUNNING; $rounds rounds each (after $warmup warm-up), $(runc --version | head -1)"
printf '%-44s %10s %10s %10s\n' "" "median ms" "min ms" "max ms"
stat_line "POST .../start over the local socket" "${api_us[@]}"
stat_line "runc run -d, same bundle (baseline)" "${runc_us[@]}"
stat_line "  for reading: fogkeep app start (CLI)" "${fk_us[@]}"
stat_line "  for reading: fogkeep --version" "${cli_us[@]}"
stat_line "  for reading: GET /healthz" "${health_us[@]}"
echo "overhead (median API start - median runc): ${delta_ms} ms (target <= 15 ms): $met"
echo "ratio (API start / runc, medians): $(ratio "$api_med" "$runc_med")"
