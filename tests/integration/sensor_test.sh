#!/usr/bin/env bash
# fogkeep-sensor end to end: synthetic captures with known ground truth (pcap and pcapng),
# flow counts and Modbus fields cross-checked against tshark's independent decode, refusals,
# and a live capture on a veth pair between two network namespaces this test creates.
source "$(dirname "$0")/lib.sh"
SENSOR=${FOGKEEP_SENSOR:?path to fogkeep-sensor}
cd "$WORK"

cat > sensor.yaml <<'YAML'
detectors:
  modbus-write: {allowed-writers: [10.10.0.5]}
YAML

# alerts_by_detector FILE: "detector count" lines, sorted.
alerts_by_detector() { jq -r '.alert.detector' "$1" | sort | uniq -c | awk '{print $2, $1}'; }

# --- Ground truth, through the command line, on pcap and pcapng --------------------------------
declare -A truth=(
  [normal]=""
  [modbus-write]="modbus-write 1"
  [port-scan]="port-scan 1"
  [syn-flood]="syn-flood 1"
  [dns-tunnel]=$'dns-nxdomain 1\ndns-tunnel 1'
  [arp-spoof]="arp-spoof 1"
)
for scenario in "${!truth[@]}"; do
  expect_ok "synth $scenario" "$SENSOR" synth "$scenario" -w "$scenario.pcap"
  editcap -F pcapng "$scenario.pcap" "$scenario.pcapng"
  for file in "$scenario.pcap" "$scenario.pcapng"; do
    "$SENSOR" -r "$file" -c sensor.yaml --alerts "$file.alerts" 2>"$file.summary" ||
      fail "$file: sensor failed: $(cat "$file.summary")"
    [ -f "$file.alerts" ] || : > "$file.alerts"
    got=$(alerts_by_detector "$file.alerts")
    [ "$got" = "${truth[$scenario]}" ] || fail "$file: alerts '$got', expected '${truth[$scenario]}'"
    pass
  done
done

# --- Cross-check against tshark ----------------------------------------------------------------
# conversations FILE: "a:port b:port frames" per TCP conversation, endpoints in sorted order.
tshark_conversations() {
  tshark -r "$1" -q -z conv,tcp 2>/dev/null | awk '$2 == "<->" {
    a = $1; b = $3; if (a > b) { t = a; a = b; b = t }; print a, b, $10 }' | sort
}
sensor_conversations() {
  jq -r 'select(.protocolIdentifier == 6) | "\(.sourceIPv4Address):\(.sourceTransportPort) \(.destinationIPv4Address):\(.destinationTransportPort) \(.packetDeltaCount + .reversePacketDeltaCount)"' "$1" |
    awk '{ a = $1; b = $2; if (a > b) { t = a; a = b; b = t }; n[a " " b] += $3 }
         END { for (k in n) print k, n[k] }' | sort
}
tshark_modbus_functions() {
  tshark -r "$1" -Y modbus -T fields -e modbus.func_code 2>/dev/null | tr ',' '\n' |
    { grep -v '^$' || true; } | sort -n | uniq -c | awk '{print $2, $1}'
}
sensor_modbus_functions() {
  jq -r '.modbus.functions | to_entries[] | "\(.key) \(.value)"' "$1" | sort -n
}
"$SENSOR" synth mixed --packets 30000 --flows 1500 -w mixed.pcap
modbus_compared=0
for capture in mixed.pcap normal.pcap modbus-write.pcap port-scan.pcap; do
  "$SENSOR" -r "$capture" --alerts none --flows "$capture.flows" --json 2>stats.json
  tshark_conversations "$capture" > tshark.conv
  sensor_conversations "$capture.flows" > sensor.conv
  [ -s tshark.conv ] || fail "$capture: tshark found no TCP conversation"
  diff tshark.conv sensor.conv > conv.diff || fail "$capture: flows differ from tshark's conversations: $(head -5 conv.diff)"
  pass
  tshark_modbus_functions "$capture" > tshark.modbus
  sensor_modbus_functions stats.json > sensor.modbus
  diff tshark.modbus sensor.modbus > modbus.diff || fail "$capture: Modbus function counts differ from tshark's: $(cat modbus.diff)"
  modbus_compared=$((modbus_compared + $(wc -l < tshark.modbus)))
  pass
