// A whole GGUF model: the container, every family's metadata, tensor binding, the tokenizer.
#include "fuzz_support.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = loupe::fuzz::scratch_file("model.gguf", data, size);
  loupe::fuzz::expect_clean([&] {
    auto m = loupe::load_model(path);
    if (m->tokenizer) {
      const auto ids = m->tokenizer->encode("Once upon a time", true);
      (void)m->tokenizer->decode(ids);
    }
  });
  return 0;
}
