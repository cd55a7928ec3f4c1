// llama2.c checkpoints: legacy headers (negative vocab_size = untied), export v1 and v2 (int8).
#include "fuzz_support.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = loupe::fuzz::scratch_file("model.bin", data, size);
  loupe::fuzz::expect_clean([&] { (void)loupe::load_model(path); });
  return 0;
}
