// loupe model new: random-weight models of real shapes (GGUF, or an HF folder with --format hf).
#include <cstdio>

#include "commands.h"
#include "core/error.h"
#include "model/arch/family.h"
#include "model/synth.h"

namespace loupe::cli {

void add_model(CLI::App& app, Action& action) {
  auto* model = app.add_subcommand("model", "make model files");
  model->require_subcommand(1);
  auto* cmd = model->add_subcommand("new", "write a random-weight model of a real shape");
  auto spec = std::make_shared<SynthSpec>();
  auto arch = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>("f32");
  auto format = std::make_shared<std::string>("gguf");
  auto out = std::make_shared<std::string>();
  cmd->add_option("--arch", *arch, "llama, qwen2, gpt2, qwen3, qwen3moe, gemma2, gemma3, phi3, smollm3 or gpt-oss")
      ->required();
  cmd->add_option("--d-model", spec->d_model, "residual width")
      ->required()
      ->check(CLI::Range(int64_t(2), int64_t(1) << 16));
  cmd->add_option("--n-layers", spec->n_layers, "layers")->required()->check(CLI::Range(int64_t(1), int64_t(1024)));
  cmd->add_option("--n-heads", spec->n_heads, "attention heads (default 4)")
      ->check(CLI::Range(int64_t(1), int64_t(1024)));
  cmd->add_option("--n-kv-heads", spec->n_kv_heads, "key/value heads (default n_heads)")
      ->check(CLI::Range(int64_t(0), int64_t(1024)));
  cmd->add_option("--d-head", spec->d_head, "head width (default d_model / n_heads)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 12));
  cmd->add_option("--n-experts", spec->n_experts, "experts (qwen3moe, gpt-oss; default 8)")
      ->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--n-experts-used", spec->n_experts_used, "experts per token (default 2)")
      ->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--window", spec->window,
                  "sliding window of the local layers (gemma2, gemma3, gpt-oss; default 8); llama: every layer")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--d-mlp", spec->d_mlp, "MLP width (default 4 d_model for gpt2, ~8/3 d_model for llama)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  cmd->add_option("--n-ctx", spec->n_ctx, "context length (default 256)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--rope-theta", spec->rope_theta, "RoPE base (default 10000)");
  cmd->add_flag("--tied", spec->tied, "tie the unembedding to the embedding");
  cmd->add_option("--seed", spec->seed, "weight seed (default 1)");
  cmd->add_option("--vocab-from", spec->vocab_path, "GGUF file whose tokenizer is copied")->required();
  cmd->add_option("--type", *type,
                  "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, tq1_0, "
                  "tq2_0, mxfp4; or llama-quantize's mixes q4_k_m, q5_k_m (q6_k output and some attn_v / ffn_down)");
  cmd->add_option("--format", *format, "gguf (default) or hf (a folder, f32 only)")
      ->check(CLI::IsMember({"gguf", "hf"}));
  cmd->add_option("-o,--output", *out, "output file (gguf) or folder (hf)")->required();
  cmd->callback([=, &action] {
    action = [=] {
      SynthSpec s = *spec;
      const arch::Family* fam = arch::family_by_gguf_name(*arch);
      if (fam == nullptr) fail("--arch: unknown architecture '", *arch, "' (", arch::family_list(), ")");
      s.arch = fam->arch;
      std::string base = *type;
      if (base == "q4_k_m" || base == "q5_k_m") {
        s.k_mix = true;
        base.resize(4);
      }
      auto t = dtype_from_name(base);
      if (!t) fail("--type: unknown type '", *type, "'");
      if (!can_quantize(*t))
        fail("--type: loupe cannot write ", dtype_name(*t), " weights (grid i-quants need llama-quantize)");
      s.type = *t;
      SynthModel m = make_synth_model(s);
      if (*format == "hf") {
        if (s.type != DType::F32) fail("--format hf writes f32 weights only; drop --type ", *type);
        write_synth_hf(m, *out);
      } else {
        std::vector<std::string> notes;
        write_synth_gguf(m, s, *out, &notes);
        for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
      }
      std::fprintf(stderr, "wrote %s (%s, d_model %lld, %lld layers, vocab %lld)\n", out->c_str(), arch->c_str(),
                   (long long)m.config.d_model, (long long)m.config.n_layers, (long long)m.config.d_vocab);
    };
  });
}

}  // namespace loupe::cli
