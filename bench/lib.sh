# Shared helpers for fogkeep's macro benchmarks: timing with medians, and locating binaries.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FOGKEEP_BUILD:-$SRC/build/release}
RUNS=${RUNS:-5}

# median_ms SETUP_CMD CMD: runs SETUP_CMD (untimed) then CMD, RUNS times; prints the median
# wall time of CMD in milliseconds.
median_ms() {
  local setup=$1 cmd=$2 times=()
  for _ in $(seq "$RUNS"); do
    eval "$setup"
    local t0 t1
    t0=$(date +%s%N)
    eval "$cmd" >/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
