#include "engine/rope.h"

#include <cmath>

namespace loupe {

std::vector<double> rope_frequencies(const ModelConfig& c, const float* factors) {
  const int64_t half = c.d_head / 2;
  std::vector<double> out(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    double freq =
        std::pow(static_cast<double>(c.rope_theta), -2.0 * static_cast<double>(i) / static_cast<double>(c.d_head));
    if (factors != nullptr) freq /= factors[i];
    switch (c.rope_scaling) {
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
    }
    out[static_cast<size_t>(i)] = freq;
  }
  return out;
}

}  // namespace loupe
