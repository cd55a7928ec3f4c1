// The GPT-2 path end to end: a random-weight GPT-2 (model/synth) written as GGUF and as a Hugging
// Face folder (Conv1D [in, out] weights, read through transposed storage) must load to the same
// logits, and those logits must match a plain float64 forward pass written here from the
// synth's float tensors. The weights are rescaled so every activation is O(1) (GPT-2's own init
// leaves the residual stream near 0.03, where a wrong GELU or a missing bias hides under any
// tolerance); `ReferenceIsSensitive` shows that plausible mistakes miss the tolerance by far.
//
// Dimension legend: n = tokens, d = d_model, h = n_heads, dh = d_head, f = d_mlp, V = d_vocab.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/driver.h"
#include "engine/interpreter.h"
#include "model/synth.h"
#include "model/weights.h"
#include "reference_math.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace {

using test::engine_logits;
using test::linear;
using test::max_abs_diff;
using test::sci;

namespace fs = std::filesystem;

std::string gpt2_vocab() {
  return test::shared("tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf");
}

SynthSpec gpt2_spec(bool tied) {
  SynthSpec s;
  s.arch = Arch::Gpt2;
  s.d_model = 64;
  s.n_layers = 2;
  s.n_heads = 4;
  s.n_ctx = 32;
  s.tied = tied;
  s.seed = 7;
  s.vocab_path = gpt2_vocab();
  return s;
}

// Token ids spread over the vocabulary, BOS/EOS (50256) included.
const std::vector<int32_t> kTokens = {15496, 995, 11, 314, 716, 257, 1332, 13, 50256, 0, 50000, 42};

// Rescales the synth weights so activations are O(1): linear weights to std ~1/sqrt(fan-in),
// embeddings to std ~1, biases to std ~0.1; norm weights stay around 1.
void sharpen(SynthModel& m) {
  for (auto& t : m.tensors) {
    float k = 1.0f;
    if (t.name == "token_embd.weight" || t.name == "position_embd.weight") {
      k = 50.0f;
    } else if (t.shape.size() == 2) {
      k = 1.0f / (0.02f * std::sqrt(static_cast<float>(t.shape[1])));
    } else if (t.name.find(".bias") != std::string::npos) {
      k = 5.0f;
    }
    for (auto& v : t.data) v *= k;
  }
}

// Deliberate mistakes the reference can make, to show the comparison notices them.
struct Variant {
  bool gelu_erf = false;        // exact GELU instead of the tanh approximation
  bool no_pos_embed = false;    // forget the learned positions
  bool no_causal_mask = false;  // attend to future positions too
  bool swap_kv = false;         // read k and v from each other's slice of the fused qkv
};

struct Reference {
  std::vector<double> logits;                   // [n, V]
  std::vector<std::vector<double>> resid_post;  // per layer [n, d]
};

std::vector<double> layer_norm(const std::vector<double>& x, const std::vector<float>& g, const std::vector<float>& b,
                               double eps) {
  const size_t d = x.size();
  double mean = 0.0, var = 0.0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(d);
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(d);
  std::vector<double> y(d);
  for (size_t k = 0; k < d; ++k) y[k] = (x[k] - mean) / std::sqrt(var + eps) * g[k] + b[k];
  return y;
}

