#include "tensor/matmul.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/ggml_dot.h"
#include "tensor/half.h"
#include "tensor/kernels_matmul.h"

namespace loupe {
namespace {

using kernels::BlockQ8;
using kernels::kTileActRows;
using kernels::kTileRows;
using kernels::Tile;
using kernels::TileFn;

// Activation rows processed against one weight tile before moving on: with K <= 4096 they
// stay in L2 while the weight rows of the thread stream past.
constexpr int64_t kActChunk = 64;
// Rows converted to F32 together on the converting paths.
constexpr int64_t kDequantRows = 16;
// From this many activation rows on, float-activation products with block-quantised weights
// convert weight rows to F32 once
// and run the F32 kernel over all rows: the conversion is paid once per weight row instead of
// once per kTileActRows activation rows. The converted values are those the direct kernel
// computes in registers, so both paths give the same bits.
constexpr int64_t kConvertMinRows = 16;

thread_local std::vector<float> t_rows;         // [kDequantRows, cols] dequantised weight rows
thread_local std::vector<uint8_t> t_row_bytes;  // one weight row gathered from interleaved tiles
thread_local std::vector<BlockQ8> t_act;        // [m, cols / 32] quantised activations (caller's thread)
// llama.cpp numerics on the float routes (caller's thread): [m, cols] activations converted to the
// weight's vec_dot type and back; for Q8_1, [m, cols / 32] per block s - d * sum(q).
thread_local std::vector<float> t_conv;
thread_local std::vector<float> t_q81;
thread_local std::vector<ggml::Acts> t_ggml;  // llama.cpp numerics, ggml's order: [m] rows (caller's thread)

// Tile height for one activation row (decode). One weight row per tile is read as a single
// sequential stream, which memory serves at up to several times the rate of four interleaved
// ones (2x to 4x on the EPYC this was measured on; bench/kernels_bench BM_DecodeStep); but then
// each output's accumulator chain runs alone, and kernels doing one FMA per 16 weights become
// latency-bound. Measured: streaming wins for Q8_0 (1.7x to 2.3x) and F16 (1.3x) and with q8
// activations, whose chain steps cover whole 32-weight blocks; it loses for Q4_0 and Q4_K with
// float activations and ties for F32. Same bits either way (kernels_matmul.h).
int64_t decode_tile_rows(DType type, bool q8_acts) {
  return q8_acts || type == DType::Q8_0 || type == DType::F16 ? 1 : kTileRows;
}

// Weight rows [r0, r1) against all m activation rows, with a tile kernel on rows in place, or
// on the interleaved copy when `tiles` (r0 then a multiple of kTileRows).
void rows_direct(TileFn fn, const Weight& w, bool q8_acts, bool tiles, const void* x, size_t x_stride, int64_t m,
                 float* y, int64_t r0, int64_t r1) {
  const size_t row_stride = row_bytes(w.type, w.cols);
  const size_t block_bytes = dtype_traits(w.type).block_bytes;
  const int64_t tile_rows = m == 1 && !tiles ? decode_tile_rows(w.type, q8_acts) : kTileRows;
  for (int64_t i0 = 0; i0 < m; i0 += kActChunk) {
    const int64_t i1 = std::min(i0 + kActChunk, m);
    for (int64_t t0 = r0; t0 < r1; t0 += tile_rows) {
      Tile t{};
      t.nr = static_cast<int>(std::min<int64_t>(tile_rows, r1 - t0));
      if (tiles) {
        const uint8_t* base = w.tiles + row_stride * static_cast<size_t>(t0);
        for (int r = 0; r < t.nr; ++r) t.w[r] = base + block_bytes * static_cast<size_t>(r);
        t.w_step = static_cast<int64_t>(block_bytes) * kTileRows;
      } else {
        for (int r = 0; r < t.nr; ++r) {
          const int64_t logical = t0 + r;
          const int64_t stored = w.row_map.empty() ? logical : w.row_map[static_cast<size_t>(logical)];
          t.w[r] = w.data + row_stride * static_cast<size_t>(stored);
        }
      }
      t.k = w.cols;
      t.x_stride = x_stride;
      t.y_stride = w.rows;
      for (int64_t i = i0; i < i1; i += kTileActRows) {
        t.nm = static_cast<int>(std::min<int64_t>(kTileActRows, i1 - i));
        t.x = static_cast<const uint8_t*>(x) + static_cast<size_t>(i) * x_stride;
        t.y = y + i * w.rows + t0;
        fn(t);
      }
    }
  }
}

// Converts kDequantRows rows at a time to F32 (with `convert` on rows in place, or with
// Weight::row when it is null) and runs the F32 kernel on them.
void rows_dequant(TileFn f32, kernels::RowFn convert, const Weight& w, const float* x, int64_t m, float* y, int64_t r0,
                  int64_t r1) {
  const int64_t K = w.cols;
  const size_t row_stride = row_bytes(w.type, K);
  if (static_cast<int64_t>(t_rows.size()) < kDequantRows * K) t_rows.resize(static_cast<size_t>(kDequantRows * K));
  for (int64_t d0 = r0; d0 < r1; d0 += kDequantRows) {
    const int64_t d1 = std::min(d0 + kDequantRows, r1);
    for (int64_t r = d0; r < d1; ++r) {
      float* out = t_rows.data() + (r - d0) * K;
      if (convert != nullptr && w.tiles != nullptr) {
        // Gathered from the interleaved copy: the file pages it was made from stay released.
        const size_t bb = dtype_traits(w.type).block_bytes, nb = row_stride / bb;
        const uint8_t* src = w.tiles + row_stride * static_cast<size_t>(r / kTileRows * kTileRows) +
                             bb * static_cast<size_t>(r % kTileRows);
        t_row_bytes.resize(row_stride);
        for (size_t b = 0; b < nb; ++b) std::copy_n(src + b * bb * kTileRows, bb, t_row_bytes.data() + b * bb);
        convert(t_row_bytes.data(), K, out);
      } else if (convert != nullptr) {
        const int64_t stored = w.row_map.empty() ? r : w.row_map[static_cast<size_t>(r)];
        convert(w.data + row_stride * static_cast<size_t>(stored), K, out);
      } else {
        w.row(r, out);
      }
    }
    for (int64_t t0 = d0; t0 < d1; t0 += kTileRows) {
      Tile t{};
      t.nr = static_cast<int>(std::min<int64_t>(kTileRows, d1 - t0));
      for (int r = 0; r < t.nr; ++r) t.w[r] = reinterpret_cast<const uint8_t*>(t_rows.data() + (t0 - d0 + r) * K);
      t.k = K;
      t.x_stride = static_cast<size_t>(K) * sizeof(float);
      t.y_stride = w.rows;
      for (int64_t i = 0; i < m; i += kTileActRows) {
        t.nm = static_cast<int>(std::min<int64_t>(kTileActRows, m - i));
        t.x = x + i * K;
        t.y = y + i * w.rows + t0;
        f32(t);
      }
    }
  }
}

// Weight rows [r0, r1) (multiples of kPanelRows) from the panels against all m rows of q8
// activations: each panel meets kActChunk activation rows in one kernel call, while it stays in
// cache.
void rows_panels(kernels::PanelFn fn, const Weight& w, const BlockQ8* x, size_t x_stride, int64_t m, float* y,
                 int64_t r0, int64_t r1) {
  const size_t panel_bytes = row_bytes(w.type, w.cols) * kernels::kPanelRows;
  for (int64_t i0 = 0; i0 < m; i0 += kActChunk) {
    const int64_t i1 = std::min(i0 + kActChunk, m);
    for (int64_t p0 = r0; p0 < r1; p0 += kernels::kPanelRows) {
      kernels::PanelTask t{};
      t.panel = w.panels + panel_bytes * static_cast<size_t>(p0 / kernels::kPanelRows);
      t.k = w.cols;
      t.x_stride = x_stride;
      t.y_stride = w.rows;
      t.nm = static_cast<int>(i1 - i0);
      t.x = reinterpret_cast<const BlockQ8*>(reinterpret_cast<const uint8_t*>(x) + static_cast<size_t>(i0) * x_stride);
      t.y = y + i0 * w.rows + p0;
      fn(t);
    }
  }
}

TileFn direct_kernel(const Weight& w, bool q8_acts) {
  if (w.storage != Storage::Rows) return nullptr;
  return kernels::tile_kernel(w.type, active_isa(), q8_acts);
}

// Quantises one row of k activations to BlockQ8 in the format's rules (Q8_0 / Q8_1: 32-blocks,
// Q8_K: 256-blocks).
void quantize_row(ActFormat fmt, const float* x, int64_t k, BlockQ8* q) {
  if (fmt == ActFormat::Q8_K)
    kernels::quantize_act_q8_k(x, q, k / 256);
  else
    kernels::quantize_act_q8(x, q, k / 32);
}

// One row of k activations in the vec_dot type `fmt` (ggml::convert), written back as floats
// (exact: an fp16 or bf16 value, or a block scale times a byte, which is exact for fp16 scales).
// Q8_1 also gives, per block, ggml's s less the d * sum(q) the floats carry.
void convert_row(ActFormat fmt, const float* x, int64_t k, float* out, float* q81, ggml::Acts& scratch) {
  ggml::convert(fmt, x, k, scratch);
  if (fmt == ActFormat::F32 || fmt == ActFormat::F16 || fmt == ActFormat::BF16) {  // the values themselves
    std::copy_n(scratch.f.data(), k, out);
    return;
  }
  for (int64_t b = 0; b < k / 32; ++b) {
    const BlockQ8& q = scratch.q[static_cast<size_t>(b)];
    for (int j = 0; j < 32; ++j) out[32 * b + j] = q.d * static_cast<float>(q.qs[j]);
    if (fmt == ActFormat::Q8_1) q81[b] = scratch.s[static_cast<size_t>(b)] - q.d * static_cast<float>(q.sum());
  }
}

// Q8_1's term: y[i, r] += sum over blocks b of min(r, b) * q81[i, b], for rows [r0, r1) of a
// Q4_1 / Q5_1 weight (its blocks start with fp16 d, fp16 min).
void add_q8_1_term(const Weight& w, const float* q81, int64_t m, float* y, int64_t r0, int64_t r1) {
  const int64_t blocks = w.cols / 32;
  const size_t bb = dtype_traits(w.type).block_bytes;
  const size_t row_stride = row_bytes(w.type, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t stored = w.row_map.empty() ? r : w.row_map[static_cast<size_t>(r)];
    const uint8_t* row = w.data + row_stride * static_cast<size_t>(stored);
    for (int64_t i = 0; i < m; ++i) {
      const float* c = q81 + i * blocks;
      float acc = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* mb = row + bb * static_cast<size_t>(b) + 2;
        acc = std::fma(f16_to_f32(static_cast<uint16_t>(mb[0] | mb[1] << 8)), c[b], acc);
      }
      y[i * w.rows + r] += acc;
    }
  }
}

// The 32-element formats ggml's AVX2 build repacks (Q4_0, IQ4_NL, MXFP4: one exact integer sum per
// block, one fma per block) are what loupe's VNNI / maddubs panels compute, bit for bit (the int8
// tiles hold lane sums instead; Numerics tests): with panels they keep them in llama.cpp numerics.
// Whether ggml's AVX2 build would hold this matrix in its repacked 8-row buffer: any row count that
// is a multiple of 8. A tied unembedding too: llama.cpp loads the token embedding a second time as
// the output matrix (a duplicated tensor), and that copy is repacked (checked: a tied Q4_0 llama
// and Gemma's tied Q4_K unembedding give llama.cpp's logits to the bit only this way).
bool ggml_repacks(const Weight& w) {
  return w.rows % 8 == 0;
}

bool panels_are_ggmls(const Weight& w) {
  return (w.type == DType::Q4_0 || w.type == DType::IQ4_NL || w.type == DType::MXFP4) && w.panels != nullptr &&
         ggml_repacks(w) && kernels::panel_kernel(w.type, active_isa()) != nullptr;
}

}  // namespace

