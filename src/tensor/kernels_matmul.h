// Tile kernels of the matmul: NM activation rows times NR weight rows, each output the dot
// product of one activation row with one weight row over k elements.
//
// Float weights (F32, F16, BF16) meet float activations. Block-quantised weights Q8_0, Q4_0, Q4_K,
// Q5_K, Q6_K and the table formats IQ4_NL, IQ4_XS, MXFP4 (each nibble one of 16 signed bytes:
// pshufb on AVX2, vpermps on AVX-512 for float activations) have two kernels:
//  - exact (the engine's default): weights converted to float in registers, float activations;
//    the result is the float product with the dequantised weights, as the references compute it.
//  - q8 activations (llama.cpp's arithmetic, numerics.h): activations quantised to BlockQ8 (32
//    signed bytes and a float scale holding ggml's Q8_0 block, or one eighth of its Q8_K block)
//    and dotted in int8 (AVX2 maddubs, AVX-512 VNNI); the integer sum of each 32-element block is
//    exact, then scaled and accumulated in float. Faster for prompts; it rounds the activations
//    as llama.cpp does (stories260K Q8_0 logits move by ~0.3).
//
// Determinism: every output goes through the same sequence of operations whatever the tile
// shape it sits in (1 x NR for decode, NM x NR for prefill) and whatever its neighbours, so a
// matmul gives the same bits for one row or many, and for any thread split.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/kernels.h"

