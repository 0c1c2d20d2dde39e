#!/usr/bin/env bash
# fogkeep-sensor's throughput on one core: a synthetic capture of PACKETS packets over FLOWS
# flows (10 % Modbus/TCP polling, the rest HTTPS with ClientHellos, plain HTTP and DNS),
# written here by `fogkeep-sensor synth mixed`, read with every detector on. The figures are
# the median of RUNS runs, each pinned to one CPU (taskset -c 0): packets per second from the
# wall time of the whole run (start-up, file reading, flow records discarded), and the peak
# resident memory (GNU time's maximum RSS).
#
# Baselines on the same file, the same core, in the same run:
#   - tshark -r FILE -q -z conv,tcp   (Wireshark's dissectors and its conversation table)
#   - tcpdump -nr FILE > /dev/null    (libpcap reading and one line of decode per packet)
# Targets: at least 1,500,000 packets/s on one core (about 20x tshark) and a peak under 64 MiB.
#
# Usage: bench/sensor_throughput.sh [BUILD_DIR]   (PACKETS=1000000 FLOWS=10000 RUNS=3)
source "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] && BUILD=$1
SENSOR=$BUILD/apps/fogkeep-sensor
[ -x "$SENSOR" ] || { echo "no $SENSOR: build first (cmake --preset release && cmake --build build/release)" >&2; exit 1; }
for tool in tshark tcpdump taskset; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
done
packets=${PACKETS:-1000000}
flows=${FLOWS:-10000}
RUNS=${RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/fogkeep-sensor-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
capture=$work/mixed.pcap

"$SENSOR" synth mixed --packets "$packets" --flows "$flows" -w "$capture"
"$SENSOR" -r "$capture" --alerts none --json 2> "$work/stats.json"
read -r counted created modbus alerts < <(jq -r '[.packets, .flows.created, .modbus.frames,
  ([.alerts[]] | add // 0)] | @tsv' "$work/stats.json")
echo "capture: $counted packets, $created flows, $modbus Modbus frames, $(du -m "$capture" | cut -f1) MiB; sensor alerts: $alerts"

# run_median NAME CMD: RUNS runs of CMD on CPU 0; prints "median_seconds median_peak_kib".
run_median() {
  local name=$1 cmd=$2 secs=() peaks=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/time" taskset -c 0 bash -c "$cmd" > /dev/null 2>&1 ||
      { echo "$name failed: $cmd" >&2; exit 1; }
    read -r s kib < "$work/time"
    secs+=("$s")
    peaks+=("$kib")
  done
  local median='{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
  echo "$(printf '%s\n' "${secs[@]}" | sort -g | awk "$median")" \
       "$(printf '%s\n' "${peaks[@]}" | sort -n | awk "$median")"
}

read -r sensor_s sensor_kib < <(run_median sensor "'$SENSOR' -r '$capture' --alerts none")
read -r sensor_flows_s _ < <(run_median sensor "'$SENSOR' -r '$capture' --alerts none --flows /dev/null")
read -r tshark_s tshark_kib < <(run_median tshark "tshark -r '$capture' -q -z conv,tcp")
read -r tcpdump_s tcpdump_kib < <(run_median tcpdump "tcpdump -nr '$capture'")

pps() { awk -v n="$counted" -v s="$1" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
printf '%-34s %12s %14s %10s\n' "one core, all detectors on" "seconds" "packets/s" "peak MiB"
printf '%-34s %12s %14s %10s\n' "fogkeep-sensor" "$sensor_s" "$(pps "$sensor_s")" "$(mib "$sensor_kib")"
printf '%-34s %12s %14s %10s\n' "fogkeep-sensor --flows /dev/null" "$sensor_flows_s" "$(pps "$sensor_flows_s")" ""
printf '%-34s %12s %14s %10s\n' "tshark -q -z conv,tcp" "$tshark_s" "$(pps "$tshark_s")" "$(mib "$tshark_kib")"
printf '%-34s %12s %14s %10s\n' "tcpdump -nr" "$tcpdump_s" "$(pps "$tcpdump_s")" "$(mib "$tcpdump_kib")"
echo "sensor vs tshark: $(ratio "$tshark_s" "$sensor_s")x faster; vs tcpdump: $(ratio "$tcpdump_s" "$sensor_s")x"
echo "targets: >= 1,500,000 packets/s, peak < 64 MiB"
