#include "perf/bandwidth.h"

#include "tensor/kernels.h"  // LOUPE_X86
#if LOUPE_X86
#include <immintrin.h>
#endif

#include <chrono>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "tensor/kernels.h"

namespace loupe::perf {
namespace {

// Sums 64-bit words so the loads cannot be dropped; four independent chains.
uint64_t sum_scalar(const uint64_t* p, int64_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (int64_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  return a + b + c + d;
}

#if LOUPE_X86
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint64_t* p, int64_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (int64_t i = 0; i + 16 <= n; i += 16) {
    a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    c = _mm256_add_epi64(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    d = _mm256_add_epi64(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
  uint64_t lanes[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif  // LOUPE_X86

}  // namespace

double read_bandwidth(ThreadPool& pool, int64_t bytes, int repeat) {
  LOUPE_ASSERT(bytes >= 4096 && repeat >= 1, "read_bandwidth: ", bytes, " bytes, ", repeat, " repeats");
  const int64_t words = bytes / 8;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[static_cast<size_t>(words)]);
  std::memset(buf.get(), 1, static_cast<size_t>(words) * 8);  // touch every page
#if LOUPE_X86
  const bool avx2 = active_isa() >= Isa::Avx2;
#endif
  double best = 0;
  volatile uint64_t sink = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(words / 16, [&](int64_t b, int64_t e) {
      const uint64_t* p = buf.get() + b * 16;
#if LOUPE_X86
      sink = sink + (avx2 ? sum_avx2(p, (e - b) * 16) : sum_scalar(p, (e - b) * 16));
#else
      sink = sink + sum_scalar(p, (e - b) * 16);
#endif
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int64_t bytes_read = words / 16 * 16 * 8;  // whole 16-word blocks
    best = std::max(best, static_cast<double>(bytes_read) / s);
  }
  return best;
}

int64_t decode_bytes(const Interpreter& interp, int64_t pos) {
  const ModelConfig& c = interp.model().config;
  int64_t bytes = 0;
  for (const Op& op : interp.program().ops) {
    if (op.w == nullptr) continue;
    if (op.kind == OpKind::MatMul)
      bytes += static_cast<int64_t>(op.w->nbytes());
    else  // Embed / PosEmbed: one row
      bytes += static_cast<int64_t>(op.w->nbytes()) / std::max<int64_t>(op.w->rows, 1);
  }
  bytes += 2 * c.n_layers * (pos + 1) * c.d_kv() * static_cast<int64_t>(sizeof(float));
  return bytes;
}

}  // namespace loupe::perf
