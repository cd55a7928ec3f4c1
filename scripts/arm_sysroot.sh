#!/usr/bin/env bash
# Builds the arm64 sysroot the `aarch64` preset links against: Debian 12's arm64 -dev packages
# and their run-time libraries, downloaded with apt and unpacked into build/arm-sysroot/root
# (never installed: on Debian 12 libsentencepiece-dev:arm64 and its amd64 twin cannot be
# installed side by side). Installs the cross compiler and qemu-user when run as root or with
# sudo. Idempotent: an existing sysroot with every package is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${LOUPE_ARM_SYSROOT:-build/arm-sysroot}"
pkgs=(libsentencepiece-dev libsentencepiece0 libprotobuf-lite32 libpcre2-dev libpcre2-8-0
      zlib1g-dev zlib1g libzstd-dev libzstd1 libedit-dev libedit2 libbsd0 libmd0 libtinfo6
      libgtest-dev libgmock-dev libsimdjson-dev libsimdjson14 libsqlite3-dev libsqlite3-0
      libtomlplusplus-dev libtomlplusplus3)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  as_root apt-get install -y -qq g++-aarch64-linux-gnu qemu-user
fi

if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "${pkgs[*]}" ]; then
  exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  as_root dpkg --add-architecture arm64
  as_root apt-get update -qq
fi

rm -rf "$dir"
mkdir -p "$dir/debs" "$dir/root"
# apt-get download writes into the current directory; _apt cannot always write there (a warning,
# not an error), so the files are checked below.
(cd "$dir/debs" && apt-get download -qq "${pkgs[@]/%/:arm64}" 2>&1 | grep -v 'unsandboxed' || true)
for p in "${pkgs[@]}"; do
  deb=$(ls "$dir/debs/${p}_"*_arm64.deb 2>/dev/null | head -n 1)
  if [ -z "$deb" ]; then
    echo "arm_sysroot: apt-get download gave no ${p}:arm64" >&2
    exit 1
  fi
  dpkg-deb -x "$deb" "$dir/root"
done
# Debian 12 ships some libraries under /lib: merge them into /usr/lib as a merged-usr root has.
if [ -d "$dir/root/lib" ]; then
  cp -a "$dir/root/lib/." "$dir/root/usr/lib/"
  rm -rf "$dir/root/lib"
fi
echo "${pkgs[*]}" >"$dir/.complete"
echo "arm64 sysroot ready in $dir"