double gelu_new(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
double gelu_erf(double x) {
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

// GPT-2 forward in float64, straight from the canonical [out, in] float tensors.
Reference reference_gpt2(const SynthModel& m, const std::vector<int32_t>& tokens, const Variant& v = {}) {
  const ModelConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(tokens.size()), d = c.d_model, H = c.n_heads, dh = c.d_head, f = c.d_mlp;
  const double eps = c.norm_eps;
  const auto& wte = test::synth_tensor(m, "token_embd.weight");     // [V, d]
  const auto& wpe = test::synth_tensor(m, "position_embd.weight");  // [n_ctx, d]
  std::vector<std::vector<double>> x(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(d)));  // [n][d]
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k)
      x[i][k] = static_cast<double>(wte[static_cast<size_t>(tokens[i] * d + k)]) +
                (v.no_pos_embed ? 0.0 : static_cast<double>(wpe[static_cast<size_t>(i * d + k)]));
  Reference ref;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto T = [&](const char* s) -> const std::vector<float>& {
      return test::synth_tensor(m, "blk." + std::to_string(l) + "." + s);
    };
    // Attention: fused qkv [3d, d] with bias, rows q | k | v.
    std::vector<std::vector<double>> q(n), k(n), val(n);  // [n][d]
    for (int64_t i = 0; i < n; ++i) {
      auto h = layer_norm(x[i], T("attn_norm.weight"), T("attn_norm.bias"), eps);
      auto qkv = linear(T("attn_qkv.weight"), T("attn_qkv.bias").data(), h, 3 * d, d);
      q[i].assign(qkv.begin(), qkv.begin() + d);
      k[i].assign(qkv.begin() + (v.swap_kv ? 2 : 1) * d, qkv.begin() + (v.swap_kv ? 3 : 2) * d);
      val[i].assign(qkv.begin() + (v.swap_kv ? 1 : 2) * d, qkv.begin() + (v.swap_kv ? 2 : 3) * d);
    }
    for (int64_t i = 0; i < n; ++i) {
      const auto z =
          test::attention_row(q, k, val, i, v.no_causal_mask ? n - 1 : i, H, dh, [](int64_t h) { return h; });
      auto o = linear(T("attn_output.weight"), T("attn_output.bias").data(), z, d, d);
      for (int64_t e = 0; e < d; ++e) x[i][e] += o[e];
    }
    // MLP: up [f, d] + bias, gelu, down [d, f] + bias.
    for (int64_t i = 0; i < n; ++i) {
      auto h = layer_norm(x[i], T("ffn_norm.weight"), T("ffn_norm.bias"), eps);
      auto u = linear(T("ffn_up.weight"), T("ffn_up.bias").data(), h, f, d);
      for (auto& e : u) e = v.gelu_erf ? gelu_erf(e) : gelu_new(e);
      auto o = linear(T("ffn_down.weight"), T("ffn_down.bias").data(), u, d, f);
      for (int64_t e = 0; e < d; ++e) x[i][e] += o[e];
    }
    std::vector<double> flat;
    for (const auto& row : x) flat.insert(flat.end(), row.begin(), row.end());
    ref.resid_post.push_back(std::move(flat));
  }
  const auto& W_U = c.tied_embeddings ? wte : test::synth_tensor(m, "output.weight");  // [V, d]
  for (int64_t i = 0; i < n; ++i) {
    auto h =
        layer_norm(x[i], test::synth_tensor(m, "output_norm.weight"), test::synth_tensor(m, "output_norm.bias"), eps);
    auto lg = linear(W_U, nullptr, h, c.d_vocab, d);
    ref.logits.insert(ref.logits.end(), lg.begin(), lg.end());
  }
  return ref;
}

double max_abs(const std::vector<double>& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// Both formats of one synth model in a temporary folder.
struct Written {
  std::string dir, gguf, hf;
  explicit Written(const SynthModel& m, const SynthSpec& s, const std::string& tag) {
    dir = test::temp_dir(tag);
    gguf = dir + "/model.gguf";
    hf = dir + "/hf";
    std::vector<std::string> notes;
    write_synth_gguf(m, s, gguf, &notes);
    EXPECT_TRUE(notes.empty()) << notes.front();
    write_synth_hf(m, hf);
  }
  ~Written() { fs::remove_all(dir); }
};

constexpr double kFormatTol = 1e-5;  // GGUF vs HF logits
constexpr double kRefTol = 1e-4;     // engine vs float64 reference logits

class Gpt2Both : public ::testing::TestWithParam<bool> {};

TEST_P(Gpt2Both, GgufAndHfMatchReference) {
  const bool tied = GetParam();
  SynthSpec spec = gpt2_spec(tied);
  SynthModel m = make_synth_model(spec);
  sharpen(m);
  Written w(m, spec, "gpt2");
  auto g = load_model(w.gguf);
  auto h = load_model(w.hf);
  for (const Model* mm : {g.get(), h.get()}) {
    const ModelConfig& c = mm->config;
    EXPECT_EQ(c.arch, Arch::Gpt2);
    EXPECT_EQ(c.d_model, 64);
    EXPECT_EQ(c.n_layers, 2);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.d_head, 16);
    EXPECT_EQ(c.d_mlp, 256);
    EXPECT_EQ(c.d_vocab, 50257);
    EXPECT_EQ(c.n_ctx, 32);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
    EXPECT_EQ(c.norm, NormKind::LayerNorm);
    EXPECT_EQ(c.mlp, MlpKind::Gelu);
    EXPECT_EQ(c.rope, RopeStyle::None);
    EXPECT_EQ(c.tied_embeddings, tied);
  }
  EXPECT_EQ(h->layers[0].wq.storage, Storage::Transposed);
  EXPECT_EQ(g->layers[0].wq.storage, Storage::Rows);

  const auto lg = engine_logits(*g, kTokens);
  const auto lh = engine_logits(*h, kTokens);
  const Reference ref = reference_gpt2(m, kTokens);
  ASSERT_EQ(lg.size(), kTokens.size() * 50257);
  EXPECT_GT(max_abs(ref.logits), 1.0) << "logits should be O(1) for the comparison to mean anything";
  const double d_formats = max_abs_diff(lg, lh);
  const double d_ref_g = max_abs_diff(lg, ref.logits);
  const double d_ref_h = max_abs_diff(lh, ref.logits);
  EXPECT_LE(d_formats, kFormatTol);
  EXPECT_LE(d_ref_g, kRefTol);
  EXPECT_LE(d_ref_h, kRefTol);
  RecordProperty("max_diff_gguf_hf", sci(d_formats));
  RecordProperty("max_diff_ref", sci(std::max(d_ref_g, d_ref_h)));
}

