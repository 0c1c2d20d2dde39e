#!/usr/bin/env bash
# Installs every Debian 12 package fogkeep needs to build, test, fuzz and benchmark.
# Idempotent: apt-get skips what is already installed. Nothing is fetched from elsewhere.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-format
  # libFuzzer: clang 16 is the oldest Debian clang that compiles libstdc++ 12's std::expected
  clang-16 libclang-rt-16-dev
  # libraries
  libssl-dev openssl libyaml-cpp-dev libarchive-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev sqlite3 libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  # what libarchive links with (CMakeLists.txt: the release build links it statically)
  libzstd-dev liblzma-dev libbz2-dev zlib1g-dev libxml2-dev nettle-dev libacl1-dev liblz4-dev
  libargon2-dev libpam0g-dev libpam-pwdfile argon2  # auth (PAM tests: pam_pwdfile; bench: argon2)
  tpm2-openssl  # OpenSSL 3's tpm2 provider: the SSS seals its key-encryption key in the TPM
  # the director's scale-out store: libpq to build, the PostgreSQL 15 server its tests start
  libpq-dev postgresql
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  busybox-static jq zstd gzip tar xz-utils umoci skopeo hyperfine nginx wrk freeradius freeradius-utils
  libpcap-dev tshark tcpdump iputils-ping  # fogkeep-sensor: capture; tests cross-check with tshark
  swtpm swtpm-tools tpm2-tools  # a software TPM 2.0 for the SSS tests (tpm2-tools to inspect it)
  # container runtime (node agent)
  runc crun containernetworking-plugins iproute2 iptables
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