bool matmul_has_kernel(const Weight& w) {
  return direct_kernel(w, false) != nullptr;
}

bool matmul_takes_q8(const Weight& w, Numerics numerics) {
  return numerics != Numerics::Exact && !matmul_in_ggml_order(w, numerics) && kernels::takes_q8_activations(w.type) &&
         direct_kernel(w, true) != nullptr;
}

bool matmul_in_ggml_order(const Weight& w, Numerics numerics) {
  return numerics == Numerics::LlamaCpp && w.storage == Storage::Rows && ggml::has_dot(w.type) &&
         !(panels_are_ggmls(w) && direct_kernel(w, true) != nullptr);
}

bool packs_tiles(const Weight& w) {
  return w.storage == Storage::Rows && w.row_map.empty() && w.rows % kTileRows == 0 && w.rows > 0 &&
         kernels::tile_kernel_takes_step(w.type, active_isa());
}

std::vector<uint8_t> pack_tiles(const Weight& w) {
  const size_t row_stride = row_bytes(w.type, w.cols);
  const size_t bb = dtype_traits(w.type).block_bytes;
  const size_t n_blocks = row_stride / bb;
  std::vector<uint8_t> out(row_stride * static_cast<size_t>(w.rows));
  for (int64_t t0 = 0; t0 < w.rows; t0 += kTileRows) {
    uint8_t* dst = out.data() + row_stride * static_cast<size_t>(t0);
    for (size_t b = 0; b < n_blocks; ++b)
      for (int r = 0; r < kTileRows; ++r, dst += bb)
        std::copy_n(w.data + row_stride * static_cast<size_t>(t0 + r) + b * bb, bb, dst);
  }
  return out;
}

