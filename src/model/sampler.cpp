#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace loupe {

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplerConfig& config, int64_t d_vocab)
    : config_(config), n_(d_vocab), llama2c_state_(config.seed), rng_(config.seed) {
  if (!(config.temperature >= 0.0f)) fail("--temp ", config.temperature, " must be >= 0");
  if (!(config.top_p >= 0.0f && config.top_p <= 1.0f)) fail("--top-p ", config.top_p, " must be in [0, 1]");
  if (config.top_k < 0) fail("--top-k ", config.top_k, " must be >= 0");
  candidates_.reserve(static_cast<size_t>(d_vocab));
  probs_.reserve(static_cast<size_t>(d_vocab));
}

int32_t Sampler::sample(float* logits) {
  if (config_.temperature == 0.0f) return argmax(logits, n_);
  return config_.kind == SamplerKind::Llama2c ? sample_llama2c(logits) : sample_default(logits);
}

// run.c: state ^= state >> 12; ^= << 25; ^= >> 27; (state * 0x2545F4914F6CDD1D) >> 32.
uint32_t Sampler::llama2c_u32() {
  llama2c_state_ ^= llama2c_state_ >> 12;
  llama2c_state_ ^= llama2c_state_ << 25;
  llama2c_state_ ^= llama2c_state_ >> 27;
  return static_cast<uint32_t>((llama2c_state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

float Sampler::llama2c_f32() {
  return static_cast<float>(llama2c_u32() >> 8) / 16777216.0f;
}

int32_t Sampler::sample_llama2c(float* x) {
  // Float arithmetic in run.c's order: divide by the temperature, softmax, then draw.
  for (int64_t i = 0; i < n_; ++i) x[i] /= config_.temperature;
  float mx = x[0];
  for (int64_t i = 1; i < n_; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n_; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  for (int64_t i = 0; i < n_; ++i) x[i] /= sum;
  const float coin = llama2c_f32();
  const float topp = config_.top_p;
  if (topp <= 0.0f || topp >= 1.0f) {
    float cdf = 0.0f;
    for (int64_t i = 0; i < n_; ++i) {
      cdf += x[i];
      if (coin < cdf) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(n_ - 1);
  }
  const float cutoff = (1.0f - topp) / static_cast<float>(n_ - 1);
  candidates_.clear();
  for (int64_t i = 0; i < n_; ++i)
    if (x[i] >= cutoff) candidates_.emplace_back(x[i], static_cast<int32_t>(i));
  // glibc's qsort is a stable merge sort for arrays this size: stable_sort gives its order.
  std::stable_sort(candidates_.begin(), candidates_.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  float cumulative = 0.0f;
  size_t last = candidates_.size() - 1;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += candidates_[i].first;
    if (cumulative > topp) {
      last = i;
      break;
    }
  }
  const float r = coin * cumulative;
  float cdf = 0.0f;
  for (size_t i = 0; i <= last; ++i) {
    cdf += candidates_[i].first;
    if (r < cdf) return candidates_[i].second;
  }
  return candidates_[last].second;
}

int32_t Sampler::sample_default(float* x) {
  // Softmax in double over the top-k (or all) candidates, then the top-p nucleus.
  candidates_.clear();
  for (int64_t i = 0; i < n_; ++i) candidates_.emplace_back(x[i] / config_.temperature, static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t k = candidates_.size();
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < k) {
    k = static_cast<size_t>(config_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(),
                      by_logit);
    candidates_.resize(k);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  const double mx = candidates_.front().first;
  double sum = 0.0;
  std::vector<double>& probs = probs_;
  probs.resize(candidates_.size());
  for (size_t i = 0; i < candidates_.size(); ++i)
    sum += probs[i] = std::exp(static_cast<double>(candidates_[i].first) - mx);
  size_t keep = candidates_.size();
  if (config_.top_p < 1.0f) {
    double cum = 0.0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cum += probs[i] / sum;
      if (cum >= config_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += probs[i];
  const double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double cdf = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cdf += probs[i];
    if (r < cdf) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace loupe
