// GPT-2 from encoder.json + vocab.bpe: byte-level BPE with the GPT-2 pre-tokenizer regex and
// <|endoftext|> as its one special token.
#include "tokenizer/openai_gpt2_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"

namespace loupe {

bool looks_like_openai_encoder(const nlohmann::json& root) {
  if (!root.is_object() || root.empty()) return false;
  if (auto it = root.find("model"); it != root.end() && it->is_object()) return false;  // tokenizer.json
  size_t checked = 0;
  for (auto it = root.begin(); it != root.end() && checked < 64; ++it, ++checked)
    if (!it.value().is_number_integer()) return false;
  return true;
}

std::unique_ptr<Tokenizer> openai_gpt2_tokenizer(const nlohmann::json& encoder, const std::string& source) {
  const std::filesystem::path bpe_path = std::filesystem::path(source).parent_path() / "vocab.bpe";
  std::ifstream in(bpe_path, std::ios::binary);
  if (!in) fail(source, ": looks like an openai gpt-2 encoder.json, but ", bpe_path.string(), " cannot be read");

  BpeTokenizerConfig c;
  c.source = source;
  const size_t n_entries = encoder.size();
  int64_t max_id = -1;
  for (auto it = encoder.begin(); it != encoder.end(); ++it) {
    if (!it.value().is_number_integer()) fail(source, ": '", it.key(), "': id is not an integer");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || static_cast<uint64_t>(id) >= n_entries + 4096)
      fail(source, ": '", it.key(), "': id ", id, " is out of range for ", n_entries, " entries");
    max_id = std::max(max_id, id);
  }
  c.vocab.text.resize(static_cast<size_t>(max_id) + 1);
  for (auto it = encoder.begin(); it != encoder.end(); ++it) c.vocab.text[it.value().get<size_t>()] = it.key();
  c.vocab.build_index();

  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size())
      fail(bpe_path.string(), ": line ", line_no, ": not two tokens separated by a space");
    c.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }

  c.pre.add_byte_level(false, true, cat(source, ": gpt-2 pre-tokenizer"));
  c.byte_level = true;
  c.unknowns.llamacpp_bytes = true;
  const int32_t eot = c.vocab.find("<|endoftext|>");
  if (eot >= 0) c.vocab.attr[static_cast<size_t>(eot)] = TokenAttr::Control;
  c.bos = eot;
  c.eos = eot;
  return make_bpe_tokenizer(std::move(c));
}

}  // namespace loupe
