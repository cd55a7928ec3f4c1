#include "model/synth.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/loader_common.h"

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

// llama.cpp's llama_ftype for a model whose weights are all of one type (the K-quants as their
// "M" mixes, the name llama-quantize gives them).
uint32_t llama_ftype(DType t) {
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

}  // namespace

SynthModel make_synth_model(const SynthSpec& s) {
  SynthModel m;
  ModelConfig& c = m.config;
  c.arch = s.arch;
  c.arch_label = std::string(arch_name(s.arch));
  c.d_model = s.d_model;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.arch == Arch::Gpt2 ? s.n_heads : (s.n_kv_heads > 0 ? s.n_kv_heads : s.n_heads);
  if (s.n_heads <= 0 || s.d_model % s.n_heads != 0) fail("--n-heads ", s.n_heads, " must divide --d-model ", s.d_model);
  c.d_head = s.d_model / s.n_heads;
  c.d_mlp = s.d_mlp > 0 ? s.d_mlp : (s.arch == Arch::Gpt2 ? 4 * s.d_model : (8 * s.d_model / 3 + 31) / 32 * 32);
  c.n_ctx = s.n_ctx;
  c.rope_theta = s.rope_theta;
  if (s.arch == Arch::Gpt2) {
    c.norm = NormKind::LayerNorm;
    c.mlp = MlpKind::Gelu;
    c.rope = RopeStyle::None;
    c.qkv_bias = c.out_bias = true;
  }
  c.tied_embeddings = s.tied;
  if (s.vocab_path.empty()) fail("--vocab-from is required");
  GgufFile vocab = GgufFile::open(s.vocab_path);
  c.d_vocab = static_cast<int64_t>(vocab.get_string_array("tokenizer.ggml.tokens").size());
  c.validate("model new");

  Rng rng(s.seed);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean, float stddev) {
    SynthTensor t{name, std::move(shape), {}};
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    t.data.resize(n);
    for (auto& v : t.data) v = mean + stddev * rng.normal();
    m.tensors.push_back(std::move(t));
  };
  const float w = 0.02f;
  const float w_res = 0.02f / std::sqrt(2.0f * static_cast<float>(s.n_layers));  // GPT-2's scaled init
  add("token_embd.weight", {c.d_vocab, c.d_model}, 0.0f, w);
  if (s.arch == Arch::Gpt2) add("position_embd.weight", {c.n_ctx, c.d_model}, 0.0f, 0.01f);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = cat("blk.", l, ".");
    add(b + "attn_norm.weight", {c.d_model}, 1.0f, 0.1f);
    if (s.arch == Arch::Gpt2) {
      add(b + "attn_norm.bias", {c.d_model}, 0.0f, 0.02f);
      add(b + "attn_qkv.weight", {c.d_q() + 2 * c.d_kv(), c.d_model}, 0.0f, w);
      add(b + "attn_qkv.bias", {c.d_q() + 2 * c.d_kv()}, 0.0f, 0.02f);
      add(b + "attn_output.weight", {c.d_model, c.d_q()}, 0.0f, w_res);
      add(b + "attn_output.bias", {c.d_model}, 0.0f, 0.02f);
      add(b + "ffn_norm.weight", {c.d_model}, 1.0f, 0.1f);
      add(b + "ffn_norm.bias", {c.d_model}, 0.0f, 0.02f);
      add(b + "ffn_up.weight", {c.d_mlp, c.d_model}, 0.0f, w);
      add(b + "ffn_up.bias", {c.d_mlp}, 0.0f, 0.02f);
      add(b + "ffn_down.weight", {c.d_model, c.d_mlp}, 0.0f, w_res);
      add(b + "ffn_down.bias", {c.d_model}, 0.0f, 0.02f);
    } else {
      add(b + "attn_q.weight", {c.d_q(), c.d_model}, 0.0f, w);
      add(b + "attn_k.weight", {c.d_kv(), c.d_model}, 0.0f, w);
      add(b + "attn_v.weight", {c.d_kv(), c.d_model}, 0.0f, w);
      add(b + "attn_output.weight", {c.d_model, c.d_q()}, 0.0f, w_res);
      add(b + "ffn_norm.weight", {c.d_model}, 1.0f, 0.1f);
      add(b + "ffn_gate.weight", {c.d_mlp, c.d_model}, 0.0f, w);
      add(b + "ffn_up.weight", {c.d_mlp, c.d_model}, 0.0f, w);
      add(b + "ffn_down.weight", {c.d_model, c.d_mlp}, 0.0f, w_res);
    }
  }
  add("output_norm.weight", {c.d_model}, 1.0f, 0.1f);
  if (s.arch == Arch::Gpt2) add("output_norm.bias", {c.d_model}, 0.0f, 0.02f);
  if (!s.tied) add("output.weight", {c.d_vocab, c.d_model}, 0.0f, w);
  return m;
}

