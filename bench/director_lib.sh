# Helpers for the director's benchmarks (bench/director_*.sh): a private fogkeep-director on a
# free loopback port in a temporary directory, on SQLite or on a PostgreSQL started here;
# fogkeep-fleetsim as the fleet; nginx over TLS as the baseline; CPU and memory of a process
# from /proc. Source it after lib.sh. Builds nothing: the scripts take a Release build
# directory (first argument, else FOGKEEP_BUILD) holding apps/fogkeep-director and
# apps/fogkeep-fleetsim.
#
# Sets: WORK (temp dir, removed by director_cleanup), DIRECTOR, FLEETSIM, STORES. Callers trap
# EXIT to director_cleanup, which stops what was started: fleets, directors, nginx, PostgreSQL.

# director_args "$@": the build directory and --store; sets BUILD and STORES ("sqlite" or
# "sqlite postgres": with --store postgres both run, side by side).
director_args() {
  STORES=sqlite
  local positional=()
  while [ $# -gt 0 ]; do
    case $1 in
      --store) [ "${2:-}" = postgres ] || [ "${2:-}" = sqlite ] ||
                 { echo "--store must be sqlite or postgres" >&2; exit 2; }
               [ "$2" = postgres ] && STORES="sqlite postgres"; shift 2 ;;
      --store=*) [ "${1#--store=}" = postgres ] && STORES="sqlite postgres"; shift ;;
      -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
      *) positional+=("$1"); shift ;;
    esac
  done
  BUILD=${positional[0]:-$BUILD}
  [ -d "$BUILD" ] || { echo "no build directory $BUILD" >&2; exit 1; }
  BUILD=$(cd "$BUILD" && pwd)  # scripts may change directory
  DIRECTOR=$BUILD/apps/fogkeep-director
  FLEETSIM=$BUILD/apps/fogkeep-fleetsim
  for binary in "$DIRECTOR" "$FLEETSIM"; do
    [ -x "$binary" ] || {
      echo "$binary is missing: build the Release tree first (ninja fogkeep-director fogkeep-fleetsim)" >&2
      exit 1
    }
  done
  grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" 2>/dev/null ||
    echo "warning: $BUILD is not a Release build; figures will not be representative" >&2
}

director_setup() {
  WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/fogkeep-dbench.XXXXXX")
  chmod 755 "$WORK"
  NGINX_PID=
  PG_PID=
  PG_DIR=
  BG_PIDS=()
}

director_cleanup() {
  set +e
  local pid
  for pid in "${BG_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  director_stop
  nginx_stop
  postgres_stop
  rm -rf "$WORK"
}

# free_port, postgres_start (PG_CONNINFO, PG_PID) and postgres_stop, shared with the tests.
# shellcheck source=../tests/integration/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/postgres.sh"

# director_start STORE: a fresh director (data in $WORK/director-STORE) on a free loopback
# port. Several may run at once, one per store; their pid, URL, data directory and a
# network-manager's API token are D_PID[STORE], D_URL[STORE], D_DATA[STORE], D_NM[STORE]. The
# fleet CA is D_DATA[STORE]/ca/ca.crt.
declare -A D_PID D_URL D_DATA D_NM
director_start() {
  local store=$1 args=() port= data=$WORK/director-$1
  if [ "$store" = postgres ]; then
    [ -n "${PG_PID:-}" ] || postgres_start -c max_connections=200
    args=(--store postgres --postgres "$PG_CONNINFO")
  fi
  "$DIRECTOR" --data-dir "$data" --listen 127.0.0.1:0 --log-level warn "${args[@]}" \
    >"$WORK/director-$store.out" 2>"$WORK/director-$store.err" &
  D_PID[$store]=$!
  for _ in $(seq 1 200); do
    port=$(sed -n 's|^fogkeep-director: listening on https://127.0.0.1:\([0-9]*\) .*|\1|p' \
      "$WORK/director-$store.out")
    [ -n "$port" ] && break
    kill -0 "${D_PID[$store]}" 2>/dev/null || { cat "$WORK/director-$store.err" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "the director did not report its address" >&2; exit 1; }
  D_URL[$store]=https://127.0.0.1:$port
  D_DATA[$store]=$data
  D_NM[$store]=$("$DIRECTOR" --data-dir "$data" token create --role network-manager 2>/dev/null)
}

# director_stop_one STORE: stops that director; its data stays, so director_start STORE
# starts it again with the same fleet (and fresh peak-memory figures).
director_stop_one() {
  local pid=${D_PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "D_PID[$1]"
}

# Stops every director started.
director_stop() {
  local store
  for store in "${!D_PID[@]}"; do director_stop_one "$store"; done
}

# cpu_ticks PID...: utime + stime of the processes (their threads included), in clock ticks;
# with --children also the reaped children's (cutime + cstime), for a postmaster whose backends
# come and go.
cpu_ticks() {
  local children=0 total=0 pid fields
  [ "$1" = --children ] && { children=1; shift; }
  for pid in "$@"; do
    fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + $(awk -v c="$children" '{print $12 + $13 + (c ? $14 + $15 : 0)}' <<<"$fields")))
  done
  echo "$total"
}

# The PostgreSQL server's processes: the postmaster and its children.
postgres_pids() {
  [ -n "${PG_PID:-}" ] || return 0
  echo "$PG_PID"
  pgrep -P "$PG_PID" || true
}

