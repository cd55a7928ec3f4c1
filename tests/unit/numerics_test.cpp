// llama.cpp numerics (tensor/numerics.h): for every weight type loupe can write, matmul's product
// equals llama.cpp's arithmetic computed apart (tests/llamacpp_reference.h: the activations in the
// type's vec_dot type, the sum in double), on every instruction-set tier this CPU runs, for one
// activation row and several, on one thread and three, from panels where the weight has them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "engine/rope.h"
#include "formats/gguf.h"
#include "llamacpp_reference.h"
#include "model/config.h"
#include "tensor/ggml_dot.h"
#include "tensor/half.h"
#include "tensor/kernels.h"
#include "tensor/kernels_matmul.h"
#include "tensor/matmul.h"
#include "test_support.h"

namespace loupe {
namespace {

std::vector<float> normal_floats(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The scalar tier and every vector tier this CPU runs.
std::vector<Isa> every_tier() {
  std::vector<Isa> tiers = test::vector_tiers();
  tiers.insert(tiers.begin(), Isa::Scalar);
  return tiers;
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

// The min of each 32-element block of a Q4_1 / Q5_1 row (both blocks start fp16 d, fp16 m).
std::vector<float> block_mins(DType type, const uint8_t* row, int64_t k) {
  std::vector<float> mins;
  if (type != DType::Q4_1 && type != DType::Q5_1) return mins;
  const size_t bb = dtype_traits(type).block_bytes;
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t* p = row + bb * static_cast<size_t>(b) + 2;
    mins.push_back(f16_to_f32(static_cast<uint16_t>(p[0] | p[1] << 8)));
  }
  return mins;
}

TEST(Numerics, Names) {
  EXPECT_EQ(numerics_from_name("exact"), Numerics::Exact);
  EXPECT_EQ(numerics_from_name("llama.cpp"), Numerics::LlamaCpp);
  EXPECT_FALSE(numerics_from_name("llama").has_value());
  EXPECT_STREQ(numerics_name(Numerics::LlamaCpp), "llama.cpp");
  EXPECT_EQ(vec_dot_format(DType::Q4_1), ActFormat::Q8_1);
  EXPECT_EQ(vec_dot_format(DType::IQ4_XS), ActFormat::Q8_K);
  EXPECT_EQ(vec_dot_format(DType::IQ4_NL), ActFormat::Q8_0);
  EXPECT_EQ(vec_dot_format(DType::MXFP4), ActFormat::Q8_0);
  EXPECT_EQ(vec_dot_format(DType::BF16), ActFormat::BF16);
}

TEST(Numerics, EveryTypeMatchesGgmlArithmetic) {
  const int64_t rows = 48, k = 512;
  ThreadPool p1(1), p3(3);
  const std::vector<Isa> tiers = every_tier();
  int checked = 0;
  for (Isa tier : tiers) {
    test::IsaScope scope(tier);
    for (int t = 0; t <= static_cast<int>(DType::MXFP4); ++t) {
      const auto type = static_cast<DType>(t);
      if (!can_quantize(type)) continue;
      SCOPED_TRACE(std::string(dtype_name(type)) + " " + isa_name(tier));
      auto wf = normal_floats(static_cast<size_t>(rows * k), 11, 0.05f);
      std::vector<uint8_t> wbytes(row_bytes(type, k) * static_cast<size_t>(rows));
      quantize_row(type, wf.data(), wbytes.data(), rows * k);
      dequantize_row(type, wbytes.data(), wf.data(), rows * k);
      Weight w = rows_weight(type, rows, k, wbytes);
      std::vector<uint8_t> panels;
      if (packs_panels(w)) {
        panels = pack_panels(w);
        w.panels = panels.data();
      }
      const int64_t m = 5;
      auto x = normal_floats(static_cast<size_t>(m * k), 12);
      x[3] = 0.0f;
      for (int j = 32; j < 64; ++j) x[static_cast<size_t>(j)] = 0.0f;  // an all-zero block
      x[100] = 7.5f;                                                   // an outlier
      std::vector<float> many(static_cast<size_t>(m * rows)), many3(many.size()), one(static_cast<size_t>(rows));
      matmul(p1, w, x.data(), m, many.data(), nullptr, Numerics::LlamaCpp);
      matmul(p3, w, x.data(), m, many3.data(), nullptr, Numerics::LlamaCpp);
      EXPECT_EQ(many, many3);
      for (int64_t i = 0; i < m; ++i) {
        matmul(p3, w, x.data() + i * k, 1, one.data(), nullptr, Numerics::LlamaCpp);
        const test::GgmlActs a = test::ggml_acts(type, x.data() + i * k, k);
        for (int64_t r = 0; r < rows; ++r) {
          const float got = many[static_cast<size_t>(i * rows + r)];
          ASSERT_EQ(one[static_cast<size_t>(r)], got) << "row " << i << " out " << r;
          double mag = 0;
          const auto mins = block_mins(type, wbytes.data() + row_bytes(type, k) * static_cast<size_t>(r), k);
          const double want = test::ggml_dot(wf.data() + r * k, a, mins, mag);
          ASSERT_NEAR(got, want, 1e-6 * mag + 1e-7) << "row " << i << " out " << r;
        }
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 16);
}

// Q4_0, IQ4_NL and MXFP4 keep loupe's int8 panels in llama.cpp numerics where the weight has them
// (else ggml's order): either way ggml_dot's bits, on every tier, for one row and several.
TEST(Numerics, Int8KernelsGiveGgmlBitsForRepackedFormats) {
  const int64_t rows = 32, k = 512;
  ThreadPool pool(2);
  const std::vector<Isa> tiers = every_tier();
  for (Isa tier : tiers) {
    test::IsaScope scope(tier);
    for (DType type : {DType::Q4_0, DType::IQ4_NL, DType::MXFP4}) {
      if (!can_quantize(type)) continue;
      SCOPED_TRACE(std::string(dtype_name(type)) + " " + isa_name(tier));
      auto wf = normal_floats(static_cast<size_t>(rows * k), 41, 0.05f);
      std::vector<uint8_t> wbytes(row_bytes(type, k) * static_cast<size_t>(rows));
      quantize_row(type, wf.data(), wbytes.data(), rows * k);
      Weight w = rows_weight(type, rows, k, wbytes);
      for (bool panels : {false, true}) {
        std::vector<uint8_t> copy;
        if (panels) {
          if (!packs_panels(w)) continue;
          copy = pack_panels(w);
          w.panels = copy.data();
        }
        EXPECT_EQ(matmul_in_ggml_order(w, Numerics::LlamaCpp), !panels);
        for (int64_t m : {int64_t{1}, int64_t{6}}) {
          auto x = normal_floats(static_cast<size_t>(m * k), 42 + static_cast<uint32_t>(m));
          std::vector<float> y(static_cast<size_t>(m * rows));
          matmul(pool, w, x.data(), m, y.data(), nullptr, Numerics::LlamaCpp);
          for (int64_t i = 0; i < m; ++i) {
            ggml::Acts a;
            ggml::convert(vec_dot_format(type), x.data() + i * k, k, a);
            for (int64_t r = 0; r < rows; ++r)
              ASSERT_EQ(y[static_cast<size_t>(i * rows + r)],
                        ggml::dot(type, wbytes.data() + row_bytes(type, k) * static_cast<size_t>(r), a))
                  << "panels " << panels << " m " << m << " row " << i << " out " << r;
          }
        }
        w.panels = nullptr;
      }
    }
  }
}

// ggml_vec_dot_f32's order written out: four accumulators of 8 lanes over steps of 32, reduced
// (0 + 2) + (1 + 3), halves added, two horizontal adds; the rest one fma at a time (or, padded,
// nothing: mix_f32's view).
float ggml_dot_f32_model(const float* x, const float* y, int64_t n, bool padded) {
  float acc[32] = {};
  const int64_t np = padded ? n : n - n % 32;
  for (int64_t e = 0; e < np; ++e) acc[e % 32] = std::fma(x[e], y[e], acc[e % 32]);
  float v[8], h[4];
  for (int l = 0; l < 8; ++l) v[l] = (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]);
  for (int l = 0; l < 4; ++l) h[l] = v[l] + v[l + 4];
  float s = (h[0] + h[1]) + (h[2] + h[3]);
  for (int64_t e = np; e < n; ++e) s = std::fma(x[e], y[e], s);
  return s;
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The vector route of llama.cpp numerics (ggml::dot_rows, dot_f32, mix_f32) gives the scalar
// reference's bits on every tier: every type with ggml's order, both repacked orders, one
// activation row and several, with and without a bias; the attention products at lengths that are
// and are not multiples of 32.
TEST(Numerics, VectorRowsGiveTheScalarBits) {
  const std::vector<Isa> tiers = every_tier();
  int checked = 0;
  for (Isa tier : tiers) {
    test::IsaScope scope(tier);
    for (int t = 0; t <= static_cast<int>(DType::MXFP4); ++t) {
      const auto type = static_cast<DType>(t);
      if (!ggml::has_dot(type) || !can_quantize(type)) continue;
      const int64_t block = dtype_traits(type).block_elems;
      for (int64_t k : {int64_t{512}, int64_t{1000}}) {
        if (k % block != 0) continue;
        SCOPED_TRACE(std::string(dtype_name(type)) + " " + isa_name(tier) + " k " + std::to_string(k));
        const int64_t rows = 6, m = 3;
        auto wf = normal_floats(static_cast<size_t>(rows * k), 61 + static_cast<uint32_t>(t), 0.05f);
        wf[7] = 3.0f;  // an outlier block
        std::vector<uint8_t> wbytes(row_bytes(type, k) * static_cast<size_t>(rows));
        quantize_row(type, wf.data(), wbytes.data(), rows * k);
        auto x = normal_floats(static_cast<size_t>(m * k), 62);
        for (int j = 0; j < 32; ++j) x[static_cast<size_t>(k + j)] = 0.0f;  // a zero block
        x[5] = -40.0f;
        std::vector<ggml::Acts> acts(static_cast<size_t>(m));
        for (int64_t i = 0; i < m; ++i)
          ggml::convert(vec_dot_format(type), x.data() + i * k, k, acts[static_cast<size_t>(i)]);
        const float bias = 0.25f;
        for (bool repacked : {true, false})
          for (const float* b : {static_cast<const float*>(nullptr), &bias})
            for (int64_t r = 0; r < rows; ++r) {
              const uint8_t* row = wbytes.data() + row_bytes(type, k) * static_cast<size_t>(r);
              float y[3];
              ggml::dot_rows(type, row, acts.data(), m, y, 1, repacked, b);
              for (int64_t i = 0; i < m; ++i) {
                float want = ggml::dot(type, row, acts[static_cast<size_t>(i)], repacked);
                if (b != nullptr) want += *b;
                ASSERT_TRUE(same_bits(y[i], want)) << y[i] << " vs " << want << " row " << r << " act " << i;
              }
            }
        ++checked;
      }
    }
    for (int64_t n : {int64_t{1}, int64_t{31}, int64_t{32}, int64_t{77}, int64_t{300}}) {
      auto a = normal_floats(static_cast<size_t>(n), 63);
      auto v = normal_floats(static_cast<size_t>(n * 70), 64);
      ASSERT_TRUE(same_bits(ggml::dot_f32(a.data(), v.data(), n), ggml_dot_f32_model(a.data(), v.data(), n, false)));
      for (int64_t d : {int64_t{64}, int64_t{13}}) {
        std::vector<float> z(static_cast<size_t>(d)), col(static_cast<size_t>(n));
        ggml::mix_f32(a.data(), n, v.data(), 70, d, z.data());
        for (int64_t c = 0; c < d; ++c) {
          for (int64_t e = 0; e < n; ++e) col[static_cast<size_t>(e)] = v[static_cast<size_t>(e * 70 + c)];
          ASSERT_TRUE(same_bits(z[static_cast<size_t>(c)], ggml_dot_f32_model(col.data(), a.data(), n, true)))
              << "n " << n << " d " << d << " column " << c << " " << isa_name(tier);
        }
      }
    }
  }
  EXPECT_GE(checked, 16);
}

// The grid i-quants, TQ1_0 / TQ2_0 and the matrices of IQ4_NL / MXFP4 ggml does not repack, on
// real blocks (../shared/reference/quants: llama.cpp's quantiser, 32 rows of 1024): every tier
// gives the portable reference's bits, and that reference is the product of the exactly
// dequantised weights with the converted activations, summed in double, to float rounding (a
// decoding slip would be far off). Their order is ggml's own: checked bit for bit against the
// prebuilt ggml (bench/llamacpp/check_dots.py), which tests cannot load.
TEST(Numerics, GridTypesFollowGgmlOnRealBlocks) {
  const DType types[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S, DType::IQ1_S,
                         DType::IQ1_M,   DType::TQ1_0,  DType::TQ2_0, DType::IQ4_NL,  DType::MXFP4, DType::IQ4_XS};
  const int64_t k = 1024, rows = 32;
  int checked = 0;
  for (DType type : types) {
    const std::string name(dtype_name(type));
    const std::string path = test::shared("reference/quants/" + name + ".gguf");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found";
    const GgufFile g = GgufFile::open(path);
    const GgufTensorInfo* t = g.find_tensor("weight");
    ASSERT_NE(t, nullptr) << name;
    const std::vector<float> wf = test::read_f32(test::shared("reference/quants/" + name + ".f32"));
    auto x = normal_floats(static_cast<size_t>(2 * k), 71);
    x[k + 9] = 25.0f;
    std::vector<ggml::Acts> acts(2);
    for (int i = 0; i < 2; ++i) ggml::convert(vec_dot_format(type), x.data() + i * k, k, acts[static_cast<size_t>(i)]);
    for (bool repacked : {true, false})
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = t->data + row_bytes(type, k) * static_cast<size_t>(r);
        float want[2];
        for (int i = 0; i < 2; ++i) {
          const ggml::Acts& a = acts[static_cast<size_t>(i)];
          want[i] = ggml::dot(type, row, a, repacked);
          double exact = 0.0, mag = 0.0;
          for (int64_t e = 0; e < k; ++e) {
            const kernels::BlockQ8& b = a.q[static_cast<size_t>(e / 32)];
            const double v = static_cast<double>(wf[static_cast<size_t>(r * k + e)]) * b.d * b.qs[e % 32];
            exact += v;
            mag += std::fabs(v);
          }
          ASSERT_NEAR(want[i], exact, 2e-6 * mag + 1e-6) << name << " row " << r << " act " << i;
        }
        for (Isa tier : every_tier()) {
          test::IsaScope scope(tier);
          float got[2];
          ggml::dot_rows(type, row, acts.data(), 2, got, 1, repacked);
          for (int i = 0; i < 2; ++i)
            ASSERT_TRUE(same_bits(got[i], want[i])) << name << " " << isa_name(tier) << " row " << r << " act " << i;
        }
      }
    ++checked;
  }
  EXPECT_EQ(checked, 12);
}

// ggml repacks Q4_0 / Q4_K matrices 8 rows at a time unless the row count is not a multiple of 8
// (a tied unembedding too: llama.cpp's output copy of it): the products follow its gemv or its
// vec_dot.
TEST(Numerics, RepackedOrNotAsGgml) {
  const int64_t k = 512;
  ThreadPool pool(1);
  for (DType type : {DType::Q4_0, DType::Q4_K})
    for (int64_t rows : {16, 12}) {
      SCOPED_TRACE(std::string(dtype_name(type)) + " rows " + std::to_string(rows));
      auto wf = normal_floats(static_cast<size_t>(rows * k), 51, 0.05f);
      std::vector<uint8_t> wbytes(row_bytes(type, k) * static_cast<size_t>(rows));
      quantize_row(type, wf.data(), wbytes.data(), rows * k);
      Weight w = rows_weight(type, rows, k, wbytes);
      auto x = normal_floats(static_cast<size_t>(k), 52);
      std::vector<float> y(static_cast<size_t>(rows));
      matmul(pool, w, x.data(), 1, y.data(), nullptr, Numerics::LlamaCpp);
      ggml::Acts a;
      ggml::convert(vec_dot_format(type), x.data(), k, a);
      const bool repacked = rows % 8 == 0;
      int differ = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = wbytes.data() + row_bytes(type, k) * static_cast<size_t>(r);
        ASSERT_EQ(y[static_cast<size_t>(r)], ggml::dot(type, row, a, repacked)) << "out " << r;
        differ += ggml::dot(type, row, a, true) != ggml::dot(type, row, a, false) ? 1 : 0;
      }
      EXPECT_GT(differ, 0) << "the two orders should differ somewhere";
    }
}

// The activations really are converted: exact and llama.cpp products differ for every type (F32
// only in its order of additions), and both are close.
TEST(Numerics, DiffersFromExactWhereGgmlRounds) {
  const int64_t rows = 16, k = 256;
  ThreadPool pool(1);
  for (int t = 0; t <= static_cast<int>(DType::MXFP4); ++t) {
    const auto type = static_cast<DType>(t);
    if (!can_quantize(type)) continue;
    auto wf = normal_floats(static_cast<size_t>(rows * k), 21, 0.05f);
    std::vector<uint8_t> wbytes(row_bytes(type, k) * static_cast<size_t>(rows));
    quantize_row(type, wf.data(), wbytes.data(), rows * k);
    const Weight w = rows_weight(type, rows, k, wbytes);
    auto x = normal_floats(static_cast<size_t>(k), 22);
    std::vector<float> exact(static_cast<size_t>(rows)), ggml(exact.size());
    matmul(pool, w, x.data(), 1, exact.data(), nullptr, Numerics::Exact);
    matmul(pool, w, x.data(), 1, ggml.data(), nullptr, Numerics::LlamaCpp);
    if (type != DType::F32) {
      EXPECT_NE(exact, ggml) << dtype_name(type);
    }
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_NEAR(exact[r], ggml[r], 0.05 * (std::fabs(exact[r]) + 1)) << dtype_name(type);
  }
}

// ggml's Q8_K: the value of largest magnitude (its sign kept) becomes -127, the scale is float.
TEST(Numerics, Q8KQuantiser) {
  std::vector<float> x = normal_floats(512, 31);
  x[17] = 3.0f;    // block 0's largest magnitude, positive
  x[300] = -4.0f;  // block 1's, negative
  std::vector<kernels::BlockQ8> q(16);
  kernels::quantize_act_q8_k(x.data(), q.data(), 2);
  EXPECT_EQ(q[0].qs[17], -127);
  EXPECT_FLOAT_EQ(q[0].d, -3.0f / 127.0f);
  EXPECT_EQ(q[9].qs[300 - 288], -127);  // negative: the scale is positive
  EXPECT_FLOAT_EQ(q[8].d, 4.0f / 127.0f);
  for (int b = 0; b < 16; ++b) {
    EXPECT_EQ(q[b].d, q[b / 8 * 8].d);
    int h0 = 0, h1 = 0;
    for (int j = 0; j < 16; ++j) h0 += q[b].qs[j], h1 += q[b].qs[16 + j];
    EXPECT_EQ(q[b].half_sum[0], h0);
    EXPECT_EQ(q[b].half_sum[1], h1);
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(x[32 * b + j] - q[b].d * q[b].qs[j]), 0.5001f * std::fabs(q[b].d));
  }
  std::vector<float> zero(256, 0.0f), bad(256, 1.0f);
  bad[9] = NAN;
  kernels::quantize_act_q8_k(zero.data(), q.data(), 1);
  EXPECT_EQ(q[0].d, 0.0f);
  kernels::quantize_act_q8_k(bad.data(), q.data(), 1);
  EXPECT_TRUE(std::isnan(q[0].d));
  EXPECT_TRUE(std::isnan(q[7].d));
}

// ggml's GELU: its fp16 table (in its order of float operations), 0 below -10, identity above 10.
// ggml's RoPE table under YaRN and linear scaling means what the exact table means (the ramp
// between interpolation and extrapolation, the magnitude factor) to float rounding; and ggml's
// LayerNorm statistics are the row's mean and root of the variance to float rounding.
TEST(Numerics, RopeScalingAndLayerNormMeanTheModel) {
  ModelConfig c;
  c.d_model = 256;
  c.n_heads = 4;
  c.d_head = 64;
  c.rope_theta = 10000.0f;
  c.rope_factor = 4.0f;
  c.rope_original_ctx = 32;
  const int64_t n_pos = 100, half = c.n_rot() / 2;
  for (RopeScaling scaling : {RopeScaling::Yarn, RopeScaling::Linear}) {
    c.rope_scaling = scaling;
    ggml::RopeYarn yarn;
    if (scaling == RopeScaling::Yarn) {
      yarn.ext_factor = 1.0f;
      ggml::rope_yarn_corr_dims(c.n_rot(), c.rope_original_ctx, c.rope_theta, c.yarn_beta_fast, c.yarn_beta_slow,
                                yarn.corr_lo, yarn.corr_hi);
      EXPECT_LT(yarn.corr_lo, yarn.corr_hi);
    }
    std::vector<float> cs(static_cast<size_t>(n_pos * half)), sn(cs.size());
    ggml::rope_table(n_pos, c.n_rot(), c.rope_theta, nullptr, 1.0f / c.rope_factor, cs.data(), sn.data(), yarn);
    const std::vector<double> f = rope_frequencies(c, nullptr);
    const double m = rope_magnitude(c);
    for (int64_t p = 0; p < n_pos; ++p)
      for (int64_t i = 0; i < half; ++i) {
        const double a = static_cast<double>(p) * f[static_cast<size_t>(i)];
        // float angles: p theta_scale^i carries ~1e-7 relative error per multiplication
        const double tol = 2e-6 * (1.0 + a);
        ASSERT_NEAR(cs[static_cast<size_t>(p * half + i)], m * std::cos(a), tol) << p << " " << i;
        ASSERT_NEAR(sn[static_cast<size_t>(p * half + i)], m * std::sin(a), tol) << p << " " << i;
      }
  }
  auto x = normal_floats(771, 81, 3.0f);
  for (float& v : x) v += 5.0f;
  double mean = 0.0, var = 0.0;
  for (float v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (float v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  const float gm = ggml::layer_norm_mean(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_NEAR(gm, mean, 1e-6 * std::fabs(mean));
  EXPECT_NEAR(ggml::layer_norm_root(x.data(), static_cast<int64_t>(x.size()), gm, 1e-5f), std::sqrt(var + 1e-5),
              1e-6 * std::sqrt(var));
}

TEST(Numerics, GeluTable) {
  // -1.9990234 (fp16 0xbfff): the one entry where ggml's fused 1 + A x x gives another fp16 value
  // (-0.0455, ggml's table) than the unfused expression (-0.04547).
  const float xs[] = {-12.0f, -10.0f, -3.3f, -1.9990234f, -0.7f, -1e-3f, 0.0f,
                      1e-3f,  0.5f,   1.25f, 4.0f,        9.99f, 10.0f,  30.0f};
  for (float x : xs) {
    float y = 0, yu = 0;
    const float u = 1.5f;
    gelu_mul_f32_ggml(&x, nullptr, &y, 1);
    gelu_mul_f32_ggml(&x, &u, &yu, 1);
    float want;
    if (x <= -10.0f) {
      want = 0.0f;
    } else if (x >= 10.0f) {
      want = x;
    } else {
      const float h = round_to_f16(x);
      want = round_to_f16(
          0.5f * h * (1.0f + std::tanh(0.79788456080286535587989211986876f * h * std::fma(0.044715f * h, h, 1.0f))));
    }
    EXPECT_EQ(y, want) << x;
    EXPECT_EQ(yu, want * u) << x;
    // Within fp16 precision of the exact GELU.
    const double g = 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    EXPECT_NEAR(y, g, 2e-3 * std::fabs(x) + 1e-6) << x;
  }
  float odd = -1.9990234f, y = 0;
  gelu_mul_f32_ggml(&odd, nullptr, &y, 1);
  EXPECT_EQ(y, round_to_f16(-0.0455f));
  float nan = NAN;
  gelu_mul_f32_ggml(&nan, nullptr, &y, 1);
  EXPECT_TRUE(std::isnan(y));
}

}  // namespace
}  // namespace loupe
