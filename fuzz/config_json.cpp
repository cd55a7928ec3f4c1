// A Hugging Face folder whose config.json is the input, beside stories260K's safetensors.
#include <filesystem>

#include "fuzz_support.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = loupe::fuzz::scratch_dir() + "/cfg";
  static const bool once = [&] {
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(loupe::fuzz::shared("models/stories260K-hf/model.safetensors"),
                               dir + "/model.safetensors", std::filesystem::copy_options::overwrite_existing);
    return true;
  }();
  (void)once;
  loupe::fuzz::scratch_file("cfg/config.json", data, size);
  loupe::fuzz::expect_clean([&] { (void)loupe::load_model(dir); });
  return 0;
}
