#!/usr/bin/env bash
# Sets loupe up on a Debian 12 machine and runs it on the default model:
# installs the build dependencies (when run as root, or with sudo), builds the release
# preset, and generates a story with stories260K from ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake ninja-build pkg-config libcli11-dev nlohmann-json3-dev libpcre2-dev
          libsentencepiece-dev zlib1g-dev libzstd-dev libgtest-dev libgmock-dev libbenchmark-dev clang-format clang-tidy
          libedit-dev libsimdjson-dev clang libclang-rt-14-dev pybind11-dev python3-dev python3-numpy python3-pytest
          libsqlite3-dev libtomlplusplus-dev libopenmpi-dev openmpi-bin libcpp-httplib-dev chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    sudo apt-get update -qq || true
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi

# The page of `loupe serve` (web/): its npm packages, pinned by web/package-lock.json.
if command -v npm >/dev/null; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "npm not found: loupe serve will run without its page (install Node.js 20 and npm)"
fi

cmake --preset release >/dev/null
cmake --build --preset release

shared="${LOUPE_SHARED_DIR:-../shared}"
echo
echo "== loupe info $shared/models/stories260K/stories260K.bin"
./build/release/loupe info "$shared/models/stories260K/stories260K.bin" | sed -n 1,6p  # sed reads to the end: no SIGPIPE under pipefail
echo
echo "== loupe generate (greedy, 120 tokens)"
./build/release/loupe generate "$shared/models/stories260K/stories260K.bin" -p "Once upon a time" --temp 0 -n 120
