#!/usr/bin/env bash
# The Secure Storage Service end to end with real runc: the sss-demo sample app, signed and run
# by fogkeepd, stores a certificate and signs with a key that never leaves the node, through the
# socket mounted into its container alone. Then: a second app has its own store and cannot
# reach the first's; records survive app restarts, a fogkeepd restart and an upgrade; an admin
# reaches the store through the node API (audited) but never a key's private part; uninstall
# shreds. Needs root, runc and busybox-static (exit 77 = skipped).
# Environment: FOGKEEPD, FOGKEEP_SHIM and FOGKEEP_SSS_DEMO name the binaries under test.
source "$(dirname "$0")/lib.sh"
prepare_node_test
A=sss-a-$$
B=sss-b-$$
trap 'remove_apps "$A" "$B"' EXIT
cd "$WORK"

# ---- the sample app, signed, in two versions -------------------------------------------------
expect_ok "pki init" "$FOGKEEP" pki init --dir pki
build_demo() {  # build_demo VERSION OUT
  "$SRC/examples/sss-demo/make-rootfs.sh" "demo-$1" ${FOGKEEP_SSS_DEMO:+"$FOGKEEP_SSS_DEMO"} >/dev/null
  sed -i "s/^  version: .*/  version: \"$1\"/" "demo-$1/package.yaml"
  expect_ok "build $1" "$FOGKEEP" package build "demo-$1" -o "unsigned-$1.tar"
  expect_ok "sign $1" "$FOGKEEP" package sign "unsigned-$1.tar" --key pki/signer.key \
    --cert pki/signer.pem -o "$2"
}
build_demo 1.0.0 demo.tar
build_demo 1.0.1 demo-upgrade.tar

start_daemon
L=(--socket "$SOCK")
expect_ok "trust set" "$FOGKEEP" node trust set pki/ca.pem "${L[@]}"

results() { echo "$DATA/apps/$1/data/sss-demo.json"; }
# wait_runs APP N: the app has written its results for run N.
wait_runs() {
  for _ in $(seq 1 150); do
    [ "$(jq -r .runs "$(results "$1")" 2>/dev/null)" = "$2" ] && { pass; return 0; }
    sleep 0.1
  done
  "$FOGKEEP" app logs "$1" "${L[@]}" >&2 || true
  fail "$1 never reported run $2: $(cat "$(results "$1")" 2>&1)"
}
public_key() { jq -r .public_key_pem "$(results "$1")"; }

# ---- the app stores a certificate and signs with a key it cannot take ------------------------
expect_ok "run A" "$FOGKEEP" app run demo.tar --id "$A" "${L[@]}"
wait_runs "$A" 1
R=$(results "$A")
jq -e '.private_key_exported == false' "$R" >/dev/null || fail "the private key left the service: $(cat "$R")"
jq -e '.certificate_subject | test("sss-demo")' "$R" >/dev/null || fail "certificate: $(cat "$R")"
# The signature made inside the node checks out with nothing but the public key and openssl.
public_key "$A" >pub.pem
jq -r .signature "$R" | base64 -d >sig.der
printf '%s' "$(jq -r .message "$R")" >msg
openssl dgst -sha256 -verify pub.pem -signature sig.der msg >/dev/null || fail "signature does not verify"
pass
host_sock=$DATA/sss/sockets/$A/sss.sock
[ -S "$host_sock" ] || fail "no socket at $host_sock"
[ "$(stat -c %a "$host_sock")" = 666 ] && [ "$(stat -c %a "$(dirname "$host_sock")")" = 711 ] ||
  fail "socket modes: $(stat -c '%a %n' "$host_sock" "$(dirname "$host_sock")")"
[ "$(stat -c %a "$DATA/sss/store.db")" = 600 ] && [ "$(stat -c %a "$DATA/sss/sealing.key")" = 600 ] ||
  fail "store files must be 0600"
pass
# Nothing readable in the database: the certificate's subject and the message are sealed.
! grep -qa "sss-demo" "$DATA/sss/store.db" || fail "plaintext in store.db"
pass

