#include "model/synth.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/arch/family.h"
#include "model/loader_common.h"
#include "model/weight_names.h"

namespace loupe {
namespace {

// splitmix64 + Box-Muller: reproducible on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) / 9007199254740992.0; }
  float normal() {
    const double two_pi = 6.283185307179586;
    return static_cast<float>(std::sqrt(-2.0 * std::log(uniform())) * std::cos(two_pi * uniform()));
  }

 private:
  uint64_t s_;
};

}  // namespace

SynthModel make_synth_model(const SynthSpec& s) {
  SynthModel m;
  ModelConfig& c = m.config;
  c.arch = s.arch;
  c.arch_label = std::string(arch::family(s.arch).gguf_names.front());
  c.d_model = s.d_model;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.arch == Arch::Gpt2 ? s.n_heads : (s.n_kv_heads > 0 ? s.n_kv_heads : s.n_heads);
  if (s.n_heads <= 0) fail("--n-heads ", s.n_heads, " must be positive");
  if (s.d_head > 0) {
    if (!arch::family(s.arch).free_head_width && s.d_head * s.n_heads != s.d_model)
      fail("--d-head: ", c.arch_label, " needs d_head * n_heads = d_model (llama.cpp builds its query projection ",
           "d_model wide)");
    c.d_head = s.d_head;
  } else {
    if (s.d_model % s.n_heads != 0)
      fail("--n-heads ", s.n_heads, " must divide --d-model ", s.d_model, " (or give --d-head)");
    c.d_head = s.d_model / s.n_heads;
  }
  c.d_mlp = s.d_mlp > 0 ? s.d_mlp : (s.arch == Arch::Gpt2 ? 4 * s.d_model : (8 * s.d_model / 3 + 31) / 32 * 32);
  c.n_ctx = s.n_ctx;
  c.rope_theta = s.rope_theta;
  c.norm_eps =
      s.arch == Arch::Gpt2 || s.arch == Arch::Llama || s.arch == Arch::Phi3 || s.arch == Arch::GptOss ? 1e-5f : 1e-6f;
  const bool moe_family = s.arch == Arch::Qwen3Moe || s.arch == Arch::GptOss;
  if (moe_family) {
    c.n_experts = s.n_experts > 0 ? s.n_experts : 8;
    c.n_experts_used = s.n_experts_used > 0 ? s.n_experts_used : 2;
    if (c.n_experts_used > c.n_experts)
      fail("--n-experts-used ", c.n_experts_used, " exceeds --n-experts ", c.n_experts);
  } else if (s.n_experts > 0) {
    fail("--n-experts: ", arch_name(s.arch), " is not a mixture-of-experts family (qwen3moe, gpt-oss)");
  }
  const int64_t window = s.window > 0 ? s.window : std::min<int64_t>(8, s.n_ctx);
  auto windows = [&](auto local) {
    c.fill_layers();
    for (int64_t l = 0; l < c.n_layers; ++l) c.layers[static_cast<size_t>(l)].window = local(l) ? window : 0;
  };
  switch (s.arch) {
    case Arch::Gpt2:
      c.norm = NormKind::LayerNorm;
      c.mlp = MlpKind::Gelu;
      c.rope = RopeStyle::None;
      c.qkv_bias = c.out_bias = true;
      break;
    case Arch::Llama: c.rope = RopeStyle::Adjacent; break;
    case Arch::Qwen2:
      c.rope = RopeStyle::Halves;
      c.qkv_bias = true;
      break;
    case Arch::Qwen3:
    case Arch::Qwen3Moe:
      c.rope = RopeStyle::Halves;
      c.qk_norm = true;
      c.moe_norm_topk = true;
      break;
    case Arch::Gemma2:
      c.rope = RopeStyle::Halves;
      c.post_norms = true;
      c.mlp = MlpKind::GatedGelu;
      c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
      c.attn_softcap = 50.0f;
      c.final_softcap = 30.0f;
      windows([](int64_t l) { return l % 2 == 0; });
      break;
    case Arch::Gemma3:
      c.rope = RopeStyle::Halves;
      c.post_norms = c.qk_norm = true;
      c.mlp = MlpKind::GatedGelu;
      c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
      windows([](int64_t l) { return l % 6 < 5; });
      for (LayerSpec& ls : c.layers)
        if (ls.window > 0) ls.rope_theta = 10000.0f;
      break;
    case Arch::Phi3: c.rope = RopeStyle::Halves; break;
    case Arch::SmolLM3:
      c.rope = RopeStyle::Adjacent;
      c.fill_layers();
      for (int64_t l = 0; l < c.n_layers; ++l) c.layers[static_cast<size_t>(l)].rope = (l + 1) % 4 != 0;
      break;
    case Arch::GptOss:
      c.rope = RopeStyle::Halves;
      c.qkv_bias = c.attn_sinks = c.moe_bias = true;
      c.mlp = MlpKind::SwigluOai;
      c.moe_gating = MoeGating::TopKSoftmax;
      windows([](int64_t l) { return l % 2 == 0; });
      break;
  }
  if (s.window > 0 && c.max_window() == 0 && s.arch == Arch::Llama) windows([](int64_t) { return true; });
  c.fill_layers();
  // Gemma checkpoints always tie the unembedding to the embedding.
  c.tied_embeddings = s.tied || s.arch == Arch::Gemma2 || s.arch == Arch::Gemma3;
  if (s.vocab_path.empty()) fail("--vocab-from is required");
  GgufFile vocab = GgufFile::open(s.vocab_path);
  c.d_vocab = static_cast<int64_t>(vocab.get_string_array("tokenizer.ggml.tokens").size());
  c.validate("model new");

  Rng rng(s.seed);
  auto add = [&](WeightId id, int64_t l, const char* suffix, std::vector<int64_t> shape, float mean, float stddev) {
    SynthTensor t{gguf_tensor_name(id, l, suffix), std::move(shape), {}};
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    t.data.resize(n);
    for (auto& v : t.data) v = mean + stddev * rng.normal();
    m.tensors.push_back(std::move(t));
  };
  const float w = 0.02f;
  const float w_res = 0.02f / std::sqrt(2.0f * static_cast<float>(s.n_layers));  // GPT-2's scaled init
  const bool gpt2 = s.arch == Arch::Gpt2;
  add(WeightId::TokenEmbd, -1, "weight", {c.d_vocab, c.d_model}, 0.0f, w);
  if (gpt2) add(WeightId::PositionEmbd, -1, "weight", {c.n_ctx, c.d_model}, 0.0f, 0.01f);
  const int64_t e = c.n_experts;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    add(WeightId::AttnNorm, l, "weight", {c.d_model}, 1.0f, 0.1f);
    if (gpt2) add(WeightId::AttnNorm, l, "bias", {c.d_model}, 0.0f, 0.02f);
    if (gpt2 || s.arch == Arch::Phi3) {
      add(WeightId::AttnQkv, l, "weight", {c.d_q() + 2 * c.d_kv(), c.d_model}, 0.0f, w);
      if (gpt2) add(WeightId::AttnQkv, l, "bias", {c.d_q() + 2 * c.d_kv()}, 0.0f, 0.02f);
    } else {
      add(WeightId::AttnQ, l, "weight", {c.d_q(), c.d_model}, 0.0f, w);
      add(WeightId::AttnK, l, "weight", {c.d_kv(), c.d_model}, 0.0f, w);
      add(WeightId::AttnV, l, "weight", {c.d_kv(), c.d_model}, 0.0f, w);
      if (c.qkv_bias) {
        add(WeightId::AttnQ, l, "bias", {c.d_q()}, 0.0f, 0.02f);
        add(WeightId::AttnK, l, "bias", {c.d_kv()}, 0.0f, 0.02f);
        add(WeightId::AttnV, l, "bias", {c.d_kv()}, 0.0f, 0.02f);
      }
    }
    if (c.qk_norm) {
      add(WeightId::AttnQNorm, l, "weight", {c.d_head}, 1.0f, 0.1f);
      add(WeightId::AttnKNorm, l, "weight", {c.d_head}, 1.0f, 0.1f);
    }
    if (c.attn_sinks) add(WeightId::AttnSinks, l, "weight", {c.n_heads}, 0.0f, 1.0f);
    add(WeightId::AttnOutput, l, "weight", {c.d_model, c.d_q()}, 0.0f, w_res);
    if (gpt2 || s.arch == Arch::GptOss) add(WeightId::AttnOutput, l, "bias", {c.d_model}, 0.0f, 0.02f);
    if (c.post_norms) add(WeightId::AttnPostNorm, l, "weight", {c.d_model}, 1.0f, 0.1f);
    add(arch::family(s.arch).ffn_norm, l, "weight", {c.d_model}, 1.0f, 0.1f);
    if (gpt2) add(WeightId::FfnNorm, l, "bias", {c.d_model}, 0.0f, 0.02f);
    if (c.moe()) {
      add(WeightId::FfnGateInp, l, "weight", {e, c.d_model}, 0.0f, 0.5f);
      if (c.moe_bias) add(WeightId::FfnGateInp, l, "bias", {e}, 0.0f, 0.1f);
      add(WeightId::FfnGateExps, l, "weight", {e, c.d_mlp, c.d_model}, 0.0f, w);
      add(WeightId::FfnUpExps, l, "weight", {e, c.d_mlp, c.d_model}, 0.0f, w);
      add(WeightId::FfnDownExps, l, "weight", {e, c.d_model, c.d_mlp}, 0.0f, w_res);
      if (c.moe_bias) {
        add(WeightId::FfnGateExps, l, "bias", {e, c.d_mlp}, 0.0f, 0.02f);
        add(WeightId::FfnUpExps, l, "bias", {e, c.d_mlp}, 0.0f, 0.02f);
        add(WeightId::FfnDownExps, l, "bias", {e, c.d_model}, 0.0f, 0.02f);
      }
    } else if (gpt2) {
      add(WeightId::FfnUp, l, "weight", {c.d_mlp, c.d_model}, 0.0f, w);
      add(WeightId::FfnUp, l, "bias", {c.d_mlp}, 0.0f, 0.02f);
      add(WeightId::FfnDown, l, "weight", {c.d_model, c.d_mlp}, 0.0f, w_res);
      add(WeightId::FfnDown, l, "bias", {c.d_model}, 0.0f, 0.02f);
    } else {
      if (s.arch == Arch::Phi3) {
        add(WeightId::FfnUp, l, "weight", {2 * c.d_mlp, c.d_model}, 0.0f, w);  // [gate; up]
      } else {
        add(WeightId::FfnGate, l, "weight", {c.d_mlp, c.d_model}, 0.0f, w);
        add(WeightId::FfnUp, l, "weight", {c.d_mlp, c.d_model}, 0.0f, w);
      }
      add(WeightId::FfnDown, l, "weight", {c.d_model, c.d_mlp}, 0.0f, w_res);
    }
    if (c.post_norms) add(WeightId::FfnPostNorm, l, "weight", {c.d_model}, 1.0f, 0.1f);
  }
  add(WeightId::OutputNorm, -1, "weight", {c.d_model}, 1.0f, 0.1f);
  if (gpt2) add(WeightId::OutputNorm, -1, "bias", {c.d_model}, 0.0f, 0.02f);
  if (!c.tied_embeddings) add(WeightId::Output, -1, "weight", {c.d_vocab, c.d_model}, 0.0f, w);
  return m;
}

