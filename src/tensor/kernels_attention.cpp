// Attention's two inner loops, per query row: scores against the cached keys and the mix of the
// cached values. Each output keeps the exact operation sequence of dot_f32 / axpy_f32 on its
// level (same bits as the one-key-at-a-time loops), only more of them run at once:
//  - scores: eight keys per step, their sums reduced together by a transpose that pairs lanes as
//    dot_f32_avx2's horizontal sum does;
//  - mix: the output row stays in registers across all positions instead of a load and a store
//    per position (a chain through memory); four query rows share each value row's loads.
#include "tensor/kernels.h"  // LOUPE_X86
#if LOUPE_X86
#include <immintrin.h>
#endif

#include <algorithm>

#include "tensor/kernels.h"

namespace loupe {
namespace kernels {

void attn_scores_scalar(const float* q, const float* k, int64_t k_stride, int64_t n_keys, int64_t d, float scale,
                        float* out) {
  for (int64_t j = 0; j < n_keys; ++j) out[j] = dot_f32_scalar(q, k + j * k_stride, d) * scale;
}

void attn_mix_scalar(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z) {
  std::fill_n(z, d, 0.0f);
  for (int64_t j = 0; j < n; ++j)
    if (p[j] != 0.0f) axpy_f32_scalar(p[j], v + j * v_stride, z, d);
}

// Lane t of the result = dot_f32_avx2's horizontal sum of v[t]: (l0 + l4) + (l2 + l6) +
// ((l1 + l5) + (l3 + l7)), the same pairs in the same order.
#if LOUPE_X86
__attribute__((target("avx2,fma"))) inline __m256 hsum8x8(const __m256 (&v)[8]) {
  __m256 x[4];
  for (int t = 0; t < 4; ++t)
    x[t] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * t], v[2 * t + 1], 0x20),
                         _mm256_permute2f128_ps(v[2 * t], v[2 * t + 1], 0x31));
  // x[t] = [s4(v 2t) | s4(v 2t+1)], s4 = lo + hi
  const __m256 y0 = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 y1 = _mm256_add_ps(_mm256_shuffle_ps(x[2], x[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(x[2], x[3], _MM_SHUFFLE(3, 2, 3, 2)));
  // y0 = [s2(v0), s2(v2) | s2(v1), s2(v3)], s2 = (s4[0] + s4[2], s4[1] + s4[3]); y1 likewise for 4-7
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm256_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1)));
  // r = [v0, v2, v4, v6 | v1, v3, v5, v7]
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
#endif  // LOUPE_X86

// Head size 64 (the common one): the query stays in registers.
#if LOUPE_X86
__attribute__((target("avx2,fma"))) int64_t scores_d64_avx2(const float* q, const float* k, int64_t k_stride,
                                                            int64_t n_keys, float scale, float* out) {
  __m256 qv[8];
  for (int c = 0; c < 8; ++c) qv[c] = _mm256_loadu_ps(q + 8 * c);
  const __m256 vs = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n_keys; j += 8) {
    __m256 acc[8];
    for (int t = 0; t < 8; ++t) {
      const float* kj = k + (j + t) * k_stride;
      __m256 a0 = _mm256_setzero_ps();
      __m256 a1 = _mm256_setzero_ps();
      for (int c = 0; c < 8; c += 2) {
        a0 = _mm256_fmadd_ps(qv[c], _mm256_loadu_ps(kj + 8 * c), a0);
        a1 = _mm256_fmadd_ps(qv[c + 1], _mm256_loadu_ps(kj + 8 * c + 8), a1);
      }
      acc[t] = _mm256_add_ps(a0, a1);
    }
    _mm256_storeu_ps(out + j, _mm256_mul_ps(hsum8x8(acc), vs));
  }
  return j;
}

__attribute__((target("avx2,fma"))) void attn_scores_avx2(const float* q, const float* k, int64_t k_stride,
                                                          int64_t n_keys, int64_t d, float scale, float* out) {
  int64_t j = 0;
  if (d == 64) {
    j = scores_d64_avx2(q, k, k_stride, n_keys, scale, out);
  } else if (d % 16 == 0) {  // dot_f32_avx2 then runs its 16-wide loop only
    const __m256 vs = _mm256_set1_ps(scale);
    for (; j + 8 <= n_keys; j += 8) {
      __m256 acc[8];
      for (int t = 0; t < 8; ++t) {
        const float* kj = k + (j + t) * k_stride;
        __m256 a0 = _mm256_setzero_ps();
        __m256 a1 = _mm256_setzero_ps();
        for (int64_t i = 0; i < d; i += 16) {
          a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kj + i), a0);
          a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kj + i + 8), a1);
        }
        acc[t] = _mm256_add_ps(a0, a1);
      }
      _mm256_storeu_ps(out + j, _mm256_mul_ps(hsum8x8(acc), vs));
    }
  }
  for (; j < n_keys; ++j) out[j] = dot_f32_avx2(q, k + j * k_stride, d) * scale;
}
#endif  // LOUPE_X86

