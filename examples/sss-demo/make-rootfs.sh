#!/usr/bin/env bash
# Lays out the sss-demo app for `fogkeep package build`: DEST/package.yaml and DEST/rootfs/
# with busybox-static, the static sss-demo program and a self-signed demo certificate.
# Usage: examples/sss-demo/make-rootfs.sh DEST [BINARY]
#   BINARY  a static build of sss_demo.c (e.g. the fogkeep-sss-demo CMake target); without
#           it, sss_demo.c is compiled here with `cc -static -O2`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: make-rootfs.sh DEST [BINARY]}
binary=${2:-}
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || { echo "busybox-static is not installed" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is not installed" >&2; exit 1; }
[ -z "$binary" ] || [ -f "$binary" ] || { echo "no such binary: $binary" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/rootfs"/{bin,app,data,tmp,proc,sys,dev,etc,run}
cp "$here/package.yaml" "$dest/"
cp "$busybox" "$dest/rootfs/bin/busybox"
for applet in sh ls cat echo sleep; do
  ln -s busybox "$dest/rootfs/bin/$applet"
done
if [ -n "$binary" ]; then
  cp "$binary" "$dest/rootfs/app/sss-demo"
else
  cc -std=c17 -static -O2 -o "$dest/rootfs/app/sss-demo" "$here/sss_demo.c"
fi
chmod 755 "$dest/rootfs/app/sss-demo"
# The certificate the app stores; its private key is not needed and is thrown away.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=sss-demo" \
  -days 365 -keyout /dev/null -out "$dest/rootfs/app/demo-cert.pem" 2>/dev/null
chmod 644 "$dest/rootfs/app/demo-cert.pem"
echo "root:x:0:0:root:/:/bin/sh" > "$dest/rootfs/etc/passwd"
echo "root:x:0:" > "$dest/rootfs/etc/group"
