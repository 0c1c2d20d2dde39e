#!/usr/bin/env bash
# Enrollment with the node key inside a TPM 2.0, end to end: a software TPM (swtpm, started
# here on loopback), a fogkeep-director on SQLite, and a fogkeepd configured with
# `director: key: tpm` that enrolls (the CSR signed in the TPM), then reports and receives its
# desired state over mutual TLS with that key (the fleet policy's trust anchor reaching the
# node shows the desired state arrived), and renews its two-minute certificate with the same
# key. node.key must hold only the TSS2 PEM. A node set to the TPM refuses to start without it
# or with a file key, and the other way round. Needs root, runc, busybox-static, swtpm and
# tpm2-openssl (exit 77 = skipped).
# Environment: FOGKEEPD, FOGKEEP_DIRECTOR and FOGKEEP_SHIM name the binaries under test.
source "$(dirname "$0")/lib.sh"
DIRECTOR=${FOGKEEP_DIRECTOR:?path to fogkeep-director}
command -v swtpm >/dev/null || { echo "SKIP: swtpm is not installed"; exit 77; }
prepare_node_test
director_pid=
tpm_pid=
cleanup() {
  stop_daemon
  [ -n "$director_pid" ] && kill -TERM "$director_pid" 2>/dev/null && wait "$director_pid" 2>/dev/null
  stop_swtpm
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# ---- a software TPM on two consecutive free loopback ports -----------------------------------
start_swtpm
openssl list -providers -provider tpm2 >/dev/null 2>&1 ||
  { echo "SKIP: the tpm2 OpenSSL provider (tpm2-openssl) is not available"; exit 77; }
pass

# ---- the director, a fleet policy with a trust anchor, a token -------------------------------
DDATA=$WORK/director
# Node certificates live two minutes, so that the node renews its certificate during the test.
printf 'node-certificate-lifetime: 120s\n' >"$WORK/director.yaml"
start_director "$DDATA" --config "$WORK/director.yaml"
NM=$("$DIRECTOR" --data-dir "$DDATA" token create --role network-manager 2>/dev/null)
AM=$("$DIRECTOR" --data-dir "$DDATA" token create --role app-manager 2>/dev/null)
# call TOKEN METHOD PATH [BODY]: prints the status, the body goes to $WORK/body.
call() {
  curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -X "$2" ${4:+--data "$4"} "$URL$3"
}
# anchor DIR: makes a CA in DIR, sets it as the fleet policy's trust anchor, prints its
# fingerprint as `fogkeep node trust get` shows it.
anchor() {
  "$FOGKEEP" pki init --dir "$1" >/dev/null || fail "pki init $1"
  [ "$(call "$NM" PUT /api/v1/policies/%2A "{\"trust_anchors\":[$(jq -Rs . "$1/ca.pem")]}")" = 200 ] ||
    fail "fleet policy: $(cat "$WORK/body")"
  openssl x509 -in "$1/ca.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f
}
# node_trusts FINGERPRINT: waits until the running node trusts that anchor.
node_trusts() {
  for _ in $(seq 1 600); do
    "$FOGKEEP" node trust get --socket "$SOCK" >"$WORK/trust" 2>&1 || true
    grep -q "sha256 $1" "$WORK/trust" && return 0
    sleep 0.1
  done
  fail "the desired state did not reach the node: $(cat "$WORK/trust") $(cat "$WORK/fogkeepd.err")"
}
# seconds PEM-CERT startdate|enddate: the certificate's notBefore or notAfter, in Unix time.
seconds() { date -d "$(openssl x509 -in "$1" -noout "-$2" | cut -d= -f2)" +%s; }
ANCHOR_FP=$(anchor pki)
[ ${#ANCHOR_FP} -eq 64 ] || fail "no anchor fingerprint"; pass
# token: prints a new one-time enrollment token.
token() {
  [ "$(call "$NM" POST /api/v1/enrollment-tokens '{"tags":["tpm"]}')" = 201 ] ||
    fail "token: $(cat "$WORK/body")"
  jq -r .token "$WORK/body"
}
TOKEN=$(token)
printf 'director:\n  key: tpm\n' >>"$WORK/fogkeepd.yaml"

# ---- no TPM to make the key in: refused, with no key file and the token still unused ---------
rc=0
TPM2OPENSSL_TCTI="swtpm:host=127.0.0.1,port=1" "$FOGKEEPD" enroll --config "$WORK/fogkeepd.yaml" \
  --data-dir "$WORK/notpm" --director "$URL" --token "$TOKEN" --ca-fingerprint "$FP" \
  >"$WORK/notpm.out" 2>"$WORK/notpm.err" || rc=$?
[ "$rc" = 1 ] || fail "enroll without a TPM exited $rc"
grep -q '^fogkeepd: .*TPM' "$WORK/notpm.err" || fail "no clear reason: $(cat "$WORK/notpm.err")"
[ ! -e "$WORK/notpm/director/node.key" ] || fail "a key file was left without a TPM"
pass

# ---- enrollment with the key in the TPM --------------------------------------------------------
expect_ok "enroll" "$FOGKEEPD" enroll --config "$WORK/fogkeepd.yaml" --data-dir "$DATA" \
  --director "$URL" --token "$TOKEN" --ca-fingerprint "$FP" --name tpm-node
DEVICE=$(sed -n 's/^enrolled as device //p' "$WORK/.stdout")
[ -n "$DEVICE" ] || fail "no device id printed"; pass
KEY=$DATA/director/node.key
[ "$(stat -c %a "$KEY")" = 600 ] || fail "node key not 0600"; pass
grep -q -- '-----BEGIN TSS2 PRIVATE KEY-----' "$KEY" || fail "node.key is not a TSS2 PEM: $(head -1 "$KEY")"
[ "$(grep -c -- '-----BEGIN' "$KEY")" = 1 ] || fail "node.key holds more than the TSS2 key"
grep -q -E -- '-----BEGIN (EC |ENCRYPTED )?PRIVATE KEY-----' "$KEY" && fail "node.key holds a plain private key"
openssl pkey -in "$KEY" -noout 2>/dev/null && fail "node.key loads without the TPM"
pass
openssl verify -CAfile "$CA" -purpose sslclient "$DATA/director/node.pem" >/dev/null ||
  fail "node certificate does not verify for client auth"; pass
# The certificate certifies the key in the TPM.
openssl pkey -provider tpm2 -provider default -in "$KEY" -pubout >"$WORK/tpm-pub.pem" ||
  fail "the tpm2 provider cannot read node.key"
openssl x509 -in "$DATA/director/node.pem" -noout -pubkey >"$WORK/cert-pub.pem"
cmp -s "$WORK/tpm-pub.pem" "$WORK/cert-pub.pem" || fail "the certificate is not for the TPM key"; pass

# ---- fogkeepd reports and follows its desired state over mutual TLS, signing in the TPM -------
start_daemon
for _ in $(seq 1 150); do
  call "$AM" GET "/api/v1/devices/$DEVICE" >/dev/null
  [ "$(jq -r .last_report_at "$WORK/body")" != 0 ] && break
  sleep 0.1
done
[ "$(jq -r .last_report_at "$WORK/body")" != 0 ] ||
  fail "no report: $(cat "$WORK/body") $(cat "$WORK/fogkeepd.err")"; pass
[ "$(jq -r .name "$WORK/body")" = tpm-node ] || fail "device name"; pass
# The fleet policy's anchor becomes the node's once its desired state is applied.
node_trusts "$ANCHOR_FP"; pass

# ---- renewal: the TPM key signs the new request, and the link goes on with the new certificate --
CERT=$DATA/director/node.pem
cp "$CERT" "$WORK/enrolled.pem"
cp "$KEY" "$WORK/enrolled.key"
due=$(( $(seconds "$CERT" enddate) - ($(seconds "$CERT" enddate) - $(seconds "$CERT" startdate)) / 3 + 1 ))
now=$(date +%s)
[ "$due" -le "$now" ] || sleep $((due - now))
# A new policy wakes the node's long poll; its next round renews first, then fetches it.
ANCHOR2_FP=$(anchor pki2)
for _ in $(seq 1 900); do
  [ "$(openssl x509 -in "$CERT" -noout -serial)" != "$(openssl x509 -in "$WORK/enrolled.pem" -noout -serial)" ] && break
  sleep 0.1
done
[ "$(openssl x509 -in "$CERT" -noout -serial)" != "$(openssl x509 -in "$WORK/enrolled.pem" -noout -serial)" ] ||
  fail "the node did not renew its certificate: $(cat "$WORK/fogkeepd.err")"
grep -q "certificate renewed" "$WORK/fogkeepd.err" || fail "no renewal logged"; pass
cmp -s "$KEY" "$WORK/enrolled.key" || fail "renewal replaced node.key"
openssl x509 -in "$CERT" -noout -pubkey | cmp -s - "$WORK/tpm-pub.pem" ||
  fail "the renewed certificate is not for the TPM key"; pass
node_trusts "$ANCHOR2_FP"; pass
stop_daemon

# ---- the key is not a file key: set to file, the node refuses it ------------------------------
printf 'network:\n  mode: none\ndirector:\n  key: file\n' >"$WORK/file.yaml"
rc=0
"$FOGKEEPD" --config "$WORK/file.yaml" --data-dir "$DATA" --listen none --socket "$SOCK" \
  ${FOGKEEP_SHIM:+--shim "$FOGKEEP_SHIM"} >"$WORK/file.out" 2>"$WORK/file.err" || rc=$?
[ "$rc" = 1 ] || fail "fogkeepd set to a file key exited $rc"
grep -q "director key: .*node.key is a TPM key" "$WORK/file.err" ||
  fail "no clear reason: $(cat "$WORK/file.err")"; pass

# ---- a node set to the TPM with a file key is refused too --------------------------------------
FILEDATA=$WORK/filenode
expect_ok "enroll with a file key" "$FOGKEEPD" enroll --data-dir "$FILEDATA" --director "$URL" \
  --token "$(token)" --ca-fingerprint "$FP" --name file-node
grep -q -- '-----BEGIN PRIVATE KEY-----' "$FILEDATA/director/node.key" ||
  fail "a node enrolled without director: key: tpm has no file key"; pass
rc=0
"$FOGKEEPD" --config "$WORK/fogkeepd.yaml" --data-dir "$FILEDATA" --listen none \
  --socket "$WORK/run/file.sock" ${FOGKEEP_SHIM:+--shim "$FOGKEEP_SHIM"} \
  >"$WORK/filekey.out" 2>"$WORK/filekey.err" || rc=$?
[ "$rc" = 1 ] || fail "fogkeepd set to the TPM ran on a file key (exit $rc)"
grep -q "director key: .*node.key is a file key" "$WORK/filekey.err" ||
  fail "no clear reason: $(cat "$WORK/filekey.err")"; pass

# ---- without its TPM the node does not start, and says why --------------------------------------
stop_swtpm
rc=0
"$FOGKEEPD" --config "$WORK/fogkeepd.yaml" --data-dir "$DATA" --listen none --socket "$SOCK" \
  ${FOGKEEP_SHIM:+--shim "$FOGKEEP_SHIM"} >"$WORK/gone.out" 2>"$WORK/gone.err" || rc=$?
[ "$rc" = 1 ] || fail "fogkeepd without its TPM exited $rc"
grep -q "^fogkeepd: director key: .*TPM" "$WORK/gone.err" || fail "no clear reason: $(cat "$WORK/gone.err")"
pass
done_checks
