#!/usr/bin/env bash
# fogkeepd end to end with real runc: token auth, trust push, `fogkeep app run` of the signed
# hello sample, logs, lifecycle, refusal of an unsigned package, a fogkeepd restart that
# leaves the running app untouched, and the audit trail of it all. Needs root, runc and
# busybox-static (exit 77 = skipped).
# Environment: FOGKEEPD and FOGKEEP_SHIM name the binaries under test ($1 is fogkeep).
source "$(dirname "$0")/lib.sh"
prepare_node_test
APP=e2e-hello-$$
trap 'remove_apps "$APP"' EXIT

cd "$WORK"
# ---- package: a development PKI, the hello sample, signed and unsigned --------------------
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
"$SRC/examples/hello/make-rootfs.sh" hello >/dev/null
expect_ok "build" "$FOGKEEP" package build hello -o hello.tar
expect_ok "sign" "$FOGKEEP" package sign hello.tar --key pki/signer.key --cert pki/signer.pem -o signed.tar

# ---- start fogkeepd, token, TLS -----------------------------------------------------------
start_daemon
[ "$(stat -c %a "$DATA/tls/node.key")" = 600 ] || fail "node key must be 0600"
grep -q "^fogkeepd: node certificate sha256 [0-9a-f]\{64\}" "$WORK/fogkeepd.out" || fail "no fingerprint line"
[ "$(cat "$DATA/fogkeepd.addr")" = "https://127.0.0.1:$PORT" ] || fail "fogkeepd.addr: $(cat "$DATA/fogkeepd.addr")"
TOKEN=$("$FOGKEEPD" token create --role admin --data-dir "$DATA" 2>/dev/null)
[ ${#TOKEN} -eq 43 ] || fail "token has ${#TOKEN} characters"
[ "$(stat -c %a "$DATA/tokens")" = 600 ] || fail "tokens file must be 0600"
grep -q -- "$TOKEN" "$DATA/tokens" && fail "the token itself must not be stored"
pass
REMOTE=(--node "https://127.0.0.1:$PORT" --token "$TOKEN" --ca "$DATA/tls/node.pem")
LOCAL=(--socket "$SOCK")

if command -v curl >/dev/null; then
  code() { curl -s --cacert "$DATA/tls/node.pem" -o /dev/null -w '%{http_code}' "$@"; }
  [ "$(code "https://127.0.0.1:$PORT/healthz")" = 200 ] || fail "healthz is public"
  [ "$(code "https://127.0.0.1:$PORT/api/v1/apps")" = 401 ] || fail "no token must be 401"
  [ "$(code -H "Authorization: Bearer wrong" "https://127.0.0.1:$PORT/api/v1/apps")" = 401 ] || fail "bad token must be 401"
  [ "$(code -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/api/v1/apps")" = 200 ] || fail "good token must be 200"
  pass
fi
expect_refused "remote without a token" "token" "$FOGKEEP" app list --node "https://127.0.0.1:$PORT" --ca "$DATA/tls/node.pem"
expect_refused "remote with a wrong token" "invalid token" "$FOGKEEP" app list --node "https://127.0.0.1:$PORT" --token nope --ca "$DATA/tls/node.pem"
expect_refused "remote with someone else's certificate pinned" "." "$FOGKEEP" app list --node "https://127.0.0.1:$PORT" --token "$TOKEN" --ca pki/signer.pem

# ---- trust, refusal of unsigned packages, run -----------------------------------------------
expect_ok "trust set" "$FOGKEEP" node trust set pki/ca.pem "${REMOTE[@]}"
expect_ok "trust get" "$FOGKEEP" node trust get "${LOCAL[@]}"
grep -q "^anchor " "$WORK/.stdout" || fail "trust get shows no anchor"
expect_refused "unsigned package refused" "unsigned|signature|signed" "$FOGKEEP" app install hello.tar --id "$APP" "${LOCAL[@]}"
expect_ok "app run" "$FOGKEEP" app run signed.tar --id "$APP" "${REMOTE[@]}"
grep -q "^Started $APP .*RUNNING" "$WORK/.stdout" || fail "run output: $(cat "$WORK/.stdout")"
expect_ok "app list" "$FOGKEEP" app list "${REMOTE[@]}"
grep -qE "^$APP +hello +1\.0\.0 +RUNNING +c1\.tiny" "$WORK/.stdout" || fail "list: $(cat "$WORK/.stdout")"
head -1 "$WORK/.stdout" | grep -qE '^ID +NAME +VERSION +STATE +PROFILE' || fail "list header"
expect_ok "app list --json" "$FOGKEEP" app list --json "${LOCAL[@]}"
jq -e --arg id "$APP" '.apps[] | select(.id == $id) | .state == "RUNNING"' "$WORK/.stdout" >/dev/null || fail "list --json"

seen=
for _ in $(seq 1 100); do
  if "$FOGKEEP" app logs "$APP" "${LOCAL[@]}" 2>/dev/null | grep -q "hello: start #1"; then seen=1; break; fi
  sleep 0.1
done
[ -n "$seen" ] || fail "app logs never showed the hello line: $("$FOGKEEP" app logs "$APP" "${LOCAL[@]}" 2>&1)"
pass
timeout 3 "$FOGKEEP" app logs -f "$APP" "${REMOTE[@]}" >"$WORK/follow.out" 2>&1 || true
grep -q "hello: start #1" "$WORK/follow.out" || fail "logs -f: $(cat "$WORK/follow.out")"
pass
expect_ok "app status" "$FOGKEEP" app status "$APP" "${LOCAL[@]}"
grep -q "^Signer .*CN=" "$WORK/.stdout" || fail "status shows no signer: $(cat "$WORK/.stdout")"
expect_ok "app metrics" "$FOGKEEP" app metrics "$APP" --json "${LOCAL[@]}"
jq -e '.pids >= 1' "$WORK/.stdout" >/dev/null || fail "metrics: $(cat "$WORK/.stdout")"
expect_ok "config get" "$FOGKEEP" app config get "$APP" "${LOCAL[@]}"

# ---- fogkeepd restarts; the app keeps running ---------------------------------------------
shim_pid=$(cat "$DATA/apps/$APP/state/shim.pid" 2>/dev/null || true)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$daemon_pid/status")
echo "fogkeepd resident memory with one app: ${rss_kb} kB"
stop_daemon
[ -z "$shim_pid" ] || kill -0 "$shim_pid" 2>/dev/null || fail "the app's shim died with fogkeepd"
start_daemon
REMOTE=(--node "https://127.0.0.1:$PORT" --token "$TOKEN" --ca "$DATA/tls/node.pem")
expect_ok "list after restart" "$FOGKEEP" app list "${REMOTE[@]}"
grep -qE "^$APP .* RUNNING " "$WORK/.stdout" || fail "after restart: $(cat "$WORK/.stdout")"

# ---- stop, deactivate, uninstall --------------------------------------------------------------
expect_refused "uninstall while running" "RUNNING|running" "$FOGKEEP" app uninstall "$APP" "${LOCAL[@]}"
expect_ok "stop" "$FOGKEEP" app stop "$APP" "${LOCAL[@]}"
grep -q "STOPPED" "$WORK/.stdout" || fail "stop: $(cat "$WORK/.stdout")"
expect_ok "deactivate" "$FOGKEEP" app deactivate "$APP" "${REMOTE[@]}"
expect_ok "uninstall" "$FOGKEEP" app uninstall "$APP" "${REMOTE[@]}"
expect_ok "list empty" "$FOGKEEP" app list --json "${LOCAL[@]}"
jq -e '.apps | length == 0' "$WORK/.stdout" >/dev/null || fail "apps left: $(cat "$WORK/.stdout")"
expect_refused "status of an uninstalled app" "not found|no app|unknown" "$FOGKEEP" app status "$APP" "${LOCAL[@]}"

# ---- audit trail: the calls above were recorded and chained; an edited byte is located -----
expect_ok "audit list" "$FOGKEEP" audit list --json --action 'apps.*' "${REMOTE[@]}"
for action in apps.install apps.start; do
  jq -e --arg id "$APP" --arg a "$action" \
    '[.records[] | select(.action == $a and .target == $id and (.result | startswith("2")))] | length >= 1' \
    "$WORK/.stdout" >/dev/null || fail "audit list lacks $action of $APP: $(cat "$WORK/.stdout")"
done
expect_ok "audit list (table)" "$FOGKEEP" audit list "${LOCAL[@]}"
head -1 "$WORK/.stdout" | grep -qE '^SEQ +TIME +ACTOR +ROLE +SOURCE +ACTION +TARGET +RESULT' || fail "audit list header"
expect_ok "audit verify --node" "$FOGKEEP" audit verify "${REMOTE[@]}"
grep -q ": OK: " "$WORK/.stdout" || fail "audit verify --node: $(cat "$WORK/.stdout")"
expect_ok "audit verify FILE" "$FOGKEEP" audit verify "$DATA/audit.log"
# One byte: the seq of line 2 ({"seq":2,...).
offset=$(($(head -n 1 "$DATA/audit.log" | wc -c) + 7))
printf '7' | dd of="$DATA/audit.log" bs=1 seek="$offset" conv=notrunc status=none
rc=0
"$FOGKEEP" audit verify "$DATA/audit.log" >"$WORK/.stdout" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "audit verify of an edited log: exit $rc: $(cat "$WORK/.stdout")"
grep -q "audit.log:2: modified" "$WORK/.stdout" || fail "edit not located: $(cat "$WORK/.stdout")"
pass
done_checks
