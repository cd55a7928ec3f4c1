// Token samplers: greedy, temperature with top-k / top-p, and one that reproduces llama2.c's
// run.c exactly (its xorshift RNG, float softmax, top-p cutoff and sort), so seeded runs can be
// checked byte for byte against run.c.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace loupe {

enum class SamplerKind : uint8_t { Default, Llama2c };

struct SamplerConfig {
  SamplerKind kind = SamplerKind::Default;
  float temperature = 0.8f;  // 0 = greedy
  float top_p = 0.95f;       // 1 = off
  int top_k = 40;            // 0 = off (ignored by the llama2c sampler)
  uint64_t seed = 42;
};

class Sampler {
 public:
  Sampler(const SamplerConfig& config, int64_t d_vocab);
  // Picks the next token from logits [d_vocab]; logits are used as scratch (modified).
  int32_t sample(float* logits);

 private:
  int32_t sample_llama2c(float* logits);
  int32_t sample_default(float* logits);
  uint32_t llama2c_u32();
  float llama2c_f32();

  SamplerConfig config_;
  int64_t n_;
  uint64_t llama2c_state_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;  // [d_vocab] scratch (prob or logit, id)
  std::vector<double> probs_;                          // [d_vocab] scratch
};

int32_t argmax(const float* x, int64_t n);

}  // namespace loupe