# mem_kib PID FIELD: VmRSS or VmHWM of a process, in KiB.
mem_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# percent TICKS SECONDS: CPU time as a percentage of one core.
percent() {
  awk -v t="$1" -v s="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", 100 * t / hz / s}'
}

now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

# node_pem IDENTITIES INDEX DIR: writes the node's key.pem and chain.pem into DIR, for curl.
node_pem() {
  mkdir -p "$3"
  jq -r ".[$2].key" "$1" >"$3/key.pem"
  jq -r ".[$2].chain" "$1" >"$3/chain.pem"
  chmod 600 "$3/key.pem"
}

# nginx_start BODY_FILE DIRECTOR_DATA [CONNECTIONS]: nginx over TLS on a free loopback port
# with that director's certificate and key, fogkeep's TLS policy (crypto/tls.h) and one worker
# process, standing in for the director's node routes:
#   GET  /api/v1/node/desired  BODY_FILE as a static file with its own ETag (If-None-Match is
#                              answered 304)
#   POST /api/v1/node/report   204
# Like the director, it asks clients for a certificate and verifies one that is presented
# against the fleet CA (ssl_verify_client optional): fogkeep-fleetsim's nodes connect with
# mutual TLS, wrk without a certificate. Keep-alive connections idle for 90 s are closed, as
# the director's idle_timeout closes them. worker_connections is sized to CONNECTIONS with
# room: nginx allocates its connection table up front, and closes idle keep-alive connections
# early when fewer than 1/16 of its slots are free. Sets NGINX_PID, NGINX_URL, NGINX_ETAG and
# the sizes of its 200 and 304 answers, NGINX_200_BYTES and NGINX_304_BYTES.
nginx_start() {
  command -v nginx >/dev/null || { echo "nginx is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
  local body=$1 tls=$2/tls ca=$2/ca/ca.crt port worker_connections=$(( ${3:-1000} * 5 / 4 + 100 ))
  port=$(free_port)
  mkdir -p "$WORK/nginx/tmp" "$WORK/www/api/v1/node"
  chmod 755 "$WORK/www" "$WORK/www/api" "$WORK/www/api/v1" "$WORK/www/api/v1/node"
  cp "$body" "$WORK/www/api/v1/node/desired"
  chmod 644 "$WORK/www/api/v1/node/desired"
  cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $(ulimit -Hn);
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log crit;
events { worker_connections $worker_connections; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 100000000;
  keepalive_timeout 90s;
  etag on;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$port ssl backlog=4096;
    ssl_certificate $tls/director.pem;
    ssl_certificate_key $tls/director.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_prefer_server_ciphers on;
    ssl_session_tickets off;
    ssl_session_cache off;
    ssl_verify_client optional;
    ssl_client_certificate $ca;
    ssl_verify_depth 2;
    root $WORK/www;
    location = /api/v1/node/report { return 204; }
  }
}
EOF
  nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  NGINX_URL=https://127.0.0.1:$port
  for _ in $(seq 50); do curl -skf -o /dev/null "$NGINX_URL/api/v1/node/desired" && break; sleep 0.1; done
  cmp -s <(curl -skf "$NGINX_URL/api/v1/node/desired") "$body" || {
    cat "$WORK/nginx/error.log" >&2; echo "nginx does not serve the desired state" >&2; exit 1; }
  NGINX_ETAG=$(curl -skI "$NGINX_URL/api/v1/node/desired" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
  NGINX_200_BYTES=$(curl -sk -o /dev/null -w '%{size_header} %{size_download}' \
    "$NGINX_URL/api/v1/node/desired" | awk '{print $1 + $2}')
  NGINX_304_BYTES=$(curl -sk -o /dev/null -w '%{http_code} %{size_header}' \
    -H "If-None-Match: $NGINX_ETAG" "$NGINX_URL/api/v1/node/desired" | awk '$1 == 304 {print $2}')
  [ -n "$NGINX_304_BYTES" ] || { echo "nginx does not answer If-None-Match with 304" >&2; exit 1; }
}

nginx_stop() {
  [ -n "${NGINX_PID:-}" ] || return 0
  kill -QUIT "$NGINX_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=
}

# wrk_all_304 WRK_OUTPUT: whether every answer in wrk's output was nginx's 304. wrk counts
# statuses >= 400 only, so the bytes it read decide: per answer, nearer the size of the 304
# than of the 200 (both measured with curl by nginx_start) means no answer carried the body.
wrk_all_304() {
  grep -q 'Non-2xx or 3xx' "$1" && return 1
  awk -v a="$NGINX_304_BYTES" -v b="$NGINX_200_BYTES" '/requests in/ {
      n = $1; v = $5; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+/, "", v)
      f = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1
      found = 1; ok = n > 0 && v * f / n < (a + b) / 2 }
    END { exit !(found && ok) }' "$1"
}

# nginx master and workers.
nginx_pids() { echo "$NGINX_PID"; pgrep -P "$NGINX_PID" || true; }

# Sum of a field over several processes' /proc status (KiB).
mem_kib_sum() {
  local field=$1 total=0 pid v
  shift
  for pid in "$@"; do
    v=$(mem_kib "$pid" "$field" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# The median of numbers on stdin.
median() {
  sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'
}
