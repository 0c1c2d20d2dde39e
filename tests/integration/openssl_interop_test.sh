#!/usr/bin/env bash
# The package format is plain enough for third parties: a fogkeep-signed package checks with
# the openssl CLI and sha256sum, and a package assembled here with openssl, tar and
# sha256sum alone verifies with `fogkeep package verify` — for each key type.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
"$SRC/examples/hello/make-rootfs.sh" hello >/dev/null

# 1. fogkeep signs, openssl checks (DESIGN.md's recipe).
for type in ecdsa-p256 rsa ed25519; do
  "$FOGKEEP" pki init --dir "pki-$type" --key-type "$type" >/dev/null
  "$FOGKEEP" package build hello -o "hello-$type.tar" >/dev/null
  "$FOGKEEP" package sign "hello-$type.tar" --key "pki-$type/signer.key" --cert "pki-$type/signer.pem" -o "signed-$type.tar" >/dev/null
  rm -rf x && mkdir x && tar xf "signed-$type.tar" -C x
  openssl x509 -in x/package.cert -pubkey -noout > x/pub.pem
  base64 -d x/package.sig > x/sig.bin
  if [ "$type" = ed25519 ]; then
    expect_ok "openssl verifies fogkeep's $type signature" \
      openssl pkeyutl -verify -pubin -inkey x/pub.pem -rawin -in x/package.mf -sigfile x/sig.bin
  else
    expect_ok "openssl verifies fogkeep's $type signature" \
      openssl dgst -sha256 -verify x/pub.pem -signature x/sig.bin x/package.mf
  fi
  expect_ok "openssl chains the signer to the CA" openssl verify -CAfile "pki-$type/ca.pem" x/package.cert
  openssl x509 -in x/package.cert -noout -ext extendedKeyUsage | grep -q "Code Signing" || fail "no codeSigning EKU"
  (cd x && sed -E 's/^SHA256\((.*)\)= ([0-9a-f]{64})$/\2  \1/' package.mf > sums)
  expect_ok "sha256sum checks every member of the $type package" bash -c "cd x && sha256sum -c --strict sums"
  echo corrupt >> x/package.mf
  if openssl dgst -sha256 -verify x/pub.pem -signature x/sig.bin x/package.mf >/dev/null 2>&1 ||
     openssl pkeyutl -verify -pubin -inkey x/pub.pem -rawin -in x/package.mf -sigfile x/sig.bin >/dev/null 2>&1; then
    fail "openssl accepted a modified manifest"
  fi
  pass
done

# 2. openssl signs, fogkeep verifies.
cat > ext.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[fk_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[fk_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
mkdir rootfs-src && cp -a hello/rootfs/. rootfs-src/
tar cf rootfs.tar -C rootfs-src .
tar czf artifacts.tar.gz rootfs.tar
for type in ec rsa ed25519; do
  case $type in
    ec) genkey=(genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa) genkey=(genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048) ;;
    ed25519) genkey=(genpkey -algorithm ED25519) ;;
  esac
  d=script-$type; mkdir "$d"
  openssl "${genkey[@]}" -out "$d/ca.key" 2>/dev/null
  openssl req -new -x509 -key "$d/ca.key" -subj "/CN=script CA $type" -days 30 -extensions fk_ca -config ext.cnf -out "$d/ca.pem" 2>/dev/null
  openssl "${genkey[@]}" -out "$d/signer.key" 2>/dev/null
  openssl req -new -key "$d/signer.key" -subj "/CN=script signer $type" -out "$d/signer.csr" 2>/dev/null
  openssl x509 -req -in "$d/signer.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
    -extfile ext.cnf -extensions fk_leaf -out "$d/signer.pem" 2>/dev/null
  mkdir "$d/pkg"
  cp hello/package.yaml artifacts.tar.gz "$d/pkg/"
  (cd "$d/pkg" && for f in artifacts.tar.gz package.yaml; do
     printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"; done > package.mf)
  if [ "$type" = ed25519 ]; then
    openssl pkeyutl -sign -inkey "$d/signer.key" -rawin -in "$d/pkg/package.mf" -out "$d/sig.bin"
  else
    openssl dgst -sha256 -sign "$d/signer.key" -out "$d/sig.bin" "$d/pkg/package.mf"
  fi
  base64 -w0 "$d/sig.bin" > "$d/pkg/package.sig"
  cp "$d/signer.pem" "$d/pkg/package.cert"
  # Members in an order fogkeep does not write: the reader spools artifacts and still verifies.
  (cd "$d/pkg" && tar cf ../script.tar package.yaml artifacts.tar.gz package.mf package.cert package.sig)
  expect_ok "fogkeep verifies an openssl-made $type package" \
    "$FOGKEEP" package verify "$d/script.tar" --trust "$d/ca.pem" --extract "$d/out"
  [ -x "$d/out/rootfs/bin/busybox" ] || fail "rootfs of the $type script package not extracted"
  expect_refused "the $type script package against another CA" "not trusted" \
    "$FOGKEEP" package verify "$d/script.tar" --trust pki-rsa/ca.pem
done
done_checks
