#include "engine/rope.h"

#include <algorithm>
#include <cmath>

namespace loupe {

std::vector<double> rope_frequencies(const ModelConfig& c, const float* factors, double theta, bool scaled) {
  if (theta <= 0.0) theta = c.rope_theta;
  const int64_t n_rot = c.n_rot();
  const int64_t half = n_rot / 2;
  std::vector<double> out(static_cast<size_t>(half));
  // YaRN's correction range: the pairs whose wavelength fits the original context beta times.
  auto corr_dim = [&](double beta) {
    return static_cast<double>(n_rot) * std::log(static_cast<double>(c.rope_original_ctx) / (beta * 2.0 * M_PI)) /
           (2.0 * std::log(theta));
  };
  const double yarn_lo = std::max(0.0, std::floor(corr_dim(c.yarn_beta_fast)));
  const double yarn_hi = std::min(static_cast<double>(n_rot - 1), std::ceil(corr_dim(c.yarn_beta_slow)));
  for (int64_t i = 0; i < half; ++i) {
    double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
    if (factors != nullptr) freq /= factors[i];
    switch (scaled ? c.rope_scaling : RopeScaling::None) {
      case RopeScaling::None: break;
      case RopeScaling::Linear: freq /= c.rope_factor; break;
      case RopeScaling::Llama3: {
        const double wavelen = 2.0 * M_PI / freq;
        const double ctx = static_cast<double>(c.rope_original_ctx);
        const double low_wavelen = ctx / c.rope_low_freq_factor;
        const double high_wavelen = ctx / c.rope_high_freq_factor;
        if (wavelen > low_wavelen) {
          freq /= c.rope_factor;
        } else if (wavelen >= high_wavelen) {
          const double smooth =
              (ctx / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
          freq = (1.0 - smooth) * freq / c.rope_factor + smooth * freq;
        }
        break;
      }
      case RopeScaling::Yarn: {
        const double y = (static_cast<double>(i) - yarn_lo) / std::max(0.001, yarn_hi - yarn_lo);
        const double keep = 1.0 - std::clamp(y, 0.0, 1.0);  // 1: the pair keeps its frequency
        freq = freq / c.rope_factor * (1.0 - keep) + freq * keep;
        break;
      }
    }
    out[static_cast<size_t>(i)] = freq;
  }
  return out;
}

double rope_magnitude(const ModelConfig& c, bool scaled) {
  double m = c.rope_attn_factor;
  if (scaled && c.rope_scaling == RopeScaling::Yarn) m *= 1.0 + 0.1 * std::log(c.rope_factor);
  return m;
}

}  // namespace loupe
