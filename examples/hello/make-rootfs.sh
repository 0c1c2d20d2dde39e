#!/usr/bin/env bash
# Lays out the hello app for `fogkeep package build`: DEST/package.yaml,
# DEST/package_config.ini and DEST/rootfs/ with busybox-static and the app script.
# Usage: examples/hello/make-rootfs.sh DEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: make-rootfs.sh DEST}
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || { echo "busybox-static is not installed" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/rootfs"/{bin,app,data,tmp,proc,sys,dev,etc}
cp "$here/package.yaml" "$here/package_config.ini" "$dest/"
cp "$busybox" "$dest/rootfs/bin/busybox"
for applet in sh ls cat echo mkdir printf httpd sleep id ps mount grep head wc; do
  ln -s busybox "$dest/rootfs/bin/$applet"
done
cp "$here/app/hello.sh" "$dest/rootfs/app/hello.sh"
echo "root:x:0:0:root:/:/bin/sh" > "$dest/rootfs/etc/passwd"
echo "root:x:0:" > "$dest/rootfs/etc/group"
