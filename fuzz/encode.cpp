// Encoding hostile text (invalid UTF-8, special-token look-alikes, long runs) and decoding
// arbitrary ids with real vocabularies: llama2.c's tok512, a GGUF SentencePiece-style llama
// vocabulary and a GGUF byte-level BPE one (gpt-2).
#include <memory>
#include <vector>

#include "formats/gguf.h"
#include "fuzz_support.h"
#include "tokenizer/tokenizer.h"

namespace {
std::vector<std::unique_ptr<loupe::Tokenizer>>& tokenizers() {
  static std::vector<std::unique_ptr<loupe::Tokenizer>> t = [] {
    std::vector<std::unique_ptr<loupe::Tokenizer>> v;
    v.push_back(loupe::load_tokenizer(loupe::fuzz::shared("models/stories260K/tok512.bin")));
    v.push_back(loupe::load_tokenizer(loupe::fuzz::shared("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf")));
    v.push_back(loupe::load_tokenizer(loupe::fuzz::shared("tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf")));
    return v;
  }();
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& tok = *tokenizers()[data[0] % tokenizers().size()];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  loupe::fuzz::expect_clean([&] {
    const auto ids = tok.encode(text, data[0] & 4, data[0] & 8);
    (void)tok.decode(ids);
  });
  // Ids from the bytes, in range: decoding never fails.
  std::vector<int32_t> ids;
  for (size_t i = 1; i + 1 < size; i += 2) ids.push_back((data[i] | (data[i + 1] << 8)) % tok.n_vocab());
  (void)tok.decode(ids);
  return 0;
}
