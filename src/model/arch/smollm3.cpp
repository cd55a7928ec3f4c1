// SmolLM3: the llama block (SwiGLU, adjacent-pair RoPE in GGUF), but every fourth layer
// ((l + 1) mod 4 == 0) uses no position encoding at all (NoPE). llama.cpp fixes the period at
// 4; HF configs list the layers (no_rope_layers: 1 = RoPE, 0 = NoPE).
#include "model/arch/family.h"

#include "core/error.h"

namespace loupe::arch {
namespace {

void nope_every_fourth(ModelConfig& c) {
  c.fill_layers();
  for (int64_t l = 0; l < c.n_layers; ++l) c.layers[static_cast<size_t>(l)].rope = (l + 1) % 4 != 0;
}

void read_gguf(const GgufMeta&, ModelConfig& c) {
  c.rope = RopeStyle::Adjacent;
  nope_every_fourth(c);
}

void read_hf(const HfMeta& m, ModelConfig& c) {
  read_hf_common(m, c);
  c.rope = RopeStyle::Adjacent;
  c.qkv_bias = m.flag_or("attention_bias", false);
  nope_every_fourth(c);
  if (m.has("no_rope_layers")) {
    const nlohmann::json& a = m.json()["no_rope_layers"];
    if (!a.is_array() || static_cast<int64_t>(a.size()) != c.n_layers)
      fail(m.path(), ": field 'no_rope_layers' must be an array of ", c.n_layers, " integers");
    for (size_t l = 0; l < a.size(); ++l) {
      if (!a[l].is_number_integer()) fail(m.path(), ": field 'no_rope_layers' entry ", l, " is not an integer");
      c.layers[l].rope = a[l].get<int64_t>() != 0;
    }
  }
}

}  // namespace

extern const Family kSmolLM3{Arch::SmolLM3,
                             "smollm3",
                             {"smollm3"},
                             {"smollm3"},
                             read_gguf,
                             read_hf,
                             HfLayout{{}, true, false, false, "model.layers.", ""}};

}  // namespace loupe::arch
