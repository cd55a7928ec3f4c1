// The llama path end to end on random-weight models (model/synth): GQA, untied unembedding,
// written as GGUF and as a Hugging Face folder (Q/K rows permuted to rotate-half, un-permuted by
// the loader). Both must load to the same logits, which must match a plain float64 forward pass
// written here (RMSNorm, RoPE on adjacent pairs, GQA, SiLU-gated MLP). Then: quantised GGUF
// types against f32 (the dequantisers end to end), the CLI, and determinism (seeded sampling,
// thread count, batched prefill against one token at a time).
//
// The weights are rescaled so activations are O(1) and the attention is far from uniform;
// `ReferenceIsSensitive` shows that plausible mistakes miss the tolerance by far.
//
// Dimension legend: n = tokens, d = d_model, h = n_heads, g = n_kv_heads, dh = d_head,
// f = d_mlp, V = d_vocab.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/driver.h"
#include "engine/interpreter.h"
#include "formats/gguf.h"
#include "model/sampler.h"
#include "model/synth.h"
#include "model/weights.h"
#include "reference_math.h"
#include "tensor/kernels.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace {

using test::engine_logits;
using test::linear;
using test::max_abs_diff;
using test::sci;

namespace fs = std::filesystem;

std::string llama_vocab() {
  return test::shared("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf");
}
// A 512-piece llama vocabulary (stories260K's), for the d_model 256 models: quantising a
// 32000-row embedding to q4_k alone takes over a second.
std::string small_vocab() {
  return test::shared("models/stories260K-gguf/stories260K-f32.gguf");
}

SynthSpec llama_spec() {
  SynthSpec s;
  s.arch = Arch::Llama;
  s.d_model = 64;
  s.n_layers = 2;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.n_ctx = 64;
  s.rope_theta = 10000.0f;
  s.tied = false;
  s.seed = 5;
  s.vocab_path = llama_vocab();
  return s;
}

// Token ids spread over the vocabulary, BOS (1) first.
const std::vector<int32_t> kTokens = {1, 9038, 2501, 263, 931, 29892, 727, 471, 0, 31999, 13, 450, 2, 17, 1724, 4086};
// The same for the 512-piece vocabulary.
const std::vector<int32_t> kSmallTokens = {1, 403, 407, 261, 378, 282, 395, 0, 511, 13, 450, 2, 17, 300, 77, 500};

// d_model 256 (q4_k's super-blocks are 256 wide), d_mlp 512, the small vocabulary.
SynthSpec wide_spec() {
  SynthSpec s = llama_spec();
  s.d_model = 256;
  s.d_mlp = 512;
  s.n_ctx = 32;
  s.vocab_path = small_vocab();
  return s;
}

// Rescales the synth weights so activations are O(1): linear weights to std ~1/sqrt(fan-in),
// the embedding to std ~1; norm weights stay around 1.
void sharpen(SynthModel& m) {
  for (auto& t : m.tensors) {
    float k = 1.0f;
    if (t.name == "token_embd.weight") {
      k = 50.0f;
    } else if (t.shape.size() == 2) {
      k = 1.0f / (0.02f * std::sqrt(static_cast<float>(t.shape[1])));
    }
    for (auto& v : t.data) v *= k;
  }
}

SynthModel sharp_model(const SynthSpec& s) {
  SynthModel m = make_synth_model(s);
  sharpen(m);
  m.config.norm_eps = 1e-3f;  // not the default, so reading it from the file matters
  return m;
}

// Deliberate mistakes the reference can make, to show the comparison notices them.
struct Variant {
  bool rope_halves = false;      // rotate (i, i + dh/2) instead of adjacent pairs
  bool no_rope = false;          // no rotation at all
  double rope_theta = 0.0;       // a different base (0 = the config's)
  bool kv_modulo = false;        // query head h reads kv head h % g instead of h / (h/g)
  double norm_eps = -1.0;        // a different RMSNorm eps (< 0 = the config's)
  bool gate_up_swapped = false;  // silu(up) * gate
};

