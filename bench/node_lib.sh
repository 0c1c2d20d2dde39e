# Helpers for the node agent's benchmarks (bench/node_*.sh): a private fogkeepd on loopback
# with its own data directory, a signed busybox app that stops at once on SIGTERM, and a
# cleanup that leaves no app, container, shim or cgroup behind, even when the benchmark fails.
# Source it after lib.sh. Needs root and runc.
#
# Sets: WORK (temp dir, removed on exit), DATA, SOCK, FKD, FK, SHIM (binaries under test).
# Call node_cleanup from the caller's EXIT trap (node_trap does that, with extra commands).

# Builds the binaries when the build directory is the release preset's (or when they are
# missing): a no-op for an up-to-date tree. Another FOGKEEP_BUILD is built as it is configured.
node_ensure_built() {
  if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
    if [ "$BUILD" != "$SRC/build/release" ]; then
      echo "FOGKEEP_BUILD=$BUILD is not a configured build directory" >&2
      exit 1
    fi
    (cd "$SRC" && cmake --preset release >/dev/null)
  fi
  cmake --build "$BUILD" --target fogkeepd fogkeep fogkeep-shim >/dev/null
  FKD=$BUILD/apps/fogkeepd
  FK=$BUILD/apps/fogkeep
  SHIM=$BUILD/apps/fogkeep-shim
}

node_require_root() {
  [ "$(id -u)" = 0 ] || { echo "$(basename "$0"): needs root (runc, cgroups)" >&2; exit 1; }
  command -v runc >/dev/null || { echo "$(basename "$0"): runc is not installed" >&2; exit 1; }
  [ -x /bin/busybox ] || { echo "$(basename "$0"): busybox-static is not installed" >&2; exit 1; }
}

node_setup() {
  node_require_root
  node_ensure_built
  WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/fogkeep-bench.XXXXXX")
  # The apps' user namespaces (host uid 200000+) must traverse down to their rootfs.
  chmod 711 "$WORK"
  DATA=$WORK/data
  SOCK=$WORK/run/fogkeepd.sock
  FKD_PID=
  FKD_PORT=
  NODE_APPS=()
}

# Starts fogkeepd on 127.0.0.1 (any free port) and the private socket; waits until it serves.
node_start_daemon() {
  local before
  before=$(grep -c '^fogkeepd: listening on' "$WORK/fogkeepd.out" 2>/dev/null || true)
  "$FKD" --data-dir "$DATA" --listen 127.0.0.1:0 --socket "$SOCK" --shim "$SHIM" \
    >>"$WORK/fogkeepd.out" 2>>"$WORK/fogkeepd.err" &
  FKD_PID=$!
  for _ in $(seq 1 300); do
    FKD_PORT=$(sed -n 's|^fogkeepd: listening on https://127.0.0.1:\([0-9]*\)$|\1|p' \
      "$WORK/fogkeepd.out" | sed -n "$((${before:-0} + 1))p")
    [ -n "$FKD_PORT" ] && [ -S "$SOCK" ] && return 0
    kill -0 "$FKD_PID" 2>/dev/null || { cat "$WORK/fogkeepd.err" >&2; echo "fogkeepd exited" >&2; exit 1; }
    sleep 0.1
  done
  cat "$WORK/fogkeepd.err" >&2
  echo "fogkeepd did not report its address" >&2
  exit 1
}

node_stop_daemon() {
  [ -n "${FKD_PID:-}" ] || return 0
  kill -TERM "$FKD_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$FKD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$FKD_PID" 2>/dev/null || true
  wait "$FKD_PID" 2>/dev/null || true
  FKD_PID=
}

fk_local() { "$FK" "$@" --socket "$SOCK"; }

# A signed package of a busybox app whose init ends on SIGTERM (so a stop takes no grace
# period), with no network interface (the benchmarks measure fogkeep, not CNI). Trusts its CA.
node_make_package() {
  "$FK" pki init --dir "$WORK/pki" >/dev/null
  "$SRC/examples/hello/make-rootfs.sh" "$WORK/app" >/dev/null
  cat >"$WORK/app/package.yaml" <<'YAML'
descriptor-schema-version: "2.2"
info:
  name: benchapp
  version: "1.0.0"
app:
  type: docker
  cpuarch: x86_64
  resources:
    profile: c1.tiny
  startup:
    rootfs: rootfs.tar
    target: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
YAML
  "$FK" package build "$WORK/app" -o "$WORK/app.tar" >/dev/null
  "$FK" package sign "$WORK/app.tar" --key "$WORK/pki/signer.key" --cert "$WORK/pki/signer.pem" \
    -o "$WORK/app-signed.tar" >/dev/null
  fk_local node trust set "$WORK/pki/ca.pem" >/dev/null
}

# node_install ID [activate|start]: installs the package as ID, then activates (and starts) it.
node_install() {
  local id=$1 upto=${2:-}
  NODE_APPS+=("$id")
  fk_local app install "$WORK/app-signed.tar" --id "$id" >/dev/null
  [ -z "$upto" ] && return 0
  fk_local app activate "$id" >/dev/null
  [ "$upto" = start ] && fk_local app start "$id" >/dev/null
  return 0
}

# RSS, PSS and private memory (Private_Clean + Private_Dirty) of PID in KiB: "rss pss private".
mem_kib() {
  awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {v += $2}
       END {print r, p, v}' "/proc/$1/smaps_rollup"
}

# median of the numbers on stdin (one per line).
median() {
  sort -n | awk '{a[NR] = $1} END {if (NR == 0) exit 1; print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}

# Removes everything the benchmark made: apps through the API while fogkeepd runs, then
# whatever is left directly (containers in the node's runtime root, shims, cgroups).
node_cleanup() {
  set +e
  if [ -n "${FKD_PID:-}" ] && kill -0 "$FKD_PID" 2>/dev/null; then
    for id in "${NODE_APPS[@]}"; do
      for verb in stop deactivate uninstall; do fk_local app "$verb" "$id" >/dev/null 2>&1; done
    done
  fi
  node_stop_daemon
  if [ -d "${DATA:-}/runtime" ]; then
    for dir in "$DATA"/runtime/*/; do
      [ -d "$dir" ] || continue
      runc --root "$DATA/runtime" delete -f "$(basename "$dir")" >/dev/null 2>&1
    done
  fi
  for pidfile in "${DATA:-/nonexistent}"/apps/*/state/shim.pid; do
    [ -f "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null
  done
  for id in "${NODE_APPS[@]}"; do
    for cg in /sys/fs/cgroup/*/fogkeep/"$id" /sys/fs/cgroup/fogkeep/"$id"; do
      [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
  done
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
}
