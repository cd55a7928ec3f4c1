// Hugging Face tokenizer.json: vocabulary, merges, added tokens, normalizers, pre-tokenizers
// (regexes included), decoders; then a round trip of a fixed text.
#include "fuzz_support.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = loupe::fuzz::scratch_file("tokenizer.json", data, size);
  loupe::fuzz::expect_clean([&] {
    auto tok = loupe::load_tokenizer(path);
    const auto ids = tok->encode("Hello, world! 123 \xc3\xbc \xe2\x96\x81<s>", true);
    (void)tok->decode(ids);
  });
  return 0;
}
