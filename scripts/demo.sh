#!/usr/bin/env bash
# fogkeep's main job on embedded defaults (SQLite state, runc, the CNI bridge when Debian's
# plugins are present): installs what it needs, builds, creates a development PKI, builds and
# signs the sample app, starts the node agent fogkeepd, installs and starts the signed app in
# a hardened container, and shows it RUNNING and answering. Run as root.
#
#   scripts/demo.sh          run the demo (re-running starts from scratch)
#   scripts/demo.sh stop     stop and remove the app, fogkeepd and the demo's files
#
# Everything lands in $FOGKEEP_DEMO_DIR (default /tmp/fogkeep-demo). fogkeepd listens on the
# default local socket (/run/fogkeep/fogkeepd.sock) and on https://127.0.0.1:8443.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${FOGKEEP_DEMO_DIR:-/tmp/fogkeep-demo}
fk=$root/build/release/apps/fogkeep
fkd=$root/build/release/apps/fogkeepd
app=hello

# Stops what an earlier run left: the app (through fogkeepd, so its container, cgroups and
# network go with it), then fogkeepd. Quiet when there is nothing to stop.
stop_demo() {
  if [ -f "$work/fogkeepd.pid" ] && kill -0 "$(cat "$work/fogkeepd.pid")" 2>/dev/null; then
    for verb in stop deactivate uninstall; do "$fk" app "$verb" "$app" >/dev/null 2>&1 || true; done
    kill -TERM "$(cat "$work/fogkeepd.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$work/fogkeepd.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}

if [ "${1:-}" = stop ]; then
  stop_demo
  # The bridge the CNI plugins made for the app, once nothing is attached to it any more.
  if ip link show fogkeep0 >/dev/null 2>&1 && [ -z "$(ip -o link show master fogkeep0)" ]; then
    ip link del fogkeep0
  fi
  echo "Stopped: the demo app, fogkeepd and $work are gone."
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (fogkeepd manages containers)" >&2; exit 2; }

scripts/setup-debian.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target fogkeep fogkeepd fogkeep-shim
stop_demo
mkdir -p "$work"
# Apps run as unprivileged host uids, which must traverse to their rootfs below this dir.
chmod 711 "$work"

step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }
step "Create a development PKI (CA + code-signing certificate)" "$fk" pki init --dir "$work/pki"
examples/hello/make-rootfs.sh "$work/hello"
step "Build the sample app from examples/hello" "$fk" package build "$work/hello" -o "$work/hello.tar"
step "Sign it" "$fk" package sign "$work/hello.tar" --key "$work/pki/signer.key" --cert "$work/pki/signer.pem" -o "$work/hello-signed.tar"
step "Verify signature, chain and every member" "$fk" package verify "$work/hello-signed.tar" --trust "$work/pki/ca.pem"

printf '\n== Start the node agent\n$ fogkeepd --data-dir %s/node --listen 127.0.0.1:8443 &\n' "$work"
"$fkd" --data-dir "$work/node" --listen 127.0.0.1:8443 >"$work/fogkeepd.log" 2>&1 &
echo $! >"$work/fogkeepd.pid"
for _ in $(seq 1 100); do
  grep -q '^fogkeepd: local socket' "$work/fogkeepd.log" && break
  kill -0 "$(cat "$work/fogkeepd.pid")" 2>/dev/null || { cat "$work/fogkeepd.log" >&2; exit 1; }
  sleep 0.1
done
cat "$work/fogkeepd.log"

step "Trust the development CA on the node" "$fk" node trust set "$work/pki/ca.pem"
step "Install, activate and start the signed app" "$fk" app run "$work/hello-signed.tar"
step "List the node's apps" "$fk" app list

printf '\n== An unsigned package is refused under the default policy\n'
"$fk" app install "$work/hello.tar" || echo "(exit $?, as expected)"

# The app's address: on the CNI bridge when the node has one, else loopback only.
address=$("$fk" app status "$app" --json | sed -n 's/.*"network":"bridge \([0-9.]*\)".*/\1/p')
if [ -n "$address" ]; then
  printf '\n== Ask the app on its bridge address\n$ curl http://%s:8080/\n' "$address"
  for _ in $(seq 1 50); do
    curl -fsS "http://$address:8080/" 2>/dev/null && break
    sleep 0.1
  done
  reach="curl http://$address:8080/   (port 8080 is also mapped on this host's addresses)"
else
  reach="the node has no CNI bridge, so the app has loopback only: see its output with the logs command"
fi
step "What the app wrote" "$fk" app logs "$app" --tail 5

token=$("$fkd" token create --role admin --data-dir "$work/node" 2>/dev/null)
cat <<EOF

The signed app '$app' is RUNNING in its own container.
  Reach it:        $reach
  Status, logs:    $fk app status $app; $fk app logs $app --follow
  Over HTTPS:      $fk app list --node https://127.0.0.1:8443 --token $token --ca $work/node/tls/node.pem
  Metrics:         curl --cacert $work/node/tls/node.pem -H "Authorization: Bearer $token" https://127.0.0.1:8443/metrics
  Stop everything: scripts/demo.sh stop
EOF