void write_synth_gguf(const SynthModel& m, const SynthSpec& s, const std::string& path,
                      std::vector<std::string>* notes) {
  const ModelConfig& c = m.config;
  GgufWriter w;
  const std::string a = c.arch_label + ".";
  w.set_string("general.architecture", c.arch_label);
  // Not the family's name: llama.cpp sets token attributes by general.name ("phi3" looks up
  // "<|endoftext|>", which a copied vocabulary may lack).
  w.set_string("general.name", cat("loupe random model d", c.d_model, " l", c.n_layers));
  w.set_u32("general.quantization_version", 2);
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.d_model));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layers));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.d_mlp));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_heads));
  if (c.arch == Arch::Gpt2) {
    w.set_f32(a + "attention.layer_norm_epsilon", c.norm_eps);
  } else {
    w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    w.set_f32(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
    w.set_f32(a + "rope.freq_base", c.rope_theta);
    w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.n_rot()));
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.d_head));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.d_head));
    w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.d_vocab));
  }
  if (c.moe()) {
    w.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_experts));
    w.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_experts_used));
    w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(c.d_mlp));
  }
  if (c.max_window() > 0 || c.arch == Arch::Gemma2 || c.arch == Arch::Gemma3 || c.arch == Arch::GptOss) {
    int64_t window = 0;
    for (const LayerSpec& ls : c.layers) window = std::max(window, ls.window);
    w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(window));
  }
  if (c.arch == Arch::Gemma2) {
    w.set_f32(a + "attn_logit_softcapping", c.attn_softcap);
    w.set_f32(a + "final_logit_softcapping", c.final_softcap);
  }
  if (c.arch == Arch::Gemma3) {
    float local = c.rope_theta;
    for (const LayerSpec& ls : c.layers)
      if (ls.window > 0) local = ls.rope_theta;
    w.set_f32(a + "rope.freq_base_swa", local);
  }
  GgufFile vocab = GgufFile::open(s.vocab_path);
  for (const auto& [key, v] : vocab.metadata())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, v);
  for (const auto& t : m.tensors) {
    DType type = DType::F32;
    const int64_t cols = t.shape.back();
    // As llama-quantize: biases (the experts' are 2-D) and the MoE router stay float.
    const bool keep_float = t.name.ends_with(".bias") || t.name.find("ffn_gate_inp") != std::string::npos;
    if (t.shape.size() >= 2 && !keep_float) {
      type = s.k_mix ? quant_mix_type(t.name, m.config.n_layers, s.type) : s.type;
      if (!row_fits_blocks(type, cols)) {
        DType fallback = row_fits_blocks(DType::Q8_0, cols) && s.type != DType::F16 && s.type != DType::BF16
                             ? DType::Q8_0
                             : DType::F32;
        if (notes)
          notes->push_back(cat(t.name, ": rows of ", cols, " do not fit ", dtype_name(type), " blocks of ",
                               dtype_traits(type).block_elems, "; stored as ", dtype_name(fallback)));
        type = fallback;
      }
    }
    const int64_t rows = static_cast<int64_t>(t.data.size()) / cols;
    std::vector<uint8_t> data(row_bytes(type, cols) * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      quantize_row(type, t.data.data() + r * cols, data.data() + row_bytes(type, cols) * static_cast<size_t>(r), cols);
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    w.add_tensor(t.name, type, std::move(ne), std::move(data));
  }
  w.set_u32("general.file_type", llama_file_type(s.type));
  w.write(path);
}

