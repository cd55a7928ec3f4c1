// The matmul tile kernels: every SIMD level against the scalar twin and against an independent
// float64 dot product, on random blocks of every type with a kernel and odd shapes; the matmul
// driver's determinism across batching and threads.
#include <gtest/gtest.h>

#include <array>
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

using kernels::BlockQ8;
using kernels::Tile;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                        DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Offsets of the fp16 scale fields in a block, which must stay finite.
std::vector<size_t> half_fields(DType type) {
  switch (type) {
    case DType::Q8_0:
    case DType::Q4_0: return {0};
    case DType::Q4_K:
    case DType::Q5_K: return {0, 2};
    case DType::Q6_K: return {208};
    default: return {};
  }
}

// rows x k weights of the type: plain floats are quantised from normal values; block formats
// are random bytes (every bit pattern of the quants and scales) with finite fp16 scale fields.
std::vector<uint8_t> random_weights(DType type, int64_t rows, int64_t k, uint32_t seed) {
  const size_t bytes = row_bytes(type, k) * static_cast<size_t>(rows);
  std::vector<uint8_t> w(bytes);
  std::mt19937 rng(seed);
  if (!kernels::takes_q8_activations(type)) {
    auto f = random_floats(static_cast<size_t>(rows * k), seed);
    quantize_row(type, f.data(), w.data(), rows * k);
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  const size_t block = dtype_traits(type).block_bytes;
  for (size_t off = 0; off < bytes; off += block)
    for (size_t f : half_fields(type)) {
      const uint16_t h = f32_to_f16(scale(rng));
      w[off + f] = static_cast<uint8_t>(h & 0xff);
      w[off + f + 1] = static_cast<uint8_t>(h >> 8);
    }
  return w;
}

// Activations as the kernel takes them: floats, or BlockQ8 rows.
struct Acts {
  std::vector<float> f;    // [m, k]
  std::vector<BlockQ8> q;  // [m, k / 32]
  std::vector<float> deq;  // [m, k]: what the kernel multiplies (d * q for BlockQ8)
};

// type: the weight type whose llama.cpp numerics quantise the activations (Q8_0 or Q8_K rules).
Acts make_acts(bool q8, int64_t m, int64_t k, uint32_t seed, DType type = DType::Q8_0) {
  Acts a;
  a.f = random_floats(static_cast<size_t>(m * k), seed);
  a.deq = a.f;
  if (q8) {
    a.q.resize(static_cast<size_t>(m * k / 32));
    test::quantize_acts_for(type, a.f.data(), a.q.data(), m * k);
    for (int64_t j = 0; j < m * k; ++j) {
      const BlockQ8& b = a.q[static_cast<size_t>(j / 32)];
      a.deq[static_cast<size_t>(j)] = b.d * b.qs[j % 32];
    }
  }
  return a;
}

std::vector<float> run_tile(kernels::TileFn fn, DType type, bool q8, const std::vector<uint8_t>& w, int nr,
                            const Acts& a, int nm, int64_t k) {
  Tile t{};
  const size_t rb = row_bytes(type, k);
  for (int r = 0; r < nr; ++r) t.w[r] = w.data() + rb * static_cast<size_t>(r);
  t.nr = nr;
  t.x = q8 ? static_cast<const void*>(a.q.data()) : static_cast<const void*>(a.f.data());
  t.x_stride = q8 ? static_cast<size_t>(k / 32) * sizeof(BlockQ8) : static_cast<size_t>(k) * sizeof(float);
  t.nm = nm;
  t.k = k;
  std::vector<float> y(static_cast<size_t>(nm * nr), NAN);
  t.y = y.data();
  t.y_stride = nr;
  fn(t);
  return y;
}

std::vector<int64_t> lengths(DType type) {
  if (type == DType::F32 || type == DType::F16 || type == DType::BF16) return {1, 7, 16, 17, 33, 100, 257};
  if (type == DType::Q8_0 || type == DType::Q4_0) return {32, 96, 288};
  return {256, 768};
}

const auto& kIsas = kAllIsas;

// Every type with float activations, and the block formats also with q8 activations.
std::vector<bool> modes(DType type) {
  if (kernels::takes_q8_activations(type)) return {false, true};
  return {false};
}

TEST(MatmulKernels, EveryTypeAndLevelMatchesFloat64Reference) {
  for (DType type : kTypes)
    for (bool q8 : modes(type))
      for (int64_t k : lengths(type)) {
        const int nr = kernels::kTileRows, nm = kernels::kTileActRows;
        auto w = random_weights(type, nr, k, 11);
        Acts a = make_acts(q8, nm, k, 12);
        std::vector<float> wf(static_cast<size_t>(nr * k));
        dequantize_row(type, w.data(), wf.data(), nr * k);
        for (Isa isa : kIsas) {
          if (!cpu_supports(isa)) continue;
          auto fn = kernels::tile_kernel(type, isa, q8);
          ASSERT_NE(fn, nullptr) << dtype_name(type);
          auto y = run_tile(fn, type, q8, w, nr, a, nm, k);
          for (int i = 0; i < nm; ++i)
            for (int r = 0; r < nr; ++r) {
              double want = 0, mag = 0;
              for (int64_t j = 0; j < k; ++j) {
                const double p =
                    static_cast<double>(a.deq[static_cast<size_t>(i * k + j)]) * wf[static_cast<size_t>(r * k + j)];
                want += p;
                mag += std::fabs(p);
              }
              EXPECT_NEAR(y[static_cast<size_t>(i * nr + r)], want, 2e-6 * mag + 1e-30)
                  << dtype_name(type) << " q8 " << q8 << " " << isa_name(isa) << " k=" << k << " i=" << i << " r=" << r;
            }
        }
      }
}

TEST(MatmulKernels, SimdMatchesScalarTwinOnOddTiles) {
  for (DType type : kTypes)
    for (bool q8 : modes(type))
      for (int64_t k : lengths(type)) {
        auto w = random_weights(type, kernels::kTileRows, k, 21);
        Acts a = make_acts(q8, kernels::kTileActRows, k, 22);
        // Rounding scales with the sum of |terms| (the K-quant mins cancel much of the sum).
        std::vector<float> wf(static_cast<size_t>(kernels::kTileRows * k));
        dequantize_row(type, w.data(), wf.data(), kernels::kTileRows * k);
        auto magnitude = [&](int i, int r) {
          double mag = 0;
          for (int64_t j = 0; j < k; ++j)
            mag += std::fabs(static_cast<double>(a.deq[static_cast<size_t>(i * k + j)]) *
                             wf[static_cast<size_t>(r * k + j)]);
          return mag;
        };
        for (int nr = 1; nr <= kernels::kTileRows; ++nr)
          for (int nm = 1; nm <= kernels::kTileActRows; ++nm) {
            auto ref = run_tile(kernels::tile_kernel(type, Isa::Scalar, q8), type, q8, w, nr, a, nm, k);
            for (Isa isa : test::vector_tiers()) {
              auto y = run_tile(kernels::tile_kernel(type, isa, q8), type, q8, w, nr, a, nm, k);
              for (int i = 0; i < nm; ++i)
                for (int r = 0; r < nr; ++r) {
                  const size_t j = static_cast<size_t>(i * nr + r);
                  EXPECT_NEAR(y[j], ref[j], 2e-6 * magnitude(i, r))
                      << dtype_name(type) << " q8 " << q8 << " " << isa_name(isa) << " nr=" << nr << " nm=" << nm
                      << " k=" << k;
                }
            }
          }
      }
}

// The NEON q8 tiles keep the scalar twins' arithmetic (exact integer block sums, then one fma
// per block), so they give its bits on every tile shape, with random quant bytes (Q8_0's -128
// included) and activations of mixed magnitude. The x86 tiles sum lanes in vectors: close, not
// equal (SimdMatchesScalarTwinOnOddTiles); their panels give the bits (PanelsGiveTheScalarTwinsBits).
TEST(MatmulKernels, Int8TilesGiveTheScalarTwinsBits) {
  int checked = 0;
  for (Isa isa : test::vector_tiers()) {
    if (test::panel_tier(isa)) continue;
    for (DType type : kTypes) {
      if (!kernels::takes_q8_activations(type)) continue;
      for (int64_t k : lengths(type)) {
        auto w = random_weights(type, kernels::kTileRows, k, 41);
        Acts a = make_acts(true, kernels::kTileActRows, k, 42);
        for (int nr = 1; nr <= kernels::kTileRows; ++nr)
          for (int nm = 1; nm <= kernels::kTileActRows; ++nm) {
            const auto ref = run_tile(kernels::tile_kernel(type, Isa::Scalar, true), type, true, w, nr, a, nm, k);
            const auto y = run_tile(kernels::tile_kernel(type, isa, true), type, true, w, nr, a, nm, k);
            EXPECT_EQ(y, ref) << dtype_name(type) << " " << isa_name(isa) << " nr=" << nr << " nm=" << nm << " k=" << k;
            ++checked;
          }
      }
    }
  }
  if (cpu_supports(Isa::Neon)) {
    EXPECT_GT(checked, 0);
  }
}

// An output does not depend on the tile it was computed in (bitwise).
TEST(MatmulKernels, OutputIndependentOfTileFill) {
  for (DType type : kTypes)
    for (bool q8 : modes(type))
      for (Isa isa : kIsas) {
        if (!cpu_supports(isa)) continue;
        const int64_t k = lengths(type).back();
        auto w = random_weights(type, kernels::kTileRows, k, 31);
        Acts a = make_acts(q8, kernels::kTileActRows, k, 32);
        auto fn = kernels::tile_kernel(type, isa, q8);
        auto full = run_tile(fn, type, q8, w, kernels::kTileRows, a, kernels::kTileActRows, k);
        auto one = run_tile(fn, type, q8, w, 1, a, 1, k);
        EXPECT_EQ(one[0], full[0]) << dtype_name(type) << " " << isa_name(isa);
      }
}

TEST(MatmulKernels, ActivationQuantiserRoundsToNearest) {
  auto x = random_floats(32 * 5, 41);
  x[40] = 0.0f;
  for (int j = 64; j < 96; ++j) x[static_cast<size_t>(j)] = 0.0f;  // an all-zero block
  std::vector<BlockQ8> q(5);
  kernels::quantize_act_q8(x.data(), q.data(), 5);
  for (int b = 0; b < 5; ++b) {
    float amax = 0;
    int sum = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[static_cast<size_t>(b * 32 + j)]));
    // ggml's Q8_0: the scale in fp16, the values x * 127 / amax to nearest.
    const float d = q[static_cast<size_t>(b)].d;
    EXPECT_EQ(d, round_to_f16(amax / 127.0f));
    for (int j = 0; j < 32; ++j) {
      const int v = q[static_cast<size_t>(b)].qs[j];
      sum += v;
      EXPECT_LE(std::abs(v), 127);
      const float x_j = x[static_cast<size_t>(b * 32 + j)];
      EXPECT_LE(std::fabs(x_j * (amax > 0 ? 127.0f / amax : 0.0f) - static_cast<float>(v)), 0.5f);
      EXPECT_LE(std::fabs(x_j - d * v), 0.5f * d * 1.0001f + 127.0f * std::fabs(d - amax / 127.0f));
    }
    EXPECT_EQ(q[static_cast<size_t>(b)].sum(), sum);
    int first_half = 0;
    for (int j = 0; j < 16; ++j) first_half += q[static_cast<size_t>(b)].qs[j];
    EXPECT_EQ(q[static_cast<size_t>(b)].half_sum[0], first_half);
  }
  EXPECT_EQ(q[2].d, 0.0f);
}

