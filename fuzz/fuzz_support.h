// Shared pieces of the libFuzzer harnesses (fuzz/*.cpp; docs/fuzzing.md): inputs written to a
// per-process scratch folder (the loaders read paths), the shared data folder for real
// vocabularies and models, and the rule every harness checks: bad input ends in loupe::Error
// (a message naming the file, field or argument), never in a crash, a hang, a sanitizer report
// or a foreign exception (those escape and libFuzzer reports them).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/error.h"

namespace loupe::fuzz {

// /dev/shm where there is one (no disk writes per input), else the temporary directory.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("loupe-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

// Writes the input as scratch_dir()/name and returns its path.
inline std::string scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// The shared data folder: $LOUPE_SHARED_DIR, else the one the build was configured with.
inline std::string shared(const std::string& rel) {
  const char* env = std::getenv("LOUPE_SHARED_DIR");
  return std::string(env != nullptr ? env : LOUPE_FUZZ_SHARED_DIR) + "/" + rel;
}

// Runs fn; loupe::Error is the expected answer to bad input.
template <class F>
void expect_clean(F&& fn) {
  try {
    fn();
  } catch (const loupe::Error&) {
  }
}

}  // namespace loupe::fuzz
