// llama2.c tokenizer files (tok*.bin, tokenizer.bin): int32 max_token_length, then per token
// float score, int32 length, bytes. Encoding reproduces llama2.c run.c's encode() exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace loupe {

// Parses the file's bytes; source names the file in errors. Reads tokens to the end of the data.
std::unique_ptr<Tokenizer> llama2c_tokenizer_from_bytes(std::string_view bytes, const std::string& source);

}  // namespace loupe
