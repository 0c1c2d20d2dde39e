# A throwaway PostgreSQL server for scripts (tests and benchmarks). Source it after setting
# WORK (a directory removed afterwards); call postgres_start, and postgres_stop from the
# script's cleanup. PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` user through runuser.

# A loopback port nothing listens on, below the ephemeral range (the kernel hands those to
# client connections, which hold ports no probe can see but bind() refuses).
free_port() {
  local candidate low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
  for candidate in $(shuf -i 10000-$((low - 1)) -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then echo "$candidate"; return; fi
  done
  echo "no free loopback port" >&2
  return 1
}

postgres_bindir() {
  local dir
  for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && { echo "$dir"; return; }
  done
  dir=$(pg_config --bindir 2>/dev/null || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  echo "PostgreSQL's initdb and postgres are not installed (scripts/setup-debian.sh)" >&2
  return 1
}

# postgres_start [EXTRA SERVER OPTIONS...]: initdb in $WORK/postgres, the server on a free
# loopback port, a database `fogkeep` owned by the user `fogkeep`. Sets PG_CONNINFO (a libpq
# connection string) and PG_PID (the postmaster).
postgres_start() {
  local bin port as=()
  bin=$(postgres_bindir) || exit 1
  PG_DIR=$WORK/postgres
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    chmod 711 "$WORK"
    chown postgres: "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U fogkeep -E UTF8 --locale=C \
    >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
  port=$(free_port) || exit 1
  "${as[@]}" "$bin/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -p "$port" \
    -c listen_addresses=127.0.0.1 "$@" >"$PG_DIR/postgres.log" 2>&1 &
  for _ in $(seq 1 300); do
    PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)
    [ -n "$PG_PID" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { cat "$PG_DIR/postgres.log" >&2; exit 1; }
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U fogkeep -d postgres -c 'CREATE DATABASE fogkeep' >/dev/null
  PG_CONNINFO="host=127.0.0.1 port=$port user=fogkeep dbname=fogkeep"
}

postgres_stop() {
  [ -n "${PG_PID:-}" ] || return 0
  kill -INT "$PG_PID" 2>/dev/null || true  # fast shutdown
  for _ in $(seq 1 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PG_PID" 2>/dev/null || true
  PG_PID=
}
