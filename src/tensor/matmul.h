// y = x W^T (+ bias) for a weight of any storage and element type, split over output rows
// across the pool: each output element is computed by one thread with the same sequence of
// operations whatever the thread count and the number of activation rows, so results do not
// depend on timing or batching.
//
// Weights with a tile kernel (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS,
// MXFP4 in row storage) are read in place, converted in registers; with q8_acts the ones with an
// int8 pairing (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) instead meet activations quantised to 32-element
// int8 blocks, as llama.cpp does (kernels_matmul.h), read from VNNI panels when the weight has
// them; the others keep float activations. Other types (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, the grid
// i-quants, TQ1_0, TQ2_0) and storages are dequantised a few rows at a time and go through the
// F32 kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "tensor/weight.h"

namespace loupe {

// x: [m, w.cols] floats, y: [m, w.rows] floats (row stride w.rows), bias: [w.rows] or null.
void matmul(ThreadPool& pool, const Weight& w, const float* x, int64_t m, float* y, const float* bias,
            bool q8_acts = false);

// How matmul computes a product of m activation rows with this weight on this machine (the
// active instruction set): from the VNNI / maddubs panels or int8 tiles (q8 activations, types
// with an int8 pairing), with the tile kernel on rows in place or on their interleaved copy,
// converting rows to F32 first (block-quantised types, m >= 16), or dequantising them with
// Weight::row (types and storages without a kernel). `loupe bench` prints it per type.
enum class MatmulRoute : uint8_t { Panels, Int8Tiles, PackedTiles, Tiles, Convert, Dequant };
MatmulRoute matmul_route(const Weight& w, int64_t m, bool q8_acts);
const char* matmul_route_name(MatmulRoute route);

// Whether matmul reads this weight with a dedicated kernel (no dequantisation to F32).
bool matmul_has_kernel(const Weight& w);

// Interleaved tiles (Weight::tiles): whether a weight would use them on this machine (Rows
// storage without a row map, rows a multiple of 4, a block-quantised type whose AVX-512 kernel
// steps over interleaved blocks), and the copy itself: for each group of 4 rows, block b of
// rows 0..3, then block b + 1 of rows 0..3, ... (row_bytes(type, cols) * rows bytes).
bool packs_tiles(const Weight& w);
std::vector<uint8_t> pack_tiles(const Weight& w);

// Panels (Weight::panels) for products with q8 activations: whether a weight would use them on
// this machine (Rows storage without a row map, rows a multiple of kernels::kPanelRows, Q8_0,
// Q4_0 or Q4_K, AVX-512 VNNI), and the copy: panel after panel, row_bytes(type, cols) * rows bytes.
bool packs_panels(const Weight& w);
std::vector<uint8_t> pack_panels(const Weight& w);

}  // namespace loupe