// A weight of `rows` rows of k elements stored one after another in `bytes`.
Weight rows_weight(DType type, int64_t rows, int64_t k, const std::vector<uint8_t>& bytes) {
  Weight w;
  w.name = "w";
  w.type = type;
  w.rows = rows;
  w.cols = k;
  w.data = bytes.data();
  return w;
}

// The whole matmul: one row or many, one thread or three, give the same bits per output, and
// the values match a float64 product of the dequantised operands.
TEST(Matmul, EveryTypeDeterministicAcrossBatchAndThreads) {
  const int64_t rows = 37;
  ThreadPool p1(1), p3(3);
  // m = 19 takes the converting path of float activations (weight rows to F32, then the F32
  // kernel): still the same bits as one row at a time.
  for (int64_t m : {int64_t{7}, int64_t{19}})
    for (DType type : kTypes)
      for (bool q8 : modes(type)) {
        const int64_t k = lengths(type).back();
        auto wbytes = random_weights(type, rows, k, 51);
        const Weight w = rows_weight(type, rows, k, wbytes);
        ASSERT_TRUE(matmul_has_kernel(w) || active_isa() == Isa::Scalar);
        auto x = random_floats(static_cast<size_t>(m * k), 52);
        auto bias = random_floats(static_cast<size_t>(rows), 53);
        std::vector<float> many(static_cast<size_t>(m * rows)), many3(many.size()), one(static_cast<size_t>(rows));
        matmul(p1, w, x.data(), m, many.data(), bias.data(), q8 ? Numerics::Q8 : Numerics::Exact);
        matmul(p3, w, x.data(), m, many3.data(), bias.data(), q8 ? Numerics::Q8 : Numerics::Exact);
        EXPECT_EQ(many, many3) << dtype_name(type);
        for (int64_t i = 0; i < m; ++i) {
          matmul(p3, w, x.data() + i * k, 1, one.data(), bias.data(), q8 ? Numerics::Q8 : Numerics::Exact);
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(one[static_cast<size_t>(r)], many[static_cast<size_t>(i * rows + r)]) << dtype_name(type);
        }
        Acts a = make_acts(q8, m, k, 52, type);
        std::vector<float> wf(static_cast<size_t>(rows * k));
        dequantize_row(type, wbytes.data(), wf.data(), rows * k);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t r = 0; r < rows; ++r) {
            double want = bias[static_cast<size_t>(r)], mag = std::fabs(want);
            for (int64_t j = 0; j < k; ++j) {
              const double p =
                  static_cast<double>(a.deq[static_cast<size_t>(i * k + j)]) * wf[static_cast<size_t>(r * k + j)];
              want += p;
              mag += std::fabs(p);
            }
            EXPECT_NEAR(many[static_cast<size_t>(i * rows + r)], want, 2e-6 * mag) << dtype_name(type);
          }
      }
}