done
[ "$modbus_compared" -ge 5 ] || fail "the Modbus cross-check compared too little ($modbus_compared)"
# Flow records carry IPFIX names.
jq -se 'map(select(.destinationTransportPort == 502)) | length == 150 and all(.applicationName == "modbus" and .flowEndReason == 3)' mixed.pcap.flows > /dev/null ||
  fail "Modbus flows are not named and ended"
pass

# --- Hostile and mistaken input: one clear line, exit 1 ----------------------------------------
head -c 1000 mixed.pcap > cut.pcap
expect_refused "a cut capture" "truncated or corrupt" "$SENSOR" -r cut.pcap --alerts none
printf 'not a capture' > junk.pcap
expect_refused "not a capture" "junk.pcap" "$SENSOR" -r junk.pcap
expect_refused "a missing file" "missing.pcap" "$SENSOR" -r missing.pcap
expect_refused "a bad filter" "filter" "$SENSOR" -r normal.pcap -f 'port banana'
printf 'detectors: {port-scan: {portz: 3}}\n' > bad.yaml
expect_refused "a config typo" "port-scan.portz: unknown key" "$SENSOR" -r normal.pcap -c bad.yaml
expect_refused "nothing to read" "--read FILE or --interface IF" "$SENSOR"
expect_refused "an unknown scenario" "unknown scenario" "$SENSOR" synth nope -w x.pcap
"$SENSOR" --help | grep -q -- "--interface" || fail "--help does not teach --interface"
pass

# --- Live capture on a veth pair between two namespaces of this test ---------------------------
if [ "$(id -u)" -ne 0 ] || ! ip netns add "fks-probe-$$" 2>/dev/null; then
  echo "sensor_test: live capture skipped (needs root and network namespaces)"
  done_checks
  exit 0
fi
ip netns del "fks-probe-$$"
NS_A="fks-a-$$" NS_B="fks-b-$$"
cleanup_netns() { ip netns del "$NS_A" 2>/dev/null || true; ip netns del "$NS_B" 2>/dev/null || true; }
trap 'cleanup_netns; rm -rf "$WORK"' EXIT
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add fks-a type veth peer name fks-b netns "$NS_B"
ip link set fks-a netns "$NS_A"
ip -n "$NS_A" addr add 10.77.0.1/24 dev fks-a
ip -n "$NS_B" addr add 10.77.0.2/24 dev fks-b
ip -n "$NS_A" link set fks-a up
ip -n "$NS_B" link set fks-b up
ip -n "$NS_A" link set lo up

ip netns exec "$NS_B" "$SENSOR" -i fks-b -f 'tcp or icmp' -c sensor.yaml --alerts live.alerts \
  --flows live.flows --json 2> live.summary &
sensor_pid=$!
# Wait until the capture is open (the sensor holds a packet socket).
for _ in $(seq 50); do
  ip netns exec "$NS_B" ss -0 -p 2>/dev/null | grep -q "pid=$sensor_pid" && break
  sleep 0.1
done
ip netns exec "$NS_A" ping -c 2 -i 0.2 10.77.0.2 > /dev/null || fail "no ping across the veth"
# A real port scan: 80 ports, each refused by 10.77.0.2's kernel with a RST.
ip netns exec "$NS_A" bash -c 'for p in $(seq 1 80); do (exec 3<>/dev/tcp/10.77.0.2/$p) 2>/dev/null; done; true'
# Stopped right after the scan: packets reach the sensor when their ring block is full or
# retired by the 1 s read timeout, so the sensor drains the ring after SIGTERM; without that
# drain it would lose the scan's open block (most of the scan's 160 packets).
sleep 0.1
kill -TERM "$sensor_pid"
wait "$sensor_pid" || fail "the live sensor exited with an error: $(cat live.summary)"
jq -se 'map(select(.alert.detector == "port-scan")) | length == 1 and .[0].src_ip == "10.77.0.1"' live.alerts > /dev/null ||
  fail "no port-scan alert from the live capture: $(cat live.alerts live.summary)"
pass
jq -e '.capture.received >= 160 and .packets == .capture.received' live.summary > /dev/null ||
  fail "live counters: $(cat live.summary)"
jq -se 'map(select(.protocolIdentifier == 1)) | length == 1 and .[0].packetDeltaCount == 2 and .[0].reversePacketDeltaCount == 2' live.flows > /dev/null ||
  fail "the ping flow is missing from the live flow records"
pass
cleanup_netns
ip link show fks-a > /dev/null 2>&1 && fail "the veth outlived its namespaces"
pass
done_checks