INSTANTIATE_TEST_SUITE_P(Unembedding, Gpt2Both, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("Tied") : std::string("Untied"); });

// A mistake in the reference (or, symmetrically, in the engine) is outside the tolerance: the
// engine sits within ~6e-6 of the reference, the subtlest mistake here (exact GELU for
// gelu_new) moves the logits by ~4e-4, the others by O(1).
TEST(Gpt2, ReferenceIsSensitive) {
  SynthSpec spec = gpt2_spec(false);
  SynthModel m = make_synth_model(spec);
  sharpen(m);
  Written w(m, spec, "gpt2-sens");
  auto g = load_model(w.gguf);
  const auto lg = engine_logits(*g, kTokens);
  const std::vector<std::pair<const char*, Variant>> variants = {{"gelu_erf", {.gelu_erf = true}},
                                                                 {"no_pos_embed", {.no_pos_embed = true}},
                                                                 {"no_causal_mask", {.no_causal_mask = true}},
                                                                 {"swap_kv", {.swap_kv = true}}};
  for (const auto& [name, v] : variants)
    EXPECT_GT(max_abs_diff(lg, reference_gpt2(m, kTokens, v).logits), 3 * kRefTol) << name;
}

// The synth's own (GPT-2 init) scale, made by the CLI: both formats agree with each other and
// with the reference.
TEST(Gpt2, CliModelNewBothFormats) {
  const std::string dir = test::temp_dir("gpt2-cli");
  const std::string common =
      "model new --arch gpt2 --d-model 64 --n-layers 2 --n-heads 4 --n-ctx 32 --seed 11 --vocab-from " + gpt2_vocab();
  auto r1 = test::run_loupe(common + " -o " + dir + "/m.gguf");
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  auto r2 = test::run_loupe(common + " --format hf -o " + dir + "/hf");
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(fs::exists(dir + "/hf/config.json"));
  EXPECT_TRUE(fs::exists(dir + "/hf/model.safetensors"));

  SynthSpec spec = gpt2_spec(false);
  spec.seed = 11;
  const SynthModel m = make_synth_model(spec);  // what the CLI drew
  auto g = load_model(dir + "/m.gguf");
  auto h = load_model(dir + "/hf");
  const auto lg = engine_logits(*g, kTokens);
  const auto lh = engine_logits(*h, kTokens);
  const auto ref = reference_gpt2(m, kTokens).logits;
  EXPECT_LE(max_abs_diff(lg, lh), kFormatTol);
  EXPECT_LE(max_abs_diff(lg, ref), kRefTol);
  EXPECT_LE(max_abs_diff(lh, ref), kRefTol);
  fs::remove_all(dir);
}

