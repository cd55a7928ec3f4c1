// RoPE frequencies, with the context-scaling schemes models ship with.
#pragma once

#include <vector>

#include "model/config.h"

namespace loupe {

// Angle per position of each of the d_head / 2 rotated pairs: theta^(-2i/d_head), divided by
// the per-pair factors of a GGUF rope_freqs tensor when given, then scaled as the config says
// (linear: / factor; llama3: long wavelengths / factor, short ones kept, a smooth blend between).
std::vector<double> rope_frequencies(const ModelConfig& config, const float* freq_factors);

}  // namespace loupe
