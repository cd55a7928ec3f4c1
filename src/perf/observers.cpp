#include "perf/observers.h"

#include "tensor/kernels.h"  // LOUPE_X86
#if LOUPE_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tensor/kernels.h"

namespace loupe::perf {

void CopyTracer::on_hook(const HookEvent& event) {
  const auto id = static_cast<size_t>(event.hook);
  if (copies_.size() <= id) copies_.resize(id + 1);
  const int64_t n = event.shape.numel();
  std::vector<float>& c = copies_[id];
  if (static_cast<int64_t>(c.size()) < n) c.resize(static_cast<size_t>(n));
  std::copy_n(event.data, n, c.data());
  bytes_ += n * static_cast<int64_t>(sizeof(float));
}

int64_t count_non_finite_scalar(const float* x, int64_t n, bool skip_neg_inf) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    count += (bits & 0x7f800000u) == 0x7f800000u && !(skip_neg_inf && bits == 0xff800000u);
  }
  return count;
}

// 8 lanes: exponent bits all ones gives a lane of -1 (and, skipping -inf, exactly -inf gives
// one back), subtracted from 32-bit lane counts that are added up every 2^20 steps, long before
// they could overflow.
#if LOUPE_X86
__attribute__((target("avx2"))) int64_t count_non_finite_avx2(const float* x, int64_t n, bool skip_neg_inf) {
  const __m256i exp = _mm256_set1_epi32(0x7f800000);
  const __m256i neg_inf = _mm256_set1_epi32(static_cast<int32_t>(0xff800000u));
  int64_t count = 0, i = 0;
  while (i + 8 <= n) {
    __m256i lanes = _mm256_setzero_si256();
    const int64_t end = std::min(n - 7, i + (int64_t{8} << 20));
    if (skip_neg_inf) {
      for (; i < end; i += 8) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
        lanes = _mm256_sub_epi32(lanes, _mm256_cmpeq_epi32(_mm256_and_si256(v, exp), exp));
        lanes = _mm256_add_epi32(lanes, _mm256_cmpeq_epi32(v, neg_inf));
      }
    } else {
      for (; i < end; i += 8) {
        const __m256i v = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), exp);
        lanes = _mm256_sub_epi32(lanes, _mm256_cmpeq_epi32(v, exp));
      }
    }
    alignas(32) int32_t c[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), lanes);
    for (int32_t v : c) count += v;
  }
  return count + count_non_finite_scalar(x + i, n - i, skip_neg_inf);
}
#endif  // LOUPE_X86

// Whether x[0, n) holds a non-finite float (-inf left out when skip_neg_inf): the watch's common
// case is "none", which these answer reading each vector once into an OR of compare results
// (no counting, no chain longer than one OR); only a tensor that has one is then counted.
#if LOUPE_X86
__attribute__((target("avx2"))) bool any_non_finite_avx2(const float* x, int64_t n, bool skip_neg_inf) {
  const __m256i exp = _mm256_set1_epi32(0x7f800000);
  const __m256i neg_inf = _mm256_set1_epi32(static_cast<int32_t>(0xff800000u));
  __m256i any0 = _mm256_setzero_si256(), any1 = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 8));
    __m256i b0 = _mm256_cmpeq_epi32(_mm256_and_si256(v0, exp), exp);
    __m256i b1 = _mm256_cmpeq_epi32(_mm256_and_si256(v1, exp), exp);
    if (skip_neg_inf) {
      b0 = _mm256_andnot_si256(_mm256_cmpeq_epi32(v0, neg_inf), b0);
      b1 = _mm256_andnot_si256(_mm256_cmpeq_epi32(v1, neg_inf), b1);
    }
    any0 = _mm256_or_si256(any0, b0);
    any1 = _mm256_or_si256(any1, b1);
  }
  return !_mm256_testz_si256(_mm256_or_si256(any0, any1), _mm256_or_si256(any0, any1)) ||
         count_non_finite_scalar(x + i, n - i, skip_neg_inf) > 0;
}

__attribute__((target("avx512f"))) bool any_non_finite_avx512(const float* x, int64_t n, bool skip_neg_inf) {
  const __m512i exp = _mm512_set1_epi32(0x7f800000);
  const __m512i neg_inf = _mm512_set1_epi32(static_cast<int32_t>(0xff800000u));
  __mmask16 any0 = 0, any1 = 0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i v0 = _mm512_loadu_si512(x + i), v1 = _mm512_loadu_si512(x + i + 16);
    __mmask16 b0 = _mm512_cmpeq_epi32_mask(_mm512_and_si512(v0, exp), exp);
    __mmask16 b1 = _mm512_cmpeq_epi32_mask(_mm512_and_si512(v1, exp), exp);
    if (skip_neg_inf) {
      b0 = _mm512_mask_cmpneq_epi32_mask(b0, v0, neg_inf);
      b1 = _mm512_mask_cmpneq_epi32_mask(b1, v1, neg_inf);
    }
    any0 = _kor_mask16(any0, b0);
    any1 = _kor_mask16(any1, b1);
  }
  return (any0 | any1) != 0 || count_non_finite_scalar(x + i, n - i, skip_neg_inf) > 0;
}
#else
bool any_non_finite_avx2(const float* x, int64_t n, bool skip_neg_inf) {
  return count_non_finite_scalar(x, n, skip_neg_inf) > 0;
}
bool any_non_finite_avx512(const float* x, int64_t n, bool skip_neg_inf) {
  return count_non_finite_scalar(x, n, skip_neg_inf) > 0;
}
#endif  // LOUPE_X86

int64_t count_non_finite(const float* x, int64_t n, bool skip_neg_inf) {
#if LOUPE_X86
  const Isa isa = active_isa();
  if (isa >= Isa::Avx2) {
    const bool any =
        isa == Isa::Avx512 ? any_non_finite_avx512(x, n, skip_neg_inf) : any_non_finite_avx2(x, n, skip_neg_inf);
    return any ? count_non_finite_avx2(x, n, skip_neg_inf) : 0;
  }
#endif
  return count_non_finite_scalar(x, n, skip_neg_inf);
}

void NanCheck::on_hook(const HookEvent& event) {
  // The attention scores hold the mask as -inf (causal and sliding-window): not a fault.
  const bool scores = event.point != nullptr && event.point->kind == HookKind::AttnScores;
  const int64_t n = event.shape.numel();
  int64_t bad = 0;
  if (pool_ != nullptr && pool_->n_threads() > 1 && n >= (int64_t{1} << 16)) {
    std::atomic<int64_t> sum{0};  // counts: the same total in any order
    pool_->parallel_for(n, [&](int64_t b, int64_t e) { sum += count_non_finite(event.data + b, e - b, scores); });
    bad = sum.load();
  } else {
    bad = count_non_finite(event.data, n, scores);
  }
  if (bad > 0 && first_hook_ < 0) first_hook_ = event.hook;
  non_finite_ += bad;
}

}  // namespace loupe::perf
