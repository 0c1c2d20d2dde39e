#!/usr/bin/env bash
# Lays out the fogkeep-sensor app for `fogkeep package build`: DEST/package.yaml and
# DEST/rootfs/ with the fogkeep-sensor binary, the shared libraries it loads (as ldd lists
# them, at the same paths), busybox-static for a shell, and the sensor's configuration.
# Usage: examples/sensor/make-rootfs.sh DEST SENSOR_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: make-rootfs.sh DEST SENSOR_BINARY}
binary=${2:?usage: make-rootfs.sh DEST SENSOR_BINARY}
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || { echo "busybox-static is not installed" >&2; exit 1; }
[ -x "$binary" ] || { echo "no such binary: $binary" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/rootfs"/{bin,app,data,tmp,proc,sys,dev,etc,run}
cp "$here/package.yaml" "$dest/"
cp "$busybox" "$dest/rootfs/bin/busybox"
for applet in sh ls cat echo sleep; do
  ln -s busybox "$dest/rootfs/bin/$applet"
done
cp "$binary" "$dest/rootfs/app/fogkeep-sensor"
cp "$here/sensor.yaml" "$dest/rootfs/app/sensor.yaml"
# Every library the dynamic loader would map, and the loader itself, at their host paths.
ldd "$binary" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$dest/rootfs$(dirname "$lib")"
  cp -L "$lib" "$dest/rootfs$lib"
done
chmod -R a+rX "$dest/rootfs"
echo "root:x:0:0:root:/:/bin/sh" > "$dest/rootfs/etc/passwd"
echo "root:x:0:" > "$dest/rootfs/etc/group"