void write_synth_gguf(const SynthModel& m, const SynthSpec& s, const std::string& path,
                      std::vector<std::string>* notes) {
  const ModelConfig& c = m.config;
  GgufWriter w;
  const std::string a = c.arch_label + ".";
  w.set_string("general.architecture", c.arch_label);
  w.set_string("general.name", cat("loupe random ", c.arch_label, " d", c.d_model, " l", c.n_layers));
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
    w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.d_head));
    w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.d_vocab));
  }
  GgufFile vocab = GgufFile::open(s.vocab_path);
  for (const auto& [key, v] : vocab.metadata())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, v);
  for (const auto& t : m.tensors) {
    DType type = DType::F32;
    const int64_t cols = t.shape.back();
    if (t.shape.size() == 2) {
      type = s.type;
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
  w.set_u32("general.file_type", llama_ftype(s.type));
  w.write(path);
}

namespace {

std::string hf_name_llama(const std::string& n) {
  if (n == "token_embd.weight") return "model.embed_tokens.weight";
  if (n == "output_norm.weight") return "model.norm.weight";
  if (n == "output.weight") return "lm_head.weight";
  static const std::vector<std::pair<std::string, std::string>> per = {
      {"attn_norm.weight", "input_layernorm.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},   {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},   {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},    {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"}};
  size_t dot = n.find('.', 4);
  std::string layer = n.substr(4, dot - 4), rest = n.substr(dot + 1);
  for (const auto& [g, h] : per)
    if (g == rest) return "model.layers." + layer + "." + h;
  LOUPE_ASSERT(false, "no HF name for ", n);
  return "";
}

std::string hf_name_gpt2(const std::string& n) {
  if (n == "token_embd.weight") return "wte.weight";
  if (n == "position_embd.weight") return "wpe.weight";
  if (n == "output_norm.weight") return "ln_f.weight";
  if (n == "output_norm.bias") return "ln_f.bias";
  if (n == "output.weight") return "lm_head.weight";
  static const std::vector<std::pair<std::string, std::string>> per = {
      {"attn_norm", "ln_1"}, {"attn_qkv", "attn.c_attn"}, {"attn_output", "attn.c_proj"},
      {"ffn_norm", "ln_2"},  {"ffn_up", "mlp.c_fc"},      {"ffn_down", "mlp.c_proj"}};
  size_t dot = n.find('.', 4);
  std::string layer = n.substr(4, dot - 4), rest = n.substr(dot + 1);
  size_t d2 = rest.find('.');
  std::string stem = rest.substr(0, d2), kind = rest.substr(d2);
  for (const auto& [g, h] : per)
    if (g == stem) return "h." + layer + "." + h + kind;
  LOUPE_ASSERT(false, "no HF name for ", n);
  return "";
}

}  // namespace

void write_synth_hf(const SynthModel& m, const std::string& dir) {
  const ModelConfig& c = m.config;
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
    cfg = {{"architectures", {"LlamaForCausalLM"}},
           {"model_type", "llama"},
           {"hidden_size", c.d_model},
           {"intermediate_size", c.d_mlp},
           {"num_hidden_layers", c.n_layers},
           {"num_attention_heads", c.n_heads},
           {"num_key_value_heads", c.n_kv_heads},
           {"vocab_size", c.d_vocab},
           {"max_position_embeddings", c.n_ctx},
           {"rms_norm_eps", c.norm_eps},
           {"rope_theta", c.rope_theta},
           {"hidden_act", "silu"},
           {"tie_word_embeddings", c.tied_embeddings},
           {"torch_dtype", "float32"}};
  }
  {
    std::ofstream f(std::filesystem::path(dir) / "config.json");
    if (!f) fail(dir, "/config.json: cannot write");
    f << cfg.dump(2) << "\n";
  }
  // Tensors in HF layout.
  struct Out {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
  };
  std::vector<Out> outs;
  for (const auto& t : m.tensors) {
    Out o{c.arch == Arch::Gpt2 ? hf_name_gpt2(t.name) : hf_name_llama(t.name), t.shape, t.data};
    const bool qk =
        t.name.find("attn_q.weight") != std::string::npos || t.name.find("attn_k.weight") != std::string::npos;
    if (c.arch == Arch::Llama && qk) {
      // HF row h*d_head + j*half + i holds adjacent-pair row h*d_head + 2i + j.
      const int64_t heads = t.shape[0] / c.d_head;
      auto map = detail::unpermute_rotate_half(heads, c.d_head);  // logical -> stored
      for (size_t lr = 0; lr < map.size(); ++lr)
        std::copy_n(t.data.data() + lr * static_cast<size_t>(c.d_model), c.d_model,
                    o.data.data() + static_cast<size_t>(map[lr]) * static_cast<size_t>(c.d_model));
    }
    const bool linear = t.shape.size() == 2 && t.name.rfind("blk.", 0) == 0;
    if (c.arch == Arch::Gpt2 && linear) {  // Conv1D stores [in, out]
      const int64_t rows = t.shape[0], cols = t.shape[1];
      o.shape = {cols, rows};
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < cols; ++k)
          o.data[static_cast<size_t>(k * rows + r)] = t.data[static_cast<size_t>(r * cols + k)];
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
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(path, ": cannot write");
  uint64_t hl = h.size();
  f.write(reinterpret_cast<const char*>(&hl), 8);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& o : outs)
    f.write(reinterpret_cast<const char*>(o.data.data()), static_cast<std::streamsize>(o.data.size() * 4));
  if (!f) fail(path, ": write failed");
}

}  // namespace loupe