# ---- a second app: its own store; the first's socket is out of its reach ---------------------
expect_ok "run B" "$FOGKEEP" app run demo.tar --id "$B" "${L[@]}"
wait_runs "$B" 1  # 1, not 2: B's run counter is not A's
[ "$(public_key "$A")" != "$(public_key "$B")" ] || fail "A and B share a key"
pass
inside() { runc --root "$DATA/runtime" exec "$@"; }
# The socket in B's container is B's own (same inode as the host's B socket), and the
# directory cannot even be listed.
inode() { ls -i "$1" | awk '{print $1}'; }
[ "$(inside "$B" /bin/ls -i /run/fogkeep/sss.sock | awk '{print $1}')" = "$(inode "$DATA/sss/sockets/$B/sss.sock")" ] ||
  fail "B's /run/fogkeep/sss.sock is not B's socket"
inside "$B" /bin/ls /run/fogkeep >/dev/null 2>&1 && fail "B can list /run/fogkeep"
inside "$B" /bin/ls "$DATA/sss/sockets/$A/sss.sock" >/dev/null 2>&1 && fail "B can reach A's socket path"
pass
# B's own socket is A's? No: the same program run beside B writes B's counter, not A's.
inside --env SSS_DEMO_ONCE=1 --env FOGKEEP_SSS_SOCKET=/run/fogkeep/sss.sock \
  --env FOGKEEP_APP_DATA_DIR=/data "$B" /app/sss-demo >/dev/null || fail "second pass in B"
wait_runs "$B" 2
[ "$(jq -r .runs "$R")" = 1 ] || fail "A's counter moved"
pass

# ---- restarts and an upgrade keep the records ------------------------------------------------
before=$(public_key "$A")
expect_ok "stop A" "$FOGKEEP" app stop "$A" "${L[@]}"
expect_ok "start A" "$FOGKEEP" app start "$A" "${L[@]}"
wait_runs "$A" 2
[ "$(public_key "$A")" = "$before" ] || fail "the key changed across an app restart"
pass
stop_daemon
start_daemon  # the running app's socket is bound again, at the path its container mounted
[ -S "$host_sock" ] || fail "no socket after fogkeepd restarted"
inside --env SSS_DEMO_ONCE=1 --env FOGKEEP_SSS_SOCKET=/run/fogkeep/sss.sock \
  --env FOGKEEP_APP_DATA_DIR=/data "$A" /app/sss-demo >/dev/null || fail "A after fogkeepd restart"
wait_runs "$A" 3
expect_ok "upgrade A" "$FOGKEEP" app upgrade "$A" demo-upgrade.tar "${L[@]}"
wait_runs "$A" 4
[ "$(public_key "$A")" = "$before" ] || fail "the key changed across an upgrade"
expect_ok "status after upgrade" "$FOGKEEP" app status "$A" --json "${L[@]}"
jq -e '.version == "1.0.1" and .state == "RUNNING"' "$WORK/.stdout" >/dev/null || fail "upgrade: $(cat "$WORK/.stdout")"

