#!/usr/bin/env bash
# network-monitor end to end with real fogkeepd and runc: a signed busybox app asking for it
# is refused while the node's policy grants it to no app; once the policy names the test's
# interface, the app's container sees that interface (and loopback) and no other, captures
# frames sent from the test's namespace with libpcap's calls (AF_PACKET, promiscuous
# membership, a TPACKET_V3 ring under mmap, poll) and answers ARP with busybox arping, while
# the interface is gone from the host. A second app is refused while the first holds it, an
# app the policy does not name is refused, a fogkeepd restart leaves the holder capturing, and
# a stop returns the interface to the host.
#
# The monitored interface is one end of a veth pair created in the host namespace; its peer
# lives in a network namespace the test creates, and all traffic stays between the two. Both
# are removed on exit. Needs root, runc, busybox-static, iproute2 and a C compiler that links
# statically (exit 77 = skipped).
# Environment: FOGKEEPD and FOGKEEP_SHIM name the binaries under test ($1 is fogkeep).
source "$(dirname "$0")/lib.sh"
prepare_node_test
command -v ip >/dev/null || { echo "SKIP: iproute2 is not installed"; exit 77; }
CC=${CC:-cc}
A=netmon-a-$$
B=netmon-b-$$
C=netmon-c-$$
IF=fkm$$       # the monitor interface (host end of the veth)
PEER=fkmp$$    # its peer, in $PEER_NS
PEER_NS=fogkeep-netmon-$$
cleanup() {
  set +e
  local app verb pin
  # remove_apps ends with rm -rf $WORK: the pinned namespaces under it (left only when the
  # daemon could not release them) must be unmounted first.
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    for app in "$A" "$B" "$C"; do
      for verb in stop deactivate uninstall; do
        "$FOGKEEP" app "$verb" "$app" --socket "$SOCK" >/dev/null 2>&1
      done
    done
  fi
  stop_daemon
  for pin in "$DATA"/monitor/netns/* "$DATA"/monitor/userns/*; do
    [ -e "$pin" ] && umount -l "$pin" 2>/dev/null
  done
  remove_apps "$A" "$B" "$C"
  ip netns del "$PEER_NS" 2>/dev/null
  ip link del "$IF" 2>/dev/null
}
trap cleanup EXIT
cd "$WORK"

"$CC" -static -O2 -o monitor-probe "$SRC/tests/integration/network_monitor_probe.c" 2>cc.err ||
  { echo "SKIP: cannot build a static probe: $(head -1 cc.err)"; exit 77; }

# ---- the test's own network: host end $IF (down, no address), peer 10.251.0.1 -------------
ip netns add "$PEER_NS"
ip link add "$IF" type veth peer name "$PEER" netns "$PEER_NS"
ip -n "$PEER_NS" addr add 10.251.0.1/24 dev "$PEER"
ip -n "$PEER_NS" link set "$PEER" up
ip -n "$PEER_NS" link set lo up
in_host() { ip link show "$IF" >/dev/null 2>&1; }
in_host || fail "the veth end is not in the host namespace"
pass

# ---- three signed apps asking for network-monitor -----------------------------------------
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
make_app() {  # make_app NAME OUT
  local dir=app-$1
  mkdir -p "$dir/rootfs"/{bin,app,data,tmp,proc,sys,dev,etc}
  cp /bin/busybox "$dir/rootfs/bin/busybox"
  for applet in sh cat ls sleep arping mv echo; do ln -s busybox "$dir/rootfs/bin/$applet"; done
  cp monitor-probe "$dir/rootfs/bin/monitor-probe"
  echo "root:x:0:0:root:/:/bin/sh" >"$dir/rootfs/etc/passwd"
  echo "root:x:0:" >"$dir/rootfs/etc/group"
  # What the app reports goes to /data, each file renamed into place when complete.
  cat >"$dir/rootfs/app/run.sh" <<'EOF'
#!/bin/sh
IF=$FOGKEEP_MONITOR_INTERFACE
report() { cat >/data/$1.tmp && mv /data/$1.tmp /data/$1; }
echo "$IF" | report interface
ls /sys/class/net | report links
cat /sys/class/net/$IF/operstate | report operstate
{ /bin/monitor-probe "$IF" 3 60 2>&1; echo "rc=$?"; } | report probe
{ arping -D -c 2 -w 5 -I "$IF" 10.251.0.1 2>&1; echo "rc=$?"; } | report arping
while true; do cat /sys/class/net/$IF/statistics/rx_packets | report rx; sleep 0.2; done
EOF
  cat >"$dir/package.yaml" <<EOF
descriptor-schema-version: "2.2"
info:
  name: $1
  version: "1.0.0"
app:
  type: docker
  cpuarch: $(uname -m)
  resources:
    profile: c1.tiny
    network-monitor: true
  startup:
    rootfs: rootfs.tar
    target: ["/bin/sh", "/app/run.sh"]
EOF
  expect_ok "build $1" "$FOGKEEP" package build "$dir" -o "unsigned-$1.tar"
  expect_ok "sign $1" "$FOGKEEP" package sign "unsigned-$1.tar" --key pki/signer.key \
    --cert pki/signer.pem -o "$2"
}
make_app sensor sensor.tar

L=(--socket "$SOCK")
data() { cat "$DATA/apps/$1/data/$2" 2>/dev/null; }
# wait_file APP FILE: the app has written /data/FILE.
wait_file() {
  for _ in $(seq 1 300); do
    [ -f "$DATA/apps/$1/data/$2" ] && return 0
    sleep 0.1
  done
  "$FOGKEEP" app logs "$1" "${L[@]}" >&2 || true
  fail "$1 never wrote /data/$2"
}
# Broadcast ARP requests from the peer: frames the monitor interface receives.
send_frames() { ip netns exec "$PEER_NS" /bin/busybox arping -c "$1" -w 10 -I "$PEER" 10.251.0.99 >/dev/null 2>&1 || true; }

# ---- no grant: refused, nothing lent -------------------------------------------------------
start_daemon
expect_ok "trust set" "$FOGKEEP" node trust set pki/ca.pem "${L[@]}"
expect_ok "install A" "$FOGKEEP" app install sensor.tar --id "$A" "${L[@]}"
expect_refused "no grant" "$A.*asks for network-monitor.*which this node's policy grants to no app" \
  "$FOGKEEP" app activate "$A" "${L[@]}"
in_host || fail "the interface left the host without a grant"
expect_ok "status" "$FOGKEEP" app status "$A" --json "${L[@]}"
jq -e '.network == "monitor (not granted)"' "$WORK/.stdout" >/dev/null || fail "status: $(cat "$WORK/.stdout")"
stop_daemon

# ---- the policy lends $IF to A or B --------------------------------------------------------
printf 'network:\n  mode: none\nnetwork-monitor:\n  interface: %s\n  apps: [%s, %s]\n' \
  "$IF" "$A" "$B" >"$WORK/fogkeepd.yaml"
start_daemon
expect_ok "activate A" "$FOGKEEP" app activate "$A" "${L[@]}"
expect_ok "start A" "$FOGKEEP" app start "$A" "${L[@]}"
wait_file "$A" links
in_host && fail "the interface is still in the host namespace while $A runs"
[ "$(data "$A" interface)" = "$IF" ] || fail "FOGKEEP_MONITOR_INTERFACE: $(data "$A" interface)"
[ "$(data "$A" links | tr '\n' ' ')" = "$IF lo " ] || fail "the app sees: $(data "$A" links)"
[ "$(data "$A" operstate)" = up ] || fail "operstate: $(data "$A" operstate)"
pass
expect_ok "status" "$FOGKEEP" app status "$A" --json "${L[@]}"
jq -e --arg n "monitor $IF" '.network == $n and .state == "RUNNING"' "$WORK/.stdout" >/dev/null ||
  fail "status: $(cat "$WORK/.stdout")"

# libpcap's capture path works in the container, and ARP gets its answer.
for _ in $(seq 1 20); do
  [ -f "$DATA/apps/$A/data/probe" ] && break
  send_frames 3
done
wait_file "$A" probe
grep -q '^promiscuous ok$' <(data "$A" probe) && grep -q '^rc=0$' <(data "$A" probe) ||
  fail "capture: $(data "$A" probe)"
grep -q '^captured [0-9]* frames$' <(data "$A" probe) || fail "capture: $(data "$A" probe)"
pass
wait_file "$A" arping
grep -q 'Received [1-9][0-9]* response' <(data "$A" arping) || fail "arping: $(data "$A" arping)"
pass
# The interface's counters move with frames sent in the peer namespace.
wait_file "$A" rx
before=$(data "$A" rx)
send_frames 5
sleep 0.6
after=$(data "$A" rx)
[ "$after" -gt "$before" ] || fail "rx_packets did not move ($before -> $after)"
pass

# ---- one app at a time; only the apps the policy names -------------------------------------
make_app sensor-b sensor-b.tar
expect_ok "install B" "$FOGKEEP" app install sensor-b.tar --id "$B" "${L[@]}"
expect_ok "activate B" "$FOGKEEP" app activate "$B" "${L[@]}"
expect_refused "second holder" "$B: monitor interface $IF is held by app $A" \
  "$FOGKEEP" app start "$B" "${L[@]}"
expect_ok "install C" "$FOGKEEP" app install sensor.tar --id "$C" "${L[@]}"
expect_refused "not named" "$C.*which this node's policy grants only to $A, $B" \
  "$FOGKEEP" app activate "$C" "${L[@]}"
[ "$(data "$A" links | tr '\n' ' ')" = "$IF lo " ] && ! in_host || fail "A lost its interface"
pass

# ---- a fogkeepd restart leaves the holder capturing ---------------------------------------
stop_daemon
start_daemon
in_host && fail "the interface came back while $A still runs"
before=$(data "$A" rx)
send_frames 5
sleep 0.6
[ "$(data "$A" rx)" -gt "$before" ] || fail "rx_packets after the restart: $before -> $(data "$A" rx)"
pass

# ---- a stop returns the interface; then B may have it --------------------------------------
expect_ok "stop A" "$FOGKEEP" app stop "$A" "${L[@]}"
in_host || fail "the interface did not return to the host when $A stopped"
[ -z "$(ls -A "$DATA/monitor/netns")$(ls -A "$DATA/monitor/userns")" ] && [ ! -e "$DATA/monitor/holder" ] ||
  fail "left behind: $(ls -R "$DATA/monitor")"
pass
expect_ok "start B" "$FOGKEEP" app start "$B" "${L[@]}"
wait_file "$B" links
in_host && fail "the interface is still in the host namespace while $B runs"
[ "$(data "$B" links | tr '\n' ' ')" = "$IF lo " ] || fail "B sees: $(data "$B" links)"
pass
expect_ok "stop B" "$FOGKEEP" app stop "$B" "${L[@]}"
in_host || fail "the interface did not return when $B stopped"
pass
done_checks
