// The scalar tile kernels (always built; the reference the SIMD kernels are tested against),
// the activation quantiser and the dispatch of tile kernels by type and instruction set.
#include <algorithm>
#include <cmath>

#include "tensor/half.h"
#include "tensor/kernels_matmul.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"
#include "tensor/quant_round.h"

namespace loupe::kernels {

void quantize_act_q8(const float* x, BlockQ8* y, int64_t n_blocks) {
  switch (active_isa()) {
    case Isa::Avx512: quantize_act_q8_avx512(x, y, n_blocks); break;
    case Isa::Avx2:
    case Isa::Avx2Vnni: quantize_act_q8_avx2(x, y, n_blocks); break;
    case Isa::Neon:
    case Isa::NeonDot:
    case Isa::NeonI8mm: quantize_act_q8_neon(x, y, n_blocks); break;
    case Isa::Scalar: quantize_act_q8_scalar(x, y, n_blocks); break;
  }
}

void quantize_act_q8_scalar(const float* x, BlockQ8* y, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* xb = x + b * 32;
    float amax = 0.0f;
    bool nan = false;
    for (int j = 0; j < 32; ++j) {
      amax = std::fmax(amax, std::fabs(xb[j]));
      nan = nan || std::isnan(xb[j]);
    }
    // ggml's Q8_0 as its x86 builds write it: the scale amax / 127 stored in fp16 (so past
    // 65504 * 127 it is infinite, as in llama.cpp), the values multiplied by 127 / amax.
    // A NaN anywhere in the block makes its scale NaN, so every product with the block is NaN
    // (the float product's answer); an infinity makes it inf, and inf times the integer sum
    // (0: every byte is 0 then) is NaN as well. Nothing non-finite turns into a finite number.
    const float d = nan ? NAN : round_to_f16(amax / 127.0f);
    const float id = nan ? NAN : (amax != 0.0f ? 127.0f / amax : 0.0f);
    int32_t sum[2] = {0, 0};
    for (int j = 0; j < 32; ++j) {
      // Non-finite inputs give id = 0 or NaN: NaN products become 0, the rest is clamped, so
      // the bytes stay defined.
      const float v = std::nearbyint(xb[j] * id);
      const int8_t q = std::isnan(v) ? 0 : static_cast<int8_t>(std::fmin(std::fmax(v, -127.0f), 127.0f));
      y[b].qs[j] = q;
      sum[j / 16] += q;
    }
    y[b].d = d;
    y[b].half_sum[0] = static_cast<int16_t>(sum[0]);
    y[b].half_sum[1] = static_cast<int16_t>(sum[1]);
  }
}

void quantize_act_q8_k(const float* x, BlockQ8* y, int64_t n_super) {
  for (int64_t s = 0; s < n_super; ++s) {
    const float* xs = x + s * 256;
    BlockQ8* out = y + s * 8;
    float amax = 0.0f, max = 0.0f;
    bool nan = false;
    for (int j = 0; j < 256; ++j) {
      const float ax = std::fabs(xs[j]);
      if (ax > amax) {  // the first element of the largest magnitude, with its sign
        amax = ax;
        max = xs[j];
      }
      nan = nan || std::isnan(xs[j]);
    }
    // Scale 1 / iscale with iscale = -127 / max; 0 for an all-zero block, NaN for one with a NaN
    // (bytes 0), +-inf for one with an infinity (iscale is then 0: finite values give byte 0).
    const float iscale = amax != 0.0f && !nan ? -127.0f / max : 0.0f;
    const float d = nan ? NAN : (amax != 0.0f ? 1.0f / iscale : 0.0f);
    for (int b = 0; b < 8; ++b) {
      int32_t sum[2] = {0, 0};
      for (int j = 0; j < 32; ++j) {
        const float v = iscale * xs[32 * b + j];
        const int8_t q = std::isnan(v) ? 0 : static_cast<int8_t>(std::clamp(quant::nearest_int(v), -128, 127));
        out[b].qs[j] = q;
        sum[j / 16] += q;
      }
      out[b].d = d;
      out[b].half_sum[0] = static_cast<int16_t>(sum[0]);
      out[b].half_sum[1] = static_cast<int16_t>(sum[1]);
    }
  }
}

