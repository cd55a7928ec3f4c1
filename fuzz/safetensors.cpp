// A Hugging Face folder whose model.safetensors is the input (the header's JSON, offsets,
// shapes, dtypes) beside stories260K's config.json.
#include <filesystem>

#include "fuzz_support.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = loupe::fuzz::scratch_dir() + "/st";
  static const bool once = [&] {
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(loupe::fuzz::shared("models/stories260K-hf/config.json"), dir + "/config.json",
                               std::filesystem::copy_options::overwrite_existing);
    return true;
  }();
  (void)once;
  loupe::fuzz::scratch_file("st/model.safetensors", data, size);
  loupe::fuzz::expect_clean([&] { (void)loupe::load_model(dir); });
  return 0;
}