bool packs_panels(const Weight& w) {
  return w.storage == Storage::Rows && w.row_map.empty() && w.rows % kernels::kPanelRows == 0 && w.rows > 0 &&
         kernels::panel_kernel(w.type, active_isa()) != nullptr;
}

std::vector<uint8_t> pack_panels(const Weight& w) {
  const size_t row_stride = row_bytes(w.type, w.cols);
  std::vector<uint8_t> out(row_stride * static_cast<size_t>(w.rows));
  for (int64_t p0 = 0; p0 < w.rows; p0 += kernels::kPanelRows)
    kernels::pack_panel(w.type, w.data + row_stride * static_cast<size_t>(p0), row_stride, w.cols,
                        out.data() + row_stride * static_cast<size_t>(p0));
  return out;
}

MatmulRoute matmul_route(const Weight& w, int64_t m, Numerics numerics) {
  if (matmul_in_ggml_order(w, numerics)) return MatmulRoute::Ggml;
  const bool q8_acts = matmul_takes_q8(w, numerics);
  if (direct_kernel(w, q8_acts) == nullptr) return MatmulRoute::Dequant;
  if (q8_acts)
    return w.panels != nullptr && kernels::panel_kernel(w.type, active_isa()) != nullptr ? MatmulRoute::Panels
                                                                                         : MatmulRoute::Int8Tiles;
  // Block-quantised types only: F16 / BF16 convert in one instruction per vector, and reading
  // them at half the bytes beats converting the rows first.
  if (dtype_traits(w.type).block_elems > 1 && m >= kConvertMinRows && kernels::row_to_f32(w.type, active_isa()))
    return MatmulRoute::Convert;
  if (w.tiles != nullptr && kernels::tile_kernel_takes_step(w.type, active_isa())) return MatmulRoute::PackedTiles;
  return MatmulRoute::Tiles;
}

