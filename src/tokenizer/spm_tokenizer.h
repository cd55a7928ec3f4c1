// llama.cpp's SPM tokenizer for GGUF "llama" vocabularies: spaces escaped to U+2581, a space
// prefix (add_space_prefix) before the text and after each special token, best-score bigram
// merges, byte fallback through <0xXX> tokens.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace loupe {

struct SpmTokenizerConfig {
  std::string source;
  Vocab vocab;
  bool add_space_prefix = true;
  int32_t bos = 1;
  int32_t eos = 2;
  int32_t unk = 0;
};

std::unique_ptr<Tokenizer> make_spm_tokenizer(SpmTokenizerConfig config);

}  // namespace loupe
