#!/usr/bin/env bash
# Runs every check CI runs: the release build and its tests (unit + model, not the ones
# labelled slow), the unit tests again under AddressSanitizer + UBSan, clang-format and
# clang-tidy. Assumes scripts/setup.sh installed the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${LOUPE_JOBS:-$(nproc)}"

echo "== release build + tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

echo "== unit tests under AddressSanitizer + UBSan"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs" --target loupe_unit_tests loupe
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ./build/asan/loupe_unit_tests --gtest_brief=1

echo "== clang-format"
files=$(git ls-files '*.cpp' '*.h')
clang-format --dry-run -Werror $files

echo "== clang-tidy"
# compile_commands.json from the release preset; headers are checked through the sources.
git ls-files 'src/*.cpp' 'tools/*.cpp' | xargs -P "$jobs" -n 4 clang-tidy -p build/release --quiet 2>/dev/null

echo "all checks passed"
