# Shared helpers for fogkeep's shell integration tests. Source it; it sets FOGKEEP (the
# binary under test, from $1 or $FOGKEEP), SRC (the source tree) and WORK (a temp dir removed
# on exit), and gives small assertion helpers that print what failed.
set -euo pipefail
FOGKEEP=${1:-${FOGKEEP:?path to the fogkeep binary}}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${FOGKEEP_SHARED_DIR:-$SRC/../shared}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fogkeep-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
checks=0

pass() { checks=$((checks + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_ok DESC CMD...: CMD must exit 0.
expect_ok() {
  local desc=$1; shift
  if ! "$@" >"$WORK/.stdout" 2>"$WORK/.stderr"; then
    cat "$WORK/.stdout" "$WORK/.stderr" >&2
    fail "$desc: expected success"
  fi
  pass
}

# expect_refused DESC PATTERN CMD...: CMD must exit 1 with exactly one stderr line (besides
# warnings about weakened settings) matching PATTERN.
expect_refused() {
  local desc=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$WORK/.stdout" 2>"$WORK/.stderr" || rc=$?
  [ "$rc" -eq 1 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected exit 1, got $rc"; }
  [ "$(grep -vc '^fogkeep: warning:' "$WORK/.stderr")" -eq 1 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected one line on stderr"; }
  grep -qE -- "$pattern" "$WORK/.stderr" || { cat "$WORK/.stderr" >&2; fail "$desc: stderr does not match '$pattern'"; }
  pass
}

done_checks() { echo "$(basename "$0"): $checks checks passed"; }
