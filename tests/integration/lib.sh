# Shared helpers for fogkeep's shell integration tests. Source it; it sets FOGKEEP (the
# binary under test, from $1 or $FOGKEEP), SRC (the source tree) and WORK (a temp dir removed
# on exit), and gives small assertion helpers that print what failed.
set -euo pipefail
FOGKEEP=${1:-${FOGKEEP:?path to the fogkeep binary}}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${FOGKEEP_SHARED_DIR:-$SRC/../shared}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fogkeep-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
checks=0

pass() { checks=$((checks + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_ok DESC CMD...: CMD must exit 0.
expect_ok() {
  local desc=$1; shift
  if ! "$@" >"$WORK/.stdout" 2>"$WORK/.stderr"; then
    cat "$WORK/.stdout" "$WORK/.stderr" >&2
    fail "$desc: expected success"
  fi
  pass
}

# expect_refused DESC PATTERN CMD...: CMD must exit 1 with exactly one stderr line (besides
# warnings about weakened settings) matching PATTERN.
expect_refused() {
  local desc=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$WORK/.stdout" 2>"$WORK/.stderr" || rc=$?
  [ "$rc" -eq 1 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected exit 1, got $rc"; }
  [ "$(grep -vc '^fogkeep: warning:' "$WORK/.stderr")" -eq 1 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected one line on stderr"; }
  grep -qE -- "$pattern" "$WORK/.stderr" || { cat "$WORK/.stderr" >&2; fail "$desc: stderr does not match '$pattern'"; }
  pass
}

done_checks() { echo "$(basename "$0"): $checks checks passed"; }

# A private fogkeepd for a test: start_daemon runs $FOGKEEPD on $DATA with the config
# $WORK/fogkeepd.yaml, HTTPS on a free loopback port and the Unix socket $SOCK (and the shim
# $FOGKEEP_SHIM when set), appending its output to $WORK/fogkeepd.{out,err}; it returns once
# both listen, with PORT set, and may be called again after stop_daemon. Callers set
# daemon_pid= before their cleanup trap and call stop_daemon from it.
start_daemon() {
  local before
  before=$(grep -c '^fogkeepd: listening on' "$WORK/fogkeepd.out" 2>/dev/null || true)
  "$FOGKEEPD" --config "$WORK/fogkeepd.yaml" --data-dir "$DATA" --listen 127.0.0.1:0 \
    --socket "$SOCK" ${FOGKEEP_SHIM:+--shim "$FOGKEEP_SHIM"} >>"$WORK/fogkeepd.out" 2>>"$WORK/fogkeepd.err" &
  daemon_pid=$!
  for _ in $(seq 1 300); do
    PORT=$(sed -n 's|^fogkeepd: listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$WORK/fogkeepd.out" |
      sed -n "$((${before:-0} + 1))p")
    [ -n "$PORT" ] && [ -S "$SOCK" ] && return 0
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$WORK/fogkeepd.err" >&2; fail "fogkeepd exited at start"; }
    sleep 0.1
  done
  cat "$WORK/fogkeepd.err" >&2
  fail "fogkeepd did not report its address"
}

stop_daemon() {
  [ -n "$daemon_pid" ] || return 0
  kill -TERM "$daemon_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
}


# For tests that run apps under a private fogkeepd with real runc: skips (exit 77) without
# root, runc or busybox-static; sets DATA and SOCK for start_daemon; lets the apps' user
# namespaces (host uid 200000+) traverse $WORK down to their rootfs; and writes a config with
# loopback-only app networking (bridge networking, the default when the CNI plugins are
# installed, would leave a bridge and NAT chains on the machine).
prepare_node_test() {
  FOGKEEPD=${FOGKEEPD:?path to fogkeepd}
  FOGKEEP_SHIM=${FOGKEEP_SHIM:?path to fogkeep-shim}
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
  command -v runc >/dev/null || { echo "SKIP: runc is not installed"; exit 77; }
  [ -x /bin/busybox ] || { echo "SKIP: busybox-static is not installed"; exit 77; }
  chmod 711 "$WORK"
  DATA=$WORK/data
  SOCK=$WORK/run/fogkeepd.sock
  daemon_pid=
  printf 'network:\n  mode: none\n' >"$WORK/fogkeepd.yaml"
}

# remove_apps APP...: the cleanup of a prepare_node_test test. Uninstalls the apps through the
# daemon while it runs, stops it, removes what the API could not (containers, shims, cgroups),
# then $WORK.
remove_apps() {
  set +e
  local app verb pidfile cg
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    for app in "$@"; do
      for verb in stop deactivate uninstall; do
        "$FOGKEEP" app "$verb" "$app" --socket "$SOCK" >/dev/null 2>&1
      done
    done
  fi
  stop_daemon
  for app in "$@"; do
    if [ -d "$DATA/runtime" ]; then
      runc --root "$DATA/runtime" kill "$app" KILL >/dev/null 2>&1
      runc --root "$DATA/runtime" delete -f "$app" >/dev/null 2>&1
    fi
    for cg in /sys/fs/cgroup/*/fogkeep/"$app" /sys/fs/cgroup/fogkeep/"$app"; do
      [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
  done
  for pidfile in "$DATA"/apps/*/state/shim.pid; do
    [ -f "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null
  done
  rm -rf "$WORK"
}
