#!/usr/bin/env bash
# How long a deployment takes to reach RUNNING on NODES simulated nodes that long-poll their
# desired state (fogkeep-fleetsim --long-poll 30, one I/O thread, keep-alive mutual TLS). The
# signed hello sample is in the catalog; each round deploys one more version of it to every
# node in one wave (wave_size 100%), and times from the POST of the deployment to:
#   - every simulated node reporting the version RUNNING (fleetsim ends when it sees that);
#   - the director calling the deployment "completed" (every target reported running).
# A node "applies" a desired state in APPLY_MS (fleetsim --apply-ms; fogkeepd installs and
# starts the app in that time), which is part of both figures. The director's rollout loop
# takes up a new deployment within a second (it ticks once a second). Target: ≤ 10 s.
#
# Baseline, in the same run on the same 2 cores: nginx (one worker) serving the desired state
# as a static file over TLS with the director's certificate and mutual TLS, 204 for reports;
# the same fleetsim nodes poll it every POLL s (plain polling, If-None-Match) and the "deploy"
# is an atomic replacement of the file by one naming the new version. That is what a fleet
# without long-poll gets for a request every POLL s from every node; with the director, an
# idle node sends one request per 30 s.
#
# With --store postgres the same rounds run against a director on a PostgreSQL started here,
# printed beside SQLite.
#
# Usage: bench/director_deploy.sh BUILD_DIR [--store postgres]
#        (NODES=1000 ROUNDS=3 APPLY_MS=1000 POLL=1; BUILD_DIR defaults to $FOGKEEP_BUILD)
# Needs busybox-static (the sample's rootfs). Takes about 1 minute per round and server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/director_lib.sh"
director_args "$@"
nodes=${NODES:-1000}
rounds=${ROUNDS:-3}
apply_ms=${APPLY_MS:-1000}
poll=${POLL:-1}
FOGKEEP=$BUILD/apps/fogkeep
[ -x "$FOGKEEP" ] || { echo "$FOGKEEP is missing: build the Release tree first" >&2; exit 1; }
director_setup
trap director_cleanup EXIT
ulimit -n "$(ulimit -Hn)"

# ---- signed versions of the hello sample: 1.0.<round> ----------------------------------------
(
  cd "$WORK"
  "$FOGKEEP" pki init --dir pki >/dev/null
  "$SRC/examples/hello/make-rootfs.sh" hello >/dev/null
  for round in $(seq "$rounds"); do
    sed -i "s/^  version: .*/  version: \"1.0.$round\"/" hello/package.yaml
    "$FOGKEEP" package build hello -o "hello-unsigned.tar" >/dev/null
    "$FOGKEEP" package sign hello-unsigned.tar --key pki/signer.key --cert pki/signer.pem \
      -o "hello-1.0.$round.tar" >/dev/null
  done
) || { echo "cannot build the sample packages" >&2; exit 1; }

# call STORE TOKEN METHOD PATH [CURL ARGS...]: prints the status; the body goes to $WORK/body.
call() {
  local store=$1 token=$2 method=$3 path=$4
  shift 4
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "${D_DATA[$store]}/ca/ca.crt" \
    -H "Authorization: Bearer $token" -X "$method" "$@" "${D_URL[$store]}$path"
}

