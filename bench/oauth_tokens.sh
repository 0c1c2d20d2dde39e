#!/usr/bin/env bash
# The director's OAuth access tokens under load, beside the raw ES256 cost they are made of:
#   - tokens issued per second: POST /oauth2/token, grant_type=client_credentials with HTTP
#     Basic, driven by wrk (a Lua script posts the form) over HTTPS keep-alive. Each answer
#     authenticates the client (a store read), signs one ES256 JWT and appends the grant to
#     the audit log;
#   - token validations per second: GET /api/v1/devices with that JWT as bearer (ES256 verify,
#     the revocation look-ups, then the handler), and the same request with an API token, the
#     baseline that differs only in how the caller is authenticated;
#   - token validations per second on a node: GET /api/v1/apps on a private fogkeepd (its
#     director trust, director/oauth.json, written from the director's JWK Set as a desired
#     state would bring it) with a JWT for that node, validated offline against those keys,
#     and the same request with the node's own API token;
#   - the baseline for all, measured in the same run on the same machine: `openssl speed
#     -seconds N ecdsap256`, one core, ES256 signs and verifies per second.
# Every grant is an audited action: the token endpoint answers only once its audit record is
# on disk (fdatasync of the hash-chained log and its head file), so issuance is bound by the
# disk's flush latency more than by signing. TMPDIR=/dev/shm puts the director's data (and its
# audit log) on tmpfs and shows the rate without the flushes.
# Rounds alternate between the three wrk loads; figures are medians of ROUNDS. The director
# has one I/O thread and a worker pool; wrk and the director share the machine's cores, so
# the HTTP figures are the director's with a load generator beside it.
#
# Usage: bench/oauth_tokens.sh BUILD_DIR
#        (THREADS=1 CONNECTIONS=16 DURATION=10 ROUNDS=3 SPEED_SECONDS=3; BUILD_DIR defaults to
#        $FOGKEEP_BUILD; needs root and runc for fogkeepd, wrk, curl, jq, openssl)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/director_lib.sh"
source "$(dirname "$0")/node_lib.sh"
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
BUILD=${1:-$BUILD}
[ -d "$BUILD" ] || { echo "no build directory $BUILD" >&2; exit 1; }
BUILD=$(cd "$BUILD" && pwd)
DIRECTOR=$BUILD/apps/fogkeep-director
[ -x "$DIRECTOR" ] ||
  { echo "$DIRECTOR is missing: build the Release tree first (ninja fogkeep-director)" >&2; exit 1; }
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" 2>/dev/null ||
  echo "warning: $BUILD is not a Release build; figures will not be representative" >&2
threads=${THREADS:-1}
connections=${CONNECTIONS:-16}
duration=${DURATION:-10}
rounds=${ROUNDS:-3}
speed_seconds=${SPEED_SECONDS:-3}
for tool in wrk curl jq openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
done
node_require_root
director_setup
trap 'node_cleanup; director_cleanup' EXIT
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

director_start sqlite
url=${D_URL[sqlite]}
ca=${D_DATA[sqlite]}/ca/ca.crt
admin=$("$DIRECTOR" --data-dir "${D_DATA[sqlite]}" token create --role admin 2>/dev/null)
api_token=${D_NM[sqlite]}  # a network-manager's API token: devices.read, like the JWT below
curl -sf --cacert "$ca" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -o "$WORK/client.json" "$url/api/v1/oauth/clients" \
  --data '{"client_id":"bench","type":"confidential","grant_types":["client_credentials"],
           "scopes":["devices.read","apps.read"],"role":"auditor"}' ||
  { echo "cannot register the OAuth client" >&2; exit 1; }
secret=$(jq -er .client_secret "$WORK/client.json")
basic=$(printf '%s' "bench:$secret" | base64 -w0)
export FK_BASIC=$basic

cat >"$WORK/token.lua" <<'EOF'
-- POST /oauth2/token: the client credentials grant with HTTP Basic (client_secret_basic).
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=devices.read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("FK_BASIC")
EOF

# A fresh access token (5 min): enough for one round of every load.
new_jwt() {
  curl -sf --cacert "$ca" -u "bench:$secret" -d grant_type=client_credentials -d scope=devices.read \
    "$url/oauth2/token" | jq -er .access_token
}
jwt=$(new_jwt)
for bearer in "$jwt" "$api_token"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -H "Authorization: Bearer $bearer" \
    "$url/api/v1/devices")" = 200 ] || { echo "GET /api/v1/devices refuses a bearer token" >&2; exit 1; }
done

# A private fogkeepd that trusts this director's tokens for the node "bench".
node_ensure_built
DATA=$WORK/node
SOCK=$WORK/node-run/fogkeepd.sock
NODE_APPS=()
mkdir -p "$DATA/director" "$WORK/node-run"
jq -n --arg issuer "$(curl -sf --cacert "$ca" "$url/.well-known/oauth-authorization-server" |
  jq -er .issuer)" --argjson jwks "$(curl -sf --cacert "$ca" "$url/oauth2/jwks")" \
  '{issuer: $issuer, jwks: $jwks, device_id: "bench", tags: []}' >"$DATA/director/oauth.json"
