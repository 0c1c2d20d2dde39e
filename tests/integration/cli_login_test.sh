#!/usr/bin/env bash
# `fogkeep login` and `fogkeep logout` against a real fogkeepd: a local user logs in with a
# password read from stdin, the tokens land in a private cache under $HOME, later commands
# given --node need no --token (nor --ca, which the login remembers), the tokens are never
# printed, a wrong password is refused, and logout ends the session on the node (its access
# token is then answered 401) and forgets it locally.
# Environment: FOGKEEPD is the fogkeepd binary ($1 is fogkeep; FOGKEEP_SHIM is passed on when
# set). Exit 77 = skipped: needs root.
source "$(dirname "$0")/lib.sh"
FOGKEEPD=${FOGKEEPD:?path to fogkeepd}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"

DATA=$WORK/data
SOCK=$WORK/s.sock
CA=$DATA/tls/node.pem
PASSWORD='correct horse battery staple 7'
# The cache goes to $HOME/.config/fogkeep; nothing from the caller's environment may leak in.
export HOME=$WORK/home
unset XDG_CONFIG_HOME FOGKEEP_TOKEN FOGKEEP_NODE
mkdir -p "$HOME"
CRED=$HOME/.config/fogkeep/credentials.json
daemon_pid=
# Loopback only: no app runs here, and bridge networking would touch the host.
printf 'network:\n  mode: none\n' >"$WORK/fogkeepd.yaml"

cleanup() {
  set +e
  stop_daemon
  rm -rf "$WORK"
}
trap cleanup EXIT

start_daemon
NODE=https://127.0.0.1:$PORT
printf '%s\n' "$PASSWORD" >"$WORK/password"
expect_ok "user add" "$FOGKEEPD" user add alice --role auditor --password-stdin --data-dir "$DATA" \
  <"$WORK/password"

# ---- login -------------------------------------------------------------------------------
expect_ok "login" "$FOGKEEP" login --node "$NODE" --user alice --password-stdin --ca "$CA" \
  <"$WORK/password"
grep -q "^logged in to $NODE as alice (role auditor); session expires at " "$WORK/.stdout" ||
  { cat "$WORK/.stdout" >&2; fail "login: unexpected message"; }
if grep -qE 'fk[ar]_' "$WORK/.stdout" "$WORK/.stderr"; then fail "login printed a token"; fi
pass
[ "$(stat -c %a "$CRED")" = 600 ] || fail "credentials.json has mode $(stat -c %a "$CRED")"
[ "$(stat -c %a "$(dirname "$CRED")")" = 700 ] || fail "its directory is not 0700"
pass
ACCESS=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$CRED")
[ -n "$ACCESS" ] || fail "no access token in $CRED"

expect_refused "login with a wrong password" '^fogkeep: login failed: invalid credentials$' \
  "$FOGKEEP" login --node "$NODE" --user alice --password-stdin --ca "$CA" <<<"not the password"
# The failed attempt left the cached login alone.
grep -q "\"access_token\":\"$ACCESS\"" "$CRED" || fail "a failed login changed the cache"
pass

# ---- the cached login serves later commands ------------------------------------------------
expect_ok "app list without --token" "$FOGKEEP" app list --node "$NODE" --ca "$CA"
expect_ok "app list without --token or --ca" "$FOGKEEP" app list --node "$NODE" --json
grep -q '"apps"' "$WORK/.stdout" || fail "app list --json: no apps array"
pass
# The auditor role reads but does not write.
expect_refused "auditor cannot uninstall" 'forbidden|lacks|not allowed|permission' \
  "$FOGKEEP" app uninstall nothing-here --node "$NODE"

# ---- logout -------------------------------------------------------------------------------
expect_ok "logout" "$FOGKEEP" logout
grep -qx "logged out of $NODE" "$WORK/.stdout" || { cat "$WORK/.stdout" >&2; fail "logout: unexpected message"; }
pass
grep -q '"logins":\[\]' "$CRED" || fail "logout left the login in $CRED"
pass
expect_refused "app list after logout" "not logged in to $NODE" \
  "$FOGKEEP" app list --node "$NODE" --ca "$CA"
# The session has ended on the node: its access token is refused with 401.
expect_refused "the old access token after logout" 'invalid|expired|unauthenticated|HTTP 401' \
  "$FOGKEEP" app list --node "$NODE" --ca "$CA" --token "$ACCESS"
if command -v curl >/dev/null; then
  status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" \
    -H "Authorization: Bearer $ACCESS" "$NODE/api/v1/apps" || true)
  # curl checks the host name against the self-signed certificate; fall back to -k for the
  # status alone (the fogkeep calls above verified the node).
  [ "$status" = 401 ] || status=$(curl -sk -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $ACCESS" "$NODE/api/v1/apps" || true)
  [ "$status" = 401 ] || fail "the old access token got HTTP $status, not 401"
  pass
fi
expect_ok "logout again" "$FOGKEEP" logout --node "$NODE"
grep -q "not logged in to $NODE; nothing to do" "$WORK/.stdout" || fail "second logout: unexpected message"
pass

# ---- removing a user ends the user's sessions ------------------------------------------------
expect_ok "login again" "$FOGKEEP" login --node "$NODE" --user alice --password-stdin --ca "$CA" \
  <"$WORK/password"
expect_ok "user list" "$FOGKEEPD" user list --json --data-dir "$DATA"
grep -q '"name":"alice","role":"auditor"' "$WORK/.stdout" || fail "user list: no alice"
pass
expect_ok "user del" "$FOGKEEPD" user del alice --data-dir "$DATA"
grep -qx "removed user alice; 1 session(s) ended" "$WORK/.stdout" || fail "user del: unexpected message"
pass
expect_refused "the removed user's session" 'session|login|401|expired' \
  "$FOGKEEP" app list --node "$NODE"

done_checks
