// RoPE frequencies, with the context-scaling schemes models ship with.
#pragma once

#include <vector>

#include "model/config.h"

namespace loupe {

// Angle per position of each of the n_rot / 2 rotated pairs: theta^(-2i/n_rot) (theta = the
// model's base unless given: a layer's own), divided by the per-pair factors of a GGUF
// rope_freqs tensor when given, then scaled as the config says when `scaled` (linear: / factor;
// llama3: long wavelengths / factor, short ones kept, a smooth blend between; yarn: the same
// blend over YaRN's correction range).
std::vector<double> rope_frequencies(const ModelConfig& config, const float* freq_factors, double theta = 0.0,
                                     bool scaled = true);
// What cos and sin are multiplied by: the config's attention factor, times YaRN's
// 1 + 0.1 ln(factor) when YaRN scaling applies.
double rope_magnitude(const ModelConfig& config, bool scaled = true);

}  // namespace loupe
