// WordPiece (BERT) vocabularies as llama.cpp converts them (GGUF tokenizer.ggml.model "bert"):
// word starts carry U+2581, continuations are bare; encoding is greedy longest-match per word.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace loupe {

struct WpmTokenizerConfig {
  std::string source;
  Vocab vocab;
  bool lowercase = true;
  bool strip_accents = true;
  int32_t bos = 101;  // [CLS]
  int32_t eos = -1;
  int32_t sep = 102;  // [SEP]
  int32_t unk = 100;  // [UNK]
};

std::unique_ptr<Tokenizer> make_wpm_tokenizer(WpmTokenizerConfig config);

}  // namespace loupe