std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<float>& g, double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t k = 0; k < x.size(); ++k) y[k] = x[k] * inv * g[k];
  return y;
}

// Rotates every head of a [heads * dh] vector in place for position pos.
void rope(std::vector<double>& x, int64_t heads, int64_t dh, int64_t pos, double theta, const Variant& v) {
  if (v.no_rope) return;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < dh / 2; ++i) {
      const double a =
          static_cast<double>(pos) * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(dh));
      const size_t p0 = static_cast<size_t>(h * dh + (v.rope_halves ? i : 2 * i));
      const size_t p1 = static_cast<size_t>(h * dh + (v.rope_halves ? i + dh / 2 : 2 * i + 1));
      const double x0 = x[p0], x1 = x[p1];
      x[p0] = x0 * std::cos(a) - x1 * std::sin(a);
      x[p1] = x0 * std::sin(a) + x1 * std::cos(a);
    }
}

// Llama forward in float64 from the canonical GGUF-layout float tensors; logits [n, V].
std::vector<double> reference_llama(const SynthModel& m, const std::vector<int32_t>& tokens, const Variant& v = {}) {
  const ModelConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(tokens.size()), d = c.d_model, H = c.n_heads, G = c.n_kv_heads, dh = c.d_head,
                f = c.d_mlp;
  const double eps = v.norm_eps >= 0 ? v.norm_eps : c.norm_eps;
  const double theta = v.rope_theta > 0 ? v.rope_theta : c.rope_theta;
  const auto& emb = test::synth_tensor(m, "token_embd.weight");  // [V, d]
  std::vector<std::vector<double>> x(static_cast<size_t>(n));    // [n][d]
  for (int64_t i = 0; i < n; ++i) x[i].assign(emb.begin() + tokens[i] * d, emb.begin() + (tokens[i] + 1) * d);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto T = [&](const char* s) -> const std::vector<float>& {
      return test::synth_tensor(m, "blk." + std::to_string(l) + "." + s);
    };
    std::vector<std::vector<double>> q(n), k(n), val(n);  // [n][h*dh], [n][g*dh] x2
    for (int64_t i = 0; i < n; ++i) {
      auto hn = rms_norm(x[i], T("attn_norm.weight"), eps);
      q[i] = linear(T("attn_q.weight"), nullptr, hn, H * dh, d);
      k[i] = linear(T("attn_k.weight"), nullptr, hn, G * dh, d);
      val[i] = linear(T("attn_v.weight"), nullptr, hn, G * dh, d);
      rope(q[i], H, dh, i, theta, v);
      rope(k[i], G, dh, i, theta, v);
    }
    for (int64_t i = 0; i < n; ++i) {
      const auto z =
          test::attention_row(q, k, val, i, i, H, dh, [&](int64_t h) { return v.kv_modulo ? h % G : h / (H / G); });
      auto o = linear(T("attn_output.weight"), nullptr, z, d, H * dh);
      for (int64_t e = 0; e < d; ++e) x[i][e] += o[e];
    }
    for (int64_t i = 0; i < n; ++i) {
      auto hn = rms_norm(x[i], T("ffn_norm.weight"), eps);
      auto gate = linear(T("ffn_gate.weight"), nullptr, hn, f, d);
      auto up = linear(T("ffn_up.weight"), nullptr, hn, f, d);
      if (v.gate_up_swapped) std::swap(gate, up);
      for (int64_t e = 0; e < f; ++e) gate[e] = gate[e] / (1.0 + std::exp(-gate[e])) * up[e];
      auto o = linear(T("ffn_down.weight"), nullptr, gate, d, f);
      for (int64_t e = 0; e < d; ++e) x[i][e] += o[e];
    }
  }
  std::vector<double> logits;
  for (int64_t i = 0; i < n; ++i) {
    auto hn = rms_norm(x[i], test::synth_tensor(m, "output_norm.weight"), eps);
    auto lg = linear(test::synth_tensor(m, "output.weight"), nullptr, hn, c.d_vocab, d);
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  return logits;
}