declare -A AM
for store in $STORES; do
  director_start "$store"
  AM[$store]=$("$DIRECTOR" --data-dir "${D_DATA[$store]}" token create --role app-manager 2>/dev/null)
  anchor=$(jq -Rs . "$WORK/pki/ca.pem")
  [ "$(call "$store" "${D_NM[$store]}" PUT /api/v1/policies/%2A -H 'Content-Type: application/json' \
    --data "{\"require_signed\":true,\"trust_anchors\":[$anchor]}")" = 200 ] ||
    { cat "$WORK/body" >&2; exit 1; }
  for round in $(seq "$rounds"); do
    [ "$(call "$store" "${AM[$store]}" POST /api/v1/catalog --data-binary "@$WORK/hello-1.0.$round.tar")" = 201 ] ||
      { cat "$WORK/body" >&2; exit 1; }
  done
  "$FLEETSIM" --director "${D_URL[$store]}" --ca "${D_DATA[$store]}/ca/ca.crt" --nodes "$nodes" \
    --token "${D_NM[$store]}" --tag bench --identities "$WORK/ids-$store.json" --duration 0 \
    >"$WORK/enroll-$store.out" 2>&1 || { cat "$WORK/enroll-$store.out" >&2; exit 1; }
done

# fleet TARGET URL CA IDS VERSION [FLEETSIM ARGS...]: starts the fleet in the background until
# every node runs hello VERSION; waits until every node has its desired state (the first
# statistics line after all polls were answered); sets SIM.
fleet() {
  local target=$1 url=$2 ca=$3 ids=$4 version=$5
  shift 5
  "$FLEETSIM" --director "$url" --ca "$ca" --nodes "$nodes" --identities "$ids" \
    --apply-ms "$apply_ms" --report-interval 0 --until-running hello "$version" \
    --stats-interval 1 --json "$@" >"$WORK/sim-$target.json" 2>"$WORK/sim-$target.err" &
  SIM=$!
  BG_PIDS=("$SIM")
  for _ in $(seq 1 300); do grep -q '^loaded ' "$WORK/sim-$target.err" && break; sleep 0.1; done
  # Every node has polled once and sits in its next poll.
  sleep 5
}

# finish TARGET T0: waits for the fleet; prints "to-running-s fleetsim-s" (from T0 to the
# fleet's end, and fleetsim's own figure from the first change it saw).
finish() {
  local target=$1 t0=$2 t1
  wait "$SIM" || { tail -5 "$WORK/sim-$target.err" >&2; echo "fleetsim failed ($target)" >&2; exit 1; }
  t1=$(now_s)
  BG_PIDS=()
  [ "$(jq .until_running.reached "$WORK/sim-$target.json")" = true ] ||
    { echo "not every node ran the version ($target)" >&2; exit 1; }
  echo "$(elapsed "$t0" "$t1") $(jq '.until_running.seconds * 1000 | round / 1000' "$WORK/sim-$target.json")"
}

# director_round STORE ROUND: prints "to-running-s fleetsim-s completed-s".
director_round() {
  local store=$1 version=1.0.$2 t0 id state= t_done=
  fleet "$store" "${D_URL[$store]}" "${D_DATA[$store]}/ca/ca.crt" "$WORK/ids-$store.json" \
    "$version" --long-poll 30
  t0=$(now_s)
  [ "$(call "$store" "${AM[$store]}" POST /api/v1/deployments -H 'Content-Type: application/json' \
    --data "{\"app\":\"hello\",\"version\":\"$version\",\"tags\":[\"bench\"],\"rollout\":{\"wave_size\":\"100%\"}}")" = 201 ] ||
    { cat "$WORK/body" >&2; exit 1; }
  id=$(jq -r .id "$WORK/body")
  for _ in $(seq 1 1200); do
    call "$store" "${AM[$store]}" GET "/api/v1/deployments/$id" >/dev/null
    state=$(jq -r .state "$WORK/body")
    [ "$state" = completed ] && { t_done=$(now_s); break; }
    sleep 0.05
  done
  [ -n "$t_done" ] || { echo "deployment $id is $state after 60 s" >&2; exit 1; }
  echo "$(finish "$store" "$t0") $(elapsed "$t0" "$t_done")"
}

# The baseline serves the director's own desired state of node 0 (same size, same shape).
node_pem "$WORK/ids-sqlite.json" 0 "$WORK/node0"
curl -sf --cacert "${D_DATA[sqlite]}/ca/ca.crt" --cert "$WORK/node0/chain.pem" \
  --key "$WORK/node0/key.pem" -o "$WORK/desired.json" "${D_URL[sqlite]}/api/v1/node/desired" ||
  { echo "cannot fetch a desired state" >&2; exit 1; }
nginx_start "$WORK/desired.json" "${D_DATA[sqlite]}" "$nodes"

# nginx_round ROUND: prints "to-running-s fleetsim-s".
nginx_round() {
  local version=1.0.$1 t0 doc=$WORK/www/api/v1/node/desired
  jq '.apps = []' "$WORK/desired.json" >"$doc.next" && chmod 644 "$doc.next" && mv "$doc.next" "$doc"
  fleet nginx "$NGINX_URL" "${D_DATA[sqlite]}/ca/ca.crt" "$WORK/ids-sqlite.json" "$version" \
    --poll-interval "$poll"
  t0=$(now_s)
  jq --arg v "$version" '.generation += 1 | .apps = [{name: "hello", version: $v, sha256: "",
      package_url: "", state: "RUNNING", config_ini: "", deployment: "bench"}]' \
    "$WORK/desired.json" >"$doc.next"
  chmod 644 "$doc.next"
  mv "$doc.next" "$doc"
  finish nginx "$t0"
}

declare -A results
for round in $(seq "$rounds"); do
  for store in $STORES; do
    director_round "$store" "$round" >"$WORK/line"
    results[$store]+="$(cat "$WORK/line")"$'\n'
  done
  nginx_round "$round" >"$WORK/line"
  results[nginx]+="$(cat "$WORK/line")"$'\n'
done

column_median() { awk -v c="$2" 'NF {print $c}' <<<"${results[$1]}" | median; }
column_list() { awk -v c="$2" 'NF {print $c}' <<<"${results[$1]}" | paste -sd' '; }
echo "Deployment to RUNNING: $nodes simulated nodes, one wave, apply ${apply_ms} ms per node;" \
  "median of $rounds rounds; $(nproc) cores"
printf '%-44s %12s  %-24s %12s %14s\n' "" "to RUNNING s" "rounds" "fleetsim s" "completed s"
for store in $STORES; do
  printf '%-44s %12s  %-24s %12s %14s\n' "director, $store (long-poll 30 s, mTLS)" \
    "$(column_median "$store" 1)" "$(column_list "$store" 1)" "$(column_median "$store" 2)" \
    "$(column_median "$store" 3)"
done
printf '%-44s %12s  %-24s %12s %14s\n' "nginx, static file (poll every ${poll} s, mTLS)" \
  "$(column_median nginx 1)" "$(column_list nginx 1)" "$(column_median nginx 2)" "-"
for store in $STORES; do
  t=$(column_median "$store" 1)
  echo "ratio $store director / nginx polling every ${poll} s: $(ratio "$t" "$(column_median nginx 1)");" \
    "target <= 10 s: $(awk -v t="$t" 'BEGIN {print (t <= 10 ? "yes" : "NO")}') (${t} s)"
done
echo "load average at the end (other work on this machine competes): $(cut -d' ' -f1-3 /proc/loadavg)"
