#!/usr/bin/env bash
# fogkeep's main job on embedded defaults: a local fog. Installs what it needs, builds,
# creates a development PKI, builds and signs the sample app, starts a director on SQLite
# (fogkeep-director) and one node agent (fogkeepd) enrolled into it over EST, uploads the
# signed app to the director's catalog and deploys it by tag; the node pulls it over mutual
# TLS, verifies it and runs it in a hardened container (runc, the CNI bridge when Debian's
# plugins are present). Shows it RUNNING and answering. Run as root.
#
#   scripts/demo.sh          run the demo (re-running starts from scratch)
#   scripts/demo.sh stop     stop and remove the app, fogkeepd, the director and the demo's files
#
# Everything lands in $FOGKEEP_DEMO_DIR (default /tmp/fogkeep-demo). The director listens on
# https://127.0.0.1:9443; fogkeepd on the default local socket (/run/fogkeep/fogkeepd.sock)
# and on https://127.0.0.1:8443.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${FOGKEEP_DEMO_DIR:-/tmp/fogkeep-demo}
fk=$root/build/release/apps/fogkeep
fkd=$root/build/release/apps/fogkeepd
director=$root/build/release/apps/fogkeep-director
app=hello

# Stops what an earlier run left: the director first (so it no longer asks for the app), the
# app (through fogkeepd, so its container, cgroups and network go with it), then fogkeepd.
# Quiet when there is nothing to stop.
stop_demo() {
  if [ -f "$work/director.pid" ] && kill -0 "$(cat "$work/director.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$work/director.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$work/director.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
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
  echo "Stopped: the demo app, fogkeepd, the director and $work are gone."
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (fogkeepd manages containers)" >&2; exit 2; }

scripts/setup-debian.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target fogkeep fogkeepd fogkeep-shim fogkeep-director
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

# wait_for LOG PATTERN PIDFILE: until a daemon's log says it is up.
wait_for() {
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" && return 0
    kill -0 "$(cat "$3")" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  cat "$1" >&2
  exit 1
}

printf '\n== Start the director (fleet CA, catalog, deployments; SQLite)\n$ fogkeep-director --data-dir %s/director --listen 127.0.0.1:9443 &\n' "$work"
"$director" --data-dir "$work/director" --listen 127.0.0.1:9443 >"$work/director.log" 2>&1 &
echo $! >"$work/director.pid"
wait_for "$work/director.log" '^fogkeep-director: listening' "$work/director.pid"
cat "$work/director.log"
export FOGKEEP_DIRECTOR=https://127.0.0.1:9443
FOGKEEP_TOKEN=$("$director" token create --role admin --data-dir "$work/director" 2>/dev/null)
export FOGKEEP_TOKEN
fleet=("$fk" fleet)
ca=(--ca "$work/director/ca/ca.crt")

step "Fleet policy: every device accepts only packages signed under the development CA" \
  "${fleet[@]}" policy set '*' --require-signed --trust "$work/pki/ca.pem" "${ca[@]}"
enroll_token=$("${fleet[@]}" tokens create --tag demo --ttl 30m --json "${ca[@]}" | jq -r .token)
step "Enroll the node: its key, a CSR with a one-time token, a fleet certificate (EST)" \
  "$fkd" enroll --data-dir "$work/node" --director "$FOGKEEP_DIRECTOR" --token "$enroll_token" \
  --ca-file "$work/director/ca/ca.crt" --name demo-node

printf '\n== Start the node agent; it reports to the director over mutual TLS\n$ fogkeepd --data-dir %s/node --listen 127.0.0.1:8443 &\n' "$work"
"$fkd" --data-dir "$work/node" --listen 127.0.0.1:8443 >"$work/fogkeepd.log" 2>&1 &
echo $! >"$work/fogkeepd.pid"
wait_for "$work/fogkeepd.log" '^fogkeepd: reporting to the director' "$work/fogkeepd.pid"
cat "$work/fogkeepd.log"

step "Upload the signed app to the director's catalog (verified on the way in)" \
  "${fleet[@]}" catalog upload "$work/hello-signed.tar" "${ca[@]}"
printf '\n== An unsigned package is refused by the fleet policy\n'
"${fleet[@]}" catalog upload "$work/hello.tar" "${ca[@]}" || echo "(exit $?, as expected)"
step "Deploy it to the devices tagged demo and wait until it runs" \
  "${fleet[@]}" deploy "$app" 1.0.0 --tag demo --wait "${ca[@]}"
step "The fleet as the director sees it" "${fleet[@]}" devices "${ca[@]}"
step "The node's apps, as the node sees them" "$fk" app list

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

The signed app '$app', deployed through the director, is RUNNING in its own container.
  The fleet:       FOGKEEP_DIRECTOR=$FOGKEEP_DIRECTOR FOGKEEP_TOKEN=$FOGKEEP_TOKEN \\
                   $fk fleet devices --ca $work/director/ca/ca.crt   (also: rollouts, catalog list)
  Reach it:        $reach
  Status, logs:    $fk app status $app; $fk app logs $app --follow
  Over HTTPS:      $fk app list --node https://127.0.0.1:8443 --token $token --ca $work/node/tls/node.pem
  Metrics:         curl --cacert $work/node/tls/node.pem -H "Authorization: Bearer $token" https://127.0.0.1:8443/metrics
  Stop everything: scripts/demo.sh stop
EOF