namespace loupe::kernels {

// 32 activations quantised symmetrically: x[j] ~ d * qs[j], |qs| <= 127; half_sum[h] = sum of
// qs[16 h .. 16 h + 15].
struct BlockQ8 {
  float d;
  int16_t half_sum[2];
  int8_t qs[32];
  int32_t sum() const { return half_sum[0] + half_sum[1]; }
};
static_assert(sizeof(BlockQ8) == 40);

// Quantises n_blocks * 32 floats to ggml's Q8_0 as its x86 builds do (numerics.h): scale
// amax / 127 rounded to fp16, values x * 127 / amax rounded to nearest even.
void quantize_act_q8(const float* x, BlockQ8* y, int64_t n_blocks);
// Quantises n_super * 256 floats to ggml's Q8_K (numerics.h), written as 8 BlockQ8 per 256 that
// share its float scale: what the K-quant and IQ4_XS kernels meet in llama.cpp's arithmetic.
// Scalar on every tier (one pass over the activations of a product, never hot).
void quantize_act_q8_k(const float* x, BlockQ8* y, int64_t n_super);

inline constexpr int kTileRows = 4;     // NR: weight rows per tile
inline constexpr int kTileActRows = 4;  // largest NM

// One tile. w[r] points at weight row r's data (nr <= kTileRows rows), x at nm (<= kTileActRows)
// activation rows of float or BlockQ8 `x_stride` bytes apart; y[i * y_stride + r] gets the dots.
struct Tile {
  const uint8_t* w[kTileRows];
  int nr;
  const void* x;
  size_t x_stride;
  int nm;
  int64_t k;
  float* y;
  int64_t y_stride;
  // Bytes from one storage block of a weight row to its next (0: the rows are contiguous, the
  // block size). Tiles interleaved block by block (pack_tiles in matmul.h) step over the other
  // rows' blocks. Only kernels for which tile_kernel_takes_step is true read it.
  int64_t w_step = 0;
};

using TileFn = void (*)(const Tile& t);

// Whether weights of this type have a kernel taking q8 activations.
bool takes_q8_activations(DType type);
// The tile kernel for a weight type at an instruction-set level, with q8 activations (only for
// types where takes_q8_activations) or float ones; null when the type has none (the matmul then
// dequantises rows to F32 and uses the F32 kernel).
TileFn tile_kernel(DType type, Isa isa, bool q8_acts = false);

// Whether the tile kernel of this type and level reads Tile::w_step.
bool tile_kernel_takes_step(DType type, Isa isa, bool q8_acts = false);

// Element k of a block-quantised row of type T, by dequantising its block: the scalar exact
// path's loads and the vector kernels' (never hot) tails.
template <DType T>
float quant_element(const uint8_t* row, int64_t k) {
  const int64_t be = dtype_traits(T).block_elems;
  float block[256];
  dequantize_row(T, row + dtype_traits(T).block_bytes * static_cast<size_t>(k / be), block, be);
  return block[k % be];
}

// Converts a weight row of k elements to floats exactly as the exact (float activations) tile
// kernel of the same instruction set sees them, so that the F32 kernel on converted rows gives
// the same bits as that kernel on the row in place. Null for F32 and for types without one.
using RowFn = void (*)(const uint8_t* row, int64_t k, float* out);
RowFn row_to_f32(DType type, Isa isa);

// ---- Panels: q8 activations against the types with an int8 pairing, VNNI or maddubs ---------
// A panel holds kPanelRows weight rows with, for each 32-element block, the rows' 16 fp16 scales
// and then their quants transposed into 4-byte groups: vector j (64 bytes) holds, row after row,
// the 4 bytes at 4 j of each row's block. One vpdpbusd then multiplies 4 quants of all 16 rows
// by 4 activations broadcast from memory (64 products), so a block of 16 rows is 8 instructions
// per activation row, against 32 float FMAs for the same products. Quants are stored unsigned (the
// instruction's unsigned operand): Q8_0 as q + 128, Q4_0 as its nibbles n = q + 8 (vector j's
// low nibbles are elements 4 j.., its high nibbles 16 + 4 j..); the offset times the activation
// block's sum is taken off the integer sum. A panel is as large as its rows in place.
//
// Arithmetic, the same on every path (the scalar q8 kernels of these types do exactly this): per
// block the exact integer dot product s of the quants, then acc = fma(dw * dx, float(s), acc)
// block after block; float(s) is exact (|s| < 2^24).
//
// Q4_K / Q5_K: a panel block is a super-block of the 16 rows: their fp16 d and dmin, their 12
// scale bytes as 3 words each (transposed as the quants), (Q5_K) the 32 qh bytes, then the 128
// quant bytes, all transposed; each 32-element sub-block j has scale d sc_j and min dmin mn_j and
// adds, after the product above, acc = fma(-dmin mn_j, dx * sum(x), acc). Q6_K: fp16 d, the 16
// signed scales, ql and qh transposed; each 16-element half has its own scale and integer sum
// (the offset 32 times the activations' half sum taken off), acc = fma(d sc dx, s, acc) per half.
inline constexpr int kPanelRows = 16;
// A panel is read as one stream, which the hardware prefetchers follow too late for the kernels
// with one or two activation rows (decode): Q4_K from memory ran at 19 GB/s a thread against 47
// with the weights in cache. Each block asks for the lines kPanelPrefetch bytes past its own.
inline constexpr size_t kPanelPrefetch = 2048;
inline void prefetch_panel(const uint8_t* p, size_t bytes) {
  for (size_t l = 0; l < bytes; l += 64) __builtin_prefetch(p + kPanelPrefetch + l, 0, 3);
}
inline constexpr int kPanelActRows = 8;  // activation rows the 512-bit kernels hold at once

// Whether a weight type has panels (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), and the bytes of one storage
// block (32 or 256 elements) of a panel's 16 rows.
bool has_panels(DType type);
size_t panel_block_bytes(DType type);
// Writes the panel of kPanelRows rows (row r at rows + r * row_stride, k elements) to out
// (16 row_bytes(type, k) bytes).
void pack_panel(DType type, const uint8_t* rows, size_t row_stride, int64_t k, uint8_t* out);

// One panel against nm activation rows of BlockQ8 (x_stride bytes apart): y[i * y_stride + r]
// for r < kPanelRows. The kernels take the rows a few at a time (kPanelActRows, or 4 with 256-bit
// vectors); a call with many rows lets a kernel prepare the panel once for all of them.
struct PanelTask {
  const uint8_t* panel;
  int64_t k;
  const BlockQ8* x;
  size_t x_stride;
  int nm;
  float* y;
  int64_t y_stride;
};
using PanelFn = void (*)(const PanelTask& t);
// The panel kernel of a type at an instruction-set level: AVX-512 (VNNI, kernels_panels.cpp),
// AVX2 with 256-bit VNNI (kernels_panels_avxvnni.cpp) or AVX2 (maddubs,
// kernels_panels_avx2.cpp); null for the scalar and NEON levels and types without panels.
PanelFn panel_kernel(DType type, Isa isa);
PanelFn panel_kernel_avx512(DType type);
PanelFn panel_kernel_avx2(DType type);
// 256-bit vpdpbusd panels (kernels_panels_avxvnni.cpp): VEX-encoded where the CPU has AVX-VNNI,
// else EVEX (AVX-512 VNNI + VL).
PanelFn panel_kernel_avx2vnni(DType type);
bool cpu_has_avx_vnni();

// A tier's panel kernels by type: K<T>::run for each type with panels, else null.
template <template <DType> class K>
PanelFn panel_table(DType type) {
  switch (type) {
    case DType::Q8_0: return K<DType::Q8_0>::run;
    case DType::Q4_0: return K<DType::Q4_0>::run;
    case DType::Q4_K: return K<DType::Q4_K>::run;
    case DType::Q5_K: return K<DType::Q5_K>::run;
    case DType::Q6_K: return K<DType::Q6_K>::run;
    case DType::IQ4_NL: return K<DType::IQ4_NL>::run;
    case DType::IQ4_XS: return K<DType::IQ4_XS>::run;
    case DType::MXFP4: return K<DType::MXFP4>::run;
    default: return nullptr;
  }
}

// quantize_act_q8 with 512-bit and 256-bit vectors (same bytes and scales).
void quantize_act_q8_avx512(const float* x, BlockQ8* y, int64_t n_blocks);
void quantize_act_q8_avx2(const float* x, BlockQ8* y, int64_t n_blocks);
void quantize_act_q8_scalar(const float* x, BlockQ8* y, int64_t n_blocks);
void quantize_act_q8_neon(const float* x, BlockQ8* y, int64_t n_blocks);

// Per instruction-set tables (kernels_scalar.cpp, kernels_avx2.cpp, kernels_avx512.cpp,
// kernels_neon.cpp with the sdot kernels of kernels_neon_dot.cpp).
TileFn tile_kernel_scalar(DType type, bool q8_acts);
TileFn tile_kernel_avx2(DType type, bool q8_acts);
TileFn tile_kernel_avx512(DType type, bool q8_acts);
bool tile_kernel_takes_step_avx512(DType type, bool q8_acts);
RowFn row_to_f32_scalar(DType type);
RowFn row_to_f32_avx2(DType type);
RowFn row_to_f32_avx512(DType type);
TileFn tile_kernel_neon(DType type, bool q8_acts, Isa isa);
TileFn tile_kernel_neon_dot(DType type, bool i8mm);
RowFn row_to_f32_neon(DType type);

}  // namespace loupe::kernels
