// SentencePiece tokenizer.model (protobuf) and llama2.c tok*.bin, by the input's first byte;
// then a round trip of a fixed text.
#include <string_view>

#include "fuzz_support.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  loupe::fuzz::expect_clean([&] {
    auto tok = data[0] % 2 == 0 ? loupe::sentencepiece_tokenizer_from_bytes(bytes, "fuzz.model")
                                : loupe::llama2c_tokenizer_from_bytes(bytes, "fuzz.bin");
    const auto ids = tok->encode("Once upon a time \xc3\xa9\xf0\x9f\x98\x80", true);
    (void)tok->decode(ids);
  });
  return 0;
}