// ||a - b|| / ||b|| over all elements.
double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// Fraction of positions whose argmax agrees.
double argmax_agreement(const std::vector<float>& a, const std::vector<float>& b, int64_t d_vocab) {
  const int64_t rows = static_cast<int64_t>(b.size()) / d_vocab;
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r)
    same += argmax(a.data() + r * d_vocab, d_vocab) == argmax(b.data() + r * d_vocab, d_vocab);
  return static_cast<double>(same) / static_cast<double>(rows);
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A temporary folder removed at the end of the test.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag) : path(test::temp_dir(tag)) {}
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

constexpr double kFormatTol = 1e-5;  // GGUF vs HF logits
constexpr double kRefTol = 1e-4;     // engine vs float64 reference logits

TEST(SynthLlama, GgufAndHfMatchReference) {
  const SynthSpec spec = llama_spec();
  const SynthModel m = sharp_model(spec);
  TempDir dir("llama");
  std::vector<std::string> notes;
  write_synth_gguf(m, spec, dir / "m.gguf", &notes);
  EXPECT_TRUE(notes.empty());
  write_synth_hf(m, dir / "hf");
  auto g = load_model(dir / "m.gguf");
  auto h = load_model(dir / "hf");
  for (const Model* mm : {g.get(), h.get()}) {
    const ModelConfig& c = mm->config;
    EXPECT_EQ(c.arch, Arch::Llama);
    EXPECT_EQ(c.d_model, 64);
    EXPECT_EQ(c.n_layers, 2);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.d_head, 16);
    EXPECT_EQ(c.d_mlp, 192);
    EXPECT_EQ(c.d_vocab, 32000);
    EXPECT_EQ(c.n_ctx, 64);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-3f);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_EQ(c.norm, NormKind::RmsNorm);
    EXPECT_EQ(c.mlp, MlpKind::GatedSilu);
    EXPECT_EQ(c.rope, RopeStyle::Adjacent);
    EXPECT_FALSE(c.tied_embeddings);
  }
  EXPECT_FALSE(h->layers[0].wq.row_map.empty()) << "HF Q rows are rotate-half and need the un-permuting map";
  EXPECT_TRUE(g->layers[0].wq.row_map.empty());

  const auto lg = engine_logits(*g, kTokens);
  const auto lh = engine_logits(*h, kTokens);
  const auto ref = reference_llama(m, kTokens);
  double ref_max = 0.0;
  for (double v : ref) ref_max = std::max(ref_max, std::abs(v));
  EXPECT_GT(ref_max, 1.0) << "logits should be O(1) for the comparison to mean anything";
  const double d_formats = max_abs_diff(lg, lh);
  const double d_ref = std::max(max_abs_diff(lg, ref), max_abs_diff(lh, ref));
  EXPECT_LE(d_formats, kFormatTol);
  EXPECT_LE(d_ref, kRefTol);
  RecordProperty("max_diff_gguf_hf", sci(d_formats));
  RecordProperty("max_diff_ref", sci(d_ref));
}

// A mistake in the reference (or, symmetrically, in the engine) is far outside the tolerance.
TEST(SynthLlama, ReferenceIsSensitive) {
  const SynthSpec spec = llama_spec();
  const SynthModel m = sharp_model(spec);
  TempDir dir("llama-sens");
  write_synth_gguf(m, spec, dir / "m.gguf", nullptr);
  auto g = load_model(dir / "m.gguf");
  const auto lg = engine_logits(*g, kTokens);
  const std::vector<std::pair<const char*, Variant>> variants = {
      {"rope_halves", {.rope_halves = true}}, {"no_rope", {.no_rope = true}},
      {"theta_500000", {.rope_theta = 5e5}},  {"kv_modulo", {.kv_modulo = true}},
      {"norm_eps_1e-5", {.norm_eps = 1e-5}},  {"gate_up_swapped", {.gate_up_swapped = true}}};
  for (const auto& [name, v] : variants)
    EXPECT_GT(max_abs_diff(lg, reference_llama(m, kTokens, v)), 10 * kRefTol) << name;
}

