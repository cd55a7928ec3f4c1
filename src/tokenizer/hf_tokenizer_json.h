// Hugging Face tokenizer.json files (the "fast" tokenizer format): BPE models, byte-level or
// SentencePiece-style with byte fallback. An OpenAI GPT-2 encoder.json (with vocab.bpe beside it)
// is recognised here too.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace loupe {

// split_words false turns off word-by-word merging of SentencePiece-style BPE (see
// BpeTokenizerConfig::split_words): the reference that tests check the split against.
std::unique_ptr<Tokenizer> hf_tokenizer_from_json(std::string_view json_text, const std::string& source,
                                                  bool split_words = true);

}  // namespace loupe
