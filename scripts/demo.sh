#!/usr/bin/env bash
# fogkeep's main job on embedded defaults: installs what it needs, builds, creates a
# development PKI, builds and signs the sample app, verifies and extracts it, and shows what
# happened. Everything lands in $FOGKEEP_DEMO_DIR (default /tmp/fogkeep-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target fogkeep
fk=$PWD/build/release/apps/fogkeep
work=${FOGKEEP_DEMO_DIR:-/tmp/fogkeep-demo}
rm -rf "$work" && mkdir -p "$work"

step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }
step "Create a development PKI (CA + code-signing certificate)" "$fk" pki init --dir "$work/pki"
examples/hello/make-rootfs.sh "$work/hello"
step "Build the sample app from examples/hello" "$fk" package build "$work/hello" -o "$work/hello.tar"
step "Sign it" "$fk" package sign "$work/hello.tar" --key "$work/pki/signer.key" --cert "$work/pki/signer.pem" -o "$work/hello-signed.tar"
step "Verify signature, chain and every member, then extract safely" "$fk" package verify "$work/hello-signed.tar" --trust "$work/pki/ca.pem" --extract "$work/staging"
step "Inspect it" "$fk" package inspect "$work/hello-signed.tar" --trust "$work/pki/ca.pem"
printf '\n== An unsigned package is refused under the default policy\n'
"$fk" package verify "$work/hello.tar" --trust "$work/pki/ca.pem" || echo "(exit $?, as expected)"
printf '\nAll files are in %s. The binary is %s; try `%s --help`.\n' "$work" "$fk" "$fk"