// The synth's own scale (what `loupe model new` writes), through the CLI, in both formats.
TEST(SynthLlama, CliModelNewBothFormatsMatchReference) {
  TempDir dir("llama-cli");
  const std::string common =
      "model new --arch llama --d-model 64 --n-layers 2 --n-heads 4 --n-kv-heads 2 --n-ctx 64 "
      "--seed 9 --vocab-from " +
      llama_vocab();
  auto r1 = test::run_loupe(common + " -o " + (dir / "m.gguf"));
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  auto r2 = test::run_loupe(common + " --format hf -o " + (dir / "hf"));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  SynthSpec spec = llama_spec();
  spec.seed = 9;
  const SynthModel m = make_synth_model(spec);
  auto g = load_model(dir / "m.gguf");
  auto h = load_model(dir / "hf");
  const auto lg = engine_logits(*g, kTokens);
  const auto lh = engine_logits(*h, kTokens);
  const auto ref = reference_llama(m, kTokens);
  EXPECT_LE(max_abs_diff(lg, lh), kFormatTol);
  EXPECT_LE(max_abs_diff(lg, ref), kRefTol);
  EXPECT_LE(max_abs_diff(lh, ref), kRefTol);
}

// Quantised GGUF types against f32 (wide_spec: every row fits q4_k's super-blocks); untied, as with a tied embedding
// the argmax mostly repeats the input token whatever the error. Two checks per type: the logits are within a per-type
// relative error of the f32 model's (bounds about 1.5x-2x what the types give here) with mostly the same argmax; and
// they equal, within the reference tolerance, the logits of an f32 model holding the dequantised weights read back from
// the file, so nothing but the rounding of the weights differs.
struct QuantCase {
  DType type;
  double max_rel_l2;        // ||logits - f32 logits|| / ||f32 logits||
  double min_argmax_agree;  // fraction of positions with the same argmax
  uint64_t llama_ftype;     // general.file_type as llama.cpp numbers it
};

class QuantVsF32 : public ::testing::TestWithParam<QuantCase> {
 protected:
  static SynthSpec spec() { return wide_spec(); }
  static void SetUpTestSuite() {
    dir_ = new TempDir("llama-quant");
    model_ = new SynthModel(sharp_model(spec()));
    write_synth_gguf(*model_, spec(), *dir_ / "f32.gguf", nullptr);
    auto f = load_model(*dir_ / "f32.gguf");
    f32_logits_ = new std::vector<float>(engine_logits(*f, kSmallTokens));
  }
  static void TearDownTestSuite() {
    delete f32_logits_;
    delete model_;
    delete dir_;
  }
  static inline TempDir* dir_ = nullptr;
  static inline SynthModel* model_ = nullptr;
  static inline std::vector<float>* f32_logits_ = nullptr;
};

// The synth model with every 2-D weight replaced by its dequantised copy from a GGUF file.
SynthModel dequantised_copy(const SynthModel& m, const std::string& gguf_path) {
  SynthModel out = m;
  GgufFile g = GgufFile::open(gguf_path);
  for (auto& t : out.tensors) {
    if (t.shape.size() != 2) continue;
    const GgufTensorInfo* info = g.find_tensor(t.name);
    EXPECT_NE(info, nullptr) << t.name;
    if (info == nullptr) continue;
    const int64_t rows = t.shape[0], cols = t.shape[1];
    for (int64_t r = 0; r < rows; ++r)
      dequantize_row(info->type, info->data + row_bytes(info->type, cols) * static_cast<size_t>(r),
                     t.data.data() + r * cols, cols);
  }
  return out;
}