// Interleaved tiles (Weight::tiles): the copy holds each group of 4 rows block by block, and a
// matmul reading it gives the bits of one reading the rows in place, for one activation row and
// for several, one thread and three. On machines whose kernels cannot read tiles, packs_tiles
// says so and nothing else is checked.
TEST(Matmul, InterleavedTilesGiveTheSameBits) {
  const int64_t rows = 40;
  ThreadPool p1(1), p3(3);
  int packed_types = 0;
  for (DType type : kTypes) {
    const int64_t k = lengths(type).back();
    auto wbytes = random_weights(type, rows, k, 61);
    const Weight w = rows_weight(type, rows, k, wbytes);
    if (!packs_tiles(w)) continue;
    ++packed_types;
    const std::vector<uint8_t> tiles = pack_tiles(w);
    // Layout: block b of row 4 t + r at ((t blocks + b) 4 + r) block_bytes.
    const size_t rb = row_bytes(type, k), bb = dtype_traits(type).block_bytes, nb = rb / bb;
    ASSERT_EQ(tiles.size(), wbytes.size());
    for (int64_t row : {int64_t{0}, int64_t{5}, rows - 1})
      for (size_t b : {size_t{0}, nb - 1}) {
        const size_t t = static_cast<size_t>(row / 4), r = static_cast<size_t>(row % 4);
        EXPECT_EQ(0, std::memcmp(tiles.data() + ((t * nb + b) * 4 + r) * bb,
                                 wbytes.data() + static_cast<size_t>(row) * rb + b * bb, bb))
            << dtype_name(type) << " row " << row << " block " << b;
      }
    Weight wt = w;
    wt.tiles = tiles.data();
    for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{19}}) {
      auto x = random_floats(static_cast<size_t>(m * k), 62);
      std::vector<float> plain(static_cast<size_t>(m * rows)), tiled(plain.size()), tiled3(plain.size());
      matmul(p1, w, x.data(), m, plain.data(), nullptr);
      matmul(p1, wt, x.data(), m, tiled.data(), nullptr);
      matmul(p3, wt, x.data(), m, tiled3.data(), nullptr);
      EXPECT_EQ(plain, tiled) << dtype_name(type) << " m " << m;
      EXPECT_EQ(plain, tiled3) << dtype_name(type) << " m " << m;
    }
  }
  if (active_isa() == Isa::Avx512) {
    EXPECT_EQ(packed_types, 5);  // Q8_0, Q4_0, Q4_K, Q5_K, Q6_K
  }
}