uint32_t llama_file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 12;
    case DType::Q4_K: return 15;
    case DType::Q5_K: return 17;
    case DType::Q6_K: return 18;
    case DType::IQ2_XXS: return 19;
    case DType::IQ2_XS: return 20;
    case DType::IQ3_XXS: return 23;
    case DType::IQ1_S: return 24;
    case DType::IQ4_NL: return 25;
    case DType::IQ3_S: return 26;
    case DType::IQ2_S: return 28;
    case DType::IQ4_XS: return 30;
    case DType::IQ1_M: return 31;
    case DType::BF16: return 32;
    case DType::TQ1_0: return 36;
    case DType::TQ2_0: return 37;
    case DType::MXFP4: return 38;  // MXFP4_MOE, the only llama.cpp file type of MXFP4 weights
  }
  return 0;
}

DType quant_mix_type(const std::string& tensor_name, int64_t n_layers, DType base) {
  if (tensor_name == "output.weight") return DType::Q6_K;
  int layer = -1;
  char kind[32] = {};
  if (std::sscanf(tensor_name.c_str(), "blk.%d.%31[a-z_].weight", &layer, kind) != 2) return base;
  const std::string k = kind;
  if (k != "attn_v" && k != "ffn_down") return base;
  const int64_t i = layer, n = n_layers;
  const bool more_bits = i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
  return more_bits ? DType::Q6_K : base;
}

