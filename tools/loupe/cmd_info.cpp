// loupe info MODEL [--json] [--hooks]
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "engine/interpreter.h"
#include "engine/program.h"
#include "formats/gguf.h"
#include "model/weights.h"
#include "tensor/numerics.h"
#include "tokenizer/tokenizer.h"

namespace loupe::cli {

namespace {

// A metadata value as JSON: scalars whole; arrays as their element type, length and first
// elements (a vocabulary's 150k strings would bury everything else).
nlohmann::ordered_json meta_json(const GgufValue& v) {
  constexpr size_t kHead = 8;
  if (v.type != GgufType::ARRAY) {
    if (v.type == GgufType::STRING) return v.s;
    if (v.type == GgufType::BOOL) return v.u != 0;
    if (v.is_float()) return v.f;
    if (v.type == GgufType::U64 || v.type == GgufType::U32 || v.type == GgufType::U16 || v.type == GgufType::U8)
      return v.u;
    return v.i;
  }
  nlohmann::ordered_json head = nlohmann::ordered_json::array();
  for (size_t k = 0; k < std::min(kHead, v.strs.size()); ++k) head.push_back(v.strs[k]);
  for (size_t k = 0; k < std::min(kHead, v.ints.size()); ++k) head.push_back(v.ints[k]);
  for (size_t k = 0; k < std::min(kHead, v.floats.size()); ++k) head.push_back(v.floats[k]);
  for (size_t k = 0; k < std::min(kHead, v.arrays.size()); ++k) head.push_back(meta_json(v.arrays[k]));
  return {{"array_of", gguf_type_name(v.elem_type)}, {"length", v.array_size()}, {"head", head}};
}

// Metadata strings of a hostile file need not be UTF-8: shown with U+FFFD, never an exception.
std::string dump_text(const nlohmann::ordered_json& v, int indent = -1) {
  return v.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

namespace {
const char* rope_name(RopeStyle r) {
  switch (r) {
    case RopeStyle::None: return "none";
    case RopeStyle::Adjacent: return "adjacent pairs";
    case RopeStyle::Halves: return "halves (neox)";
  }
  return "?";
}
}  // namespace

void add_info(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("info", "architecture, dimensions, tokenizer, tensor table");
  auto model = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto hooks = std::make_shared<bool>(false);
  auto meta = std::make_shared<bool>(false);
  cmd->add_option("MODEL", *model, "GGUF file, Hugging Face folder, or llama2.c checkpoint")->required();
  cmd->add_option("--tokenizer", *tokenizer, "tokenizer file");
  cmd->add_flag("--json", *json_out, "print JSON");
  cmd->add_flag("--hooks", *hooks, "list the hook points with their shapes");
  cmd->add_flag("--meta", *meta, "every GGUF metadata key with its type and value (arrays: length and first values)");
  cmd->callback([=, &action] {
    action = [=] {
      LoadOptions lo;
      lo.tokenizer_path = *tokenizer;
      auto m = load_model(*model, lo);
      const ModelConfig& c = m->config;
      Program program = lower(*m);
      nlohmann::ordered_json j;
      j["path"] = m->path;
      j["format"] = c.format;
      j["architecture"] = c.arch_label;
      j["file_type"] = c.file_type;
      j["d_model"] = c.d_model;
      j["n_layers"] = c.n_layers;
      j["n_heads"] = c.n_heads;
      j["n_kv_heads"] = c.n_kv_heads;
      j["d_head"] = c.d_head;
      j["d_mlp"] = c.d_mlp;
      j["d_vocab"] = c.d_vocab;
      j["n_ctx"] = c.n_ctx;
      j["norm"] = c.norm == NormKind::RmsNorm ? "rmsnorm" : "layernorm";
      j["norm_eps"] = c.norm_eps;
      j["rope"] = rope_name(c.rope);
      j["rope_theta"] = c.rope_theta;
      j["tied_embeddings"] = c.tied_embeddings;
      nlohmann::ordered_json fj = nlohmann::ordered_json::object();
      if (c.n_rot() != c.d_head && c.rope != RopeStyle::None) fj["rope_dims"] = c.n_rot();
      if (c.qk_norm) fj["qk_norm"] = true;
      if (c.post_norms) fj["post_norms"] = true;
      if (c.embed_scale > 0) fj["embed_scale"] = c.embed_scale;
      if (c.attn_scale > 0) fj["attn_scale"] = c.attn_scale;
      if (c.attn_softcap > 0) fj["attn_softcap"] = c.attn_softcap;
      if (c.final_softcap > 0) fj["final_softcap"] = c.final_softcap;
      if (c.attn_sinks) fj["attn_sinks"] = true;
      if (c.moe()) {
        fj["n_experts"] = c.n_experts;
        fj["n_experts_used"] = c.n_experts_used;
        fj["moe_gating"] = c.moe_gating == MoeGating::SoftmaxTopK
                               ? (c.moe_norm_topk ? "softmax, top-k, renormalised" : "softmax, top-k")
                               : "top-k, softmax over the k";
      }
      nlohmann::ordered_json lj = nlohmann::ordered_json::array();
      bool uniform = true;
      for (const LayerSpec& s : c.layers) {
        lj.push_back({{"window", s.window}, {"rope", s.rope}, {"rope_theta", s.rope_theta}});
        uniform = uniform && s.window == 0 && s.rope && s.rope_theta == c.rope_theta;
      }
      if (!uniform) fj["layers"] = lj;
      j["features"] = fj;
      j["n_params"] = [&] {
        int64_t n = 0;
        for (const auto& t : m->tensors) {
          int64_t e = 1;
          for (int64_t d : t.shape) e *= d;
          n += e;
        }
        return n;
      }();
      j["weight_bytes"] = m->weight_bytes();
      // What --numerics llama.cpp converts the activations to before each weight type's products.
      nlohmann::ordered_json vec_dot = nlohmann::ordered_json::object();
      m->for_each_matmul_weight([&](Weight& w) {
        if (!w.empty()) vec_dot[std::string(dtype_name(w.type))] = act_format_name(vec_dot_format(w.type));
      });
      j["llama_cpp_activations"] = vec_dot;
      nlohmann::ordered_json tj;
      if (m->tokenizer) {
        tj["source"] = m->tokenizer_source;
        tj["kind"] = std::string(m->tokenizer->kind());
        tj["n_vocab"] = m->tokenizer->n_vocab();
        tj["bos_id"] = m->tokenizer->bos_id();
        tj["eos_id"] = m->tokenizer->eos_id();
      }
      j["tokenizer"] = tj;
      nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
      for (const auto& t : m->tensors)
        tensors.push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.nbytes}});
      j["tensors"] = tensors;
      // A hook's shape for a prompt of `pos` positions from position 0 (every position's logits).
      constexpr int64_t kPos = 1000003;
      const auto hook_shape = [&](int h) {
        const Shape s = hook_tensor_shape(program, m->config, h, kPos, kPos, true);
        nlohmann::ordered_json dims = nlohmann::ordered_json::array();
        for (int64_t d : s.vec()) dims.push_back(d == kPos ? nlohmann::ordered_json("pos") : nlohmann::ordered_json(d));
        return dims;
      };
      nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
      std::vector<std::pair<std::string, std::string>> meta_types;
      if (*meta) {
        if (c.format != "gguf") fail("--meta: ", m->path, " is a ", c.format, " model; metadata keys are GGUF's");
        const GgufFile g = GgufFile::open(m->path);
        for (const auto& [key, value] : g.metadata()) {
          metadata[key] = meta_json(value);
          meta_types.emplace_back(key, value.type == GgufType::ARRAY ? cat("array of ", gguf_type_name(value.elem_type))
                                                                     : std::string(gguf_type_name(value.type)));
        }
        j["metadata"] = metadata;
      }
      if (*hooks) {
        nlohmann::ordered_json hj = nlohmann::ordered_json::array();
        for (int h = 0; h < program.hooks.size(); ++h)
          hj.push_back({{"name", program.hooks[h].name}, {"shape", hook_shape(h)}});
        j["hooks"] = hj;
      }
      if (*json_out) {
        std::printf("%s\n", dump_text(j, 1).c_str());
        return;
      }
      std::printf("%s  (%s, %s)\n", m->path.c_str(), c.format.c_str(), c.file_type.c_str());
      std::printf("architecture  %s\n", c.arch_label.c_str());
      std::printf("d_model %lld  n_layers %lld  n_heads %lld  n_kv_heads %lld  d_head %lld  d_mlp %lld\n",
                  (long long)c.d_model, (long long)c.n_layers, (long long)c.n_heads, (long long)c.n_kv_heads,
                  (long long)c.d_head, (long long)c.d_mlp);
      std::printf("d_vocab %lld  n_ctx %lld  norm %s (eps %g)  rope %s (theta %g)  tied embeddings %s\n",
                  (long long)c.d_vocab, (long long)c.n_ctx, j["norm"].get<std::string>().c_str(), c.norm_eps,
                  rope_name(c.rope), c.rope_theta, c.tied_embeddings ? "yes" : "no");
      if (!fj.empty()) {
        std::string f;
        for (auto it = fj.begin(); it != fj.end(); ++it) {
          if (it.key() == "layers") continue;
          f += (f.empty() ? "" : "  ") + it.key() + " " + (it->is_string() ? it->get<std::string>() : it->dump());
        }
        if (!f.empty()) std::printf("%s\n", f.c_str());
        if (fj.contains("layers")) {
          std::string w;
          for (int64_t l = 0; l < c.n_layers; ++l) {
            const LayerSpec& s = c.layers[static_cast<size_t>(l)];
            w += cat(l ? " " : "", l, ":", s.window > 0 ? cat("window ", s.window) : std::string("global"),
                     s.rope ? cat("/rope ", s.rope_theta) : std::string("/nope"));
          }
          std::printf("layers %s\n", w.c_str());
        }
      }
      std::printf("parameters %lld  weights %.2f MiB\n", (long long)j["n_params"].get<int64_t>(),
                  static_cast<double>(m->weight_bytes()) / (1024.0 * 1024.0));
      std::printf("--numerics llama.cpp converts activations to:");
      for (const auto& [type, fmt] : vec_dot.items())
        std::printf(" %s (%s weights)", fmt.get<std::string>().c_str(), type.c_str());
      std::printf("\n");
      if (m->tokenizer)
        std::printf("tokenizer %s (%s, %d tokens, bos %d, eos %d)\n", m->tokenizer_source.c_str(),
                    std::string(m->tokenizer->kind()).c_str(), m->tokenizer->n_vocab(), m->tokenizer->bos_id(),
                    m->tokenizer->eos_id());
      else
        std::printf("tokenizer none found (pass --tokenizer)\n");
      std::printf("\n%-40s %-14s %-18s %12s\n", "tensor", "type", "shape", "bytes");
      for (const auto& t : m->tensors) {
        std::string shape;
        for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
        std::printf("%-40s %-14s %-18s %12zu\n", t.name.c_str(), t.type.c_str(), shape.c_str(), t.nbytes);
      }
      if (*meta) {
        std::printf("\n%zu metadata keys\n", meta_types.size());
        for (const auto& [key, type] : meta_types) {
          const nlohmann::ordered_json& v = metadata[key];
          const std::string shown =
              v.is_object() ? cat(v["length"].get<size_t>(), " values, first ", dump_text(v["head"])) : dump_text(v);
          std::printf("%-44s %-16s %s\n", key.c_str(), type.c_str(), shown.substr(0, 160).c_str());
        }
      }
      if (*hooks) {
        std::printf("\n%d hook points (shapes for a prompt of pos positions)\n", program.hooks.size());
        for (int h = 0; h < program.hooks.size(); ++h) {
          std::string shape;
          for (const auto& d : hook_shape(h))
            shape += (shape.empty() ? "" : ", ") + (d.is_string() ? d.get<std::string>() : d.dump());
          std::printf("%-40s [%s]\n", program.hooks[h].name.c_str(), shape.c_str());
        }
      }
    };
  });
}

}  // namespace loupe::cli