TEST_P(QuantVsF32, LogitsCloseToF32) {
  const QuantCase& qc = GetParam();
  SynthSpec s = spec();
  s.type = qc.type;
  const std::string path = *dir_ / (std::string(dtype_name(qc.type)) + ".gguf");
  std::vector<std::string> notes;
  write_synth_gguf(*model_, s, path, &notes);
  EXPECT_TRUE(notes.empty()) << notes.front();
  EXPECT_EQ(GgufFile::open(path).get_uint("general.file_type"), qc.llama_ftype);
  auto q = load_model(path);
  EXPECT_EQ(q->config.file_type, dtype_name(qc.type));
  for (const LayerWeights& L : q->layers)
    for (const Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      EXPECT_EQ(w->type, qc.type) << w->name;
  EXPECT_EQ(q->tok_embed.type, qc.type);
  EXPECT_EQ(q->unembed.type, qc.type);
  const auto lq = engine_logits(*q, kSmallTokens);
  const double rel = rel_l2(lq, *f32_logits_);
  const double agree = argmax_agreement(lq, *f32_logits_, q->config.d_vocab);
  EXPECT_GT(rel, 0.0) << "quantised logits identical to f32: the weights were not quantised";
  EXPECT_LE(rel, qc.max_rel_l2);
  EXPECT_GE(agree, qc.min_argmax_agree);

  // Same weights as f32: only the rounding of the weights made the difference above.
  const SynthSpec f32_spec = spec();
  const std::string deq_path = *dir_ / (std::string(dtype_name(qc.type)) + "-dequantised.gguf");
  write_synth_gguf(dequantised_copy(*model_, path), f32_spec, deq_path, nullptr);
  auto d = load_model(deq_path);
  const double d_deq = max_abs_diff(lq, engine_logits(*d, kSmallTokens));
  EXPECT_LE(d_deq, kRefTol);
  RecordProperty("rel_l2", sci(rel));
  RecordProperty("argmax_agreement", sci(agree));
  RecordProperty("max_diff_vs_dequantised_f32", sci(d_deq));
}

void PrintTo(const QuantCase& qc, std::ostream* os) {
  *os << dtype_name(qc.type);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantVsF32,
                         ::testing::Values(QuantCase{DType::F16, 1e-3, 1.0, 1}, QuantCase{DType::Q8_0, 2e-2, 0.8, 7},
                                           QuantCase{DType::Q4_0, 0.25, 0.5, 2}, QuantCase{DType::Q4_K, 0.2, 0.5, 15}),
                         [](const auto& info) { return std::string(dtype_name(info.param.type)); });

// Rows that do not fit q4_k's blocks (d_mlp 704 = the default for d_model 256) fall back to
// q8_0 with a note, and the model still loads and runs.
TEST(SynthLlama, Q4KFallbackNote) {
  SynthSpec s = wide_spec();
  s.d_mlp = 0;
  s.n_layers = 1;
  s.type = DType::Q4_K;
  const SynthModel m = make_synth_model(s);
  ASSERT_EQ(m.config.d_mlp, 704);
  TempDir dir("llama-q4k");
  std::vector<std::string> notes;
  write_synth_gguf(m, s, dir / "m.gguf", &notes);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("blk.0.ffn_down.weight"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("q8_0"), std::string::npos) << notes[0];
  auto q = load_model(dir / "m.gguf");
  EXPECT_EQ(q->layers[0].w_down.type, DType::Q8_0);
  EXPECT_EQ(q->layers[0].w_up.type, DType::Q4_K);
  const auto l = engine_logits(*q, {1, 2, 3});
  for (float v : l) ASSERT_TRUE(std::isfinite(v));
}

// `loupe info` and greedy `loupe generate` on a CLI-made GGUF; generate prints what the library's
// generate() produces.
TEST(SynthLlama, CliInfoAndGenerate) {
  TempDir dir("llama-cli-gen");
  const std::string path = dir / "m.gguf";
  auto made =
      test::run_loupe("model new --arch llama --d-model 64 --n-layers 2 --n-heads 4 --n-kv-heads 2 --vocab-from " +
                      llama_vocab() + " --type q8_0 -o " + path);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto info = test::run_loupe("info " + path);
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("llama"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("q8_0"), std::string::npos) << info.out;
  auto gen = test::run_loupe("generate " + path + " -n 5 --temp 0 -t 1 -p 'Once upon a time'");
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto gen2 = test::run_loupe("generate " + path + " -n 5 --temp 0 -t 2 -p 'Once upon a time'");
  ASSERT_EQ(gen2.exit_code, 0) << gen2.err;
  EXPECT_EQ(gen.out, gen2.out);
  auto from_bos = test::run_loupe("generate " + path + " -n 5 --temp 0");  // empty prompt: BOS
  EXPECT_EQ(from_bos.exit_code, 0) << from_bos.err;

  auto model = load_model(path);
  Interpreter interp(*model, RunOptions{});
  const auto prompt = prompt_tokens(*model, "Once upon a time", default_add_bos(*model), interp.n_ctx());
  EXPECT_EQ(prompt.front(), 1);
  GenerateOptions go;
  go.n_predict = 5;
  go.sampler.temperature = 0.0f;
  const GenerateResult r = generate(interp, prompt, go);
  EXPECT_EQ(gen.out, r.text + "\n");
  EXPECT_EQ(r.text.rfind("Once upon a time", 0), 0u) << r.text;
}

// The same seed gives the same tokens; the seed matters.
TEST(SynthLlama, SeededGenerationIsDeterministic) {
  const SynthSpec spec = llama_spec();
  const SynthModel m = sharp_model(spec);
  TempDir dir("llama-seed");
  write_synth_gguf(m, spec, dir / "m.gguf", nullptr);
  auto model = load_model(dir / "m.gguf");
  const std::vector<int32_t> prompt = {1, 9038, 2501, 263, 931};
  auto run = [&](uint64_t seed, int threads) {
    RunOptions o;
    o.n_threads = threads;
    Interpreter interp(*model, o);
    GenerateOptions go;
    go.n_predict = 24;
    go.sampler.temperature = 1.0f;
    go.sampler.top_k = 0;
    go.sampler.top_p = 1.0f;
    go.sampler.seed = seed;
    return generate(interp, prompt, go).tokens;
  };
  const auto a = run(123, 1);
  EXPECT_GT(a.size(), prompt.size() + 1);
  EXPECT_EQ(a, run(123, 1));
  EXPECT_EQ(a, run(123, 2));
  int differ = 0;
  for (uint64_t seed : {124, 125, 126}) differ += run(seed, 1) != a;
  EXPECT_GE(differ, 2) << "the sampler seed seems to be ignored";
}

// Bit-identical logits with 1, 2 and 3 threads, and between one batched prefill, small batches,
// and one token at a time (KV cache), for an f32 and a q4_k model (wide_spec).
TEST(SynthLlama, BitIdenticalAcrossThreadsAndBatching) {
  SynthSpec spec = wide_spec();
  const SynthModel m = sharp_model(spec);
  TempDir dir("llama-bits");
  for (DType type : {DType::F32, DType::Q4_K}) {
    SCOPED_TRACE(std::string(dtype_name(type)));
    spec.type = type;
    const std::string path = dir / (std::string(dtype_name(type)) + ".gguf");
    write_synth_gguf(m, spec, path, nullptr);
    auto model = load_model(path);
    const auto base = engine_logits(*model, kSmallTokens, 1);
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 2))) << "2 threads";
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 3))) << "3 threads";
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 2, 5))) << "batches of 5";
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 1, 1))) << "max_batch 1";
    // Token by token through begin()/finish(), last-position logits only.
    Interpreter interp(*model, RunOptions{});
    std::vector<float> inc;
    const int64_t V = model->config.d_vocab;
    for (int32_t t : kSmallTokens) {
      const int32_t one[1] = {t};
      interp.begin(one, false);
      interp.finish();
      ASSERT_EQ(interp.logit_rows(), 1);
      inc.insert(inc.end(), interp.logits(), interp.logits() + V);
    }
    EXPECT_EQ(interp.n_past(), static_cast<int64_t>(kSmallTokens.size()));
    EXPECT_TRUE(bit_identical(base, inc)) << "one token at a time";
    // A prefill without all_logits gives the last row of the batched logits.
    interp.rewind(0);
    interp.begin(kSmallTokens, false);
    interp.finish();
    ASSERT_EQ(interp.logit_rows(), 1);
    EXPECT_EQ(0, std::memcmp(interp.logits(), base.data() + (kSmallTokens.size() - 1) * V, V * sizeof(float)));
  }
}