void write_synth_hf(const SynthModel& m, const std::string& dir) {
  const ModelConfig& c = m.config;
  const arch::Family& fam = arch::family(c.arch);
  if (fam.read_hf == nullptr)
    fail("--format hf: loupe does not write or read Hugging Face folders of ", c.arch_label, "; write GGUF");
  std::filesystem::create_directories(dir);
  nlohmann::ordered_json cfg;
  if (c.arch == Arch::Gpt2) {
    cfg = {{"architectures", {"GPT2LMHeadModel"}},
           {"model_type", "gpt2"},
           {"n_embd", c.d_model},
           {"n_layer", c.n_layers},
           {"n_head", c.n_heads},
           {"n_inner", c.d_mlp},
           {"n_positions", c.n_ctx},
           {"vocab_size", c.d_vocab},
           {"layer_norm_epsilon", c.norm_eps},
           {"activation_function", "gelu_new"},
           {"tie_word_embeddings", c.tied_embeddings}};
  } else {
    static const std::pair<Arch, const char*> kClasses[] = {
        {Arch::Llama, "LlamaForCausalLM"},   {Arch::Qwen2, "Qwen2ForCausalLM"},
        {Arch::Qwen3, "Qwen3ForCausalLM"},   {Arch::Qwen3Moe, "Qwen3MoeForCausalLM"},
        {Arch::Gemma2, "Gemma2ForCausalLM"}, {Arch::Gemma3, "Gemma3ForCausalLM"},
        {Arch::Phi3, "Phi3ForCausalLM"},     {Arch::SmolLM3, "SmolLM3ForCausalLM"}};
    std::string cls;
    for (const auto& [a, n] : kClasses)
      if (a == c.arch) cls = n;
    cfg = {{"architectures", {cls}},
           {"model_type", std::string(fam.hf_types.front())},
           {"hidden_size", c.d_model},
           {"intermediate_size", c.d_mlp},
           {"num_hidden_layers", c.n_layers},
           {"num_attention_heads", c.n_heads},
           {"num_key_value_heads", c.n_kv_heads},
           {"head_dim", c.d_head},
           {"vocab_size", c.d_vocab},
           {"max_position_embeddings", c.n_ctx},
           {"rms_norm_eps", c.norm_eps},
           {"rope_theta", c.rope_theta},
           {"tie_word_embeddings", c.tied_embeddings},
           {"torch_dtype", "float32"}};
    const bool gemma = c.arch == Arch::Gemma2 || c.arch == Arch::Gemma3;
    cfg[gemma ? "hidden_activation" : "hidden_act"] = gemma ? "gelu_pytorch_tanh" : "silu";
    if (c.qkv_bias && c.arch == Arch::Llama) cfg["attention_bias"] = true;
    int64_t window = 0;
    for (const LayerSpec& ls : c.layers) window = std::max(window, ls.window);
    if (window > 0) cfg["sliding_window"] = window;
    if (gemma) cfg["query_pre_attn_scalar"] = c.d_head;
    if (c.arch == Arch::Gemma2) {
      cfg["attn_logit_softcapping"] = c.attn_softcap;
      cfg["final_logit_softcapping"] = c.final_softcap;
    }
    if (c.arch == Arch::Gemma3) {
      cfg["sliding_window_pattern"] = 6;
      float local = c.rope_theta;
      for (const LayerSpec& ls : c.layers)
        if (ls.window > 0) local = ls.rope_theta;
      cfg["rope_local_base_freq"] = local;
    }
    if (c.arch == Arch::Qwen3Moe) {
      cfg["num_experts"] = c.n_experts;
      cfg["num_experts_per_tok"] = c.n_experts_used;
      cfg["moe_intermediate_size"] = c.d_mlp;
      cfg["norm_topk_prob"] = c.moe_norm_topk;
      cfg["decoder_sparse_step"] = 1;
      cfg["mlp_only_layers"] = nlohmann::ordered_json::array();
    }
    if (c.arch == Arch::SmolLM3) {
      nlohmann::ordered_json nr = nlohmann::ordered_json::array();
      for (const LayerSpec& ls : c.layers) nr.push_back(ls.rope ? 1 : 0);
      cfg["no_rope_layers"] = nr;
    }
  }
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
  // GGUF name -> (weight, layer, suffix), to name each tensor as the family's HF checkpoints do.
  struct Key {
    WeightId id;
    int64_t layer;
    const char* suffix;
  };
  std::map<std::string, Key> keys;
  for (int i = 0; i < kWeightIdCount; ++i) {
    const auto id = static_cast<WeightId>(i);
    const bool per_layer = weight_name(id).per_layer;
    for (int64_t l = per_layer ? 0 : -1; l < (per_layer ? c.n_layers : 0); ++l)
      for (const char* suffix : {"weight", "bias"}) keys.emplace(gguf_tensor_name(id, l, suffix), Key{id, l, suffix});
  }
  struct Out {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
  };
  std::vector<Out> outs;
  for (const auto& t : m.tensors) {
    const Key k = keys.at(t.name);
    std::string name = fam.hf.name(k.id, k.layer, k.suffix);
    if (name.empty() && k.id == WeightId::Output) continue;  // tied in this family's HF layout
    LOUPE_ASSERT(!name.empty() || t.shape.size() == 3, "no HF name for ", t.name);
    Out o{name, t.shape, t.data};
    const bool qk = k.id == WeightId::AttnQ || k.id == WeightId::AttnK;
    if (fam.hf.unpermute_qk && qk) {
      // HF row h*d_head + j*half + i holds adjacent-pair row h*d_head + 2i + j.
      const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
      const int64_t heads = t.shape[0] / c.d_head;
      auto map = detail::unpermute_rotate_half(heads, c.d_head);  // logical -> stored
      for (size_t lr = 0; lr < map.size(); ++lr)
        std::copy_n(t.data.data() + lr * static_cast<size_t>(cols), cols,
                    o.data.data() + static_cast<size_t>(map[lr]) * static_cast<size_t>(cols));
    }
    const bool norm = k.id == WeightId::AttnNorm || k.id == WeightId::FfnNorm || k.id == WeightId::OutputNorm ||
                      k.id == WeightId::AttnPostNorm || k.id == WeightId::FfnPostNorm || k.id == WeightId::AttnQNorm ||
                      k.id == WeightId::AttnKNorm;
    if (fam.hf.norm_plus_one && norm && std::string_view(k.suffix) == "weight")
      for (float& v : o.data) v -= 1.0f;  // stored as w for a (1 + w) scale
    const bool linear = t.shape.size() == 2 && k.layer >= 0;
    if (fam.hf.transposed_linear && linear) {  // Conv1D stores [in, out]
      const int64_t rows = t.shape[0], cols = t.shape[1];
      o.shape = {cols, rows};
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j)
          o.data[static_cast<size_t>(j * rows + r)] = t.data[static_cast<size_t>(r * cols + j)];
    }
    if (t.shape.size() == 3) {  // one tensor per expert
      static const std::pair<WeightId, const char*> kProj[] = {
          {WeightId::FfnGateExps, "gate_proj"}, {WeightId::FfnUpExps, "up_proj"}, {WeightId::FfnDownExps, "down_proj"}};
      const char* proj = nullptr;
      for (const auto& [id, p] : kProj)
        if (id == k.id) proj = p;
      LOUPE_ASSERT(proj != nullptr && std::string_view(k.suffix) == "weight", "no HF name for ", t.name);
      const size_t per = static_cast<size_t>(t.shape[1] * t.shape[2]);
      for (int64_t e = 0; e < t.shape[0]; ++e)
        outs.push_back({cat(fam.hf.layer_prefix, k.layer, ".mlp.experts.", e, ".", proj, ".weight"),
                        {t.shape[1], t.shape[2]},
                        std::vector<float>(t.data.begin() + static_cast<std::ptrdiff_t>(e * per),
                                           t.data.begin() + static_cast<std::ptrdiff_t>((e + 1) * per))});
      continue;
    }
    outs.push_back(std::move(o));
  }
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (const auto& o : outs) {
    uint64_t n = o.data.size() * 4;
    header[o.name] = {{"dtype", "F32"}, {"shape", o.shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  const std::string path = (std::filesystem::path(dir) / "model.safetensors").string();
  AtomicFile f(path);
  const uint64_t hl = h.size();
  f.write(&hl, 8);
  f.write(h);
  for (const auto& o : outs) f.write(o.data.data(), o.data.size() * 4);
  f.commit();
}

}  // namespace loupe
