#!/usr/bin/env bash
# Builds the libFuzzer targets (the "fuzz" CMake preset, clang-16) and fuzzes each one.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS (default 60) is the time per target. TARGETs default to every fuzz/fuzz_*.cc.
# Each target runs on a scratch copy of its seed corpus, fuzz/corpus/<target>/, under
# fuzz/corpus-work/<target>/ (not versioned; new inputs found there never touch the seeds),
# with fuzz/<target>.dict when present. Crash, leak, timeout and out-of-memory inputs land in
# fuzz/corpus-work/<target>-artifacts/ and their paths are printed.
#
# Exits 0 when every target ran clean, 1 when any target failed, 2 on a usage or build error.
# FUZZ_JOBS sets the build parallelism (default 2).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2

seconds=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
if [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be at least 1" >&2
  exit 2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in fuzz/fuzz_*.cc; do
    [ -e "$source" ] || continue
    targets+=("$(basename "$source" .cc)")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz/fuzz_*.cc targets found" >&2
  exit 2
fi
for target in "${targets[@]}"; do
  if [ ! -f "fuzz/$target.cc" ]; then
    echo "fuzz.sh: unknown target '$target' (no fuzz/$target.cc)" >&2
    exit 2
  fi
done

# Build only the requested targets, so an unrelated module that does not compile yet under
# clang does not stop fuzzing of the ones that do.
echo "== configure and build: ${targets[*]}"
if ! cmake --preset fuzz >/dev/null; then
  echo "fuzz.sh: cmake --preset fuzz failed" >&2
  exit 2
fi
if ! cmake --build build/fuzz -j "${FUZZ_JOBS:-2}" --target "${targets[@]}"; then
  echo "fuzz.sh: build failed" >&2
  exit 2
fi

# Undefined behaviour is a finding, not a warning: stop at the first report so libFuzzer
# saves the input. Leaks are findings too.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

work="fuzz/corpus-work"
mkdir -p "$work"
failed=()
for target in "${targets[@]}"; do
  corpus="$work/$target"
  artifacts="$work/$target-artifacts"
  log="$work/$target.log"
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  else
    echo "fuzz.sh: warning: no seed corpus fuzz/corpus/$target/" >&2
  fi
  args=(
    -max_total_time="$seconds"
    -rss_limit_mb=2048
    -timeout=10
    -print_final_stats=1
    -artifact_prefix="$artifacts/"
  )
  if [ -f "fuzz/$target.dict" ]; then
    args+=(-dict="fuzz/$target.dict")
  fi

  echo "== $target: ${seconds}s (log: $log)"
  "build/fuzz/fuzz/$target" "${args[@]}" "$corpus" >"$log" 2>&1
  status=$?
  # The last status line and the final stats say how far it got.
  grep -E '^#[0-9]+' "$log" | tail -n 1
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
  if [ $status -ne 0 ]; then
    failed+=("$target")
    echo "!! $target failed (exit $status); the report:"
    grep -E -A 40 '^==[0-9]+==|ERROR: libFuzzer|fuzz_[a-z_]+: |SUMMARY' "$log" | head -n 60
    found=0
    for artifact in "$artifacts"/*; do
      [ -e "$artifact" ] || continue
      found=1
      echo "!! reproduce: build/fuzz/fuzz/$target $artifact"
    done
    [ $found -eq 1 ] || echo "!! no input was saved; see $log"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== FAILED: ${failed[*]}"
  exit 1
fi
echo "== all ${#targets[@]} target(s) ran ${seconds}s without a finding"