bool takes_q8_activations(DType type) {
  switch (type) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
    case DType::MXFP4: return true;
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q2_K:
    case DType::Q3_K:
    // No int8 pairing for these: with --q8-act they keep float activations.
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ3_XXS:
    case DType::IQ1_S:
    case DType::IQ3_S:
    case DType::IQ2_S:
    case DType::IQ1_M:
    case DType::TQ1_0:
    case DType::TQ2_0: return false;
  }
  return false;
}

TileFn tile_kernel(DType type, Isa isa, bool q8_acts) {
  q8_acts = q8_acts && takes_q8_activations(type);
  switch (isa) {
    case Isa::Avx512: return tile_kernel_avx512(type, q8_acts);
    case Isa::Avx2:
    case Isa::Avx2Vnni: return tile_kernel_avx2(type, q8_acts);
    case Isa::Neon:
    case Isa::NeonDot:
    case Isa::NeonI8mm: return tile_kernel_neon(type, q8_acts, isa);
    case Isa::Scalar: return tile_kernel_scalar(type, q8_acts);
  }
  return nullptr;
}

bool tile_kernel_takes_step(DType type, Isa isa, bool q8_acts) {
  return isa == Isa::Avx512 && tile_kernel_takes_step_avx512(type, q8_acts && takes_q8_activations(type));
}

RowFn row_to_f32(DType type, Isa isa) {
  switch (isa) {
    case Isa::Avx512: return row_to_f32_avx512(type);
    case Isa::Avx2:
    case Isa::Avx2Vnni: return row_to_f32_avx2(type);
    case Isa::Neon:
    case Isa::NeonDot:
    case Isa::NeonI8mm: return row_to_f32_neon(type);
    case Isa::Scalar: return row_to_f32_scalar(type);
  }
  return nullptr;
}

