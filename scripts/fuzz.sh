#!/usr/bin/env bash
# Builds the libFuzzer harnesses (the fuzz preset: clang, AddressSanitizer + UBSan, the scalar
# kernels) and runs each for SECONDS seconds (default 5), from seeds in fuzz/seeds/ and the
# shared models and tokenizers. The corpora grow under build/fuzz/corpus/<harness>/; a crash,
# leak, sanitizer report or foreign exception leaves its input in build/fuzz/crashes/<harness>/
# and makes the script fail. Prints executions, executions per second and coverage per harness.
#
#   bash scripts/fuzz.sh [SECONDS] [HARNESS...]      (docs/fuzzing.md)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
shift || true
shared="${LOUPE_SHARED_DIR:-../shared}"
shared=$(realpath "$shared")
export LOUPE_SHARED_DIR="$shared"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${LOUPE_JOBS:-$(nproc)}"

out=build/fuzz
seed() {  # harness file...
  local d=$out/corpus/$1
  shift
  mkdir -p "$d"
  [ -d "fuzz/seeds/$(basename "$d")" ] && cp -n fuzz/seeds/"$(basename "$d")"/* "$d"/
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$d/"; done
  return 0
}
# A seed with a first byte that picks the harness's mode, then the file.
seed_prefixed() {  # harness byte file
  local d=$out/corpus/$1
  mkdir -p "$d"
  { printf "\\x$2"; cat "$3"; } >"$d/$(basename "$3").$2"
}
m=$shared/models
seed gguf "$m/stories260K-gguf/stories260K-q8_0.gguf" "$m/stories260K-gguf/stories260K-f32.gguf-v1.gguf" \
  "$shared/tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"
seed model_gguf "$m/stories260K-gguf/stories260K-q8_0.gguf" "$m/stories260K-gguf/bad-v2-q8_0-unaligned-rows.gguf"
seed model_llama2c "$m/stories260K/stories260K_q80.bin" "$m/stories260K/stories260K.bin"
seed safetensors "$m/stories260K-hf/model.safetensors"
seed config_json "$m/stories260K-hf/config.json"
seed tokenizer_json
seed tokenizer_model
seed_prefixed tokenizer_model 00 "$m/stories260K/tok512.model"
seed_prefixed tokenizer_model 01 "$m/stories260K/tok512.bin"
seed encode
seed corpus
seed debugger_expr

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in fuzz/*.cpp; do harnesses+=("$(basename "$f" .cpp)"); done
fi
status=0
printf '%-16s %12s %10s %8s %s\n' harness executions exec/s cov result
for h in "${harnesses[@]}"; do
  mkdir -p "$out/crashes/$h" "$out/corpus/$h"
  log=$out/$h.log
  if "$out/fuzz_$h" -max_total_time="$secs" -rss_limit_mb=3072 -timeout=20 -max_len=2000000 \
    -artifact_prefix="$out/crashes/$h/" -print_final_stats=1 "$out/corpus/$h" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log, input in $out/crashes/$h/)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %12s %10s %8s %s\n' "$h" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$result"
done
rm -rf /dev/shm/loupe-fuzz-* 2>/dev/null || true
exit $status
