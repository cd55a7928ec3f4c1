// Matmul with the i-quant, ternary and MXFP4 weights. IQ4_NL, IQ4_XS and MXFP4 have tile kernels
// (value tables: pshufb on AVX2, vpermps on AVX-512, a scalar twin); the other nine go through
// the converting path (rows dequantised to F32, then the F32 kernel). Every type: the product
// equals a float64 product of the dequantised weights, for one activation row (decode) and 37
// (prompt), on one thread and three, with the same bits for every batch and split; llama.cpp
// numerics pairs the three table formats with int8 activations (their integer sums exact, as
// llama.cpp pairs them with Q8_0 / Q8_K) and gives the other nine their Q8_K-rounded activations. The vector kernels:
// their row conversion gives dequantize_row's bits on every level, and a tile on the rows in place gives the bits of
// the F32 kernel on the converted rows (so the direct and converting paths agree).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "llamacpp_reference.h"
#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/matmul.h"
#include "test_support.h"

namespace loupe {
namespace {

using kernels::Tile;

const DType kNewTypes[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ3_XXS, DType::IQ1_S, DType::IQ4_NL, DType::IQ3_S,
                           DType::IQ2_S,   DType::IQ4_XS, DType::IQ1_M,   DType::TQ1_0, DType::TQ2_0,  DType::MXFP4};
const DType kVectorTypes[] = {DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4};
const auto& kIsas = kAllIsas;

bool has_vector_kernel(DType type) {
  return type == DType::IQ4_NL || type == DType::IQ4_XS || type == DType::MXFP4;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// rows x k weights of random bytes (every bit pattern of quants, grid indices, signs and group
// scales), with the super-block scale set to a small finite value.
std::vector<uint8_t> random_weights(DType type, int64_t rows, int64_t k, uint32_t seed) {
  const size_t bytes = row_bytes(type, k) * static_cast<size_t>(rows);
  const size_t block = dtype_traits(type).block_bytes;
  std::vector<uint8_t> w(bytes);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (size_t off = 0; off < bytes; off += block) {
    uint8_t* blk = w.data() + off;
    const uint16_t h = f32_to_f16(scale(rng));
    switch (type) {
      case DType::MXFP4: blk[0] = static_cast<uint8_t>(120 + byte(rng) % 16); break;  // 2^-8 .. 2^7
      case DType::IQ1_M:
        // The fp16 scale is the top nibbles of the four scale words (bytes 48 .. 55).
        for (int n = 0; n < 4; ++n)
          blk[48 + 2 * n + 1] = static_cast<uint8_t>((blk[49 + 2 * n] & 0x0f) | ((h >> (4 * n)) & 0xf) << 4);
        break;
      case DType::TQ1_0:
      case DType::TQ2_0: {
        const size_t at = block - 2;  // d comes last
        blk[at] = static_cast<uint8_t>(h & 0xff);
        blk[at + 1] = static_cast<uint8_t>(h >> 8);
        break;
      }
      default:
        blk[0] = static_cast<uint8_t>(h & 0xff);
        blk[1] = static_cast<uint8_t>(h >> 8);
        break;
    }
  }
  return w;
}

std::vector<int64_t> lengths(DType type) {
  if (dtype_traits(type).block_elems == 32) return {32, 96, 288};
  return {256, 768};
}

// x as the q8 kernels of a weight type see it: quantised to BlockQ8 (Q8_0 or Q8_K rules) and
// scaled back.
std::vector<float> q8_rounded(const std::vector<float>& x, DType type = DType::IQ4_NL) {
  const int64_t n_blocks = static_cast<int64_t>(x.size()) / 32;
  std::vector<kernels::BlockQ8> q(static_cast<size_t>(n_blocks));
  test::quantize_acts_for(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  std::vector<float> out(x.size());
  for (size_t j = 0; j < x.size(); ++j) out[j] = q[j / 32].d * static_cast<float>(q[j / 32].qs[j % 32]);
  return out;
}

Weight rows_weight(DType type, int64_t rows, int64_t k, const std::vector<uint8_t>& bytes) {
  Weight w;
  w.name = "w";
  w.type = type;
  w.rows = rows;
  w.cols = k;
  w.data = bytes.data();
  return w;
}

// One tile over rows `w` (row r at w + r * row_stride) and activation rows x (float or BlockQ8,
// x_stride bytes apart; float rows of k when 0).
std::vector<float> run_tile(kernels::TileFn fn, const uint8_t* w, size_t row_stride, int nr, const void* x, int nm,
                            int64_t k, size_t x_stride = 0) {
  Tile t{};
  for (int r = 0; r < nr; ++r) t.w[r] = w + row_stride * static_cast<size_t>(r);
  t.nr = nr;
  t.x = x;
  t.x_stride = x_stride != 0 ? x_stride : static_cast<size_t>(k) * sizeof(float);
  t.nm = nm;
  t.k = k;
  std::vector<float> y(static_cast<size_t>(nm * nr), NAN);
  t.y = y.data();
  t.y_stride = nr;
  fn(t);
  return y;
}

TEST(MatmulIq, EveryNewTypeMatchesFloat64Reference) {
  const int64_t rows = 37;
  ThreadPool p1(1), p3(3);
  for (DType type : kNewTypes) {
    const int64_t k = lengths(type).back();
    auto wbytes = random_weights(type, rows, k, 51);
    const Weight w = rows_weight(type, rows, k, wbytes);
    EXPECT_EQ(matmul_has_kernel(w), has_vector_kernel(type)) << dtype_name(type);
    std::vector<float> wf(static_cast<size_t>(rows * k));
    dequantize_row(type, wbytes.data(), wf.data(), rows * k);
    for (float v : wf) ASSERT_TRUE(std::isfinite(v)) << dtype_name(type);
    const int64_t m = 37;
    auto x = random_floats(static_cast<size_t>(m * k), 52);
    auto bias = random_floats(static_cast<size_t>(rows), 53);
    std::vector<float> many(static_cast<size_t>(m * rows)), many3(many.size()), q8(many.size());
    matmul(p1, w, x.data(), m, many.data(), bias.data());
    matmul(p3, w, x.data(), m, many3.data(), bias.data());
    matmul(p3, w, x.data(), m, q8.data(), bias.data(), Numerics::Q8);
    EXPECT_EQ(many, many3) << dtype_name(type);
    std::vector<float> one(static_cast<size_t>(rows)), one3(one.size());
    for (int64_t i = 0; i < m; ++i) {
      matmul(p1, w, x.data() + i * k, 1, one.data(), bias.data());
      matmul(p3, w, x.data() + i * k, 1, one3.data(), bias.data(), Numerics::Q8);
      for (int64_t r = 0; r < rows; ++r) {
        const size_t at = static_cast<size_t>(i * rows + r);
        ASSERT_EQ(one[static_cast<size_t>(r)], many[at]) << dtype_name(type);
        ASSERT_EQ(one3[static_cast<size_t>(r)], q8[at]) << dtype_name(type);
      }
    }
    // In llama.cpp's numerics the product is the one with the activations rounded to its vec_dot
    // type (Q8_0 for IQ4_NL and MXFP4, Q8_K for the others): int8 kernels or not.
    const std::vector<float> xq = q8_rounded(x, type);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < rows; ++r) {
        double want = bias[static_cast<size_t>(r)], want_q8 = want, mag = std::fabs(want);
        for (int64_t j = 0; j < k; ++j) {
          const size_t xj = static_cast<size_t>(i * k + j);
          const double wj = wf[static_cast<size_t>(r * k + j)];
          want += static_cast<double>(x[xj]) * wj;
          want_q8 += static_cast<double>(xq[xj]) * wj;
          mag += std::fabs(static_cast<double>(x[xj]) * wj);
        }
        const size_t at = static_cast<size_t>(i * rows + r);
        EXPECT_NEAR(many[at], want, 2e-6 * mag) << dtype_name(type);
        EXPECT_NEAR(q8[at], want_q8, 2e-6 * mag) << dtype_name(type) << " llama.cpp numerics";
      }
  }
}

// Only the three vector types have tile kernels, q8 kernels and (AVX-512 VNNI) panels.
TEST(MatmulIq, KernelTables) {
  for (DType type : kNewTypes) {
    EXPECT_EQ(kernels::takes_q8_activations(type), has_vector_kernel(type)) << dtype_name(type);
    EXPECT_EQ(kernels::has_panels(type), has_vector_kernel(type)) << dtype_name(type);
    for (Isa isa : kIsas) {
      if (!cpu_supports(isa)) continue;
      EXPECT_EQ(kernels::panel_kernel(type, isa) != nullptr, has_vector_kernel(type) && test::panel_tier(isa))
          << dtype_name(type);
      EXPECT_EQ(kernels::tile_kernel(type, isa) != nullptr, has_vector_kernel(type)) << dtype_name(type);
      EXPECT_EQ(kernels::row_to_f32(type, isa) != nullptr, has_vector_kernel(type)) << dtype_name(type);
      // Asked for q8 activations, a type without them gets its float kernel (or none).
      if (has_vector_kernel(type))
        EXPECT_NE(kernels::tile_kernel(type, isa, true), kernels::tile_kernel(type, isa, false)) << dtype_name(type);
      else
        EXPECT_EQ(kernels::tile_kernel(type, isa, true), kernels::tile_kernel(type, isa, false)) << dtype_name(type);
    }
    std::vector<uint8_t> bytes(row_bytes(type, 256) * 16);
    EXPECT_EQ(packs_panels(rows_weight(type, 16, 256, bytes)),
              has_vector_kernel(type) && test::panel_tier(active_isa()))
        << dtype_name(type);
    if (kernels::has_panels(type)) {
      EXPECT_EQ(kernels::panel_block_bytes(type) * (256 / static_cast<size_t>(dtype_traits(type).block_elems)),
                row_bytes(type, 256) * kernels::kPanelRows)
          << dtype_name(type) << ": a panel is as large as its rows";
    }
  }
}

// Row conversion on every level: the bits of dequantize_row.
TEST(MatmulIq, VectorRowConversionIsExact) {
  for (DType type : kVectorTypes)
    for (int64_t k : lengths(type)) {
      auto w = random_weights(type, 1, k, 61);
      std::vector<float> want(static_cast<size_t>(k));
      dequantize_row(type, w.data(), want.data(), k);
      for (Isa isa : kIsas) {
        if (!cpu_supports(isa)) continue;
        std::vector<float> got(static_cast<size_t>(k), NAN);
        kernels::row_to_f32(type, isa)(w.data(), k, got.data());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << dtype_name(type) << " " << isa_name(isa) << " k=" << k;
      }
    }
}

// The tile kernel on rows in place against the F32 kernel of the same level on the converted
// rows: the same bits for every tile shape. And against the scalar twin within rounding.
TEST(MatmulIq, VectorKernelsMatchConvertedRowsAndScalarTwin) {
  for (DType type : kVectorTypes)
    for (int64_t k : lengths(type)) {
      const int R = kernels::kTileRows, M = kernels::kTileActRows;
      auto w = random_weights(type, R, k, 71);
      auto x = random_floats(static_cast<size_t>(M * k), 72);
      const size_t rb = row_bytes(type, k);
      std::vector<float> wf(static_cast<size_t>(R * k));
      dequantize_row(type, w.data(), wf.data(), R * k);
      for (int nr = 1; nr <= R; ++nr)
        for (int nm = 1; nm <= M; ++nm) {
          const auto scalar = run_tile(kernels::tile_kernel(type, Isa::Scalar), w.data(), rb, nr, x.data(), nm, k);
          for (Isa isa : kIsas) {
            if (!cpu_supports(isa)) continue;
            const auto fn = kernels::tile_kernel(type, isa);
            ASSERT_NE(fn, nullptr) << dtype_name(type) << " " << isa_name(isa);
            const auto direct = run_tile(fn, w.data(), rb, nr, x.data(), nm, k);
            const auto converted =
                run_tile(kernels::tile_kernel(DType::F32, isa), reinterpret_cast<const uint8_t*>(wf.data()),
                         k * sizeof(float), nr, x.data(), nm, k);
            EXPECT_EQ(direct, converted) << dtype_name(type) << " " << isa_name(isa) << " nr=" << nr << " nm=" << nm;
            for (int i = 0; i < nm; ++i)
              for (int r = 0; r < nr; ++r) {
                double mag = 0;
                for (int64_t j = 0; j < k; ++j)
                  mag += std::fabs(static_cast<double>(x[static_cast<size_t>(i * k + j)]) *
                                   wf[static_cast<size_t>(r * k + j)]);
                const size_t at = static_cast<size_t>(i * nr + r);
                EXPECT_NEAR(direct[at], scalar[at], 2e-6 * mag) << dtype_name(type) << " " << isa_name(isa);
              }
          }
        }
    }
}

// The q8 kernels (int8 activations): every level against the scalar twin on every tile shape
// (NEON bit for bit), and against a float64 product of the dequantised weights with the rounded activations.
TEST(MatmulIq, Q8KernelsMatchScalarTwin) {
  for (DType type : kVectorTypes)
    for (int64_t k : lengths(type)) {
      const int R = kernels::kTileRows, M = kernels::kTileActRows;
      auto w = random_weights(type, R, k, 91);
      auto x = random_floats(static_cast<size_t>(M * k), 92);
      std::vector<kernels::BlockQ8> xb(static_cast<size_t>(M * k / 32));
      kernels::quantize_act_q8(x.data(), xb.data(), M * k / 32);
      const std::vector<float> xq = q8_rounded(x);
      const size_t rb = row_bytes(type, k);
      std::vector<float> wf(static_cast<size_t>(R * k));
      dequantize_row(type, w.data(), wf.data(), R * k);
      auto run = [&](kernels::TileFn fn, int nr, int nm) {
        return run_tile(fn, w.data(), rb, nr, xb.data(), nm, k, static_cast<size_t>(k / 32) * sizeof(kernels::BlockQ8));
      };
      for (int nr = 1; nr <= R; ++nr)
        for (int nm = 1; nm <= M; ++nm) {
          const auto scalar = run(kernels::tile_kernel(type, Isa::Scalar, true), nr, nm);
          for (int i = 0; i < nm; ++i)
            for (int r = 0; r < nr; ++r) {
              double want = 0, mag = 0;
              for (int64_t j = 0; j < k; ++j) {
                const double p =
                    static_cast<double>(xq[static_cast<size_t>(i * k + j)]) * wf[static_cast<size_t>(r * k + j)];
                want += p;
                mag += std::fabs(p);
              }
              const size_t at = static_cast<size_t>(i * nr + r);
              EXPECT_NEAR(scalar[at], want, 2e-6 * mag + 1e-30) << dtype_name(type) << " k=" << k;
              for (Isa isa : test::vector_tiers()) {
                const auto y = run(kernels::tile_kernel(type, isa, true), nr, nm);
                EXPECT_NEAR(y[at], scalar[at], 2e-6 * mag + 1e-30)
                    << dtype_name(type) << " " << isa_name(isa) << " nr=" << nr << " nm=" << nm << " k=" << k;
                if (!test::panel_tier(isa)) {  // NEON q8 tiles: the twin's arithmetic, its bits
                  EXPECT_EQ(y[at], scalar[at]) << dtype_name(type) << " " << isa_name(isa);
                }
              }
            }
        }
    }
}

// VNNI panels of the table formats: a matmul with q8 activations reading them gives exactly the
// bits of the scalar q8 kernel on the rows in place plus the bias, for one activation row and
// many (one pass of a kernel, several, and without VNNI the expanded panels; past one 64-row
// chunk), on one thread and three.
TEST(MatmulIq, PanelsGiveTheScalarTwinsBits) {
  const int64_t rows = 48;
  ThreadPool p1(1), p3(3);
  for (Isa tier : test::vector_tiers()) {
    if (!test::panel_tier(tier)) continue;  // NEON: q8 tiles
    SCOPED_TRACE(isa_name(tier));
    const test::IsaScope scope(tier);
    for (DType type : kVectorTypes)
      for (int64_t k : lengths(type)) {
        auto wbytes = random_weights(type, rows, k, 95);
        const Weight w = rows_weight(type, rows, k, wbytes);
        ASSERT_TRUE(packs_panels(w)) << dtype_name(type);
        const std::vector<uint8_t> panels = pack_panels(w);
        ASSERT_EQ(panels.size(), wbytes.size());
        Weight wp = w;
        wp.panels = panels.data();
        const auto scalar = kernels::tile_kernel(type, Isa::Scalar, true);
        const size_t rb = row_bytes(type, k);
        for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{19}, int64_t{70}}) {
          auto x = random_floats(static_cast<size_t>(m * k), 96);
          auto bias = random_floats(static_cast<size_t>(rows), 97);
          std::vector<kernels::BlockQ8> q(static_cast<size_t>(m * k / 32));
          test::quantize_acts_for(type, x.data(), q.data(), m * k);
          std::vector<float> want(static_cast<size_t>(m * rows));
          for (int64_t i = 0; i < m; ++i)
            for (int64_t r = 0; r < rows; ++r) {
              const auto y =
                  run_tile(scalar, wbytes.data() + rb * static_cast<size_t>(r), rb, 1, q.data() + i * (k / 32), 1, k,
                           static_cast<size_t>(k / 32) * sizeof(kernels::BlockQ8));
              want[static_cast<size_t>(i * rows + r)] = y[0] + bias[static_cast<size_t>(r)];
            }
          std::vector<float> got(want.size()), got3(want.size());
          matmul(p1, wp, x.data(), m, got.data(), bias.data(), Numerics::Q8);
          matmul(p3, wp, x.data(), m, got3.data(), bias.data(), Numerics::Q8);
          EXPECT_EQ(got, want) << dtype_name(type) << " k " << k << " m " << m;
          EXPECT_EQ(got3, want) << dtype_name(type) << " k " << k << " m " << m;
        }
      }
  }
}

// Interleaved tiles (AVX-512): the same bits as the rows in place, for decode and prompt shapes.
TEST(MatmulIq, InterleavedTilesGiveTheSameBits) {
  const int64_t rows = 40;
  ThreadPool p1(1), p3(3);
  for (DType type : kNewTypes) {
    const int64_t k = lengths(type).back();
    auto wbytes = random_weights(type, rows, k, 81);
    const Weight w = rows_weight(type, rows, k, wbytes);
    EXPECT_EQ(packs_tiles(w), has_vector_kernel(type) && active_isa() == Isa::Avx512) << dtype_name(type);
    if (!packs_tiles(w)) continue;
    const std::vector<uint8_t> tiles = pack_tiles(w);
    Weight wt = w;
    wt.tiles = tiles.data();
    for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{19}}) {
      auto x = random_floats(static_cast<size_t>(m * k), 82);
      std::vector<float> plain(static_cast<size_t>(m * rows)), tiled(plain.size()), tiled3(plain.size());
      matmul(p1, w, x.data(), m, plain.data(), nullptr);
      matmul(p1, wt, x.data(), m, tiled.data(), nullptr);
      matmul(p3, wt, x.data(), m, tiled3.data(), nullptr);
      EXPECT_EQ(plain, tiled) << dtype_name(type) << " m " << m;
      EXPECT_EQ(plain, tiled3) << dtype_name(type) << " m " << m;
    }
  }
}

}  // namespace
}  // namespace loupe
