#!/usr/bin/env bash
# fogkeep-sensor as a signed fog app under a real fogkeepd and runc: the node's policy lends it
# the monitor interface (one end of a veth pair whose peer sits in a namespace this test
# creates), a port scan sent from that namespace is seen by the app, and its alert reaches the
# node through the app's own socket: `fogkeep alerts` lists it with the app as its source.
# The app's /data keeps its EVE file and, once stopped, its flow records.
# Needs root, runc, busybox-static and iproute2 (exit 77 = skipped).
# Environment: FOGKEEPD, FOGKEEP_SHIM and FOGKEEP_SENSOR name the binaries under test.
source "$(dirname "$0")/lib.sh"
prepare_node_test
SENSOR=${FOGKEEP_SENSOR:?path to fogkeep-sensor}
command -v ip >/dev/null || { echo "SKIP: iproute2 is not installed"; exit 77; }
APP=sensor-$$
IF=fks$$        # the monitor interface (host end of the veth)
PEER=fksp$$     # its peer, in $PEER_NS
PEER_NS=fogkeep-sensor-$$
cleanup() {
  set +e
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    for verb in stop deactivate uninstall; do
      "$FOGKEEP" app "$verb" "$APP" --socket "$SOCK" >/dev/null 2>&1
    done
  fi
  stop_daemon
  for pin in "$DATA"/monitor/netns/* "$DATA"/monitor/userns/*; do
    [ -e "$pin" ] && umount -l "$pin" 2>/dev/null
  done
  remove_apps "$APP"
  ip netns del "$PEER_NS" 2>/dev/null
  ip link del "$IF" 2>/dev/null
}
trap cleanup EXIT
cd "$WORK"

ip netns add "$PEER_NS"
ip link add "$IF" type veth peer name "$PEER" netns "$PEER_NS"
ip -n "$PEER_NS" addr add 10.252.0.1/24 dev "$PEER"
ip -n "$PEER_NS" link set "$PEER" up
ip -n "$PEER_NS" link set lo up
# The scanned address answers nothing (the monitor port has no address): give it a MAC, so the
# peer's SYNs leave without waiting for ARP.
ip -n "$PEER_NS" neigh add 10.252.0.2 lladdr 02:00:00:00:fc:02 dev "$PEER" nud permanent

# ---- the sample app, with a low port-scan threshold, signed ---------------------------------
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
"$SRC/examples/sensor/make-rootfs.sh" app "$SENSOR" >/dev/null
printf 'detectors:\n  port-scan: {ports: 20}\n' > app/rootfs/app/sensor.yaml
# A sanitizer build reserves more memory than the sample's limit, and its leak checker needs
# ptrace, which the app's seccomp profile refuses.
sed -i 's/^    memory: .*/    memory: 512/' app/package.yaml
sed -i 's/^  cpuarch: .*/  cpuarch: '"$(uname -m)"'\n  env:\n    ASAN_OPTIONS: "detect_leaks=0"/' app/package.yaml
expect_ok "build" "$FOGKEEP" package build app -o unsigned.tar
expect_ok "sign" "$FOGKEEP" package sign unsigned.tar --key pki/signer.key --cert pki/signer.pem -o sensor.tar

printf 'network:\n  mode: none\nnetwork-monitor:\n  interface: %s\n  apps: [%s]\n' "$IF" "$APP" \
  >"$WORK/fogkeepd.yaml"
start_daemon
L=(--socket "$SOCK")
expect_ok "trust set" "$FOGKEEP" node trust set pki/ca.pem "${L[@]}"
expect_ok "run the sensor app" "$FOGKEEP" app run sensor.tar --id "$APP" "${L[@]}"
ip link show "$IF" >/dev/null 2>&1 && fail "the monitor interface is still in the host namespace"
pass

# The sensor is capturing once its log says nothing went wrong and the app keeps running; the
# scan is repeated until an alert shows (the first SYNs may go before the capture is open).
scan() {
  ip netns exec "$PEER_NS" bash -c 'for p in $(seq 1000 1030); do
    timeout 0.05 bash -c "exec 3<>/dev/tcp/10.252.0.2/$p" 2>/dev/null; done; true'
}
found=
for _ in $(seq 1 20); do
  scan
  "$FOGKEEP" alerts --detector port-scan --json "${L[@]}" > alerts.json 2>/dev/null || true
  if jq -e --arg app "$APP" '[.alerts[] | select(.source == $app)] | length >= 1' alerts.json >/dev/null 2>&1; then
    found=1
    break
  fi
  sleep 0.5
done
[ -n "$found" ] || {
  "$FOGKEEP" app logs "$APP" "${L[@]}" >&2 || true
  fail "no port-scan alert from the app reached the node: $(cat alerts.json 2>&1)"
}
jq -e --arg app "$APP" '[.alerts[] | select(.source == $app)][0].alert |
  .src_ip == "10.252.0.1" and .alert.detector == "port-scan" and .alert.severity == 2' alerts.json >/dev/null ||
  fail "the alert as the node keeps it: $(cat alerts.json)"
pass
# The human view names the app and the detector.
expect_ok "fogkeep alerts" "$FOGKEEP" alerts "${L[@]}"
grep -q "$APP" "$WORK/.stdout" && grep -q "port-scan" "$WORK/.stdout" || fail "fogkeep alerts: $(cat "$WORK/.stdout")"
# The app's EVE file holds it too.
jq -se 'map(select(.alert.detector == "port-scan")) | length >= 1' "$DATA/apps/$APP/data/alerts.json" >/dev/null ||
  fail "the app's alerts.json: $(cat "$DATA/apps/$APP/data/alerts.json" 2>&1)"
pass

# A stop ends the capture cleanly: the flows are written and the interface returns.
expect_ok "stop" "$FOGKEEP" app stop "$APP" "${L[@]}"
ip link show "$IF" >/dev/null 2>&1 || fail "the interface did not return to the host"
jq -se 'map(select(.protocolIdentifier == 6 and .sourceIPv4Address == "10.252.0.1")) | length >= 20' \
  "$DATA/apps/$APP/data/flows.jsonl" >/dev/null || fail "flow records: $(head -3 "$DATA/apps/$APP/data/flows.jsonl" 2>&1)"
pass
done_checks
