// OpenAI's original GPT-2 files: encoder.json (token -> id) with vocab.bpe (the merges) beside it.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace loupe {

// Whether a parsed JSON document has the encoder.json shape (a flat object of string -> integer).
bool looks_like_openai_encoder(const nlohmann::json& root);

// encoder: the parsed encoder.json; source: its path (vocab.bpe is read from the same folder).
std::unique_ptr<Tokenizer> openai_gpt2_tokenizer(const nlohmann::json& encoder, const std::string& source);

}  // namespace loupe
