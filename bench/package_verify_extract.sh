#!/usr/bin/env bash
# Verify + extract of a 256 MiB signed package (about 2,000 files of random bytes) against
# the floor measured here on the same data: `gzip -dc artifacts.tar.gz | sha256sum` plus
# `tar -x` of the rootfs. Target: at most 1.25x the floor. The last line is the ratio.
# Usage: bench/package_verify_extract.sh   (RUNS=5 by default; FOGKEEP_BUILD=build dir)
source "$(dirname "$0")/lib.sh"
fk=$BUILD/apps/fogkeep
[ -x "$fk" ] || { echo "build first: cmake --preset release && cmake --build build/release" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/fogkeep-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

files=${FILES:-2000}
total_mib=${TOTAL_MIB:-256}
per_file=$(( total_mib * 1024 * 1024 / files ))
mkdir -p "$work/app/rootfs/data"
cat > "$work/app/package.yaml" <<'YAML'
descriptor-schema-version: "2.2"
info: {name: bench, version: "1.0"}
app:
  type: docker
  resources: {profile: c1.small}
  startup: {rootfs: rootfs.tar, target: ["/bin/true"]}
YAML
# Random bytes from one seeded stream: incompressible, so gzip costs what it costs in the field.
# (openssl is cut off by head, so its SIGPIPE status is expected and ignored.)
{ openssl enc -aes-256-ctr -pass pass:fogkeep-bench -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } |
  head -c $(( per_file * files )) | split -a 4 -d -b "$per_file" - "$work/app/rootfs/data/f"
"$fk" pki init --dir "$work/pki" >/dev/null
"$fk" package build "$work/app" -o "$work/app.tar" >/dev/null
"$fk" package sign "$work/app.tar" --key "$work/pki/signer.key" --cert "$work/pki/signer.pem" -o "$work/signed.tar" >/dev/null
mkdir "$work/members" && tar xf "$work/signed.tar" -C "$work/members" artifacts.tar.gz
tar xzf "$work/members/artifacts.tar.gz" -C "$work/members" rootfs.tar
echo "package: $(du -m "$work/signed.tar" | cut -f1) MiB, $files files; runs: $RUNS (median)"

hash_ms=$(median_ms "" "gzip -dc '$work/members/artifacts.tar.gz' | sha256sum")
untar_ms=$(median_ms "rm -rf '$work/x' && mkdir '$work/x'" "tar -xf '$work/members/rootfs.tar' -C '$work/x'")
floor_ms=$(( hash_ms + untar_ms ))
fk_ms=$(median_ms "rm -rf '$work/out'" "'$fk' package verify '$work/signed.tar' --trust '$work/pki/ca.pem' --extract '$work/out'")
echo "floor: gzip -dc | sha256sum ${hash_ms} ms + tar -x ${untar_ms} ms = ${floor_ms} ms"
echo "fogkeep package verify --extract: ${fk_ms} ms"
echo "ratio (fogkeep / floor, target <= 1.25): $(ratio "$fk_ms" "$floor_ms")"
