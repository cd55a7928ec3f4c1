#!/usr/bin/env bash
# Bench script (never a test): do the newer families keep the llama family's speed?
# Writes 134M-shaped random models (d 768, 12 layers, 12 heads, d_mlp 2048, the 32000-token
# Llama-2 vocabulary) of llama, qwen3 (q/k norms) and gemma3 (q/k norms, post norms, GELU,
# 5 local layers of window 512 per global one) in each type, then runs `loupe bench` on them
# alternating, ROUNDS rounds, and prints tokens/s and the ratio to llama of the same type.
#
#   bench/families_speed.sh build/release/loupe ../shared [ROUNDS] [TYPES] [-- extra bench flags]
set -euo pipefail
loupe=$1 shared=$2 rounds=${3:-2} types=${4:-"q8_0 iq4_xs"}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
dir=${LOUPE_BENCH_DIR:-/tmp/loupe-families-speed}
mkdir -p "$dir"
vocab=$shared/tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf
for t in $types; do
  for a in llama qwen3 gemma3; do
    f=$dir/$a-$t.gguf
    [ -f "$f" ] || "$loupe" model new --arch "$a" --d-model 768 --n-layers 12 --n-heads 12 --d-mlp 2048 \
      --n-ctx 1024 --window 512 --vocab-from "$vocab" --type "$t" -o "$f" >/dev/null
  done
done
declare -A pp tg
for r in $(seq "$rounds"); do
  for t in $types; do
    for a in llama qwen3 gemma3; do
      out=$("$loupe" bench "$dir/$a-$t.gguf" -p 256 -n 64 -r 1 -t 2 --json "${extra[@]}")
      read -r p g < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(*[x["avg_ts"] for x in d])' <<<"$out")
      pp[$a-$t]="${pp[$a-$t]:-} $p"
      tg[$a-$t]="${tg[$a-$t]:-} $g"
    done
  done
done
best() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
printf '%-8s %-8s %10s %10s %10s %10s\n' type family pp tg "pp/llama" "tg/llama"
for t in $types; do
  lp=$(best "${pp[llama-$t]}") lg=$(best "${tg[llama-$t]}")
  for a in llama qwen3 gemma3; do
    p=$(best "${pp[$a-$t]}") g=$(best "${tg[$a-$t]}")
    printf '%-8s %-8s %10.1f %10.1f %10.2f %10.2f\n' "$t" "$a" "$p" "$g" "$(echo "$p / $lp" | bc -l)" \
      "$(echo "$g / $lg" | bc -l)"
  done
done