# ---- the admin's view through the node API ---------------------------------------------------
api() { curl -s --unix-socket "$SOCK" -o "$WORK/api.out" -w '%{http_code}' "$@"; }
[ "$(api "http://node/api/v1/apps/$A/sss/keys/demo-key")" = 200 ] || fail "admin key: $(cat api.out)"
jq -e '.algorithm == "ecdsa-p256" and (.public_key_pem | test("PUBLIC KEY"))' api.out >/dev/null || fail "key: $(cat api.out)"
grep -q PRIVATE api.out && fail "the admin view shows private material"
[ "$(api "http://node/api/v1/apps/$A/sss/objects/run-count")" = 200 ] && [ "$(cat api.out)" = 4 ] ||
  fail "admin object: $(cat api.out)"
[ "$(api "http://node/api/v1/apps/$A/sss/certificates/demo-cert")" = 200 ] || fail "admin cert: $(cat api.out)"
jq -e '.subject | test("sss-demo")' api.out >/dev/null || fail "cert: $(cat api.out)"
sign_code=$(api -X POST -d '{"data":""}' "http://node/api/v1/apps/$A/sss/keys/demo-key/sign")
[ "$sign_code" = 404 ] || [ "$sign_code" = 405 ] || fail "an admin can sign with an app's key ($sign_code)"
[ "$(api "http://node/api/v1/apps/no-such-app/sss/objects")" = 404 ] || fail "unknown app: $(cat api.out)"
[ "$(api -X PUT --data-binary 'note from ops' "http://node/api/v1/apps/$A/sss/objects/ops-note")" = 200 ] ||
  fail "admin put: $(cat api.out)"
pass
expect_ok "audit" "$FOGKEEP" audit list --json --action 'sss.*' "${L[@]}"
jq -e --arg id "$A" '[.records[] | select(.action == "sss.objects.put" and .target == $id)] | length == 1' \
  "$WORK/.stdout" >/dev/null || fail "the admin's write is not in the audit trail: $(cat "$WORK/.stdout")"
# Reads of an app's secrets are on the record too.
jq -e --arg id "$A" '[.records[] | select(.action == "sss.objects.get" and .target == $id and .result == "200")] | length == 1' \
  "$WORK/.stdout" >/dev/null || fail "the admin's read is not in the audit trail: $(cat "$WORK/.stdout")"

# ---- the same view through `fogkeep storage` (after the audit counts above) -----------------
# expect_usage DESC CMD...: CMD must stop at a usage error (exit 2) before any request.
expect_usage() {
  local desc=$1 rc=0; shift
  "$@" >"$WORK/.stdout" 2>"$WORK/.stderr" || rc=$?
  [ "$rc" -eq 2 ] || { cat "$WORK/.stderr" >&2; fail "$desc: expected exit 2, got $rc"; }
  pass
}
expect_ok "storage list" "$FOGKEEP" storage list "$A" "${L[@]}"
head -1 "$WORK/.stdout" | grep -qE '^KIND +NAME +VERSION +SIZE$' || fail "storage list header: $(cat "$WORK/.stdout")"
for row in 'object +run-count' 'certificate +demo-cert' 'key +demo-key'; do
  grep -qE "^$row +[0-9]+ +[0-9]+$" "$WORK/.stdout" || fail "storage list lacks '$row': $(cat "$WORK/.stdout")"
done
pass
expect_ok "storage list --kind --json" "$FOGKEEP" storage list "$A" --kind keys --json "${L[@]}"
jq -e '(.keys | map(.name) | index("demo-key")) != null and (has("objects") | not)' "$WORK/.stdout" >/dev/null ||
  fail "storage list --json: $(cat "$WORK/.stdout")"
expect_ok "storage get object" "$FOGKEEP" storage get "$A" object run-count "${L[@]}"
[ "$(cat "$WORK/.stdout")" = 4 ] || fail "storage get run-count: $(cat "$WORK/.stdout")"
expect_ok "storage get key" "$FOGKEEP" storage get "$A" key demo-key "${L[@]}"
grep -qE '^Algorithm +ecdsa-p256$' "$WORK/.stdout" && grep -q 'BEGIN PUBLIC KEY' "$WORK/.stdout" ||
  fail "storage get key: $(cat "$WORK/.stdout")"
grep -q PRIVATE "$WORK/.stdout" && fail "storage get key shows private material"
# The public key the CLI shows is the one the app signed with.
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$WORK/.stdout" >cli-pub.pem
[ "$(openssl pkey -pubin -in cli-pub.pem -outform der | sha256sum)" = "$(openssl pkey -pubin -in pub.pem -outform der | sha256sum)" ] ||
  fail "storage get key: not the app's public key"
pass
expect_ok "storage get key --json" "$FOGKEEP" storage get "$A" keys demo-key --json "${L[@]}"
jq -e '.name == "demo-key" and (.public_key_pem | test("PUBLIC KEY")) and (keys | sort == ["algorithm", "name", "public_key_pem"])' \
  "$WORK/.stdout" >/dev/null || fail "storage get key --json: $(cat "$WORK/.stdout")"
# Binary objects travel byte-exact, from a file and from standard input, to a file and stdout.
head -c 1000 /dev/urandom >blob.bin
expect_ok "storage put object" "$FOGKEEP" storage put "$A" object blob.bin blob.bin "${L[@]}"
grep -qE '^Stored object blob.bin of app .*: version [0-9]+, 1000 bytes$' "$WORK/.stdout" ||
  fail "storage put object: $(cat "$WORK/.stdout")"
expect_ok "storage get object -o" "$FOGKEEP" storage get "$A" objects blob.bin -o blob.out "${L[@]}"
cmp -s blob.bin blob.out || fail "storage get -o: not the bytes stored"
[ "$(stat -c %a blob.out)" = 600 ] || fail "storage get -o: mode $(stat -c %a blob.out)"
"$FOGKEEP" storage get "$A" object blob.bin "${L[@]}" >blob.stdout || fail "storage get object to stdout"
cmp -s blob.bin blob.stdout || fail "storage get to stdout: not the bytes stored"
expect_ok "storage put object from stdin" "$FOGKEEP" storage put "$A" object from-stdin - --json "${L[@]}" <blob.bin
jq -e '.name == "from-stdin" and .size == 1000' "$WORK/.stdout" >/dev/null || fail "put from stdin: $(cat "$WORK/.stdout")"
expect_ok "storage get object --json" "$FOGKEEP" storage get "$A" object from-stdin --json "${L[@]}"
jq -r .data "$WORK/.stdout" | base64 -d | cmp -s blob.bin - || fail "storage get --json: not the bytes stored"
pass
# A certificate from a PEM file: the node's summary matches openssl's, and --pem gives it back.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ops.key -out ops.pem \
  -days 2 -subj "/CN=ops-cert-$$" 2>/dev/null
expect_ok "storage put certificate" "$FOGKEEP" storage put "$A" certificate ops-cert ops.pem "${L[@]}"
grep -q "ops-cert-$$" "$WORK/.stdout" && grep -qE '^Valid now +yes$' "$WORK/.stdout" ||
  fail "storage put certificate: $(cat "$WORK/.stdout")"
expect_ok "storage get certificate" "$FOGKEEP" storage get "$A" certificate ops-cert "${L[@]}"
fingerprint=$(openssl x509 -in ops.pem -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
grep -qE "^SHA-256 +$fingerprint$" "$WORK/.stdout" && grep -qE '^Subject +.*ops-cert-'"$$" "$WORK/.stdout" ||
  fail "storage get certificate (want $fingerprint): $(cat "$WORK/.stdout")"
expect_ok "storage get certificate --pem" "$FOGKEEP" storage get "$A" certificate ops-cert --pem "${L[@]}"
[ "$(openssl x509 -in "$WORK/.stdout" -outform der | sha256sum)" = "$(openssl x509 -in ops.pem -outform der | sha256sum)" ] ||
  fail "storage get certificate --pem: $(cat "$WORK/.stdout")"
expect_ok "storage get certificate --json" "$FOGKEEP" storage get "$A" certificate ops-cert --json "${L[@]}"
jq -e --arg f "$fingerprint" '.fingerprint_sha256 == $f and .valid_now == true' "$WORK/.stdout" >/dev/null ||
  fail "storage get certificate --json: $(cat "$WORK/.stdout")"
pass
# Keys: imported from a file (the node hands back the public part only) or generated.
openssl genpkey -algorithm ed25519 -out ops-key.pem 2>/dev/null
expect_ok "storage put key --import" "$FOGKEEP" storage put "$A" key ops-key --import ops-key.pem --json "${L[@]}"
[ "$(jq -r .public_key_pem "$WORK/.stdout")" = "$(openssl pkey -in ops-key.pem -pubout)" ] && ! grep -q PRIVATE "$WORK/.stdout" ||
  fail "storage put key --import: $(cat "$WORK/.stdout")"
expect_ok "storage put key --algorithm" "$FOGKEEP" storage put "$A" key ops-aes --algorithm aes-256 "${L[@]}"
grep -qE '^Algorithm +aes-256$' "$WORK/.stdout" || fail "storage put key --algorithm: $(cat "$WORK/.stdout")"
expect_refused "a key name taken" "^fogkeep: put key ops-aes of app $A: .*already exists" \
  "$FOGKEEP" storage put "$A" key ops-aes --algorithm ed25519 "${L[@]}"
expect_refused "an import that is not PEM" "blob.bin is not a PEM private key" \
  "$FOGKEEP" storage put "$A" key ops-bad --import blob.bin "${L[@]}"
# Delete, and the record is gone; the delete is on the record as the reads and writes were.
expect_ok "storage delete" "$FOGKEEP" storage delete "$A" object blob.bin "${L[@]}"
expect_refused "get a deleted object" "^fogkeep: get object blob.bin of app $A: .*no " \
  "$FOGKEEP" storage get "$A" object blob.bin "${L[@]}"
expect_refused "an unknown app" "^fogkeep: list the objects of app no-such-app-$$: no app no-such-app-$$$" \
  "$FOGKEEP" storage list "no-such-app-$$" "${L[@]}"
expect_ok "audit of the CLI's delete" "$FOGKEEP" audit list --json --action sss.objects.delete "${L[@]}"
jq -e --arg id "$A" '[.records[] | select(.target == $id and .result == "204" and (.detail | test("blob.bin")))] | length == 1' \
  "$WORK/.stdout" >/dev/null || fail "the CLI's delete is not in the audit trail: $(cat "$WORK/.stdout")"
# Usage errors stop before any request: an audit trail that does not grow shows it.
expect_ok "audit before usage errors" "$FOGKEEP" audit list --json --action 'sss.*' --limit 1000 "${L[@]}"
audited=$(jq '.records | length' "$WORK/.stdout")
expect_usage "a bad kind" "$FOGKEEP" storage get "$A" secret run-count "${L[@]}"
grep -q 'unknown kind "secret"' "$WORK/.stderr" || fail "bad kind: $(cat "$WORK/.stderr")"
expect_usage "a bad --kind" "$FOGKEEP" storage list "$A" --kind blobs "${L[@]}"
expect_usage "a bad name" "$FOGKEEP" storage get "$A" object 'a/b' "${L[@]}"
grep -q 'A-Za-z0-9_.-' "$WORK/.stderr" || fail "bad name: $(cat "$WORK/.stderr")"
expect_usage "a dot-dot name" "$FOGKEEP" storage delete "$A" object .. "${L[@]}"
expect_usage "a name too long" "$FOGKEEP" storage get "$A" object "$(printf 'x%.0s' $(seq 129))" "${L[@]}"
expect_usage "a key without --algorithm or --import" "$FOGKEEP" storage put "$A" key k "${L[@]}"
expect_usage "an object without FILE" "$FOGKEEP" storage put "$A" object o "${L[@]}"
expect_usage "-o for a key" "$FOGKEEP" storage get "$A" key demo-key -o out "${L[@]}"
expect_usage "an unknown algorithm" "$FOGKEEP" storage put "$A" key k --algorithm dsa "${L[@]}"
expect_ok "audit after usage errors" "$FOGKEEP" audit list --json --action 'sss.*' --limit 1000 "${L[@]}"
[ "$(jq '.records | length' "$WORK/.stdout")" = "$audited" ] || fail "a usage error reached the node"
pass

# ---- uninstall shreds: the same id starts from nothing ---------------------------------------
for verb in stop deactivate uninstall; do expect_ok "$verb A" "$FOGKEEP" app "$verb" "$A" "${L[@]}"; done
[ -e "$DATA/sss/sockets/$A" ] && fail "A's socket directory outlived it"
[ "$(sqlite3 "$DATA/sss/store.db" "SELECT count(*) FROM records WHERE app = '$A'")" = 0 ] ||
  fail "A's records outlived it"
[ "$(sqlite3 "$DATA/sss/store.db" "SELECT count(*) FROM apps WHERE app = '$A'")" = 0 ] ||
  fail "A's data key outlived it"
pass
expect_ok "run A again" "$FOGKEEP" app run demo.tar --id "$A" "${L[@]}"
wait_runs "$A" 1
[ "$(public_key "$A")" != "$before" ] || fail "a reinstalled app got its predecessor's key"
pass
done_checks
