// The model the engine benchmarks run: a random-weight Llama (d_model 256, 4 layers, 8 heads,
// d_mlp 704) with the 32000-token Llama-2 vocabulary from the shared folder, written once per
// benchmark program to the temp directory as NAME.gguf and loaded from there.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "model/synth.h"
#include "model/weights.h"

namespace loupe::bench {

inline std::string shared_dir() {
  const char* env = std::getenv("LOUPE_SHARED_DIR");
  return env != nullptr ? env : LOUPE_DEFAULT_SHARED_DIR;
}

inline const Model& small_llama(const std::string& name) {
  static std::unique_ptr<Model> model = [&] {
    SynthSpec s;
    s.arch = Arch::Llama;
    s.d_model = 256;
    s.n_layers = 4;
    s.n_heads = 8;
    s.d_mlp = 704;
    s.n_ctx = 512;
    s.vocab_path = shared_dir() + "/tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf";
    const std::string path = (std::filesystem::temp_directory_path() / (name + ".gguf")).string();
    write_synth_gguf(make_synth_model(s), s, path, nullptr);
    return load_model(path);
  }();
  return *model;
}

}  // namespace loupe::bench