namespace {

using namespace loupe::quant;

// Block b (32 elements) of a weight row as signed integers q, with the scale of each half
// (elements 0-15, 16-31) and a min: element j = scale[j / 16] * q[j] - min.
struct Unpacked {
  int8_t q[32];
  float scale[2];
  float min;
};

void unpack_q8_0(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
  for (int j = 0; j < 32; ++j) u.q[j] = blk->qs[j];
  u.scale[0] = u.scale[1] = half_at(blk->d);
  u.min = 0.0f;
}

void unpack_q4_0(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
  for (int j = 0; j < 16; ++j) {
    u.q[j] = static_cast<int8_t>((blk->qs[j] & 15) - 8);
    u.q[j + 16] = static_cast<int8_t>((blk->qs[j] >> 4) - 8);
  }
  u.scale[0] = u.scale[1] = half_at(blk->d);
  u.min = 0.0f;
}

// Q4_K and Q5_K: sub-block j = b % 8 of super-block b / 8.
void unpack_q4_k(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockQ4_K*>(row) + b / 8;
  const int j = static_cast<int>(b % 8);
  const uint8_t* qs = blk->qs + 32 * (j / 2);
  for (int l = 0; l < 32; ++l) u.q[l] = static_cast<int8_t>(j % 2 == 0 ? qs[l] & 15 : qs[l] >> 4);
  uint8_t sc = 0, mn = 0;
  scale_min_k4(j, blk->scales, sc, mn);
  u.scale[0] = u.scale[1] = half_at(blk->d) * static_cast<float>(sc);
  u.min = half_at(blk->dmin) * static_cast<float>(mn);
}

void unpack_q5_k(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockQ5_K*>(row) + b / 8;
  const int j = static_cast<int>(b % 8);
  const uint8_t* qs = blk->qs + 32 * (j / 2);
  for (int l = 0; l < 32; ++l) {
    const int lo = j % 2 == 0 ? qs[l] & 15 : qs[l] >> 4;
    u.q[l] = static_cast<int8_t>(lo | ((blk->qh[l] >> j) & 1) << 4);
  }
  uint8_t sc = 0, mn = 0;
  scale_min_k4(j, blk->scales, sc, mn);
  u.scale[0] = u.scale[1] = half_at(blk->d) * static_cast<float>(sc);
  u.min = half_at(blk->dmin) * static_cast<float>(mn);
}

// Q6_K: the 32 elements of quarter s % 4 of half s / 4 (see BlockQ6_K).
void unpack_q6_k(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockQ6_K*>(row) + b / 8;
  const int s = static_cast<int>(b % 8);
  const int h = s / 4, quarter = s % 4;
  const uint8_t* ql = blk->ql + 64 * h + (quarter % 2) * 32;
  const uint8_t* qh = blk->qh + 32 * h;
  for (int l = 0; l < 32; ++l) {
    const int lo = quarter < 2 ? ql[l] & 15 : ql[l] >> 4;
    const int hi = (qh[l] >> (2 * quarter)) & 3;
    u.q[l] = static_cast<int8_t>((lo | hi << 4) - 32);
  }
  const float d = half_at(blk->d);
  u.scale[0] = d * static_cast<float>(blk->scales[2 * s]);
  u.scale[1] = d * static_cast<float>(blk->scales[2 * s + 1]);
  u.min = 0.0f;
}

// The non-linear 4-bit formats: each nibble picks a signed byte of a 16-value table (as
// llama.cpp pairs them with Q8_0 / Q8_K activations: the integer products are exact).
void unpack_table4(const uint8_t* qs, const int8_t (&table)[16], float scale, Unpacked& u) {
  for (int j = 0; j < 16; ++j) {
    u.q[j] = table[qs[j] & 15];
    u.q[j + 16] = table[qs[j] >> 4];
  }
  u.scale[0] = u.scale[1] = scale;
  u.min = 0.0f;
}

void unpack_iq4_nl(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockIQ4_NL*>(row) + b;
  unpack_table4(blk->qs, kIq4nlValues, half_at(blk->d), u);
}

// IQ4_XS: group g = b % 8 of super-block b / 8, scale d (ls_g - 32).
void unpack_iq4_xs(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockIQ4_XS*>(row) + b / 8;
  const int g = static_cast<int>(b % 8);
  unpack_table4(blk->qs + 16 * g, kIq4nlValues, half_at(blk->d) * static_cast<float>(iq4_xs_ls(*blk, g) - 32), u);
}

void unpack_mxfp4(const uint8_t* row, int64_t b, Unpacked& u) {
  const auto* blk = reinterpret_cast<const BlockMXFP4*>(row) + b;
  unpack_table4(blk->qs, kFp4Values, e8m0_half(blk->e), u);
}

// How a q8 kernel scales and adds a block's integer sums.
enum class Q8Sum {
  Block,     // Q8_0, Q4_0, IQ4_NL, IQ4_XS, MXFP4: the panel arithmetic (kernels_matmul.h), one exact sum, one fma
  BlockMin,  // Q4_K, Q5_K: the same, then one fma for the min
  Halves,    // Q6_K: one exact sum and one fma per 16-element half (its own scale)
};

template <void (*Unpack)(const uint8_t*, int64_t, Unpacked&), Q8Sum kSum>
void tile_q8(const Tile& t) {
  const int64_t n_blocks = t.k / 32;
  for (int r = 0; r < t.nr; ++r)
    for (int i = 0; i < t.nm; ++i) {
      const auto* x = reinterpret_cast<const BlockQ8*>(static_cast<const uint8_t*>(t.x) + i * t.x_stride);
      float acc = 0.0f;
      Unpacked u;
      for (int64_t b = 0; b < n_blocks; ++b) {
        Unpack(t.w[r], b, u);
        int32_t half_sum[2] = {0, 0};
        for (int j = 0; j < 32; ++j) half_sum[j / 16] += u.q[j] * x[b].qs[j];
        const float dx = x[b].d;
        switch (kSum) {
          case Q8Sum::Block:
          case Q8Sum::BlockMin:
            acc = std::fma(u.scale[0] * dx, static_cast<float>(half_sum[0] + half_sum[1]), acc);
            if (kSum == Q8Sum::BlockMin) acc = std::fma(-u.min, dx * static_cast<float>(x[b].sum()), acc);
            break;
          case Q8Sum::Halves:
            acc = std::fma(u.scale[0] * dx, static_cast<float>(half_sum[0]), acc);
            acc = std::fma(u.scale[1] * dx, static_cast<float>(half_sum[1]), acc);
            break;
        }
      }
      t.y[i * t.y_stride + r] = acc;
    }
}

float load_f32(const uint8_t* p, int64_t k) {
  return reinterpret_cast<const float*>(p)[k];
}
float load_f16(const uint8_t* p, int64_t k) {
  return f16_to_f32(static_cast<uint16_t>(p[2 * k] | p[2 * k + 1] << 8));
}
float load_bf16(const uint8_t* p, int64_t k) {
  return bf16_to_f32(static_cast<uint16_t>(p[2 * k] | p[2 * k + 1] << 8));
}

// Eight partial sums combined pairwise at the end, as dot_f32_scalar.
template <float (*Load)(const uint8_t*, int64_t)>
void tile_float(const Tile& t) {
  for (int r = 0; r < t.nr; ++r)
    for (int i = 0; i < t.nm; ++i) {
      const auto* x = reinterpret_cast<const float*>(static_cast<const uint8_t*>(t.x) + i * t.x_stride);
      float acc[8] = {};
      int64_t k = 0;
      for (; k + 8 <= t.k; k += 8)
        for (int l = 0; l < 8; ++l) acc[l] += x[k + l] * Load(t.w[r], k + l);
      float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (; k < t.k; ++k) s += x[k] * Load(t.w[r], k);
      t.y[i * t.y_stride + r] = s;
    }
}

// A row converted with the scalar kernel's loads (for quantised rows: whole blocks at once,
// the values quant_element returns one by one).
template <float (*Load)(const uint8_t*, int64_t)>
void row_f32(const uint8_t* p, int64_t k, float* out) {
  for (int64_t j = 0; j < k; ++j) out[j] = Load(p, j);
}
template <DType T>
void row_quant(const uint8_t* p, int64_t k, float* out) {
  dequantize_row(T, p, out, k);
}

}  // namespace