const char* matmul_route_name(MatmulRoute r) {
  switch (r) {
    case MatmulRoute::Panels: return "int8 panels";
    case MatmulRoute::Int8Tiles: return "int8 tiles";
    case MatmulRoute::PackedTiles: return "interleaved tiles";
    case MatmulRoute::Tiles: return "tiles";
    case MatmulRoute::Convert: return "rows to f32, f32 tiles";
    case MatmulRoute::Dequant: return "dequantised rows, f32 tiles";
    case MatmulRoute::Ggml: return "ggml's operations";
  }
  return "?";
}

void matmul(ThreadPool& pool, const Weight& w, const float* x, int64_t m, float* y, const float* bias,
            Numerics numerics) {
  const MatmulRoute route = matmul_route(w, m, numerics);
  const ActFormat fmt = numerics != Numerics::Exact ? vec_dot_format(w.type) : ActFormat::F32;
  if (route == MatmulRoute::Ggml) {
    if (t_ggml.size() < static_cast<size_t>(m)) t_ggml.resize(static_cast<size_t>(m));
    std::vector<ggml::Acts>& acts = t_ggml;
    pool.parallel_for(m, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ggml::convert(fmt, x + i * w.cols, w.cols, acts[static_cast<size_t>(i)]);
    });
    const size_t row_stride = row_bytes(w.type, w.cols);
    const bool repacked = ggml_repacks(w);
    pool.parallel_for(w.rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t stored = w.row_map.empty() ? r : w.row_map[static_cast<size_t>(r)];
        const uint8_t* row = w.data + row_stride * static_cast<size_t>(stored);
        ggml::dot_rows(w.type, row, acts.data(), m, y + r, w.rows, repacked, bias != nullptr ? bias + r : nullptr);
      }
    });
    return;
  }
  const bool q8_acts = matmul_takes_q8(w, numerics);
  const TileFn fn = direct_kernel(w, q8_acts);
  const void* act = x;
  size_t act_stride = static_cast<size_t>(w.cols) * sizeof(float);
  const float* q81 = nullptr;
  if (q8_acts) {
    const int64_t blocks = w.cols / 32;
    if (static_cast<int64_t>(t_act.size()) < m * blocks) t_act.resize(static_cast<size_t>(m * blocks));
    BlockQ8* q = t_act.data();
    pool.parallel_for(m, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) quantize_row(fmt, x + i * w.cols, w.cols, q + i * blocks);
    });
    act = q;
    act_stride = static_cast<size_t>(blocks) * sizeof(BlockQ8);
  } else if (fmt != ActFormat::F32) {
    const int64_t k = w.cols;
    t_conv.resize(static_cast<size_t>(m * k));
    if (fmt == ActFormat::Q8_1) t_q81.resize(static_cast<size_t>(m * (k / 32)));
    float* conv = t_conv.data();
    float* corr = fmt == ActFormat::Q8_1 ? t_q81.data() : nullptr;
    pool.parallel_for(m, [&](int64_t b, int64_t e) {
      thread_local ggml::Acts scratch;
      for (int64_t i = b; i < e; ++i)
        convert_row(fmt, x + i * k, k, conv + i * k, corr != nullptr ? corr + i * (k / 32) : nullptr, scratch);
    });
    x = conv;
    act = conv;
    if (fmt == ActFormat::Q8_1) q81 = corr;
  }
  auto add_bias = [&](int64_t r0, int64_t r1) {
    if (bias != nullptr)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t r = r0; r < r1; ++r) y[i * w.rows + r] += bias[r];
  };
  if (route == MatmulRoute::Panels) {
    const kernels::PanelFn panel_fn = kernels::panel_kernel(w.type, active_isa());
    const auto* q = static_cast<const BlockQ8*>(act);
    pool.parallel_for(w.rows / kernels::kPanelRows, [&](int64_t b, int64_t e) {
      rows_panels(panel_fn, w, q, act_stride, m, y, b * kernels::kPanelRows, e * kernels::kPanelRows);
      add_bias(b * kernels::kPanelRows, e * kernels::kPanelRows);
    });
    return;
  }
  const TileFn f32 = kernels::tile_kernel(DType::F32, active_isa());
  const kernels::RowFn convert = route == MatmulRoute::Convert ? kernels::row_to_f32(w.type, active_isa()) : nullptr;
  const bool direct =
      route == MatmulRoute::Int8Tiles || route == MatmulRoute::Tiles || route == MatmulRoute::PackedTiles;
  const bool tiles = route == MatmulRoute::PackedTiles;
  // Split rows in whole tiles (of the converted block, a multiple of kTileRows) so the split
  // never changes which rows share a tile.
  const int64_t unit = direct ? kTileRows : kDequantRows;
  const int64_t n_units = (w.rows + unit - 1) / unit;
  pool.parallel_for(n_units, [&](int64_t b, int64_t e) {
    const int64_t r0 = b * unit;
    const int64_t r1 = std::min(e * unit, w.rows);
    if (direct)
      rows_direct(fn, w, q8_acts, tiles, act, act_stride, m, y, r0, r1);
    else
      rows_dequant(f32, convert, w, x, m, y, r0, r1);
    if (q81 != nullptr) add_q8_1_term(w, q81, m, y, r0, r1);
    add_bias(r0, r1);
  });
}

}  // namespace loupe