// VNNI panels (Weight::panels): the layout byte for byte, and a matmul with q8 activations reading
// them gives, for one activation row or many (more than one kernel call), one thread or three,
// exactly the bits of the scalar q8 kernel on the rows in place plus the bias. Random quant bytes
// include Q8_0's -128. On machines without AVX-512 VNNI, packs_panels says so and nothing else
// is checked.
TEST(Matmul, PanelsGiveTheScalarTwinsBits) {
  const int64_t rows = 48;
  ThreadPool p1(1), p3(3);
  for (Isa tier : test::vector_tiers()) {
    if (!test::panel_tier(tier)) continue;  // NEON: q8 tiles (Int8TilesGiveTheScalarTwinsBits)
    SCOPED_TRACE(isa_name(tier));
    const test::IsaScope scope(tier);
    int packed_types = 0;
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K})
      for (int64_t k : lengths(type)) {
        auto wbytes = random_weights(type, rows, k, 71);
        const Weight w = rows_weight(type, rows, k, wbytes);
        if (!packs_panels(w)) continue;
        ++packed_types;
        const std::vector<uint8_t> panels = pack_panels(w);
        ASSERT_EQ(panels.size(), wbytes.size());
        // Block b of panel p: 16 fp16 d, then vector j, row r, byte t = quant byte 4 j + t. Q4_K:
        // 16 d, 16 dmin, the 12 scale bytes so transposed, then the 128 quant bytes.
        const size_t rb = row_bytes(type, k), bb = dtype_traits(type).block_bytes, nb = rb / bb;
        const size_t pbb = kernels::panel_block_bytes(type);
        ASSERT_EQ(pbb * nb, rb * 16);
        const bool k4 = type == DType::Q4_K || type == DType::Q5_K;
        const uint8_t flip = type == DType::Q8_0 ? 0x80 : 0;
        for (int64_t row : {int64_t{0}, int64_t{21}, rows - 1})
          for (size_t b : {size_t{0}, nb - 1}) {
            const uint8_t* blk = wbytes.data() + static_cast<size_t>(row) * rb + b * bb;
            const uint8_t* pb = panels.data() + static_cast<size_t>(row / 16) * 16 * rb + b * pbb;
            const size_t r = static_cast<size_t>(row % 16);
            const size_t d_at = type == DType::Q6_K ? 208 : 0;  // Q6_K's d comes last
            EXPECT_EQ(pb[2 * r], blk[d_at]);
            EXPECT_EQ(pb[2 * r + 1], blk[d_at + 1]);
            // (source offset in the block, panel offset of its 4-byte groups, bytes)
            std::vector<std::array<size_t, 3>> runs = {{2, 32, bb - 2}};
            if (k4) {
              EXPECT_EQ(pb[32 + 2 * r], blk[2]);
              EXPECT_EQ(pb[32 + 2 * r + 1], blk[3]);
              runs = {{4, 64, 12}, {16, 256, 128}};
              if (type == DType::Q5_K) runs = {{4, 64, 12}, {16, 256, 32}, {48, 768, 128}};  // scales, qh, qs
            }
            if (type == DType::Q6_K) runs = {{192, 32, 16}, {0, 288, 128}, {128, 2336, 64}};  // scales, ql, qh
            for (const auto& [src, dst, n] : runs)
              for (size_t q = 0; q < n; ++q)
                ASSERT_EQ(pb[dst + 64 * (q / 4) + 4 * r + q % 4], static_cast<uint8_t>(blk[src + q] ^ flip))
                    << dtype_name(type) << " row " << row << " block " << b << " byte " << src + q;
          }
        Weight wp = w;
        wp.panels = panels.data();
        const auto scalar = kernels::tile_kernel(type, Isa::Scalar, true);
        for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{19}, int64_t{70}}) {
          auto x = random_floats(static_cast<size_t>(m * k), 72);
          x[5] = 0.0f;
          auto bias = random_floats(static_cast<size_t>(rows), 73);
          std::vector<BlockQ8> q(static_cast<size_t>(m * k / 32));
          test::quantize_acts_for(type, x.data(), q.data(), m * k);
          std::vector<float> want(static_cast<size_t>(m * rows));
          for (int64_t i = 0; i < m; ++i)
            for (int64_t r = 0; r < rows; ++r) {
              Tile t{};
              t.w[0] = wbytes.data() + rb * static_cast<size_t>(r);
              t.nr = 1;
              t.x = q.data() + i * (k / 32);
              t.x_stride = 0;
              t.nm = 1;
              t.k = k;
              t.y = &want[static_cast<size_t>(i * rows + r)];
              t.y_stride = 1;
              scalar(t);
              want[static_cast<size_t>(i * rows + r)] += bias[static_cast<size_t>(r)];
            }
          std::vector<float> got(want.size()), got3(want.size());
          matmul(p1, wp, x.data(), m, got.data(), bias.data(), Numerics::Q8);
          matmul(p3, wp, x.data(), m, got3.data(), bias.data(), Numerics::Q8);
          EXPECT_EQ(got, want) << dtype_name(type) << " k " << k << " m " << m;
          EXPECT_EQ(got3, want) << dtype_name(type) << " k " << k << " m " << m;
        }
      }
    EXPECT_EQ(packed_types, 12);  // Q8_0 and Q4_0 at 3 lengths, Q4_K, Q5_K and Q6_K at 2
  }
}

