#!/usr/bin/env bash
# Requests per second of `GET /api/v1/apps` over HTTPS keep-alive, measured with wrk (with the
# bearer token header), against nginx serving the same bytes as a static file over HTTPS on
# the same machine: same certificate and key (fogkeepd's ECDSA P-256 node identity), TLS 1.2+
# with the same cipher preferences, same wrk threads, connections and duration. fogkeepd lists
# APPS installed and activated apps; the body it answers is what nginx serves. Runs alternate
# between the two; medians of RUNS. Target: fogkeepd at least 0.5x nginx's requests/s.
# Usage: bench/node_api_wrk.sh   (APPS=10 RUNS=3 THREADS=2 CONNECTIONS=16 DURATION=10
#        NGINX_WORKERS=auto; FOGKEEP_BUILD=build dir; needs root)
runs=${RUNS:-3}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
apps=${APPS:-10}
threads=${THREADS:-2}
connections=${CONNECTIONS:-16}
duration=${DURATION:-10}
nginx_workers=${NGINX_WORKERS:-auto}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
node_setup
nginx_pid=
cleanup() {
  set +e
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  node_cleanup
}
trap cleanup EXIT

node_start_daemon
node_make_package
for i in $(seq "$apps"); do node_install "bench-api-$$-$i" activate; done
token=$("$FKD" token create --role auditor --data-dir "$DATA" 2>/dev/null)
fk_url="https://127.0.0.1:$FKD_PORT/api/v1/apps"
mkdir -p "$WORK/www/api/v1"
chmod 755 "$WORK/www" "$WORK/www/api" "$WORK/www/api/v1"
curl -sf --cacert "$DATA/tls/node.pem" -H "Authorization: Bearer $token" "$fk_url" \
  >"$WORK/www/api/v1/apps"
chmod 644 "$WORK/www/api/v1/apps"
[ "$(jq '.apps | length' "$WORK/www/api/v1/apps")" -eq "$apps" ] || { echo "unexpected list" >&2; exit 1; }

port=
for candidate in $(shuf -i 20000-60000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "no free loopback port" >&2; exit 1; }
# nginx's master reads the key as root before its workers drop to nobody. Keep-alive without a
# per-connection request cap, as fogkeepd has none; no access log, as fogkeepd logs no reads.
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $nginx_workers;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 100000000;
  keepalive_timeout 30s;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $DATA/tls/node.pem;
    ssl_certificate_key $DATA/tls/node.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_prefer_server_ciphers on;
    ssl_session_tickets off;
    root $WORK/www;
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
nginx_url="https://127.0.0.1:$port/api/v1/apps"
for _ in $(seq 50); do curl -skf -o /dev/null "$nginx_url" && break; sleep 0.1; done
cmp -s <(curl -skf "$nginx_url") "$WORK/www/api/v1/apps" || {
  cat "$WORK/nginx/error.log" >&2; echo "nginx does not serve the list" >&2; exit 1; }

tls_of() {  # the negotiated protocol and cipher, as curl reports them
  curl -sv -k -o /dev/null "$@" 2>&1 | sed -n 's/^\* SSL connection using //p' | head -1
}
fk_tls=$(tls_of -H "Authorization: Bearer $token" "$fk_url")
nginx_tls=$(tls_of "$nginx_url")

# One wrk run; prints requests/s. Any non-2xx answer or socket error fails the benchmark.
wrk_rps() {
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"${1}s" -H "Authorization: Bearer $token" "$2")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "$out" >&2
    echo "wrk saw errors against $2" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

wrk_rps 2 "$fk_url" >/dev/null
wrk_rps 2 "$nginx_url" >/dev/null
fk_rps=()
nginx_rps=()
for i in $(seq "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then
    fk_rps+=("$(wrk_rps "$duration" "$fk_url")")
    nginx_rps+=("$(wrk_rps "$duration" "$nginx_url")")
  else
    nginx_rps+=("$(wrk_rps "$duration" "$nginx_url")")
    fk_rps+=("$(wrk_rps "$duration" "$fk_url")")
  fi
done
fk_med=$(printf '%s\n' "${fk_rps[@]}" | median)
nginx_med=$(printf '%s\n' "${nginx_rps[@]}" | median)
r=$(awk -v a="$fk_med" -v b="$nginx_med" 'BEGIN {printf "%.2f", a / b}')
met=$(awk -v r="$r" 'BEGIN {print (r >= 0.5 ? "yes" : "NO")}')

echo "GET /api/v1/apps, $apps apps, $(wc -c <"$WORK/www/api/v1/apps") byte body; wrk -t$threads -c$connections -d${duration}s, $runs runs each"
printf '%-44s %12s  %s\n' "" "median req/s" "runs; TLS"
printf '%-44s %12s  %s\n' "fogkeepd (1 I/O thread + workers)" "$fk_med" "${fk_rps[*]}; $fk_tls"
printf '%-44s %12s  %s\n' "nginx, static file ($nginx_workers workers)" "$nginx_med" "${nginx_rps[*]}; $nginx_tls"
echo "ratio (fogkeepd / nginx, target >= 0.5): $r: $met"