// q8 activations (llama.cpp's arithmetic) on Q8_0, Q4_0, Q4_K, Q5_K and Q6_K models: close to the exact
// logits; with VNNI panels (Model::pack_panels) bit-identical across threads and batching, and
// close to the row kernels' q8 results (the same integer sums, scaled and added in another
// order). The exact path keeps its bits once the panels have replaced the interleaved tiles.
TEST(SynthLlama, Q8ActivationsWithPanels) {
  SynthSpec spec = wide_spec();
  const SynthModel m = sharp_model(spec);
  TempDir dir("llama-q8");
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    SCOPED_TRACE(std::string(dtype_name(type)));
    spec.type = type;
    const std::string path = dir / (std::string(dtype_name(type)) + ".gguf");
    write_synth_gguf(m, spec, path, nullptr);
    auto model = load_model(path);
    const auto exact = engine_logits(*model, kSmallTokens);
    const auto rows_q8 = engine_logits(*model, kSmallTokens, 1, 256, Numerics::Q8);
    const double rel_rows = rel_l2(rows_q8, exact);
    EXPECT_GT(rel_rows, 0.0) << "q8 activations changed nothing";
    EXPECT_LE(rel_rows, 2e-2);
    const size_t packed = model->pack_panels();
    if (!test::panel_tier(active_isa())) {
      EXPECT_EQ(packed, 0u);
      continue;
    }
    for (const LayerWeights& L : model->layers)
      for (const Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
        EXPECT_NE(w->panels, nullptr) << w->name;
        EXPECT_EQ(w->tiles, nullptr) << w->name;
      }
    EXPECT_TRUE(bit_identical(exact, engine_logits(*model, kSmallTokens))) << "exact path after pack_panels";
    const auto base = engine_logits(*model, kSmallTokens, 1, 256, Numerics::Q8);
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 2, 256, Numerics::Q8))) << "2 threads";
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 3, 5, Numerics::Q8))) << "batches of 5";
    EXPECT_TRUE(bit_identical(base, engine_logits(*model, kSmallTokens, 2, 1, Numerics::Q8))) << "one token at a time";
    // Per position: the summation order moves a logit by ~1e-7 relative, unless it moves an
    // activation across a rounding boundary of the int8 quantiser on the way (seen on 2 of 16
    // positions), which the quantisation error bounds.
    const int64_t V = model->config.d_vocab;
    int close_rows = 0;
    for (size_t r = 0; r < kSmallTokens.size(); ++r) {
      const auto row = [&](const std::vector<float>& v) {
        return std::vector<float>(v.begin() + static_cast<int64_t>(r) * V, v.begin() + static_cast<int64_t>(r + 1) * V);
      };
      close_rows += rel_l2(row(base), row(rows_q8)) <= 1e-6 ? 1 : 0;
    }
    EXPECT_GE(close_rows, 12) << "positions where panels and row kernels agree to 1e-6";
    EXPECT_LE(rel_l2(base, rows_q8), rel_rows / 2) << "panels against row kernels";
    EXPECT_GT(rel_l2(base, rows_q8), 0.0) << "the panels were not used";
    RecordProperty("rel_l2_q8_vs_exact", sci(rel_rows));
    RecordProperty("rel_l2_panels_vs_rows", sci(rel_l2(base, rows_q8)));
  }
}

}  // namespace
}  // namespace loupe