// z[c .. c + 8 NV) = sum over positions of p[j] v[j], fma per element in position order as
// axpy_f32's vector loop does.
#if LOUPE_X86
template <int NV>
__attribute__((target("avx2,fma"))) void mix_chunk_avx2(const float* p, int64_t n, const float* v, int64_t v_stride,
                                                        float* z) {
  __m256 acc[NV];
  for (int t = 0; t < NV; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    if (p[j] == 0.0f) continue;
    const __m256 pj = _mm256_set1_ps(p[j]);
    const float* vj = v + j * v_stride;
    for (int t = 0; t < NV; ++t) acc[t] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * t), acc[t]);
  }
  for (int t = 0; t < NV; ++t) _mm256_storeu_ps(z + 8 * t, acc[t]);
}

__attribute__((target("avx2,fma"))) void attn_mix_avx2(const float* p, int64_t n, const float* v, int64_t v_stride,
                                                       int64_t d, float* z) {
  if (d % 8 != 0) {  // axpy_f32_avx2's scalar tail: keep its loop
    std::fill_n(z, d, 0.0f);
    for (int64_t j = 0; j < n; ++j)
      if (p[j] != 0.0f) axpy_f32_avx2(p[j], v + j * v_stride, z, d);
    return;
  }
  int64_t c = 0;
  for (; c + 64 <= d; c += 64) mix_chunk_avx2<8>(p, n, v + c, v_stride, z + c);
  for (; c < d; c += 8) mix_chunk_avx2<1>(p, n, v + c, v_stride, z + c);
}

template <int NV>
__attribute__((target("avx512f"))) void mix_chunk_avx512(const float* p, int64_t n, const float* v, int64_t v_stride,
                                                         float* z) {
  __m512 acc[NV];
  for (int t = 0; t < NV; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    if (p[j] == 0.0f) continue;
    const __m512 pj = _mm512_set1_ps(p[j]);
    const float* vj = v + j * v_stride;
    for (int t = 0; t < NV; ++t) acc[t] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16 * t), acc[t]);
  }
  for (int t = 0; t < NV; ++t) _mm512_storeu_ps(z + 16 * t, acc[t]);
}
#endif  // LOUPE_X86

// Element for element the AVX2 mix (an FMA is an FMA at any width), 16 lanes at a time.
#if LOUPE_X86
__attribute__((target("avx2,fma,avx512f"))) void attn_mix_avx512(const float* p, int64_t n, const float* v,
                                                                 int64_t v_stride, int64_t d, float* z) {
  if (d % 16 != 0) {
    attn_mix_avx2(p, n, v, v_stride, d, z);
    return;
  }
  int64_t c = 0;
  for (; c + 128 <= d; c += 128) mix_chunk_avx512<8>(p, n, v + c, v_stride, z + c);
  for (; c + 64 <= d; c += 64) mix_chunk_avx512<4>(p, n, v + c, v_stride, z + c);
  for (; c < d; c += 16) mix_chunk_avx512<1>(p, n, v + c, v_stride, z + c);
}
#endif  // LOUPE_X86

// Two query rows of 64-wide heads against keys [0, n) (n a multiple of 8), 8 keys per step,
// with 512-bit FMAs: lanes 0-7 of a key's accumulator take elements 0-7, 16-23, 32-39, 48-55 in
// that order and lanes 8-15 the others, exactly dot_f32_avx2's two 8-lane accumulators, which
// are then added and reduced by hsum8x8 as there (same bits). Each key chunk is loaded once for
// both rows.
#if LOUPE_X86
__attribute__((target("avx2,fma,avx512f"))) void scores2_d64_avx512(const float* q, int64_t q_stride, const float* k,
                                                                    int64_t k_stride, int64_t n, float scale,
                                                                    float* out, int64_t out_stride) {
  __m512 qv[2][4];
  for (int t = 0; t < 2; ++t)
    for (int c = 0; c < 4; ++c) qv[t][c] = _mm512_loadu_ps(q + t * q_stride + 16 * c);
  const __m256 vs = _mm256_set1_ps(scale);
  for (int64_t j = 0; j < n; j += 8) {
    __m512 acc[2][8];
    for (int u = 0; u < 8; ++u) {
      const float* kj = k + (j + u) * k_stride;
      acc[0][u] = _mm512_setzero_ps();
      acc[1][u] = _mm512_setzero_ps();
      for (int c = 0; c < 4; ++c) {
        const __m512 kv = _mm512_loadu_ps(kj + 16 * c);
        acc[0][u] = _mm512_fmadd_ps(qv[0][c], kv, acc[0][u]);
        acc[1][u] = _mm512_fmadd_ps(qv[1][c], kv, acc[1][u]);
      }
    }
    for (int t = 0; t < 2; ++t) {
      __m256 halves[8];
      for (int u = 0; u < 8; ++u)
        halves[u] = _mm256_add_ps(_mm512_castps512_ps256(acc[t][u]),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t][u]), 1)));
      _mm256_storeu_ps(out + t * out_stride + j, _mm256_mul_ps(hsum8x8(halves), vs));
    }
  }
}
#endif  // LOUPE_X86

