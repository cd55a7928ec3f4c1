// Weights used in place from memory-mapped files, and the model they make up.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "model/config.h"
#include "tensor/weight.h"

namespace loupe {

class Tokenizer;

struct LayerWeights {
  const float* ln1_w = nullptr;  // [d_model]
  const float* ln1_b = nullptr;  // [d_model] LayerNorm only
  Weight wq, wk, wv, wo;         // [d_q, d_model], [d_kv, d_model] x2, [d_model, d_q]
  const float* bq = nullptr;     // [d_q]
  const float* bk = nullptr;     // [d_kv]
  const float* bv = nullptr;     // [d_kv]
  const float* bo = nullptr;     // [d_model]
  const float* ln2_w = nullptr;
  const float* ln2_b = nullptr;
  Weight w_gate;                  // [d_mlp, d_model] gated MLPs only
  Weight w_up;                    // [d_mlp, d_model]
  Weight w_down;                  // [d_model, d_mlp]
  const float* b_up = nullptr;    // [d_mlp]
  const float* b_down = nullptr;  // [d_model]

  const float* q_norm = nullptr;          // [d_head] per-head RMSNorm gains (qk_norm)
  const float* k_norm = nullptr;          // [d_head]
  const float* post_attn_norm = nullptr;  // [d_model] (post_norms)
  const float* post_ffn_norm = nullptr;   // [d_model]
  const float* sinks = nullptr;           // [n_heads] (attn_sinks)

  // Mixture of experts: a router and n_experts SwiGLU experts, each a slice of the file's
  // [n_experts, rows, cols] tensors (used in place).
  Weight router;                            // [n_experts, d_model]
  const float* router_bias = nullptr;       // [n_experts]
  std::vector<Weight> expert_gate;          // each [d_mlp, d_model]
  std::vector<Weight> expert_up;            // each [d_mlp, d_model]
  std::vector<Weight> expert_down;          // each [d_model, d_mlp]
  const float* expert_gate_bias = nullptr;  // [n_experts, d_mlp]
  const float* expert_up_bias = nullptr;    // [n_experts, d_mlp]
  const float* expert_down_bias = nullptr;  // [n_experts, d_model]
};

// A tensor of the file, for `loupe info`.
struct TensorSummary {
  std::string name;
  std::string type;            // "f32", "q8_0", "int8 group 32"
  std::vector<int64_t> shape;  // outermost first
  size_t nbytes = 0;
};

struct Model {
  ModelConfig config;
  std::string path;
  Weight tok_embed;  // [d_vocab, d_model]
  Weight pos_embed;  // [n_ctx, d_model] GPT-2 only
  std::vector<LayerWeights> layers;
  const float* ln_final_w = nullptr;
  const float* ln_final_b = nullptr;
  Weight unembed;                            // [d_vocab, d_model]
  const float* rope_freq_factors = nullptr;  // [d_head / 2] Llama-3 GGUF rope_freqs, optional
  std::vector<TensorSummary> tensors;        // every tensor of the file(s), in file order
  std::unique_ptr<Tokenizer> tokenizer;      // may be null (no tokenizer found)
  std::string tokenizer_source;
  std::string chat_template;  // GGUF tokenizer.chat_template or an HF folder's (hf_chat_template); "" if none

  std::vector<std::shared_ptr<MappedFile>> files;  // keep the maps alive
  std::deque<std::vector<float>> owned;            // small vectors converted to f32 at load
  std::deque<std::vector<uint8_t>> tile_copies;    // interleaved weight tiles (Weight::tiles)
  std::deque<std::vector<uint8_t>> panel_copies;   // VNNI panels (Weight::panels)

  ~Model();
  // Bytes of all weights (as stored).
  size_t weight_bytes() const;
  // A float pointer for a small vector, converting it once if it is not F32.
  const float* vector_f32(const Weight& w);
  // Gives every matmul weight that benefits from it an interleaved copy for one-row products
  // (Weight::tiles, decode speed) and releases the mapped pages it was copied from, so resident
  // memory stays about the same (they are read back from the file if anything else reads them).
  // LOUPE_PACK=0 turns it off. Returns the bytes copied.
  size_t pack_tiles();
  // For runs with q8 activations (the llama.cpp arithmetic): gives each Q8_0, Q4_0, Q4_K, Q5_K
  // and Q6_K matmul weight VNNI panels (Weight::panels), which serve its products from then on,
  // and drops its interleaved tiles, so resident memory stays about the same. Exact runs on the
  // same model then read those weights in place (same bits). load_model does this first when
  // LoadOptions::q8_panels is set. LOUPE_PACK=0 turns it off. Returns the bytes copied.
  size_t pack_panels();
  void for_each_matmul_weight(const std::function<void(Weight&)>& f);
  // Releases the file pages under a weight that has a copy (madvise; read back on demand).
  void release_pages(const Weight& w) const;
};

struct LoadOptions {
  std::string tokenizer_path;  // overrides the tokenizer found with the model
  bool q8_panels = false;      // pack_panels() at load, for runs with q8 activations
};

// Loads a GGUF file, a Hugging Face folder (or its config.json / .safetensors) or a llama2.c
// checkpoint, recognised by content. Errors name the file, tensor or field.
std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {});

}  // namespace loupe
