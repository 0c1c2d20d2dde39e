#!/usr/bin/env bash
# RADIUS PAP logins per second: fogkeep's RadiusClient against a local FreeRADIUS, beside
# FreeRADIUS's own radclient sending the same Access-Request to the same server.
#
# Both sides run COUNT logins of one user one after another (one request in flight), each
# with a Message-Authenticator and a verified Access-Accept: fogkeep-bench-radius calls
# RadiusClient::Authenticate COUNT times (a fresh socket, identifier and Request
# Authenticator per login), radclient runs once with `-c COUNT -p 1` (one socket, a new
# request per repetition). Timings are the median wall time of RUNS runs, process start
# included on both sides. The raw cost of a single `radclient` invocation (process start,
# dictionary load, one round trip) is measured too, as the cost of shelling out per login.
#
# Usage: bench/radius_login.sh   (COUNT=2000 RUNS=5 by default; FOGKEEP_BUILD=build dir)
# Needs freeradius and freeradius-utils. The server listens on 127.0.0.1 only and is stopped,
# and its directory removed, on exit.
source "$(dirname "$0")/lib.sh"
count=${COUNT:-2000}
freeradius=/usr/sbin/freeradius
radclient=$(command -v radclient || true)
[ -x "$freeradius" ] && [ -n "$radclient" ] || {
  echo "install freeradius and freeradius-utils (scripts/setup-debian.sh)" >&2
  exit 1
}
if [ ! -f "$BUILD/build.ninja" ]; then
  echo "FOGKEEP_BUILD=$BUILD is not configured: cmake --preset release" >&2
  exit 1
fi
cmake --build "$BUILD" --target fogkeep-bench-radius >/dev/null
driver=$BUILD/bench/auth/fogkeep-bench-radius

work=$(mktemp -d "${TMPDIR:-/var/tmp}/fogkeep-bench.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The server configuration of the integration tests, on a free loopback port.
templates=$SRC/tests/integration/auth/freeradius
secret=$(openssl rand -hex 16)
ready=
for _ in 1 2 3 4 5; do
  port=$(( 20000 + RANDOM % 40000 ))
  ss -Hlun "sport = :$port" | grep -q . && continue
  sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$port|g" -e "s|@SECRET@|$secret|g" \
    "$templates/radiusd.conf.in" >"$work/radiusd.conf"
  cp "$templates/users" "$work/users"
  chmod 600 "$work/radiusd.conf" "$work/users"
  "$freeradius" -f -d "$work" -l stdout >"$work/radiusd.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do
    grep -q 'Ready to process requests' "$work/radiusd.log" && { ready=1; break; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$ready" ] && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
done
[ -n "$ready" ] || { echo "FreeRADIUS did not start:" >&2; cat "$work/radiusd.log" >&2; exit 1; }

(umask 077 && echo "$secret" >"$work/secret")
printf 'User-Name = "alice"\nUser-Password = "alice-password"\nMessage-Authenticator = 0x00\n' \
  >"$work/request"
fk_cmd="'$driver' 127.0.0.1 $port '$work/secret' alice alice-password $count"
rc_cmd="'$radclient' -q -c $count -p 1 -r 1 -t 2 -f '$work/request' 127.0.0.1:$port auth $secret"
rc_one="'$radclient' -q -r 1 -t 2 -f '$work/request' 127.0.0.1:$port auth $secret"

# Both must log alice in before anything is timed (radclient -s counts the accepts).
eval "$fk_cmd" >/dev/null
passed=$(eval "$rc_cmd -s" | awk '/Accepted/ {print $NF}')
[ "$passed" = "$count" ] || { echo "radclient: $passed of $count accepted" >&2; exit 1; }

echo "FreeRADIUS $("$freeradius" -v | grep -o 'Version [0-9.]*' | head -n 1 | cut -d' ' -f2)" \
  "on 127.0.0.1:$port;" \
  "$count sequential logins per run; runs: $RUNS (median)"
fk_ms=$(median_ms "" "$fk_cmd")
rc_ms=$(median_ms "" "$rc_cmd")
single_ms=$(RUNS=$(( RUNS * 4 )) median_ms "" "$rc_one")
rate() { awk -v n="$count" -v ms="$1" 'BEGIN {printf "%.0f", n * 1000 / ms}'; }
per() { awk -v n="$count" -v ms="$1" 'BEGIN {printf "%.0f", ms * 1000 / n}'; }
echo "fogkeep RadiusClient: ${fk_ms} ms = $(rate "$fk_ms") logins/s ($(per "$fk_ms") us each)"
echo "radclient -c $count -p 1: ${rc_ms} ms = $(rate "$rc_ms") logins/s ($(per "$rc_ms") us each)"
echo "one radclient invocation (process + one login): ${single_ms} ms"
# radclient's start-up (its dictionaries) weighs on short runs; without it:
rc_net=$(awk -v a="$rc_ms" -v b="$single_ms" 'BEGIN {print (a > b ? a - b : 1)}')
echo "radclient without its start-up: $(rate "$rc_net") logins/s"
echo "ratio (fogkeep logins/s / radclient logins/s): $(ratio "$rc_ms" "$fk_ms")"