// Four query rows of 64-wide heads at once: each position's value row is loaded once for the
// four, and each query's FMA runs under a mask that is empty where its weight is 0, which leaves
// its accumulator exactly as the skip in attn_mix does (same bits).
#if LOUPE_X86
__attribute__((target("avx2,fma,avx512f"))) void attn_mix4_d64_avx512(const float* p, int64_t p_stride, int64_t n,
                                                                      const float* v, int64_t v_stride, float* z,
                                                                      int64_t z_stride) {
  __m512 acc[4][4];
  for (auto& a : acc)
    for (auto& c : a) c = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    __mmask16 m[4];
    float pj[4];
    for (int t = 0; t < 4; ++t) {
      pj[t] = p[t * p_stride + j];
      m[t] = pj[t] != 0.0f ? 0xffff : 0;
    }
    if ((m[0] | m[1] | m[2] | m[3]) == 0) continue;
    const float* vj = v + j * v_stride;
    __m512 vv[4];
    for (int c = 0; c < 4; ++c) vv[c] = _mm512_loadu_ps(vj + 16 * c);
    for (int t = 0; t < 4; ++t) {
      const __m512 pb = _mm512_set1_ps(pj[t]);
      for (int c = 0; c < 4; ++c) acc[t][c] = _mm512_mask3_fmadd_ps(pb, vv[c], acc[t][c], m[t]);
    }
  }
  for (int t = 0; t < 4; ++t)
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(z + t * z_stride + 16 * c, acc[t][c]);
}
#endif  // LOUPE_X86

}  // namespace kernels

void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const float* k, int64_t k_stride,
                      int64_t first_keys, int64_t d, float scale, float* out, int64_t out_stride) {
  int64_t t = 0;
#if LOUPE_X86
  if (active_isa() == Isa::Avx512 && d == 64)
    for (; t + 2 <= n_rows; t += 2) {
      // Keys both rows see, 8 at a time, then each row's own rest.
      const int64_t common = (first_keys + t) / 8 * 8;
      kernels::scores2_d64_avx512(q + t * q_stride, q_stride, k, k_stride, common, scale, out + t * out_stride,
                                  out_stride);
      for (int64_t u = t; u < t + 2; ++u)
        attn_scores(q + u * q_stride, k + common * k_stride, k_stride, first_keys + u - common, d, scale,
                    out + u * out_stride + common);
    }
#endif
  for (; t < n_rows; ++t) attn_scores(q + t * q_stride, k, k_stride, first_keys + t, d, scale, out + t * out_stride);
}

void attn_mix_rows(const float* p, int64_t p_stride, int64_t n_rows, int64_t n, const float* v, int64_t v_stride,
                   int64_t d, float* z, int64_t z_stride) {
  int64_t t = 0;
#if LOUPE_X86
  if (active_isa() == Isa::Avx512 && d == 64)
    for (; t + 4 <= n_rows; t += 4)
      kernels::attn_mix4_d64_avx512(p + t * p_stride, p_stride, n, v, v_stride, z + t * z_stride, z_stride);
#endif
  for (; t < n_rows; ++t) attn_mix(p + t * p_stride, n, v, v_stride, d, z + t * z_stride);
}

void attn_scores(const float* q, const float* k, int64_t k_stride, int64_t n_keys, int64_t d, float scale, float* out) {
#if LOUPE_X86
  if (active_isa() >= Isa::Avx2) {
    kernels::attn_scores_avx2(q, k, k_stride, n_keys, d, scale, out);
    return;
  }
#elif LOUPE_ARM
  if (active_isa() >= Isa::Neon) {
    for (int64_t j = 0; j < n_keys; ++j) out[j] = kernels::dot_f32_neon(q, k + j * k_stride, d) * scale;
    return;
  }
#endif
  kernels::attn_scores_scalar(q, k, k_stride, n_keys, d, scale, out);
}

void attn_mix(const float* p, int64_t n, const float* v, int64_t v_stride, int64_t d, float* z) {
#if LOUPE_X86
  switch (active_isa()) {
    case Isa::Avx512: kernels::attn_mix_avx512(p, n, v, v_stride, d, z); return;
    case Isa::Avx2:
    case Isa::Avx2Vnni: kernels::attn_mix_avx2(p, n, v, v_stride, d, z); return;
    case Isa::Scalar:
    case Isa::Neon:
    case Isa::NeonDot:
    case Isa::NeonI8mm: break;
  }
#elif LOUPE_ARM
  if (active_isa() >= Isa::Neon) {
    std::fill_n(z, d, 0.0f);
    for (int64_t j = 0; j < n; ++j)
      if (p[j] != 0.0f) kernels::axpy_f32_neon(p[j], v + j * v_stride, z, d);
    return;
  }
#endif
  kernels::attn_mix_scalar(p, n, v, v_stride, d, z);
}

}  // namespace loupe
