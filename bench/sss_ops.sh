#!/usr/bin/env bash
# Secure Storage Service operations per second over an app's socket, 1 KiB objects: PUT of a
# new object, PUT over it, GET, and POST .../sign with an ecdsa-p256 key, beside raw SQLite
# (INSERT OR REPLACE / SELECT of the same 1 KiB blobs, WAL + synchronous=FULL as the store has
# it) and a raw OpenSSL EVP_DigestSign (P-256, SHA-256) of the same 1 KiB, measured in the same
# program (fogkeep-bench-sss; bench/sss_bench.cc says exactly what each side does).
#
# One client, one request in flight, COUNT operations per phase; each phase of fogkeep runs
# right beside its baseline (which goes first alternates by round), from fresh files every
# round. The table gives the median ops/s of
# RUNS rounds on each side and their ratio (fogkeep / baseline). The files live under TMPDIR
# (default /var/tmp): every put, on both sides, waits for one fdatasync of the WAL, so put
# figures depend on that file system's disk (on a shared VM, on its neighbours too).
# A sanity line beside it: `openssl speed ecdsap256` sign/s, the CLI's own figure for the
# curve (its loop signs a 20-byte digest, without hashing the 1 KiB or making a context).
#
# Usage: bench/sss_ops.sh [--json]   (COUNT=1000 RUNS=5 by default; FOGKEEP_BUILD=build dir;
#        SPEED_SECONDS=3, 0 skips the openssl speed line; --json prints only the program's JSON)
source "$(dirname "$0")/lib.sh"
count=${COUNT:-1000}
speed_seconds=${SPEED_SECONDS:-3}
json=
[ "${1:-}" = --json ] && json=--json
if [ ! -f "$BUILD/build.ninja" ]; then
  echo "FOGKEEP_BUILD=$BUILD is not configured: cmake --preset release" >&2
  exit 1
fi
cmake --build "$BUILD" --target fogkeep-bench-sss >/dev/null || {
  echo "cannot build fogkeep-bench-sss in $BUILD (configured with -DFOGKEEP_BENCH=OFF?)" >&2
  exit 1
}
driver=$BUILD/bench/fogkeep-bench-sss

work=$(mktemp -d "${TMPDIR:-/var/tmp}/fogkeep-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "$json" ]; then
  "$driver" --dir "$work" --count "$count" --rounds "$RUNS" --json
  exit 0
fi
echo "$(nproc) CPUs; files on $(df -T "$work" | awk 'NR == 2 {print $2 " (" $1 ")"}')"
"$driver" --dir "$work" --count "$count" --rounds "$RUNS"
if [ "$speed_seconds" != 0 ]; then
  sign_s=$(openssl speed -seconds "$speed_seconds" ecdsap256 2>/dev/null |
    awk '/^ *256 bits ecdsa \(nistp256\)/ {print $(NF - 1)}')
  echo "sanity: openssl speed -seconds $speed_seconds ecdsap256: ${sign_s:-?} sign/s"
fi
