#!/usr/bin/env bash
# The Secure Storage Service with its key-encryption key sealed by a TPM 2.0, end to end: a
# software TPM (swtpm, started here on loopback), fogkeepd configured with `sss: sealer: tpm`,
# and the signed sss-demo app under real runc storing a certificate and signing through its
# socket. The store then reopens through the TPM after a fogkeepd restart, and refuses to
# open without that TPM. Needs root, runc, busybox-static and swtpm (exit 77 = skipped).
# Environment: FOGKEEPD, FOGKEEP_SHIM and FOGKEEP_SSS_DEMO name the binaries under test.
source "$(dirname "$0")/lib.sh"
command -v swtpm >/dev/null || { echo "SKIP: swtpm is not installed"; exit 77; }
prepare_node_test
APP=sss-tpm-$$
tpm_pid=
trap 'remove_apps "$APP"; stop_swtpm' EXIT
cd "$WORK"
printf 'sss:\n  sealer: tpm\n' >>"$WORK/fogkeepd.yaml"

# ---- a software TPM on two consecutive free loopback ports -----------------------------------
start_swtpm
pass

# ---- the sample app, its key-encryption key sealed by the TPM --------------------------------
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
"$SRC/examples/sss-demo/make-rootfs.sh" demo ${FOGKEEP_SSS_DEMO:+"$FOGKEEP_SSS_DEMO"} >/dev/null
expect_ok "build" "$FOGKEEP" package build demo -o unsigned.tar
expect_ok "sign" "$FOGKEEP" package sign unsigned.tar --key pki/signer.key --cert pki/signer.pem -o demo.tar
start_daemon
L=(--socket "$SOCK")
expect_ok "trust set" "$FOGKEEP" node trust set pki/ca.pem "${L[@]}"
expect_ok "run" "$FOGKEEP" app run demo.tar --id "$APP" "${L[@]}"
R=$DATA/apps/$APP/data/sss-demo.json
wait_runs() {
  for _ in $(seq 1 150); do
    [ "$(jq -r .runs "$R" 2>/dev/null)" = "$1" ] && { pass; return 0; }
    sleep 0.1
  done
  fail "the app never reported run $1: $(cat "$R" 2>&1)"
}
wait_runs 1
jq -r .public_key_pem "$R" >pub.pem
jq -r .signature "$R" | base64 -d >sig.der
printf '%s' "$(jq -r .message "$R")" >msg
openssl dgst -sha256 -verify pub.pem -signature sig.der msg >/dev/null || fail "signature does not verify"
[ -f "$DATA/sss/tpm-key.pem" ] && [ "$(stat -c %a "$DATA/sss/tpm-key.pem")" = 600 ] || fail "no 0600 TPM key blob"
grep -q "TSS2 PRIVATE KEY" "$DATA/sss/tpm-key.pem" || fail "the key blob is not a TPM key"
[ -e "$DATA/sss/sealing.key" ] && fail "a sealing key file exists beside the TPM"
pass

# ---- fogkeepd restarts: the store is unsealed through the TPM again -------------------------
stop_daemon
start_daemon
runc --root "$DATA/runtime" exec --env SSS_DEMO_ONCE=1 --env FOGKEEP_SSS_SOCKET=/run/fogkeep/sss.sock \
  --env FOGKEEP_APP_DATA_DIR=/data "$APP" /app/sss-demo >/dev/null || fail "second pass after restart"
wait_runs 2
[ "$(jq -r .public_key_pem "$R")" = "$(cat pub.pem)" ] || fail "the key changed across the restart"
pass

# ---- without the TPM the store does not open, and fogkeepd says why --------------------------
stop_daemon
stop_swtpm
rc=0
"$FOGKEEPD" --config "$WORK/fogkeepd.yaml" --data-dir "$DATA" --listen none --socket "$SOCK" \
  ${FOGKEEP_SHIM:+--shim "$FOGKEEP_SHIM"} >"$WORK/notpm.out" 2>"$WORK/notpm.err" || rc=$?
[ "$rc" = 1 ] || fail "fogkeepd without its TPM exited $rc"
grep -qi "secure storage" "$WORK/notpm.err" || fail "no clear reason: $(cat "$WORK/notpm.err")"
pass
done_checks
