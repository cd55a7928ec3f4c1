#!/usr/bin/env bash
# Bench script (never a test): loupe beside llama.cpp, per ISA tier, in one run.
#
# Writes the 134M random Llama of docs/performance.md (d 768, 12 layers, 12 heads, d_mlp 2048,
# the 32000-token Llama-2 vocabulary) in each type, then, alternating within each round, times
#   loupe at the CPU's best tier and with LOUPE_ISA=avx2 forced, exact and --q8-act (and
#   avx2-vnni with --q8-act where the CPU runs it below its best tier), and
#   llama.cpp (node-llama-cpp 3.22.1, bench/llamacpp) with its best CPU variant and pinned to
#   AVX2 (a hard-linked copy of its bins keeping libggml-cpu-haswell.so only),
# all with the same prompt (-p, default 256), generation (-n, default 64) and threads (default
# 2). Prints one markdown table: the best of ROUNDS per cell, and loupe's best mode / llama.cpp.
#
#   npm install --prefix bench/llamacpp      # once
#   bench/isa_table.sh build/release/loupe ../shared [ROUNDS] [TYPES]
#
# TYPES defaults to "f32 f16 q8_0 q4_0 q4_k_m iq4_xs". Environment: P, N, THREADS,
# LOUPE_BENCH_DIR (where the models go, default /tmp/loupe-isa-table).
set -euo pipefail
loupe=$(realpath "$1") shared=$2 rounds=${3:-2} types=${4:-"f32 f16 q8_0 q4_0 q4_k_m iq4_xs"}
P=${P:-256} N=${N:-64} THREADS=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)
dir=${LOUPE_BENCH_DIR:-/tmp/loupe-isa-table}
mkdir -p "$dir"
vocab=$shared/tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf

yard=$here/llamacpp
[ -d "$yard/node_modules/node-llama-cpp" ] || { echo "run: npm install --prefix bench/llamacpp" >&2; exit 2; }
pinned=$yard/pinned-haswell
if [ ! -f "$pinned/llama_eval.mjs" ]; then
  rm -rf "$pinned"
  mkdir -p "$pinned"
  cp -al "$yard/node_modules" "$pinned/node_modules" 2>/dev/null || cp -a "$yard/node_modules" "$pinned/node_modules"
  bins=$pinned/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
  find "$bins" -name 'libggml-cpu-*.so' ! -name 'libggml-cpu-haswell.so' -delete
  cp "$yard/llama_eval.mjs" "$pinned/llama_eval.mjs"
fi

for t in $types; do
  f=$dir/llama-$t.gguf
  [ -f "$f" ] || "$loupe" model new --arch llama --d-model 768 --n-layers 12 --n-heads 12 --d-mlp 2048 \
    --n-ctx 1024 --vocab-from "$vocab" --type "$t" -o "$f" 2>/dev/null
done

native=$("$loupe" bench "$dir/llama-${types%% *}.gguf" -p 0 -n 1 -r 1 -t 1 --json | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"isa\"])")
# The avx2-vnni tier (256-bit vpdpbusd) differs from avx2 only in its q8 panels: a row of its own
# where the CPU runs it below its best tier, beside llama.cpp pinned to AVX2 (the variant with
# AVX-VNNI, alderlake, needs the VEX encoding, which AVX-512 machines such as Zen 4 lack).
vnni=0
if [ "$native" != avx2-vnni ] && LOUPE_ISA=avx2-vnni "$loupe" bench "$dir/llama-${types%% *}.gguf" -p 0 -n 1 -r 1 -t 1 \
  --isa avx2-vnni >/dev/null 2>&1; then vnni=1; fi
declare -A pp tg
add() { pp[$1]="${pp[$1]:-} $2"; tg[$1]="${tg[$1]:-} $3"; }
run_loupe() {  # key isa flags...
  local key=$1 isa=$2 f=$3
  shift 3
  local out
  out=$(LOUPE_ISA=$isa "$loupe" bench "$f" -p "$P" -n "$N" -r 1 -t "$THREADS" --json "$@")
  read -r p g < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(*[x["avg_ts"] for x in d])' <<<"$out")
  add "$key" "$p" "$g"
}
# llama.cpp at THREADS and at THREADS - 1: node's own thread shares the cores, and with every
# core busy llama.cpp's spinning workers starve in generation (measured on 2 cores: 60 tok/s
# with 2 threads, 173 with 1, Q4_0); each cell keeps llama.cpp's better figure.
run_llama() {  # key script f
  local out t
  for t in $(seq "$THREADS" -1 $((THREADS > 1 ? THREADS - 1 : 1))); do
    out=$(node "$2" speed "$3" "$P" "$N" "$t")
    read -r p g < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["pp"], d["tg"])' <<<"$out")
    add "$1" "$p" "$g"
  done
}
for r in $(seq "$rounds"); do
  for t in $types; do
    f=$dir/llama-$t.gguf
    run_llama "$t/llama-best" "$yard/llama_eval.mjs" "$f"
    run_loupe "$t/best-exact" "" "$f"
    run_loupe "$t/best-q8" "" "$f" --q8-act
    run_llama "$t/llama-avx2" "$pinned/llama_eval.mjs" "$f"
    run_loupe "$t/avx2-exact" avx2 "$f"
    run_loupe "$t/avx2-q8" avx2 "$f" --q8-act
    if [ "$vnni" = 1 ]; then run_loupe "$t/vnni-q8" avx2-vnni "$f" --q8-act; fi
  done
done

best() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
ratio() { python3 -c "print(f'{max($1, $2) / $3:.2f}')"; }
echo "loupe $("$loupe" --version 2>/dev/null | head -1), threads $THREADS, -p $P -n $N, best of $rounds"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); best tier: $native"
echo
echo "| type | tier | loupe exact pp / tg | loupe --q8-act pp / tg | llama.cpp pp / tg | ratio pp / tg |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for t in $types; do
  for tier in best avx2; do
    ep=$(best "${pp[$t/$tier-exact]}") eg=$(best "${tg[$t/$tier-exact]}")
    qp=$(best "${pp[$t/$tier-q8]}") qg=$(best "${tg[$t/$tier-q8]}")
    lp=$(best "${pp[$t/llama-$tier]}") lg=$(best "${tg[$t/llama-$tier]}")
    printf '| %s | %s | %.0f / %.1f | %.0f / %.1f | %.0f / %.1f | %s / %s |\n' "$t" \
      "$([ $tier = best ] && echo "$native" || echo avx2)" "$ep" "$eg" "$qp" "$qg" "$lp" "$lg" \
      "$(ratio "$ep" "$qp" "$lp")" "$(ratio "$eg" "$qg" "$lg")"
  done
  if [ "$vnni" = 1 ]; then
    ep=$(best "${pp[$t/avx2-exact]}") eg=$(best "${tg[$t/avx2-exact]}")
    qp=$(best "${pp[$t/vnni-q8]}") qg=$(best "${tg[$t/vnni-q8]}")
    lp=$(best "${pp[$t/llama-avx2]}") lg=$(best "${tg[$t/llama-avx2]}")
    printf '| %s | avx2-vnni | (as avx2) | %.0f / %.1f | %.0f / %.1f (avx2) | %s / %s |\n' "$t" "$qp" "$qg" "$lp" "$lg" \
      "$(ratio "$ep" "$qp" "$lp")" "$(ratio "$eg" "$qg" "$lg")"
  fi
done