RowFn row_to_f32_scalar(DType type) {
  switch (type) {
    case DType::F16: return row_f32<load_f16>;
    case DType::BF16: return row_f32<load_bf16>;
    case DType::Q8_0: return row_quant<DType::Q8_0>;
    case DType::Q4_0: return row_quant<DType::Q4_0>;
    case DType::Q4_K: return row_quant<DType::Q4_K>;
    case DType::Q5_K: return row_quant<DType::Q5_K>;
    case DType::Q6_K: return row_quant<DType::Q6_K>;
    case DType::IQ4_NL: return row_quant<DType::IQ4_NL>;
    case DType::IQ4_XS: return row_quant<DType::IQ4_XS>;
    case DType::MXFP4: return row_quant<DType::MXFP4>;
    default: return nullptr;
  }
}

TileFn tile_kernel_scalar(DType type, bool q8_acts) {
  if (!q8_acts) switch (type) {
      case DType::Q8_0: return tile_float<quant_element<DType::Q8_0>>;
      case DType::Q4_0: return tile_float<quant_element<DType::Q4_0>>;
      case DType::Q4_K: return tile_float<quant_element<DType::Q4_K>>;
      case DType::Q5_K: return tile_float<quant_element<DType::Q5_K>>;
      case DType::Q6_K: return tile_float<quant_element<DType::Q6_K>>;
      case DType::IQ4_NL: return tile_float<quant_element<DType::IQ4_NL>>;
      case DType::IQ4_XS: return tile_float<quant_element<DType::IQ4_XS>>;
      case DType::MXFP4: return tile_float<quant_element<DType::MXFP4>>;
      default: break;
    }
  switch (type) {
    case DType::F32: return tile_float<load_f32>;
    case DType::F16: return tile_float<load_f16>;
    case DType::BF16: return tile_float<load_bf16>;
    case DType::Q8_0: return tile_q8<unpack_q8_0, Q8Sum::Block>;
    case DType::Q4_0: return tile_q8<unpack_q4_0, Q8Sum::Block>;
    case DType::Q4_K: return tile_q8<unpack_q4_k, Q8Sum::BlockMin>;
    case DType::Q5_K: return tile_q8<unpack_q5_k, Q8Sum::BlockMin>;
    case DType::Q6_K: return tile_q8<unpack_q6_k, Q8Sum::Halves>;
    case DType::IQ4_NL: return tile_q8<unpack_iq4_nl, Q8Sum::Block>;
    case DType::IQ4_XS: return tile_q8<unpack_iq4_xs, Q8Sum::Block>;
    case DType::MXFP4: return tile_q8<unpack_mxfp4, Q8Sum::Block>;
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q2_K:
    case DType::Q3_K:
    // No q8-activation kernel; with float activations, the types not handled above are
    // dequantised to F32 rows by the matmul (its converting path).
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ3_XXS:
    case DType::IQ1_S:
    case DType::IQ3_S:
    case DType::IQ2_S:
    case DType::IQ1_M:
    case DType::TQ1_0:
    case DType::TQ2_0: return nullptr;
  }
  return nullptr;
}

}  // namespace loupe::kernels