// Learned positions follow the KV cache: one token at a time (and 2 threads) gives the batched
// prefill's logits bit for bit, in both formats.
TEST(Gpt2, IncrementalMatchesBatched) {
  SynthSpec spec = gpt2_spec(false);
  SynthModel m = make_synth_model(spec);
  sharpen(m);
  Written w(m, spec, "gpt2-inc");
  for (const std::string& path : {w.gguf, w.hf}) {
    SCOPED_TRACE(path);
    auto model = load_model(path);
    const auto base = engine_logits(*model, kTokens);
    EXPECT_EQ(base, engine_logits(*model, kTokens, 2));
    Interpreter interp(*model, RunOptions{});
    std::vector<float> inc;
    for (int32_t t : kTokens) {
      const int32_t one[1] = {t};
      interp.begin(one, false);
      interp.finish();
      inc.insert(inc.end(), interp.logits(), interp.logits() + model->config.d_vocab);
    }
    EXPECT_EQ(base, inc);
  }
}

// Records every hook event: name -> (shape, copy of the data).
class Recorder : public Observer {
 public:
  void on_hook(const HookEvent& e) override {
    auto& r = seen[e.point->name];
    r.shape = e.shape.vec();
    r.data.assign(e.data, e.data + e.shape.numel());
  }
  struct Rec {
    std::vector<int64_t> shape;
    std::vector<float> data;
  };
  std::map<std::string, Rec> seen;
};

TEST(Gpt2, HookNamesAndShapes) {
  SynthSpec spec = gpt2_spec(false);
  SynthModel m = make_synth_model(spec);
  sharpen(m);
  Written w(m, spec, "gpt2-hooks");
  auto model = load_model(w.gguf);
  Interpreter interp(*model, RunOptions{});
  const HookTable& hooks = interp.hooks();

  // The exact ordered list of one block, TransformerLens names, no RoPE or gate hooks.
  std::vector<std::string> block0;
  for (const auto& p : hooks.points())
    if (p.layer == 0) block0.push_back(p.name);
  const std::vector<std::string> want_block = {
      "blocks.0.hook_resid_pre",        "blocks.0.ln1.hook_scale",    "blocks.0.ln1.hook_normalized",
      "blocks.0.attn.hook_q",           "blocks.0.attn.hook_k",       "blocks.0.attn.hook_v",
      "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
      "blocks.0.hook_attn_out",         "blocks.0.hook_resid_mid",    "blocks.0.ln2.hook_scale",
      "blocks.0.ln2.hook_normalized",   "blocks.0.mlp.hook_pre",      "blocks.0.mlp.hook_post",
      "blocks.0.hook_mlp_out",          "blocks.0.hook_resid_post"};
  EXPECT_EQ(block0, want_block);
  EXPECT_EQ(hooks.size(), 2 + 2 * 17 + 3);
  EXPECT_EQ(hooks[0].name, "hook_embed");
  EXPECT_EQ(hooks[1].name, "hook_pos_embed");
  EXPECT_TRUE(hooks.find("hook_pos_embed").has_value());
  EXPECT_TRUE(hooks.id(HookKind::PosEmbed, -1).has_value());
  for (const auto& p : hooks.points()) {
    EXPECT_EQ(p.name.find("rot_q"), std::string::npos) << p.name;
    EXPECT_EQ(p.name.find("rot_k"), std::string::npos) << p.name;
    EXPECT_EQ(p.name.find("pre_linear"), std::string::npos) << p.name;
  }
  EXPECT_FALSE(hooks.id(HookKind::RotQ, 0).has_value());
  EXPECT_FALSE(hooks.id(HookKind::MlpPreLinear, 0).has_value());

  Recorder rec;
  for (int id = 0; id < hooks.size(); ++id) interp.observe(id, &rec);
  const int64_t n = static_cast<int64_t>(kTokens.size());
  interp.begin(kTokens, true);
  interp.finish();
  ASSERT_EQ(static_cast<int>(rec.seen.size()), hooks.size());
  using S = std::vector<int64_t>;
  EXPECT_EQ(rec.seen["hook_embed"].shape, (S{n, 64}));
  EXPECT_EQ(rec.seen["hook_pos_embed"].shape, (S{n, 64}));
  EXPECT_EQ(rec.seen["blocks.1.ln1.hook_scale"].shape, (S{n, 1}));
  EXPECT_EQ(rec.seen["blocks.1.attn.hook_q"].shape, (S{n, 4, 16}));
  EXPECT_EQ(rec.seen["blocks.1.attn.hook_k"].shape, (S{n, 4, 16}));
  EXPECT_EQ(rec.seen["blocks.1.attn.hook_v"].shape, (S{n, 4, 16}));
  EXPECT_EQ(rec.seen["blocks.1.attn.hook_attn_scores"].shape, (S{4, n, n}));
  EXPECT_EQ(rec.seen["blocks.1.attn.hook_pattern"].shape, (S{4, n, n}));
  EXPECT_EQ(rec.seen["blocks.1.attn.hook_z"].shape, (S{n, 4, 16}));
  EXPECT_EQ(rec.seen["blocks.1.mlp.hook_pre"].shape, (S{n, 256}));
  EXPECT_EQ(rec.seen["blocks.1.mlp.hook_post"].shape, (S{n, 256}));
  EXPECT_EQ(rec.seen["blocks.1.hook_resid_post"].shape, (S{n, 64}));
  EXPECT_EQ(rec.seen["ln_final.hook_normalized"].shape, (S{n, 64}));
  EXPECT_EQ(rec.seen["unembed.hook_logits"].shape, (S{n, 50257}));

  // Contents: the position embedding is W_pos's rows, patterns are causal distributions, and
  // the residual stream after each block matches the reference.
  const auto& wpe = test::synth_tensor(m, "position_embd.weight");
  EXPECT_EQ(rec.seen["hook_pos_embed"].data, std::vector<float>(wpe.begin(), wpe.begin() + n * 64));
  const auto& pat = rec.seen["blocks.0.attn.hook_pattern"].data;
  for (int64_t hh = 0; hh < 4; ++hh)
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const float p = pat[static_cast<size_t>((hh * n + i) * n + j)];
        if (j > i) {
          EXPECT_EQ(p, 0.0f) << "head " << hh << " query " << i << " key " << j;
        }
        sum += p;
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  const Reference ref = reference_gpt2(m, kTokens);
  for (int l = 0; l < 2; ++l)
    EXPECT_LE(max_abs_diff(rec.seen["blocks." + std::to_string(l) + ".hook_resid_post"].data, ref.resid_post[l]), 1e-4)
        << "layer " << l;
}

