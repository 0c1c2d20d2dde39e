#!/usr/bin/env bash
# Installs what fogkeep needs, builds it with ASan + UBSan and passes every test: the unit and
# integration suites and the replay of each fuzz target's corpus (label "fuzz"). Fuzzing itself
# is scripts/fuzz.sh, with clang's libFuzzer.
# Stress tests (label "stress") run only with FOGKEEP_STRESS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh

jobs=$(nproc)

cmake --preset asan >/dev/null
cmake --build build/asan -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
select=(-LE stress)
[ "${FOGKEEP_STRESS:-0}" = 1 ] && select=(-C stress)
ctest --test-dir build/asan --output-on-failure -j"$jobs" "${select[@]}"
