// Float -> integer roundings used by the reference quantisers. Each one reproduces the C
// conversion ggml uses for in-range input, and clamps first so that out-of-range, infinite or NaN
// input gives a defined (unspecified) value instead of undefined behaviour.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace loupe::quant {

// Truncation toward zero, as a C cast, clamped to [lo, hi]; NaN -> lo.
inline int trunc_clamp(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// roundf (half away from zero), clamped to [-lim, lim]; NaN -> 0.
inline int round_away_clamp(float v, int lim) {
  if (std::isnan(v)) return 0;
  float a = std::fabs(v);
  if (a > static_cast<float>(lim)) a = static_cast<float>(lim);
  int t = static_cast<int>(a);
  if (a - static_cast<float>(t) >= 0.5f) ++t;  // a - t is exact for a < 2^23
  return v < 0 ? -t : t;
}

// Round half to even (the default rounding mode) by the 1.5 * 2^23 trick, as ggml's nearest_int;
// exact for |v| < 2^22, larger values are clamped there; NaN gives an unspecified value.
inline int nearest_int(float v) {
  constexpr float kMax = 4194303.f;
  v = v > kMax ? kMax : (v < -kMax ? -kMax : v);
  float shifted = v + 12582912.f;
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x7fffff) - 0x400000;
}

inline int clamp_int(int v, int lo, int hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace loupe::quant
