// Row kernels of the block-quantised formats, one pair per type: dequantize_* converts n_blocks
// blocks to n_blocks * block_elems floats exactly as ggml's dequantize_row_* (same operations in
// the same order, so the same float bits); quantize_* is the reference quantiser (ggml's
// quantize_row_*_ref: bit-exact for the 32-element formats, the same method for the K-quants,
// IQ4_NL, IQ4_XS, MXFP4, TQ1_0 and TQ2_0). The grid i-quants (IQ1_*, IQ2_*, IQ3_*) have no
// quantiser here: ggml's searches its grids with an importance matrix.
// dtype.cpp dispatches to these by DType; use dequantize_row / quantize_row from dtype.h.
//
// Non-finite inputs to a quantiser give a valid block with unspecified values (never UB).
#pragma once
// (quantize_row_weighted, below the per-type kernels, dispatches the importance-weighted ones.)

#include <cstdint>

#include "tensor/quant_blocks.h"

namespace loupe::quant {

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n_blocks);  // y: (n_blocks * 32)
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n_blocks);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n_blocks);
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n_blocks);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n_blocks);
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t n_blocks);  // y: (n_blocks * 256)
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t n_blocks);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n_blocks);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n_blocks);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n_blocks);
void dequantize_iq2_xxs(const BlockIQ2_XXS* x, float* y, int64_t n_blocks);  // y: (n_blocks * 256)
void dequantize_iq2_xs(const BlockIQ2_XS* x, float* y, int64_t n_blocks);
void dequantize_iq2_s(const BlockIQ2_S* x, float* y, int64_t n_blocks);
void dequantize_iq3_xxs(const BlockIQ3_XXS* x, float* y, int64_t n_blocks);
void dequantize_iq3_s(const BlockIQ3_S* x, float* y, int64_t n_blocks);
void dequantize_iq1_s(const BlockIQ1_S* x, float* y, int64_t n_blocks);
void dequantize_iq1_m(const BlockIQ1_M* x, float* y, int64_t n_blocks);
void dequantize_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n_blocks);  // y: (n_blocks * 32)
void dequantize_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n_blocks);  // y: (n_blocks * 256)
void dequantize_tq1_0(const BlockTQ1_0* x, float* y, int64_t n_blocks);
void dequantize_tq2_0(const BlockTQ2_0* x, float* y, int64_t n_blocks);
void dequantize_mxfp4(const BlockMXFP4* x, float* y, int64_t n_blocks);  // y: (n_blocks * 32)

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n_blocks);  // x: (n_blocks * 32)
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n_blocks);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n_blocks);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n_blocks);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n_blocks);
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n_blocks);  // x: (n_blocks * 256)
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n_blocks);
// importance (optional): per element of x, an importance matrix's column values (llama-imatrix's
// mean x^2); the sub-block fits then weigh each element by importance * sqrt(sigma^2 + x^2).
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n_blocks, const float* importance = nullptr);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n_blocks, const float* importance = nullptr);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n_blocks);
void quantize_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n_blocks);  // x: (n_blocks * 32)
void quantize_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t n_blocks);  // x: (n_blocks * 256)
void quantize_tq1_0(const float* x, BlockTQ1_0* y, int64_t n_blocks);
void quantize_tq2_0(const float* x, BlockTQ2_0* y, int64_t n_blocks);
void quantize_mxfp4(const float* x, BlockMXFP4* y, int64_t n_blocks);  // x: (n_blocks * 32)

// Plain 16-bit float rows of n elements (little-endian halves at any alignment).
void f16_row_to_f32(const void* x, float* y, int64_t n);
void bf16_row_to_f32(const void* x, float* y, int64_t n);
void f32_row_to_f16(const float* x, void* y, int64_t n);
void f32_row_to_bf16(const float* x, void* y, int64_t n);

// Q4_0 with an importance per element: scales around round-to-nearest's tried and refitted by
// weighted least squares, the least weighted error kept.
void quantize_q4_0_weighted(const float* x, BlockQ4_0* y, int64_t n_blocks, const float* importance);

}  // namespace loupe::quant

namespace loupe {
enum class DType : uint8_t;
// quantize_row with an importance per element (length n): Q4_0, Q4_K and Q5_K use it; the other
// types quantise as quantize_row does. uses_importance says which.
void quantize_row_weighted(DType type, const float* src, void* dst, int64_t n, const float* importance);
bool uses_importance(DType type);
}  // namespace loupe
