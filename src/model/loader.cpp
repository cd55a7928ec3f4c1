// load_model: recognises the format by content and attaches the tokenizer.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/loader_common.h"
#include "tokenizer/tokenizer.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

enum class Format { Gguf, Hf, Llama2c };

Format detect(const std::string& path) {
  if (!fs::exists(path)) fail(path, ": no such file or directory");
  if (fs::is_directory(path)) return Format::Hf;
  std::string name = fs::path(path).filename().string();
  if (name == "config.json" || fs::path(path).extension() == ".safetensors") return Format::Hf;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() < 4) fail(path, ": file of ", in.gcount(), " bytes is too short to be a model");
  if (std::memcmp(magic, "GGUF", 4) == 0) return Format::Gguf;
  return Format::Llama2c;
}

// A llama2.c model has no tokenizer inside: look beside it as run.c users lay files out.
std::string find_llama2c_tokenizer(const Model& m) {
  fs::path dir = fs::path(m.path).parent_path();
  if (dir.empty()) dir = ".";
  const std::string v = std::to_string(m.config.d_vocab);
  for (const std::string& name :
       {"tok" + v + ".bin", std::string("tokenizer.bin"), "tok" + v + ".model", std::string("tokenizer.model")})
    if (fs::exists(dir / name)) return (dir / name).string();
  return "";
}

}  // namespace

std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options) {
  std::unique_ptr<Model> m;
  switch (detect(path)) {
    case Format::Gguf: m = detail::load_gguf(path); break;
    case Format::Hf: m = detail::load_hf(path); break;
    case Format::Llama2c: m = detail::load_llama2c(path); break;
  }
  if (!options.tokenizer_path.empty()) {
    m->tokenizer.reset();
    m->tokenizer_source = options.tokenizer_path;
  } else if (m->config.format == "llama2c") {
    m->tokenizer_source = find_llama2c_tokenizer(*m);
  }
  if (!m->tokenizer && !m->tokenizer_source.empty()) m->tokenizer = load_tokenizer(m->tokenizer_source);
  if (m->tokenizer) {
    const int64_t nt = m->tokenizer->n_vocab();
    const int64_t nv = m->config.d_vocab;
    // HF models often pad the embedding beyond the tokenizer; any other mismatch is an error.
    const bool padded = m->config.format == "hf" && nt < nv;
    if (nt != nv && !padded)
      fail(m->tokenizer_source, ": tokenizer has ", nt, " tokens but the model ", path, " has a vocabulary of ", nv,
           ": they do not belong together");
    if (m->tokenizer->bos_id() >= 0) m->config.bos_id = m->tokenizer->bos_id();
    if (m->tokenizer->eos_id() >= 0) m->config.eos_id = m->tokenizer->eos_id();
  }
  // Panels first: the tiles then skip the weights that have them, and each weight's file pages
  // are read once.
  if (options.q8_panels) m->pack_panels();
  m->pack_tiles();
  return m;
}

}  // namespace loupe
