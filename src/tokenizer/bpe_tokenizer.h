// The BPE tokenizer used for GGUF "gpt2" vocabularies and Hugging Face tokenizer.json BPE models:
// special-token split, optional normalizer, pre-tokenizer, byte-level mapping, rank-ordered merges.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace loupe {

struct BpeTokenizerConfig {
  std::string source;  // the file, for errors
  Vocab vocab;         // attr decides special handling: Control / Unknown / UserDefined
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  // Or, instead, the merges as vocabulary ids {left, right, joined} (every part a token).
  std::vector<std::array<int32_t, 3>> merge_ids;
  Normalizer normalizer;
  PreTokenizer pre;
  bool byte_level = true;  // GPT-2 byte mapping of each word; else words are matched as UTF-8
  bool ignore_merges = false;
  // SentencePiece-style BPE: merge the words between U+2581 word starts one by one where that
  // gives the same ids (see BpeTokenizer); false merges each pre-tokenized piece whole.
  bool split_words = true;
  BpeUnknownPolicy unknowns;
  bool metaspace_decode = false;  // token_bytes: U+2581 -> ' ' (SentencePiece-style BPE)
  bool strips_leading_space = false;
  int32_t bos = -1;
  int32_t eos = -1;
};

std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeTokenizerConfig config);

}  // namespace loupe
