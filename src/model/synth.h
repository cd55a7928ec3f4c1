// Random-weight models of real shapes of every family, written as GGUF with llama.cpp's keys
// and tensor names or as a Hugging Face folder with the same weights (the family's HF names and
// layout), for tests and benchmarks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "tensor/dtype.h"

namespace loupe {

struct SynthSpec {
  Arch arch = Arch::Llama;
  int64_t d_model = 64;
  int64_t n_layers = 2;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 0;  // 0 = n_heads
  int64_t d_head = 0;      // 0 = d_model / n_heads
  int64_t d_mlp = 0;       // 0 = 4 d_model (gpt2) or 8/3 d_model rounded to 32 (llama)
  int64_t n_ctx = 256;
  float rope_theta = 10000.0f;
  bool tied = false;
  uint64_t seed = 1;
  int64_t n_experts = 0;       // MoE families: 0 = 8
  int64_t n_experts_used = 0;  // 0 = 2
  int64_t window = 0;          // sliding window of the families that have one (0 = 8); llama: all layers
  std::string vocab_path;      // a GGUF file whose tokenizer.* metadata is copied
  DType type = DType::F32;
  // llama-quantize's _K_M mix (type Q4_K or Q5_K): Q6_K for output.weight and, in the layers
  // its use_more_bits rule picks, for attn_v and ffn_down (quant_mix_type).
  bool k_mix = false;
};

// The type llama-quantize's Q4_K_M / Q5_K_M gives a 2-D tensor of a model of n_layers whose
// other weights are `base`: Q6_K for output.weight (the unembedding) and for blk.i.attn_v /
// blk.i.ffn_down where i < n/8, i >= 7n/8 or (i - n/8) % 3 == 2; `base` elsewhere.
DType quant_mix_type(const std::string& tensor_name, int64_t n_layers, DType base);

// llama.cpp's llama_ftype (general.file_type) for a model whose weights are all of one type
// (the K-quants as their "M" mixes, the name llama-quantize gives them).
uint32_t llama_file_type(DType type);

// One float tensor of the canonical (GGUF-named, [out, in]) model.
struct SynthTensor {
  std::string name;
  std::vector<int64_t> shape;  // outermost first
  std::vector<float> data;
};

struct SynthModel {
  ModelConfig config;
  std::vector<SynthTensor> tensors;
};

// Fills the config from the spec (and the vocabulary size from spec.vocab_path) and draws
// weights N(0, 0.02) (norm weights around 1) from a seeded generator: same spec, same weights.
SynthModel make_synth_model(const SynthSpec& spec);

// GGUF v3 with llama.cpp's metadata keys; 2-D weights in spec.type (rows that do not fit its
// blocks fall back to q8_0 or f32, reported in `notes`), 1-D weights in f32.
void write_synth_gguf(const SynthModel& model, const SynthSpec& spec, const std::string& path,
                      std::vector<std::string>* notes);

// A Hugging Face folder (config.json + model.safetensors, F32) with the same weights, in HF's
// layout (rotate-half Q/K rows for llama, Conv1D [in, out] for gpt2).
void write_synth_hf(const SynthModel& model, const std::string& dir);

}  // namespace loupe
