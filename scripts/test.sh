#!/usr/bin/env bash
# Runs every check CI runs: the release build and its tests (unit + model + Python, not the ones
# labelled slow), the CI gate `loupe check ci/quant.toml` (docs/ci.md), the unit and model tests again under AddressSanitizer + UBSan (the model tests
# run the sanitized binary too: the CLI, bad inputs, the mutation sample), every libFuzzer harness
# for a few seconds (scripts/fuzz.sh), clang-format,
# clang-tidy, and the AArch64 cross build with its tests under qemu (LOUPE_SKIP_ARM=1 skips it).
# Assumes scripts/setup.sh installed the dependencies (scripts/arm_sysroot.sh adds the ARM ones).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${LOUPE_JOBS:-$(nproc)}"

echo "== release build + tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

echo "== CI gate: loupe check ci/quant.toml (stories260K Q8_0 against F32)"
# The rules name ../shared; another shared folder is substituted into a copy.
shared="${LOUPE_SHARED_DIR:-../shared}"
sed "s|\.\./shared/|$shared/|g" ci/quant.toml >build/release/quant.toml
./build/release/loupe check build/release/quant.toml --store build/release/ci-runs.db

echo "== unit and model tests under AddressSanitizer + UBSan"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs" --target loupe_unit_tests loupe_model_tests loupe
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Each suite in $jobs shards run side by side (the sanitized model tests take ~7 minutes on one core).
sharded() {
  local pids=() rc=0 i
  for ((i = 0; i < jobs; ++i)); do
    GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$i "$1" --gtest_brief=1 >"build/asan/shard$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || rc=1
    cat "build/asan/shard$i.log"
  done
  return $rc
}
sharded ./build/asan/loupe_unit_tests
sharded ./build/asan/loupe_model_tests
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzz harnesses (clang, ASan + UBSan + libFuzzer), ${LOUPE_FUZZ_SECONDS:-5} s each"
bash scripts/fuzz.sh "${LOUPE_FUZZ_SECONDS:-5}"

echo "== clang-format"
files=$(git ls-files '*.cpp' '*.h')
clang-format --dry-run -Werror $files

echo "== clang-tidy"
# compile_commands.json from the release preset; headers are checked through the sources.
git ls-files 'src/*.cpp' 'tools/*.cpp' | xargs -P "$jobs" -n 4 clang-tidy -p build/release --quiet 2>/dev/null

if [ "${LOUPE_SKIP_ARM:-0}" != 1 ]; then
  echo "== AArch64: cross build, tests under qemu-aarch64"
  bash scripts/arm_sysroot.sh
  cmake --preset aarch64 >/dev/null
  cmake --build --preset aarch64 -j "$jobs" --target loupe loupe_unit_tests loupe_model_tests
  # Every unit test on an emulated CPU with the dot-product and i8mm extensions (every NEON tier
  # runs), the kernel tests again on CPUs without them (what getauxval reports picks the tiers),
  # and the model
  # tests that check the kernels end to end: the architectures against llama.cpp's logits, every
  # quant type against F32, stories260K byte for byte against run.c, batches and threads.
  ./build/aarch64/emulate ./build/aarch64/loupe_unit_tests --gtest_brief=1
  for cpu in cortex-a72 neoverse-n1; do  # NEON alone; with sdot but not i8mm
    qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu \
      -E LD_LIBRARY_PATH="$PWD/build/arm-sysroot/root/usr/lib/aarch64-linux-gnu" -E LOUPE_EMULATED=1 \
      ./build/aarch64/loupe_unit_tests --gtest_brief=1 --gtest_filter='*Kernel*:*Matmul*'
  done
  ./build/aarch64/emulate ./build/aarch64/loupe_model_tests --gtest_brief=1 --gtest_filter=\
'Families/ArchReference.*:Types/QuantVsF32.*:AllFormats/*:Stories260K.*:Greedy/*:FamilyMoe.*:Formats.*:'\
'OtherModels.*:ArchWindows.*:Rope.*:QuantMix.*:All/FamilyTest.FormatsBatchesAndThreadsAgree/*:'\
'SynthLlama.Q8ActivationsWithPanels:TensorCommand.*:Gpt2.*:SeededLlama2c/*:Types/NumericsReference.*:Archs/ArchNumerics.*'
fi

echo "all checks passed"
