// GGUF container: header, metadata of every type (arrays, strings), tensor infos, offsets.
#include "formats/gguf.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = loupe::fuzz::scratch_file("in.gguf", data, size);
  loupe::fuzz::expect_clean([&] {
    const loupe::GgufFile g = loupe::GgufFile::open(path);
    size_t n = 0;
    for (const auto& [key, value] : g.metadata()) n += key.size() + static_cast<size_t>(value.type);
    for (const auto& t : g.tensors()) n += t.name.size() + t.nbytes;
    (void)n;
  });
  return 0;
}
