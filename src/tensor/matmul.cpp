#include "tensor/matmul.h"

#include <vector>

#include "tensor/kernels.h"

namespace loupe {
namespace {

// Rows of the weight handled together, so one dequantised block of rows is reused across all
// m activation rows while it sits in cache.
constexpr int64_t kRowTile = 16;

thread_local std::vector<float> t_rows;  // [kRowTile, cols] dequantised weight rows

void matmul_rows(const Weight& w, const float* x, int64_t m, float* y, const float* bias, int64_t r0, int64_t r1) {
  const int64_t K = w.cols;
  const bool direct = w.storage == Storage::Rows && w.type == DType::F32 && w.row_map.empty();
  if (!direct && static_cast<int64_t>(t_rows.size()) < kRowTile * K) t_rows.resize(static_cast<size_t>(kRowTile * K));
  for (int64_t t0 = r0; t0 < r1; t0 += kRowTile) {
    const int64_t t1 = t0 + kRowTile < r1 ? t0 + kRowTile : r1;
    const float* rows;
    if (direct) {
      rows = reinterpret_cast<const float*>(w.data) + t0 * K;
    } else {
      for (int64_t r = t0; r < t1; ++r) w.row(r, t_rows.data() + (r - t0) * K);
      rows = t_rows.data();
    }
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * K;
      float* yi = y + i * w.rows;
      for (int64_t r = t0; r < t1; ++r) {
        float v = dot_f32(xi, rows + (r - t0) * K, K);
        yi[r] = bias != nullptr ? v + bias[r] : v;
      }
    }
  }
}

}  // namespace

void matmul(ThreadPool& pool, const Weight& w, const float* x, int64_t m, float* y, const float* bias) {
  // Split rows in whole tiles so the split does not change which rows share a tile.
  const int64_t n_tiles = (w.rows + kRowTile - 1) / kRowTile;
  pool.parallel_for(n_tiles, [&](int64_t b, int64_t e) {
    const int64_t r0 = b * kRowTile;
    const int64_t r1 = e * kRowTile < w.rows ? e * kRowTile : w.rows;
    matmul_rows(w, x, m, y, bias, r0, r1);
  });
}

}  // namespace loupe
