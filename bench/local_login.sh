#!/usr/bin/env bash
# Local-user logins per second at the default argon2id cost, beside the raw cost of one
# argon2id hash with the same parameters from the reference `argon2` CLI (Debian package
# argon2), measured in the same script.
#
# fogkeep side (fogkeep-bench-local-login, COUNT sequential logins of one user, setup excluded):
#   check  LocalUserStore::Authenticate: parse the stored PHC string, one argon2id, compare
#   login  LoginService::Login: throttle, the check, and a session committed to SQLite
# It reports wall-clock time (logins per second) and CPU time (clock(3), as the CLI counts).
# argon2 side: the CLI's own timer (the "N seconds" it prints, which covers the hash and not
# process start-up or the verification it runs afterwards), COUNT x RUNS invocations of
# `argon2 SALT -id -t T -k M -p P -l 32`, two ways:
#   cold  one hash in a fresh process: includes the first touch of M KiB of new memory, which
#         on some machines (VMs) costs more than the hashing itself
#   warm  the cost of T more passes over memory the process already touched: the median at 2T
#         minus the median at T. A daemon's logins reuse freed memory, so this is the fair
#         baseline for fogkeep's figures (whose setup has already warmed the allocator).
# The cost is the library's default, read from the driver (M, T, P override it). The ratios
# compare CPU time with CPU time, so that other load on a shared machine cancels out. Every
# figure is a median: of RUNS driver runs, and of COUNT x RUNS CLI runs.
#
# Usage: bench/local_login.sh   (COUNT=20 RUNS=5 by default; FOGKEEP_BUILD=build dir)
source "$(dirname "$0")/lib.sh"
count=${COUNT:-20}
argon2_cli=$(command -v argon2 || true)
[ -n "$argon2_cli" ] || { echo "install argon2 (scripts/setup-debian.sh)" >&2; exit 1; }
if [ ! -f "$BUILD/build.ninja" ]; then
  echo "FOGKEEP_BUILD=$BUILD is not configured: cmake --preset release" >&2
  exit 1
fi
cmake --build "$BUILD" --target fogkeep-bench-local-login >/dev/null
driver=$BUILD/bench/auth/fogkeep-bench-local-login
read -r def_m def_t def_p < <("$driver" --defaults)
m=${M:-$def_m}
t=${T:-$def_t}
p=${P:-$def_p}

work=$(mktemp -d "${TMPDIR:-/var/tmp}/fogkeep-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# median_col COL CMD: runs CMD (which prints numbers) RUNS times; prints the median of column COL.
median_col() {
  local col=$1 cmd=$2 values=()
  for _ in $(seq "$RUNS"); do values+=("$(eval "$cmd" | awk -v c="$col" '{print $c}')"); done
  printf '%s\n' "${values[@]}" | sort -g |
    awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
# fk MODE: one run of the driver in a fresh directory; prints "WALL_MS CPU_MS".
fk() {
  rm -rf "$work/run" && mkdir "$work/run"
  "$driver" "$work/run" "$1" "$count" "$m" "$t" "$p"
}
# cli_ms M T: median milliseconds of one hash as the CLI times it, over COUNT x RUNS runs.
cli_ms() {
  for _ in $(seq $((count * RUNS))); do
    printf 'benchmark password 1' | "$argon2_cli" saltsaltsaltsalt -id -t "$2" -k "$1" -p "$p" \
      -l 32 | awk '/ seconds$/ {print $1 * 1000}'
  done | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

# Both sides must work before anything is timed, and must compute the same function.
fk check >/dev/null
fk login >/dev/null
printf 'benchmark password 1' | "$argon2_cli" saltsaltsaltsalt -id -t "$t" -k "$m" -p "$p" -l 32 -e |
  grep -q "^\$argon2id\$v=19\$m=$m,t=$t,p=$p\\$" || { echo "argon2 CLI output unexpected" >&2; exit 1; }

echo "argon2id m=$m KiB t=$t p=$p; $count sequential logins per run; runs: $RUNS (median);" \
  "$(nproc) CPUs"
check_wall=$(median_col 1 "fk check")
check_cpu=$(median_col 2 "fk check")
login_wall=$(median_col 1 "fk login")
login_cpu=$(median_col 2 "fk login")
cold_ms=$(cli_ms "$m" "$t")
cli2_ms=$(cli_ms "$m" $((2 * t)))
warm_ms=$(awk -v a="$cli2_ms" -v b="$cold_ms" 'BEGIN {print (a > b ? a - b : a)}')
rate() { awk -v n="$1" -v ms="$2" 'BEGIN {printf "%.1f", n * 1000 / ms}'; }
each() { awk -v n="$count" -v ms="$1" 'BEGIN {printf "%.1f", ms / n}'; }
echo "argon2 CLI, one hash, cold: $cold_ms ms CPU = $(rate 1 "$cold_ms") hashes/s"
echo "argon2 CLI, one hash, warm (t=$((2 * t)) minus t=$t): $warm_ms ms CPU =" \
  "$(rate 1 "$warm_ms") hashes/s"
echo "fogkeep password check: $(each "$check_wall") ms wall = $(rate "$count" "$check_wall")" \
  "logins/s; $(each "$check_cpu") ms CPU"
echo "fogkeep full login (throttle + check + SQLite session): $(each "$login_wall") ms wall =" \
  "$(rate "$count" "$login_wall") logins/s; $(each "$login_cpu") ms CPU"
echo "ratio fogkeep checks/s / warm argon2 hashes/s (CPU): $(ratio "$warm_ms" "$(each "$check_cpu")")"
echo "ratio fogkeep logins/s / warm argon2 hashes/s (CPU): $(ratio "$warm_ms" "$(each "$login_cpu")")"
echo "ratio fogkeep logins/s / cold argon2 hashes/s (CPU): $(ratio "$cold_ms" "$(each "$login_cpu")")"
