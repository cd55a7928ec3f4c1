// ggml's dot products for one weight row against many activation rows (ggml_rows.inc), with a
// portable backend (plain loops the compiler may vectorise; the reference on every tier), the
// AVX2 one (ggml_rows_avx2.cpp) on x86 tiers that have it and the NEON one (ggml_rows_neon.cpp)
// on AArch64.
#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/ggml_dot.h"
#include "tensor/half.h"
#include "tensor/kernels.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

namespace loupe::ggml {
namespace portable {

struct B {
  struct F8 {
    float v[8];
  };
  struct I8 {
    int32_t v[8];
  };
  static F8 fzero() { return {}; }
  static F8 fload(const float* p) {
    F8 r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static void fstore(float* p, const F8& a) { std::memcpy(p, a.v, sizeof a.v); }
  static F8 set1(float f) {
    F8 r;
    for (float& v : r.v) v = f;
    return r;
  }
  // Lane-wise f(a[l], b[l]).
  template <class V, class W, class F>
  static V zip(const W& a, const W& b, F f) {
    V r;
    for (int l = 0; l < 8; ++l) r.v[l] = f(a.v[l], b.v[l]);
    return r;
  }
  static F8 fma(const F8& a, const F8& b, const F8& c) {
    F8 r;
    for (int l = 0; l < 8; ++l) r.v[l] = std::fma(a.v[l], b.v[l], c.v[l]);
    return r;
  }
  static F8 add(const F8& a, const F8& b) {
    return zip<F8>(a, b, [](float x, float y) { return x + y; });
  }
  static F8 mul(const F8& a, const F8& b) {
    return zip<F8>(a, b, [](float x, float y) { return x * y; });
  }
  static F8 cvt(const I8& a) {
    return zip<F8>(a, a, [](int32_t x, int32_t) { return static_cast<float>(x); });
  }
  static I8 iload(const int* p) {
    I8 r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static I8 iadd(const I8& a, const I8& b) {
    return zip<I8>(a, b, [](int32_t x, int32_t y) { return x + y; });
  }
  static I8 isub(const I8& a, const I8& b) {
    return zip<I8>(a, b, [](int32_t x, int32_t y) { return x - y; });
  }
  static int isum(const I8& a) {
    int s = 0;
    for (int v : a.v) s += v;
    return s;
  }
  // Lane l: the products of elements 4l .. 4l + 3 of 32, the first 16 times s0, the rest s1.
  static I8 lanes_scaled(const int8_t* q, const int8_t* y, int s0, int s1) {
    int p[32];
    for (int t = 0; t < 32; ++t) p[t] = q[t] * y[t];
    I8 r;
    for (int l = 0; l < 8; ++l)
      r.v[l] = (l < 4 ? s0 : s1) * ((p[4 * l] + p[4 * l + 1]) + (p[4 * l + 2] + p[4 * l + 3]));
    return r;
  }
  static I8 lanes(const int8_t* q, const int8_t* y) { return lanes_scaled(q, y, 1, 1); }
  // lanes_scaled with the chunk's two 16-scales at p.
  template <bool kUnsigned>
  static I8 lanes_p(const int8_t* q, const int8_t* y, const int16_t* p) {
    return lanes_scaled(q, y, p[0], p[1]);
  }
  static float h(const uint8_t (&b)[2]) { return quant::half_at(b); }
  // k fp16 (or bf16) values as floats.
  static void halves(const uint8_t* p, int64_t k, bool bf16, std::vector<float>& out) {
    out.resize(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) {
      const auto h = static_cast<uint16_t>(p[2 * j] | p[2 * j + 1] << 8);
      out[static_cast<size_t>(j)] = bf16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
};

#include "tensor/ggml_rows.inc"

// One product through the portable backend: the reference of the types ggml_dot.cpp does not
// write out itself (the grid i-quants, TQ1_0, TQ2_0).
float dot_one(DType type, const uint8_t* row, const Acts& a, bool repacked) {
  thread_local Decoded w;
  decode_row(type, row, a.k, w);
  return dot_decoded(type, row, w, a, repacked);
}

}  // namespace portable

#if LOUPE_X86
namespace avx2 {
void dot_rows(DType type, const uint8_t* row, const Acts* acts, int64_t m, float* y, int64_t y_stride, bool repacked,
              const float* bias);
float dot_f32(const float* x, const float* y, int64_t n);
void mix_f32(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
}  // namespace avx2

namespace {
bool use_avx2() {
  const Isa isa = active_isa();
  return isa == Isa::Avx2 || isa == Isa::Avx2Vnni || isa == Isa::Avx512;
}
}  // namespace
#endif

#if LOUPE_ARM
namespace neon {
void dot_rows(DType type, const uint8_t* row, const Acts* acts, int64_t m, float* y, int64_t y_stride, bool repacked,
              const float* bias);
float dot_f32(const float* x, const float* y, int64_t n);
void mix_f32(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z);
}  // namespace neon
namespace neon_dot {
void dot_rows(DType type, const uint8_t* row, const Acts* acts, int64_t m, float* y, int64_t y_stride, bool repacked,
              const float* bias);
}  // namespace neon_dot
#endif

void dot_rows(DType type, const uint8_t* row, const Acts* acts, int64_t m, float* y, int64_t y_stride, bool repacked,
              const float* bias) {
  if (m <= 0) return;
#if LOUPE_X86
  if (use_avx2()) {
    avx2::dot_rows(type, row, acts, m, y, y_stride, repacked, bias);
    return;
  }
#endif
#if LOUPE_ARM
  if (active_isa() >= Isa::NeonDot) {
    neon_dot::dot_rows(type, row, acts, m, y, y_stride, repacked, bias);
    return;
  }
  if (active_isa() >= Isa::Neon) {
    neon::dot_rows(type, row, acts, m, y, y_stride, repacked, bias);
    return;
  }
#endif
  portable::dot_rows_impl(type, row, acts, m, y, y_stride, repacked, bias);
}

float dot_f32(const float* x, const float* y, int64_t n) {
#if LOUPE_X86
  if (use_avx2()) return avx2::dot_f32(x, y, n);
#endif
#if LOUPE_ARM
  if (active_isa() >= Isa::Neon) return neon::dot_f32(x, y, n);
#endif
  return portable::dot_f32_impl(x, y, n);
}

void mix_f32(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z) {
#if LOUPE_X86
  if (use_avx2()) {
    avx2::mix_f32(p, n, v, v_stride, d, z);
    return;
  }
#endif
#if LOUPE_ARM
  if (active_isa() >= Isa::Neon) {
    neon::mix_f32(p, n, v, v_stride, d, z);
    return;
  }
#endif
  portable::mix_f32_impl(p, n, v, v_stride, d, z);
}

}  // namespace loupe::ggml