// The AVX-512, AVX2 and NEON activation quantisers write the scalar one's bytes, scales and sums, on
// ties of the rounding (halves to even, as ggml's x86 builds), zeros, huge and tiny values,
// infinities and NaNs.
TEST(MatmulKernels, VectorQuantiserMatchesScalar) {
  if (test::vector_tiers().empty()) GTEST_SKIP() << "no vector tier";
  const int64_t n_blocks = 12;
  auto x = random_floats(static_cast<size_t>(32 * n_blocks), 81);
  // Block 0: amax 127, so the quotients are the values: halves both ways, and their neighbours.
  const float ties[] = {127.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -126.5f, 0.49999997f, -0.49999997f, 0.50000006f};
  for (size_t j = 0; j < std::size(ties); ++j) x[j] = ties[j];
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(32 + j)] = 0.0f;      // block 1 all zero
  x[64] = INFINITY;                                                        // block 2: an infinity
  x[96 + 3] = NAN;                                                         // block 3: a NaN
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(128 + j)] = NAN;      // block 4 all NaN
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(160 + j)] *= 1e-40f;  // block 5 subnormal
  x[192 + 7] = -3e38f;                                                     // block 6 huge
  x[224 + 31] = -INFINITY;
  std::vector<BlockQ8> a(static_cast<size_t>(n_blocks)), b(a.size());
  kernels::quantize_act_q8_scalar(x.data(), a.data(), n_blocks);
  for (Isa tier : test::vector_tiers()) {
    SCOPED_TRACE(isa_name(tier));
    const auto quantise = tier == Isa::Avx512                          ? kernels::quantize_act_q8_avx512
                          : tier == Isa::Avx2 || tier == Isa::Avx2Vnni ? kernels::quantize_act_q8_avx2
                                                                       : kernels::quantize_act_q8_neon;
    quantise(x.data(), b.data(), n_blocks);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(std::memcmp(&a[i].d, &b[i].d, sizeof(float)), 0) << "block " << i << ": " << a[i].d << " " << b[i].d;
      EXPECT_EQ(a[i].half_sum[0], b[i].half_sum[0]) << "block " << i;
      EXPECT_EQ(a[i].half_sum[1], b[i].half_sum[1]) << "block " << i;
      for (int j = 0; j < 32; ++j) EXPECT_EQ(a[i].qs[j], b[i].qs[j]) << "block " << i << " element " << j;
    }
  }
  EXPECT_EQ(a[0].qs[1], 0);  // 0.5 -> 0 (to even)
  EXPECT_EQ(a[0].qs[2], 0);
  EXPECT_EQ(a[0].qs[3], 2);  // 1.5 -> 2
  EXPECT_EQ(a[0].qs[5], 2);  // 2.5 -> 2
  EXPECT_EQ(a[0].qs[7], 0);  // 0.49999997 -> 0
  EXPECT_EQ(a[0].qs[9], 1);  // 0.50000006 -> 1
  EXPECT_EQ(a[4].sum(), 0);  // NaNs quantise to 0
  // ... but a block with a NaN has a NaN scale, and one with an infinity an infinite one, so
  // that no product with it is finite.
  EXPECT_TRUE(std::isnan(a[3].d));
  EXPECT_TRUE(std::isnan(a[4].d));
  EXPECT_TRUE(std::isinf(a[2].d));
  EXPECT_TRUE(std::isinf(a[7].d));
  // A finite block past fp16's range (amax / 127 > 65504) gets an infinite scale, as in llama.cpp.
  EXPECT_TRUE(std::isinf(a[6].d));
  EXPECT_TRUE(std::isfinite(a[5].d));
}

