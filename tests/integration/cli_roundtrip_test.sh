#!/usr/bin/env bash
# pki init → package build → sign → verify → inspect, and the refusals a user meets.
source "$(dirname "$0")/lib.sh"
cd "$WORK"

expect_ok "pki init" "$FOGKEEP" pki init --dir pki
[ "$(stat -c %a pki/ca.key)" = 600 ] && [ "$(stat -c %a pki/signer.key)" = 600 ] || fail "private keys must be 0600"
expect_refused "pki init refuses to overwrite" "already exists" "$FOGKEEP" pki init --dir pki
expect_ok "second PKI" "$FOGKEEP" pki init --dir other --key-type ed25519

"$SRC/examples/hello/make-rootfs.sh" hello >/dev/null
expect_ok "build" "$FOGKEEP" package build hello -o hello.tar
expect_ok "sign" "$FOGKEEP" package sign hello.tar --key pki/signer.key --cert pki/signer.pem -o signed.tar
[ "$(tar tf signed.tar | head -3 | tr '\n' ' ')" = "package.mf package.sig package.cert " ] || fail "signature members must lead the archive"

expect_ok "verify signed" "$FOGKEEP" package verify signed.tar --trust pki/ca.pem
grep -q "^OK signed.tar: hello 1.0.0, signed by" "$WORK/.stdout" || fail "verify output: $(cat "$WORK/.stdout")"
expect_ok "verify with a trust directory" "$FOGKEEP" package verify signed.tar --trust pki
expect_ok "verify --json" "$FOGKEEP" package verify signed.tar --trust pki/ca.pem --json
jq -e '.verified == true and .name == "hello"' "$WORK/.stdout" >/dev/null || fail "verify --json"

expect_refused "unsigned refused by default" "unsigned" "$FOGKEEP" package verify hello.tar --trust pki/ca.pem
expect_ok "unsigned allowed explicitly" "$FOGKEEP" package verify hello.tar --trust pki/ca.pem --allow-unsigned
expect_refused "other CA" "not trusted" "$FOGKEEP" package verify signed.tar --trust other/ca.pem
expect_refused "signed with a key that is not the certificate's" "does not belong" \
  "$FOGKEEP" package sign hello.tar --key other/signer.key --cert pki/signer.pem -o bad.tar
expect_refused "a CA certificate is no code signer" "codeSigning" \
  "$FOGKEEP" package sign hello.tar --key pki/ca.key --cert pki/ca.pem -o bad.tar

# Tamper with the descriptor inside the signed package.
mkdir tamper && tar xf signed.tar -C tamper
sed -i 's/1.0.0/9.9.9/' tamper/package.yaml
(cd tamper && tar cf ../tampered.tar package.mf package.sig package.cert package.yaml package_config.ini artifacts.tar.gz)
expect_refused "tampered descriptor" "package.yaml does not match package.mf" \
  "$FOGKEEP" package verify tampered.tar --trust pki/ca.pem

# Extraction keeps symlinks and writes the rootfs below the target only.
expect_ok "verify --extract" "$FOGKEEP" package verify signed.tar --trust pki/ca.pem --extract out
[ "$(readlink out/rootfs/bin/sh)" = busybox ] || fail "symlink bin/sh not kept"
[ -x out/rootfs/app/hello.sh ] && [ -f out/package.yaml ] || fail "extracted tree incomplete"
expect_refused "extract into an existing directory" "File exists" \
  "$FOGKEEP" package verify signed.tar --trust pki/ca.pem --extract out

# Revocation through the CA's CRL.
expect_ok "revoke" "$FOGKEEP" pki revoke --dir pki pki/signer.pem
mkdir trust && cp pki/ca.pem pki/ca.crl trust/
expect_refused "revoked signer" "revoked" "$FOGKEEP" package verify signed.tar --trust trust

expect_ok "inspect" "$FOGKEEP" package inspect signed.tar --trust pki/ca.pem
grep -q "^Trust *NOT trusted: .*revoked" "$WORK/.stdout" && fail "inspect used the CRL it was not given"
expect_ok "inspect --json" "$FOGKEEP" package inspect signed.tar --json
jq -e '.descriptor.name == "hello" and .signature.valid == true and .manifest.status == "ok"' "$WORK/.stdout" >/dev/null || fail "inspect --json: $(cat "$WORK/.stdout")"

rc=0; "$FOGKEEP" package >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "usage errors exit 2, got $rc"
done_checks
