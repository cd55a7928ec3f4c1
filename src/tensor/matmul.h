// y = x W^T (+ bias) for a weight of any storage and element type, split over output rows
// across the pool: each output element is computed by one thread with the same sequence of
// operations whatever the thread count and the number of activation rows, so results do not
// depend on timing or batching.
//
// Weights with a tile kernel (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS,
// MXFP4 in row storage) are read in place, converted in registers. Other types (Q4_1, Q5_0, Q5_1,
// Q2_K, Q3_K, the grid i-quants, TQ1_0, TQ2_0) and storages are dequantised a few rows at a time
// and go through the F32 kernel.
//
// Numerics::LlamaCpp (numerics.h) computes as ggml does (ggml_dot.h) for the types it covers:
// activations converted to the weight type's vec_dot type, then ggml's integer and float
// operations (ggml::dot_rows: each weight row decoded once for all activation rows, vector code on
// the tier in use, the scalar reference's bits). Numerics::Q8 (and LlamaCpp for the other types) converts the
// activations the same way and then runs loupe's kernels: the types with an int8 pairing (Q8_0,
// Q4_0, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4) meet them as int8 blocks (kernels_matmul.h), read
// from VNNI panels when the weight has them; for the others the converted activations are written
// back as floats, exactly (an fp16 or bf16 value; an fp16 Q8_0 / Q8_1 scale times a byte), and take
// the float route above. Q8_1's extra term (a Q4_1 / Q5_1 block's min times the fp16 of scale times
// sum) is added per block after it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "tensor/numerics.h"
#include "tensor/weight.h"

namespace loupe {

// x: [m, w.cols] floats, y: [m, w.rows] floats (row stride w.rows), bias: [w.rows] or null.
void matmul(ThreadPool& pool, const Weight& w, const float* x, int64_t m, float* y, const float* bias,
            Numerics numerics = Numerics::Exact);

// How matmul computes a product of m activation rows with this weight on this machine (the
// active instruction set) in these numerics: from the VNNI / maddubs panels or int8 tiles (q8
// activations: llama.cpp numerics, types with an int8 pairing), with the tile kernel on rows in place or on their
// interleaved copy, converting rows to F32 first (block-quantised types, m >= 16), or dequantising them with
// Weight::row (types and storages without a kernel). `loupe bench` prints it per type.
enum class MatmulRoute : uint8_t { Panels, Int8Tiles, PackedTiles, Tiles, Convert, Dequant, Ggml };
MatmulRoute matmul_route(const Weight& w, int64_t m, Numerics numerics);
const char* matmul_route_name(MatmulRoute route);

// Whether matmul reads this weight with a dedicated kernel (no dequantisation to F32).
bool matmul_has_kernel(const Weight& w);

// Interleaved tiles (Weight::tiles): whether a weight would use them on this machine (Rows
// storage without a row map, rows a multiple of 4, a block-quantised type whose AVX-512 kernel
// steps over interleaved blocks), and the copy itself: for each group of 4 rows, block b of
// rows 0..3, then block b + 1 of rows 0..3, ... (row_bytes(type, cols) * rows bytes).
bool packs_tiles(const Weight& w);
std::vector<uint8_t> pack_tiles(const Weight& w);

// Whether products with this weight meet int8 activation blocks in these numerics (with loupe's
// int8 kernels), and whether they follow ggml's operations (ggml_dot.h: llama.cpp numerics, the
// types it covers in row storage).
bool matmul_takes_q8(const Weight& w, Numerics numerics);
bool matmul_in_ggml_order(const Weight& w, Numerics numerics);

// Panels (Weight::panels) for products with q8 activations: whether a weight would use them on
// this machine (Rows storage without a row map, rows a multiple of kernels::kPanelRows, Q8_0,
// Q4_0 or Q4_K, AVX-512 VNNI), and the copy: panel after panel, row_bytes(type, cols) * rows bytes.
bool packs_panels(const Weight& w);
std::vector<uint8_t> pack_panels(const Weight& w);

}  // namespace loupe