// The engine's GELU is the tanh approximation: an HF GPT-2 asking for another activation is
// refused by name rather than run slightly wrong; the tanh aliases load.
TEST(Gpt2, HfActivationFunctionChecked) {
  SynthSpec spec = gpt2_spec(true);
  spec.n_layers = 1;
  const SynthModel m = make_synth_model(spec);
  const std::string dir = test::temp_dir("gpt2-act");
  write_synth_hf(m, dir);
  const std::string cfg_path = dir + "/config.json";
  const std::string cfg = test::read_file(cfg_path);
  auto with_activation = [&](const std::string& act) {
    std::string c = cfg;
    const std::string key = "\"activation_function\": \"gelu_new\"";
    const size_t at = c.find(key);
    EXPECT_NE(at, std::string::npos) << c;
    c.replace(at, key.size(), "\"activation_function\": \"" + act + "\"");
    std::ofstream(cfg_path, std::ios::trunc) << c;
  };
  for (const char* ok : {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"}) {
    with_activation(ok);
    EXPECT_NO_THROW(load_model(dir)) << ok;
  }
  for (const char* bad : {"gelu", "relu"}) {
    with_activation(bad);
    try {
      load_model(dir);
      ADD_FAILURE() << bad << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("activation_function '" + std::string(bad) + "'"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

TEST(Gpt2, GgufTokenizerIsGpt2Bpe) {
  SynthSpec spec = gpt2_spec(true);
  spec.n_layers = 1;
  SynthModel m = make_synth_model(spec);
  const std::string dir = test::temp_dir("gpt2-tok");
  write_synth_gguf(m, spec, dir + "/m.gguf", nullptr);
  auto model = load_model(dir + "/m.gguf");
  ASSERT_NE(model->tokenizer, nullptr);
  EXPECT_EQ(model->tokenizer->kind(), "bpe");
  EXPECT_EQ(model->tokenizer->n_vocab(), 50257);
  EXPECT_EQ(model->tokenizer->encode("Hello world", false), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(model->tokenizer->decode(std::vector<int32_t>{15496, 995}), "Hello world");
  EXPECT_EQ(model->config.eos_id, 50256);
  EXPECT_FALSE(default_add_bos(*model));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loupe
