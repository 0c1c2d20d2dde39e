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

# A private fogkeep-director for a test: start_director DATA_DIR [FLAGS...] runs $DIRECTOR on
# DATA_DIR with HTTPS on a free loopback port (or $DPORT when set, so that a restart keeps its
# URL), appending its output to DATA_DIR.{out,err}; it returns once it listens, with
# director_pid, DPORT, URL, FP (its fleet CA's SHA-256) and CA (DATA_DIR/ca/ca.crt) set.
start_director() {
  local data=$1 before
  shift
  before=$(grep -c '^fogkeep-director: listening on' "$data.out" 2>/dev/null || true)
  "$DIRECTOR" --data-dir "$data" --listen "127.0.0.1:${DPORT:-0}" "$@" \
    >>"$data.out" 2>>"$data.err" &
  director_pid=$!
  DPORT=
  for _ in $(seq 1 200); do
    DPORT=$(sed -n 's|^fogkeep-director: listening on https://127.0.0.1:\([0-9]*\) .*|\1|p' \
      "$data.out" | sed -n "$((${before:-0} + 1))p")
    [ -n "$DPORT" ] && break
    kill -0 "$director_pid" 2>/dev/null || { cat "$data.err" >&2; fail "fogkeep-director exited"; }
    sleep 0.1
  done
  [ -n "$DPORT" ] || fail "fogkeep-director did not report its address"
  FP=$(sed -n 's|^fogkeep-director: fleet CA sha256 \([0-9a-f]*\) .*|\1|p' "$data.out" | tail -1)
  [ ${#FP} -eq 64 ] || fail "fogkeep-director did not print its CA fingerprint"
  URL=https://127.0.0.1:$DPORT
  CA=$data/ca/ca.crt
}

# register_oauth_client ADMIN_TOKEN JSON: registers an OAuth client at the director that
# start_director started ($URL, $CA) with an admin's API token; prints its secret ("" for a
# public client).
register_oauth_client() {
  local status
  status=$(curl -s -o "$WORK/client.json" -w '%{http_code}' --cacert "$CA" \
    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$2" \
    "$URL/api/v1/oauth/clients")
  [ "$status" = 201 ] || { cat "$WORK/client.json" >&2; fail "client registration answered $status"; }
  jq -r '.client_secret // ""' "$WORK/client.json"
}

# A software TPM 2.0 for a test: start_swtpm runs swtpm on two consecutive free loopback ports
# (command, control) with its state in $WORK/tpm-state, and exports TPM2OPENSSL_TCTI, which
# OpenSSL's tpm2 provider and so fogkeep use. Sets tpm_pid; stop_swtpm ends it (callers call
# it from their cleanup trap).
start_swtpm() {
  local port
  mkdir -p "$WORK/tpm-state"
  tpm_pid=
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
      --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate dir="$WORK/tpm-state" \
      --flags startup-clear >"$WORK/swtpm.log" 2>&1 &
    tpm_pid=$!
    for _ in $(seq 1 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      kill -0 "$tpm_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$tpm_pid" 2>/dev/null && break
    tpm_pid=
  done
  [ -n "$tpm_pid" ] || fail "swtpm did not start: $(cat "$WORK/swtpm.log")"
  export TPM2OPENSSL_TCTI="swtpm:host=127.0.0.1,port=$port"
}

stop_swtpm() {
  [ -n "${tpm_pid:-}" ] || return 0
  kill "$tpm_pid" 2>/dev/null
  wait "$tpm_pid" 2>/dev/null
  tpm_pid=
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