// Non-finite activations stay non-finite through every matmul route of every tier, exact and
// with q8 activations: a NaN (or an infinity) in one element of an activation row makes that
// row's outputs NaN (or non-finite), never a finite number; the other rows stay finite.
TEST(Matmul, NonFiniteActivationsPropagate) {
  const int64_t rows = 32, k = 256, m = 20;  // 20 rows: the prompt route too
  ThreadPool pool(2);
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K,
                     DType::Q6_K, DType::IQ4_XS})
    for (bool q8 : {false, true})
      for (Isa tier : kIsas) {
        if (!cpu_supports(tier)) continue;
        const test::IsaScope scope(tier);
        std::vector<uint8_t> wbytes;
        if (type == DType::IQ4_XS) {  // random_weights keeps scales finite only for the older formats
          const auto f = random_floats(static_cast<size_t>(rows * k), 5);
          wbytes.resize(row_bytes(type, k) * static_cast<size_t>(rows));
          quantize_row(type, f.data(), wbytes.data(), rows * k);
        } else {
          wbytes = random_weights(type, rows, k, 5);
        }
        Weight w = rows_weight(type, rows, k, wbytes);
        std::vector<uint8_t> panels;
        if (q8 && packs_panels(w)) {
          panels = pack_panels(w);
          w.panels = panels.data();
        }
        for (const float bad : {NAN, INFINITY, -INFINITY}) {
          auto x = random_floats(static_cast<size_t>(m * k), 6);
          x[static_cast<size_t>(1 * k + 37)] = bad;   // row 1
          x[static_cast<size_t>(4 * k + 200)] = bad;  // row 4
          std::vector<float> y(static_cast<size_t>(m * rows));
          for (const int64_t n : {m, int64_t{1}}) {
            for (int64_t i = 0; i < m; i += n)
              matmul(pool, w, x.data() + i * k, n, y.data() + i * rows, nullptr, q8 ? Numerics::Q8 : Numerics::Exact);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t r = 0; r < rows; ++r) {
                const float v = y[static_cast<size_t>(i * rows + r)];
                const bool hit = i == 1 || i == 4;
                EXPECT_EQ(std::isfinite(v), !hit) << dtype_name(type) << " " << isa_name(tier) << " q8=" << q8
                                                  << " bad=" << bad << " n=" << n << " row " << i << " out " << r;
                if (hit && std::isnan(bad)) {
                  EXPECT_TRUE(std::isnan(v)) << dtype_name(type) << " " << isa_name(tier);
                }
              }
          }
        }
      }
}

}  // namespace
}  // namespace loupe
