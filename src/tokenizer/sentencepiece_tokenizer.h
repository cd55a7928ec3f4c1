// SentencePiece tokenizer.model files, encoded by libsentencepiece itself.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace loupe {

// bytes: the serialized ModelProto; source names the file in errors.
std::unique_ptr<Tokenizer> sentencepiece_tokenizer_from_bytes(std::string_view bytes, const std::string& source);

}  // namespace loupe