chmod 600 "$DATA/director/oauth.json"
node_start_daemon
node_url=https://127.0.0.1:$FKD_PORT
node_api_token=$("$FKD" --data-dir "$DATA" token create --role auditor 2>/dev/null)
new_node_jwt() {
  curl -sf --cacert "$ca" -u "bench:$secret" -d grant_type=client_credentials -d scope=apps.read \
    -d resource=urn:fogkeep:node:bench "$url/oauth2/token" | jq -er .access_token
}
node_jwt=$(new_node_jwt)
for bearer in "$node_jwt" "$node_api_token"; do
  [ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $bearer" \
    "$node_url/api/v1/apps")" = 200 ] || { echo "the node refuses a bearer token" >&2; exit 1; }
done
[ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $jwt" \
  "$node_url/api/v1/apps")" = 401 ] || { echo "the node took a token for the director" >&2; exit 1; }

# wrk_rps SECONDS ARGS...: one wrk run; prints requests/s. Any non-2xx answer or socket error
# fails the benchmark.
wrk_rps() {
  local seconds=$1 out
  shift
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" "$@")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "$out" >&2
    echo "wrk saw errors: $*" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}
issue() { wrk_rps "$1" -s "$WORK/token.lua" "$url/oauth2/token"; }
validate_jwt() { wrk_rps "$1" -H "Authorization: Bearer $jwt" "$url/api/v1/devices"; }
validate_api_token() { wrk_rps "$1" -H "Authorization: Bearer $api_token" "$url/api/v1/devices"; }
node_jwt() { wrk_rps "$1" -H "Authorization: Bearer $node_jwt" "$node_url/api/v1/apps"; }
node_api_token() { wrk_rps "$1" -H "Authorization: Bearer $node_api_token" "$node_url/api/v1/apps"; }

loads=(issue validate_jwt validate_api_token node_jwt node_api_token)
for load in "${loads[@]}"; do "$load" 2 >/dev/null; done
issued=() jwt_rps=() api_rps=() node_jwt_rps=() node_api_rps=() signs=() verifies=()
for i in $(seq "$rounds"); do
  jwt=$(new_jwt)
  node_jwt=$(new_node_jwt)
  # Rotate the order so that no load always runs first (or last) in a round.
  for j in $(seq 0 $((${#loads[@]} - 1))); do
    case ${loads[$(( (i + j) % ${#loads[@]} ))]} in
      issue) issued+=("$(issue "$duration")") ;;
      validate_jwt) jwt_rps+=("$(validate_jwt "$duration")") ;;
      validate_api_token) api_rps+=("$(validate_api_token "$duration")") ;;
      node_jwt) node_jwt_rps+=("$(node_jwt "$duration")") ;;
      node_api_token) node_api_rps+=("$(node_api_token "$duration")") ;;
    esac
  done
  read -r s v < <(openssl speed -seconds "$speed_seconds" ecdsap256 2>/dev/null |
    awk '/nistp256/ {print $(NF-1), $NF}')
  signs+=("$s")
  verifies+=("$v")
done

med() { printf '%s\n' "$@" | median; }
issued_med=$(med "${issued[@]}")
jwt_med=$(med "${jwt_rps[@]}")
api_med=$(med "${api_rps[@]}")
node_jwt_med=$(med "${node_jwt_rps[@]}")
node_api_med=$(med "${node_api_rps[@]}")
sign_med=$(med "${signs[@]}")
verify_med=$(med "${verifies[@]}")

echo "fogkeep-director $("$DIRECTOR" --version | awk '{print $NF}'), SQLite;" \
  "wrk -t$threads -c$connections -d${duration}s over HTTPS keep-alive; $rounds rounds;" \
  "openssl speed -seconds $speed_seconds ecdsap256"
printf '%-52s %12s  %s\n' "" "median /s" "rounds"
printf '%-52s %12s  %s\n' "ES256 sign, openssl speed (one core)" "$sign_med" "${signs[*]}"
printf '%-52s %12s  %s\n' "tokens issued: POST /oauth2/token client_credentials" "$issued_med" "${issued[*]}"
printf '%-52s %12s  %s\n' "ES256 verify, openssl speed (one core)" "$verify_med" "${verifies[*]}"
printf '%-52s %12s  %s\n' "GET /api/v1/devices, API token" "$api_med" "${api_rps[*]}"
printf '%-52s %12s  %s\n' "GET /api/v1/devices, JWT access token" "$jwt_med" "${jwt_rps[*]}"
printf '%-52s %12s  %s\n' "node: GET /api/v1/apps, API token" "$node_api_med" "${node_api_rps[*]}"
printf '%-52s %12s  %s\n' "node: GET /api/v1/apps, JWT for the node" "$node_jwt_med" "${node_jwt_rps[*]}"
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3g", a / b}'; }
echo "ratios (data directory on $(df --output=fstype "$WORK" | tail -1)):"
echo "  tokens issued / openssl ES256 signs:             $(ratio3 "$issued_med" "$sign_med")"
echo "  JWT-authenticated GETs / API-token GETs:         $(ratio3 "$jwt_med" "$api_med")"
echo "  JWT-authenticated GETs / openssl ES256 verifies: $(ratio3 "$jwt_med" "$verify_med")"
echo "  node: JWT GETs / API-token GETs:                 $(ratio3 "$node_jwt_med" "$node_api_med")"
echo "  node: JWT GETs / openssl ES256 verifies:         $(ratio3 "$node_jwt_med" "$verify_med")"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
